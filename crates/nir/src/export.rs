//! A float lifchip net → NIR (`docs/nir.md`, "Export"), and a NIR graph → HDF5 bytes in the
//! layout `nir.read` expects.

use std::path::Path;

use hdf5_pure::{FileBuilder, GroupBuilder};
use lifchip_net::{LifFire, LinearOp, Net, Neuron};

use crate::NirError;
use crate::graph::{Array, Conv, NirGraph, NirNode, Padding, Pool};

/// The NIR version written (the layout of `nir` 1.0.x).
pub const NIR_VERSION: &str = "1.0.8";
/// Most values of one dense `Linear` made from a sparse projection.
const MAX_DENSE_FROM_SPARSE: usize = 1 << 24;

fn array(shape: &[usize], data: impl IntoIterator<Item = f32>) -> Array {
    Array {
        shape: shape.to_vec(),
        data: data.into_iter().map(f64::from).collect(),
    }
}

fn per_neuron(t: &lifchip_net::Tensor, n: usize) -> Vec<f64> {
    t.broadcast(n)
        .unwrap_or_else(|| vec![0.0; n])
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Converts a float net (soft-LIF or imported `lif` populations) into a NIR graph at `dt`:
/// populations become neuron nodes, each projection a chain of linear nodes. A soft-LIF
/// population becomes a LIF node with `tau = tau_rc`, `r = gain`, threshold 1 and reset 0 (the
/// refractory period is dropped); its constant drive `gain * bias + 1` is the current
/// `bias + 1 / gain` added to the bias of its incoming projection's last op where that is a
/// dense op or a conv with one value per channel (`v_leak = 0`), else `v_leak = gain * bias +
/// 1`. A projection leaving it
/// has its weights multiplied by `amplitude / dt`, since a NIR spike is worth 1 for one tick.
pub fn from_net(net: &Net, dt: f64) -> Result<NirGraph, String> {
    if !(dt.is_finite() && dt > 0.0) {
        return Err(format!("dt = {dt}: expected a positive number of seconds"));
    }
    let mut graph = NirGraph {
        version: NIR_VERSION.into(),
        ..NirGraph::default()
    };
    let mut problems = Vec::new();
    let mut spike_value = std::collections::HashMap::new();
    // A lif population's bias travels as the bias of its first incoming projection's last op
    // when that op is dense (Affine) or a conv with one bias per channel: what importers that
    // know no v_leak (snnTorch) read. Otherwise it joins v_leak (exact without a current).
    let mut current_bias: std::collections::HashMap<String, Vec<f64>> =
        std::collections::HashMap::new();
    for p in &net.populations {
        let bias = match &p.neuron {
            Neuron::Lif(l) => per_neuron(&l.bias, p.size()),
            // A soft-LIF's whole constant drive `gain * bias + 1` is the input current
            // `bias + 1 / gain` (with `r = gain`), so it can travel as a bias too and leave
            // `v_leak = 0`, which importers that know no `v_leak` (snnTorch) need.
            Neuron::SoftLif(s) if s.gain.is_finite() && s.gain != 0.0 => {
                let inv = 1.0 / f64::from(s.gain);
                per_neuron(&s.bias, p.size())
                    .into_iter()
                    .map(|b| b + inv)
                    .collect()
            }
            _ => continue,
        };
        if bias.iter().all(|&b| b == 0.0) {
            continue;
        }
        let carrier = net
            .projections
            .iter()
            .find(|pr| pr.to == p.name)
            .and_then(|pr| match pr.ops.last() {
                Some(LinearOp::Dense { .. }) => Some(bias.clone()),
                Some(LinearOp::Conv2d { out_channels, .. }) => {
                    let per = bias.len() / (*out_channels).max(1);
                    let uniform = per > 0 && bias.chunks(per).all(|c| c.iter().all(|&b| b == c[0]));
                    uniform.then(|| bias.iter().step_by(per).copied().collect())
                }
                _ => None,
            });
        if let Some(b) = carrier {
            current_bias.insert(p.name.clone(), b);
        }
    }
    for p in &net.populations {
        let n = p.size();
        let shape: Vec<usize> = p.shape.clone();
        let node = match &p.neuron {
            Neuron::Input => NirNode::Input {
                shape: shape.clone(),
            },
            Neuron::SoftLif(s) => {
                spike_value.insert(p.name.clone(), f64::from(s.amplitude) / dt);
                let bias = per_neuron(&s.bias, n);
                let gain = f64::from(s.gain);
                // Carried as the incoming projection's bias where it can be, else here.
                let carried = current_bias.contains_key(&p.name);
                NirNode::Lif {
                    tau: array(&shape, std::iter::repeat_n(s.tau_rc, n)),
                    r: array(&shape, std::iter::repeat_n(s.gain, n)),
                    v_leak: Array {
                        shape: shape.clone(),
                        data: if carried {
                            vec![0.0; n]
                        } else {
                            bias.iter().map(|b| gain * b + 1.0).collect()
                        },
                    },
                    v_threshold: array(&shape, std::iter::repeat_n(1.0, n)),
                    v_reset: Some(array(&shape, std::iter::repeat_n(0.0, n))),
                }
            }
            Neuron::Lif(l) => {
                let ldt = f64::from(l.dt);
                let keep = per_neuron(&l.voltage_keep, n);
                let gain = per_neuron(&l.voltage_gain, n);
                let bias = per_neuron(&l.bias, n);
                // Without a synaptic current a constant input is a constant drive of v:
                // gain * bias joins the leak term exactly.
                let carried = current_bias.contains_key(&p.name);
                let folded = if l.current.is_none() && !carried {
                    1.0
                } else {
                    0.0
                };
                let leak: Vec<f64> = per_neuron(&l.leak, n)
                    .iter()
                    .zip(&gain)
                    .zip(&bias)
                    .map(|((l, g), b)| l + folded * g * b)
                    .collect();
                if l.current.is_some() && !carried && bias.iter().any(|&b| b != 0.0) {
                    problems.push(format!(
                        "population {}: its bias feeds a synaptic current, and its first incoming projection does not end in a dense or per-channel conv op to carry it",
                        p.name
                    ));
                }
                let to_array = |v: Vec<f64>| Array {
                    shape: shape.clone(),
                    data: v,
                };
                if keep.iter().all(|&k| k == 1.0) && l.current.is_none() {
                    if leak.iter().any(|&x| x != 0.0) {
                        problems.push(format!(
                            "population {}: an integrator with a constant drive (bias or leak) has no NIR node",
                            p.name
                        ));
                    }
                    let r: Vec<f64> = gain.iter().map(|g| g / ldt).collect();
                    if l.fire == LifFire::Never {
                        NirNode::Integrator { r: to_array(r) }
                    } else {
                        NirNode::If {
                            r: to_array(r),
                            v_threshold: to_array(per_neuron(&l.threshold, n)),
                            v_reset: Some(to_array(per_neuron(&l.v_reset, n))),
                        }
                    }
                } else if keep.iter().any(|&k| k >= 1.0) {
                    problems.push(format!(
                        "population {}: voltage_keep >= 1 mixed with leaky neurons",
                        p.name
                    ));
                    continue;
                } else {
                    let tau: Vec<f64> = keep.iter().map(|k| ldt / (1.0 - k)).collect();
                    let r: Vec<f64> = gain.iter().zip(&tau).map(|(g, t)| g * t / ldt).collect();
                    let v_leak: Vec<f64> =
                        leak.iter().zip(&tau).map(|(l, t)| l * t / ldt).collect();
                    match (&l.current, l.fire) {
                        (None, LifFire::Never) => NirNode::Li {
                            tau: to_array(tau),
                            r: to_array(r),
                            v_leak: to_array(v_leak),
                        },
                        (None, _) => NirNode::Lif {
                            tau: to_array(tau),
                            r: to_array(r),
                            v_leak: to_array(v_leak),
                            v_threshold: to_array(per_neuron(&l.threshold, n)),
                            v_reset: Some(to_array(per_neuron(&l.v_reset, n))),
                        },
                        (Some(c), _) => {
                            let ikeep = per_neuron(&c.keep, n);
                            let tau_syn: Vec<f64> = ikeep.iter().map(|k| ldt / (1.0 - k)).collect();
                            let w_in: Vec<f64> = per_neuron(&c.gain, n)
                                .iter()
                                .zip(&tau_syn)
                                .map(|(g, t)| g * t / ldt)
                                .collect();
                            NirNode::CubaLif {
                                tau_syn: to_array(tau_syn),
                                tau_mem: to_array(tau),
                                r: to_array(r),
                                v_leak: to_array(v_leak),
                                v_threshold: to_array(per_neuron(&l.threshold, n)),
                                v_reset: Some(to_array(per_neuron(&l.v_reset, n))),
                                w_in: Some(to_array(w_in)),
                            }
                        }
                    }
                }
            }
            Neuron::ChipLif(_) | Neuron::Relu(_) => {
                problems.push(format!(
                    "population {}: {} neurons have no NIR equivalent (export float spiking nets)",
                    p.name,
                    p.neuron.kind_name()
                ));
                continue;
            }
        };
        graph.nodes.insert(p.name.clone(), node);
    }
    for pr in &net.projections {
        let Some(from) = net.population(&pr.from) else {
            continue;
        };
        let factor = spike_value.get(&pr.from).copied().unwrap_or(1.0) as f32;
        let mut shape = from.shape.clone();
        let mut prev = pr.from.clone();
        for (k, op) in pr.ops.iter().enumerate() {
            let name = format!("{}_{k}", pr.name);
            let out = match op.output_shape(&shape) {
                Ok(s) => s,
                Err(m) => {
                    problems.push(format!("projection {}: {m}", pr.name));
                    break;
                }
            };
            let scaled = |w: &[f32]| -> Vec<f32> {
                if k == 0 {
                    w.iter().map(|v| v * factor).collect()
                } else {
                    w.to_vec()
                }
            };
            let last = k + 1 == pr.ops.len();
            // lifchip's dense and sparse ops take any input shape as its flat vector; a NIR
            // Linear/Affine takes a vector: a Flatten node first, as PyTorch nets have.
            if matches!(op, LinearOp::Dense { .. } | LinearOp::Sparse { .. }) && shape.len() > 1 {
                let flat_name = format!("{name}_flatten");
                graph.nodes.insert(
                    flat_name.clone(),
                    NirNode::Flatten {
                        start_dim: 0,
                        end_dim: -1,
                        input_type: Some(shape.clone()),
                    },
                );
                graph.edges.push((prev.clone(), flat_name.clone()));
                prev = flat_name;
            }
            let node = match op {
                LinearOp::Dense { weights } => match if last {
                    current_bias.remove(&pr.to)
                } else {
                    None
                } {
                    Some(bias) => NirNode::Affine {
                        weight: array(&weights.shape, scaled(&weights.data)),
                        bias: Array::vector(bias),
                    },
                    None => NirNode::Linear {
                        weight: array(&weights.shape, scaled(&weights.data)),
                    },
                },
                LinearOp::Sparse {
                    outputs,
                    pre,
                    post,
                    weights,
                } => {
                    let n_in: usize = shape.iter().product();
                    if outputs.saturating_mul(n_in) > MAX_DENSE_FROM_SPARSE {
                        problems.push(format!(
                            "projection {}: a sparse op of {outputs}x{n_in} is too large to write as a dense NIR Linear",
                            pr.name
                        ));
                        break;
                    }
                    let mut dense = vec![0f32; outputs * n_in];
                    let w = scaled(&weights.data);
                    for ((&i, &o), &v) in pre.data.iter().zip(&post.data).zip(&w) {
                        dense[o as usize * n_in + i as usize] += v;
                    }
                    NirNode::Linear {
                        weight: array(&[*outputs, n_in], dense),
                    }
                }
                LinearOp::Conv2d {
                    out_channels,
                    stride,
                    padding,
                    weights,
                    ..
                } => NirNode::Conv2d(Conv {
                    weight: array(&weights.shape, scaled(&weights.data)),
                    bias: match if last {
                        current_bias.remove(&pr.to)
                    } else {
                        None
                    } {
                        Some(b) => Array::vector(b),
                        None => array(&[*out_channels], std::iter::repeat_n(0.0, *out_channels)),
                    },
                    stride: stride.to_vec(),
                    padding: Padding::Explicit(padding.to_vec()),
                    dilation: vec![1, 1],
                    groups: 1,
                    input_shape: Some(shape[1..].to_vec()),
                }),
                LinearOp::AvgPool { size, stride } => {
                    if k == 0 && factor != 1.0 {
                        // A scale first keeps the pooling node plain.
                        let scale_name = format!("{}_scale", pr.name);
                        graph.nodes.insert(
                            scale_name.clone(),
                            NirNode::Scale {
                                scale: array(
                                    &shape,
                                    std::iter::repeat_n(factor, shape.iter().product()),
                                ),
                            },
                        );
                        graph.edges.push((prev.clone(), scale_name.clone()));
                        prev = scale_name;
                    }
                    NirNode::AvgPool2d(Pool {
                        kernel_size: size.to_vec(),
                        stride: stride.unwrap_or(*size).to_vec(),
                        padding: vec![0, 0],
                    })
                }
                LinearOp::Flatten => {
                    if k == 0 && factor != 1.0 {
                        let scale_name = format!("{}_scale", pr.name);
                        graph.nodes.insert(
                            scale_name.clone(),
                            NirNode::Scale {
                                scale: array(
                                    &shape,
                                    std::iter::repeat_n(factor, shape.iter().product()),
                                ),
                            },
                        );
                        graph.edges.push((prev.clone(), scale_name.clone()));
                        prev = scale_name;
                    }
                    NirNode::Flatten {
                        start_dim: 0,
                        end_dim: -1,
                        input_type: Some(shape.clone()),
                    }
                }
            };
            graph.nodes.insert(name.clone(), node);
            graph.edges.push((prev, name.clone()));
            prev = name;
            shape = out;
        }
        graph.edges.push((prev, pr.to.clone()));
    }
    if let Some(out) = net.output() {
        graph.nodes.insert(
            "output".into(),
            NirNode::Output {
                shape: out.shape.clone(),
            },
        );
        graph.edges.push((out.name.clone(), "output".into()));
    }
    if problems.is_empty() {
        Ok(graph)
    } else {
        Err(problems.join("\n  "))
    }
}

fn put_array(g: &mut GroupBuilder, name: &str, a: &Array) {
    let data: Vec<f32> = a.data.iter().map(|&v| v as f32).collect();
    let shape: Vec<u64> = a.shape.iter().map(|&d| d as u64).collect();
    g.create_dataset(name)
        .with_f32_data(&data)
        .with_shape(&shape);
}

fn put_ints(g: &mut GroupBuilder, name: &str, v: &[i64], scalar: bool) {
    let ds = g.create_dataset(name);
    ds.with_i64_data(v);
    if scalar {
        ds.with_shape(&[]);
    }
}

fn put_sizes(g: &mut GroupBuilder, name: &str, v: &[usize]) {
    let v: Vec<i64> = v.iter().map(|&x| x as i64).collect();
    put_ints(g, name, &v, false);
}

fn put_str(g: &mut GroupBuilder, name: &str, s: &str) {
    g.create_dataset(name)
        .with_vlen_strings(&[s])
        .with_shape(&[]);
}

fn put_node(g: &mut GroupBuilder, node: &NirNode) {
    put_str(g, "type", node.kind());
    match node {
        NirNode::Input { shape } | NirNode::Output { shape } => put_sizes(g, "shape", shape),
        NirNode::Affine { weight, bias } => {
            put_array(g, "weight", weight);
            put_array(g, "bias", bias);
        }
        NirNode::Linear { weight } => put_array(g, "weight", weight),
        NirNode::Scale { scale } => put_array(g, "scale", scale),
        NirNode::Conv1d(c) | NirNode::Conv2d(c) => {
            put_array(g, "weight", &c.weight);
            put_array(g, "bias", &c.bias);
            put_sizes(g, "stride", &c.stride);
            match &c.padding {
                Padding::Explicit(p) => put_sizes(g, "padding", p),
                Padding::Same => put_str(g, "padding", "same"),
                Padding::Valid => put_str(g, "padding", "valid"),
            }
            put_sizes(g, "dilation", &c.dilation);
            put_ints(g, "groups", &[c.groups as i64], true);
            if let Some(s) = &c.input_shape {
                put_sizes(g, "input_shape", s);
            }
        }
        NirNode::SumPool2d(p) | NirNode::AvgPool2d(p) => {
            put_sizes(g, "kernel_size", &p.kernel_size);
            put_sizes(g, "stride", &p.stride);
            put_sizes(g, "padding", &p.padding);
        }
        NirNode::Flatten {
            start_dim,
            end_dim,
            input_type,
        } => {
            put_ints(g, "start_dim", &[*start_dim], true);
            put_ints(g, "end_dim", &[*end_dim], true);
            if let Some(t) = input_type {
                put_sizes(g, "input_type", t);
            }
        }
        NirNode::Lif {
            tau,
            r,
            v_leak,
            v_threshold,
            v_reset,
        } => {
            put_array(g, "tau", tau);
            put_array(g, "r", r);
            put_array(g, "v_leak", v_leak);
            put_array(g, "v_threshold", v_threshold);
            if let Some(v) = v_reset {
                put_array(g, "v_reset", v);
            }
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
            put_array(g, "tau_syn", tau_syn);
            put_array(g, "tau_mem", tau_mem);
            put_array(g, "r", r);
            put_array(g, "v_leak", v_leak);
            put_array(g, "v_threshold", v_threshold);
            if let Some(v) = v_reset {
                put_array(g, "v_reset", v);
            }
            if let Some(v) = w_in {
                put_array(g, "w_in", v);
            }
        }
        NirNode::If {
            r,
            v_threshold,
            v_reset,
        } => {
            put_array(g, "r", r);
            put_array(g, "v_threshold", v_threshold);
            if let Some(v) = v_reset {
                put_array(g, "v_reset", v);
            }
        }
        NirNode::Li { tau, r, v_leak } => {
            put_array(g, "tau", tau);
            put_array(g, "r", r);
            put_array(g, "v_leak", v_leak);
        }
        NirNode::Integrator { r } => put_array(g, "r", r),
        NirNode::Threshold { threshold } => put_array(g, "threshold", threshold),
        NirNode::Delay { delay } => put_array(g, "delay", delay),
        NirNode::Unknown { .. } => {}
    }
}

/// The HDF5 bytes of a flat NIR graph, as `nir.write` lays it out.
pub fn to_bytes(graph: &NirGraph) -> Result<Vec<u8>, String> {
    let mut file = FileBuilder::new();
    let version = if graph.version.is_empty() {
        NIR_VERSION
    } else {
        graph.version.as_str()
    };
    file.create_dataset("version")
        .with_vlen_strings(&[version])
        .with_shape(&[]);
    let mut top = file.create_group("node");
    put_str(&mut top, "type", "NIRGraph");
    let mut nodes = top.create_group("nodes");
    for (name, node) in &graph.nodes {
        let mut g = nodes.create_group(name);
        put_node(&mut g, node);
        nodes.add_group(g.finish());
    }
    top.add_group(nodes.finish());
    let flat: Vec<&str> = graph
        .edges
        .iter()
        .flat_map(|(a, b)| [a.as_str(), b.as_str()])
        .collect();
    top.create_dataset("edges")
        .with_vlen_strings(&flat)
        .with_shape(&[graph.edges.len() as u64, 2]);
    file.add_group(top.finish());
    file.finish().map_err(|e| e.to_string())
}

/// Writes `net` as a NIR file at `path`, atomically (see [`from_net`]).
pub fn export(net: &Net, path: &Path, dt: f64) -> Result<(), NirError> {
    let err = |message: String| NirError::Net {
        path: path.to_path_buf(),
        message,
    };
    let graph =
        from_net(net, dt).map_err(|m| err(format!("cannot export net {:?}:\n  {m}", net.name)))?;
    let bytes = to_bytes(&graph).map_err(|m| err(format!("cannot encode HDF5: {m}")))?;
    lifchip_files::write_atomic(path, &bytes).map_err(|source| NirError::Io {
        path: path.to_path_buf(),
        source,
    })
}
