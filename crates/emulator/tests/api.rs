//! The public API: errors instead of panics, reset and continuation, batches, CHIPDIR round
//! trips, and the shipped targets' agreement with sections A and B.

use lifchip_chip::{read_chipdir, write_chipdir};
use lifchip_emulator::{EmuError, Emulator, Mode, ProbeSet, Probes, RunOptions, SampleResult};
use proptest::prelude::*;

use crate::{
    section_a::random_net,
    switches::random_case,
    util::{Conn, Layer, Net, Neuron, build, loihi, trace_of, xylo},
};

fn probes_all(ticks: u32, mode: Mode) -> RunOptions {
    RunOptions {
        ticks,
        mode,
        probes: Probes {
            set: ProbeSet::All,
            state: true,
        },
        readout_from: 0,
    }
}

#[test]
fn shipped_targets_are_sections_a_and_b() {
    let l = lifchip_target::builtin("loihi-like").unwrap();
    assert_eq!(l.precision, loihi(8).precision);
    assert_eq!(l.neuron, loihi(8).neuron);
    let x = lifchip_target::builtin("xylo-like").unwrap();
    // xylo-like is Xylo v1: no bias (the section-B helper keeps a 16-bit one, as Xylo v2).
    let mut v1 = xylo().precision;
    v1.bias_bits = 0;
    assert_eq!(x.precision, v1);
    assert_eq!(x.neuron, xylo().neuron);
}

#[test]
fn bad_requests_are_errors() {
    let (net, _, _) = random_net(1, 8);
    let mut emu = Emulator::new(&build(&net, &loihi(8))).unwrap();
    let channels = emu.input_channels() as u32;
    assert!(matches!(
        emu.run(&[], &RunOptions::new(0)),
        Err(EmuError::ZeroTicks)
    ));
    assert!(matches!(
        emu.run(&[vec![], vec![], vec![]], &RunOptions::new(2)),
        Err(EmuError::InputTooLong {
            input_ticks: 3,
            ticks: 2
        })
    ));
    let err = emu
        .run(&[vec![0], vec![channels]], &RunOptions::new(5))
        .unwrap_err();
    assert!(
        matches!(err, EmuError::InputChannel { tick: 1, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("channel {channels} does not exist")),
        "{err}"
    );
    let probe = |set| RunOptions {
        probes: Probes { set, state: false },
        ..RunOptions::new(3)
    };
    let err = emu
        .run(&[], &probe(ProbeSet::Populations(vec![0])))
        .unwrap_err();
    assert!(err.to_string().contains("input population"), "{err}");
    let err = emu
        .run(&[], &probe(ProbeSet::Populations(vec![99])))
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn configs_for_another_target_are_refused() {
    let (net, _, _) = random_net(4, 8);
    let mut config = build(&net, &loihi(8));
    // The same cores on a 1 x 1 Xylo: cores off the mesh, exponents and weights out of range.
    config.target = xylo();
    let err = Emulator::new(&config).unwrap_err();
    assert!(matches!(err, EmuError::Chip(_)), "{err}");
    let mut config = build(&net, &loihi(8));
    config.target.precision.current_bits = 40;
    let err = Emulator::new(&config).unwrap_err();
    assert!(
        err.to_string().contains("precision.current_bits = 40"),
        "{err}"
    );
    let mut config = build(&net, &loihi(8));
    config.target.neuron.synaptic_delay = 0;
    assert!(matches!(
        Emulator::new(&config),
        Err(EmuError::Unsupported { .. })
    ));
}

#[test]
fn reset_and_continuation() {
    let (net, input, ticks) = random_net(21, 8);
    let ticks = ticks as u32;
    let mut emu = Emulator::new(&build(&net, &loihi(8))).unwrap();
    let first = emu
        .run(&input, &probes_all(ticks, Mode::Functional))
        .unwrap();
    // Without a reset, a run continues from where the last one stopped.
    let _continued = emu
        .run(&input, &probes_all(ticks, Mode::Functional))
        .unwrap();
    emu.reset();
    let after_reset = emu
        .run(&input, &probes_all(ticks, Mode::Functional))
        .unwrap();
    assert_eq!(first, after_reset);
    // Two half runs continue each other exactly.
    emu.reset();
    let split = (ticks / 2).max(1).min(input.len() as u32);
    let a = emu
        .run(
            &input[..split as usize],
            &probes_all(split, Mode::Functional),
        )
        .unwrap();
    let b_ticks = ticks - split;
    if b_ticks > 0 {
        let b = emu
            .run(
                &input[split as usize..],
                &probes_all(b_ticks, Mode::Functional),
            )
            .unwrap();
        let whole = trace_of(&first, &net, ticks as usize);
        let (ta, tb) = (
            trace_of(&a, &net, split as usize),
            trace_of(&b, &net, b_ticks as usize),
        );
        for l in 0..whole.len() {
            for j in 0..whole[l].len() {
                let joined: Vec<i64> = ta[l][j].2.iter().chain(&tb[l][j].2).copied().collect();
                assert_eq!(joined, whole[l][j].2);
            }
        }
        assert_eq!(a.counts.synops + b.counts.synops, first.counts.synops);
    }
}

#[test]
fn batches_do_not_depend_on_threads() {
    let (net, _, _) = random_net(9, 8);
    let config = build(&net, &loihi(8));
    let emu = Emulator::new(&config).unwrap();
    let inputs: Vec<Vec<Vec<u32>>> = (0..12u32)
        .map(|s| {
            (0..20u32)
                .map(|t| {
                    (0..net.inputs as u32)
                        .filter(|c| (s + t + c) % 3 == 0)
                        .collect()
                })
                .collect()
        })
        .collect();
    let options = probes_all(20, Mode::CycleAccurate);
    let run_with = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| emu.run_batch(&inputs, &options).unwrap())
    };
    let one = run_with(1);
    assert_eq!(one, run_with(3));
    let mut seq = emu.clone();
    let sequential: Vec<SampleResult> = inputs
        .iter()
        .map(|i| {
            seq.reset();
            seq.run(i, &options).unwrap()
        })
        .collect();
    assert_eq!(one, sequential);
    let mut bad = inputs.clone();
    bad[5][0] = vec![9999];
    let err = emu.run_batch(&bad, &options).unwrap_err();
    assert!(
        err.to_string().starts_with("sample 5: input tick 0"),
        "{err}"
    );
}

#[test]
fn chipdir_round_trip_runs_the_same() {
    let target = lifchip_target::builtin("loihi-like").unwrap();
    let (net, input, ticks) = random_net(33, 8);
    let config = build(&net, &target);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net.chip");
    write_chipdir(&config, &dir).unwrap();
    let loaded = read_chipdir(&dir).unwrap();
    let options = probes_all(ticks as u32, Mode::CycleAccurate);
    let a = Emulator::new(&config)
        .unwrap()
        .run(&input, &options)
        .unwrap();
    let b = Emulator::new(&loaded)
        .unwrap()
        .run(&input, &options)
        .unwrap();
    assert_eq!(a, b);
}

/// One input driving one readout neuron that spikes at every tick it gets input (its
/// current and voltage forget everything between ticks).
fn relay() -> Net {
    Net {
        inputs: 1,
        layers: vec![Layer {
            neurons: vec![Neuron {
                du: 4095,
                dv: 4095,
                vth: 1,
                ..Neuron::default()
            }],
            incoming: vec![Conn {
                from: 0,
                weights: vec![vec![100]],
                exp: 0,
            }],
            cores: vec![0],
        }],
    }
}

#[test]
fn readout_from_counts_only_the_ticks_from_it_on() {
    let mut emu = Emulator::new(&build(&relay(), &loihi(8))).unwrap();
    // Three input spikes early in the run, two late.
    let input = [
        vec![0],
        vec![0],
        vec![0],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![0],
        vec![0],
    ];
    let probed = emu.run(&input, &probes_all(12, Mode::Functional)).unwrap();
    // The relay repeats its input one tick later (synaptic delay 1).
    assert_eq!(probed.probes[0].spike_ticks, vec![1, 2, 3, 8, 9]);
    assert_eq!(probed.readout_counts, vec![5]);
    let window = |from| RunOptions {
        mode: Mode::Functional,
        readout_from: from,
        ..RunOptions::new(12)
    };
    let counts = |emu: &mut Emulator, from| {
        emu.reset();
        emu.run(&input, &window(from)).unwrap().readout_counts
    };
    assert_eq!(counts(&mut emu, 0), vec![5]);
    assert_eq!(counts(&mut emu, 2), vec![4]);
    assert_eq!(counts(&mut emu, 4), vec![2]);
    assert_eq!(counts(&mut emu, 9), vec![1]);
    assert_eq!(counts(&mut emu, 10), vec![0]);
    assert_eq!(counts(&mut emu, 11), vec![0]);
    // An empty window is an error, and leaves the state alone.
    emu.reset();
    for from in [12, 13, u32::MAX] {
        let err = emu.run(&input, &window(from)).unwrap_err();
        assert!(
            matches!(err, EmuError::ReadoutFrom { from: f, ticks: 12 } if f == from),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("readout_from must be less than ticks (12)"),
            "{err}"
        );
    }
    assert_eq!(emu.run(&input, &window(4)).unwrap().readout_counts, vec![2]);
    // Batches count the same window.
    let batch = emu
        .run_batch(&[input.to_vec(), input[..4].to_vec()], &window(3))
        .unwrap();
    let got: Vec<Vec<u32>> = batch.into_iter().map(|r| r.readout_counts).collect();
    assert_eq!(got, vec![vec![3], vec![1]]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// A readout window counts the readout's probed spikes from its first tick on and
    /// changes nothing else of the run.
    #[test]
    fn readout_from_only_narrows_the_counts(seed in any::<u64>(), at in 0.0f64..1.0) {
        let (target, net, input, ticks) = random_case(seed);
        let from = ((ticks as f64 * at) as u32).min(ticks as u32 - 1);
        let emu = Emulator::new(&build(&net, &target)).unwrap();
        let mode = if seed % 2 == 0 { Mode::Functional } else { Mode::CycleAccurate };
        let all = emu.clone().run(&input, &probes_all(ticks as u32, mode)).unwrap();
        let windowed = emu
            .clone()
            .run(&input, &RunOptions { readout_from: from, ..probes_all(ticks as u32, mode) })
            .unwrap();
        let readout = net.layers.len() as u32;
        let expected: Vec<u32> = all
            .probes
            .iter()
            .filter(|p| p.population == readout)
            .map(|p| p.spike_ticks.iter().filter(|&&t| t >= from).count() as u32)
            .collect();
        prop_assert_eq!(&windowed.readout_counts, &expected);
        prop_assert_eq!(
            SampleResult { readout_counts: all.readout_counts.clone(), ..windowed },
            all
        );
    }

    /// Functional and cycle-accurate runs agree on everything but the cycle account.
    #[test]
    fn functional_equals_cycle_accurate(seed in any::<u64>()) {
        let (target, net, input, ticks) = random_case(seed);
        let mut emu = Emulator::new(&build(&net, &target)).unwrap();
        let fast = emu.run(&input, &probes_all(ticks as u32, Mode::Functional)).unwrap();
        emu.reset();
        let slow = emu.run(&input, &probes_all(ticks as u32, Mode::CycleAccurate)).unwrap();
        prop_assert_eq!(&fast.probes, &slow.probes);
        prop_assert_eq!(&fast.readout_counts, &slow.readout_counts);
        prop_assert_eq!(fast.counts, slow.counts);
        prop_assert_eq!(&fast.overflows, &slow.overflows);
        let c = slow.cycles.unwrap();
        prop_assert_eq!(c.tick_cycles.len(), ticks);
        prop_assert!(c.tick_cycles.iter().all(|&t| t >= u64::from(target.timing.barrier_cycles)));
    }
}
