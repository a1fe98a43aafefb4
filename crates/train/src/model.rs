//! The trainable model: a chain of stages (linear ops, bias, nonlinearity) built from a
//! [`TrainConfig`], its training forward/backward passes, and its conversion to a
//! [`lifchip_net::Net`].

use std::collections::BTreeMap;

use lifchip_net::{LinearOp, Net, Neuron, Population, Projection, SoftLif, SoftLifKind, Tensor};
use ndarray::{Array2, Zip};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::TrainError;
use crate::act::{self, Activation, LifParams, Noise, mix};
use crate::config::{ActivationConfig, InitConfig, LayerConfig, TrainConfig};
use crate::kernels::{ConvGeom, Kernel, Mode, PoolGeom, Saved};
use crate::pool;

/// Name of the input population of every trained net.
pub(crate) const INPUT_NAME: &str = "in";
/// Name of the output population of every trained net.
pub(crate) const OUTPUT_NAME: &str = "out";

/// Linear ops from the previous population, then `pre = x + bias`, then the nonlinearity.
#[derive(Clone, Debug)]
pub(crate) struct Stage {
    /// Population name.
    pub name: String,
    /// The last op holds the weights; earlier ones are pooling, flatten and dropout.
    pub ops: Vec<Kernel>,
    pub out_shape: Vec<usize>,
    /// One value per channel (conv) or per neuron (dense).
    pub bias: Vec<f32>,
    /// Neurons sharing one bias value (positions per channel for conv, 1 for dense).
    pub bias_block: usize,
    pub act: Activation,
    pub noise_hz: f32,
}

impl Stage {
    fn size(&self) -> usize {
        self.out_shape.iter().product()
    }

    /// The weights of this stage (its last op).
    pub fn weights(&self) -> Option<&Array2<f32>> {
        self.ops.last().and_then(Kernel::weights)
    }
}

/// A feed-forward chain of stages; the last stage's pre-activations are the logits.
#[derive(Clone, Debug)]
pub(crate) struct Model {
    pub input_shape: [usize; 3],
    pub stages: Vec<Stage>,
}

/// Parameter gradients of one stage.
pub(crate) struct StageGrad {
    pub weights: Array2<f32>,
    pub bias: Vec<f32>,
}

/// What the training forward pass keeps for the backward pass.
pub(crate) struct Tape {
    saved: Vec<Vec<Saved>>,
    /// `d output / d pre` per hidden stage (empty for the last stage).
    deriv: Vec<Array2<f32>>,
}

fn shape3(shape: &[usize]) -> Option<[usize; 3]> {
    match shape {
        [c, h, w] => Some([*c, *h, *w]),
        _ => None,
    }
}

pub(crate) fn activation_of(config: &ActivationConfig) -> (Activation, f32) {
    match config {
        ActivationConfig::SoftLif(p) | ActivationConfig::Lif(p) => {
            let params = LifParams {
                amplitude: p.amplitude,
                tau_rc: p.tau_rc,
                tau_ref: p.tau_ref,
                gamma: p.gamma,
                gain: p.gain,
            };
            let act = if matches!(config, ActivationConfig::SoftLif(_)) {
                Activation::SoftLif(params)
            } else {
                Activation::Lif(params)
            };
            (act, p.noise)
        }
        ActivationConfig::Relu => (Activation::Relu, 0.0),
    }
}

impl Model {
    /// Builds the stages for images of `input_shape` and initialises the weights from the seed.
    pub fn new(config: &TrainConfig, input_shape: [usize; 3]) -> Result<Model, TrainError> {
        config.validate()?;
        let (act, noise_hz) = activation_of(&config.activation);
        let mut rng = StdRng::seed_from_u64(mix(config.seed, 0x1417));
        let weighted = config.layers.iter().filter(|l| l.is_weighted()).count();
        let mut shape: Vec<usize> = input_shape.to_vec();
        let mut pending: Vec<Kernel> = Vec::new();
        let mut stages = Vec::new();
        let (mut n_conv, mut n_dense) = (0, 0);
        for (k, layer) in config.layers.iter().enumerate() {
            let place = format!("layers[{k}]");
            let need_image = |what: &str, shape: &[usize]| {
                shape3(shape).ok_or_else(|| {
                    TrainError::config(
                        &place,
                        format!("{what} needs an image input [channels, height, width], but its input has shape {shape:?}"),
                    )
                })
            };
            match layer {
                LayerConfig::Dense { units } => {
                    let n_in: usize = shape.iter().product();
                    let w = init_weights(&mut rng, config.init, *units, n_in, n_in, *units);
                    pending.push(Kernel::Dense { w });
                    n_dense += 1;
                    let last = stages.len() + 1 == weighted;
                    let name = if last {
                        OUTPUT_NAME.to_string()
                    } else {
                        format!("fc{n_dense}")
                    };
                    stages.push(Stage {
                        name,
                        ops: std::mem::take(&mut pending),
                        out_shape: vec![*units],
                        bias: vec![0.0; *units],
                        bias_block: 1,
                        act,
                        noise_hz,
                    });
                    shape = vec![*units];
                }
                LayerConfig::Conv2d {
                    filters,
                    kernel,
                    stride,
                    padding,
                } => {
                    let input = need_image("conv2d", &shape)?;
                    let g = ConvGeom::new(
                        input,
                        *filters,
                        kernel.pair(),
                        stride.pair(),
                        padding.pair(),
                    )
                    .ok_or_else(|| {
                        TrainError::config(
                            format!("{place}.kernel"),
                            format!(
                                "kernel {:?} does not fit the input {}x{} padded by {:?}",
                                kernel.pair(),
                                input[1],
                                input[2],
                                padding.pair()
                            ),
                        )
                    })?;
                    let w = init_weights(
                        &mut rng,
                        config.init,
                        *filters,
                        g.patch(),
                        g.patch(),
                        filters * g.kh * g.kw,
                    );
                    pending.push(Kernel::Conv { w, g });
                    n_conv += 1;
                    let last = stages.len() + 1 == weighted;
                    let name = if last {
                        OUTPUT_NAME.to_string()
                    } else {
                        format!("conv{n_conv}")
                    };
                    stages.push(Stage {
                        name,
                        ops: std::mem::take(&mut pending),
                        out_shape: vec![g.oc, g.oh, g.ow],
                        bias: vec![0.0; g.oc],
                        bias_block: g.positions(),
                        act,
                        noise_hz,
                    });
                    shape = vec![g.oc, g.oh, g.ow];
                }
                LayerConfig::AvgPool { size, stride } => {
                    let input = need_image("avg_pool", &shape)?;
                    let size = size.pair();
                    let stride = stride.map_or(size, |s| s.pair());
                    let g = PoolGeom::new(input, size, stride).ok_or_else(|| {
                        TrainError::config(
                            format!("{place}.size"),
                            format!(
                                "window {size:?} is larger than the input {}x{}",
                                input[1], input[2]
                            ),
                        )
                    })?;
                    pending.push(Kernel::Pool(g));
                    shape = vec![g.c, g.oh, g.ow];
                }
                LayerConfig::Flatten => {
                    pending.push(Kernel::Flatten);
                    shape = vec![shape.iter().product()];
                }
                LayerConfig::Dropout { rate } => pending.push(Kernel::Dropout { rate: *rate }),
            }
        }
        let out = stages.last().map_or(0, Stage::size);
        if out != config.classes {
            let k = config.layers.len() - 1;
            let field = if matches!(config.layers[k], LayerConfig::Dense { .. }) {
                format!("layers[{k}].units")
            } else {
                format!("layers[{k}]")
            };
            return Err(TrainError::config(
                field,
                format!(
                    "the last layer has {out} neurons, but there are {} classes",
                    config.classes
                ),
            ));
        }
        Ok(Model {
            input_shape,
            stages,
        })
    }

    #[cfg(test)]
    pub fn input_size(&self) -> usize {
        self.input_shape.iter().product()
    }

    #[cfg(test)]
    pub fn classes(&self) -> usize {
        self.stages.last().map_or(0, Stage::size)
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.stages
            .iter()
            .map(|s| s.weights().map_or(0, Array2::len) + s.bias.len())
            .sum()
    }

    /// Adds the (block-shared) bias to `a` in place, rows in parallel.
    fn add_bias(stage: &Stage, a: &mut Array2<f32>) {
        let block = stage.bias_block.max(1);
        let cols = a.ncols().max(1);
        let Some(values) = a.as_slice_mut() else {
            for mut row in a.rows_mut() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v += stage.bias[j / block];
                }
            }
            return;
        };
        values.par_chunks_mut(cols).for_each(|row| {
            if block == 1 {
                // Dense: one bias per neuron, a loop the compiler vectorises.
                for (v, &b) in row.iter_mut().zip(&stage.bias) {
                    *v += b;
                }
                return;
            }
            for (chunk, &b) in row.chunks_mut(block).zip(&stage.bias) {
                for v in chunk {
                    *v += b;
                }
            }
        });
    }

    /// The curve and its derivative at this batch's bias values, for a soft-LIF stage where
    /// enough of the batch's neurons sit at their bias (`act::AtBias`).
    fn at_bias(stage: &Stage, pre: &Array2<f32>) -> Option<act::AtBias> {
        if !matches!(stage.act, Activation::SoftLif(_)) {
            return None;
        }
        let block = stage.bias_block.max(1);
        let bias: Vec<f32> = (0..pre.ncols())
            .map(|j| stage.bias.get(j / block).copied())
            .collect::<Option<_>>()?;
        act::mostly_at_bias(pre, &bias)
            .then(|| act::AtBias::new(&stage.act, &bias, true))
            .flatten()
    }

    /// Bias gradient: per bias value, the sum of `d` over rows and over its block of
    /// neurons, accumulated in row-major order (row by row, each row's block in order) and
    /// computed for groups of bias values in parallel.
    fn bias_grad(stage: &Stage, d: &Array2<f32>) -> Vec<f32> {
        let block = stage.bias_block.max(1);
        let mut db = vec![0.0f32; stage.bias.len()];
        let cols = d.ncols();
        let Some(values) = d.as_slice() else {
            for row in d.rows() {
                for (j, v) in row.iter().enumerate() {
                    db[j / block] += *v;
                }
            }
            return db;
        };
        if cols == 0 {
            return db;
        }
        // Groups of bias values wide enough to amortise a task.
        let group = (4096 / block).max(1);
        db.par_chunks_mut(group).enumerate().for_each(|(g, out)| {
            let first = g * group * block;
            for row in values.chunks(cols) {
                if block == 1 {
                    // Dense: each sum still takes the rows in order, vectorised across
                    // neurons.
                    for (acc, v) in out.iter_mut().zip(&row[first..]) {
                        *acc += *v;
                    }
                    continue;
                }
                for (acc, chunk) in out.iter_mut().zip(row[first..].chunks(block)) {
                    for v in chunk {
                        *acc += *v;
                    }
                }
            }
        });
        db
    }

    /// Data-dependent rescaling of the initial weights (in the spirit of LSUV, Mishkin & Matas
    /// 2016): stage by stage, the weights are scaled so that the pre-activations of `x` have
    /// root-mean-square `target`. LIF outputs are `A × rate` with slopes well above 1, so plain
    /// Glorot/He scaling lets activity grow layer by layer; this keeps every layer in the
    /// useful part of its curve. Deterministic for a given batch.
    pub fn rescale_init(&mut self, x: Array2<f32>, target: f32) {
        let mut a = x;
        let last = self.stages.len().saturating_sub(1);
        for (s, stage) in self.stages.iter_mut().enumerate() {
            let mut z = a;
            for op in &stage.ops {
                z = op.forward(z, Mode::Eval).0;
            }
            let n = z.len().max(1) as f64;
            let rms =
                (z.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / n).sqrt() as f32;
            if rms.is_finite() && rms > 1e-12 {
                let factor = target / rms;
                if let Some(w) = stage.ops.last_mut().and_then(Kernel::weights_mut) {
                    w.mapv_inplace(|v| v * factor);
                }
                z.mapv_inplace(|v| v * factor);
            }
            Self::add_bias(stage, &mut z);
            if s != last {
                act::apply(&stage.act, &mut z, None, None);
            }
            a = z;
        }
    }

    /// Evaluation forward pass: logits (pre-activations of the last stage), no noise, no dropout.
    pub fn logits(&self, x: Array2<f32>) -> Array2<f32> {
        let mut a = x;
        let last = self.stages.len().saturating_sub(1);
        for (s, stage) in self.stages.iter().enumerate() {
            for op in &stage.ops {
                a = op.forward(a, Mode::Eval).0;
            }
            Self::add_bias(stage, &mut a);
            if s != last {
                act::apply(&stage.act, &mut a, None, None);
            }
        }
        a
    }

    /// Training forward pass with noise and dropout drawn from `seed`. On a non-finite
    /// activity, returns the index of the first stage where it appeared.
    pub fn forward_train(
        &self,
        x: Array2<f32>,
        seed: u64,
        noise: bool,
    ) -> Result<(Array2<f32>, Tape), usize> {
        let mut a = x;
        let mut tape = Tape {
            saved: Vec::with_capacity(self.stages.len()),
            deriv: Vec::with_capacity(self.stages.len()),
        };
        let last = self.stages.len().saturating_sub(1);
        for (s, stage) in self.stages.iter().enumerate() {
            let mut saved = Vec::with_capacity(stage.ops.len());
            for (i, op) in stage.ops.iter().enumerate() {
                let op_seed = mix(seed, (s * 64 + i) as u64 + 1);
                let (y, keep) = op.forward(a, Mode::Train { seed: op_seed });
                a = y;
                saved.push(keep);
            }
            Self::add_bias(stage, &mut a);
            if s != last {
                // `act::apply` writes every derivative of a standard-layout array.
                let mut deriv = if a.is_standard_layout() {
                    pool::uninit(a.nrows(), a.ncols())
                } else {
                    Array2::<f32>::zeros(a.raw_dim())
                };
                let noise = (noise && stage.noise_hz > 0.0).then(|| Noise {
                    sigma_hz: stage.noise_hz,
                    seed: mix(seed, (s * 64 + 63) as u64 + 1),
                });
                match Self::at_bias(stage, &a) {
                    Some(at) => at.apply(&stage.act, &mut a, Some(&mut deriv), noise),
                    None => act::apply(&stage.act, &mut a, Some(&mut deriv), noise),
                }
                tape.deriv.push(deriv);
            }
            let finite = a.as_slice().map_or_else(
                || a.iter().all(|v| v.is_finite()),
                |v| {
                    v.par_chunks(1 << 14)
                        .all(|c| c.iter().all(|x| x.is_finite()))
                },
            );
            if !finite {
                return Err(s);
            }
            tape.saved.push(saved);
        }
        Ok((a, tape))
    }

    /// Back-propagates the logit gradient through the tape: one [`StageGrad`] per stage.
    pub fn backward(&self, tape: Tape, dlogits: Array2<f32>) -> Vec<StageGrad> {
        let Tape { saved, mut deriv } = tape;
        let n = self.stages.len();
        let mut grads: Vec<Option<StageGrad>> = (0..n).map(|_| None).collect();
        let mut d = dlogits;
        for (s, saved) in saved.into_iter().enumerate().rev() {
            let stage = &self.stages[s];
            if s + 1 != n
                && let Some(der) = deriv.pop()
            {
                Zip::from(&mut d).and(&der).par_for_each(|g, &f| *g *= f);
                pool::recycle(der);
            }
            let db = Self::bias_grad(stage, &d);
            let mut dw = None;
            for (i, (op, keep)) in stage.ops.iter().zip(saved.iter()).enumerate().rev() {
                let need_dx = s > 0 || i > 0;
                let (dx, w) = op.backward(keep, d, need_dx);
                if w.is_some() {
                    dw = w;
                }
                match dx {
                    Some(dx) => d = dx,
                    None => {
                        d = Array2::zeros((0, 0));
                        break;
                    }
                }
            }
            let weights = dw.unwrap_or_else(|| Array2::zeros((0, 0)));
            grads[s] = Some(StageGrad { weights, bias: db });
            for keep in saved {
                match keep {
                    Saved::Input(a) | Saved::Cols(a) | Saved::Mask(a) => pool::recycle(a),
                    Saved::Nothing => {}
                }
            }
        }
        grads.into_iter().flatten().collect()
    }

    /// The model as a net: population `in` of the input shape, one population per stage (the
    /// last is `out`), one projection per stage; dropout is dropped (inverted dropout needs
    /// no rescaling), per-channel conv biases are expanded to one value per neuron.
    pub fn to_net(&self, name: &str, meta: BTreeMap<String, String>) -> Result<Net, TrainError> {
        let mut net = Net::new(name);
        net.description = "soft-LIF network trained by lifchip-train".into();
        net.meta = meta;
        net.populations.push(Population {
            name: INPUT_NAME.into(),
            shape: self.input_shape.to_vec(),
            neuron: Neuron::Input,
        });
        let mut from = INPUT_NAME.to_string();
        for stage in &self.stages {
            let size = stage.size();
            let block = stage.bias_block.max(1);
            let bias: Vec<f32> = (0..size)
                .map(|j| stage.bias.get(j / block).copied().unwrap_or(0.0))
                .collect();
            let bias = Tensor::new(vec![size], bias);
            let neuron = match stage.act {
                Activation::SoftLif(p) | Activation::Lif(p) => Neuron::SoftLif(SoftLif {
                    rate: if matches!(stage.act, Activation::SoftLif(_)) {
                        SoftLifKind::Soft
                    } else {
                        SoftLifKind::Hard
                    },
                    tau_rc: p.tau_rc,
                    tau_ref: p.tau_ref,
                    amplitude: p.amplitude,
                    gamma: p.gamma,
                    gain: p.gain,
                    bias,
                }),
                Activation::Relu => relu_neuron(bias)?,
            };
            net.populations.push(Population {
                name: stage.name.clone(),
                shape: stage.out_shape.clone(),
                neuron,
            });
            let ops = stage.ops.iter().filter_map(linear_op).collect();
            net.projections.push(Projection {
                current: 1,
                sign_mode: None,
                name: format!("{from}_{}", stage.name),
                from: from.clone(),
                to: stage.name.clone(),
                ops,
                weight_exp: 0,
            });
            from = stage.name.clone();
        }
        net.validate()?;
        Ok(net)
    }

    /// A trainable model of an existing float net: a chain `input → p1 → … → output` in which
    /// every non-input population has exactly one incoming projection, from the previous one,
    /// whose ops end in its weights (dense, conv2d or sparse). Conv biases must be the same
    /// within a channel (as this crate trains them). `noise_hz` is the training noise of every
    /// hidden stage. Nets this crate trained always qualify.
    pub fn from_net(net: &Net, noise_hz: f32) -> Result<Model, TrainError> {
        let graph = crate::graph::Graph::from_net(net)?;
        let place = format!("net {:?}", net.name);
        let chain = |m: String| TrainError::unsupported(&place, m);
        let input = net
            .inputs()
            .next()
            .ok_or_else(|| chain("has no input population".into()))?;
        let input_shape = match input.shape.as_slice() {
            [c, h, w] => [*c, *h, *w],
            [n] => [1, 1, *n],
            other => {
                return Err(chain(format!(
                    "input shape {other:?} is neither [n] nor [c, h, w]"
                )));
            }
        };
        if graph.output + 1 != graph.nodes.len() {
            return Err(chain(
                "the output population is not the last of the chain".into(),
            ));
        }
        let mut stages = Vec::with_capacity(graph.nodes.len());
        for (k, node) in graph.nodes.iter().enumerate() {
            let expected = if k == 0 {
                crate::graph::Source::Input
            } else {
                crate::graph::Source::Node(k - 1)
            };
            let [edge] = node.edges.as_slice() else {
                return Err(chain(format!(
                    "population {:?} has {} incoming projections; fine-tuning needs a chain with one each",
                    node.name,
                    node.edges.len()
                )));
            };
            if edge.source != expected {
                return Err(chain(format!(
                    "population {:?} is not fed by the population before it; fine-tuning needs a chain",
                    node.name
                )));
            }
            if edge
                .kernels
                .iter()
                .rev()
                .skip(1)
                .any(|op| op.weights().is_some())
                || edge.kernels.last().and_then(Kernel::weights).is_none()
            {
                return Err(chain(format!(
                    "the projection into {:?} must end in its only weighted op (dense, conv2d or sparse)",
                    node.name
                )));
            }
            let pop = net
                .populations
                .iter()
                .find(|p| p.name == node.name)
                .ok_or_else(|| chain(format!("population {:?} not found", node.name)))?;
            let (bias, bias_block) = match edge.kernels.last() {
                Some(Kernel::Conv { g, .. }) => {
                    let block = g.positions().max(1);
                    let per_channel: Vec<f32> = node.bias.chunks(block).map(|c| c[0]).collect();
                    if node
                        .bias
                        .chunks(block)
                        .any(|c| c.iter().any(|&b| b != c[0]))
                    {
                        return Err(chain(format!(
                            "population {:?}: conv biases differ within a channel; fine-tuning keeps one bias per channel",
                            node.name
                        )));
                    }
                    (per_channel, block)
                }
                _ => (node.bias.clone(), 1),
            };
            let noise = if k + 1 == graph.nodes.len() {
                0.0
            } else {
                noise_hz
            };
            stages.push(Stage {
                name: node.name.clone(),
                ops: edge.kernels.clone(),
                out_shape: pop.shape.clone(),
                bias,
                bias_block,
                act: node.act,
                noise_hz: if matches!(node.act, Activation::Relu) {
                    0.0
                } else {
                    noise
                },
            });
        }
        Ok(Model {
            input_shape,
            stages,
        })
    }

    /// Writes this model's weights and biases into `net`, the net [`Model::from_net`] was built
    /// from (everything else is kept).
    pub fn write_back(&self, net: &mut Net) -> Result<(), TrainError> {
        for stage in &self.stages {
            let place = format!("net {:?}, population {:?}", net.name, stage.name);
            let Some(w) = stage.weights() else { continue };
            let pr = net
                .projections
                .iter_mut()
                .find(|p| p.to == stage.name)
                .ok_or_else(|| TrainError::unsupported(&place, "has no incoming projection"))?;
            let op = pr
                .ops
                .iter_mut()
                .rev()
                .find(|op| {
                    matches!(
                        op,
                        LinearOp::Dense { .. } | LinearOp::Conv2d { .. } | LinearOp::Sparse { .. }
                    )
                })
                .ok_or_else(|| TrainError::unsupported(&place, "its projection has no weights"))?;
            let (LinearOp::Dense { weights }
            | LinearOp::Conv2d { weights, .. }
            | LinearOp::Sparse { weights, .. }) = op
            else {
                continue;
            };
            if weights.data.len() != w.len() {
                return Err(TrainError::mismatch(place, "weight count changed"));
            }
            *weights = Tensor::new(weights.shape.clone(), w.iter().copied().collect());
            let size = stage.size();
            let block = stage.bias_block.max(1);
            let bias: Vec<f32> = (0..size)
                .map(|j| stage.bias.get(j / block).copied().unwrap_or(0.0))
                .collect();
            let pop = net
                .populations
                .iter_mut()
                .find(|p| p.name == stage.name)
                .ok_or_else(|| TrainError::unsupported(&place, "not found"))?;
            match &mut pop.neuron {
                Neuron::SoftLif(p) => p.bias = Tensor::new(vec![size], bias),
                Neuron::Relu(p) => p.bias = Tensor::new(vec![size], bias),
                Neuron::Input | Neuron::ChipLif(_) | Neuron::Lif(_) => {
                    return Err(TrainError::unsupported(
                        place,
                        "is not a trainable float population",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Weight and bias slices of every stage, in a fixed order (weights then bias per stage).
    pub fn parameters_mut(&mut self) -> Vec<(&mut [f32], bool)> {
        let mut out = Vec::new();
        for stage in &mut self.stages {
            if let Some(w) = stage.ops.last_mut().and_then(Kernel::weights_mut)
                && let Some(s) = w.as_slice_mut()
            {
                out.push((s, true));
            }
            out.push((stage.bias.as_mut_slice(), false));
        }
        out
    }
}

/// `lifchip_net` does not re-export its `Relu` struct, so the neuron is built through serde.
fn relu_neuron(bias: Tensor) -> Result<Neuron, TrainError> {
    let value = serde_json::json!({ "kind": "relu", "bias": bias });
    serde_json::from_value(value)
        .map_err(|e| TrainError::unsupported("relu population", e.to_string()))
}

fn linear_op(kernel: &Kernel) -> Option<LinearOp> {
    match kernel {
        Kernel::Dense { w } => Some(LinearOp::Dense {
            weights: Tensor::new(vec![w.nrows(), w.ncols()], w.iter().copied().collect()),
        }),
        Kernel::Conv { w, g } => Some(LinearOp::Conv2d {
            out_channels: g.oc,
            kernel: [g.kh, g.kw],
            stride: [g.sh, g.sw],
            padding: [g.ph, g.pw],
            weights: Tensor::new(vec![g.oc, g.ic, g.kh, g.kw], w.iter().copied().collect()),
        }),
        Kernel::Pool(g) => Some(LinearOp::AvgPool {
            size: [g.kh, g.kw],
            stride: ([g.sh, g.sw] != [g.kh, g.kw]).then_some([g.sh, g.sw]),
        }),
        Kernel::Flatten => Some(LinearOp::Flatten),
        Kernel::Dropout { .. } => None,
        Kernel::Sparse {
            outputs,
            pre,
            post,
            w,
        } => Some(LinearOp::Sparse {
            outputs: *outputs,
            pre: lifchip_net::Indices::new(pre.clone()),
            post: lifchip_net::Indices::new(post.clone()),
            weights: Tensor::new(vec![w.len()], w.iter().copied().collect()),
        }),
    }
}

fn init_weights(
    rng: &mut StdRng,
    init: InitConfig,
    rows: usize,
    cols: usize,
    fan_in: usize,
    fan_out: usize,
) -> Array2<f32> {
    let limit = match init {
        InitConfig::GlorotUniform => (6.0 / (fan_in + fan_out).max(1) as f64).sqrt(),
        InitConfig::HeUniform => (6.0 / fan_in.max(1) as f64).sqrt(),
    } as f32;
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-limit..=limit))
}

/// Softmax cross-entropy: mean loss over the batch, number of correct argmax predictions, and
/// the gradient `(softmax - onehot) / batch` with respect to the logits.
pub(crate) fn softmax_cross_entropy(
    logits: &Array2<f32>,
    labels: &[u8],
) -> (f64, usize, Array2<f32>) {
    let batch = logits.nrows().max(1);
    let mut grad = Array2::<f32>::zeros(logits.raw_dim());
    let mut loss = 0.0f64;
    let mut correct = 0;
    for ((row, mut g), &label) in logits.rows().into_iter().zip(grad.rows_mut()).zip(labels) {
        let label = usize::from(label);
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
        let log_sum = sum.ln() + f64::from(max);
        loss += log_sum - row.get(label).map_or(0.0, |&v| f64::from(v));
        if argmax(row.iter().copied()) == label {
            correct += 1;
        }
        for (j, (gv, &v)) in g.iter_mut().zip(row.iter()).enumerate() {
            let p = (f64::from(v) - log_sum).exp();
            let target = if j == label { 1.0 } else { 0.0 };
            *gv = ((p - target) / batch as f64) as f32;
        }
    }
    (loss / batch as f64, correct, grad)
}

/// Index of the largest value (the first one on ties; NaN never wins).
pub(crate) fn argmax(values: impl Iterator<Item = f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (k, v) in values.enumerate() {
        if v > best.1 {
            best = (k, v);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::tests::array;
    use ndarray::ShapeBuilder;

    fn config(yaml: &str) -> TrainConfig {
        TrainConfig::from_yaml_str(yaml).unwrap()
    }

    /// The bias pass and the bias gradient on standard arrays (the vectorised dense loops and
    /// the per-block loops) give the same bits as the element-by-element path that
    /// non-standard arrays take, for dense (block 1) and conv-like (block 6) stages.
    #[test]
    fn bias_passes_match_the_element_path() {
        for (neurons, block, rows) in [(37, 1, 9), (4096 + 5, 1, 3), (5 * 6, 6, 7)] {
            let stage = Stage {
                name: "s".into(),
                ops: Vec::new(),
                out_shape: vec![neurons],
                bias: array(1, neurons / block, 3).into_raw_vec_and_offset().0,
                bias_block: block,
                act: Activation::Relu,
                noise_hz: 0.0,
            };
            let mut a = array(rows, neurons, 4);
            a.iter_mut().step_by(7).for_each(|v| *v = -0.0);
            // The same values in column-major order: no contiguous slice, element path.
            let mut f = Array2::<f32>::zeros((rows, neurons).f());
            f.assign(&a);
            assert!(f.as_slice().is_none());
            let bits = |x: &Array2<f32>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let fbits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                fbits(&Model::bias_grad(&stage, &a)),
                fbits(&Model::bias_grad(&stage, &f)),
                "{neurons}/{block}"
            );
            Model::add_bias(&stage, &mut a);
            Model::add_bias(&stage, &mut f);
            assert_eq!(bits(&a), bits(&f), "{neurons}/{block}");
        }
    }

    fn loss_of(model: &Model, x: &Array2<f32>, labels: &[u8], seed: u64) -> f64 {
        let (logits, _) = model.forward_train(x.clone(), seed, true).unwrap();
        softmax_cross_entropy(&logits, labels).0
    }

    /// Finite-difference check of every parameter gradient (sampled) of a model.
    fn check_model(yaml: &str, input: [usize; 3], tol: f64) {
        let cfg = config(yaml);
        let mut model = Model::new(&cfg, input).unwrap();
        // Non-zero biases so neurons sit at different points of their curves.
        for (s, stage) in model.stages.iter_mut().enumerate() {
            for (k, b) in stage.bias.iter_mut().enumerate() {
                *b = 0.3 * (((k * 7 + s * 3) % 11) as f32 / 10.0 - 0.5);
            }
        }
        let batch = 3;
        let x = array(batch, model.input_size(), 11).mapv(|v| v.abs());
        let labels: Vec<u8> = (0..batch).map(|b| (b % model.classes()) as u8).collect();
        let seed = 5;
        let (logits, tape) = model.forward_train(x.clone(), seed, true).unwrap();
        let (_, _, dlogits) = softmax_cross_entropy(&logits, &labels);
        let grads = model.backward(tape, dlogits);
        assert_eq!(grads.len(), model.stages.len());
        // f32 logits carry ~1e-7 relative rounding, so the step is large (1e-2) and the tests
        // use a smoother curve (gamma 0.2) than the paper's: this checks the chain rule; the
        // curve's own derivative is checked in f64, tails included, in `act`.
        let h = 1e-2f32;
        let mut checked = 0;
        for (s, grad) in grads.iter().enumerate() {
            let n_w = model.stages[s].weights().map_or(0, Array2::len);
            for idx in (0..n_w).step_by(n_w / 17 + 1) {
                let an = f64::from(grad.weights.as_slice().unwrap()[idx]);
                let perturb = |m: &mut Model, delta: f32| {
                    if let Some(w) = m.stages[s].ops.last_mut().and_then(Kernel::weights_mut) {
                        w.as_slice_mut().unwrap()[idx] += delta;
                    }
                };
                let (mut mp, mut mm) = (model.clone(), model.clone());
                perturb(&mut mp, h);
                perturb(&mut mm, -h);
                let fd = (loss_of(&mp, &x, &labels, seed) - loss_of(&mm, &x, &labels, seed))
                    / (2.0 * f64::from(h));
                assert!(
                    (fd - an).abs() <= tol * an.abs().max(fd.abs()) + 5e-5,
                    "stage {s} weight {idx}: analytic {an:e}, fd {fd:e}"
                );
                checked += 1;
            }
            for idx in 0..model.stages[s].bias.len() {
                let an = f64::from(grad.bias[idx]);
                let (mut mp, mut mm) = (model.clone(), model.clone());
                mp.stages[s].bias[idx] += h;
                mm.stages[s].bias[idx] -= h;
                let fd = (loss_of(&mp, &x, &labels, seed) - loss_of(&mm, &x, &labels, seed))
                    / (2.0 * f64::from(h));
                assert!(
                    (fd - an).abs() <= tol * an.abs().max(fd.abs()) + 5e-5,
                    "stage {s} bias {idx}: analytic {an:e}, fd {fd:e}"
                );
                checked += 1;
            }
        }
        assert!(checked > 10);
    }

    #[test]
    fn dense_soft_lif_gradients() {
        check_model(
            "epochs: 1\nclasses: 3\nactivation: {kind: soft_lif, gamma: 0.2, noise: 0}\nlayers: [{kind: dense, units: 6}, {kind: dense, units: 5}, {kind: dense, units: 3}]",
            [1, 3, 4],
            2e-2,
        );
    }

    #[test]
    fn soft_lif_gradients_with_noise_and_gain() {
        // The noise sample is fixed by the seed, so the loss stays a smooth function of the weights.
        check_model(
            "epochs: 1\nclasses: 3\nactivation: {kind: soft_lif, gamma: 0.2, gain: 0.825, tau_rc: 0.05, tau_ref: 0.001, noise: 10}\nlayers: [{kind: dense, units: 7}, {kind: dense, units: 3}]",
            [1, 3, 4],
            3e-2,
        );
    }

    #[test]
    fn relu_and_hard_lif_gradients() {
        check_model(
            "epochs: 1\nclasses: 3\nactivation: {kind: relu}\nlayers: [{kind: dense, units: 6}, {kind: dense, units: 3}]",
            [1, 3, 4],
            2e-2,
        );
        check_model(
            "epochs: 1\nclasses: 3\nactivation: {kind: lif, noise: 0}\nlayers: [{kind: dense, units: 6}, {kind: dense, units: 3}]",
            [1, 3, 4],
            5e-2,
        );
    }

    #[test]
    fn conv_pool_flatten_dropout_gradients() {
        check_model(
            "epochs: 1\nclasses: 4\nactivation: {kind: soft_lif, gamma: 0.2, noise: 0}\nlayers:
  - {kind: conv2d, filters: 3, kernel: 3, padding: 1}
  - {kind: avg_pool, size: 2}
  - {kind: conv2d, filters: 2, kernel: [2, 3], stride: [1, 2]}
  - {kind: flatten}
  - {kind: dropout, rate: 0.3}
  - {kind: dense, units: 4}",
            [1, 6, 8],
            3e-2,
        );
    }

    #[test]
    fn shapes_are_checked_with_clear_errors() {
        let e = Model::new(
            &config("epochs: 1\nlayers: [{kind: dense, units: 5}]"),
            [1, 4, 4],
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("layers[0].units") && e.to_string().contains("10 classes"),
            "{e}"
        );
        let e = Model::new(
            &config("epochs: 1\nlayers: [{kind: dense, units: 5}, {kind: conv2d, filters: 2, kernel: 3}]"),
            [1, 4, 4],
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("layers[1]") && e.to_string().contains("image input"),
            "{e}"
        );
        let e = Model::new(
            &config("epochs: 1\nlayers: [{kind: conv2d, filters: 10, kernel: 9}]"),
            [1, 4, 4],
        )
        .unwrap_err();
        assert!(e.to_string().contains("layers[0].kernel"), "{e}");
    }

    #[test]
    fn to_net_matches_the_paper_conv_layout() {
        let cfg = config(
            "epochs: 1\nlayers:
  - {kind: conv2d, filters: 16, kernel: 5}
  - {kind: avg_pool, size: 2}
  - {kind: conv2d, filters: 64, kernel: 5}
  - {kind: avg_pool, size: 2}
  - {kind: dense, units: 2000}
  - {kind: dropout, rate: 0.5}
  - {kind: dense, units: 10}",
        );
        let model = Model::new(&cfg, [1, 28, 28]).unwrap();
        let net = model.to_net("paper", BTreeMap::new()).unwrap();
        let shapes: Vec<_> = net
            .populations
            .iter()
            .map(|p| (p.name.as_str(), p.shape.clone()))
            .collect();
        assert_eq!(
            shapes,
            vec![
                ("in", vec![1, 28, 28]),
                ("conv1", vec![16, 24, 24]),
                ("conv2", vec![64, 8, 8]),
                ("fc1", vec![2000]),
                ("out", vec![10]),
            ]
        );
        let kinds: Vec<Vec<&str>> = net
            .projections
            .iter()
            .map(|p| p.ops.iter().map(LinearOp::name).collect())
            .collect();
        assert_eq!(
            kinds,
            vec![
                vec!["conv2d"],
                vec!["avg_pool", "conv2d"],
                vec!["avg_pool", "dense"],
                vec!["dense"]
            ]
        );
        assert_eq!(net.output().unwrap().name, "out");
        assert_eq!(
            model.parameter_count(),
            16 * 25 + 16 + 64 * 16 * 25 + 64 + 2000 * 1024 + 2000 + 20000 + 10
        );
    }

    #[test]
    fn softmax_cross_entropy_values() {
        let logits =
            Array2::from_shape_vec((2, 3), vec![0.0, 0.0, 0.0, 1000.0, 0.0, -1000.0]).unwrap();
        let (loss, correct, grad) = softmax_cross_entropy(&logits, &[1, 0]);
        assert!((loss - 3f64.ln() / 2.0).abs() < 1e-9);
        assert_eq!(correct, 1);
        assert!((grad[[0, 1]] - (1.0 / 3.0 - 1.0) / 2.0).abs() < 1e-7);
        assert!(grad[[1, 0]].abs() < 1e-7);
    }
}
