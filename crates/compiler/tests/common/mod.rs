//! Shared test fixtures: a Loihi-like target built in code, and small nets.

#![allow(dead_code)]

use lifchip_net::{LinearOp, Net, Neuron, Population, Projection, SoftLif, SoftLifKind, Tensor};
use lifchip_target::*;

pub fn loihi(neurons: u32, axons: u32, memory_bits: u64) -> Target {
    Target {
        name: "test-loihi".into(),
        description: String::new(),
        mesh: Mesh {
            width: 8,
            height: 8,
            link_packets_per_cycle: 1,
            fifo_depth: 16,
            routing_table_entries: 0,
        },
        core: Core {
            neurons,
            input_axons: axons,
            output_axons: 4096,
            synapse_memory_bits: memory_bits,
            synapse_cost: SynapseCost::Sparse {
                index_bits: 10,
                axon_entry_bits: 16,
            },
            fanin_split: false,
            shared_kernels: false,
        },
        precision: Precision {
            weight_bits: 8,
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
        },
        timing: Timing {
            clock_hz: 1e8,
            cycles_per_packet_in: 2,
            cycles_per_synop: 1,
            cycles_per_neuron: 2,
            cycles_per_packet_out: 2,
            cycles_per_hop: 4,
            barrier_cycles: 100,
        },
        energy: Energy {
            synop_joules: 23.6e-12,
            neuron_update_joules: 52e-12,
            spike_out_joules: 1.7e-12,
            hop_joules: 3.5e-12,
            static_watts_per_core: 1e-4,
        },
    }
}

pub fn soft_lif(n: usize, bias: Vec<f32>) -> Neuron {
    Neuron::SoftLif(SoftLif {
        rate: SoftLifKind::Soft,
        tau_rc: 0.02,
        tau_ref: 0.0,
        amplitude: 0.063,
        gamma: 0.02,
        gain: 1.0,
        bias: Tensor::new(vec![n], bias),
    })
}

/// A float MLP with the given layer sizes and deterministic pseudo-random weights.
pub fn mlp(sizes: &[usize], seed: u64) -> Net {
    let mut net = Net::new("mlp");
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    };
    net.populations.push(Population {
        name: "in".into(),
        shape: vec![sizes[0]],
        neuron: Neuron::Input,
    });
    for (k, w) in sizes.windows(2).enumerate() {
        let name = format!("l{k}");
        let bias = (0..w[1]).map(|_| next() * 0.1).collect();
        net.populations.push(Population {
            name: name.clone(),
            shape: vec![w[1]],
            neuron: soft_lif(w[1], bias),
        });
        let weights = (0..w[0] * w[1]).map(|_| next() * 0.3).collect();
        net.projections.push(Projection {
            name: format!("p{k}"),
            from: net.populations[k].name.clone(),
            to: name,
            ops: vec![LinearOp::Dense {
                weights: Tensor::new(vec![w[1], w[0]], weights),
            }],
            weight_exp: 0,
        });
    }
    net
}
