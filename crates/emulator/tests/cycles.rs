//! The hand-worked examples of docs/core-model.md ("Worked examples"), cycle by cycle.

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

/// Example 1's net (one core): in0 -> n0 (100), in1 -> n1 (1); n0 -> r (100), n1 -> r (1).
fn example_1_net() -> Net {
    Net {
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
    }
}

#[test]
fn example_3_pipelined_core_with_spike_and_message_costs() {
    let mut target = loihi(8);
    target.mesh.width = 1;
    target.mesh.height = 1;
    let tm = &mut target.timing;
    tm.pipelined = true;
    tm.cycles_per_active_neuron = 5;
    tm.cycles_per_spike = 7;
    tm.cycles_per_message = 11;
    tm.barrier_cycles_per_tile_doubling = 50;
    let e = &mut target.energy;
    e.active_neuron_joules = 5e-12;
    e.spike_joules = 6e-12;
    e.message_joules = 7e-12;
    let mut emu = Emulator::new(&build(&example_1_net(), &target))
        .unwrap()
        .with_cycle_detail(CycleDetail::PerCore);
    let r = emu.run(&[vec![0]], &RunOptions::new(3)).unwrap();
    let c = r.cycles.as_ref().unwrap();
    // Tick 0: the host's message (11) outlasts the core (3 neurons x 2).
    // Tick 1: synapse stage 2 + 1 = 3, neuron stage 6 + 5 (n0 active) + 7 (n0 spikes) + 3
    // (its packet) + 11 (its message) = 32. Tick 2: neuron stage 6 + 2 x 5 (n0 still holds u,
    // r gets input) + 7 (r spikes, no fan-out) = 23.
    assert_eq!(c.compute_cycles, vec![6, 32, 23]);
    assert_eq!(c.tick_cycles, vec![112, 133, 123]);
    assert_eq!(c.total_cycles, 368);
    let k = &r.counts;
    assert_eq!(
        (
            k.active_neuron_updates,
            k.spiking_neurons,
            k.messages,
            k.input_messages
        ),
        (3, 2, 1, 1)
    );
    let e = &r.energy;
    assert!((e.neuron_updates_joules - 33e-12).abs() < 1e-24);
    assert!((e.spikes_out_joules - 29e-12).abs() < 1e-24);
    assert!((e.total_joules - (2e-12 + 33e-12 + 29e-12 + 368e-12)).abs() < 1e-22);
}

#[test]
fn example_4_tiles_y_hops_and_the_barrier() {
    // Example 2's net in a column: every link is a y link (6 cycles, 5 pJ); three tiles in use
    // add one doubling (50 cycles) to the barrier.
    let r = example_2_on(1, 3, 1, |t| {
        t.mesh.fifo_depth = 4;
        t.timing.cycles_per_hop_y = 6;
        t.timing.barrier_cycles_per_tile_doubling = 50;
        t.energy.hop_y_joules = 5e-12;
    });
    let c = r.cycles.as_ref().unwrap();
    assert_eq!(c.spike_drain_cycles, vec![0, 14, 0]);
    assert_eq!(c.tick_cycles, vec![155, 178, 158]);
    assert_eq!((r.counts.hops, r.counts.hops_y), (4, 4));
    assert!((r.energy.hops_joules - 20e-12).abs() < 1e-24);
    // The row of Example 2 as one tile of three cores: one router, no hops; the two packets
    // leave through its ejection port one cycle apart.
    let r = example_2_on(3, 1, 3, |t| {
        t.timing.barrier_cycles_per_tile_doubling = 50;
    });
    let c = r.cycles.as_ref().unwrap();
    assert_eq!(c.spike_drain_cycles, vec![0, 2, 0]);
    assert_eq!(c.tick_cycles, vec![105, 116, 108]);
    assert_eq!(r.counts.hops, 0);
}

/// Example 2's net on a `width x height` mesh with `cores_per_tile`, target edited by `edit`.
fn example_2_on(
    width: u32,
    height: u32,
    cores_per_tile: u32,
    edit: impl Fn(&mut lifchip_target::Target),
) -> lifchip_emulator::SampleResult {
    let mut target = loihi(8);
    target.mesh.width = width;
    target.mesh.height = height;
    target.mesh.fifo_depth = 1;
    target.mesh.cores_per_tile = cores_per_tile;
    edit(&mut target);
    let mut emu = Emulator::new(&build(&example_2_net(), &target)).unwrap();
    emu.run(&[vec![0]], &RunOptions::new(3)).unwrap()
}

#[test]
fn example_1_one_core() {
    let mut target = loihi(8);
    target.mesh.width = 1;
    target.mesh.height = 1;
    let net = example_1_net();
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
    let net = example_2_net();
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
        let max = (0..3).map(|t| fc.core_cycles(t, core)).max();
        assert_eq!(max, Some(fc.core_compute_cycles_max[core]));
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
        assert_eq!(c.core_compute_cycles_max, fc.core_compute_cycles_max);
    }
    assert_eq!(totals.energy, full.energy);
    assert_eq!(totals.counts, full.counts);
    assert_eq!(CycleDetail::default(), CycleDetail::PerTick);
}

/// Example 2's net: in0 -> a, b on core 0; a, b -> c on core 1 and d on core 2 (one multicast
/// tree each).
fn example_2_net() -> Net {
    Net {
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
    }
}
