//! Evaluation of a float net on a dataset: in rate mode (the trained rate curves) and as a
//! spiking LIF network simulated step by step (nengo's LIF neuron, alpha or lowpass synapses).

use std::time::Instant;

use lifchip_data::Dataset;
use lifchip_net::Net;
use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::act::Activation;
use crate::graph::{Graph, Source};
use crate::kernels::{ConvGeom, Kernel, forward_chain};
use crate::model::argmax;

/// How an evaluation ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalMode {
    Rate,
    Spiking,
}

impl EvalMode {
    pub fn as_str(self) -> &'static str {
        match self {
            EvalMode::Rate => "rate",
            EvalMode::Spiking => "spiking",
        }
    }
}

/// Mean activity of one population over the evaluated images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PopulationActivity {
    pub name: String,
    pub neurons: usize,
    /// Mean firing rate per neuron in Hz (spiking: spikes counted over the whole presentation).
    pub mean_rate_hz: f64,
}

/// The result of evaluating a net on a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub mode: EvalMode,
    pub samples: usize,
    pub correct: usize,
    /// `correct / samples` (0 for no samples).
    pub accuracy: f64,
    /// Predicted class per image, in dataset order.
    pub predictions: Vec<usize>,
    /// Spiking only: per-population activity (empty in rate mode).
    pub populations: Vec<PopulationActivity>,
    /// Spiking only: images whose output population did not spike in the classification window
    /// (their prediction is class 0).
    pub silent_outputs: usize,
    pub seconds: f64,
}

impl Evaluation {
    /// Fraction of images on which two evaluations of the same data predict the same class.
    pub fn agreement(&self, other: &Evaluation) -> f64 {
        let n = self.predictions.len().min(other.predictions.len());
        if n == 0 {
            return 0.0;
        }
        let same = self
            .predictions
            .iter()
            .zip(&other.predictions)
            .filter(|(a, b)| a == b)
            .count();
        same as f64 / n as f64
    }
}

/// The synapse that filters spikes before they reach the next population.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synapse {
    /// Two first-order lowpass filters in series (impulse response `t/tau^2 e^(-t/tau)`), as in the paper.
    #[default]
    Alpha,
    /// One first-order lowpass filter.
    Lowpass,
    /// No filtering: each spike is a one-step pulse of height `amplitude / dt`.
    None,
}

/// Parameters of spiking evaluation. Defaults follow the paper (dt = 1 ms, alpha synapse with
/// `tau_s` = 5 ms) with a 0.2 s presentation classified on its last 0.1 s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikingConfig {
    /// Seconds each image is shown; every image starts from rest (v = 0, synapses empty).
    pub presentation: f32,
    /// Simulation time step in seconds.
    pub dt: f32,
    pub synapse: Synapse,
    /// Synapse time constant in seconds.
    pub tau_s: f32,
    /// Seconds at the end of the presentation over which the filtered output is averaged;
    /// the class is its argmax.
    pub window: f32,
    /// Images simulated together in one batch (matrix) per worker.
    pub batch: usize,
}

impl Default for SpikingConfig {
    fn default() -> Self {
        SpikingConfig {
            presentation: 0.2,
            dt: 0.001,
            synapse: Synapse::Alpha,
            tau_s: 0.005,
            window: 0.1,
            batch: 100,
        }
    }
}

impl SpikingConfig {
    fn validate(&self) -> Result<(usize, usize), TrainError> {
        let err =
            |field: &str, message: String| TrainError::config(format!("spiking.{field}"), message);
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(err(
                "dt",
                format!("is {}, must be a positive number of seconds", self.dt),
            ));
        }
        if !(self.presentation.is_finite() && self.presentation >= self.dt) {
            return Err(err(
                "presentation",
                format!("is {}, must be at least one time step", self.presentation),
            ));
        }
        if !(self.window.is_finite() && self.window > 0.0 && self.window <= self.presentation) {
            return Err(err(
                "window",
                format!("is {}, must be in (0, presentation]", self.window),
            ));
        }
        if self.synapse != Synapse::None && !(self.tau_s.is_finite() && self.tau_s > 0.0) {
            return Err(err("tau_s", format!("is {}, must be positive", self.tau_s)));
        }
        if self.batch == 0 {
            return Err(err("batch", "must be at least 1".into()));
        }
        let steps = (self.presentation / self.dt).round().max(1.0) as usize;
        let window = ((self.window / self.dt).round() as usize).clamp(1, steps);
        Ok((steps, window))
    }
}

/// Checks that the data fit the graph: image size and label range.
fn check_data(graph: &Graph, data: &Dataset) -> Result<(), TrainError> {
    if data.rows * data.cols != graph.input_size {
        return Err(TrainError::mismatch(
            "dataset",
            format!(
                "images are {}x{} = {} pixels, but the net's input population has {} neurons",
                data.rows,
                data.cols,
                data.rows * data.cols,
                graph.input_size
            ),
        ));
    }
    if data.images.len() != data.n * graph.input_size || data.labels.len() != data.n {
        return Err(TrainError::mismatch(
            "dataset",
            "pixel or label buffer does not hold n images",
        ));
    }
    if let Some((k, &label)) = data
        .labels
        .iter()
        .enumerate()
        .find(|(_, l)| usize::from(**l) >= graph.classes())
    {
        return Err(TrainError::mismatch(
            format!("dataset image {k}"),
            format!(
                "label {label} is out of range: the net's output has {} neurons",
                graph.classes()
            ),
        ));
    }
    Ok(())
}

/// Pixels `p / 255` of images `start..start + count` as a `[count, pixels]` array.
pub(crate) fn pixels(data: &Dataset, indices: &[usize]) -> Array2<f32> {
    let n_px = data.rows * data.cols;
    // Every row is written below.
    let mut x = crate::pool::uninit(indices.len(), n_px);
    if let Some(xs) = x.as_slice_mut() {
        xs.par_chunks_mut(n_px.max(1))
            .zip(indices.par_iter())
            .for_each(|(row, &i)| {
                let img = &data.images[i * n_px..(i + 1) * n_px];
                for (v, &p) in row.iter_mut().zip(img) {
                    *v = f32::from(p) / 255.0;
                }
            });
    }
    x
}

fn finish(mode: EvalMode, data: &Dataset, predictions: Vec<usize>, start: Instant) -> Evaluation {
    let correct = predictions
        .iter()
        .zip(&data.labels)
        .filter(|(p, l)| **p == usize::from(**l))
        .count();
    let samples = predictions.len();
    Evaluation {
        mode,
        samples,
        correct,
        accuracy: if samples == 0 {
            0.0
        } else {
            correct as f64 / samples as f64
        },
        predictions,
        populations: Vec::new(),
        silent_outputs: 0,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Rate-mode accuracy: the net's own linear ops and rate curves, in float, class = argmax of
/// the output population's pre-activation `x + bias` (what the softmax was trained on).
pub fn eval_rate(net: &Net, data: &Dataset) -> Result<Evaluation, TrainError> {
    let graph = Graph::from_net(net)?;
    eval_rate_graph(&graph, data)
}

pub(crate) fn eval_rate_graph(graph: &Graph, data: &Dataset) -> Result<Evaluation, TrainError> {
    let start = Instant::now();
    check_data(graph, data)?;
    let packed = graph.packed();
    let predictions = rate_predictions(data, |x| {
        let logits = packed.logits(&x);
        crate::pool::recycle(x);
        logits
    });
    Ok(finish(EvalMode::Rate, data, predictions, start))
}

/// The predicted class of every image of `data` from `logits` (a batch of pixels in, its
/// logits out), chunks of 256 images side by side on the pool (each image's result does not
/// depend on which chunk or thread computes it), in image order.
pub(crate) fn rate_predictions(
    data: &Dataset,
    logits: impl Fn(Array2<f32>) -> Array2<f32> + Sync,
) -> Vec<usize> {
    let all: Vec<usize> = (0..data.n).collect();
    let per_chunk: Vec<Vec<usize>> = on_pool(|| {
        all.par_chunks(256)
            .map(|chunk| {
                let logits = logits(pixels(data, chunk));
                let p = logits.rows().into_iter().map(|r| argmax(r.iter().copied()));
                let p = p.collect();
                crate::pool::recycle(logits);
                p
            })
            .collect()
    });
    per_chunk.concat()
}

/// Runs `f` on a thread of rayon's pool (in place when already on one): the parallel passes
/// inside it then start as local jobs instead of each being handed to the pool from outside
/// and waited for (two context switches per pass on one thread). Which thread runs a pass
/// does not change what it computes.
pub(crate) fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// One step of nengo's LIF neuron (v0 = 0, threshold 1, reset to 0, refractory period with
/// sub-step spike timing). `full_decay` is `-expm1(-dt / tau_rc)`. Returns true on a spike.
#[inline]
pub(crate) fn lif_step(
    v: &mut f32,
    refractory: &mut f32,
    j: f32,
    dt: f32,
    tau_rc: f32,
    tau_ref: f32,
    full_decay: f32,
) -> bool {
    *refractory -= dt;
    let delta = (dt - *refractory).clamp(0.0, dt);
    let factor = if delta >= dt {
        full_decay
    } else {
        -(-delta / tau_rc).exp_m1()
    };
    *v += (j - *v) * factor;
    if *v > 1.0 {
        // Time of the threshold crossing within the step, by solving the exponential backwards.
        let t_spike = dt + tau_rc * (-(*v - 1.0) / (j - 1.0)).ln_1p();
        *v = 0.0;
        *refractory = tau_ref + t_spike;
        true
    } else {
        if *v < 0.0 {
            *v = 0.0;
        }
        false
    }
}

/// LIF parameters of one simulated population.
pub(crate) struct SpikingNode {
    pub(crate) gain: f32,
    pub(crate) tau_rc: f32,
    pub(crate) tau_ref: f32,
    pub(crate) amplitude: f32,
    pub(crate) full_decay: f32,
    /// The incoming projections from other populations, prepared for spike input.
    pub(crate) chains: Vec<(usize, SpikeChain)>,
}

/// One op of a projection applied to (mostly zero) spike input: dense and conv ops visit only
/// the non-zero inputs and add their outgoing weights (event-driven); other ops run as usual.
enum SpikeOp {
    /// `wt` is the transposed weight matrix `[inputs, outputs]`.
    Dense {
        wt: Array2<f32>,
    },
    /// `wt` is `[ic * kh * kw, oc]`.
    Conv {
        wt: Array2<f32>,
        g: ConvGeom,
    },
    Other(Kernel),
}

pub(crate) struct SpikeChain {
    ops: Vec<SpikeOp>,
}

impl SpikeChain {
    fn new(kernels: &[Kernel]) -> SpikeChain {
        let ops = kernels
            .iter()
            .map(|k| match k {
                Kernel::Dense { w } => SpikeOp::Dense {
                    wt: w.t().as_standard_layout().into_owned(),
                },
                Kernel::Conv { w, g } => SpikeOp::Conv {
                    wt: w.t().as_standard_layout().into_owned(),
                    g: *g,
                },
                other => SpikeOp::Other(other.clone()),
            })
            .collect();
        SpikeChain { ops }
    }

    /// Adds `scale * chain(x)` to `out`.
    fn accumulate(&self, x: &Array2<f32>, scale: f32, out: &mut Array2<f32>) {
        let mut owned: Option<Array2<f32>> = None;
        for op in &self.ops {
            let input = owned.as_ref().unwrap_or(x);
            let y = match op {
                SpikeOp::Dense { wt } => dense_events(input, wt),
                SpikeOp::Conv { wt, g } => conv_events(input, wt, g),
                SpikeOp::Other(k) => k.forward_eval_ref(input),
            };
            owned = Some(y);
        }
        if let Some(y) = owned {
            out.scaled_add(scale, &y);
        }
    }
}

fn dense_events(x: &Array2<f32>, wt: &Array2<f32>) -> Array2<f32> {
    let n_out = wt.ncols();
    let mut y = Array2::<f32>::zeros((x.nrows(), n_out));
    let (Some(ws), Some(xs)) = (wt.as_slice(), x.as_slice()) else {
        return y;
    };
    let n_in = x.ncols().max(1);
    if let Some(ys) = y.as_slice_mut() {
        for (xrow, yrow) in xs.chunks(n_in).zip(ys.chunks_mut(n_out.max(1))) {
            for (i, &v) in xrow.iter().enumerate() {
                if v != 0.0 {
                    for (acc, &w) in yrow.iter_mut().zip(&ws[i * n_out..(i + 1) * n_out]) {
                        *acc += v * w;
                    }
                }
            }
        }
    }
    y
}

fn conv_events(x: &Array2<f32>, wt: &Array2<f32>, g: &ConvGeom) -> Array2<f32> {
    let (p, oc) = (g.positions(), g.oc);
    let mut y = Array2::<f32>::zeros((x.nrows(), oc * p));
    let (Some(ws), Some(xs)) = (wt.as_slice(), x.as_slice()) else {
        return y;
    };
    let mut by_position = vec![0.0f32; p * oc];
    if let Some(ys) = y.as_slice_mut() {
        for (img, out) in xs
            .chunks(g.in_size().max(1))
            .zip(ys.chunks_mut((oc * p).max(1)))
        {
            by_position.iter_mut().for_each(|v| *v = 0.0);
            for (i, &v) in img.iter().enumerate() {
                if v == 0.0 {
                    continue;
                }
                let (c, iy, ix) = (i / (g.ih * g.iw), (i / g.iw) % g.ih, i % g.iw);
                for ky in 0..g.kh {
                    let Some(ny) = (iy + g.ph).checked_sub(ky) else {
                        continue;
                    };
                    if ny % g.sh != 0 || ny / g.sh >= g.oh {
                        continue;
                    }
                    let oy = ny / g.sh;
                    for kx in 0..g.kw {
                        let Some(nx) = (ix + g.pw).checked_sub(kx) else {
                            continue;
                        };
                        if nx % g.sw != 0 || nx / g.sw >= g.ow {
                            continue;
                        }
                        let pos = oy * g.ow + nx / g.sw;
                        let tap = (c * g.kh + ky) * g.kw + kx;
                        let acc = &mut by_position[pos * oc..(pos + 1) * oc];
                        for (a, &w) in acc.iter_mut().zip(&ws[tap * oc..(tap + 1) * oc]) {
                            *a += v * w;
                        }
                    }
                }
            }
            for pos in 0..p {
                for o in 0..oc {
                    out[o * p + pos] = by_position[pos * oc + o];
                }
            }
        }
    }
    y
}

/// A first- or second-order lowpass state.
struct Filter {
    a: f32,
    stages: Vec<Array2<f32>>,
}

impl Filter {
    fn new(synapse: Synapse, tau_s: f32, dt: f32, shape: (usize, usize)) -> Filter {
        let order = match synapse {
            Synapse::Alpha => 2,
            Synapse::Lowpass => 1,
            Synapse::None => 0,
        };
        Filter {
            a: if order == 0 { 0.0 } else { (-dt / tau_s).exp() },
            stages: (0..order).map(|_| Array2::zeros(shape)).collect(),
        }
    }

    /// Feeds `x` (one step of input) in place: on return `x` holds the filter output.
    fn step(&mut self, x: &mut Array2<f32>) {
        let a = self.a;
        for stage in &mut self.stages {
            ndarray::Zip::from(&mut *stage)
                .and(&mut *x)
                .for_each(|y, u| {
                    *y = a * *y + (1.0 - a) * *u;
                    *u = *y;
                });
        }
    }
}

#[derive(Debug, PartialEq)]
pub(crate) struct ChunkResult {
    pub(crate) predictions: Vec<usize>,
    pub(crate) spikes: Vec<f64>,
    pub(crate) silent: usize,
}

/// Advances one population by one step. The common case (not refractory, no spike) is a
/// branch-free loop; neurons ending a refractory period or crossing threshold take the exact
/// scalar path of [`lif_step`].
pub(crate) fn lif_population(
    p: &SpikingNode,
    dt: f32,
    current: &[f32],
    v: &mut [f32],
    r: &mut [f32],
    s: &mut [f32],
) -> usize {
    let (gain, full) = (p.gain, p.full_decay);
    for ((v, r), &x) in v.iter_mut().zip(r.iter_mut()).zip(current) {
        *r -= dt;
        let j = gain * x + 1.0;
        let factor = if *r <= 0.0 { full } else { 0.0 };
        *v += (j - *v) * factor;
    }
    let mut fired = 0;
    for (((v, r), s), &x) in v
        .iter_mut()
        .zip(r.iter_mut())
        .zip(s.iter_mut())
        .zip(current)
    {
        let partial = *r > 0.0 && *r < dt;
        if *v > 1.0 || partial {
            // Undo the decrement and rerun the step exactly (partial steps, spike timing).
            let j = gain * x + 1.0;
            if partial {
                *r += dt;
                let spiked = lif_step(v, r, j, dt, p.tau_rc, p.tau_ref, full);
                *s = if spiked { 1.0 } else { 0.0 };
                fired += usize::from(spiked);
                continue;
            }
            let t_spike = dt + p.tau_rc * (-(*v - 1.0) / (j - 1.0)).ln_1p();
            *v = 0.0;
            *r = p.tau_ref + t_spike;
            *s = 1.0;
            fired += 1;
        } else {
            *v = v.max(0.0);
            *s = 0.0;
        }
    }
    fired
}

/// Constant part of each population's input for a batch of images `x`: bias plus the
/// projections from the image.
fn constant_inputs(graph: &Graph, x: &Array2<f32>) -> Vec<Array2<f32>> {
    let batch = x.nrows();
    let mut base: Vec<Array2<f32>> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let mut b = Array2::<f32>::zeros((batch, node.size));
        for edge in node.edges.iter().filter(|e| e.source == Source::Input) {
            b += &forward_chain(&edge.kernels, x.view());
        }
        for mut row in b.rows_mut() {
            for (v, bias) in row.iter_mut().zip(&node.bias) {
                *v += bias;
            }
        }
        base.push(b);
    }
    base
}

/// The reference engine: all images of the chunk advance together step by step, every
/// population as dense `[batch, size]` arrays. Kept for the projections the fast engine
/// ([`crate::spikes`]) does not handle and as the definition the fast engine is tested against.
fn simulate_chunk(
    graph: &Graph,
    nodes: &[SpikingNode],
    base: &[Array2<f32>],
    cfg: &SpikingConfig,
    steps: usize,
    window: usize,
) -> ChunkResult {
    let batch = base.first().map_or(0, |b| b.nrows());
    let dt = cfg.dt;
    let shape = |k: usize| (batch, graph.nodes[k].size);
    let zeros =
        || -> Vec<Array2<f32>> { (0..nodes.len()).map(|k| Array2::zeros(shape(k))).collect() };
    let (mut voltage, mut refractory, mut spikes) = (zeros(), zeros(), zeros());
    let mut filters: Vec<Filter> = (0..nodes.len())
        .map(|k| Filter::new(cfg.synapse, cfg.tau_s, dt, shape(k)))
        .collect();
    let out = graph.output;
    let mut readout = Filter::new(cfg.synapse, cfg.tau_s, dt, shape(out));
    let mut score = Array2::<f32>::zeros(shape(out));
    let mut counts = vec![0f64; nodes.len()];
    for t in 0..steps {
        for (k, params) in nodes.iter().enumerate() {
            // Populations fed by the image only see their constant input (no copy of it).
            let driven;
            let current = if params.chains.is_empty() {
                &base[k]
            } else {
                let mut input = Array2::<f32>::zeros(shape(k));
                for (s, chain) in &params.chains {
                    chain.accumulate(&spikes[*s], nodes[*s].amplitude / dt, &mut input);
                }
                filters[k].step(&mut input);
                input += &base[k];
                driven = input;
                &driven
            };
            let current = current.as_slice().unwrap_or(&[]);
            let (Some(v), Some(r), Some(s)) = (
                voltage[k].as_slice_mut(),
                refractory[k].as_slice_mut(),
                spikes[k].as_slice_mut(),
            ) else {
                continue;
            };
            counts[k] += lif_population(params, dt, current, v, r, s) as f64;
        }
        let mut out_spikes = spikes[out].clone();
        out_spikes *= nodes[out].amplitude / dt;
        readout.step(&mut out_spikes);
        if t + window >= steps {
            score += &out_spikes;
        }
    }
    let mut silent = 0;
    let predictions = score
        .rows()
        .into_iter()
        .map(|r| {
            if r.iter().all(|v| *v == 0.0) {
                silent += 1;
            }
            argmax(r.iter().copied())
        })
        .collect();
    ChunkResult {
        predictions,
        spikes: counts,
        silent,
    }
}

/// Spiking accuracy: every soft-LIF population becomes LIF neurons (nengo's LIF step with the
/// population's `tau_rc`, `tau_ref`, gain and bias; `J = gain * (x + bias) + 1`), spikes of
/// height `amplitude / dt` pass through the projection's linear ops and the synapse filter, the
/// image drives the first projection as a constant current, and the class is the argmax of the
/// filtered output spikes averaged over the final `window`. Images run in batches in parallel.
pub fn eval_spiking(
    net: &Net,
    data: &Dataset,
    config: &SpikingConfig,
) -> Result<Evaluation, TrainError> {
    if crate::ticks::is_tick_net(net) {
        config.validate()?;
        return crate::ticks::eval_ticks(net, data, config);
    }
    let graph = Graph::from_net(net)?;
    eval_spiking_graph(&graph, data, config)
}

pub(crate) fn eval_spiking_graph(
    graph: &Graph,
    data: &Dataset,
    config: &SpikingConfig,
) -> Result<Evaluation, TrainError> {
    eval_spiking_with(graph, data, config, Engine::Fast)
}

/// Which simulation runs a spiking evaluation; both give bit-identical results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Engine {
    /// [`crate::spikes`] when it handles every projection of the net, else the reference.
    Fast,
    /// The step-by-step reference ([`simulate_chunk`]); the fast engine's tests compare
    /// against it.
    #[cfg_attr(not(test), allow(dead_code))]
    Reference,
}

pub(crate) fn eval_spiking_with(
    graph: &Graph,
    data: &Dataset,
    config: &SpikingConfig,
    engine: Engine,
) -> Result<Evaluation, TrainError> {
    let start = Instant::now();
    let (steps, window) = config.validate()?;
    check_data(graph, data)?;
    let mut nodes = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let p = match node.act {
            Activation::SoftLif(p) | Activation::Lif(p) => p,
            Activation::Relu => {
                return Err(TrainError::unsupported(
                    format!("population {:?}", node.name),
                    "is a ReLU population; only soft_lif populations can run as spikes",
                ));
            }
        };
        nodes.push(SpikingNode {
            gain: p.gain,
            tau_rc: p.tau_rc,
            tau_ref: p.tau_ref,
            amplitude: p.amplitude,
            full_decay: -(-config.dt / p.tau_rc).exp_m1(),
            chains: node
                .edges
                .iter()
                .filter_map(|e| match e.source {
                    Source::Node(s) => Some((s, SpikeChain::new(&e.kernels))),
                    Source::Input => None,
                })
                .collect(),
        });
    }
    let plan = match engine {
        Engine::Fast => crate::spikes::Plan::new(graph, &nodes, config.dt),
        Engine::Reference => None,
    };
    let all: Vec<usize> = (0..data.n).collect();
    let results: Vec<ChunkResult> = all
        .par_chunks(config.batch)
        .map(|chunk| {
            let base = constant_inputs(graph, &pixels(data, chunk));
            match &plan {
                Some(plan) => crate::spikes::simulate_chunk_fast(
                    plan, graph, &nodes, &base, config, steps, window,
                ),
                None => simulate_chunk(graph, &nodes, &base, config, steps, window),
            }
        })
        .collect();
    let mut predictions = Vec::with_capacity(data.n);
    let mut spikes = vec![0f64; nodes.len()];
    let mut silent = 0;
    for r in results {
        predictions.extend(r.predictions);
        for (total, s) in spikes.iter_mut().zip(r.spikes) {
            *total += s;
        }
        silent += r.silent;
    }
    let mut eval = finish(EvalMode::Spiking, data, predictions, start);
    let seconds = steps as f64 * f64::from(config.dt) * data.n.max(1) as f64;
    eval.populations = graph
        .nodes
        .iter()
        .zip(spikes)
        .map(|(node, count)| PopulationActivity {
            name: node.name.clone(),
            neurons: node.size,
            mean_rate_hz: count / (node.size.max(1) as f64 * seconds),
        })
        .collect();
    eval.silent_outputs = silent;
    eval.seconds = start.elapsed().as_secs_f64();
    Ok(eval)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spike counts in 1 s for constant J, from `docs/reference-semantics.md` (nengo's LIF step).
    #[test]
    fn lif_step_reproduces_the_reference_spike_counts() {
        let (dt, tau_rc, tau_ref) = (0.001f32, 0.02f32, 0.002f32);
        let full = -(-dt / tau_rc).exp_m1();
        let currents = [0.5, 1.0, 1.01, 1.1, 1.5, 2.0, 3.0, 5.0, 10.0, 50.0];
        let expected = [0, 0, 10, 20, 41, 63, 99, 155, 243, 416];
        for (&j, &want) in currents.iter().zip(&expected) {
            let (mut v, mut r) = (0.0f32, 0.0f32);
            let count = (0..1000)
                .filter(|_| lif_step(&mut v, &mut r, j, dt, tau_rc, tau_ref, full))
                .count();
            assert_eq!(count, want, "J = {j}");
        }
    }

    #[test]
    fn batched_lif_update_equals_the_scalar_step() {
        let node = SpikingNode {
            gain: 0.9,
            tau_rc: 0.02,
            tau_ref: 0.002,
            amplitude: 0.063,
            full_decay: -(-0.001f32 / 0.02).exp_m1(),
            chains: Vec::new(),
        };
        let n = 500;
        let current: Vec<f32> = (0..n)
            .map(|k| (k as f32 * 0.37).sin() * 3.0 + 0.8)
            .collect();
        let (mut v, mut r, mut s) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        let (mut v2, mut r2) = (vec![0.0f32; n], vec![0.0f32; n]);
        let mut total = 0;
        for _ in 0..300 {
            total += lif_population(&node, 0.001, &current, &mut v, &mut r, &mut s);
            for k in 0..n {
                let j = node.gain * current[k] + 1.0;
                let spiked = lif_step(
                    &mut v2[k],
                    &mut r2[k],
                    j,
                    0.001,
                    node.tau_rc,
                    node.tau_ref,
                    node.full_decay,
                );
                assert_eq!(s[k] == 1.0, spiked, "neuron {k}");
            }
            assert_eq!(v, v2);
            assert_eq!(r, r2);
        }
        assert!(total > 1000, "{total} spikes");
    }

    #[test]
    fn event_driven_ops_equal_the_dense_ones() {
        use crate::kernels::PoolGeom;
        use crate::kernels::tests::array;
        for (input, oc, kernel, stride, padding) in [
            ([2, 7, 6], 3, [3, 3], [1, 1], [0, 0]),
            ([3, 8, 8], 4, [5, 3], [2, 1], [2, 1]),
        ] {
            let g = ConvGeom::new(input, oc, kernel, stride, padding).unwrap();
            let pool = PoolGeom::new([oc, g.oh, g.ow], [2, 2], [2, 2]).unwrap();
            let n_pool = pool.out_size();
            let kernels = vec![
                Kernel::Conv {
                    w: array(oc, g.patch(), 1),
                    g,
                },
                Kernel::Pool(pool),
                Kernel::Flatten,
                Kernel::Dense {
                    w: array(5, n_pool, 2),
                },
            ];
            // Sparse 0/1 input, like spikes.
            let x = array(4, g.in_size(), 3).mapv(|v| if v > 0.6 { 1.0 } else { 0.0 });
            let dense = forward_chain(&kernels, x.view());
            let mut events = Array2::zeros(dense.raw_dim());
            SpikeChain::new(&kernels).accumulate(&x, 2.0, &mut events);
            for (a, b) in events.iter().zip(dense.iter()) {
                assert!(
                    (a - 2.0 * b).abs() < 1e-4 * (1.0 + b.abs()),
                    "{a} vs {}",
                    2.0 * b
                );
            }
        }
    }

    /// A small net with every projection kind of the fast engine: an image-driven conv,
    /// pooled spikes into a conv (40 channels: one register block and a remainder), pooled
    /// spikes into a tiled dense layer that also has an image-driven input, and an output fed
    /// by two projections.
    fn test_graph() -> Graph {
        use crate::act::LifParams;
        use crate::graph::{Edge, Node};
        use crate::kernels::PoolGeom;
        use crate::kernels::tests::array;
        let lif = |gain| {
            Activation::SoftLif(LifParams {
                amplitude: 0.063,
                tau_rc: 0.02,
                tau_ref: 0.002,
                gamma: 0.02,
                gain,
            })
        };
        let g1 = ConvGeom::new([1, 12, 12], 4, [3, 3], [1, 1], [0, 0]).unwrap();
        let p1 = PoolGeom::new([4, 10, 10], [2, 2], [2, 2]).unwrap();
        let g2 = ConvGeom::new([4, 5, 5], 40, [3, 3], [1, 1], [1, 0]).unwrap();
        let n2 = 40 * g2.positions();
        let p2 = PoolGeom::new([40, g2.oh, g2.ow], [2, 2], [1, 1]).unwrap();
        let scaled = |rows, cols, seed, k: f32| array(rows, cols, seed) * k;
        let node = |name: &str, size, gain, seed, edges| Node {
            name: name.into(),
            size,
            act: lif(gain),
            bias: crate::kernels::tests::values(size, seed)
                .iter()
                .map(|b| b * 0.5)
                .collect(),
            edges,
        };
        Graph {
            input_size: 144,
            nodes: vec![
                node(
                    "c1",
                    400,
                    2.0,
                    11,
                    vec![Edge {
                        source: Source::Input,
                        kernels: vec![Kernel::Conv {
                            w: scaled(4, 9, 1, 1.0),
                            g: g1,
                        }],
                    }],
                ),
                node(
                    "c2",
                    n2,
                    1.5,
                    12,
                    vec![Edge {
                        source: Source::Node(0),
                        kernels: vec![
                            Kernel::Pool(p1),
                            Kernel::Conv {
                                w: scaled(40, 36, 2, 0.4),
                                g: g2,
                            },
                        ],
                    }],
                ),
                node(
                    "fc",
                    70,
                    1.5,
                    13,
                    vec![
                        Edge {
                            source: Source::Node(1),
                            kernels: vec![
                                Kernel::Pool(p2),
                                Kernel::Flatten,
                                Kernel::Dense {
                                    w: scaled(70, p2.out_size(), 3, 0.2),
                                },
                            ],
                        },
                        Edge {
                            source: Source::Input,
                            kernels: vec![Kernel::Dense {
                                w: scaled(70, 144, 4, 0.1),
                            }],
                        },
                    ],
                ),
                node(
                    "out",
                    5,
                    1.0,
                    14,
                    vec![
                        Edge {
                            source: Source::Node(2),
                            kernels: vec![Kernel::Dense {
                                w: scaled(5, 70, 5, 0.5),
                            }],
                        },
                        Edge {
                            source: Source::Node(0),
                            kernels: vec![
                                Kernel::Pool(p1),
                                Kernel::Flatten,
                                Kernel::Dense {
                                    w: scaled(5, 100, 6, 0.3),
                                },
                            ],
                        },
                    ],
                ),
            ],
            output: 3,
        }
    }

    fn test_data(n: usize) -> Dataset {
        let images = crate::kernels::tests::values(n * 144, 7)
            .iter()
            .map(|v| if *v > 0.2 { (v * 255.0) as u8 } else { 0 })
            .collect();
        Dataset {
            images,
            labels: (0..n).map(|k| (k % 5) as u8).collect(),
            n,
            rows: 12,
            cols: 12,
        }
    }

    fn run(
        graph: &Graph,
        data: &Dataset,
        cfg: &SpikingConfig,
        engine: Engine,
        threads: usize,
    ) -> Evaluation {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut e = pool
            .install(|| eval_spiking_with(graph, data, cfg, engine))
            .unwrap();
        e.seconds = 0.0;
        e
    }

    fn plain_nodes(graph: &Graph) -> Vec<SpikingNode> {
        graph
            .nodes
            .iter()
            .map(|_| SpikingNode {
                gain: 1.0,
                tau_rc: 0.02,
                tau_ref: 0.002,
                amplitude: 0.063,
                full_decay: 0.05,
                chains: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn fast_engine_is_bit_identical_to_the_reference() {
        let graph = test_graph();
        let data = test_data(7);
        let nodes_ok = crate::spikes::Plan::new(&graph, &plain_nodes(&graph), 0.001).is_some();
        assert!(nodes_ok, "the fast engine must handle the test net");
        for (synapse, batch) in [
            (Synapse::Alpha, 3),
            (Synapse::Lowpass, 100),
            (Synapse::None, 2),
        ] {
            let cfg = SpikingConfig {
                synapse,
                batch,
                presentation: 0.1,
                window: 0.05,
                ..SpikingConfig::default()
            };
            let reference = run(&graph, &data, &cfg, Engine::Reference, 1);
            for p in &reference.populations {
                assert!(p.mean_rate_hz > 1.0, "{synapse:?}: {p:?}");
            }
            for threads in [1, 2] {
                let fast = run(&graph, &data, &cfg, Engine::Fast, threads);
                assert_eq!(fast, reference, "{synapse:?}, {threads} threads");
            }
            // The fast engine's kernels at every vector level (the reference is plain code).
            for level in [lifchip_simd::Level::Base, lifchip_simd::Level::Avx2] {
                lifchip_simd::cap(level);
                let fast = run(&graph, &data, &cfg, Engine::Fast, 1);
                lifchip_simd::cap(lifchip_simd::Level::Avx512);
                assert_eq!(fast, reference, "{synapse:?} at {level:?}");
            }
        }
    }

    #[test]
    fn projections_the_fast_engine_does_not_handle_use_the_reference() {
        let mut graph = test_graph();
        graph.nodes[3].edges[0].kernels = vec![Kernel::Sparse {
            outputs: 5,
            pre: vec![0, 3, 69],
            post: vec![1, 4, 0],
            w: Array2::from_elem((1, 3), 2.0),
        }];
        assert!(crate::spikes::Plan::new(&test_graph(), &plain_nodes(&graph), 0.001).is_some());
        assert!(crate::spikes::Plan::new(&graph, &plain_nodes(&graph), 0.001).is_none());
        let data = test_data(4);
        let cfg = SpikingConfig::default();
        assert_eq!(
            run(&graph, &data, &cfg, Engine::Fast, 2),
            run(&graph, &data, &cfg, Engine::Reference, 1)
        );
    }

    #[test]
    fn filters_have_unit_gain() {
        for synapse in [Synapse::Alpha, Synapse::Lowpass, Synapse::None] {
            let mut f = Filter::new(synapse, 0.005, 0.001, (1, 1));
            let mut y = Array2::zeros((1, 1));
            for _ in 0..200 {
                y = Array2::from_elem((1, 1), 3.0);
                f.step(&mut y);
            }
            assert!((y[[0, 0]] - 3.0).abs() < 1e-4, "{synapse:?}: {y}");
        }
    }

    #[test]
    fn config_errors_name_the_field() {
        let bad = SpikingConfig {
            window: 0.5,
            ..SpikingConfig::default()
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("spiking.window"), "{e}");
        assert_eq!(SpikingConfig::default().validate().unwrap(), (200, 100));
    }
}
