//! Generates large nets and compiles them: the compiler's large-net benchmark.
//!
//! `cargo run --release -p lifchip-compiler --example large_nets -- sheets|recurrent [NEURONS] [SYNAPSES_PER_NEURON] [TARGET.yaml]`
//! `cargo run --release -p lifchip-compiler --example large_nets -- paperconv`
//! `cargo run --release -p lifchip-compiler --example large_nets -- net NET [TARGET.yaml]`
//!
//! * `sheets` (defaults 1,000,000 neurons, 100 synapses each): a locally connected feed-forward
//!   net of ten square 2-D sheets; each neuron receives a `k x k` window (k = sqrt(synapses)) of
//!   the sheet before, with its own weights (not shared).
//! * `recurrent` (defaults 20,000 neurons, 100 synapses each): one population driven by itself,
//!   every neuron with inputs from random neurons: the fan-in limit dominates.
//! * `paperconv`: the MNIST conv net of Hunsberger & Eliasmith (2015) with random weights —
//!   conv 5x5x16 → avg-pool 2 → conv 5x5x64 → avg-pool 2 → fc 2000 → fc 10 (no padding, the
//!   architecture of `examples/mnist-conv.yaml`); the pools fold into the next layer's
//!   synapses, on the shipped loihi-like target (128 cores).
//! * `net NET`: compiles a saved net (e.g. one trained from `examples/mnist-conv.yaml`).
//!
//! For the generated nets the target (default `targets/loihi-like.yaml`) gets a mesh large
//! enough for the net, so the figure measured is the partition, not the chip's size; and dense
//! and shared rows are turned off there, so that synapse memory gives a tight lower bound to
//! measure the partition against (with shared rows, the memory bound counts every distinct row
//! once, which for a convolution is about one kernel per input channel: far below what cores
//! holding pieces of a layer each store).

use std::time::Instant;

use lifchip_compiler::{QuantizeOptions, compile};
use lifchip_net::{
    Indices, LinearOp, Net, Neuron, Population, Projection, SoftLif, SoftLifKind, Tensor,
};

fn sheet_net(neurons: usize, synapses: usize) -> Net {
    let layers = 10;
    let side = ((neurons / layers) as f64).sqrt().round() as usize;
    let k = (synapses as f64).sqrt().round() as usize;
    let mut net = Net::new("local-sheets");
    net.populations.push(Population {
        name: "in".into(),
        shape: vec![1, side, side],
        neuron: Neuron::Input,
    });
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for l in 0..layers {
        let name = format!("sheet{l}");
        net.populations.push(Population {
            name: name.clone(),
            shape: vec![1, side, side],
            neuron: Neuron::SoftLif(SoftLif {
                rate: SoftLifKind::Soft,
                tau_rc: 0.02,
                tau_ref: 0.002,
                amplitude: 0.063,
                gamma: 0.02,
                gain: 1.0,
                bias: Tensor::scalar(0.0),
            }),
        });
        let (mut pre, mut post, mut w) = (Vec::new(), Vec::new(), Vec::new());
        let half = k as isize / 2;
        for y in 0..side as isize {
            for x in 0..side as isize {
                for dy in -half..k as isize - half {
                    for dx in -half..k as isize - half {
                        let (sy, sx) = (y + dy, x + dx);
                        if sy < 0 || sx < 0 || sy >= side as isize || sx >= side as isize {
                            continue;
                        }
                        pre.push((sy as usize * side + sx as usize) as u32);
                        post.push((y as usize * side + x as usize) as u32);
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        w.push(((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2);
                    }
                }
            }
        }
        let n = w.len();
        net.projections.push(Projection {
            current: 1,
            sign_mode: None,
            name: format!("local{l}"),
            from: net.populations[l].name.clone(),
            to: name,
            ops: vec![LinearOp::Sparse {
                outputs: side * side,
                pre: Indices::new(pre),
                post: Indices::new(post),
                weights: Tensor::new(vec![n], w),
            }],
            weight_exp: 0,
        });
    }
    net
}

fn recurrent_net(neurons: usize, synapses: usize) -> Net {
    let mut net = Net::new("random-recurrent");
    net.populations.push(Population {
        name: "in".into(),
        shape: vec![100],
        neuron: Neuron::Input,
    });
    net.populations.push(Population {
        name: "rec".into(),
        shape: vec![neurons],
        neuron: Neuron::SoftLif(SoftLif {
            rate: SoftLifKind::Soft,
            tau_rc: 0.02,
            tau_ref: 0.002,
            amplitude: 0.063,
            gamma: 0.02,
            gain: 1.0,
            bias: Tensor::scalar(0.0),
        }),
    });
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut pre, mut post, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..neurons {
        for _ in 0..synapses {
            pre.push((next() % neurons as u64) as u32);
            post.push(n as u32);
            w.push(((next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2);
        }
    }
    let count = w.len();
    net.projections.push(Projection {
        current: 1,
        sign_mode: None,
        name: "recurrent".into(),
        from: "rec".into(),
        to: "rec".into(),
        ops: vec![LinearOp::Sparse {
            outputs: neurons,
            pre: Indices::new(pre),
            post: Indices::new(post),
            weights: Tensor::new(vec![count], w),
        }],
        weight_exp: 0,
    });
    let inputs = 100 * 10;
    net.projections.push(Projection {
        current: 1,
        sign_mode: None,
        name: "drive".into(),
        from: "in".into(),
        to: "rec".into(),
        ops: vec![LinearOp::Sparse {
            outputs: neurons,
            pre: Indices::new((0..inputs).map(|k| (k % 100) as u32).collect()),
            post: Indices::new((0..inputs).map(|k| (k * neurons / inputs) as u32).collect()),
            weights: Tensor::new(vec![inputs], vec![0.5; inputs]),
        }],
        weight_exp: 0,
    });
    net
}

fn paper_conv_net() -> Net {
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut weights = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
            })
            .collect()
    };
    let lif = |n: usize| {
        Neuron::SoftLif(SoftLif {
            rate: SoftLifKind::Soft,
            tau_rc: 0.02,
            tau_ref: 0.002,
            amplitude: 0.063,
            gamma: 0.02,
            gain: 1.0,
            bias: Tensor::zeros(vec![n]),
        })
    };
    let mut net = Net::new("paper-conv");
    let pops = [
        ("in", vec![1, 28, 28]),
        ("c1", vec![16, 24, 24]),
        ("c2", vec![64, 8, 8]),
        ("fc", vec![2000]),
        ("out", vec![10]),
    ];
    for (name, shape) in pops {
        let n = shape.iter().product();
        net.populations.push(Population {
            name: name.into(),
            shape,
            neuron: if name == "in" { Neuron::Input } else { lif(n) },
        });
    }
    let pool = LinearOp::AvgPool {
        size: [2, 2],
        stride: None,
    };
    let conv = |oc: usize, ic: usize, w: Vec<f32>| LinearOp::Conv2d {
        out_channels: oc,
        kernel: [5, 5],
        stride: [1, 1],
        padding: [0, 0],
        weights: Tensor::new(vec![oc, ic, 5, 5], w),
    };
    let projections = [
        ("in", "c1", vec![conv(16, 1, weights(16 * 25))]),
        (
            "c1",
            "c2",
            vec![pool.clone(), conv(64, 16, weights(64 * 16 * 25))],
        ),
        (
            "c2",
            "fc",
            vec![
                pool,
                LinearOp::Flatten,
                LinearOp::Dense {
                    weights: Tensor::new(vec![2000, 1024], weights(2000 * 1024)),
                },
            ],
        ),
        (
            "fc",
            "out",
            vec![LinearOp::Dense {
                weights: Tensor::new(vec![10, 2000], weights(20_000)),
            }],
        ),
    ];
    for (from, to, ops) in projections {
        net.projections.push(Projection {
            current: 1,
            sign_mode: None,
            name: format!("{from}_{to}"),
            from: from.into(),
            to: to.into(),
            ops,
            weight_exp: 0,
        });
    }
    net
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("sheets", String::as_str);
    let recurrent = mode == "recurrent";
    let default_neurons = if recurrent { 20_000 } else { 1_000_000 };
    let neurons = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default_neurons);
    let synapses = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100);
    let target_arg = if mode == "net" { 3 } else { 4 };
    let target_path = args.get(target_arg).cloned().unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../targets/loihi-like.yaml").to_string()
    });
    let mut target = match lifchip_target::load(std::path::Path::new(&target_path)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    // The paper net and saved nets keep the shipped target; the generated nets get a mesh large
    // enough to hold them and sparse-only rows (see the module docs).
    if mode == "sheets" || mode == "recurrent" {
        if let lifchip_target::SynapseCost::Sparse { dense_rows, .. } =
            &mut target.core.synapse_cost
        {
            *dense_rows = false;
        }
        target.core.shared_kernels = false;
        let side = ((neurons as f64 / 16.0).sqrt().ceil() as u32).max(target.mesh.width);
        target.mesh.width = side;
        target.mesh.height = side;
    }
    let t = Instant::now();
    let net = match mode {
        "recurrent" => recurrent_net(neurons, synapses),
        "paperconv" => paper_conv_net(),
        "net" => {
            let Some(path) = args.get(2) else {
                eprintln!("usage: large_nets net NET [TARGET.yaml]");
                std::process::exit(2);
            };
            match lifchip_net::load(std::path::Path::new(path)) {
                Ok(net) => net,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            }
        }
        _ => sheet_net(neurons, synapses),
    };
    println!(
        "generated {} neurons in {:.2} s",
        net.num_neurons(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    match compile(&net, &target, &QuantizeOptions::default()) {
        Ok((_, report)) => {
            println!(
                "compiled in {:.2} s: {} neurons, {} synapses, {} cores; lower bound {} by {} (+{:.1}%); fan-in-aware estimate {} ({:+.1}%)",
                t.elapsed().as_secs_f64(),
                report.neurons,
                report.synapses,
                report.cores_used,
                report.cores_lower_bound,
                report.cores_lower_bound_by,
                100.0 * (report.cores_used as f64 / report.cores_lower_bound.max(1) as f64 - 1.0),
                report.cores_fanin_estimate,
                100.0
                    * (report.cores_used as f64 / report.cores_fanin_estimate.max(1) as f64 - 1.0)
            );
            let passes: Vec<String> = report
                .pass_seconds
                .iter()
                .map(|(pass, s)| format!("{pass} {s:.3} s"))
                .collect();
            println!("passes: {}", passes.join(", "));
        }
        Err(report) => {
            eprintln!(
                "no mapping after {:.2} s ({} neurons, {} synapses, lower bound {} cores):",
                t.elapsed().as_secs_f64(),
                report.neurons,
                report.synapses,
                report.cores_lower_bound
            );
            for v in &report.violations {
                eprintln!("violation: {v}");
            }
            std::process::exit(1);
        }
    }
}
