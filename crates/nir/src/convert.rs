//! A flat NIR graph → a lifchip [`Net`] at a given `dt` (the formulas are in `docs/nir.md`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use lifchip_net::{
    CurrentOrder, Indices, Lif, LifCurrent, LifFire, LifReset, LinearOp, Net, Neuron, Population,
    Projection, Shape, Tensor,
};

use crate::graph::{Array, NirGraph, NirNode};
use crate::ops;
use crate::{NirError, Refusal};

/// Most distinct paths through linear nodes into one population.
const MAX_PATHS: usize = 10_000;
/// Most neurons in one population.
pub const MAX_POPULATION: usize = 1 << 26;

fn bounded_size(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_POPULATION)
}

/// How a library discretised the continuous-time NIR model it wrote (`docs/nir.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Convention {
    /// NIR as written, forward Euler at `dt` (what snnTorch's own NIR importer builds).
    #[default]
    Nir,
    /// snnTorch's exporter: the NIR rule with `dt = 1e-4` by default.
    Snntorch,
    /// Norse 1.1's exporter, which stores `dt * tau` instead of `tau` (undone here); its input
    /// jumps the synaptic current by `w_in * x`. Default `dt = 1e-3`.
    Norse,
    /// Sinabs: exact decay `exp(-dt / tau)` with `tau` in steps, gain `r`, spike at
    /// `v >= threshold`, reset by subtraction. Default `dt = 1` (one step).
    Sinabs,
    /// Rockpool 3.1 (`LIFTorch`, `LIFNeuronTorch`): exact decay `exp(-dt / tau)`, and it writes
    /// `r = tau exp(-dt / tau) / dt` for a current that enters `v` with gain 1 (undone here);
    /// the input joins the synaptic current before it decays; spike at `v >= threshold`, reset
    /// by subtraction. Default `dt = 1e-3` (Rockpool's default).
    Rockpool,
}

impl Convention {
    pub fn parse(s: &str) -> Option<Convention> {
        Some(match s {
            "nir" => Convention::Nir,
            "snntorch" => Convention::Snntorch,
            "norse" => Convention::Norse,
            "sinabs" => Convention::Sinabs,
            "rockpool" => Convention::Rockpool,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Convention::Nir => "nir",
            Convention::Snntorch => "snntorch",
            Convention::Norse => "norse",
            Convention::Sinabs => "sinabs",
            Convention::Rockpool => "rockpool",
        }
    }

    /// The `dt` the library assumes when it writes NIR.
    pub fn default_dt(self) -> f64 {
        match self {
            Convention::Nir | Convention::Snntorch => 1e-4,
            Convention::Norse | Convention::Rockpool => 1e-3,
            Convention::Sinabs => 1.0,
        }
    }
}

/// How to import a NIR graph.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ImportOptions {
    /// Seconds per tick; `None` takes the convention's default.
    pub dt: Option<f64>,
    pub convention: Convention,
    /// Name of the net (defaults to the file stem).
    pub name: Option<String>,
}

fn is_population(node: &NirNode) -> bool {
    matches!(
        node,
        NirNode::Input { .. }
            | NirNode::Lif { .. }
            | NirNode::CubaLif { .. }
            | NirNode::If { .. }
            | NirNode::Li { .. }
            | NirNode::Integrator { .. }
            | NirNode::Threshold { .. }
    )
}

fn is_linear(node: &NirNode) -> bool {
    matches!(
        node,
        NirNode::Affine { .. }
            | NirNode::Linear { .. }
            | NirNode::Scale { .. }
            | NirNode::Conv1d(_)
            | NirNode::Conv2d(_)
            | NirNode::SumPool2d(_)
            | NirNode::AvgPool2d(_)
            | NirNode::Flatten { .. }
    )
}

/// A path from a population through linear nodes into another population.
struct Chain {
    source: String,
    /// Linear nodes in signal order.
    nodes: Vec<String>,
}

/// A bias reaching a population: `node`'s bias passed through `suffix` (linear nodes).
struct BiasPath {
    node: String,
    suffix: Vec<String>,
}

struct Converter<'a> {
    graph: &'a NirGraph,
    path: &'a Path,
    incoming: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Converter<'a> {
    fn node_err(&self, node: &str, message: impl Into<String>) -> NirError {
        NirError::Node {
            path: self.path.to_path_buf(),
            node: node.to_string(),
            message: message.into(),
        }
    }

    fn graph_err(&self, message: impl Into<String>) -> NirError {
        NirError::Graph {
            path: self.path.to_path_buf(),
            message: message.into(),
        }
    }

    /// Every path from a population back through linear nodes into `target`, and every
    /// biased node on them.
    fn chains_into(&self, target: &str) -> Result<(Vec<Chain>, Vec<BiasPath>), NirError> {
        let mut chains = Vec::new();
        let mut biases = Vec::new();
        let mut seen_bias = BTreeSet::new();
        // (node, suffix after it, in signal order)
        let mut stack: Vec<(&str, Vec<String>)> = self
            .incoming
            .get(target)
            .map(|v| v.iter().map(|&s| (s, Vec::new())).collect())
            .unwrap_or_default();
        let mut visits = 0usize;
        while let Some((node, suffix)) = stack.pop() {
            visits += 1;
            if visits > MAX_PATHS {
                return Err(self.graph_err(format!(
                    "more than {MAX_PATHS} paths through linear nodes lead into {target}"
                )));
            }
            let kind = &self.graph.nodes[node];
            if is_population(kind) {
                chains.push(Chain {
                    source: node.to_string(),
                    nodes: suffix,
                });
                continue;
            }
            if !is_linear(kind) {
                // Output nodes or refused nodes upstream: reported elsewhere.
                continue;
            }
            if suffix.iter().any(|s| s == node) {
                return Err(self.graph_err(format!(
                    "a cycle runs through {node} with no neuron (state) in it: {} -> {node}",
                    suffix.join(" -> ")
                )));
            }
            if matches!(
                kind,
                NirNode::Affine { .. } | NirNode::Conv1d(_) | NirNode::Conv2d(_)
            ) && seen_bias.insert((node.to_string(), suffix.clone()))
            {
                biases.push(BiasPath {
                    node: node.to_string(),
                    suffix: suffix.clone(),
                });
            }
            let mut next = Vec::with_capacity(suffix.len() + 1);
            next.push(node.to_string());
            next.extend(suffix.iter().cloned());
            for &pre in self.incoming.get(node).map(Vec::as_slice).unwrap_or(&[]) {
                stack.push((pre, next.clone()));
            }
        }
        chains.reverse();
        Ok((chains, biases))
    }

    /// The ops of linear node `name` on `input`, with the shape they produce.
    fn node_ops(&self, name: &str, input: &[usize]) -> Result<(Vec<LinearOp>, Shape), NirError> {
        let result = match &self.graph.nodes[name] {
            NirNode::Affine { weight, .. } | NirNode::Linear { weight } => {
                ops::dense(weight, input)
            }
            NirNode::Scale { scale } => ops::scale(scale, input),
            NirNode::Conv1d(c) => ops::conv(c, &ops::net_shape(input), false),
            NirNode::Conv2d(c) => ops::conv(c, input, true),
            NirNode::SumPool2d(p) => ops::pool(p, input, false),
            NirNode::AvgPool2d(p) => ops::pool(p, input, true),
            NirNode::Flatten { .. } => Ok((vec![LinearOp::Flatten], vec![input.iter().product()])),
            other => Err(format!("{} is not a linear node", other.kind())),
        };
        result.map_err(|m| self.node_err(name, m))
    }

    fn chain_ops(
        &self,
        nodes: &[String],
        input: &[usize],
    ) -> Result<(Vec<LinearOp>, Shape), NirError> {
        let mut shape = input.to_vec();
        let mut all = Vec::new();
        for n in nodes {
            let (ops, out) = self.node_ops(n, &shape)?;
            all.extend(ops);
            shape = out;
        }
        Ok((all, shape))
    }

    /// The bias of `bp.node` at the population, given the shape entering that node.
    fn bias_vector(&self, bp: &BiasPath, input: &[usize]) -> Result<Vec<f32>, NirError> {
        let (_, out) = self.node_ops(&bp.node, input)?;
        let mut values = match &self.graph.nodes[bp.node.as_str()] {
            NirNode::Affine { bias, .. } => ops::bias_at(bias, &out, false),
            NirNode::Conv1d(c) | NirNode::Conv2d(c) => ops::bias_at(&c.bias, &out, true),
            _ => Ok(Vec::new()),
        }
        .map_err(|m| self.node_err(&bp.node, m))?;
        let mut shape = out;
        for n in &bp.suffix {
            let (ops, next) = self.node_ops(n, &shape)?;
            for op in ops {
                let op_out = op.output_shape(&shape).map_err(|m| self.node_err(n, m))?;
                let mut y = vec![0f32; op_out.iter().product()];
                op.for_each_synapse(&shape, |i, o, w| y[o] += w * values[i]);
                values = y;
                shape = op_out;
            }
            shape = next;
        }
        Ok(values)
    }
}

/// What each NIR neuron node refuses, if anything, and its declared shape.
fn neuron_shape(node: &NirNode) -> Option<&[usize]> {
    let first = match node {
        NirNode::Lif { v_threshold, .. } | NirNode::If { v_threshold, .. } => v_threshold,
        NirNode::CubaLif { v_threshold, .. } => v_threshold,
        NirNode::Li { tau, .. } => tau,
        NirNode::Integrator { r } => r,
        NirNode::Threshold { threshold } => threshold,
        _ => return None,
    };
    Some(&first.shape)
}

/// Drops a leading batch dimension of 1 from `Input`/`Output` shapes (Norse, Rockpool).
fn unbatch(shape: &[usize]) -> Shape {
    match shape {
        [1, rest @ ..] if rest.len() == 1 || rest.len() == 3 => rest.to_vec(),
        other => other.to_vec(),
    }
}

/// Converts a flat NIR graph into a validated lifchip net.
pub fn to_net(graph: &NirGraph, options: &ImportOptions, path: &Path) -> Result<Net, NirError> {
    let convention = options.convention;
    let dt = options.dt.unwrap_or_else(|| convention.default_dt());
    if !(dt.is_finite() && dt > 0.0) {
        return Err(NirError::Net {
            path: path.to_path_buf(),
            message: format!("dt = {dt}: expected a positive number of seconds"),
        });
    }
    let mut refusals = Vec::new();
    for (name, node) in &graph.nodes {
        let why = match node {
            NirNode::Delay { .. } => Some(
                "lifchip projections have no per-synapse delays (every projection delivers in the same tick)"
                    .to_string(),
            ),
            NirNode::Unknown { kind } => Some(format!("unknown NIR node type {kind:?}")),
            NirNode::Flatten { start_dim, .. } if *start_dim > 0 => Some(format!(
                "Flatten from dimension {start_dim} keeps a dimension lifchip's [n]/[c,h,w] shapes cannot hold"
            )),
            _ => None,
        };
        if let Some(why) = why {
            refusals.push(Refusal {
                node: name.clone(),
                kind: node.kind().to_string(),
                why,
            });
        }
    }
    if !refusals.is_empty() {
        return Err(NirError::Unsupported {
            path: path.to_path_buf(),
            refusals,
        });
    }
    let mut incoming: HashMap<&str, Vec<&str>> = HashMap::new();
    for (a, b) in &graph.edges {
        incoming.entry(b.as_str()).or_default().push(a.as_str());
    }
    let conv = Converter {
        graph,
        path,
        incoming,
    };
    let inputs: Vec<&str> = graph
        .nodes
        .iter()
        .filter(|(_, n)| matches!(n, NirNode::Input { .. }))
        .map(|(k, _)| k.as_str())
        .collect();
    if inputs.is_empty() {
        return Err(conv.graph_err("the graph has no Input node"));
    }
    let outputs: Vec<&str> = graph
        .nodes
        .iter()
        .filter(|(_, n)| matches!(n, NirNode::Output { .. }))
        .map(|(k, _)| k.as_str())
        .collect();

    // Populations and the chains into them.
    let populations: Vec<&str> = graph
        .nodes
        .iter()
        .filter(|(_, n)| is_population(n))
        .map(|(k, _)| k.as_str())
        .collect();
    let mut chains: BTreeMap<&str, (Vec<Chain>, Vec<BiasPath>)> = BTreeMap::new();
    for &p in &populations {
        chains.insert(p, conv.chains_into(p)?);
    }
    // The readout: what feeds the first Output (a population, or linear nodes ending there).
    let mut readout_chains = None;
    if let Some(&out) = outputs.first() {
        readout_chains = Some(conv.chains_into(out)?);
    }

    // Order populations: depth-first from the inputs; edges back to a population on the
    // current path are recurrent (previous tick), the rest run in reverse post-order.
    let mut succ: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (&q, (cs, _)) in &chains {
        for c in cs {
            succ.entry(
                graph
                    .nodes
                    .get_key_value(c.source.as_str())
                    .map_or("", |(k, _)| k.as_str()),
            )
            .or_default()
            .push(q);
        }
    }
    let mut post: Vec<&str> = Vec::new();
    let mut state: HashMap<&str, u8> = HashMap::new(); // 1 on stack, 2 done
    let roots: Vec<&str> = inputs
        .iter()
        .copied()
        .chain(populations.iter().copied())
        .collect();
    for root in roots {
        if state.contains_key(root) {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
        state.insert(root, 1);
        while let Some((node, k)) = stack.last_mut() {
            let next = succ.get(*node).and_then(|v| v.get(*k)).copied();
            *k += 1;
            match next {
                Some(n) if !state.contains_key(n) => {
                    state.insert(n, 1);
                    stack.push((n, 0));
                }
                Some(_) => {}
                None => {
                    let done = *node;
                    state.insert(done, 2);
                    post.push(done);
                    stack.pop();
                }
            }
        }
    }
    post.reverse();
    let rank: HashMap<&str, usize> = post.iter().enumerate().map(|(k, &n)| (n, k)).collect();

    // Shapes, in order: declared by the parameters, or produced by the first feed-forward chain.
    let mut shapes: HashMap<&str, Shape> = HashMap::new();
    for &p in &post {
        let node = &graph.nodes[p];
        if let NirNode::Input { shape } = node {
            let s = unbatch(shape);
            if s.is_empty() || s.contains(&0) {
                return Err(conv.node_err(p, format!("input shape {shape:?} is empty")));
            }
            if bounded_size(&s).is_none() {
                return Err(conv.node_err(
                    p,
                    format!("input shape {shape:?} has more than {MAX_POPULATION} neurons"),
                ));
            }
            shapes.insert(p, ops::net_shape(&s));
            continue;
        }
        let declared = neuron_shape(node).map(ops::net_shape);
        let declared_size: Option<usize> = neuron_shape(node)
            .filter(|s| !s.is_empty())
            .map(|s| s.iter().product());
        let mut from_chain = None;
        for c in &chains[p].0 {
            if rank[c.source.as_str()] < rank[p]
                && let Some(src) = shapes.get(c.source.as_str())
            {
                let (_, out) = conv.chain_ops(&c.nodes, src)?;
                from_chain = Some(out);
                break;
            }
        }
        let shape = match (from_chain, declared_size) {
            (Some(s), Some(n)) if s.iter().product::<usize>() == n => s,
            (Some(s), Some(n)) => {
                return Err(conv.node_err(
                    p,
                    format!("its parameters describe {n} neurons but its input has shape {s:?}"),
                ));
            }
            (Some(s), None) => s,
            (None, Some(_)) => declared.unwrap_or_else(|| vec![1]),
            (None, None) => {
                return Err(conv.node_err(p, "scalar parameters and no input: its size is unknown"));
            }
        };
        shapes.insert(p, shape);
    }

    let mut net = Net::new(options.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map_or("nir".into(), |s| s.to_string_lossy().into_owned())
    }));
    net.description = format!(
        "imported from NIR ({} convention, dt = {dt} s)",
        convention.name()
    );
    net.meta
        .insert("nir.convention".into(), convention.name().into());
    net.meta.insert("nir.dt".into(), format!("{dt}"));
    if !graph.version.is_empty() {
        net.meta.insert("nir.version".into(), graph.version.clone());
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    for &p in &post {
        let shape = shapes[p].clone();
        let size: usize = shape.iter().product();
        let neuron = match &graph.nodes[p] {
            NirNode::Input { .. } => Neuron::Input,
            node => {
                let mut bias = vec![0f32; size];
                for bp in &chains[p].1 {
                    // The shape entering the biased node: from its chain's source.
                    let Some(c) = chains[p].0.iter().find(|c| c.nodes.contains(&bp.node)) else {
                        continue;
                    };
                    let Some(src) = shapes.get(c.source.as_str()) else {
                        continue;
                    };
                    let pos = c.nodes.iter().position(|n| *n == bp.node).unwrap_or(0);
                    let (_, entering) = conv.chain_ops(&c.nodes[..pos], src)?;
                    let v = conv.bias_vector(bp, &entering)?;
                    if v.len() != size {
                        return Err(conv.node_err(
                            &bp.node,
                            format!(
                                "its bias reaches {p} as {} values, {p} has {size} neurons",
                                v.len()
                            ),
                        ));
                    }
                    for (b, x) in bias.iter_mut().zip(v) {
                        *b += x;
                    }
                }
                Neuron::Lif(neuron(node, p, size, dt, convention, bias, &conv)?)
            }
        };
        names.insert(p.to_string());
        net.populations.push(Population {
            name: p.to_string(),
            shape,
            neuron,
        });
    }
    for &p in &post {
        for (k, c) in chains[p].0.iter().enumerate() {
            let Some(src) = shapes.get(c.source.as_str()) else {
                continue;
            };
            let (ops, out) = conv.chain_ops(&c.nodes, src)?;
            if out.iter().product::<usize>() != shapes[p].iter().product::<usize>() {
                return Err(conv.graph_err(format!(
                    "{} -> {p} through [{}] produces shape {out:?}, {p} has shape {:?}",
                    c.source,
                    c.nodes.join(", "),
                    shapes[p]
                )));
            }
            let ops = if ops.is_empty() {
                vec![identity(&out)]
            } else {
                ops
            };
            let mut name = if c.nodes.is_empty() {
                format!("{}->{p}", c.source)
            } else {
                c.nodes.join("+")
            };
            if names.contains(&name) {
                name = format!("{name}#{k}");
            }
            names.insert(name.clone());
            net.projections.push(Projection {
                current: 1,
                sign_mode: None,
                name,
                from: c.source.clone(),
                to: p.to_string(),
                ops,
                weight_exp: 0,
            });
        }
    }
    if let Some((cs, biases)) = readout_chains {
        add_readout(&mut net, &conv, &cs, &biases, &shapes, dt)?;
    }
    net.validate().map_err(|e| NirError::Net {
        path: path.to_path_buf(),
        message: format!("the imported net is invalid: {e}"),
    })?;
    Ok(net)
}

/// A projection that copies a population one to one.
fn identity(shape: &[usize]) -> LinearOp {
    let n: usize = shape.iter().product();
    let idx: Vec<u32> = (0..n as u32).collect();
    LinearOp::Sparse {
        outputs: n,
        pre: Indices::new(idx.clone()),
        post: Indices::new(idx),
        weights: Tensor::new(vec![n], vec![1.0; n]),
    }
}

/// Makes the population feeding the NIR `Output` the net's readout (the last population no
/// projection leaves). If it already is, nothing changes; if it has outgoing projections (a
/// recurrent layer) or the Output is fed by linear nodes, a readout population is added that
/// passes on, in the same tick, the spikes (threshold 0.5 on a 0/1 input) or the summed input
/// (non-spiking) it receives.
fn add_readout(
    net: &mut Net,
    conv: &Converter,
    chains: &[Chain],
    biases: &[BiasPath],
    shapes: &HashMap<&str, Shape>,
    dt: f64,
) -> Result<(), NirError> {
    let direct = match chains {
        [c] if c.nodes.is_empty() => Some(c.source.clone()),
        _ => None,
    };
    if let Some(src) = &direct {
        let leaves = net.projections.iter().any(|p| p.from == *src);
        if !leaves {
            // Move it last so that `Net::output` picks it.
            if let Some(k) = net.population_index(src) {
                let pop = net.populations.remove(k);
                net.populations.push(pop);
            }
            return Ok(());
        }
    }
    if chains.is_empty() {
        return Err(conv.graph_err("the Output node is not fed by any population"));
    }
    let spiking = direct.is_some();
    let mut name = "readout".to_string();
    while net.population(&name).is_some() {
        name.push('_');
    }
    let mut out_shape = None;
    let mut projections = Vec::new();
    for (k, c) in chains.iter().enumerate() {
        let Some(src) = shapes.get(c.source.as_str()) else {
            continue;
        };
        let (ops, out) = conv.chain_ops(&c.nodes, src)?;
        let ops = if ops.is_empty() {
            vec![identity(&out)]
        } else {
            ops
        };
        out_shape.get_or_insert(out);
        projections.push(Projection {
            current: 1,
            sign_mode: None,
            name: format!("{name}.in{k}"),
            from: c.source.clone(),
            to: name.clone(),
            ops,
            weight_exp: 0,
        });
    }
    let shape = out_shape.unwrap_or_else(|| vec![1]);
    let size: usize = shape.iter().product();
    let mut bias = vec![0f32; size];
    for bp in biases {
        if let Some(c) = chains.iter().find(|c| c.nodes.contains(&bp.node))
            && let Some(src) = shapes.get(c.source.as_str())
        {
            let pos = c.nodes.iter().position(|n| *n == bp.node).unwrap_or(0);
            let (_, entering) = conv.chain_ops(&c.nodes[..pos], src)?;
            for (b, x) in bias.iter_mut().zip(conv.bias_vector(bp, &entering)?) {
                *b += x;
            }
        }
    }
    net.populations.push(Population {
        name: name.clone(),
        shape: shape.clone(),
        neuron: Neuron::Lif(Lif {
            dt: dt as f32,
            voltage_keep: Tensor::scalar(0.0),
            voltage_gain: Tensor::scalar(1.0),
            leak: Tensor::scalar(0.0),
            threshold: Tensor::scalar(0.5),
            v_reset: Tensor::scalar(0.0),
            v_start: Tensor::scalar(0.0),
            fire: if spiking {
                LifFire::Greater
            } else {
                LifFire::Never
            },
            reset: LifReset::Zero,
            current: None,
            bias: Tensor::new(vec![size], bias),
        }),
    });
    net.projections.extend(projections);
    Ok(())
}

/// One NIR neuron node as per-tick LIF constants (see `docs/nir.md`).
fn neuron(
    node: &NirNode,
    name: &str,
    size: usize,
    dt: f64,
    convention: Convention,
    bias: Vec<f32>,
    conv: &Converter,
) -> Result<Lif, NirError> {
    let values = |a: &Array, field: &str| -> Result<Vec<f64>, NirError> {
        if a.data.len() == 1 {
            Ok(vec![a.data[0]; size])
        } else if a.data.len() == size {
            Ok(a.data.clone())
        } else {
            Err(conv.node_err(
                name,
                format!(
                    "`{field}` has {} values, expected 1 or {size} (one per neuron)",
                    a.data.len()
                ),
            ))
        }
    };
    let tensor = |v: Vec<f64>| -> Tensor {
        let first = v.first().copied().unwrap_or(0.0);
        if v.iter().all(|&x| x == first) {
            Tensor::scalar(first as f32)
        } else {
            Tensor::new(vec![v.len()], v.into_iter().map(|x| x as f32).collect())
        }
    };
    // Norse 1.1 writes dt * tau where NIR wants tau.
    let tau_of = |a: &Array, field: &str| -> Result<Vec<f64>, NirError> {
        let mut t = values(a, field)?;
        if convention == Convention::Norse {
            t.iter_mut().for_each(|x| *x /= dt);
        }
        if let Some(bad) = t.iter().find(|&&x| x.is_nan() || x <= 0.0) {
            return Err(conv.node_err(
                name,
                format!("`{field}` = {bad}: a time constant must be positive"),
            ));
        }
        Ok(t)
    };
    let rockpool = convention == Convention::Rockpool;
    // Sinabs and Rockpool: exact decay, a constant drive added to v as it is, spikes at
    // `v >= threshold`, reset by subtraction.
    let sinabs = convention == Convention::Sinabs || rockpool;
    // (keep, gain per unit r) of a leaky integration with time constant tau.
    let leaky = |tau: &[f64]| -> (Vec<f64>, Vec<f64>) {
        if rockpool {
            // Rockpool writes r = tau exp(-dt/tau) / dt for a gain of 1.
            (
                tau.iter().map(|t| (-dt / t).exp()).collect(),
                tau.iter().map(|t| dt / t * (dt / t).exp()).collect(),
            )
        } else if sinabs {
            (
                tau.iter().map(|t| (-dt / t).exp()).collect(),
                vec![1.0; tau.len()],
            )
        } else {
            (
                tau.iter().map(|t| 1.0 - dt / t).collect(),
                tau.iter().map(|t| dt / t).collect(),
            )
        }
    };
    let (fire, reset) = if sinabs {
        (LifFire::GreaterEqual, LifReset::Subtract)
    } else {
        (LifFire::Greater, LifReset::Zero)
    };
    let zeros = || vec![0.0; size];
    let mul = |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x * y).collect() };
    // Sinabs (and Rockpool) add v_leak as it is; NIR integrates it over the tick.
    let leak_of = |v_leak: &Array, per: &[f64]| -> Result<Vec<f64>, NirError> {
        let leak = values(v_leak, "v_leak")?;
        Ok(if sinabs { leak } else { mul(&leak, per) })
    };
    let reset_of = |v_reset: &Option<Array>| -> Result<Vec<f64>, NirError> {
        Ok(v_reset
            .as_ref()
            .map(|a| values(a, "v_reset"))
            .transpose()?
            .unwrap_or_else(zeros))
    };
    // Norse starts every neuron at rest (v = v_leak); the others at 0.
    let v_start = match node {
        NirNode::Lif { v_leak, .. }
        | NirNode::Li { v_leak, .. }
        | NirNode::CubaLif { v_leak, .. }
            if convention == Convention::Norse =>
        {
            values(v_leak, "v_leak")?
        }
        _ => vec![0.0; size],
    };
    let (keep, gain, leak, threshold, v_reset, fire, current) = match node {
        NirNode::Lif {
            tau,
            r,
            v_leak,
            v_threshold,
            v_reset,
        } => {
            let (keep, per) = leaky(&tau_of(tau, "tau")?);
            let leak = leak_of(v_leak, &per)?;
            (
                keep,
                mul(&values(r, "r")?, &per),
                leak,
                values(v_threshold, "v_threshold")?,
                reset_of(v_reset)?,
                fire,
                None,
            )
        }
        NirNode::Li { tau, r, v_leak } => {
            let (keep, per) = leaky(&tau_of(tau, "tau")?);
            let leak = leak_of(v_leak, &per)?;
            (
                keep,
                mul(&values(r, "r")?, &per),
                leak,
                vec![1.0; size],
                zeros(),
                LifFire::Never,
                None,
            )
        }
        NirNode::CubaLif {
            tau_syn,
            tau_mem,
            r,
            v_leak,
            v_threshold,
            v_reset,
            w_in,
        } => {
            let (keep, per) = leaky(&tau_of(tau_mem, "tau_mem")?);
            let (ikeep, iper) = leaky(&tau_of(tau_syn, "tau_syn")?);
            let w_in = w_in
                .as_ref()
                .map(|a| values(a, "w_in"))
                .transpose()?
                .unwrap_or_else(|| vec![1.0; size]);
            // Norse and Sinabs add the input to the current at once; NIR integrates it;
            // Rockpool adds it and then decays the current.
            let igain = if rockpool {
                mul(&w_in, &ikeep)
            } else if matches!(convention, Convention::Norse | Convention::Sinabs) {
                w_in
            } else {
                mul(&w_in, &iper)
            };
            let leak = leak_of(v_leak, &per)?;
            (
                keep,
                mul(&values(r, "r")?, &per),
                leak,
                values(v_threshold, "v_threshold")?,
                reset_of(v_reset)?,
                fire,
                Some(LifCurrent {
                    keep: tensor(ikeep),
                    gain: tensor(igain),
                    order: CurrentOrder::InputFirst,
                }),
            )
        }
        NirNode::If {
            r,
            v_threshold,
            v_reset,
        } => (
            vec![1.0; size],
            values(r, "r")?.iter().map(|x| x * dt).collect(),
            zeros(),
            values(v_threshold, "v_threshold")?,
            v_reset
                .as_ref()
                .map(|a| values(a, "v_reset"))
                .transpose()?
                .unwrap_or_else(zeros),
            fire,
            None,
        ),
        NirNode::Integrator { r } => (
            vec![1.0; size],
            values(r, "r")?.iter().map(|x| x * dt).collect(),
            zeros(),
            vec![1.0; size],
            zeros(),
            LifFire::Never,
            None,
        ),
        NirNode::Threshold { threshold } => (
            zeros(),
            vec![1.0; size],
            zeros(),
            values(threshold, "threshold")?,
            zeros(),
            LifFire::Greater,
            None,
        ),
        other => {
            return Err(conv.node_err(name, format!("{} is not a neuron", other.kind())));
        }
    };
    Ok(Lif {
        dt: dt as f32,
        voltage_keep: tensor(keep),
        voltage_gain: tensor(gain),
        leak: tensor(leak),
        threshold: tensor(threshold),
        v_reset: tensor(v_reset),
        v_start: tensor(v_start),
        fire,
        reset,
        current,
        bias: {
            let first = bias.first().copied().unwrap_or(0.0);
            if bias.iter().all(|&b| b == first) {
                Tensor::scalar(first)
            } else {
                Tensor::new(vec![size], bias)
            }
        },
    })
}
