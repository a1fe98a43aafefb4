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
use crate::kernels::forward_chain;
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
    let mut x = Array2::<f32>::zeros((indices.len(), n_px));
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
    let mut predictions = Vec::with_capacity(data.n);
    let all: Vec<usize> = (0..data.n).collect();
    for chunk in all.chunks(256) {
        let logits = graph.logits(&pixels(data, chunk));
        predictions.extend(logits.rows().into_iter().map(|r| argmax(r.iter().copied())));
    }
    Ok(finish(EvalMode::Rate, data, predictions, start))
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
struct SpikingNode {
    gain: f32,
    tau_rc: f32,
    tau_ref: f32,
    amplitude: f32,
    full_decay: f32,
    dynamic: bool,
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

    /// Feeds `x` (one step of input) and returns the filter output.
    fn step(&mut self, x: Array2<f32>) -> Array2<f32> {
        let a = self.a;
        let mut signal = x;
        for stage in &mut self.stages {
            ndarray::Zip::from(&mut *stage)
                .and(&signal)
                .for_each(|y, &u| *y = a * *y + (1.0 - a) * u);
            signal.assign(stage);
        }
        signal
    }
}

struct ChunkResult {
    predictions: Vec<usize>,
    spikes: Vec<f64>,
    silent: usize,
}

fn simulate_chunk(
    graph: &Graph,
    nodes: &[SpikingNode],
    x: &Array2<f32>,
    cfg: &SpikingConfig,
    steps: usize,
    window: usize,
) -> ChunkResult {
    let batch = x.nrows();
    let dt = cfg.dt;
    // Constant part of each population's input: bias plus the projections from the image.
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
    let shape = |k: usize| (batch, graph.nodes[k].size);
    let mut voltage: Vec<Array2<f32>> = (0..nodes.len()).map(|k| Array2::zeros(shape(k))).collect();
    let mut refractory: Vec<Array2<f32>> =
        (0..nodes.len()).map(|k| Array2::zeros(shape(k))).collect();
    let mut spikes: Vec<Array2<f32>> = (0..nodes.len()).map(|k| Array2::zeros(shape(k))).collect();
    let mut filters: Vec<Filter> = (0..nodes.len())
        .map(|k| Filter::new(cfg.synapse, cfg.tau_s, dt, shape(k)))
        .collect();
    let out = graph.output;
    let mut readout = Filter::new(cfg.synapse, cfg.tau_s, dt, shape(out));
    let mut score = Array2::<f32>::zeros(shape(out));
    let mut counts = vec![0f64; nodes.len()];
    for t in 0..steps {
        for (k, node) in graph.nodes.iter().enumerate() {
            let params = &nodes[k];
            let mut current = base[k].clone();
            if params.dynamic {
                let mut input = Array2::<f32>::zeros(shape(k));
                for edge in &node.edges {
                    if let Source::Node(s) = edge.source {
                        let y = forward_chain(&edge.kernels, spikes[s].view());
                        input.scaled_add(nodes[s].amplitude / dt, &y);
                    }
                }
                current += &filters[k].step(input);
            }
            let (v, r, s) = (&mut voltage[k], &mut refractory[k], &mut spikes[k]);
            let mut fired = 0usize;
            ndarray::Zip::from(&mut *v)
                .and(&mut *r)
                .and(&mut *s)
                .and(&current)
                .for_each(|v, r, s, &x| {
                    let j = params.gain * x + 1.0;
                    let spiked = lif_step(
                        v,
                        r,
                        j,
                        dt,
                        params.tau_rc,
                        params.tau_ref,
                        params.full_decay,
                    );
                    *s = if spiked { 1.0 } else { 0.0 };
                    fired += usize::from(spiked);
                });
            counts[k] += fired as f64;
        }
        let mut out_spikes = spikes[out].clone();
        out_spikes *= nodes[out].amplitude / dt;
        let filtered = readout.step(out_spikes);
        if t + window >= steps {
            score += &filtered;
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
    let graph = Graph::from_net(net)?;
    eval_spiking_graph(&graph, data, config)
}

pub(crate) fn eval_spiking_graph(
    graph: &Graph,
    data: &Dataset,
    config: &SpikingConfig,
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
            dynamic: node.edges.iter().any(|e| e.source != Source::Input),
        });
    }
    let all: Vec<usize> = (0..data.n).collect();
    let results: Vec<ChunkResult> = all
        .par_chunks(config.batch)
        .map(|chunk| simulate_chunk(graph, &nodes, &pixels(data, chunk), config, steps, window))
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

    /// Spike counts in 1 s for constant J, from REFERENCE-SEMANTICS.md (nengo's LIF step).
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
    fn filters_have_unit_gain() {
        for synapse in [Synapse::Alpha, Synapse::Lowpass, Synapse::None] {
            let mut f = Filter::new(synapse, 0.005, 0.001, (1, 1));
            let mut y = Array2::zeros((1, 1));
            for _ in 0..200 {
                y = f.step(Array2::from_elem((1, 1), 3.0));
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
