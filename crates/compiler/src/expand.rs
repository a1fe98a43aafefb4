//! Expands a projection's pipeline of linear ops into one synapse matrix, stored by
//! postsynaptic neuron (CSR): `avg_pool` followed by `conv2d` becomes a single larger kernel.

use lifchip_net::LinearOp;

/// Synapses grouped by postsynaptic neuron: neuron `i`'s inputs are
/// `pre[offsets[i]..offsets[i+1]]` with weights `weight[...]`, presynaptic indices ascending.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fanin<W> {
    pub offsets: Vec<usize>,
    pub pre: Vec<u32>,
    pub weight: Vec<W>,
}

impl<W: Copy> Fanin<W> {
    pub fn num_post(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn num_synapses(&self) -> usize {
        self.pre.len()
    }

    /// The `(pre, weight)` inputs of postsynaptic neuron `post`.
    pub fn inputs(&self, post: usize) -> impl Iterator<Item = (u32, W)> + '_ {
        let range = self.offsets[post]..self.offsets[post + 1];
        self.pre[range.clone()]
            .iter()
            .copied()
            .zip(self.weight[range].iter().copied())
    }

    pub fn fanin(&self, post: usize) -> usize {
        self.offsets[post + 1] - self.offsets[post]
    }

    /// Applies `f` to every weight, keeping the structure; entries mapped to `None` are dropped.
    pub fn map<V>(&self, mut f: impl FnMut(W) -> Option<V>) -> Fanin<V> {
        let mut out = Fanin {
            offsets: Vec::with_capacity(self.offsets.len()),
            pre: Vec::with_capacity(self.pre.len()),
            weight: Vec::with_capacity(self.pre.len()),
        };
        out.offsets.push(0);
        for post in 0..self.num_post() {
            for (p, w) in self.inputs(post) {
                if let Some(v) = f(w) {
                    out.pre.push(p);
                    out.weight.push(v);
                }
            }
            out.offsets.push(out.pre.len());
        }
        out
    }
}

/// One op's synapses by output, built in two passes over the op (count, then fill) so that no
/// per-output lists are allocated.
fn op_fanin(op: &LinearOp, input: &[usize], n_out: usize) -> Fanin<f32> {
    let mut offsets = vec![0usize; n_out + 1];
    op.for_each_synapse(input, |_, o, _| offsets[o + 1] += 1);
    for k in 0..n_out {
        offsets[k + 1] += offsets[k];
    }
    let total = offsets[n_out];
    let mut cursor = offsets.clone();
    let mut pre = vec![0u32; total];
    let mut weight = vec![0f32; total];
    op.for_each_synapse(input, |i, o, w| {
        pre[cursor[o]] = i as u32;
        weight[cursor[o]] = w;
        cursor[o] += 1;
    });
    // Rows come out sorted for every op but `sparse`, whose lists may also name a pair twice
    // (the weights add): those rows are sorted and merged.
    let sorted_unique =
        (0..n_out).all(|o| pre[offsets[o]..offsets[o + 1]].is_sorted_by(|a, b| a < b));
    if sorted_unique {
        return Fanin {
            offsets,
            pre,
            weight,
        };
    }
    let mut out = Fanin {
        offsets: vec![0],
        pre: Vec::with_capacity(total),
        weight: Vec::with_capacity(total),
    };
    for o in 0..n_out {
        let mut row: Vec<(u32, f32)> = (offsets[o]..offsets[o + 1])
            .map(|k| (pre[k], weight[k]))
            .collect();
        row.sort_by_key(|(p, _)| *p);
        let mut k = 0;
        while k < row.len() {
            let (p, mut w) = row[k];
            k += 1;
            while k < row.len() && row[k].0 == p {
                w += row[k].1;
                k += 1;
            }
            out.pre.push(p);
            out.weight.push(w);
        }
        out.offsets.push(out.pre.len());
    }
    out
}

/// Composes `ops` applied to an input of shape `input` into one matrix.
/// The shapes must already be valid (the net was validated).
pub fn expand(ops: &[LinearOp], input: &[usize]) -> Fanin<f32> {
    let n_in: usize = input.iter().product();
    let mut shape = input.to_vec();
    let mut current: Option<Fanin<f32>> = None;
    for op in ops {
        let out_shape = op.output_shape(&shape).unwrap_or_else(|_| vec![0]);
        if matches!(op, LinearOp::Flatten) {
            shape = out_shape;
            continue;
        }
        let n_out: usize = out_shape.iter().product();
        let stage = op_fanin(op, &shape, n_out);
        current = Some(match current {
            None => stage,
            Some(prev) => compose(&prev, &stage, n_in),
        });
        shape = out_shape;
    }
    current.unwrap_or_else(|| identity(n_in))
}

fn identity(n: usize) -> Fanin<f32> {
    Fanin {
        offsets: (0..=n).collect(),
        pre: (0..n as u32).collect(),
        weight: vec![1.0; n],
    }
}

/// `second ∘ first`: each output of `second` sums its inputs' own input rows.
fn compose(first: &Fanin<f32>, second: &Fanin<f32>, n_in: usize) -> Fanin<f32> {
    let mut acc = vec![0.0f32; n_in];
    let mut touched: Vec<u32> = Vec::new();
    let mut seen = vec![false; n_in];
    let mut out = Fanin {
        offsets: vec![0],
        pre: Vec::new(),
        weight: Vec::new(),
    };
    for post in 0..second.num_post() {
        for (mid, w2) in second.inputs(post) {
            for (pre, w1) in first.inputs(mid as usize) {
                let p = pre as usize;
                if !seen[p] {
                    seen[p] = true;
                    touched.push(pre);
                }
                acc[p] += w1 * w2;
            }
        }
        if touched.len() * 8 >= n_in {
            // Dense rows: a scan of the inputs is sorted by construction and cheaper than a sort.
            for p in 0..n_in {
                if seen[p] {
                    out.pre.push(p as u32);
                    out.weight.push(acc[p]);
                    acc[p] = 0.0;
                    seen[p] = false;
                }
            }
        } else {
            touched.sort_unstable();
            for &p in &touched {
                out.pre.push(p);
                out.weight.push(acc[p as usize]);
                acc[p as usize] = 0.0;
                seen[p as usize] = false;
            }
        }
        touched.clear();
        out.offsets.push(out.pre.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifchip_net::Tensor;

    #[test]
    fn pool_then_dense_composes() {
        let ops = vec![
            LinearOp::AvgPool {
                size: [2, 2],
                stride: None,
            },
            LinearOp::Flatten,
            LinearOp::Dense {
                weights: Tensor::new(vec![1, 1], vec![2.0]),
            },
        ];
        let f = expand(&ops, &[1, 2, 2]);
        assert_eq!(f.num_post(), 1);
        assert_eq!(f.pre, vec![0, 1, 2, 3]);
        assert_eq!(f.weight, vec![0.5; 4]);
    }

    #[test]
    fn duplicate_sparse_pairs_add() {
        let ops = vec![LinearOp::Sparse {
            outputs: 2,
            pre: lifchip_net::Indices::new(vec![1, 1, 0]),
            post: lifchip_net::Indices::new(vec![0, 0, 1]),
            weights: Tensor::new(vec![3], vec![1.0, 2.0, 5.0]),
        }];
        let f = expand(&ops, &[2]);
        assert_eq!(f.offsets, vec![0, 1, 2]);
        assert_eq!(f.inputs(0).collect::<Vec<_>>(), vec![(1, 3.0)]);
        assert_eq!(f.inputs(1).collect::<Vec<_>>(), vec![(0, 5.0)]);
    }
}
