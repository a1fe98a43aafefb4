//! A float net loaded from a [`Net`]: populations in dependency order with their incoming
//! projections as batched kernels. Shared by rate-mode and spiking evaluation, so any
//! feed-forward float net evaluates, not only the ones this crate trained.

use lifchip_net::{LinearOp, Net, Neuron, SoftLifKind};
use ndarray::Array2;

use crate::TrainError;
use crate::act::{self, Activation, AtBias, LifParams};
use crate::kernels::{ConvGeom, Kernel, Mode, PoolGeom, forward_chain};
use crate::packed::PackedWeights;
use rayon::prelude::*;

/// Where a projection starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Input,
    Node(usize),
}

/// One incoming projection.
#[derive(Clone, Debug)]
pub(crate) struct Edge {
    pub source: Source,
    pub kernels: Vec<Kernel>,
}

/// One non-input population.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub name: String,
    pub size: usize,
    pub act: Activation,
    /// One value per neuron.
    pub bias: Vec<f32>,
    pub edges: Vec<Edge>,
}

/// A feed-forward float net ready to run.
#[derive(Clone, Debug)]
pub(crate) struct Graph {
    pub input_size: usize,
    /// In dependency order: every edge's source node comes earlier.
    pub nodes: Vec<Node>,
    /// Index of the readout node.
    pub output: usize,
}

impl Graph {
    /// Checks the net and converts it. Errors for chip-unit nets, recurrent projections, more
    /// than one input population, or an input-only net.
    pub fn from_net(net: &Net) -> Result<Graph, TrainError> {
        net.validate()?;
        let place = |name: &str| format!("net {:?}, population {name:?}", net.name);
        let inputs: Vec<usize> = net
            .populations
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p.neuron, Neuron::Input))
            .map(|(k, _)| k)
            .collect();
        let &[input] = inputs.as_slice() else {
            return Err(TrainError::unsupported(
                format!("net {:?}", net.name),
                format!(
                    "has {} input populations; evaluation needs exactly one",
                    inputs.len()
                ),
            ));
        };
        for p in &net.populations {
            if let Neuron::ChipLif(_) = p.neuron {
                return Err(TrainError::unsupported(
                    place(&p.name),
                    "is in chip units (chip_lif); run chip-unit nets with the emulator",
                ));
            }
        }
        // Kahn's algorithm over populations, keeping file order among ready ones.
        let n = net.populations.len();
        let index = |name: &str| net.population_index(name);
        let mut pending = vec![0usize; n];
        for pr in &net.projections {
            if let Some(to) = index(&pr.to) {
                pending[to] += 1;
            }
        }
        let mut order = Vec::with_capacity(n);
        let mut done = vec![false; n];
        while order.len() < n {
            let Some(next) = (0..n).find(|&k| !done[k] && pending[k] == 0) else {
                let stuck: Vec<&str> = (0..n)
                    .filter(|&k| !done[k])
                    .map(|k| net.populations[k].name.as_str())
                    .collect();
                return Err(TrainError::unsupported(
                    format!("net {:?}", net.name),
                    format!(
                        "projections form a cycle through {stuck:?}; only feed-forward nets can be evaluated"
                    ),
                ));
            };
            done[next] = true;
            order.push(next);
            for pr in net
                .projections
                .iter()
                .filter(|pr| pr.from == net.populations[next].name)
            {
                if let Some(to) = index(&pr.to) {
                    pending[to] = pending[to].saturating_sub(1);
                }
            }
        }
        let mut node_of = vec![None; n];
        let mut nodes = Vec::new();
        for &k in &order {
            let pop = &net.populations[k];
            if k == input {
                continue;
            }
            let act = match &pop.neuron {
                Neuron::SoftLif(s) => {
                    let p = LifParams {
                        amplitude: s.amplitude,
                        tau_rc: s.tau_rc,
                        tau_ref: s.tau_ref,
                        gamma: s.gamma,
                        gain: s.gain,
                    };
                    match s.rate {
                        SoftLifKind::Soft => Activation::SoftLif(p),
                        SoftLifKind::Hard => Activation::Lif(p),
                    }
                }
                Neuron::Relu(_) => Activation::Relu,
                Neuron::Lif(_) => {
                    return Err(TrainError::unsupported(
                        place(&pop.name),
                        "is a per-tick lif population (an imported net); it runs only as spikes (eval --spiking)",
                    ));
                }
                Neuron::Input | Neuron::ChipLif(_) => {
                    return Err(TrainError::unsupported(
                        place(&pop.name),
                        "cannot be evaluated",
                    ));
                }
            };
            let bias = pop
                .neuron
                .bias()
                .and_then(|b| b.broadcast(pop.size()))
                .ok_or_else(|| {
                    TrainError::unsupported(
                        place(&pop.name),
                        "bias does not match the population size",
                    )
                })?;
            let mut edges = Vec::new();
            for pr in net.projections.iter().filter(|pr| pr.to == pop.name) {
                let from = index(&pr.from).ok_or_else(|| {
                    TrainError::unsupported(
                        format!("projection {:?}", pr.name),
                        "names an unknown source",
                    )
                })?;
                let source = if from == input {
                    Source::Input
                } else {
                    Source::Node(node_of[from].ok_or_else(|| {
                        TrainError::unsupported(
                            format!("projection {:?}", pr.name),
                            "source not ready",
                        )
                    })?)
                };
                let kernels = kernels_of(&pr.ops, &net.populations[from].shape)
                    .map_err(|m| TrainError::unsupported(format!("projection {:?}", pr.name), m))?;
                edges.push(Edge { source, kernels });
            }
            node_of[k] = Some(nodes.len());
            nodes.push(Node {
                name: pop.name.clone(),
                size: pop.size(),
                act,
                bias,
                edges,
            });
        }
        let out_name = net.output().map(|p| p.name.clone()).unwrap_or_default();
        let output = nodes
            .iter()
            .position(|n| n.name == out_name)
            .ok_or_else(|| {
                TrainError::unsupported(
                    format!("net {:?}", net.name),
                    "has no output population to read",
                )
            })?;
        Ok(Graph {
            input_size: net.populations[input].size(),
            nodes,
            output,
        })
    }

    pub fn classes(&self) -> usize {
        self.nodes.get(self.output).map_or(0, |n| n.size)
    }

    /// Rate-mode forward pass of a batch `[batch, input_size]`: the output population's
    /// pre-activations `x + bias` (the logits the net was trained on).
    #[cfg(test)]
    pub fn logits(&self, x: &Array2<f32>) -> Array2<f32> {
        self.logits_packed(x, None)
    }

    /// The graph's weights packed for a rate-mode run over many batches (the products are
    /// the same, [`crate::packed`]).
    pub fn packed(&self) -> PackedGraph<'_> {
        let packed = self
            .nodes
            .iter()
            .map(|node| {
                let edge = |e: &Edge| {
                    // Image pixels have many zeros; a hidden layer's rates none.
                    let sparse = e.source == Source::Input;
                    // Convolutions stay with `gemm`: their per-image products (64 rows for
                    // the paper's second conv) ran 20 % slower through the tiles.
                    let kernel = |k: &Kernel| match k {
                        Kernel::Dense { w } => PackedWeights::new(w, sparse),
                        _ => None,
                    };
                    e.kernels.iter().map(kernel).collect()
                };
                node.edges.iter().map(edge).collect()
            })
            .collect();
        let at_bias = self
            .nodes
            .iter()
            .map(|n| AtBias::new(&n.act, &n.bias, false).filter(|_| n.bias.len() == n.size))
            .collect();
        PackedGraph {
            graph: self,
            packed,
            at_bias,
        }
    }

    /// [`Graph::logits`] with what `run` prepared (else computed plainly).
    fn logits_packed(&self, x: &Array2<f32>, run: Option<&PackedGraph<'_>>) -> Array2<f32> {
        let batch = x.nrows();
        let mut outputs = self.forward(x, true, run);
        let logits = outputs.pop().flatten();
        // The hidden activations' buffers serve the next batch.
        outputs.into_iter().flatten().for_each(crate::pool::recycle);
        logits.unwrap_or_else(|| Array2::zeros((batch, 0)))
    }

    /// Rate-mode forward pass of a batch through every node, the output node included: each
    /// node's activation `[batch, size]` in amplitude units (`A * rate`), in node order.
    pub fn activations(&self, x: &Array2<f32>) -> Vec<Array2<f32>> {
        self.forward(x, false, None).into_iter().flatten().collect()
    }

    /// Runs the nodes in order. With `stop_at_logits`, stops at the output node and returns
    /// the outputs so far with the output node's pre-activation last; otherwise applies every
    /// node's rate curve.
    fn forward(
        &self,
        x: &Array2<f32>,
        stop_at_logits: bool,
        run: Option<&PackedGraph<'_>>,
    ) -> Vec<Option<Array2<f32>>> {
        let packed = run.map_or(&[][..], |r| &r.packed[..]);
        let batch = x.nrows();
        let mut outputs: Vec<Option<Array2<f32>>> = vec![None; self.nodes.len()];
        for (k, node) in self.nodes.iter().enumerate() {
            let source = |edge: &Edge| match edge.source {
                Source::Input => Some(x),
                Source::Node(s) => outputs[s].as_ref(),
            };
            let single = match node.edges.as_slice() {
                [edge] => {
                    let packed = packed.get(k).and_then(|p| p.first()).map_or(&[][..], |p| p);
                    source(edge).and_then(|src| chain_ref(&edge.kernels, src, packed))
                }
                _ => None,
            };
            let pre = match single {
                // One incoming projection (the usual case): its output, with `(0 + y) + b`
                // in one pass — the same operations as the sum over edges below.
                Some(mut y) if y.dim() == (batch, node.size) => {
                    add_bias(&mut y, &node.bias, true);
                    y
                }
                _ => {
                    let mut pre = Array2::<f32>::zeros((batch, node.size));
                    for edge in &node.edges {
                        let Some(src) = source(edge) else {
                            continue;
                        };
                        pre += &forward_chain(&edge.kernels, src.view());
                    }
                    add_bias(&mut pre, &node.bias, false);
                    pre
                }
            };
            let mut pre = pre;
            if stop_at_logits && k == self.output {
                outputs.truncate(k);
                outputs.push(Some(pre));
                return outputs;
            }
            match run.and_then(|r| r.at_bias.get(k)).and_then(Option::as_ref) {
                Some(at) if act::mostly_at_bias(&pre, &node.bias) => {
                    at.apply(&node.act, &mut pre, None, None)
                }
                _ => act::apply(&node.act, &mut pre, None, None),
            }
            outputs[k] = Some(pre);
        }
        if stop_at_logits {
            outputs.push(None);
        }
        outputs
    }
}

/// A [`Graph`] with its weights packed once ([`Graph::packed`]); it borrows the graph, so the
/// weights cannot change under it.
pub(crate) struct PackedGraph<'g> {
    graph: &'g Graph,
    packed: Vec<EdgeWeights>,
    /// Per node.
    at_bias: Vec<Option<AtBias>>,
}

/// One node's edges' kernels' packed weights (`None` for kernels left to `gemm`).
type EdgeWeights = Vec<Vec<Option<PackedWeights>>>;

impl PackedGraph<'_> {
    /// [`Graph::logits`], the same values.
    pub fn logits(&self, x: &Array2<f32>) -> Array2<f32> {
        self.graph.logits_packed(x, Some(self))
    }
}

/// Rows per task of the bias pass.
const BIAS_ROWS: usize = 16;

/// `v = v + b` per neuron (`(0 + v) + b` with `from_zero`: what adding an edge's output to a
/// zeroed sum, then the bias, gives, `-0` included), rows in parallel.
fn add_bias(a: &mut Array2<f32>, bias: &[f32], from_zero: bool) {
    let cols = a.ncols();
    let Some(values) = a.as_slice_mut().filter(|_| cols == bias.len() && cols > 0) else {
        for mut row in a.rows_mut() {
            for (v, b) in row.iter_mut().zip(bias) {
                *v = if from_zero { 0.0 + *v } else { *v } + b;
            }
        }
        return;
    };
    values.par_chunks_mut(cols * BIAS_ROWS).for_each(|rows| {
        for row in rows.chunks_mut(cols) {
            if from_zero {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v = (0.0 + *v) + b;
                }
            } else {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        }
    });
}

/// Evaluation-mode chain on a borrowed standard-layout batch: the first op reads it in place
/// instead of a copy (leading flattens are no-ops on flattened features). `None` when `x` is
/// not in standard layout or the chain is empty (callers then take [`forward_chain`]).
/// `packed[i]` is op `i`'s weights packed, where they are.
fn chain_ref(
    kernels: &[Kernel],
    x: &Array2<f32>,
    packed: &[Option<PackedWeights>],
) -> Option<Array2<f32>> {
    if !x.is_standard_layout() {
        return None;
    }
    let packed_of = |i: usize| packed.get(i).and_then(Option::as_ref);
    let mut rest = kernels
        .iter()
        .enumerate()
        .skip_while(|(_, k)| matches!(k, Kernel::Flatten));
    let (i, first) = rest.next()?;
    let mut a = first.forward_eval_packed(x, packed_of(i));
    for (i, k) in rest {
        a = match packed_of(i) {
            Some(p) => {
                let y = k.forward_eval_packed(&a, Some(p));
                crate::pool::recycle(a);
                y
            }
            None => k.forward(a, Mode::Eval).0,
        };
    }
    Some(a)
}

/// Converts a projection's ops, tracking the shape from `input`.
pub(crate) fn kernels_of(ops: &[LinearOp], input: &[usize]) -> Result<Vec<Kernel>, String> {
    let mut shape = input.to_vec();
    let mut kernels = Vec::with_capacity(ops.len());
    for (k, op) in ops.iter().enumerate() {
        let out = op
            .output_shape(&shape)
            .map_err(|m| format!("ops[{k}] ({}): {m}", op.name()))?;
        let image = |shape: &[usize]| match shape {
            [c, h, w] => Ok([*c, *h, *w]),
            _ => Err(format!(
                "ops[{k}] ({}): needs an image input, got {shape:?}",
                op.name()
            )),
        };
        let bad = |what: &str| format!("ops[{k}] ({}): {what}", op.name());
        let kernel = match op {
            LinearOp::Dense { weights } => {
                let (rows, cols) = (weights.shape[0], weights.shape[1]);
                let w = Array2::from_shape_vec((rows, cols), weights.data.clone())
                    .map_err(|e| bad(&e.to_string()))?;
                Kernel::Dense { w }
            }
            LinearOp::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                weights,
            } => {
                let g = ConvGeom::new(image(&shape)?, *out_channels, *kernel, *stride, *padding)
                    .ok_or_else(|| bad("kernel does not fit its input"))?;
                let w = Array2::from_shape_vec((g.oc, g.patch()), weights.data.clone())
                    .map_err(|e| bad(&e.to_string()))?;
                Kernel::Conv { w, g }
            }
            LinearOp::AvgPool { size, stride } => {
                let g = PoolGeom::new(image(&shape)?, *size, stride.unwrap_or(*size))
                    .ok_or_else(|| bad("window does not fit its input"))?;
                Kernel::Pool(g)
            }
            LinearOp::Flatten => Kernel::Flatten,
            LinearOp::Sparse {
                outputs,
                pre,
                post,
                weights,
            } => {
                let n = weights.data.len();
                Kernel::Sparse {
                    outputs: *outputs,
                    pre: pre.data.clone(),
                    post: post.data.clone(),
                    w: Array2::from_shape_vec((1, n), weights.data.clone())
                        .map_err(|e| bad(&e.to_string()))?,
                }
            }
        };
        kernels.push(kernel);
        shape = out;
    }
    Ok(kernels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::tests::{array, values};

    /// The forward pass as it was before the single-edge shortcut: a zeroed sum of every
    /// edge's [`forward_chain`] output, the bias, then the rate curve.
    fn forward_reference(graph: &Graph, x: &Array2<f32>) -> Vec<Array2<f32>> {
        let mut outputs: Vec<Array2<f32>> = Vec::new();
        for node in &graph.nodes {
            let mut pre = Array2::<f32>::zeros((x.nrows(), node.size));
            for edge in &node.edges {
                let src = match edge.source {
                    Source::Input => x.view(),
                    Source::Node(s) => outputs[s].view(),
                };
                pre += &forward_chain(&edge.kernels, src);
            }
            for mut row in pre.rows_mut() {
                for (v, b) in row.iter_mut().zip(&node.bias) {
                    *v += b;
                }
            }
            act::apply(&node.act, &mut pre, None, None);
            outputs.push(pre);
        }
        outputs
    }

    fn bits(a: &Array2<f32>) -> Vec<u32> {
        a.iter().map(|v| v.to_bits()).collect()
    }

    /// The examples' soft-LIF neuron.
    fn soft_lif() -> Activation {
        Activation::SoftLif(LifParams {
            amplitude: 0.063,
            tau_rc: 0.022,
            tau_ref: 0.002,
            gamma: 0.02,
            gain: 1.0,
        })
    }

    /// Conv (with and without padding), pooling, flatten, dense and a two-edge node give the
    /// same bits as the reference, also for the logits, with zero and `-0` biases.
    #[test]
    fn forward_is_bit_identical_to_the_edge_sum() {
        let lif = soft_lif();
        let conv = |input, oc, pad, seed| {
            let g = ConvGeom::new(input, oc, [3, 3], [1, 1], [pad, pad]).unwrap();
            Kernel::Conv {
                w: array(g.oc, g.patch(), seed),
                g,
            }
        };
        let pool = Kernel::Pool(PoolGeom::new([4, 8, 8], [2, 2], [2, 2]).unwrap());
        let node = |size: usize, edges: Vec<Edge>, seed: u64| Node {
            name: format!("n{seed}"),
            size,
            act: lif,
            bias: values(size, seed)
                .into_iter()
                .enumerate()
                .map(|(i, b)| match i % 7 {
                    0 => -0.0,
                    1 => 0.0,
                    _ => b * 0.3,
                })
                .collect(),
            edges,
        };
        let graph = Graph {
            input_size: 100,
            nodes: vec![
                // 1x10x10 -> 4x8x8, no padding.
                node(
                    256,
                    vec![Edge {
                        source: Source::Input,
                        kernels: vec![conv([1, 10, 10], 4, 0, 1)],
                    }],
                    11,
                ),
                // pool 4x4x4, then conv with padding -> 3x4x4.
                node(
                    48,
                    vec![Edge {
                        source: Source::Node(0),
                        kernels: vec![pool.clone(), conv([4, 4, 4], 3, 1, 2)],
                    }],
                    12,
                ),
                // Two edges: flatten + dense from node 1, pool + flatten + dense from node 0.
                node(
                    20,
                    vec![
                        Edge {
                            source: Source::Node(1),
                            kernels: vec![
                                Kernel::Flatten,
                                Kernel::Dense {
                                    w: array(20, 48, 3),
                                },
                            ],
                        },
                        Edge {
                            source: Source::Node(0),
                            kernels: vec![
                                pool,
                                Kernel::Flatten,
                                Kernel::Dense {
                                    w: array(20, 64, 4),
                                },
                            ],
                        },
                    ],
                    13,
                ),
                node(
                    10,
                    vec![Edge {
                        source: Source::Node(2),
                        kernels: vec![Kernel::Dense {
                            w: array(10, 20, 5),
                        }],
                    }],
                    14,
                ),
            ],
            output: 3,
        };
        for batch in [1, 9, 40] {
            let mut x = array(batch, 100, 7 + batch as u64);
            // Some exact zeros, as from black pixels.
            x.iter_mut().step_by(3).for_each(|v| *v = 0.0);
            let want = forward_reference(&graph, &x);
            let got = graph.activations(&x);
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(bits(g), bits(w), "batch {batch}");
            }
            // Logits: the output node's pre-activation.
            let out = &graph.nodes[3];
            let mut pre = forward_chain(&out.edges[0].kernels, want[2].view());
            pre.mapv_inplace(|v| 0.0 + v);
            for mut row in pre.rows_mut() {
                for (v, b) in row.iter_mut().zip(&out.bias) {
                    *v += b;
                }
            }
            assert_eq!(bits(&graph.logits(&x)), bits(&pre), "logits, batch {batch}");
        }
    }

    /// The packed run (tiles for dense products, known outputs for neurons at their bias)
    /// gives the reference's logits bit for bit: a conv on an image with blank regions, a
    /// pooled dense layer, a dense layer on the sparse image and a two-edge readout.
    #[test]
    fn packed_logits_equal_the_reference() {
        let lif = soft_lif();
        let g = ConvGeom::new([1, 12, 12], 4, [3, 3], [1, 1], [0, 0]).unwrap();
        let conv = Kernel::Conv {
            w: array(g.oc, g.patch(), 1),
            g,
        };
        let pool = Kernel::Pool(PoolGeom::new([4, 10, 10], [2, 2], [2, 2]).unwrap());
        let node = |size: usize, edges: Vec<Edge>, seed: u64| Node {
            name: format!("n{seed}"),
            size,
            act: lif,
            bias: values(size, seed).into_iter().map(|b| b * 0.3).collect(),
            edges,
        };
        let dense = |rows, cols, seed| Kernel::Dense {
            w: array(rows, cols, seed),
        };
        let edge = |source, kernels| Edge { source, kernels };
        let graph = Graph {
            input_size: 144,
            nodes: vec![
                node(400, vec![edge(Source::Input, vec![conv])], 11),
                node(
                    37,
                    vec![edge(
                        Source::Node(0),
                        vec![pool, Kernel::Flatten, dense(37, 100, 2)],
                    )],
                    12,
                ),
                node(50, vec![edge(Source::Input, vec![dense(50, 144, 3)])], 13),
                node(
                    10,
                    vec![
                        edge(Source::Node(1), vec![dense(10, 37, 4)]),
                        edge(Source::Node(2), vec![dense(10, 50, 5)]),
                    ],
                    14,
                ),
            ],
            output: 3,
        };
        let packed = graph.packed();
        for batch in [1, 7, 50, 300] {
            let mut x = array(batch, 144, 20 + batch as u64);
            // Blank borders (zero patches for the conv) and scattered zeros.
            for (i, v) in x.iter_mut().enumerate() {
                let (r, c) = ((i % 144) / 12, i % 12);
                if r < 4 || c > 8 || i % 5 == 0 {
                    *v = 0.0;
                }
            }
            let want = forward_reference(&graph, &x);
            let out = &graph.nodes[3];
            let mut pre = Array2::<f32>::zeros((batch, 10));
            for (e, src) in out.edges.iter().zip([1, 2]) {
                pre += &forward_chain(&e.kernels, want[src].view());
            }
            for mut row in pre.rows_mut() {
                for (v, b) in row.iter_mut().zip(&out.bias) {
                    *v += b;
                }
            }
            assert_eq!(bits(&packed.logits(&x)), bits(&pre), "batch {batch}");
        }
    }
}
