//! The fast paths give the same results as each other: every synapse layout the emulator can
//! choose (u16 or u32 slot indices; i8, i16 or i32 weights; dense or sparse rows; rows loaded
//! ahead and deliveries sorted for large stores; block-wise, touched-slots-only or exact input
//! gathering; fan-out lists added straight into the inputs or through the accumulators) is forced on the random targets and nets of `switches.rs` and on the benchmark
//! chips, and must
//! reproduce the automatic layout's results exactly — spikes, u and v of every neuron every
//! tick, event counts, cycles, energy and overflow counts. The automatic layout itself is held
//! against the naive reference by `switches.rs`, sections A and B, and the equivalence test of
//! backend-core. Loading from a consumed flat configuration (`Emulator::from_flat_owned`) must
//! give the same results too.

use lifchip_chip::{ChipConfig, FlatChip};
use lifchip_emulator::{
    CycleDetail, Emulator, LayoutOverride, Mode, ProbeSet, Probes, RunOptions, SampleResult,
};

use crate::{
    switches::{random_case, reference},
    util::{Conn, Layer, Net, Neuron, build, loihi, trace_of},
};

#[path = "../benches/chips/mod.rs"]
mod chips;

/// Every override worth distinguishing, alone and all together.
fn overrides() -> Vec<LayoutOverride> {
    let base = LayoutOverride::default();
    vec![
        LayoutOverride {
            wide_index: true,
            ..base
        },
        LayoutOverride {
            min_weight_bytes: 2,
            ..base
        },
        LayoutOverride {
            min_weight_bytes: 4,
            ..base
        },
        LayoutOverride {
            no_dense: true,
            ..base
        },
        LayoutOverride {
            touch: Some(true),
            ..base
        },
        LayoutOverride {
            exact_gather: true,
            ..base
        },
        LayoutOverride {
            dense_gather: true,
            ..base
        },
        LayoutOverride {
            fanout: Some(true),
            ..base
        },
        LayoutOverride {
            fanout: Some(false),
            ..base
        },
        LayoutOverride {
            unshared_rows: true,
            ..base
        },
        LayoutOverride {
            no_direct_fan: true,
            ..base
        },
        LayoutOverride {
            fanout: Some(true),
            no_direct_fan: true,
            ..base
        },
        LayoutOverride {
            wide_index: true,
            min_weight_bytes: 4,
            no_dense: true,
            touch: Some(true),
            exact_gather: true,
            dense_gather: true,
            fanout: Some(true),
            unshared_rows: true,
            no_direct_fan: true,
        },
    ]
}

fn run(emu: &mut Emulator, input: &[Vec<u32>], ticks: u32, mode: Mode) -> SampleResult {
    emu.reset();
    let options = RunOptions {
        ticks,
        mode,
        probes: Probes {
            set: ProbeSet::All,
            state: true,
        },
        readout_from: 0,
    };
    emu.run(input, &options).expect("runs")
}

/// Runs `config` with the automatic layout and with every override, in both modes.
fn check_layouts(config: &ChipConfig, input: &[Vec<u32>], ticks: u32, what: &str) {
    for mode in [Mode::Functional, Mode::CycleAccurate] {
        let mut auto = Emulator::new(config)
            .expect("valid")
            .with_cycle_detail(CycleDetail::PerCore);
        let want = run(&mut auto, input, ticks, mode);
        for layout in overrides() {
            let mut emu = Emulator::with_layout(config, layout)
                .expect("valid")
                .with_cycle_detail(CycleDetail::PerCore);
            let got = run(&mut emu, input, ticks, mode);
            assert!(got == want, "{what}, {mode:?}, {layout:?}: results differ");
        }
        // Loaded from a consumed flat configuration (its rows dropped once laid out).
        let mut owned = Emulator::from_flat_owned(FlatChip::from_config(config))
            .expect("valid")
            .with_cycle_detail(CycleDetail::PerCore);
        let got = run(&mut owned, input, ticks, mode);
        assert!(
            got == want,
            "{what}, {mode:?}, from_flat_owned: results differ"
        );
    }
}

#[test]
fn every_layout_on_random_targets() {
    for seed in 0..150 {
        let (target, net, input, ticks) = random_case(seed);
        let config = build(&net, &target);
        check_layouts(&config, &input, ticks as u32, &format!("seed {seed}"));
    }
}

#[test]
fn every_layout_on_benchmark_chips() {
    let spec = chips::Spec {
        cores: 6,
        mesh_width: 3,
        compartments: 96,
        input_axons: 120,
        recurrent_axons: 24,
        row: 24,
        recurrent_row: 6,
        active: 30,
        ticks: 25,
    };
    check_layouts(
        &chips::chip(&spec),
        &chips::input(&spec),
        spec.ticks,
        "sparse",
    );
    let dense = chips::Spec { row: 96, ..spec };
    check_layouts(
        &chips::chip(&dense),
        &chips::input(&dense),
        dense.ticks,
        "dense",
    );
}

/// A core with more than 65,536 accumulator slots (1024 compartments × 70 groups) needs u32
/// indices in the automatic layout too; it still matches the naive reference.
#[test]
fn more_than_a_u16_of_slots() {
    let mut target = loihi(8);
    target.mesh.width = 1;
    target.mesh.height = 1;
    let n = 1024;
    let groups = 70;
    let layer = Layer {
        neurons: (0..n)
            .map(|j| Neuron {
                du: 300,
                dv: 200,
                vth: 600 + (j as u32 % 7) * 50,
                ..Neuron::default()
            })
            .collect(),
        incoming: (0..groups)
            .map(|g| Conn {
                from: 0,
                weights: (0..2)
                    .map(|i| {
                        (0..n)
                            .map(|j| ((i * 31 + j * 7 + g * 13) % 41) as i32 * 2 - 36)
                            .collect()
                    })
                    .collect(),
                exp: (g as i32 % 5) - 2,
            })
            .collect(),
        cores: vec![0; n],
    };
    let net = Net {
        inputs: 2,
        layers: vec![layer],
    };
    let config = build(&net, &target);
    let ticks = 12;
    let input: Vec<Vec<u32>> = (0..ticks)
        .map(|t| match t % 3 {
            0 => vec![0],
            1 => vec![0, 1, 1],
            _ => vec![],
        })
        .collect();
    let mut emu = Emulator::new(&config).expect("valid");
    let got = trace_of(
        &run(&mut emu, &input, ticks as u32, Mode::Functional),
        &net,
        ticks,
    );
    assert!(got == reference(&net, &target, &input, ticks));
    assert!(
        got.iter()
            .flatten()
            .any(|(spikes, ..)| spikes.iter().any(|&s| s > 0))
    );
    check_layouts(&config, &input, ticks as u32, "70 groups");
}

/// The order of a tick's input channels does not matter, nor whether repeats are adjacent:
/// sorted, reversed and interleaved lists, few spikes (sorted in place) or many (counted per
/// channel), give the same results.
#[test]
fn input_order_within_a_tick_does_not_matter() {
    let spec = chips::Spec {
        cores: 4,
        mesh_width: 2,
        compartments: 64,
        input_axons: 80,
        recurrent_axons: 16,
        row: 16,
        recurrent_row: 4,
        active: 20,
        ticks: 30,
    };
    let config = chips::chip(&spec);
    let base = chips::input(&spec);
    for dense in [false, true] {
        // A tick with repeats: every channel once more than its position's parity says.
        let input: Vec<Vec<u32>> = base
            .iter()
            .enumerate()
            .map(|(t, chans)| {
                let mut v = chans.clone();
                if dense {
                    v.extend(chans.iter().copied());
                    v.extend((0..spec.input_axons).filter(|c| (c + t as u32).is_multiple_of(3)));
                } else {
                    v.truncate(4);
                    v.push(v[0]);
                }
                v
            })
            .collect();
        let sorted: Vec<Vec<u32>> = input
            .iter()
            .map(|v| {
                let mut v = v.clone();
                v.sort_unstable();
                v
            })
            .collect();
        let reversed: Vec<Vec<u32>> = sorted
            .iter()
            .map(|v| v.iter().rev().copied().collect())
            .collect();
        let mut emu = Emulator::new(&config).expect("valid");
        for mode in [Mode::Functional, Mode::CycleAccurate] {
            let want = run(&mut emu, &sorted, spec.ticks, mode);
            assert!(want.counts.input_packets > 0);
            assert!(run(&mut emu, &input, spec.ticks, mode) == want, "{mode:?}");
            assert!(
                run(&mut emu, &reversed, spec.ticks, mode) == want,
                "{mode:?}"
            );
        }
    }
}

/// Spikes of a functional run with per-compartment fan-out lists are still in the delay line
/// when a cycle-accurate run continues from that state (and the other way round): both
/// layouts give the same continuation.
#[test]
fn fan_out_lists_hand_over_between_modes() {
    for seed in 0..40 {
        let (target, net, input, ticks) = random_case(seed);
        let config = build(&net, &target);
        let half = (ticks / 2).max(1);
        let (first, second) = input.split_at(input.len().min(half));
        let mut results = Vec::new();
        for fanout in [Some(false), Some(true)] {
            let layout = LayoutOverride {
                fanout,
                ..LayoutOverride::default()
            };
            let mut emu = Emulator::with_layout(&config, layout)
                .expect("valid")
                .with_cycle_detail(CycleDetail::PerCore);
            let mut got = Vec::new();
            for (a, b) in [
                (Mode::Functional, Mode::CycleAccurate),
                (Mode::CycleAccurate, Mode::Functional),
            ] {
                emu.reset();
                let rest = (ticks - half).max(1);
                for (part, mode, n) in [(first, a, half), (second, b, rest)] {
                    let options = RunOptions {
                        ticks: n as u32,
                        mode,
                        probes: Probes {
                            set: ProbeSet::All,
                            state: true,
                        },
                        readout_from: 0,
                    };
                    got.push(emu.run(part, &options).expect("runs"));
                }
            }
            results.push(got);
        }
        assert!(results[0] == results[1], "seed {seed}: results differ");
    }
}

/// A chip big enough for the parallel compartment passes (more than two blocks of 8,192
/// compartments) gives the same results on 1 thread (the sequential passes), 2 and 3, in
/// both modes and with both delivery layouts, and its neurons do spike.
#[test]
fn parallel_compartment_passes_do_not_depend_on_threads() {
    let spec = chips::Spec::parallel_blocks();
    let config = chips::chip(&spec);
    let input = chips::input(&spec);
    for mode in [Mode::Functional, Mode::CycleAccurate] {
        for fanout in [Some(false), Some(true)] {
            let layout = LayoutOverride {
                fanout,
                ..LayoutOverride::default()
            };
            let emu = Emulator::with_layout(&config, layout).expect("valid");
            let run_with = |threads| {
                let mut e = emu.clone();
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("pool")
                    .install(|| run(&mut e, &input, spec.ticks, mode))
            };
            let one = run_with(1);
            assert!(one.counts.spikes > 20, "{}", one.counts.spikes);
            assert!(one == run_with(2), "{mode:?} {fanout:?}: 2 threads differ");
            assert!(one == run_with(3), "{mode:?} {fanout:?}: 3 threads differ");
        }
    }
}

/// Functional runs of a chip whose compartments each drive an axon of their own (fan-out
/// lists) and whose neurons take the fused pass deliver and gather by blocks of cores on
/// several threads (`engine::owned`): the same results as one thread, with sparse and dense
/// gathers, few and many touched slots, and with the thread count changing between the runs
/// of one emulator (the serial path and the blocks hand the inputs' bookkeeping over).
#[test]
fn owned_blocks_give_the_serial_results() {
    // Few touched slots per block (a sparse gather), many (dense), and the dense gather forced;
    // the last with one exponent for both groups: every slot has one shift, and the fan-out
    // lists add straight into the inputs (`Program::direct_fan`), serially and by blocks.
    for (row, dense_gather, one_shift) in [
        (16, false, false),
        (40, false, false),
        (40, true, false),
        (16, false, true),
        (40, false, true),
    ] {
        let spec = chips::Spec {
            cores: 20,
            mesh_width: 5,
            compartments: 1000,
            input_axons: 64,
            // One recurrent axon per compartment: every axon has one source (fan-out lists).
            recurrent_axons: 1000,
            row,
            recurrent_row: 8,
            active: 24,
            ticks: 30,
        };
        let mut config = chips::chip(&spec);
        if one_shift {
            for core in &mut config.cores {
                core.group_exponents = vec![1, 1];
            }
        }
        let mut input = chips::input(&spec);
        for (t, chans) in input.iter_mut().enumerate() {
            // Some channels spike twice in a tick: deliveries of multiplicity 2.
            if t % 3 == 0 {
                chans.push(chans[0]);
            }
        }
        let layout = LayoutOverride {
            fanout: Some(true),
            dense_gather,
            ..LayoutOverride::default()
        };
        let emu = Emulator::with_layout(&config, layout).expect("valid");
        let pool = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool")
        };
        let one = pool(1).install(|| run(&mut emu.clone(), &input, spec.ticks, Mode::Functional));
        assert!(one.counts.spikes > 100, "{}", one.counts.spikes);
        for threads in [2, 3] {
            let got = pool(threads)
                .install(|| run(&mut emu.clone(), &input, spec.ticks, Mode::Functional));
            assert!(
                one == got,
                "row {row}, dense {dense_gather}, one shift {one_shift}: {threads} threads differ"
            );
        }
        // One emulator, the run cut in three with 2, 1 and 2 threads, against one piece.
        let options = |ticks| RunOptions {
            ticks,
            mode: Mode::Functional,
            probes: Probes {
                set: ProbeSet::All,
                state: true,
            },
            readout_from: 0,
        };
        let mut whole = emu.clone();
        let mut cut = emu.clone();
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (range, threads) in [(0..10, 2), (10..20, 1), (20..30, 2)] {
            let part = &input[range];
            let ticks = part.len() as u32;
            a.push(pool(1).install(|| whole.run(part, &options(ticks)).expect("runs")));
            b.push(pool(threads).install(|| cut.run(part, &options(ticks)).expect("runs")));
        }
        assert!(
            a == b,
            "row {row}, dense {dense_gather}, one shift {one_shift}: the cut runs differ"
        );
    }
}
