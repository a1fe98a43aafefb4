//! The linear operations a projection is made of, their shape rules and their synapses.

use serde::{Deserialize, Serialize};

use crate::{NetError, Tensor, tensor::Indices};

/// A population or tensor shape: `[n]` for a flat layer, `[channels, height, width]` for images.
pub type Shape = Vec<usize>;

fn one() -> [usize; 2] {
    [1, 1]
}

fn zero() -> [usize; 2] {
    [0, 0]
}

/// One linear stage of a projection. A projection applies its ops in order, so `[avg_pool,
/// conv2d]` means "pool the presynaptic rates, then convolve": the composition is still linear,
/// and the compiler folds it into one synapse matrix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    deny_unknown_fields,
    from = "repr::LinearOpRepr"
)]
pub enum LinearOp {
    /// Fully connected: `weights` has shape `[outputs, inputs]`; the input may have any shape.
    Dense { weights: Tensor },
    /// An explicit synapse list: synapse `k` goes from input `pre[k]` to output `post[k]`.
    Sparse {
        outputs: usize,
        pre: Indices,
        post: Indices,
        weights: Tensor,
    },
    /// 2-D convolution (cross-correlation) over a `[c, h, w]` input with zero padding;
    /// `weights` has shape `[out_channels, in_channels, kernel_h, kernel_w]`.
    Conv2d {
        out_channels: usize,
        kernel: [usize; 2],
        #[serde(default = "one")]
        stride: [usize; 2],
        #[serde(default = "zero")]
        padding: [usize; 2],
        weights: Tensor,
    },
    /// Average pooling over `size` windows (stride defaults to the size), per channel.
    AvgPool {
        size: [usize; 2],
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<[usize; 2]>,
    },
    /// `[c, h, w]` to `[c*h*w]`, row-major; no synapses of its own.
    Flatten,
}

/// How an op is read: serde buffers the content of an internally tagged enum and loses the
/// field path of an error inside it, so each variant is read as a struct through
/// [`crate::de::tracked`] (`projections[1].ops[0].outputs: …`, not `projections[1].ops[0]: …`).
mod repr {
    use super::{LinearOp, one, zero};
    use crate::{Tensor, de::tracked, tensor::Indices};
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub(super) enum LinearOpRepr {
        Dense(#[serde(deserialize_with = "tracked")] Dense),
        Sparse(#[serde(deserialize_with = "tracked")] Sparse),
        Conv2d(#[serde(deserialize_with = "tracked")] Conv2d),
        AvgPool(#[serde(deserialize_with = "tracked")] AvgPool),
        Flatten(#[serde(deserialize_with = "tracked")] Flatten),
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Dense {
        weights: Tensor,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Sparse {
        outputs: usize,
        pre: Indices,
        post: Indices,
        weights: Tensor,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Conv2d {
        out_channels: usize,
        kernel: [usize; 2],
        #[serde(default = "one")]
        stride: [usize; 2],
        #[serde(default = "zero")]
        padding: [usize; 2],
        weights: Tensor,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct AvgPool {
        size: [usize; 2],
        #[serde(default)]
        stride: Option<[usize; 2]>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Flatten {}

    impl From<LinearOpRepr> for LinearOp {
        fn from(r: LinearOpRepr) -> Self {
            match r {
                LinearOpRepr::Dense(Dense { weights }) => LinearOp::Dense { weights },
                LinearOpRepr::Sparse(Sparse {
                    outputs,
                    pre,
                    post,
                    weights,
                }) => LinearOp::Sparse {
                    outputs,
                    pre,
                    post,
                    weights,
                },
                LinearOpRepr::Conv2d(Conv2d {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    weights,
                }) => LinearOp::Conv2d {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    weights,
                },
                LinearOpRepr::AvgPool(AvgPool { size, stride }) => {
                    LinearOp::AvgPool { size, stride }
                }
                LinearOpRepr::Flatten(Flatten {}) => LinearOp::Flatten,
            }
        }
    }
}

impl LinearOp {
    pub fn name(&self) -> &'static str {
        match self {
            LinearOp::Dense { .. } => "dense",
            LinearOp::Sparse { .. } => "sparse",
            LinearOp::Conv2d { .. } => "conv2d",
            LinearOp::AvgPool { .. } => "avg_pool",
            LinearOp::Flatten => "flatten",
        }
    }

    /// The shape this op produces from `input`, or why it cannot take that input.
    pub fn output_shape(&self, input: &[usize]) -> Result<Shape, String> {
        let in_size: usize = input.iter().product();
        match self {
            LinearOp::Dense { weights } => {
                if weights.shape.len() != 2 {
                    return Err(format!(
                        "dense weights must have shape [outputs, inputs], got {:?}",
                        weights.shape
                    ));
                }
                if weights.shape[1] != in_size {
                    return Err(format!(
                        "dense weights take {} inputs but the input has {in_size} ({input:?})",
                        weights.shape[1]
                    ));
                }
                Ok(vec![weights.shape[0]])
            }
            LinearOp::Sparse {
                outputs,
                pre,
                post,
                weights,
            } => {
                if pre.data.len() != post.data.len() || pre.data.len() != weights.len() {
                    return Err(format!(
                        "sparse lists differ in length: pre {}, post {}, weights {}",
                        pre.data.len(),
                        post.data.len(),
                        weights.len()
                    ));
                }
                if let Some((k, &p)) = pre
                    .data
                    .iter()
                    .enumerate()
                    .find(|(_, p)| **p as usize >= in_size)
                {
                    return Err(format!(
                        "sparse synapse {k}: pre index {p} is not below the input size {in_size}"
                    ));
                }
                if let Some((k, &p)) = post
                    .data
                    .iter()
                    .enumerate()
                    .find(|(_, p)| **p as usize >= *outputs)
                {
                    return Err(format!(
                        "sparse synapse {k}: post index {p} is not below outputs = {outputs}"
                    ));
                }
                Ok(vec![*outputs])
            }
            LinearOp::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                weights,
            } => {
                let [c, h, w] = image_shape(input, "conv2d")?;
                if stride[0] == 0 || stride[1] == 0 {
                    return Err("conv2d stride must be at least 1".into());
                }
                let expected = [*out_channels, c, kernel[0], kernel[1]];
                if weights.shape != expected {
                    return Err(format!(
                        "conv2d weights must have shape {expected:?} (out_channels, in_channels, kh, kw), got {:?}",
                        weights.shape
                    ));
                }
                let (ph, pw) = (h + 2 * padding[0], w + 2 * padding[1]);
                if kernel[0] == 0 || kernel[1] == 0 || kernel[0] > ph || kernel[1] > pw {
                    return Err(format!(
                        "conv2d kernel {kernel:?} does not fit the padded input {ph}x{pw}"
                    ));
                }
                Ok(vec![
                    *out_channels,
                    (ph - kernel[0]) / stride[0] + 1,
                    (pw - kernel[1]) / stride[1] + 1,
                ])
            }
            LinearOp::AvgPool { size, stride } => {
                let [c, h, w] = image_shape(input, "avg_pool")?;
                let stride = stride.unwrap_or(*size);
                if size[0] == 0 || size[1] == 0 || stride[0] == 0 || stride[1] == 0 {
                    return Err("avg_pool size and stride must be at least 1".into());
                }
                if size[0] > h || size[1] > w {
                    return Err(format!(
                        "avg_pool window {size:?} is larger than the input {h}x{w}"
                    ));
                }
                Ok(vec![
                    c,
                    (h - size[0]) / stride[0] + 1,
                    (w - size[1]) / stride[1] + 1,
                ])
            }
            LinearOp::Flatten => Ok(vec![in_size]),
        }
    }

    /// Calls `f(input_index, output_index, weight)` for every synapse of this op on `input`.
    /// The shape must already have been checked with [`LinearOp::output_shape`].
    pub fn for_each_synapse(&self, input: &[usize], mut f: impl FnMut(usize, usize, f32)) {
        match self {
            LinearOp::Dense { weights } => {
                let n_in = weights.shape[1];
                for (o, row) in weights.data.chunks_exact(n_in.max(1)).enumerate() {
                    for (i, &w) in row.iter().enumerate() {
                        f(i, o, w);
                    }
                }
            }
            LinearOp::Sparse {
                pre, post, weights, ..
            } => {
                for k in 0..weights.len() {
                    f(pre.data[k] as usize, post.data[k] as usize, weights.data[k]);
                }
            }
            LinearOp::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                weights,
            } => {
                let (c, h, w) = (input[0], input[1], input[2]);
                let Ok(out) = self.output_shape(input) else {
                    return;
                };
                let (oh, ow) = (out[1], out[2]);
                for oc in 0..*out_channels {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let o = (oc * oh + oy) * ow + ox;
                            for ic in 0..c {
                                for ky in 0..kernel[0] {
                                    let iy = (oy * stride[0] + ky) as isize - padding[0] as isize;
                                    if iy < 0 || iy >= h as isize {
                                        continue;
                                    }
                                    for kx in 0..kernel[1] {
                                        let ix =
                                            (ox * stride[1] + kx) as isize - padding[1] as isize;
                                        if ix < 0 || ix >= w as isize {
                                            continue;
                                        }
                                        let i = (ic * h + iy as usize) * w + ix as usize;
                                        let widx =
                                            ((oc * c + ic) * kernel[0] + ky) * kernel[1] + kx;
                                        f(i, o, weights.data[widx]);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            LinearOp::AvgPool { size, stride } => {
                let (c, h, w) = (input[0], input[1], input[2]);
                let stride = stride.unwrap_or(*size);
                let Ok(out) = self.output_shape(input) else {
                    return;
                };
                let (oh, ow) = (out[1], out[2]);
                let weight = 1.0 / (size[0] * size[1]) as f32;
                for ch in 0..c {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let o = (ch * oh + oy) * ow + ox;
                            for ky in 0..size[0] {
                                for kx in 0..size[1] {
                                    let i =
                                        (ch * h + oy * stride[0] + ky) * w + ox * stride[1] + kx;
                                    f(i, o, weight);
                                }
                            }
                        }
                    }
                }
            }
            LinearOp::Flatten => {
                let n: usize = input.iter().product();
                for i in 0..n {
                    f(i, i, 1.0);
                }
            }
        }
    }

    /// Every tensor and index list this op stores, for the blob writer and reader.
    pub(crate) fn storage_mut(&mut self) -> (Vec<&mut Tensor>, Vec<&mut Indices>) {
        match self {
            LinearOp::Dense { weights } | LinearOp::Conv2d { weights, .. } => {
                (vec![weights], Vec::new())
            }
            LinearOp::Sparse {
                pre, post, weights, ..
            } => (vec![weights], vec![pre, post]),
            LinearOp::AvgPool { .. } | LinearOp::Flatten => (Vec::new(), Vec::new()),
        }
    }

    /// [`LinearOp::storage_mut`], read-only (the same order).
    pub(crate) fn storage(&self) -> (Vec<&Tensor>, Vec<&Indices>) {
        match self {
            LinearOp::Dense { weights } | LinearOp::Conv2d { weights, .. } => {
                (vec![weights], Vec::new())
            }
            LinearOp::Sparse {
                pre, post, weights, ..
            } => (vec![weights], vec![pre, post]),
            LinearOp::AvgPool { .. } | LinearOp::Flatten => (Vec::new(), Vec::new()),
        }
    }

    /// A copy whose tensors and indices keep their shapes but hold no values (and no blob
    /// reference), without copying the values first.
    pub(crate) fn without_values(&self) -> LinearOp {
        let empty = |t: &Tensor| Tensor {
            shape: t.shape.clone(),
            data: Vec::new(),
            blob: None,
        };
        match self {
            LinearOp::Dense { weights } => LinearOp::Dense {
                weights: empty(weights),
            },
            LinearOp::Sparse {
                outputs, weights, ..
            } => LinearOp::Sparse {
                outputs: *outputs,
                pre: Indices::default(),
                post: Indices::default(),
                weights: empty(weights),
            },
            LinearOp::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                weights,
            } => LinearOp::Conv2d {
                out_channels: *out_channels,
                kernel: *kernel,
                stride: *stride,
                padding: *padding,
                weights: empty(weights),
            },
            LinearOp::AvgPool { .. } | LinearOp::Flatten => self.clone(),
        }
    }

    /// The trainable weights of this op, if it has any.
    pub fn weights(&self) -> Option<&Tensor> {
        match self {
            LinearOp::Dense { weights } | LinearOp::Conv2d { weights, .. } => Some(weights),
            LinearOp::Sparse { weights, .. } => Some(weights),
            LinearOp::AvgPool { .. } | LinearOp::Flatten => None,
        }
    }
}

fn image_shape(input: &[usize], op: &str) -> Result<[usize; 3], String> {
    match input {
        [c, h, w] => Ok([*c, *h, *w]),
        _ => Err(format!(
            "{op} needs a [channels, height, width] input, got {input:?}"
        )),
    }
}

pub(crate) fn check_shape(
    place: &str,
    ops: &[LinearOp],
    input: &[usize],
) -> Result<Shape, NetError> {
    let mut shape = input.to_vec();
    for (k, op) in ops.iter().enumerate() {
        shape = op
            .output_shape(&shape)
            .map_err(|m| NetError::invalid(format!("{place}: ops[{k}] ({})", op.name()), m))?;
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synapses(op: &LinearOp, input: &[usize]) -> Vec<(usize, usize, f32)> {
        let mut v = Vec::new();
        op.for_each_synapse(input, |i, o, w| v.push((i, o, w)));
        v
    }

    #[test]
    fn conv_shapes_and_synapses() {
        let op = LinearOp::Conv2d {
            out_channels: 2,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            weights: Tensor::new(vec![2, 1, 3, 3], (0..18).map(|v| v as f32).collect()),
        };
        assert_eq!(op.output_shape(&[1, 4, 4]).unwrap(), vec![2, 4, 4]);
        let s = synapses(&op, &[1, 4, 4]);
        // Corner outputs see 4 inputs, edges 6, interior 9: per channel 4*4 + 4*2*6 + 4*9 = 100.
        assert_eq!(s.len(), 200);
        // Output (0,0,0): centre kernel tap (index 4) lands on input 0.
        assert!(s.contains(&(0, 0, 4.0)));
        assert!(op.output_shape(&[1, 1, 0]).is_err());
        assert!(op.output_shape(&[2, 4, 4]).is_err());
    }

    #[test]
    fn pool_and_flatten() {
        let pool = LinearOp::AvgPool {
            size: [2, 2],
            stride: None,
        };
        assert_eq!(pool.output_shape(&[3, 4, 6]).unwrap(), vec![3, 2, 3]);
        let s = synapses(&pool, &[1, 2, 2]);
        assert_eq!(
            s,
            vec![(0, 0, 0.25), (1, 0, 0.25), (2, 0, 0.25), (3, 0, 0.25)]
        );
        assert_eq!(
            LinearOp::Flatten.output_shape(&[3, 2, 2]).unwrap(),
            vec![12]
        );
        assert!(pool.output_shape(&[4]).is_err());
    }

    #[test]
    fn dense_checks_inputs() {
        let op = LinearOp::Dense {
            weights: Tensor::new(vec![2, 3], vec![1.0; 6]),
        };
        assert_eq!(op.output_shape(&[3]).unwrap(), vec![2]);
        assert_eq!(op.output_shape(&[1, 1, 3]).unwrap(), vec![2]);
        assert!(op.output_shape(&[4]).unwrap_err().contains("take 3 inputs"));
    }
}
