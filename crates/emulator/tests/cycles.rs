//! The two hand-worked examples of docs/core-model.md ("Worked examples"), cycle by cycle.

use lifchip_emulator::{CycleDetail, Emulator, Mode, RunOptions};

use crate::util::{Conn, Layer, Net, Neuron, build, loihi};

/// A neuron that spikes whenever its input this tick is at least 11 (Loihi semantics:
/// du = dv = 4095 forget everything, v = a_in << 6 > 10 << 6).
fn eager() -> Neuron {
    Neuron {
        du: 4095,
        dv: 4095,
        vth: 10,
        ..Neuron::default()
    }
}

#[test]
fn example_1_one_core() {
    let mut target = loihi(8);
    target.mesh.width = 1;
    target.mesh.height = 1;
    // in0 -> n0 (100), in1 -> n1 (1); n0 -> r (100), n1 -> r (1); everything on core 0.
    let net = Net {
        inputs: 2,
        layers: vec![
            Layer {
                neurons: vec![eager(), eager()],
                incoming: vec![Conn {
                    from: 0,
                    weights: vec![vec![100, 0], vec![0, 1]],
                    exp: 0,
                }],
                cores: vec![0, 0],
            },
            Layer {
                neurons: vec![eager()],
                incoming: vec![Conn {
                    from: 1,
                    weights: vec![vec![100], vec![1]],
                    exp: 0,
                }],
                cores: vec![0],
            },
        ],
    };
    let mut emu = Emulator::new(&build(&net, &target))
        .unwrap()
        .with_cycle_detail(CycleDetail::PerCore);
    let r = emu.run(&[vec![0]], &RunOptions::new(3)).unwrap();
    let c = r.cycles.as_ref().unwrap();
    assert_eq!(c.input_drain_cycles, vec![1, 0, 0]);
    assert_eq!(c.compute_cycles, vec![6, 12, 9]);
    assert_eq!(c.spike_drain_cycles, vec![0, 1, 0]);
    assert_eq!(c.tick_cycles, vec![107, 113, 109]);
    assert_eq!((c.total_cycles, c.cycles_per_tick_max), (329, 113));
    assert!((c.cycles_per_tick_mean - 329.0 / 3.0).abs() < 1e-9);
    assert!((c.latency_seconds - 329e-9).abs() < 1e-18);
    assert_eq!(r.readout_counts, vec![1]);
    assert_eq!(
        (
            r.counts.synops,
            r.counts.neuron_updates,
            r.counts.packets_out,
            r.counts.hops
        ),
        (2, 9, 1, 0)
    );
    let e = &r.energy;
    assert!((e.synops_joules - 2e-12).abs() < 1e-24);
    assert!((e.neuron_updates_joules - 18e-12).abs() < 1e-24);
    assert!((e.spikes_out_joules - 3e-12).abs() < 1e-24);
    assert!((e.static_joules - 329e-12).abs() < 1e-22);
    assert!((e.total_joules - 352e-12).abs() < 1e-22);
}

/// Example 2's net on a 3 x 1 mesh with FIFOs of `fifo_depth` packets, run for 3 ticks.
fn example_2(fifo_depth: u32, mode: Mode) -> lifchip_emulator::SampleResult {
    example_2_with(fifo_depth, mode, CycleDetail::PerCore)
}

fn example_2_with(
    fifo_depth: u32,
    mode: Mode,
    detail: CycleDetail,
) -> lifchip_emulator::SampleResult {
    let mut target = loihi(8);
    target.mesh.width = 3;
    target.mesh.height = 1;
    target.mesh.fifo_depth = fifo_depth;
    // in0 -> a, b on core 0; a, b -> c on core 1 and d on core 2 (one multicast tree each).
    let net = Net {
        inputs: 1,
        layers: vec![
            Layer {
                neurons: vec![eager(), eager()],
                incoming: vec![Conn {
                    from: 0,
                    weights: vec![vec![100, 100]],
                    exp: 0,
                }],
                cores: vec![0, 0],
            },
            Layer {
                neurons: vec![eager(), eager()],
                incoming: vec![Conn {
                    from: 1,
                    weights: vec![vec![100, 100], vec![100, 100]],
                    exp: 0,
                }],
                cores: vec![1, 2],
            },
        ],
    };
    let mut emu = Emulator::new(&build(&net, &target))
        .unwrap()
        .with_cycle_detail(detail);
    let options = RunOptions {
        mode,
        ..RunOptions::new(3)
    };
    emu.run(&[vec![0]], &options).unwrap()
}

#[test]
fn example_2_backpressure_on_a_row() {
    let r = example_2(1, Mode::CycleAccurate);
    let c = r.cycles.as_ref().unwrap();
    assert_eq!(c.input_drain_cycles, vec![1, 0, 0]);
    assert_eq!(c.compute_cycles, vec![4, 2, 2, 14, 2, 2, 4, 8, 8]);
    assert_eq!(c.spike_drain_cycles, vec![0, 14, 0]);
    assert_eq!(c.tick_cycles, vec![105, 128, 108]);
    assert_eq!(c.total_cycles, 341);
    assert_eq!(
        (r.counts.packets_out, r.counts.hops, r.counts.packets_in),
        (2, 4, 5)
    );
    assert_eq!(r.readout_counts, vec![1, 1]);
    // With room for 4 packets per FIFO, B follows A one cycle behind: drain 10.
    let r = example_2(4, Mode::CycleAccurate);
    assert_eq!(
        r.cycles.as_ref().unwrap().spike_drain_cycles,
        vec![0, 10, 0]
    );
}

#[test]
fn functional_mode_gives_the_same_spikes_without_cycles() {
    let cycle = example_2(1, Mode::CycleAccurate);
    let fast = example_2(1, Mode::Functional);
    assert!(fast.cycles.is_none());
    assert_eq!(fast.readout_counts, cycle.readout_counts);
    assert_eq!(fast.counts, cycle.counts);
    assert_eq!(fast.energy.static_joules, 0.0);
    assert_eq!(fast.energy.hops_joules, cycle.energy.hops_joules);
}

/// The detail levels keep more or fewer numbers, never different ones.
#[test]
fn cycle_detail_levels_agree() {
    let full = example_2(1, Mode::CycleAccurate);
    let fc = full.cycles.as_ref().unwrap();
    assert_eq!(
        fc.core_compute_cycles,
        vec![4 + 14 + 4, 2 + 2 + 8, 2 + 2 + 8]
    );
    for core in 0..3 {
        let sum: u64 = (0..3).map(|t| fc.core_cycles(t, core)).sum();
        assert_eq!(sum, fc.core_compute_cycles[core]);
    }
    let per_tick = example_2_with(1, Mode::CycleAccurate, CycleDetail::PerTick);
    let totals = example_2_with(1, Mode::CycleAccurate, CycleDetail::Totals);
    let (pc, tc) = (
        per_tick.cycles.as_ref().unwrap(),
        totals.cycles.as_ref().unwrap(),
    );
    assert!(pc.compute_cycles.is_empty());
    assert_eq!(pc.tick_cycles, fc.tick_cycles);
    assert_eq!(pc.input_drain_cycles, fc.input_drain_cycles);
    assert_eq!(pc.spike_drain_cycles, fc.spike_drain_cycles);
    assert!(tc.tick_cycles.is_empty() && tc.input_drain_cycles.is_empty());
    assert!(tc.spike_drain_cycles.is_empty() && tc.compute_cycles.is_empty());
    for c in [pc, tc] {
        assert_eq!(c.total_cycles, fc.total_cycles);
        assert_eq!(c.cycles_per_tick_max, fc.cycles_per_tick_max);
        assert_eq!(c.cycles_per_tick_mean, fc.cycles_per_tick_mean);
        assert_eq!(c.latency_seconds, fc.latency_seconds);
        assert_eq!(c.core_compute_cycles, fc.core_compute_cycles);
    }
    assert_eq!(totals.energy, full.energy);
    assert_eq!(totals.counts, full.counts);
    assert_eq!(CycleDetail::default(), CycleDetail::PerTick);
}
