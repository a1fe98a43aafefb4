//! The verification chain's "≡": the emulator running the emitted chip configuration and the
//! compiler's independent integer reference agree spike for spike and state for state, on
//! random chip-unit nets and random targets: layered nets of flat populations, and
//! image-shaped nets of conv2d / avg_pool / flatten projections.

mod common;

use lifchip_compiler::{QuantizeOptions, compile};
use lifchip_emulator::Mode;
use lifchip_net::{
    ChipLif, Indices, LinearOp, Net, Neuron, PerNeuron, Population, Projection, Tensor,
};
use lifchip_target::{
    Accumulate, Overflow, Reset, SpikeTest, Target, UpdateOrder, VoltageUpdate, builtin,
};
use proptest::prelude::*;

/// A small deterministic generator so one seed fixes a whole case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    /// True with probability `1 / n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
}

/// The built-in targets the random cases start from.
const BASES: [&str; 5] = [
    "tiny",
    "loihi-like",
    "xylo-like",
    "xylo-v2-like",
    "truenorth-like",
];

/// A random variant of a built-in target: dynamics switches flipped, limits kept.
fn random_target(rng: &mut Rng) -> Target {
    let base = rng.pick(&BASES);
    let mut t = builtin(base).expect("built-in target");
    t.mesh.width = t.mesh.width.max(2);
    t.mesh.height = t.mesh.height.max(2);
    if rng.one_in(2) {
        t.neuron.order = rng.pick(&[UpdateOrder::DecayThenInput, UpdateOrder::InputThenDecay]);
        t.neuron.accumulate = rng.pick(&[Accumulate::SumThenAdd, Accumulate::PerEventSaturating]);
        t.neuron.reset = rng.pick(&[Reset::Zero, Reset::Subtract]);
        t.neuron.spike_test = rng.pick(&[SpikeTest::Greater, SpikeTest::GreaterEqual]);
        let modes = [
            Overflow::Wrap,
            Overflow::WrapLava,
            Overflow::Saturate,
            Overflow::SaturateSymmetric,
        ];
        t.precision.current_overflow = rng.pick(&modes);
        t.precision.voltage_overflow = rng.pick(&modes);
        t.neuron.synaptic_delay = rng.range(1, 3) as u32;
        t.neuron.input_delay = rng.range(0, 2) as u32;
        if t.neuron.reset == Reset::Subtract {
            t.neuron.max_spikes_per_tick = rng.range(1, 4) as u32;
        }
    }
    if let lifchip_target::SynapseCost::Sparse { dense_rows, .. } = &mut t.core.synapse_cost {
        *dense_rows = rng.one_in(2);
    }
    t.core.shared_kernels = rng.one_in(2);
    if t.neuron.synaptic_currents > 1 || t.neuron.voltage_update == VoltageUpdate::SaturatedDelta {
        // The Xylo switches: Xylo v2's voltage update on any base, two currents where the
        // accumulation is per event.
        if rng.one_in(2) {
            t.neuron.voltage_update =
                rng.pick(&[VoltageUpdate::Direct, VoltageUpdate::SaturatedDelta]);
        }
    }
    t
}

/// Random chip_lif parameters for a population of `shape` that fit `target`.
fn random_chip_lif(rng: &mut Rng, target: &Target, shape: &[usize]) -> Neuron {
    let n: usize = shape.iter().product();
    let tmax = ((1i64 << target.precision.threshold_bits.min(20)) - 1).min(400);
    let decay_max = match target.neuron.decay {
        lifchip_target::DecayKind::Multiplicative => 4095,
        lifchip_target::DecayKind::Shift => 6,
    };
    // No bias at all where the neuron has none (`bias_bits: 0`, Xylo v1).
    let bmax = match target.precision.bias_bits {
        0 => 0,
        b => ((1i64 << (b - 1)) - 1).min(50),
    };
    // Each register one value for the population or, half the time, one per neuron.
    let per_neuron = |rng: &mut Rng, lo: i64, hi: i64| -> PerNeuron<i64> {
        if n > 1 && rng.one_in(2) {
            PerNeuron::Each((0..n).map(|_| rng.range(lo, hi)).collect())
        } else {
            PerNeuron::All(rng.range(lo, hi))
        }
    };
    let as_u32 = |p: PerNeuron<i64>| p.map(|v| v as u32);
    let current_decay = as_u32(per_neuron(rng, 0, decay_max));
    let voltage_decay = as_u32(per_neuron(rng, 0, decay_max));
    let threshold = per_neuron(rng, 1, tmax);
    let refractory = as_u32(per_neuron(
        rng,
        0,
        i64::from(target.neuron.refractory_max.min(3)),
    ));
    Neuron::ChipLif(ChipLif {
        current_decay,
        voltage_decay,
        threshold,
        bias: Tensor::new(
            vec![n],
            (0..n).map(|_| rng.range(-bmax, bmax) as f32).collect(),
        ),
        bias_exp: Tensor::scalar(0.0),
        initial_u: Tensor::scalar(0.0),
        initial_v: Tensor::scalar(0.0),
        current_decay_2: 0.into(),
        refractory,
    })
}

/// A random storable weight of a mixed-sign projection.
fn random_weight(rng: &mut Rng, target: &Target) -> f32 {
    let lifchip_target::WeightGrid { lo, hi, step } =
        target.weight_grid(lifchip_target::SignClass::Mixed);
    ((rng.range(lo, hi) / step) * step) as f32
}

/// A random weight exponent the target accepts (kept small so that neurons still spike).
fn random_weight_exp(rng: &mut Rng, target: &Target) -> i32 {
    rng.range(
        i64::from(target.precision.weight_exponent.min),
        i64::from(target.precision.weight_exponent.max).min(2),
    ) as i32
}

/// A sparse recurrent projection `name` of `k` random synapses within `population` (`n`
/// neurons).
fn random_recurrent(
    rng: &mut Rng,
    target: &Target,
    name: String,
    population: &str,
    n: usize,
    k: usize,
) -> Projection {
    Projection {
        current: 1,
        sign_mode: None,
        name,
        from: population.into(),
        to: population.into(),
        ops: vec![LinearOp::Sparse {
            outputs: n,
            pre: Indices::new((0..k).map(|_| rng.range(0, n as i64 - 1) as u32).collect()),
            post: Indices::new((0..k).map(|_| rng.range(0, n as i64 - 1) as u32).collect()),
            weights: Tensor::new(
                vec![k],
                (0..k).map(|_| random_weight(rng, target)).collect(),
            ),
        }],
        weight_exp: 0,
    }
}

/// A random layered chip-unit net (with a recurrent projection) that fits `target`.
fn random_net(rng: &mut Rng, target: &Target) -> Net {
    let mut net = Net::new("random");
    let inputs = rng.range(2, 8) as usize;
    net.populations.push(Population {
        name: "in".into(),
        shape: vec![inputs],
        neuron: Neuron::Input,
    });
    let layers = rng.range(1, 3) as usize;
    let mut prev = inputs;
    for l in 0..layers {
        let n = rng.range(1, 6) as usize;
        let name = format!("l{l}");
        net.populations.push(Population {
            name: name.clone(),
            shape: vec![n],
            neuron: random_chip_lif(rng, target, &[n]),
        });
        let weights: Vec<f32> = (0..n * prev).map(|_| random_weight(rng, target)).collect();
        net.projections.push(Projection {
            current: 1,
            sign_mode: None,
            name: format!("p{l}"),
            from: net.populations[l].name.clone(),
            to: name.clone(),
            ops: vec![LinearOp::Dense {
                weights: Tensor::new(vec![n, prev], weights),
            }],
            weight_exp: random_weight_exp(rng, target),
        });
        if rng.one_in(3) {
            let k = rng.range(1, 3) as usize;
            net.projections
                .push(random_recurrent(rng, target, format!("r{l}"), &name, n, k));
        }
        prev = n;
    }
    net
}

/// `count` random weights that stay storable after an average pool of `area` pixels folds
/// into them: multiples of `area` times the target's step, so that every composed weight (a
/// sum of at most `area` terms `w / area`) is an integer on the grid and within range.
fn pooled_weights(rng: &mut Rng, target: &Target, area: usize, count: usize) -> Vec<f32> {
    let lifchip_target::WeightGrid { lo, hi, step } =
        target.weight_grid(lifchip_target::SignClass::Mixed);
    let m = step * area as i64;
    let (qlo, qhi) = (-((-lo).div_euclid(m)), hi.div_euclid(m));
    (0..count)
        .map(|_| (rng.range(qlo, qhi) * m) as f32)
        .collect()
}

/// A random average pool over a `[c, h, w]` input (window 1 to 3 per side, no larger than the
/// image, stride up to the window), or `None` when the window drawn is 1 x 1.
fn random_pool(rng: &mut Rng, shape: &[usize]) -> Option<LinearOp> {
    let size = [
        rng.range(1, 3.min(shape[1] as i64)) as usize,
        rng.range(1, 3.min(shape[2] as i64)) as usize,
    ];
    let stride = rng.one_in(2).then(|| {
        [
            rng.range(1, size[0] as i64) as usize,
            rng.range(1, size[1] as i64) as usize,
        ]
    });
    (size != [1, 1]).then_some(LinearOp::AvgPool { size, stride })
}

fn pool_area(op: &LinearOp) -> usize {
    match op {
        LinearOp::AvgPool { size, .. } => size[0] * size[1],
        _ => 1,
    }
}

/// A random conv2d over a `[c, h, w]` input, weights still zero: 1 to 3 output channels,
/// kernel 1 to 3 per side, stride 1 or 2, padding 0 or 1.
fn random_conv(rng: &mut Rng, shape: &[usize]) -> LinearOp {
    let out_channels = rng.range(1, 3) as usize;
    let padding = [rng.range(0, 1) as usize, rng.range(0, 1) as usize];
    let kernel = [
        rng.range(1, 3.min((shape[1] + 2 * padding[0]) as i64)) as usize,
        rng.range(1, 3.min((shape[2] + 2 * padding[1]) as i64)) as usize,
    ];
    let stride = [rng.range(1, 2) as usize, rng.range(1, 2) as usize];
    LinearOp::Conv2d {
        out_channels,
        kernel,
        stride,
        padding,
        weights: Tensor::new(
            vec![out_channels, shape[0], kernel[0], kernel[1]],
            vec![0.0; out_channels * shape[0] * kernel[0] * kernel[1]],
        ),
    }
}

/// A dense op from `inputs` to `outputs`, weights still zero.
fn dense(inputs: usize, outputs: usize) -> LinearOp {
    LinearOp::Dense {
        weights: Tensor::new(vec![outputs, inputs], vec![0.0; outputs * inputs]),
    }
}

/// `op` with random weights, multiples of `area` (see [`pooled_weights`]).
fn with_weights(rng: &mut Rng, target: &Target, mut op: LinearOp, area: usize) -> LinearOp {
    if let LinearOp::Conv2d { weights, .. } | LinearOp::Dense { weights } = &mut op {
        weights.data = pooled_weights(rng, target, area, weights.len());
    }
    op
}

/// A random image-shaped chip-unit net that fits `target` (most of the time): an input of
/// `[c, h, w]`, one or two image layers each driven by a conv2d alone, an avg_pool folded
/// before it, or one folded after it, sometimes with a sparse recurrent projection, and
/// sometimes a flat readout (dense, flatten + dense, avg_pool + flatten + dense, or a bare
/// flatten).
fn random_image_net(rng: &mut Rng, target: &Target) -> Net {
    let mut net = Net::new("random-image");
    // Small targets get small images, so that most cases still map.
    let big = u64::from(target.core.neurons) * target.num_cores() >= 256;
    let side = if big { 7 } else { 5 };
    let mut shape = vec![
        rng.range(1, 2) as usize,
        rng.range(2, side) as usize,
        rng.range(2, side) as usize,
    ];
    net.populations.push(Population {
        name: "in".into(),
        shape: shape.clone(),
        neuron: Neuron::Input,
    });
    let layers = rng.range(1, 2) as usize;
    for l in 0..layers {
        let ops = match rng.next() % 3 {
            0 => {
                let conv = random_conv(rng, &shape);
                vec![with_weights(rng, target, conv, 1)]
            }
            // A pool folded before the conv (as the trainer's nets do).
            1 => match random_pool(rng, &shape) {
                Some(pool) => {
                    let pooled = pool.output_shape(&shape).expect("pool fits");
                    let conv = random_conv(rng, &pooled);
                    let area = pool_area(&pool);
                    vec![pool, with_weights(rng, target, conv, area)]
                }
                None => {
                    let conv = random_conv(rng, &shape);
                    vec![with_weights(rng, target, conv, 1)]
                }
            },
            // A pool folded after the conv.
            _ => {
                let conv = random_conv(rng, &shape);
                let conved = conv.output_shape(&shape).expect("conv fits");
                match random_pool(rng, &conved) {
                    Some(pool) => {
                        let area = pool_area(&pool);
                        vec![with_weights(rng, target, conv, area), pool]
                    }
                    None => vec![with_weights(rng, target, conv, 1)],
                }
            }
        };
        let from = net.populations[net.populations.len() - 1].name.clone();
        let from_shape = shape.clone();
        shape = ops.iter().fold(from_shape, |s, op| {
            op.output_shape(&s).expect("shapes chain")
        });
        let name = format!("l{l}");
        net.populations.push(Population {
            name: name.clone(),
            shape: shape.clone(),
            neuron: random_chip_lif(rng, target, &shape),
        });
        net.projections.push(Projection {
            current: 1,
            sign_mode: None,
            name: format!("p{l}"),
            from,
            to: name.clone(),
            ops,
            // Not far below 0: image layers should spike in 40 ticks.
            weight_exp: random_weight_exp(rng, target).max(-2),
        });
        if rng.one_in(4) {
            let n: usize = shape.iter().product();
            let k = rng.range(1, 4) as usize;
            net.projections
                .push(random_recurrent(rng, target, format!("r{l}"), &name, n, k));
        }
    }
    if !rng.one_in(3) {
        let size: usize = shape.iter().product();
        let outputs = rng.range(1, 4) as usize;
        let (ops, n) = match rng.next() % 4 {
            // A dense op takes an image as it is.
            0 => (
                vec![with_weights(rng, target, dense(size, outputs), 1)],
                outputs,
            ),
            1 => {
                let dense = with_weights(rng, target, dense(size, outputs), 1);
                (vec![LinearOp::Flatten, dense], outputs)
            }
            2 => match random_pool(rng, &shape) {
                Some(pool) => {
                    let pooled: usize = pool
                        .output_shape(&shape)
                        .expect("pool fits")
                        .iter()
                        .product();
                    let area = pool_area(&pool);
                    let dense = with_weights(rng, target, dense(pooled, outputs), area);
                    (vec![pool, LinearOp::Flatten, dense], outputs)
                }
                None => (vec![LinearOp::Flatten], size),
            },
            // A bare flatten: one synapse of weight 1 per pixel.
            _ => (vec![LinearOp::Flatten], size),
        };
        let from = net.populations[net.populations.len() - 1].name.clone();
        net.populations.push(Population {
            name: "out".into(),
            shape: vec![n],
            neuron: random_chip_lif(rng, target, &[n]),
        });
        net.projections.push(Projection {
            current: 1,
            sign_mode: None,
            name: "readout".into(),
            from,
            to: "out".into(),
            ops,
            weight_exp: random_weight_exp(rng, target).max(-2),
        });
    }
    net
}

/// Which random nets a case draws.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Nets {
    /// [`random_net`]: flat layers, dense and sparse projections.
    Layered,
    /// [`random_image_net`]: image-shaped layers, conv2d / avg_pool / flatten projections.
    Image,
}

/// What one compared case showed.
struct Outcome {
    spikes: usize,
    split_neurons: u64,
    /// Split neurons with more than one incoming projection.
    split_multi: usize,
    cores: u64,
    /// The built-in target the case started from.
    base: String,
    /// The net has a conv2d, an avg_pool and a flatten op (somewhere).
    ops: [bool; 3],
}

/// Runs one case; `Ok(Some(spikes))` when it was compared, `Ok(None)` when it did not map.
fn check(seed: u64) -> Result<Option<usize>, String> {
    check_with(seed, false).map(|r| r.map(|(spikes, _, _)| spikes))
}

/// [`check`]; with `split`, the target allows fan-in splitting and has only 2 to 4 input axons
/// per core, so most neurons are split into partial sums. `Ok(Some((spikes, split neurons,
/// split neurons with more than one incoming projection)))`.
fn check_with(seed: u64, split: bool) -> Result<Option<(usize, u64, usize)>, String> {
    check_case(seed, split, Nets::Layered)
        .map(|r| r.map(|o| (o.spikes, o.split_neurons, o.split_multi)))
}

/// One random case: target, net of kind `nets`, compile, emit, then the chip's row accounting
/// against the compiler's, the mapped synapses against the net's exact expansion, and the
/// emulator against the integer reference for 40 ticks of random input.
fn check_case(seed: u64, split: bool, nets: Nets) -> Result<Option<Outcome>, String> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut target = random_target(&mut rng);
    if split {
        target.core.fanin_split = true;
        target.neuron.accumulate = Accumulate::SumThenAdd;
        target.core.input_axons = rng.range(2, 4) as u32;
        target.mesh.width = target.mesh.width.max(8);
        target.mesh.height = target.mesh.height.max(8);
    }
    if nets == Nets::Image && target.core.output_axons > 1 && rng.one_in(2) {
        // Small cores, so that image layers are cut into tiles over several cores.
        target.core.neurons = target.core.neurons.min(rng.range(8, 32) as u32);
    }
    let net = match nets {
        Nets::Layered => random_net(&mut rng, &target),
        Nets::Image => random_image_net(&mut rng, &target),
    };
    if target.neuron.accumulate != Accumulate::PerEventSaturating {
        target.neuron.synaptic_currents = 1;
    }
    let mut net = net;
    if target.neuron.synaptic_currents > 1 {
        // Projections feed either current; the second decays with its own constant.
        // Readout neurons counted apart (Xylo's) have one current.
        let readout = net.output().map(|p| p.name.clone());
        for pr in &mut net.projections {
            pr.current = rng.range(1, 2) as u8;
            if target.core.readout_neurons > 0 && Some(&pr.to) == readout.as_ref() {
                pr.current = 1;
            }
        }
        for pop in &mut net.populations {
            if let Neuron::ChipLif(c) = &mut pop.neuron {
                let n = pop.shape.iter().product::<usize>();
                c.current_decay_2 = if n > 1 && rng.one_in(2) {
                    PerNeuron::Each((0..n).map(|_| rng.range(0, 6) as u32).collect())
                } else {
                    PerNeuron::All(rng.range(0, 6) as u32)
                };
            }
        }
    }
    net.validate()
        .map_err(|e| format!("seed {seed}: the generator drew an invalid net: {e}"))?;
    let (mapped, report) = match compile(&net, &target, &QuantizeOptions::default()) {
        Ok(x) => x,
        // Limits of the drawn target can make a case unmappable; that is not what is tested.
        Err(_) => return Ok(None),
    };
    let config = lifchip_backend_core::emit(&mapped, &target).unwrap();
    let context = |e: String| format!("seed {seed} ({nets:?}, split {split}): {e}");
    common::row_accounting_agrees(&config, &report, &target).map_err(context)?;
    common::synapses_are_exact(&net, &mapped).map_err(context)?;
    let ticks = 40usize;
    let inputs = net.populations[0].size() as i64;
    // About one input in eight spikes per tick on image nets, 0 to 3 on small layered ones.
    let most = 3.max(inputs / 4);
    let input: Vec<Vec<u32>> = (0..ticks)
        .map(|_| {
            (0..rng.range(0, most))
                .map(|_| rng.range(0, inputs - 1) as u32)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .collect();
    let mode = if seed.is_multiple_of(2) {
        Mode::Functional
    } else {
        Mode::CycleAccurate
    };
    let spikes = common::emulator_matches_reference(&mapped, &target, &config, &input, mode)
        .map_err(context)?;
    let split_multi = mapped
        .partition
        .split
        .keys()
        .filter(|(p, _)| lifchip_compiler::incoming_projections(&mapped.net, *p as usize).len() > 1)
        .count();
    Ok(Some(Outcome {
        spikes,
        split_neurons: report.split_neurons,
        split_multi,
        cores: report.cores_used,
        base: target.name.clone(),
        ops: ["conv2d", "avg_pool", "flatten"].map(|kind| {
            net.projections
                .iter()
                .flat_map(|p| &p.ops)
                .any(|op| op.name() == kind)
        }),
    }))
}

#[test]
fn emulator_matches_reference_on_fixed_seeds() {
    let mut compared = Vec::new();
    for seed in 0..300 {
        match check_case(seed, false, Nets::Layered) {
            Err(e) => panic!("{e}"),
            Ok(Some(outcome)) => compared.push(outcome),
            Ok(None) => {}
        }
    }
    let spiking = compared.iter().filter(|o| o.spikes > 0).count();
    // The test must not pass vacuously: most cases map, and most of those spike.
    assert!(
        compared.len() >= 200,
        "only {} of 300 cases mapped",
        compared.len()
    );
    assert!(
        spiking * 2 >= compared.len(),
        "only {spiking} of {} cases spiked",
        compared.len()
    );
    for base in BASES {
        let n = compared.iter().filter(|o| o.base == base).count();
        assert!(n >= 40, "only {n} mapped cases on {base}");
    }
}

#[test]
fn split_neurons_match_reference() {
    // Partial sums are exact: a split neuron behaves tick for tick like the unsplit one of the
    // integer reference (which knows nothing about cores).
    let (mut compared, mut with_splits, mut with_multi) = (0, 0, 0);
    for seed in 0..300 {
        match check_with(seed, true) {
            Err(e) => panic!("{e}"),
            Ok(Some((_, split, multi))) => {
                compared += 1;
                with_splits += usize::from(split > 0);
                with_multi += usize::from(multi > 0);
            }
            Ok(None) => {}
        }
    }
    assert!(
        with_splits >= 100,
        "only {with_splits} of {compared} mapped cases split a neuron"
    );
    // Recurrent layers have two incoming projections: their partial sums join two groups.
    assert!(
        with_multi >= 20,
        "only {with_multi} of {compared} mapped cases split a neuron with two projections"
    );
}

#[test]
fn image_nets_match_reference_on_fixed_seeds() {
    let mut compared = Vec::new();
    for seed in 0..400 {
        match check_case(seed, false, Nets::Image) {
            Err(e) => panic!("{e}"),
            Ok(Some(outcome)) => compared.push(outcome),
            Ok(None) => {}
        }
    }
    let count = |f: &dyn Fn(&Outcome) -> bool| compared.iter().filter(|o| f(o)).count();
    // Not vacuous: most cases map and spike on every built-in target, every op kind is
    // exercised, and some nets span several cores (conv layers cut into tiles, rows shared
    // within a core, fan-out between cores).
    assert!(
        compared.len() >= 300,
        "only {} of 400 cases mapped",
        compared.len()
    );
    let spiking = count(&|o| o.spikes > 0);
    assert!(
        spiking * 2 >= compared.len(),
        "only {spiking} of {} cases spiked",
        compared.len()
    );
    for base in BASES {
        let spiking = count(&|o| o.base == base && o.spikes > 0);
        assert!(spiking >= 20, "only {spiking} spiking cases on {base}");
    }
    for (k, kind) in ["conv2d", "avg_pool", "flatten"].iter().enumerate() {
        let n = count(&|o| o.ops[k]);
        assert!(n >= 100, "only {n} mapped cases with {kind}");
    }
    let multi_core = count(&|o| o.cores > 1);
    assert!(
        multi_core >= 30,
        "only {multi_core} mapped cases on several cores"
    );
}

#[test]
fn split_image_neurons_match_reference() {
    // Conv and pooled rows split into partial sums: shares of one neuron's kernel on several
    // cores, joined exactly.
    let mut compared = Vec::new();
    for seed in 0..200 {
        match check_case(seed, true, Nets::Image) {
            Err(e) => panic!("{e}"),
            Ok(Some(outcome)) => compared.push(outcome),
            Ok(None) => {}
        }
    }
    let with_splits = compared.iter().filter(|o| o.split_neurons > 0).count();
    let with_multi = compared.iter().filter(|o| o.split_multi > 0).count();
    assert!(
        with_splits >= 100,
        "only {with_splits} of {} mapped image cases split a neuron",
        compared.len()
    );
    assert!(
        with_multi >= 15,
        "only {with_multi} of {} mapped image cases split a neuron with two projections",
        compared.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn emulator_matches_reference(seed in any::<u64>()) {
        if let Err(e) = check(seed) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn emulator_matches_reference_on_image_nets(seed in any::<u64>()) {
        if let Err(e) = check_case(seed, false, Nets::Image) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The first seed whose split case maps and splits, with its target and config.
fn split_case() -> (Target, lifchip_chip::ChipConfig) {
    for seed in 0..100u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut target = random_target(&mut rng);
        target.core.fanin_split = true;
        target.neuron.accumulate = Accumulate::SumThenAdd;
        target.core.input_axons = 2;
        target.mesh.width = target.mesh.width.max(8);
        target.mesh.height = target.mesh.height.max(8);
        let net = random_net(&mut rng, &target);
        if let Ok((mapped, report)) = compile(&net, &target, &QuantizeOptions::default())
            && report.split_neurons > 0
        {
            let config = lifchip_backend_core::emit(&mapped, &target).unwrap();
            return (target, config);
        }
    }
    panic!("no split case among 100 seeds");
}

#[test]
fn partial_sums_survive_the_chipdir_and_are_validated() {
    let (_, config) = split_case();
    let partials = config
        .cores
        .iter()
        .flat_map(|c| &c.compartments)
        .filter(|c| c.partial_of.is_some())
        .count();
    assert!(partials > 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("split.chip");
    lifchip_chip::write_chipdir(&config, &path).unwrap();
    let back = lifchip_chip::read_chipdir(&path).unwrap();
    assert_eq!(back, config);
    assert!(lifchip_chip::dump_text(&back).contains("partial sum to"));

    // A target without fan-in splitting refuses partial sums.
    let mut refused = config.clone();
    refused.target.core.fanin_split = false;
    let err = lifchip_chip::validate(&refused).unwrap_err().to_string();
    assert!(err.contains("fan-in splitting"), "{err}");
    // A partial sum that would spike (reachable threshold) is refused too.
    let mut spiking = config;
    let comp = spiking
        .cores
        .iter_mut()
        .flat_map(|c| &mut c.compartments)
        .find(|c| c.partial_of.is_some())
        .unwrap();
    comp.threshold = 1;
    let err = lifchip_chip::validate(&spiking).unwrap_err().to_string();
    assert!(err.contains("partial_of"), "{err}");
}
