//! Golden chip configurations: small nets compiled for small targets, emitted, and rendered with
//! `lifchip_chip::dump_text` followed by each core's synapse memory as the target charges it
//! (shared rows once), compared with the checked-in text under `tests/golden/`. A change in
//! partitioning, placement, axon numbering, row accounting or the emitted format shows up as a
//! reviewable diff. `LIFCHIP_BLESS=1 cargo test -p lifchip-backend-core --test golden` rewrites the files.

use std::path::Path;

use lifchip_chip::ChipConfig;
use lifchip_compiler::{QuantizeOptions, compile};
use lifchip_net::{ChipLif, Indices, LinearOp, Net, Neuron, Population, Projection, Tensor};
use lifchip_target::{DecayKind, Target, builtin};

/// Compares `config`'s dump and memory accounting with `tests/golden/NAME.txt`, or rewrites
/// that file when `LIFCHIP_BLESS=1`. The dump also survives a CHIPDIR round trip unchanged.
fn assert_golden(name: &str, config: &ChipConfig) {
    let mut text = lifchip_chip::dump_text(config);
    text.push_str("synapse memory:\n");
    for core in &config.cores {
        text.push_str(&format!(
            "  core {}: {} of {} bits\n",
            core.id,
            core.synapse_bits(&config.target),
            config.target.core.synapse_memory_bits
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let chipdir = dir.path().join(format!("{name}.chip"));
    lifchip_chip::write_chipdir(config, &chipdir).unwrap();
    let back = lifchip_chip::read_chipdir(&chipdir).unwrap();
    assert!(
        back == *config,
        "{name}: the CHIPDIR reader gives another configuration"
    );

    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var("LIFCHIP_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let bless = "run `LIFCHIP_BLESS=1 cargo test -p lifchip-backend-core --test golden` and \
                 review the diff";
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; {bless}", path.display()));
    if want != text {
        let line = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(text.lines().count()));
        panic!(
            "{} differs from the emitted configuration at line {}:\n  golden:  {}\n  emitted: {}\n{bless}",
            path.display(),
            line + 1,
            want.lines().nth(line).unwrap_or("(end of file)"),
            text.lines().nth(line).unwrap_or("(end of text)"),
        );
    }
}

fn compile_and_emit(net: &Net, target: &Target) -> ChipConfig {
    net.validate().unwrap();
    match compile(net, target, &QuantizeOptions::default()) {
        Ok((mapped, _)) => lifchip_backend_core::emit(&mapped, target).unwrap(),
        Err(report) => panic!("{}: {:#?}", target.name, report.violations),
    }
}

/// `tiny` (2 x 2 cores of 16 neurons and 32 axons, Loihi-like formats), renamed for the dump.
fn tiny(name: &str) -> Target {
    let mut t = builtin("tiny").unwrap();
    t.name = name.into();
    t
}

/// Distinct biases `bias, bias + 1, ...`; decays as 12-bit factors or as shifts.
fn lif(target: &Target, n: usize, threshold: i64, bias: i32) -> Neuron {
    let (current_decay, voltage_decay) = match target.neuron.decay {
        DecayKind::Multiplicative => (1024, 256),
        DecayKind::Shift => (2, 4),
    };
    Neuron::ChipLif(ChipLif {
        current_decay: current_decay.into(),
        voltage_decay: voltage_decay.into(),
        threshold: threshold.into(),
        // None where the neuron has no bias (`bias_bits: 0`, xylo-like).
        bias: Tensor::new(
            vec![n],
            (0..n)
                .map(|k| (bias + k as i32) as f32 * f32::from(target.precision.bias_bits > 0))
                .collect(),
        ),
        bias_exp: Tensor::scalar(0.0),
        initial_u: Tensor::scalar(0.0),
        initial_v: Tensor::scalar(0.0),
        current_decay_2: 0.into(),
        refractory: 0.into(),
    })
}

fn input(name: &str, shape: Vec<usize>) -> Population {
    Population {
        name: name.into(),
        shape,
        neuron: Neuron::Input,
    }
}

fn layer(target: &Target, name: &str, shape: Vec<usize>, threshold: i64) -> Population {
    let n = shape.iter().product();
    Population {
        name: name.into(),
        shape,
        neuron: lif(target, n, threshold, 1),
    }
}

/// A dense projection whose weights are distinct even multiples (the mixed-sign step of the
/// Loihi formats), so that every synapse in the dump can be told apart.
fn dense(name: &str, from: &str, to: &str, inputs: usize, outputs: usize) -> Projection {
    let weights = (0..outputs * inputs)
        .map(|k| (2 * (k as i32 % 23) - 20) as f32)
        .collect();
    Projection {
        current: 1,
        sign_mode: None,
        name: name.into(),
        from: from.into(),
        to: to.into(),
        ops: vec![LinearOp::Dense {
            weights: Tensor::new(vec![outputs, inputs], weights),
        }],
        weight_exp: 1,
    }
}

#[test]
fn dense_net_on_tiny() {
    // 6 inputs -> 20 -> 3: the hidden layer needs two 16-neuron cores.
    let target = tiny("tiny");
    let mut net = Net::new("golden-dense");
    net.populations = vec![
        input("in", vec![6]),
        layer(&target, "hidden", vec![20], 100),
        layer(&target, "out", vec![3], 100),
    ];
    net.projections = vec![
        dense("p0", "in", "hidden", 6, 20),
        dense("p1", "hidden", "out", 20, 3),
    ];
    let config = compile_and_emit(&net, &target);
    assert_eq!(config.cores.len(), 2);
    assert_golden("dense-tiny", &config);
}

#[test]
fn conv_net_on_tiny_with_shared_rows() {
    // 1x4x4 -> 2x2 conv, 2 channels -> 2x3x3 -> 2x2 pool (stride 1) folded into a dense
    // readout of 2. Shared rows are charged once; the dump lists every axon's row.
    let mut target = tiny("tiny-shared-kernels");
    target.core.shared_kernels = true;
    let mut net = Net::new("golden-conv");
    net.populations = vec![
        input("in", vec![1, 4, 4]),
        layer(&target, "c1", vec![2, 3, 3], 60),
        layer(&target, "out", vec![2], 100),
    ];
    net.projections = vec![
        Projection {
            current: 1,
            sign_mode: None,
            name: "conv".into(),
            from: "in".into(),
            to: "c1".into(),
            ops: vec![LinearOp::Conv2d {
                out_channels: 2,
                kernel: [2, 2],
                stride: [1, 1],
                padding: [0, 0],
                weights: Tensor::new(
                    vec![2, 1, 2, 2],
                    vec![2.0, 4.0, 6.0, -8.0, -2.0, 10.0, 12.0, 14.0],
                ),
            }],
            weight_exp: 0,
        },
        Projection {
            current: 1,
            sign_mode: None,
            name: "pool_readout".into(),
            from: "c1".into(),
            to: "out".into(),
            ops: vec![
                LinearOp::AvgPool {
                    size: [2, 2],
                    stride: Some([1, 1]),
                },
                LinearOp::Flatten,
                LinearOp::Dense {
                    // Multiples of 4 pixels x step 2: the folded pool leaves even integers.
                    weights: Tensor::new(
                        vec![2, 8],
                        (0..16).map(|k| (8 * (k % 5) - 16) as f32).collect(),
                    ),
                },
            ],
            weight_exp: 0,
        },
    ];
    let config = compile_and_emit(&net, &target);
    assert_golden("conv-tiny-shared", &config);
}

#[test]
fn fanin_split_net_on_tiny() {
    // 10 inputs -> 2 neurons on cores of 4 input axons: each neuron becomes a compartment and
    // partial sums on other cores.
    let mut target = tiny("tiny-split-4-axons");
    target.core.fanin_split = true;
    target.core.input_axons = 4;
    target.mesh.width = 3;
    target.mesh.height = 3;
    let mut net = Net::new("golden-split");
    net.populations = vec![input("in", vec![10]), layer(&target, "out", vec![2], 100)];
    net.projections = vec![dense("p0", "in", "out", 10, 2)];
    let config = compile_and_emit(&net, &target);
    assert!(lifchip_chip::dump_text(&config).contains("partial sum to"));
    assert_golden("split-tiny", &config);
}

#[test]
fn recurrent_net_on_xylo_like() {
    // 3 inputs -> 4 neurons with a sparse recurrent ring -> 2, on the single Xylo-like core
    // (a crossbar: synapse memory is not counted per row).
    let target = builtin("xylo-like").unwrap();
    let mut net = Net::new("golden-recurrent");
    net.populations = vec![
        input("in", vec![3]),
        layer(&target, "ring", vec![4], 100),
        layer(&target, "out", vec![2], 100),
    ];
    let mut feed = dense("p0", "in", "ring", 3, 4);
    let mut readout = dense("p1", "ring", "out", 4, 2);
    // Xylo-like stores signed 8-bit weights without an exponent.
    feed.weight_exp = 0;
    readout.weight_exp = 0;
    net.projections = vec![
        feed,
        Projection {
            current: 1,
            sign_mode: None,
            name: "ring".into(),
            from: "ring".into(),
            to: "ring".into(),
            ops: vec![LinearOp::Sparse {
                outputs: 4,
                pre: Indices::new(vec![0, 1, 2, 3]),
                post: Indices::new(vec![1, 2, 3, 0]),
                weights: Tensor::new(vec![4], vec![30.0, -20.0, 25.0, -15.0]),
            }],
            weight_exp: 0,
        },
        readout,
    ];
    // Per-neuron thresholds and membrane decays in the ring (Xylo has them per neuron).
    if let Neuron::ChipLif(c) = &mut net.populations[1].neuron {
        c.threshold = vec![100, 120, 140, 160].into();
        c.voltage_decay = vec![4, 5, 6, 7].into();
    }
    let config = compile_and_emit(&net, &target);
    assert_eq!(config.cores.len(), 1);
    assert_golden("recurrent-xylo", &config);
}
