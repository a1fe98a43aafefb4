//! Shared test fixtures: a Loihi-like target built in code, and small nets.

#![allow(dead_code)]

use lifchip_net::{LinearOp, Net, Neuron, Population, Projection, SoftLif, SoftLifKind, Tensor};
use lifchip_target::{Target, builtin};

/// The shipped `loihi-like` target on an 8 x 8 mesh, with the given per-core limits.
pub fn loihi(neurons: u32, axons: u32, memory_bits: u64) -> Target {
    let mut t = builtin("loihi-like").expect("loihi-like is built in");
    t.mesh.width = 8;
    t.mesh.height = 8;
    t.core.neurons = neurons;
    t.core.input_axons = axons;
    t.core.synapse_memory_bits = memory_bits;
    t
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
            current: 1,
            sign_mode: None,
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

/// `in` (1 x 2k x 2k) -> avg-pool 2 -> flatten -> dense `out`, pseudo-random weights: each
/// pool window's four inputs have identical synapse rows.
pub fn pooled_net(k: usize, out: usize, seed: u64) -> Net {
    let mut net = Net::new("pooled");
    let side = 2 * k;
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    net.populations.push(Population {
        name: "in".into(),
        shape: vec![1, side, side],
        neuron: Neuron::Input,
    });
    let bias = (0..out).map(|_| next() * 0.1).collect();
    net.populations.push(Population {
        name: "out".into(),
        shape: vec![out],
        neuron: soft_lif(out, bias),
    });
    let weights = (0..out * k * k).map(|_| next()).collect();
    net.projections.push(Projection {
        current: 1,
        sign_mode: None,
        name: "p".into(),
        from: "in".into(),
        to: "out".into(),
        ops: vec![
            LinearOp::AvgPool {
                size: [2, 2],
                stride: None,
            },
            LinearOp::Flatten,
            LinearOp::Dense {
                weights: Tensor::new(vec![out, k * k], weights),
            },
        ],
        weight_exp: 0,
    });
    net
}
