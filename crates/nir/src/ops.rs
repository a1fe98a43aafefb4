//! NIR linear nodes as lifchip linear ops, given the shape they receive.

use lifchip_net::{Indices, LinearOp, Shape, Tensor};

use crate::graph::{Array, Conv, Padding, Pool};

/// Largest dense weight tensor built for one conv or pool op (values).
pub const MAX_OP_WEIGHTS: usize = 1 << 28;

/// A population or tensor shape as the net wants it: `[n]` or `[c, h, w]`; a `[c, l]` signal
/// is `[c, 1, l]`, other ranks are flattened.
pub fn net_shape(shape: &[usize]) -> Shape {
    match shape {
        [] => vec![1],
        [n] => vec![*n],
        [c, l] => vec![*c, 1, *l],
        [c, h, w] => vec![*c, *h, *w],
        other => vec![other.iter().fold(1usize, |a, &d| a.saturating_mul(d))],
    }
}

fn f32s(a: &Array) -> Vec<f32> {
    a.data.iter().map(|&v| v as f32).collect()
}

fn pair(values: &[usize], what: &str, default: usize) -> Result<[usize; 2], String> {
    match values {
        [] => Ok([default, default]),
        [v] => Ok([*v, *v]),
        [a, b] => Ok([*a, *b]),
        other => Err(format!("{what} {other:?}: expected one or two values")),
    }
}

/// The ops of an `Affine`/`Linear` node, and its output shape.
pub fn dense(weight: &Array, input: &[usize]) -> Result<(Vec<LinearOp>, Shape), String> {
    let [rows, cols] = weight.shape[..] else {
        return Err(format!(
            "weight has shape {:?}, expected [outputs, inputs]",
            weight.shape
        ));
    };
    let n_in: usize = input.iter().product();
    if cols != n_in {
        return Err(format!(
            "weight takes {cols} inputs but receives shape {input:?} ({n_in} values)"
        ));
    }
    Ok((
        vec![LinearOp::Dense {
            weights: Tensor::new(vec![rows, cols], f32s(weight)),
        }],
        vec![rows],
    ))
}

/// A `Scale` node: one synapse per element.
pub fn scale(scale: &Array, input: &[usize]) -> Result<(Vec<LinearOp>, Shape), String> {
    let n: usize = input.iter().product();
    let values = if scale.data.len() == 1 {
        vec![scale.data[0] as f32; n]
    } else if scale.data.len() == n {
        f32s(scale)
    } else {
        return Err(format!(
            "scale has {} values, the input has {n}",
            scale.data.len()
        ));
    };
    let idx: Vec<u32> = (0..n as u32).collect();
    Ok((
        vec![LinearOp::Sparse {
            outputs: n,
            pre: Indices::new(idx.clone()),
            post: Indices::new(idx),
            weights: Tensor::new(vec![n], values),
        }],
        input.to_vec(),
    ))
}

/// A `Conv1d`/`Conv2d` node as one lifchip conv: dilation becomes zeros inside a larger kernel
/// and groups become zeros between channel groups, so the synapses are exactly NIR's.
pub fn conv(c: &Conv, input: &[usize], two_d: bool) -> Result<(Vec<LinearOp>, Shape), String> {
    let [ci, h, w] = input[..] else {
        return Err(format!(
            "a convolution needs a [channels, (height,) width] input, got {input:?}"
        ));
    };
    let ws = &c.weight.shape;
    let (oc, cig, kh, kw) = match (two_d, &ws[..]) {
        (true, [oc, cig, kh, kw]) => (*oc, *cig, *kh, *kw),
        (false, [oc, cig, k]) => (*oc, *cig, 1, *k),
        _ => {
            return Err(format!(
                "weight has shape {ws:?}, expected [out_channels, in_channels/groups, {}]",
                if two_d { "kh, kw" } else { "k" }
            ));
        }
    };
    let groups = c.groups.max(1);
    if oc == 0 || kh == 0 || kw == 0 || ci % groups != 0 || oc % groups != 0 || ci / groups != cig {
        return Err(format!(
            "weight {ws:?} with groups = {groups} does not fit {ci} input channels"
        ));
    }
    let lift = |v: &[usize], what: &str, default: usize| -> Result<[usize; 2], String> {
        if two_d {
            pair(v, what, default)
        } else {
            match v {
                [] => Ok([1, default]),
                [x] => Ok([
                    if what == "stride" || what == "dilation" {
                        1
                    } else {
                        0
                    },
                    *x,
                ]),
                other => Err(format!("{what} {other:?}: expected one value")),
            }
        }
    };
    let stride = lift(&c.stride, "stride", 1)?;
    let dilation = lift(&c.dilation, "dilation", 1)?;
    if stride.contains(&0) || dilation.contains(&0) {
        return Err("stride and dilation must be at least 1".into());
    }
    let (ekh, ekw) = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1);
    let padding = match &c.padding {
        Padding::Explicit(p) => lift(p, "padding", 0)?,
        Padding::Valid => [0, 0],
        Padding::Same => {
            if ekh % 2 == 0 || ekw % 2 == 0 {
                return Err("padding \"same\" with an even (dilated) kernel is asymmetric; lifchip pads symmetrically".into());
            }
            [ekh / 2, ekw / 2]
        }
    };
    let total = oc
        .checked_mul(ci)
        .and_then(|v| v.checked_mul(ekh))
        .and_then(|v| v.checked_mul(ekw))
        .filter(|&v| v <= MAX_OP_WEIGHTS)
        .ok_or_else(|| format!("expanded kernel [{oc}, {ci}, {ekh}, {ekw}] is too large"))?;
    let mut weights = vec![0f32; total];
    let per_group_out = oc / groups;
    for o in 0..oc {
        let g = o / per_group_out;
        for j in 0..cig {
            let i = g * cig + j;
            for y in 0..kh {
                for x in 0..kw {
                    let src = ((o * cig + j) * kh + y) * kw + x;
                    let dst = ((o * ci + i) * ekh + y * dilation[0]) * ekw + x * dilation[1];
                    weights[dst] = c.weight.data[src] as f32;
                }
            }
        }
    }
    let op = LinearOp::Conv2d {
        out_channels: oc,
        kernel: [ekh, ekw],
        stride,
        padding,
        weights: Tensor::new(vec![oc, ci, ekh, ekw], weights),
    };
    let out = op.output_shape(&[ci, h, w])?;
    Ok((vec![op], out))
}

/// The bias of an `Affine` or conv node at its output shape.
pub fn bias_at(bias: &Array, out: &[usize], per_channel: bool) -> Result<Vec<f32>, String> {
    let n: usize = out.iter().product();
    if bias.data.len() == 1 && bias.shape.is_empty() {
        return Ok(vec![bias.data[0] as f32; n]);
    }
    if per_channel {
        let c = out.first().copied().unwrap_or(0);
        if bias.data.len() != c {
            return Err(format!(
                "bias has {} values, expected {c} (one per channel)",
                bias.data.len()
            ));
        }
        let per = n / c.max(1);
        Ok(bias
            .data
            .iter()
            .flat_map(|&b| std::iter::repeat_n(b as f32, per))
            .collect())
    } else if bias.data.len() == n {
        Ok(f32s(bias))
    } else {
        Err(format!("bias has {} values, expected {n}", bias.data.len()))
    }
}

/// A `SumPool2d`/`AvgPool2d` node. Unpadded average pooling is lifchip's `avg_pool`; anything
/// else is a per-channel convolution with weight 1 (sum) or `1/(kh*kw)` (average, padding
/// counted as zeros like PyTorch's default).
pub fn pool(p: &Pool, input: &[usize], average: bool) -> Result<(Vec<LinearOp>, Shape), String> {
    let [c, h, w] = input[..] else {
        return Err(format!(
            "pooling needs a [channels, height, width] input, got {input:?}"
        ));
    };
    let size = pair(&p.kernel_size, "kernel_size", 1)?;
    let stride = pair(&p.stride, "stride", 0)?;
    let stride = if stride == [0, 0] { size } else { stride };
    let padding = pair(&p.padding, "padding", 0)?;
    if size.contains(&0) || stride.contains(&0) {
        return Err("kernel_size and stride must be at least 1".into());
    }
    if average && padding == [0, 0] {
        let op = LinearOp::AvgPool {
            size,
            stride: (stride != size).then_some(stride),
        };
        let out = op.output_shape(input)?;
        return Ok((vec![op], out));
    }
    let total = c
        .checked_mul(c)
        .and_then(|v| v.checked_mul(size[0] * size[1]))
        .filter(|&v| v <= MAX_OP_WEIGHTS)
        .ok_or_else(|| "pooling kernel too large".to_string())?;
    let value = if average {
        1.0 / (size[0] * size[1]) as f32
    } else {
        1.0
    };
    let mut weights = vec![0f32; total];
    for ch in 0..c {
        for k in 0..size[0] * size[1] {
            weights[(ch * c + ch) * size[0] * size[1] + k] = value;
        }
    }
    let op = LinearOp::Conv2d {
        out_channels: c,
        kernel: size,
        stride,
        padding,
        weights: Tensor::new(vec![c, c, size[0], size[1]], weights),
    };
    let out = op.output_shape(&[c, h, w])?;
    Ok((vec![op], out))
}
