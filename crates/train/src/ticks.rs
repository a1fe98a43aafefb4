//! Tick-by-tick float simulation of nets made of per-tick `lif` populations (imported NIR
//! nets), exactly as `docs/nir.md` states: populations update in file order; a projection
//! from an earlier population delivers that population's output of the same tick, one from
//! the same or a later population (recurrent) its output of the previous tick; a spike is
//! worth 1, a non-spiking (`never`) population passes its voltage on.

use lifchip_data::Dataset;
use lifchip_net::{CurrentOrder, Lif, LifFire, LifReset, Net, Neuron};
use ndarray::Array2;
use rayon::prelude::*;

use crate::TrainError;
use crate::eval::{EvalMode, Evaluation, PopulationActivity, SpikingConfig, pixels};
use crate::graph::kernels_of;
use crate::kernels::{Kernel, forward_chain};
use crate::model::argmax;

/// Per-neuron constants of one `lif` population.
struct LifNode {
    keep: Vec<f32>,
    gain: Vec<f32>,
    leak: Vec<f32>,
    threshold: Vec<f32>,
    v_reset: Vec<f32>,
    v_start: Vec<f32>,
    bias: Vec<f32>,
    current: Option<(Vec<f32>, Vec<f32>, CurrentOrder)>,
    fire: LifFire,
    reset: LifReset,
}

struct Edge {
    source: usize,
    recurrent: bool,
    kernels: Vec<Kernel>,
}

/// A net ready to run tick by tick: every non-input population is `lif`.
pub struct TickNet {
    names: Vec<String>,
    sizes: Vec<usize>,
    /// `None` for input populations.
    nodes: Vec<Option<LifNode>>,
    edges: Vec<Vec<Edge>>,
    input: usize,
    output: usize,
    dt: f32,
}

/// True when the net holds `lif` populations (an imported net) and so runs tick by tick.
pub fn is_tick_net(net: &Net) -> bool {
    net.populations
        .iter()
        .any(|p| matches!(p.neuron, Neuron::Lif(_)))
}

impl TickNet {
    /// Checks and prepares a net whose populations are all `input` or `lif` (one input).
    pub fn new(net: &Net) -> Result<TickNet, TrainError> {
        net.validate()?;
        let place = |name: &str| format!("net {:?}, population {name:?}", net.name);
        let mut nodes = Vec::new();
        let mut inputs = Vec::new();
        let mut dt = None;
        for (k, p) in net.populations.iter().enumerate() {
            let n = p.size();
            let b = |t: &lifchip_net::Tensor| t.broadcast(n).unwrap_or_default();
            match &p.neuron {
                Neuron::Input => {
                    inputs.push(k);
                    nodes.push(None);
                }
                Neuron::Lif(l) => {
                    dt.get_or_insert(l.dt);
                    nodes.push(Some(lif_node(l, n, &b)));
                }
                other => {
                    return Err(TrainError::unsupported(
                        place(&p.name),
                        format!(
                            "is {}; a tick-by-tick run needs every population to be input or lif",
                            other.kind_name()
                        ),
                    ));
                }
            }
        }
        let &[input] = inputs.as_slice() else {
            return Err(TrainError::unsupported(
                format!("net {:?}", net.name),
                format!(
                    "has {} input populations; a run needs exactly one",
                    inputs.len()
                ),
            ));
        };
        let mut edges: Vec<Vec<Edge>> = (0..net.populations.len()).map(|_| Vec::new()).collect();
        for pr in &net.projections {
            let (Some(from), Some(to)) =
                (net.population_index(&pr.from), net.population_index(&pr.to))
            else {
                continue;
            };
            let kernels = kernels_of(&pr.ops, &net.populations[from].shape)
                .map_err(|m| TrainError::unsupported(format!("projection {:?}", pr.name), m))?;
            edges[to].push(Edge {
                source: from,
                recurrent: from >= to,
                kernels,
            });
        }
        let out_name = net.output().map(|p| p.name.clone()).unwrap_or_default();
        let output = net
            .population_index(&out_name)
            .unwrap_or(net.populations.len() - 1);
        Ok(TickNet {
            names: net.populations.iter().map(|p| p.name.clone()).collect(),
            sizes: net.populations.iter().map(|p| p.size()).collect(),
            nodes,
            edges,
            input,
            output,
            dt: dt.unwrap_or(1e-3),
        })
    }

    pub fn input_size(&self) -> usize {
        self.sizes[self.input]
    }

    /// Index of the readout population (in the net's population order).
    pub fn output(&self) -> usize {
        self.output
    }

    /// Seconds per tick of the net's `lif` populations.
    pub fn dt(&self) -> f32 {
        self.dt
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// A fresh state (all at rest) for `batch` samples.
    pub fn state(&self, batch: usize) -> TickState {
        let zeros = || -> Vec<Array2<f32>> {
            self.sizes
                .iter()
                .map(|&n| Array2::zeros((batch, n)))
                .collect()
        };
        let mut v = zeros();
        for (vk, node) in v.iter_mut().zip(&self.nodes) {
            if let Some(node) = node {
                for mut row in vk.rows_mut() {
                    row.iter_mut().zip(&node.v_start).for_each(|(v, s)| *v = *s);
                }
            }
        }
        TickState {
            v,
            i: zeros(),
            out: zeros(),
            prev: zeros(),
        }
    }

    /// Advances one tick with `input` (`[batch, input_size]`) as the input population's
    /// output; afterwards `state.outputs()` holds every population's output of this tick.
    pub fn step(&self, state: &mut TickState, input: &Array2<f32>) {
        std::mem::swap(&mut state.prev, &mut state.out);
        state.out[self.input].assign(input);
        for (k, node) in self.nodes.iter().enumerate() {
            let Some(node) = node else {
                continue;
            };
            let batch = input.nrows();
            let mut x = Array2::<f32>::zeros((batch, self.sizes[k]));
            for e in &self.edges[k] {
                let src = if e.recurrent {
                    &state.prev[e.source]
                } else {
                    &state.out[e.source]
                };
                x += &forward_chain(&e.kernels, src.view());
            }
            let (v, i, out) = (&mut state.v[k], &mut state.i[k], &mut state.out[k]);
            let n = self.sizes[k];
            let (Some(xs), Some(vs), Some(is), Some(os)) = (
                x.as_slice(),
                v.as_slice_mut(),
                i.as_slice_mut(),
                out.as_slice_mut(),
            ) else {
                continue;
            };
            for (idx, ((&x, v), (i, o))) in xs
                .iter()
                .zip(vs.iter_mut())
                .zip(is.iter_mut().zip(os.iter_mut()))
                .enumerate()
            {
                let j = idx % n;
                let x = x + node.bias[j];
                let drive = match &node.current {
                    None => x,
                    Some((ck, cg, CurrentOrder::InputFirst)) => {
                        *i = ck[j] * *i + cg[j] * x;
                        *i
                    }
                    Some((ck, cg, CurrentOrder::Euler)) => {
                        let old = *i;
                        *i = ck[j] * *i + cg[j] * x;
                        old
                    }
                };
                *v = node.keep[j] * *v + node.gain[j] * drive + node.leak[j];
                let spike = match node.fire {
                    LifFire::Greater => *v > node.threshold[j],
                    LifFire::GreaterEqual => *v >= node.threshold[j],
                    LifFire::Never => {
                        *o = *v;
                        continue;
                    }
                };
                if spike {
                    match node.reset {
                        LifReset::Zero => *v = node.v_reset[j],
                        LifReset::Subtract => *v -= node.threshold[j] - node.v_reset[j],
                    }
                }
                *o = if spike { 1.0 } else { 0.0 };
            }
        }
    }
}

fn lif_node(l: &Lif, _n: usize, b: &dyn Fn(&lifchip_net::Tensor) -> Vec<f32>) -> LifNode {
    LifNode {
        keep: b(&l.voltage_keep),
        gain: b(&l.voltage_gain),
        leak: b(&l.leak),
        threshold: b(&l.threshold),
        v_reset: b(&l.v_reset),
        v_start: b(&l.v_start),
        bias: b(&l.bias),
        current: l
            .current
            .as_ref()
            .map(|c| (b(&c.keep), b(&c.gain), c.order)),
        fire: l.fire,
        reset: l.reset,
    }
}

/// The state of a [`TickNet`] run: voltages, currents and outputs per population.
pub struct TickState {
    v: Vec<Array2<f32>>,
    i: Vec<Array2<f32>>,
    out: Vec<Array2<f32>>,
    prev: Vec<Array2<f32>>,
}

impl TickState {
    /// Every population's output of the last tick (`[batch, size]`: spikes 0/1, or `v`).
    pub fn outputs(&self) -> &[Array2<f32>] {
        &self.out
    }
}

/// Runs `net` on a sequence of inputs (`inputs[t]` is `[batch, input_size]`) and returns the
/// readout population's output at every tick.
pub fn run_ticks(net: &Net, inputs: &[Array2<f32>]) -> Result<Vec<Array2<f32>>, TrainError> {
    let tick_net = TickNet::new(net)?;
    let batch = inputs.first().map_or(0, Array2::nrows);
    let mut state = tick_net.state(batch);
    let mut trace = Vec::with_capacity(inputs.len());
    for (t, x) in inputs.iter().enumerate() {
        if x.ncols() != tick_net.input_size() || x.nrows() != batch {
            return Err(TrainError::mismatch(
                format!("input of tick {t}"),
                format!(
                    "is {}x{}, expected {batch}x{}",
                    x.nrows(),
                    x.ncols(),
                    tick_net.input_size()
                ),
            ));
        }
        tick_net.step(&mut state, x);
        trace.push(state.outputs()[tick_net.output].clone());
    }
    Ok(trace)
}

/// Spiking accuracy of a `lif` net: each image (pixels / 255) is the input population's value
/// at every tick for `presentation / dt` ticks of the net's own `dt`; the class is the argmax
/// of the readout's summed output (spike counts, or `v` of a non-spiking readout) over the
/// last `window / dt` ticks.
pub(crate) fn eval_ticks(
    net: &Net,
    data: &Dataset,
    config: &SpikingConfig,
) -> Result<Evaluation, TrainError> {
    let start = std::time::Instant::now();
    let tick_net = TickNet::new(net)?;
    let dt = tick_net.dt();
    let steps = (config.presentation / dt).round().max(1.0) as usize;
    let window = ((config.window / dt).round() as usize).clamp(1, steps);
    if steps > 1_000_000 {
        return Err(TrainError::config(
            "spiking.presentation",
            format!("{steps} ticks of {dt} s; at most 1000000"),
        ));
    }
    if data.rows * data.cols != tick_net.input_size() {
        return Err(TrainError::mismatch(
            "dataset",
            format!(
                "images have {} pixels, the net's input population has {} neurons",
                data.rows * data.cols,
                tick_net.input_size()
            ),
        ));
    }
    let classes = tick_net.sizes[tick_net.output];
    let all: Vec<usize> = (0..data.n).collect();
    let chunks: Vec<(Vec<usize>, Vec<f64>, usize)> = all
        .par_chunks(config.batch.max(1))
        .map(|chunk| {
            let x = pixels(data, chunk);
            let mut state = tick_net.state(chunk.len());
            let mut score = Array2::<f32>::zeros((chunk.len(), classes));
            let mut counts = vec![0f64; tick_net.sizes.len()];
            for t in 0..steps {
                tick_net.step(&mut state, &x);
                for (k, node) in tick_net.nodes.iter().enumerate() {
                    if node.as_ref().is_some_and(|n| n.fire != LifFire::Never) {
                        counts[k] += state.outputs()[k].sum() as f64;
                    }
                }
                if t + window >= steps {
                    score += &state.outputs()[tick_net.output];
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
            (predictions, counts, silent)
        })
        .collect();
    let mut predictions = Vec::with_capacity(data.n);
    let mut spikes = vec![0f64; tick_net.sizes.len()];
    let mut silent = 0;
    for (p, c, s) in chunks {
        predictions.extend(p);
        for (a, b) in spikes.iter_mut().zip(c) {
            *a += b;
        }
        silent += s;
    }
    let correct = predictions
        .iter()
        .zip(&data.labels)
        .filter(|(p, l)| **p == usize::from(**l))
        .count();
    let seconds = steps as f64 * f64::from(dt) * data.n.max(1) as f64;
    Ok(Evaluation {
        mode: EvalMode::Spiking,
        samples: predictions.len(),
        correct,
        accuracy: if predictions.is_empty() {
            0.0
        } else {
            correct as f64 / predictions.len() as f64
        },
        predictions,
        populations: tick_net
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.is_some())
            .map(|(k, _)| PopulationActivity {
                name: tick_net.names[k].clone(),
                neurons: tick_net.sizes[k],
                mean_rate_hz: spikes[k] / (tick_net.sizes[k].max(1) as f64 * seconds),
            })
            .collect(),
        silent_outputs: silent,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifchip_net::{LinearOp, Population, Projection, Tensor};

    fn lif(keep: f32, fire: LifFire, reset: LifReset) -> Neuron {
        Neuron::Lif(Lif {
            dt: 1e-3,
            voltage_keep: Tensor::scalar(keep),
            voltage_gain: Tensor::scalar(1.0),
            leak: Tensor::scalar(0.0),
            threshold: Tensor::scalar(1.0),
            v_reset: Tensor::scalar(0.0),
            v_start: Tensor::scalar(0.0),
            fire,
            reset,
            current: None,
            bias: Tensor::scalar(0.0),
        })
    }

    fn chain(neuron: Neuron, recurrent: Option<f32>) -> Net {
        let mut net = Net::new("t");
        net.populations.push(Population {
            name: "in".into(),
            shape: vec![1],
            neuron: Neuron::Input,
        });
        net.populations.push(Population {
            name: "a".into(),
            shape: vec![1],
            neuron,
        });
        net.projections.push(Projection {
            current: 1,
            sign_mode: None,
            name: "w".into(),
            from: "in".into(),
            to: "a".into(),
            ops: vec![LinearOp::Dense {
                weights: Tensor::new(vec![1, 1], vec![1.0]),
            }],
            weight_exp: 0,
        });
        if let Some(w) = recurrent {
            net.projections.push(Projection {
                current: 1,
                sign_mode: None,
                name: "r".into(),
                from: "a".into(),
                to: "a".into(),
                ops: vec![LinearOp::Dense {
                    weights: Tensor::new(vec![1, 1], vec![w]),
                }],
                weight_exp: 0,
            });
        }
        net
    }

    fn spikes(net: &Net, x: &[f32]) -> Vec<f32> {
        let inputs: Vec<Array2<f32>> = x.iter().map(|&v| Array2::from_elem((1, 1), v)).collect();
        run_ticks(net, &inputs)
            .unwrap()
            .iter()
            .map(|a| a[[0, 0]])
            .collect()
    }

    #[test]
    fn zero_and_subtract_reset_follow_the_formulas() {
        // v: 0.6, 1.2 -> spike; zero: 0 then 0.6, 1.2; subtract: 0.2, 0.8, 1.4.
        let zero = chain(lif(1.0, LifFire::Greater, LifReset::Zero), None);
        assert_eq!(spikes(&zero, &[0.6; 5]), vec![0.0, 1.0, 0.0, 1.0, 0.0]);
        let sub = chain(lif(1.0, LifFire::Greater, LifReset::Subtract), None);
        assert_eq!(spikes(&sub, &[0.6; 5]), vec![0.0, 1.0, 0.0, 1.0, 1.0]);
        // >= fires at exactly the threshold; > does not.
        let ge = chain(lif(1.0, LifFire::GreaterEqual, LifReset::Zero), None);
        assert_eq!(spikes(&ge, &[0.5; 4]), vec![0.0, 1.0, 0.0, 1.0]);
        assert_eq!(spikes(&zero, &[0.5; 4]), vec![0.0, 0.0, 1.0, 0.0]);
        // Leak: keep 0.5 and input 0.6 approach 1.2 without ever exceeding 1.2.
        let leaky = chain(lif(0.5, LifFire::Never, LifReset::Zero), None);
        let v = spikes(&leaky, &[0.6; 3]);
        assert!(
            (v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.9).abs() < 1e-6 && (v[2] - 1.05).abs() < 1e-6
        );
    }

    #[test]
    fn recurrent_projections_deliver_the_previous_tick() {
        // A spike at tick 1 feeds back -0.5 at tick 2 only.
        let net = chain(lif(1.0, LifFire::Greater, LifReset::Zero), Some(-0.5));
        // v: 0.6, 1.2 (spike, reset 0), 0.6 - 0.5 = 0.1, 0.7, 1.3 (spike), ...
        assert_eq!(spikes(&net, &[0.6; 5]), vec![0.0, 1.0, 0.0, 0.0, 1.0]);
    }
}
