//! Random chip-unit nets for `xylo-like`, compiled and emitted, and the vendor Python: shared
//! by the export tests, the vendor agreement harness and the cycles check (each uses a part).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use lifchip_chip::ChipConfig;
use lifchip_compiler::{QuantizeOptions, compile};
use lifchip_net::{ChipLif, LinearOp, Net, Neuron, PerNeuron, Population, Projection, Tensor};
use lifchip_target::{Target, builtin};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// One random case: the chip configuration and its input (channel lists per tick).
pub struct Case {
    pub config: ChipConfig,
    pub input: Vec<Vec<u32>>,
    pub ticks: usize,
}

/// A `xylo-like` (`v2`: `xylo-v2-like`) variant with `weight_bits` signed weights.
pub fn xylo_target(weight_bits: u32, v2: bool) -> Target {
    let name = if v2 { "xylo-v2-like" } else { "xylo-like" };
    let mut t = builtin(name).expect("built-in Xylo target");
    t.precision.weight_bits = weight_bits;
    t
}

/// One value for the population, or (often) one per neuron.
fn per_neuron<T>(rng: &mut StdRng, n: usize, draw: impl Fn(&mut StdRng) -> T) -> PerNeuron<T> {
    if n > 1 && rng.random_bool(0.6) {
        PerNeuron::Each((0..n).map(|_| draw(rng)).collect())
    } else {
        PerNeuron::All(draw(rng))
    }
}

/// A population's parameters: decays and thresholds per population or per neuron (Xylo has
/// a register of each per neuron).
fn chip_lif(rng: &mut StdRng, n: usize, v2: bool) -> Neuron {
    // Small thresholds give many spikes per tick (up to 31), 0 the unbounded loop's cap,
    // large ones long integration and saturation of V.
    let threshold = per_neuron(rng, n, |rng| match rng.random_range(0..10) {
        0 => rng.random_range(0..=2),
        1..=3 => rng.random_range(1..=200),
        4..=7 => rng.random_range(200..=8000),
        _ => rng.random_range(8000..=32767),
    });
    // Xylo v2 has a signed 16-bit bias per neuron: often none, often the extremes.
    let bias = (0..n)
        .map(|_| match rng.random_range(0..8) {
            _ if !v2 => 0,
            0..=2 => 0,
            3 => -32768,
            4 => 32767,
            5 => rng.random_range(-300..=300),
            _ => rng.random_range(-32768..=32767),
        } as f32)
        .collect();
    let dash = |rng: &mut StdRng| rng.random_range(0..=15u32);
    Neuron::ChipLif(ChipLif {
        current_decay: per_neuron(rng, n, dash),
        voltage_decay: per_neuron(rng, n, dash),
        threshold,
        bias: Tensor::new(vec![n], bias),
        bias_exp: Tensor::scalar(0.0),
        initial_u: Tensor::scalar(0.0),
        initial_v: Tensor::scalar(0.0),
        current_decay_2: per_neuron(rng, n, dash),
        refractory: 0.into(),
    })
}

/// How many projections join one pair of populations: mostly 1; sometimes 2 (an alias
/// neuron per source neuron in the export), 3 or 4 (alias chains of 3 or 4 rows).
fn draw_copies(rng: &mut StdRng) -> usize {
    match rng.random_range(0..100) {
        0..=84 => 1,
        85..=93 => 2,
        94..=97 => 3,
        _ => 4,
    }
}

fn dense(rng: &mut StdRng, rows: usize, cols: usize, lo: i64, hi: i64, density: f64) -> LinearOp {
    let weights = (0..rows * cols)
        .map(|_| {
            let w = if rng.random_bool(density) {
                // The extremes of the range on purpose, often: saturation of I_syn.
                match rng.random_range(0..6) {
                    0 => lo,
                    1 => hi,
                    _ => rng.random_range(lo..=hi),
                }
            } else {
                0
            };
            w as f32
        })
        .collect();
    LinearOp::Dense {
        weights: Tensor::new(vec![rows, cols], weights),
    }
}

/// A random net for `xylo-like` or (every other seed, roughly) `xylo-v2-like` with biases:
/// 1-16 inputs, 1-5 hidden populations (each with its own decays, both currents' and the
/// membrane's, and threshold, each often one per neuron), recurrent and backward hidden
/// projections each feeding I_syn or I_syn2, sometimes two to four projections between the
/// same populations (several weights per neuron pair: alias neurons and alias chains of 3-4
/// rows in the export), a readout
/// population of 1-8 neurons named in the net (sometimes not last in file order, with a
/// population after it that no projection leaves); one weight shift per Xylo matrix.
pub fn random_case(seed: u64) -> Option<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    let weight_bits = rng.random_range(1..=8);
    let v2 = rng.random_bool(0.5);
    let target = xylo_target(weight_bits, v2);
    let lifchip_target::WeightGrid { lo, hi, .. } =
        target.weight_grid(lifchip_target::SignClass::Mixed);
    let mut net = Net::new(format!("xylo-random-{seed}"));
    let inputs = rng.random_range(1..=16usize);
    net.populations.push(Population {
        name: "in".into(),
        shape: vec![inputs],
        neuron: Neuron::Input,
    });
    let hidden_pops = rng.random_range(1..=5usize);
    let mut sizes = Vec::new();
    for h in 0..hidden_pops {
        let n = rng.random_range(1..=6usize);
        sizes.push(n);
        let neuron = chip_lif(&mut rng, n, v2);
        net.populations.push(Population {
            name: format!("h{h}"),
            shape: vec![n],
            neuron,
        });
    }
    let outputs = rng.random_range(1..=8usize);
    let readout = chip_lif(&mut rng, outputs, v2);
    let (shift_in, shift_rec, shift_out) = (
        rng.random_range(0..=7),
        rng.random_range(0..=7),
        rng.random_range(0..=7),
    );
    let density = rng.random_range(0.3..1.0);
    // Inputs reach the first hidden population, and some others.
    for (h, &size) in sizes.iter().enumerate() {
        if h == 0 || rng.random_bool(0.3) {
            net.projections.push(Projection {
                current: rng.random_range(1..=2),
                sign_mode: None,
                name: format!("in_h{h}"),
                from: "in".into(),
                to: format!("h{h}"),
                ops: vec![dense(&mut rng, size, inputs, lo, hi, density)],
                weight_exp: shift_in,
            });
        }
    }
    // Hidden to hidden: forward chain, plus recurrent and backward projections.
    for from in 0..hidden_pops {
        for to in 0..hidden_pops {
            let p = if to == from + 1 {
                1.0
            } else if to == from {
                0.4
            } else {
                0.15
            };
            // A second projection between the same populations: a neuron with two outgoing
            // rows, the second on an alias neuron where they meet on one target and current.
            let copies = draw_copies(&mut rng);
            // Three or more copies feed one current, so that their rows meet on every
            // target: a chain of that many rows (the neuron and 2-3 alias neurons).
            let same_current = rng.random_range(1..=2);
            for copy in 0..copies {
                if copy >= 1 || rng.random_bool(p) {
                    net.projections.push(Projection {
                        current: if copies >= 3 {
                            same_current
                        } else {
                            rng.random_range(1..=2)
                        },
                        sign_mode: None,
                        name: format!("h{from}_h{to}_{copy}"),
                        from: format!("h{from}"),
                        to: format!("h{to}"),
                        ops: vec![dense(&mut rng, sizes[to], sizes[from], lo, hi, density)],
                        weight_exp: shift_rec,
                    });
                }
            }
        }
    }
    // The readout: from the last hidden population and maybe others (twice, sometimes),
    // named in the net. Sometimes a hidden population that no projection leaves comes after
    // it in file order, so that only the name makes `out` the readout.
    net.populations.push(Population {
        name: "out".into(),
        shape: vec![outputs],
        neuron: readout,
    });
    net.readout = Some("out".into());
    for (from, &size) in sizes.iter().enumerate() {
        let copies = draw_copies(&mut rng);
        for copy in 0..copies {
            if copy >= 1 || from + 1 == hidden_pops || rng.random_bool(0.3) {
                net.projections.push(Projection {
                    current: 1,
                    sign_mode: None,
                    name: format!("h{from}_out_{copy}"),
                    from: format!("h{from}"),
                    to: "out".into(),
                    ops: vec![dense(&mut rng, outputs, size, lo, hi, density)],
                    weight_exp: shift_out,
                });
            }
        }
    }
    if rng.random_bool(0.3) {
        let n = rng.random_range(1..=4usize);
        let neuron = chip_lif(&mut rng, n, v2);
        net.populations.push(Population {
            name: "sink".into(),
            shape: vec![n],
            neuron,
        });
        net.projections.push(Projection {
            current: rng.random_range(1..=2),
            sign_mode: None,
            name: "h0_sink".into(),
            from: "h0".into(),
            to: "sink".into(),
            ops: vec![dense(&mut rng, n, sizes[0], lo, hi, density)],
            weight_exp: shift_rec,
        });
    }
    let (mapped, _) = compile(&net, &target, &QuantizeOptions::default()).ok()?;
    let config = lifchip_backend_core::emit(&mapped, &target).unwrap();
    let ticks = rng.random_range(20..=60usize);
    let rate = rng.random_range(0.05..0.8);
    let input = (0..ticks)
        .map(|_| {
            let mut tick = Vec::new();
            for ch in 0..inputs as u32 {
                if rng.random_bool(rate) {
                    // Multi-spike ticks: up to Xylo's 15 events per channel per tick.
                    let n = if rng.random_bool(0.5) {
                        1
                    } else {
                        rng.random_range(1..=15)
                    };
                    tick.extend(std::iter::repeat_n(ch, n));
                }
            }
            tick
        })
        .collect();
    Some(Case {
        config,
        input,
        ticks,
    })
}

/// Xylo at full size: 16 input channels, 1000 hidden neurons (per-neuron registers) with
/// recurrent weights onto both synaptic currents (`density` of the 1000 x 1000 pairs each) and
/// 8 readout neurons, on `xylo-like` or `xylo-v2-like`: every hidden neuron has a recurrent and
/// a readout row, which the target counts as its own (`core.neuron_rows`), not as input axons.
pub fn full_size_case(seed: u64, v2: bool, density: f64, ticks: usize) -> Case {
    const HIDDEN: usize = 1000;
    let mut rng = StdRng::seed_from_u64(seed);
    let target = xylo_target(8, v2);
    let mut net = Net::new(format!("xylo-full-{seed}"));
    let hidden = chip_lif(&mut rng, HIDDEN, v2);
    let out = chip_lif(&mut rng, 8, v2);
    for (name, n, neuron) in [
        ("in", 16, Neuron::Input),
        ("hidden", HIDDEN, hidden),
        ("out", 8, out),
    ] {
        net.populations.push(Population {
            name: name.into(),
            shape: vec![n],
            neuron,
        });
    }
    net.readout = Some("out".into());
    let layers = [
        (
            "in_h",
            "in",
            "hidden",
            HIDDEN,
            16,
            1.0,
            1,
            rng.random_range(0..=7),
        ),
        ("h_h", "hidden", "hidden", HIDDEN, HIDDEN, density, 1, 0),
        ("h_h2", "hidden", "hidden", HIDDEN, HIDDEN, density, 2, 0),
        (
            "h_out",
            "hidden",
            "out",
            8,
            HIDDEN,
            1.0,
            1,
            rng.random_range(0..=7),
        ),
    ];
    for (name, from, to, rows, cols, d, current, weight_exp) in layers {
        // Small recurrent weights, so that activity spreads without every neuron saturating.
        let (lo, hi) = if from == "hidden" && to == "hidden" {
            (-12, 8)
        } else {
            (-128, 127)
        };
        net.projections.push(Projection {
            current,
            sign_mode: None,
            name: name.into(),
            from: from.into(),
            to: to.into(),
            ops: vec![dense(&mut rng, rows, cols, lo, hi, d)],
            weight_exp,
        });
    }
    let (mapped, report) = compile(&net, &target, &QuantizeOptions::default())
        .unwrap_or_else(|r| panic!("the full-size Xylo net does not map: {:#?}", r.violations));
    assert_eq!(report.cores_used, 1);
    let config = lifchip_backend_core::emit(&mapped, &target).unwrap();
    let input = (0..ticks)
        .map(|_| {
            let mut tick = Vec::new();
            for ch in 0..16u32 {
                if rng.random_bool(0.4) {
                    tick.extend(std::iter::repeat_n(ch, rng.random_range(1..=15)));
                }
            }
            tick
        })
        .collect();
    Case {
        config,
        input,
        ticks,
    }
}

/// The Python of the Xylo venv (rockpool, xylosim): `LIFCHIP_XYLO_VENV`, else
/// `target/venvs/xylo` of the workspace; `None` when it is not there.
pub fn venv_python() -> Option<PathBuf> {
    let venv = match std::env::var_os("LIFCHIP_XYLO_VENV") {
        Some(v) => PathBuf::from(v),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/venvs/xylo"),
    };
    let python = venv.join("bin/python");
    python.is_file().then_some(python)
}
