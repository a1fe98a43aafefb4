//! Test helpers: targets written as struct literals, and a builder that lays small layered
//! networks out as chip configurations (the compiler's job, done naively here).

use lifchip_chip::{
    Axon, ChipConfig, Compartment, CoreConfig, Destination, PopulationInfo, Synapse,
};
use lifchip_target::{
    Accumulate, Core, DecayKind, Dynamics, Energy, ExponentScope, Mesh, Overflow, Precision, Reset,
    SpikeTest, SynapseCost, Target, Timing, UpdateOrder, WeightEncoding, WeightExponent,
};

/// Section A (Lava's bit-accurate Loihi CUBA LIF) as a target, on a 4x4 mesh of roomy cores.
pub fn loihi(weight_bits: u32) -> Target {
    Target {
        name: "loihi-test".into(),
        description: String::new(),
        mesh: Mesh {
            width: 4,
            height: 4,
            link_packets_per_cycle: 1,
            fifo_depth: 4,
            routing_table_entries: 0,
            cores_per_tile: 1,
        },
        core: roomy_core(),
        precision: Precision {
            weight_bits,
            weight_encoding: WeightEncoding::LoihiSignMode,
            weight_exponent: WeightExponent {
                scope: ExponentScope::Layer,
                min: -8,
                max: 7,
            },
            current_bits: 24,
            current_overflow: Overflow::WrapLava,
            voltage_bits: 24,
            voltage_overflow: Overflow::SaturateSymmetric,
            input_shift: 6,
            threshold_bits: 17,
            threshold_shift: 6,
            bias_bits: 13,
            bias_exp_max: 7,
            accumulator_bits: 0,
        },
        neuron: Dynamics {
            decay: DecayKind::Multiplicative,
            decay_bits: 12,
            current_decay_offset: 1,
            voltage_decay_offset: 0,
            shift_min_step: false,
            order: UpdateOrder::DecayThenInput,
            accumulate: Accumulate::SumThenAdd,
            reset: Reset::Zero,
            spike_test: SpikeTest::Greater,
            max_spikes_per_tick: 1,
            readout_max_spikes_per_tick: 1,
            refractory_max: 0,
            synaptic_delay: 1,
            input_delay: 1,
            synaptic_currents: 1,
            voltage_update: lifchip_target::VoltageUpdate::Direct,
        },
        timing: timing(),
        energy: energy(),
    }
}

/// Section B (xylosim's Xylo v1 integer neuron) as a target: one core.
pub fn xylo() -> Target {
    Target {
        name: "xylo-test".into(),
        description: String::new(),
        mesh: Mesh {
            width: 1,
            height: 1,
            link_packets_per_cycle: 1,
            fifo_depth: 16,
            routing_table_entries: 0,
            cores_per_tile: 1,
        },
        core: roomy_core(),
        precision: Precision {
            weight_bits: 8,
            weight_encoding: WeightEncoding::Signed,
            weight_exponent: WeightExponent {
                scope: ExponentScope::Layer,
                min: 0,
                max: 7,
            },
            current_bits: 16,
            current_overflow: Overflow::Saturate,
            voltage_bits: 16,
            voltage_overflow: Overflow::Saturate,
            input_shift: 0,
            threshold_bits: 16,
            threshold_shift: 0,
            bias_bits: 16,
            bias_exp_max: 0,
            accumulator_bits: 0,
        },
        neuron: Dynamics {
            decay: DecayKind::Shift,
            decay_bits: 12,
            current_decay_offset: 0,
            voltage_decay_offset: 0,
            shift_min_step: true,
            order: UpdateOrder::InputThenDecay,
            accumulate: Accumulate::PerEventSaturating,
            reset: Reset::Subtract,
            spike_test: SpikeTest::GreaterEqual,
            max_spikes_per_tick: 31,
            readout_max_spikes_per_tick: 1,
            refractory_max: 0,
            synaptic_delay: 1,
            input_delay: 0,
            synaptic_currents: 2,
            voltage_update: lifchip_target::VoltageUpdate::Direct,
        },
        timing: timing(),
        energy: energy(),
    }
}

fn roomy_core() -> Core {
    Core {
        neurons: 1024,
        input_axons: 4096,
        output_axons: 16,
        synapse_memory_bits: 1 << 30,
        synapse_cost: SynapseCost::Sparse {
            dense_rows: false,
            index_bits: 10,
            axon_entry_bits: 16,
        },
        fanin_split: false,
        shared_kernels: false,
        readout_neurons: 0,
        neuron_rows: false,
    }
}

pub fn timing() -> Timing {
    Timing {
        clock_hz: 1.0e9,
        cycles_per_packet_in: 2,
        cycles_per_synop: 1,
        cycles_per_neuron: 2,
        cycles_per_packet_out: 3,
        cycles_per_hop: 4,
        barrier_cycles: 100,
        cycles_per_dense_synop: 0,
        cycles_per_shared_synop: 0,
        cycles_per_active_neuron: 0,
        cycles_per_spike: 0,
        cycles_per_message: 0,
        cycles_per_hop_y: 0,
        pipelined: false,
        barrier_cycles_per_tile_doubling: 0,
        barrier_tile_doublings_max: 32,
    }
}

pub fn energy() -> Energy {
    Energy {
        synop_joules: 1e-12,
        neuron_update_joules: 2e-12,
        spike_out_joules: 3e-12,
        hop_joules: 4e-12,
        static_watts_per_core: 1e-3,
        dense_synop_joules: 0.0,
        shared_synop_joules: 0.0,
        active_neuron_joules: 0.0,
        spike_joules: 0.0,
        message_joules: 0.0,
        hop_y_joules: 0.0,
    }
}

/// Chip-unit parameters of one neuron.
#[derive(Clone, Copy, Debug, Default)]
pub struct Neuron {
    pub du: u32,
    pub dv: u32,
    pub vth: u32,
    pub bias: i32,
    pub bias_exp: u32,
    pub refractory: u32,
}

/// A projection into a layer: `weights[pre][post]` (0 = no synapse), with its exponent.
#[derive(Clone, Debug)]
pub struct Conn {
    /// 0 = the external input; `l + 1` = layer `l`.
    pub from: usize,
    pub weights: Vec<Vec<i32>>,
    pub exp: i32,
}

#[derive(Clone, Debug)]
pub struct Layer {
    pub neurons: Vec<Neuron>,
    pub incoming: Vec<Conn>,
    /// Core of each neuron.
    pub cores: Vec<u32>,
}

#[derive(Clone, Debug)]
pub struct Net {
    pub inputs: usize,
    pub layers: Vec<Layer>,
}

/// Lays `net` out on `target`: each neuron on its layer's given core, one axon per
/// (projection, presynaptic neuron) on each core that has targets of it, axons ordered by
/// (source: inputs first, then layers in order; presynaptic index; projection), one accumulator
/// group per projection and core. The last layer is the readout.
pub fn build(net: &Net, target: &Target) -> ChipConfig {
    let n_cores = net
        .layers
        .iter()
        .flat_map(|l| l.cores.iter().copied())
        .max()
        .map_or(1, |c| c as usize + 1);
    // Slot of every (layer, neuron).
    let mut slots: Vec<Vec<(u32, u32)>> = Vec::new();
    let mut next = vec![0u32; n_cores];
    let mut cores: Vec<CoreConfig> = (0..n_cores)
        .map(|c| {
            let (x, y) = target.core_xy(c as u32);
            CoreConfig {
                id: c as u32,
                x,
                y,
                group_exponents: Vec::new(),
                compartments: Vec::new(),
                axons: Vec::new(),
            }
        })
        .collect();
    let last = net.layers.len() - 1;
    for (l, layer) in net.layers.iter().enumerate() {
        let mut s = Vec::new();
        for (i, n) in layer.neurons.iter().enumerate() {
            let c = layer.cores[i] as usize;
            s.push((c as u32, next[c]));
            next[c] += 1;
            cores[c].compartments.push(Compartment {
                population: l as u32 + 1,
                neuron: i as u32,
                current_decay: n.du,
                current_decay_2: 0,
                voltage_decay: n.dv,
                threshold: n.vth,
                bias: n.bias,
                bias_exp: n.bias_exp,
                refractory: n.refractory,
                initial_u: 0,
                initial_v: 0,
                max_spikes: if l == last {
                    target.neuron.readout_max_spikes_per_tick
                } else {
                    target.neuron.max_spikes_per_tick
                },
                destinations: Vec::new(),
                partial_of: None,
            });
        }
        slots.push(s);
    }
    // Axon keys per core: (source, pre, layer, conn).
    let mut keys: Vec<Vec<(usize, usize, usize, usize)>> = vec![Vec::new(); n_cores];
    let mut groups: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n_cores];
    for (l, layer) in net.layers.iter().enumerate() {
        for (q, conn) in layer.incoming.iter().enumerate() {
            for (pre, row) in conn.weights.iter().enumerate() {
                for (post, &w) in row.iter().enumerate() {
                    if w != 0 {
                        let c = slots[l][post].0 as usize;
                        keys[c].push((conn.from, pre, l, q));
                        if !groups[c].contains(&(l, q)) {
                            groups[c].push((l, q));
                        }
                    }
                }
            }
        }
    }
    let mut input_dests: Vec<Vec<Destination>> = vec![Vec::new(); net.inputs];
    let mut comp_dests: Vec<Vec<Vec<Destination>>> = net
        .layers
        .iter()
        .map(|l| vec![Vec::new(); l.neurons.len()])
        .collect();
    for c in 0..n_cores {
        keys[c].sort_unstable();
        keys[c].dedup();
        groups[c].sort_unstable();
        cores[c].group_exponents = groups[c]
            .iter()
            .map(|&(l, q)| net.layers[l].incoming[q].exp)
            .collect();
        for (a, &(from, pre, l, q)) in keys[c].iter().enumerate() {
            let conn = &net.layers[l].incoming[q];
            let group = groups[c].iter().position(|&g| g == (l, q)).unwrap() as u16;
            let synapses = conn.weights[pre]
                .iter()
                .enumerate()
                .filter(|&(post, &w)| w != 0 && slots[l][post].0 as usize == c)
                .map(|(post, &w)| Synapse {
                    compartment: slots[l][post].1,
                    weight: w,
                })
                .collect();
            cores[c].axons.push(Axon {
                group,
                current: 1,
                synapses,
            });
            let d = Destination {
                core: c as u32,
                axon: a as u32,
            };
            if from == 0 {
                input_dests[pre].push(d);
            } else {
                comp_dests[from - 1][pre].push(d);
            }
        }
    }
    for (l, layer) in comp_dests.into_iter().enumerate() {
        for (i, mut d) in layer.into_iter().enumerate() {
            d.sort_unstable();
            let (c, k) = slots[l][i];
            cores[c as usize].compartments[k as usize].destinations = d;
        }
    }
    for d in &mut input_dests {
        d.sort_unstable();
    }
    let mut populations = vec![PopulationInfo {
        name: "in".into(),
        shape: vec![net.inputs],
        is_input: true,
        placement: Vec::new(),
    }];
    for (l, layer) in net.layers.iter().enumerate() {
        populations.push(PopulationInfo {
            name: format!("layer{l}"),
            shape: vec![layer.neurons.len()],
            is_input: false,
            placement: slots[l].clone(),
        });
    }
    ChipConfig {
        target: target.clone(),
        net_name: "test".into(),
        net_hash: 0,
        populations,
        inputs: input_dests,
        readout: net.layers.len() as u32,
        input_rate: 1.0,
        cores,
    }
}

/// Spike ticks and state of every neuron of every layer, from the emulator's probes:
/// `[layer][neuron]` of `(spike count per tick, u per tick, v per tick)`.
pub type Trace = Vec<Vec<(Vec<u32>, Vec<i64>, Vec<i64>)>>;

pub fn trace_of(result: &lifchip_emulator::SampleResult, net: &Net, ticks: usize) -> Trace {
    let mut out: Trace = net
        .layers
        .iter()
        .map(|l| vec![(vec![0; ticks], Vec::new(), Vec::new()); l.neurons.len()])
        .collect();
    for p in &result.probes {
        let e = &mut out[p.population as usize - 1][p.neuron as usize];
        for &t in &p.spike_ticks {
            e.0[t as usize] += 1;
        }
        e.1 = p.u.clone();
        e.2 = p.v.clone();
    }
    out
}
