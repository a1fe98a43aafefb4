//! The typed NIR graph and its reader: the HDF5 layout `nir.write` produces (a `node` group
//! holding `type`, `nodes/<name>/...` and an `edges` list of name pairs), nested graphs
//! flattened into one graph whose node names are paths (`outer.inner`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hdf5_pure::{DType, Dataset, File, Group};

use crate::NirError;

/// Deepest nesting of sub-graphs read.
pub const MAX_DEPTH: usize = 16;
/// Most nodes (all levels together) read from one file.
pub const MAX_NODES: usize = 100_000;
/// Most edges (all levels together) read from one file.
pub const MAX_EDGES: usize = 1_000_000;
/// Most values in one dataset.
pub const MAX_DATASET_VALUES: usize = 1 << 28;
/// Most values in all datasets of a file together.
pub const MAX_TOTAL_VALUES: usize = 1 << 29;
/// Most values in one neuron parameter (`tau`, `v_threshold`, ...): one per neuron, and no
/// population converts above 2^26 neurons, so a larger one is refused before it is read.
pub const MAX_NEURON_VALUES: usize = 1 << 26;

/// A numeric parameter: its shape (empty for a scalar) and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Array {
    pub fn scalar(v: f64) -> Array {
        Array {
            shape: Vec::new(),
            data: vec![v],
        }
    }

    pub fn vector(data: Vec<f64>) -> Array {
        Array {
            shape: vec![data.len()],
            data,
        }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Zero padding of a convolution: explicit per spatial dimension, or `same` / `valid`.
#[derive(Clone, Debug, PartialEq)]
pub enum Padding {
    Explicit(Vec<usize>),
    Same,
    Valid,
}

/// Parameters shared by `Conv1d` and `Conv2d`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    /// `[out_channels, in_channels / groups, k...]`.
    pub weight: Array,
    pub bias: Array,
    pub stride: Vec<usize>,
    pub padding: Padding,
    pub dilation: Vec<usize>,
    pub groups: usize,
    /// The spatial input shape, if the file gives it (`nir` 1.0.8 requires it on writing).
    pub input_shape: Option<Vec<usize>>,
}

/// Parameters of `SumPool2d` and `AvgPool2d`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kernel_size: Vec<usize>,
    pub stride: Vec<usize>,
    pub padding: Vec<usize>,
}

/// One NIR node with its parameters (NIR's names; continuous time, seconds).
#[derive(Clone, Debug, PartialEq)]
pub enum NirNode {
    Input {
        shape: Vec<usize>,
    },
    Output {
        shape: Vec<usize>,
    },
    Affine {
        weight: Array,
        bias: Array,
    },
    Linear {
        weight: Array,
    },
    Scale {
        scale: Array,
    },
    Conv1d(Conv),
    Conv2d(Conv),
    SumPool2d(Pool),
    AvgPool2d(Pool),
    Flatten {
        start_dim: i64,
        end_dim: i64,
        /// The shape flattened, if the file gives it.
        input_type: Option<Vec<usize>>,
    },
    Lif {
        tau: Array,
        r: Array,
        v_leak: Array,
        v_threshold: Array,
        v_reset: Option<Array>,
    },
    CubaLif {
        tau_syn: Array,
        tau_mem: Array,
        r: Array,
        v_leak: Array,
        v_threshold: Array,
        v_reset: Option<Array>,
        w_in: Option<Array>,
    },
    If {
        r: Array,
        v_threshold: Array,
        v_reset: Option<Array>,
    },
    Li {
        tau: Array,
        r: Array,
        v_leak: Array,
    },
    /// NIR's `I` node: `dv/dt = r * I`.
    Integrator {
        r: Array,
    },
    Threshold {
        threshold: Array,
    },
    Delay {
        delay: Array,
    },
    /// A node type this reader does not know; kept so that every such node is reported.
    Unknown {
        kind: String,
    },
}

impl NirNode {
    /// The NIR type string of this node.
    pub fn kind(&self) -> &str {
        match self {
            NirNode::Input { .. } => "Input",
            NirNode::Output { .. } => "Output",
            NirNode::Affine { .. } => "Affine",
            NirNode::Linear { .. } => "Linear",
            NirNode::Scale { .. } => "Scale",
            NirNode::Conv1d(_) => "Conv1d",
            NirNode::Conv2d(_) => "Conv2d",
            NirNode::SumPool2d(_) => "SumPool2d",
            NirNode::AvgPool2d(_) => "AvgPool2d",
            NirNode::Flatten { .. } => "Flatten",
            NirNode::Lif { .. } => "LIF",
            NirNode::CubaLif { .. } => "CubaLIF",
            NirNode::If { .. } => "IF",
            NirNode::Li { .. } => "LI",
            NirNode::Integrator { .. } => "I",
            NirNode::Threshold { .. } => "Threshold",
            NirNode::Delay { .. } => "Delay",
            NirNode::Unknown { kind } => kind,
        }
    }
}

/// A flat NIR graph: nodes by path, edges between paths. Sub-graphs are inlined: their
/// `Input`/`Output` nodes are removed and the edges through them joined.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NirGraph {
    pub nodes: BTreeMap<String, NirNode>,
    pub edges: Vec<(String, String)>,
    /// The `version` the file carries (empty if none).
    pub version: String,
}

/// Reads a `.nir` file into a flat graph, checking every size before it is allocated.
pub fn read_file(path: &Path) -> Result<NirGraph, NirError> {
    let bytes = std::fs::read(path).map_err(|source| NirError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_bytes(bytes, path)
}

/// Reads NIR from the bytes of a file; `path` only names it in errors.
pub fn read_bytes(bytes: Vec<u8>, path: &Path) -> Result<NirGraph, NirError> {
    if !hdf5_pure::is_hdf5_bytes(&bytes) {
        return Err(NirError::Hdf5 {
            path: path.to_path_buf(),
            place: "superblock".into(),
            message: "no HDF5 signature; a .nir file is an HDF5 file written by nir.write".into(),
        });
    }
    let file = File::from_bytes(bytes).map_err(|e| NirError::Hdf5 {
        path: path.to_path_buf(),
        place: "superblock".into(),
        message: e.to_string(),
    })?;
    let mut reader = Reader {
        path: path.to_path_buf(),
        total_values: 0,
        nodes: 0,
        edges: 0,
    };
    let root = file.root();
    let version = if reader.names(&root, "/", false)?.contains("version") {
        let ds = reader.dataset(&root, "version", "/")?;
        reader.string(&ds, "version", "/")?
    } else {
        String::new()
    };
    let top = root.group("node").map_err(|e| reader.hdf5("/node", e))?;
    if reader.names(&top, "/node", false)?.contains("type") {
        let ds = reader.dataset(&top, "type", "")?;
        let kind = reader.string(&ds, "type", "")?;
        if kind != "NIRGraph" {
            return Err(reader.node_err(
                "",
                format!("the top node is a {kind:?}; expected a NIRGraph"),
            ));
        }
    }
    let mut graph = NirGraph {
        version,
        ..NirGraph::default()
    };
    reader.read_graph(&top, "", 0, &mut graph)?;
    resolve_subgraphs(&mut graph, path)?;
    remove_inner_ports(&mut graph);
    check_edges(&graph, path)?;
    Ok(graph)
}

/// Joins the edges through the `Input`/`Output` nodes of sub-graphs (names with a `.`), and
/// removes those nodes: `a -> g.input -> g.x` becomes `a -> g.x`.
fn remove_inner_ports(graph: &mut NirGraph) {
    let ports: Vec<String> = graph
        .nodes
        .iter()
        .filter(|(name, node)| {
            name.contains('.') && matches!(node, NirNode::Input { .. } | NirNode::Output { .. })
        })
        .map(|(name, _)| name.clone())
        .collect();
    for port in ports {
        let incoming: Vec<String> = graph
            .edges
            .iter()
            .filter(|(_, b)| *b == port)
            .map(|(a, _)| a.clone())
            .collect();
        let outgoing: Vec<String> = graph
            .edges
            .iter()
            .filter(|(a, _)| *a == port)
            .map(|(_, b)| b.clone())
            .collect();
        graph.edges.retain(|(a, b)| *a != port && *b != port);
        for a in &incoming {
            for b in &outgoing {
                graph.edges.push((a.clone(), b.clone()));
            }
        }
        graph.nodes.remove(&port);
    }
    let mut seen = BTreeSet::new();
    graph.edges.retain(|e| seen.insert(e.clone()));
}

fn check_edges(graph: &NirGraph, path: &Path) -> Result<(), NirError> {
    let dangling: Vec<String> = graph
        .edges
        .iter()
        .filter(|(a, b)| !graph.nodes.contains_key(a) || !graph.nodes.contains_key(b))
        .map(|(a, b)| format!("{a} -> {b}"))
        .take(20)
        .collect();
    if !dangling.is_empty() {
        return Err(NirError::Graph {
            path: path.to_path_buf(),
            message: format!(
                "edges name nodes that do not exist: {}",
                dangling.join(", ")
            ),
        });
    }
    Ok(())
}

struct Reader {
    path: PathBuf,
    total_values: usize,
    nodes: usize,
    edges: usize,
}

impl Reader {
    fn hdf5(&self, place: &str, e: hdf5_pure::Error) -> NirError {
        NirError::Hdf5 {
            path: self.path.clone(),
            place: place.to_string(),
            message: e.to_string(),
        }
    }

    fn node_err(&self, node: &str, message: impl Into<String>) -> NirError {
        NirError::Node {
            path: self.path.clone(),
            node: if node.is_empty() {
                "(top graph)".into()
            } else {
                node.to_string()
            },
            message: message.into(),
        }
    }

    /// Names of a group's members (datasets and, with `groups`, sub-groups).
    fn names(
        &self,
        group: &Group,
        place: &str,
        groups: bool,
    ) -> Result<BTreeSet<String>, NirError> {
        let mut names: BTreeSet<String> = group
            .datasets()
            .map_err(|e| self.hdf5(place, e))?
            .into_iter()
            .collect();
        if groups {
            names.extend(group.groups().map_err(|e| self.hdf5(place, e))?);
        }
        Ok(names)
    }

    fn dataset(&self, group: &Group, name: &str, node: &str) -> Result<Dataset, NirError> {
        group
            .dataset(name)
            .map_err(|e| self.node_err(node, format!("dataset `{name}`: {e}")))
    }

    /// The shape of a dataset, with its value count bounded.
    fn shape(&mut self, ds: &Dataset, name: &str, node: &str) -> Result<Vec<usize>, NirError> {
        let raw = ds
            .shape()
            .map_err(|e| self.node_err(node, format!("dataset `{name}`: {e}")))?;
        if raw.len() > 8 {
            return Err(self.node_err(
                node,
                format!(
                    "dataset `{name}` has {} dimensions, at most 8 expected",
                    raw.len()
                ),
            ));
        }
        let mut count: usize = 1;
        let mut shape = Vec::with_capacity(raw.len());
        for &d in &raw {
            let d = usize::try_from(d).ok();
            count = match d.and_then(|d| count.checked_mul(d)) {
                Some(c) if c <= MAX_DATASET_VALUES => c,
                _ => {
                    return Err(self.node_err(
                        node,
                        format!(
                            "dataset `{name}` has shape {raw:?}: more than {MAX_DATASET_VALUES} values"
                        ),
                    ));
                }
            };
            shape.push(d.unwrap_or(0));
        }
        self.total_values = self.total_values.saturating_add(count);
        if self.total_values > MAX_TOTAL_VALUES {
            return Err(self.node_err(
                node,
                format!("the file holds more than {MAX_TOTAL_VALUES} values in all"),
            ));
        }
        Ok(shape)
    }

    fn string(&mut self, ds: &Dataset, name: &str, node: &str) -> Result<String, NirError> {
        let values = self.strings(ds, name, node)?;
        match values.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(self.node_err(
                node,
                format!(
                    "dataset `{name}` holds {} strings, expected one",
                    values.len()
                ),
            )),
        }
    }

    fn strings(&mut self, ds: &Dataset, name: &str, node: &str) -> Result<Vec<String>, NirError> {
        let dtype = ds
            .dtype()
            .map_err(|e| self.node_err(node, format!("dataset `{name}`: {e}")))?;
        if !matches!(dtype, DType::String | DType::VariableLengthString) {
            return Err(self.node_err(
                node,
                format!("dataset `{name}` has type {dtype}, expected a string"),
            ));
        }
        let count: usize = self.shape(ds, name, node)?.iter().product();
        if count > MAX_EDGES * 2 {
            return Err(self.node_err(node, format!("dataset `{name}` holds too many strings")));
        }
        let options = hdf5_pure::VlenStringReadOptions::new()
            .with_max_elements(count.max(1))
            .with_max_payload_bytes(64 << 20);
        let result = if matches!(dtype, DType::VariableLengthString) {
            ds.read_vlen_strings(options)
        } else {
            ds.read_string()
        };
        result.map_err(|e| self.node_err(node, format!("dataset `{name}`: {e}")))
    }

    /// A floating-point parameter (float32 or float64; integers are accepted as exact values).
    fn array(&mut self, group: &Group, name: &str, node: &str) -> Result<Array, NirError> {
        let ds = self.dataset(group, name, node)?;
        let shape = self.shape(&ds, name, node)?;
        let dtype = ds
            .dtype()
            .map_err(|e| self.node_err(node, format!("dataset `{name}`: {e}")))?;
        if let Some(stored) = self.stored_less_than_announced(&ds, &shape, &dtype) {
            return Err(self.node_err(
                node,
                format!("dataset `{name}` has shape {shape:?} but the file stores {stored}"),
            ));
        }
        let data = match dtype {
            DType::F32
            | DType::F64
            | DType::I8
            | DType::I16
            | DType::I32
            | DType::I64
            | DType::U8
            | DType::U16
            | DType::U32
            | DType::U64 => ds
                .read_f64()
                .map_err(|e| self.node_err(node, format!("dataset `{name}`: {e}")))?,
            other => {
                return Err(self.node_err(
                    node,
                    format!(
                        "dataset `{name}` has type {other}, expected float32 or float64 numbers"
                    ),
                ));
            }
        };
        if data.len() != shape.iter().product::<usize>() {
            return Err(self.node_err(
                node,
                format!(
                    "dataset `{name}`: shape {shape:?} but {} values",
                    data.len()
                ),
            ));
        }
        if let Some(v) = data.iter().find(|v| !v.is_finite()) {
            return Err(self.node_err(
                node,
                format!("dataset `{name}` holds {v}, expected finite numbers"),
            ));
        }
        Ok(Array { shape, data })
    }

    /// What the file stores of a dataset whose shape announces more, so that the read does
    /// not allocate (and fill) for values the file does not hold: a contiguous or compact
    /// dataset's bytes, a chunked one's chunks (nir.write writes every chunk).
    fn stored_less_than_announced(
        &self,
        ds: &Dataset,
        shape: &[usize],
        dtype: &DType,
    ) -> Option<String> {
        let element_bytes: u64 = match dtype {
            DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            _ => 8,
        };
        let values = shape.iter().product::<usize>() as u64;
        match ds.layout().ok()? {
            hdf5_pure::Layout::Contiguous { size, .. } | hdf5_pure::Layout::Compact { size } => {
                let announced = values.checked_mul(element_bytes)?;
                (announced > size).then(|| format!("{size} of its {announced} bytes"))
            }
            hdf5_pure::Layout::Chunked { chunk_shape, .. } => {
                if chunk_shape.len() != shape.len() || chunk_shape.contains(&0) {
                    return None;
                }
                let needed = shape
                    .iter()
                    .zip(&chunk_shape)
                    .try_fold(1u64, |n, (&d, &c)| n.checked_mul((d as u64).div_ceil(c)))?;
                let stored = ds.chunks().ok()?.len() as u64;
                (stored < needed).then(|| format!("{stored} of its {needed} chunks"))
            }
            _ => None,
        }
    }

    /// A neuron parameter: [`Self::array`] of at most [`MAX_NEURON_VALUES`] values, checked
    /// from the dataset's shape before its values are read.
    fn neuron_array(&mut self, group: &Group, name: &str, node: &str) -> Result<Array, NirError> {
        let ds = self.dataset(group, name, node)?;
        let raw = ds
            .shape()
            .map_err(|e| self.node_err(node, format!("dataset `{name}`: {e}")))?;
        let count = raw
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?));
        if count.is_none_or(|n| n > MAX_NEURON_VALUES) {
            return Err(self.node_err(
                node,
                format!(
                    "neuron parameter `{name}` has shape {raw:?}: more than {MAX_NEURON_VALUES} neurons"
                ),
            ));
        }
        self.array(group, name, node)
    }

    fn optional_neuron_array(
        &mut self,
        group: &Group,
        names: &BTreeSet<String>,
        name: &str,
        node: &str,
    ) -> Result<Option<Array>, NirError> {
        if names.contains(name) {
            self.neuron_array(group, name, node).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Non-negative integers (shapes, strides, kernel sizes): integer datasets only.
    fn integers(&mut self, group: &Group, name: &str, node: &str) -> Result<Vec<i64>, NirError> {
        let ds = self.dataset(group, name, node)?;
        let shape = self.shape(&ds, name, node)?;
        if shape.iter().product::<usize>() > 64 {
            return Err(self.node_err(
                node,
                format!("dataset `{name}` has shape {shape:?}, expected a few integers"),
            ));
        }
        let dtype = ds
            .dtype()
            .map_err(|e| self.node_err(node, format!("dataset `{name}`: {e}")))?;
        match dtype {
            DType::I8
            | DType::I16
            | DType::I32
            | DType::I64
            | DType::U8
            | DType::U16
            | DType::U32
            | DType::U64 => ds
                .read_i64()
                .map_err(|e| self.node_err(node, format!("dataset `{name}`: {e}"))),
            other => Err(self.node_err(
                node,
                format!("dataset `{name}` has type {other}, expected integers"),
            )),
        }
    }

    fn sizes(&mut self, group: &Group, name: &str, node: &str) -> Result<Vec<usize>, NirError> {
        let values = self.integers(group, name, node)?;
        values
            .iter()
            .map(|&v| {
                usize::try_from(v)
                    .ok()
                    .filter(|&v| v < (1 << 31))
                    .ok_or_else(|| {
                        self.node_err(
                            node,
                            format!("dataset `{name}` holds {v}, expected a non-negative size"),
                        )
                    })
            })
            .collect()
    }

    fn read_graph(
        &mut self,
        group: &Group,
        prefix: &str,
        depth: usize,
        out: &mut NirGraph,
    ) -> Result<(), NirError> {
        let here = prefix.trim_end_matches('.');
        if depth >= MAX_DEPTH {
            return Err(self.node_err(
                here,
                format!("sub-graphs nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let names = self.names(group, here, true)?;
        for required in ["nodes", "edges"] {
            if !names.contains(required) {
                return Err(self.node_err(
                    here,
                    format!("a NIRGraph needs `{required}`; it is missing"),
                ));
            }
        }
        let nodes = group
            .group("nodes")
            .map_err(|e| self.hdf5(&format!("{here}/nodes"), e))?;
        let node_names = self.names(&nodes, here, true)?;
        self.nodes += node_names.len();
        if self.nodes > MAX_NODES {
            return Err(self.node_err(here, format!("more than {MAX_NODES} nodes")));
        }
        for name in &node_names {
            if name.is_empty() || name.contains('/') {
                return Err(self.node_err(here, format!("node name {name:?} is not usable")));
            }
            let full = format!("{prefix}{name}");
            let child = nodes.group(name).map_err(|e| self.hdf5(&full, e))?;
            self.read_node(&child, &full, depth, out)?;
        }
        let edges_ds = self.dataset(group, "edges", here)?;
        let shape = self.shape(&edges_ds, "edges", here)?;
        let strings = if shape.iter().product::<usize>() == 0 {
            Vec::new()
        } else {
            self.strings(&edges_ds, "edges", here)?
        };
        if !(shape.len() == 2 && shape[1] == 2 || strings.is_empty()) || strings.len() % 2 != 0 {
            return Err(self.node_err(
                here,
                format!("`edges` has shape {shape:?}, expected [n, 2] node names"),
            ));
        }
        self.edges += strings.len() / 2;
        if self.edges > MAX_EDGES {
            return Err(self.node_err(here, format!("more than {MAX_EDGES} edges")));
        }
        for pair in strings.chunks_exact(2) {
            // An edge may name a sub-graph (`g`) or a node inside it (`g.input`).
            out.edges.push((
                format!("{prefix}{}", pair[0]),
                format!("{prefix}{}", pair[1]),
            ));
        }
        Ok(())
    }

    fn read_node(
        &mut self,
        group: &Group,
        path: &str,
        depth: usize,
        out: &mut NirGraph,
    ) -> Result<(), NirError> {
        let names = self.names(group, path, true)?;
        if !names.contains("type") {
            return Err(self.node_err(path, "has no `type` dataset"));
        }
        let ds = self.dataset(group, "type", path)?;
        let kind = self.string(&ds, "type", path)?;
        let node = match kind.as_str() {
            "NIRGraph" => {
                self.read_graph(group, &format!("{path}."), depth + 1, out)?;
                // Edges naming the sub-graph itself go to its Input / come from its Output.
                self.redirect_subgraph(path, out);
                return Ok(());
            }
            "Input" | "Output" => {
                let shape = self.sizes(group, "shape", path)?;
                if kind == "Input" {
                    NirNode::Input { shape }
                } else {
                    NirNode::Output { shape }
                }
            }
            "Affine" => NirNode::Affine {
                weight: self.array(group, "weight", path)?,
                bias: self.array(group, "bias", path)?,
            },
            "Linear" => NirNode::Linear {
                weight: self.array(group, "weight", path)?,
            },
            "Scale" => NirNode::Scale {
                scale: self.array(group, "scale", path)?,
            },
            "Conv1d" | "Conv2d" => {
                let conv = Conv {
                    weight: self.array(group, "weight", path)?,
                    bias: self.array(group, "bias", path)?,
                    stride: self.sizes(group, "stride", path)?,
                    padding: self.padding(group, path)?,
                    dilation: self.sizes(group, "dilation", path)?,
                    groups: self
                        .sizes(group, "groups", path)?
                        .first()
                        .copied()
                        .unwrap_or(1),
                    input_shape: if names.contains("input_shape") {
                        Some(self.sizes(group, "input_shape", path)?)
                    } else {
                        None
                    },
                };
                if kind == "Conv1d" {
                    NirNode::Conv1d(conv)
                } else {
                    NirNode::Conv2d(conv)
                }
            }
            "SumPool2d" | "AvgPool2d" => {
                let pool = Pool {
                    kernel_size: self.sizes(group, "kernel_size", path)?,
                    stride: self.sizes(group, "stride", path)?,
                    padding: if names.contains("padding") {
                        self.sizes(group, "padding", path)?
                    } else {
                        vec![0, 0]
                    },
                };
                if kind == "SumPool2d" {
                    NirNode::SumPool2d(pool)
                } else {
                    NirNode::AvgPool2d(pool)
                }
            }
            "Flatten" => NirNode::Flatten {
                start_dim: self
                    .integers(group, "start_dim", path)?
                    .first()
                    .copied()
                    .unwrap_or(0),
                end_dim: self
                    .integers(group, "end_dim", path)?
                    .first()
                    .copied()
                    .unwrap_or(-1),
                input_type: if names.contains("input_type") {
                    Some(self.sizes(group, "input_type", path)?)
                } else {
                    None
                },
            },
            "LIF" => NirNode::Lif {
                tau: self.neuron_array(group, "tau", path)?,
                r: self.neuron_array(group, "r", path)?,
                v_leak: self.neuron_array(group, "v_leak", path)?,
                v_threshold: self.neuron_array(group, "v_threshold", path)?,
                v_reset: self.optional_neuron_array(group, &names, "v_reset", path)?,
            },
            "CubaLIF" => NirNode::CubaLif {
                tau_syn: self.neuron_array(group, "tau_syn", path)?,
                tau_mem: self.neuron_array(group, "tau_mem", path)?,
                r: self.neuron_array(group, "r", path)?,
                v_leak: self.neuron_array(group, "v_leak", path)?,
                v_threshold: self.neuron_array(group, "v_threshold", path)?,
                v_reset: self.optional_neuron_array(group, &names, "v_reset", path)?,
                w_in: self.optional_neuron_array(group, &names, "w_in", path)?,
            },
            "IF" => NirNode::If {
                r: self.neuron_array(group, "r", path)?,
                v_threshold: self.neuron_array(group, "v_threshold", path)?,
                v_reset: self.optional_neuron_array(group, &names, "v_reset", path)?,
            },
            "LI" => NirNode::Li {
                tau: self.neuron_array(group, "tau", path)?,
                r: self.neuron_array(group, "r", path)?,
                v_leak: self.neuron_array(group, "v_leak", path)?,
            },
            "I" => NirNode::Integrator {
                r: self.neuron_array(group, "r", path)?,
            },
            "Threshold" => NirNode::Threshold {
                threshold: self.neuron_array(group, "threshold", path)?,
            },
            "Delay" => NirNode::Delay {
                delay: self.array(group, "delay", path)?,
            },
            other => NirNode::Unknown {
                kind: other.chars().take(64).collect(),
            },
        };
        out.nodes.insert(path.to_string(), node);
        Ok(())
    }

    /// Conv padding: integers per dimension, or the strings `same` / `valid`.
    fn padding(&mut self, group: &Group, path: &str) -> Result<Padding, NirError> {
        let ds = self.dataset(group, "padding", path)?;
        let dtype = ds
            .dtype()
            .map_err(|e| self.node_err(path, format!("dataset `padding`: {e}")))?;
        if matches!(dtype, DType::String | DType::VariableLengthString) {
            let s = self.string(&ds, "padding", path)?;
            return match s.as_str() {
                "same" => Ok(Padding::Same),
                "valid" => Ok(Padding::Valid),
                other => Err(self.node_err(
                    path,
                    format!("padding {other:?}: expected integers, \"same\" or \"valid\""),
                )),
            };
        }
        self.sizes(group, "padding", path).map(Padding::Explicit)
    }

    /// Edges of the enclosing graph that name sub-graph `path` itself are sent to its single
    /// `Input` (as destination) or taken from its single `Output` (as source).
    fn redirect_subgraph(&self, path: &str, out: &mut NirGraph) {
        let inner = |want_input: bool| -> Vec<String> {
            out.nodes
                .iter()
                .filter(|(name, node)| {
                    name.strip_prefix(path)
                        .and_then(|rest| rest.strip_prefix('.'))
                        .is_some_and(|rest| !rest.contains('.'))
                        && if want_input {
                            matches!(node, NirNode::Input { .. })
                        } else {
                            matches!(node, NirNode::Output { .. })
                        }
                })
                .map(|(name, _)| name.clone())
                .collect()
        };
        let (inputs, outputs) = (inner(true), inner(false));
        // The enclosing graph's edges are read after its nodes, so record the mapping now.
        out.nodes.insert(
            path.to_string(),
            NirNode::Unknown {
                kind: format!(
                    "\u{0}subgraph:{}:{}",
                    if inputs.len() == 1 {
                        inputs[0].as_str()
                    } else {
                        ""
                    },
                    if outputs.len() == 1 {
                        outputs[0].as_str()
                    } else {
                        ""
                    }
                ),
            },
        );
    }
}

/// Replaces edges naming a sub-graph by edges to its `Input` / from its `Output`, and drops
/// the placeholder nodes [`Reader::redirect_subgraph`] left.
pub(crate) fn resolve_subgraphs(graph: &mut NirGraph, path: &Path) -> Result<(), NirError> {
    let placeholders: Vec<(String, String, String)> = graph
        .nodes
        .iter()
        .filter_map(|(name, node)| match node {
            NirNode::Unknown { kind } => kind.strip_prefix("\u{0}subgraph:").map(|rest| {
                let (i, o) = rest.split_once(':').unwrap_or((rest, ""));
                (name.clone(), i.to_string(), o.to_string())
            }),
            _ => None,
        })
        .collect();
    for (name, input, output) in placeholders {
        graph.nodes.remove(&name);
        for (a, b) in &mut graph.edges {
            if *b == name {
                if input.is_empty() {
                    return Err(NirError::Graph {
                        path: path.to_path_buf(),
                        message: format!(
                            "an edge enters sub-graph {name}, which does not have exactly one Input node"
                        ),
                    });
                }
                *b = input.clone();
            }
            if *a == name {
                if output.is_empty() {
                    return Err(NirError::Graph {
                        path: path.to_path_buf(),
                        message: format!(
                            "an edge leaves sub-graph {name}, which does not have exactly one Output node"
                        ),
                    });
                }
                *a = output.clone();
            }
        }
    }
    Ok(())
}
