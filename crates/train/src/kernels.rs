//! Batched linear ops with forward and backward passes: dense (GEMM), conv2d (im2col + GEMM,
//! any kernel, stride and zero padding), average pooling, flatten, sparse synapse lists, and
//! (training only) inverted dropout.
//!
//! Activations are `[batch, features]` arrays in standard (row-major) layout; an image feature
//! vector is `[channels, height, width]` flattened row-major, as in the net IR. Parallel loops
//! split work per image (or per fixed row chunk), never across a reduction, so results do not
//! depend on the number of threads.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, ShapeBuilder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::act::mix;
use crate::packed::PackedWeights;
use crate::pool;

/// Geometry of a 2-D convolution on a `[ic, ih, iw]` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub ic: usize,
    pub ih: usize,
    pub iw: usize,
    pub oc: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    /// Checks the geometry; `None` when the kernel does not fit or a size is zero.
    pub fn new(
        input: [usize; 3],
        oc: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Option<ConvGeom> {
        let [ic, ih, iw] = input;
        let [kh, kw] = kernel;
        let [sh, sw] = stride;
        let [ph, pw] = padding;
        let (eh, ew) = (ih + 2 * ph, iw + 2 * pw);
        if ic == 0
            || ih == 0
            || iw == 0
            || oc == 0
            || kh == 0
            || kw == 0
            || sh == 0
            || sw == 0
            || kh > eh
            || kw > ew
        {
            return None;
        }
        Some(ConvGeom {
            ic,
            ih,
            iw,
            oc,
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
            oh: (eh - kh) / sh + 1,
            ow: (ew - kw) / sw + 1,
        })
    }

    pub fn in_size(&self) -> usize {
        self.ic * self.ih * self.iw
    }
    pub fn positions(&self) -> usize {
        self.oh * self.ow
    }
    pub fn patch(&self) -> usize {
        self.ic * self.kh * self.kw
    }
    #[cfg(test)]
    pub fn out_size(&self) -> usize {
        self.oc * self.positions()
    }
}

/// Geometry of average pooling on a `[c, ih, iw]` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolGeom {
    pub c: usize,
    pub ih: usize,
    pub iw: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub oh: usize,
    pub ow: usize,
}

impl PoolGeom {
    pub fn new(input: [usize; 3], size: [usize; 2], stride: [usize; 2]) -> Option<PoolGeom> {
        let [c, ih, iw] = input;
        let [kh, kw] = size;
        let [sh, sw] = stride;
        if c == 0 || kh == 0 || kw == 0 || sh == 0 || sw == 0 || kh > ih || kw > iw {
            return None;
        }
        Some(PoolGeom {
            c,
            ih,
            iw,
            kh,
            kw,
            sh,
            sw,
            oh: (ih - kh) / sh + 1,
            ow: (iw - kw) / sw + 1,
        })
    }

    pub fn in_size(&self) -> usize {
        self.c * self.ih * self.iw
    }
    pub fn out_size(&self) -> usize {
        self.c * self.oh * self.ow
    }
}

/// One linear op of a projection, in batched form.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kernel {
    /// `y = x W^T`, `w` is `[out, in]`.
    Dense {
        w: Array2<f32>,
    },
    /// `w` is `[oc, ic * kh * kw]` (the net's `[oc, ic, kh, kw]` flattened).
    Conv {
        w: Array2<f32>,
        g: ConvGeom,
    },
    Pool(PoolGeom),
    /// No-op on flattened features.
    Flatten,
    /// Inverted dropout in training, identity otherwise.
    Dropout {
        rate: f32,
    },
    /// `y[post[k]] += w[k] * x[pre[k]]`; `w` is `[1, nnz]`. Indices were checked by the caller.
    Sparse {
        outputs: usize,
        pre: Vec<u32>,
        post: Vec<u32>,
        w: Array2<f32>,
    },
}

/// What a training forward pass keeps for the backward pass.
#[derive(Debug)]
pub(crate) enum Saved {
    Nothing,
    Input(Array2<f32>),
    Cols(Array2<f32>),
    Mask(Array2<f32>),
}

/// Forward mode: evaluation, or training with a seed for dropout masks.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    Eval,
    Train { seed: u64 },
}

/// Rows per dropout RNG stream: fixed, so masks do not depend on the thread count.
const DROPOUT_ROWS: usize = 4;

/// Rows (or columns) of a GEMM output below which it is not split across threads.
const GEMM_MIN_SPLIT: usize = 32;

/// `a · b` in standard layout, split across the rayon pool by rows of `a` (or, when `a` has
/// few rows, by columns of `b`). Each output element is one `matrixmultiply` dot product over
/// the whole inner dimension, computed the same way whichever block it falls in, so the
/// result does not depend on the split or the thread count (and equals `a.dot(&b)`). GEMM
/// runs on the rayon threads only: `matrixmultiply`'s own threads competed with them.
pub(crate) fn gemm(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
    let (m, n) = (a.nrows(), b.ncols());
    // With beta = 0 the GEMM writes every element without reading it.
    let mut c = pool::uninit(m, n);
    gemm_into(a, b, c.view_mut());
    c
}

fn gemm_into(a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>) {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let threads = rayon::current_num_threads();
    let big = m.saturating_mul(k).saturating_mul(n) >= 1 << 18;
    if threads <= 1 || !big || (m < 2 * GEMM_MIN_SPLIT && n < 2 * GEMM_MIN_SPLIT) {
        general_mat_mul(1.0, &a, &b, 0.0, &mut c);
        return;
    }
    let parts = threads * 2;
    if m >= n || n < 2 * GEMM_MIN_SPLIT {
        let rows = m.div_ceil(parts).max(GEMM_MIN_SPLIT);
        let a_parts: Vec<_> = a.axis_chunks_iter(Axis(0), rows).collect();
        let c_parts: Vec<_> = c.axis_chunks_iter_mut(Axis(0), rows).collect();
        a_parts
            .into_par_iter()
            .zip(c_parts)
            .for_each(|(a, mut c)| general_mat_mul(1.0, &a, &b, 0.0, &mut c));
    } else {
        let cols = n.div_ceil(parts).max(GEMM_MIN_SPLIT);
        let b_parts: Vec<_> = b.axis_chunks_iter(Axis(1), cols).collect();
        let c_parts: Vec<_> = c.axis_chunks_iter_mut(Axis(1), cols).collect();
        b_parts
            .into_par_iter()
            .zip(c_parts)
            .for_each(|(b, mut c)| general_mat_mul(1.0, &a, &b, 0.0, &mut c));
    }
}

/// Returns `a` in standard layout (a no-op when it already is).
pub(crate) fn standard(a: Array2<f32>) -> Array2<f32> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

fn slice(a: &Array2<f32>) -> &[f32] {
    // Every array in this crate is made standard by `standard` or created in standard layout.
    a.as_slice().unwrap_or(&[])
}

fn slice_mut(a: &mut Array2<f32>) -> &mut [f32] {
    a.as_slice_mut().unwrap_or(&mut [])
}

impl Kernel {
    /// Trainable weights, if any.
    pub fn weights(&self) -> Option<&Array2<f32>> {
        match self {
            Kernel::Dense { w } | Kernel::Conv { w, .. } | Kernel::Sparse { w, .. } => Some(w),
            _ => None,
        }
    }

    pub fn weights_mut(&mut self) -> Option<&mut Array2<f32>> {
        match self {
            Kernel::Dense { w } | Kernel::Conv { w, .. } | Kernel::Sparse { w, .. } => Some(w),
            _ => None,
        }
    }

    /// Applies the op to a batch. In training mode the returned [`Saved`] feeds [`Kernel::backward`].
    pub fn forward(&self, x: Array2<f32>, mode: Mode) -> (Array2<f32>, Saved) {
        let train = matches!(mode, Mode::Train { .. });
        match self {
            Kernel::Dense { w } => {
                let y = gemm(x.view(), w.t());
                (
                    y,
                    if train {
                        Saved::Input(x)
                    } else {
                        Saved::Nothing
                    },
                )
            }
            Kernel::Conv { w, g } if !train => (conv_eval(&x, w, g), Saved::Nothing),
            Kernel::Conv { w, g } => {
                let cols = im2col(&x, g);
                let y = conv_from_cols(&cols, w, x.nrows(), g);
                pool::recycle(x);
                (
                    y,
                    if train {
                        Saved::Cols(cols)
                    } else {
                        Saved::Nothing
                    },
                )
            }
            Kernel::Pool(g) => {
                let y = pool_forward(&x, g);
                pool::recycle(x);
                (y, Saved::Nothing)
            }
            Kernel::Flatten => (x, Saved::Nothing),
            Kernel::Dropout { rate } => match mode {
                Mode::Train { seed } if *rate > 0.0 => {
                    let mask = dropout_mask(x.nrows(), x.ncols(), *rate, seed);
                    let y = x * &mask;
                    (y, Saved::Mask(mask))
                }
                _ => (x, Saved::Nothing),
            },
            Kernel::Sparse {
                outputs,
                pre,
                post,
                w,
            } => {
                let y = sparse_forward(&x, *outputs, pre, post, slice(w));
                (
                    y,
                    if train {
                        Saved::Input(x)
                    } else {
                        Saved::Nothing
                    },
                )
            }
        }
    }

    /// Evaluation-mode forward of a borrowed batch: ops that only read their input (pooling,
    /// dense, conv) do not copy it first. Same result as `forward(x.clone(), Mode::Eval)`.
    pub fn forward_eval_ref(&self, x: &Array2<f32>) -> Array2<f32> {
        match self {
            Kernel::Pool(g) => pool_forward(x, g),
            Kernel::Dense { w } => gemm(x.view(), w.t()),
            Kernel::Conv { w, g } => conv_eval(x, w, g),
            other => other.forward(x.clone(), Mode::Eval).0,
        }
    }

    /// [`Kernel::forward_eval_ref`] with this dense op's weights packed for a whole run
    /// ([`PackedWeights`], built from this op's own weights): the same values.
    pub fn forward_eval_packed(
        &self,
        x: &Array2<f32>,
        packed: Option<&PackedWeights>,
    ) -> Array2<f32> {
        if let (Kernel::Dense { .. }, Some(p)) = (self, packed)
            && let Some(y) = p.product(x)
        {
            return y;
        }
        self.forward_eval_ref(x)
    }

    /// Back-propagates `dy`: returns the input gradient (when `need_dx`) and the weight gradient
    /// (for ops with weights).
    pub fn backward(
        &self,
        saved: &Saved,
        dy: Array2<f32>,
        need_dx: bool,
    ) -> (Option<Array2<f32>>, Option<Array2<f32>>) {
        match (self, saved) {
            (Kernel::Dense { w }, Saved::Input(x)) => {
                let dw = gemm(dy.t(), x.view());
                let dx = need_dx.then(|| gemm(dy.view(), w.view()));
                pool::recycle(dy);
                (dx, Some(dw))
            }
            (Kernel::Conv { w, g }, Saved::Cols(cols)) => {
                let batch = dy.nrows();
                let dyp = channels_to_positions(&dy, batch, g);
                let dw = gemm(dyp.t(), cols.view());
                pool::recycle(dyp);
                let dx = need_dx.then(|| conv_input_grad(&dy, w, batch, g));
                pool::recycle(dy);
                (dx, Some(dw))
            }
            (Kernel::Pool(g), _) => {
                let dx = need_dx.then(|| pool_backward(&dy, g));
                pool::recycle(dy);
                (dx, None)
            }
            (Kernel::Flatten, _) => (Some(dy), None),
            (Kernel::Dropout { .. }, Saved::Mask(mask)) => (Some(dy * mask), None),
            (Kernel::Dropout { .. }, _) => (Some(dy), None),
            (
                Kernel::Sparse {
                    outputs,
                    pre,
                    post,
                    w,
                },
                Saved::Input(x),
            ) => {
                let (dx, dw) = sparse_backward(x, &dy, *outputs, pre, post, slice(w), need_dx);
                (dx, Some(dw))
            }
            // A weighted op without its saved input: only reachable if a caller skipped the
            // training forward; give no gradient rather than a wrong one.
            (_, _) => (None, None),
        }
    }
}

/// `[batch, ic*ih*iw]` → `[batch * oh*ow, ic*kh*kw]`, zero outside the image.
pub(crate) fn im2col(x: &Array2<f32>, g: &ConvGeom) -> Array2<f32> {
    let batch = x.nrows();
    let (p, k) = (g.positions(), g.patch());
    // Without padding every patch element is copied from the image.
    let mut cols = if g.ph > 0 || g.pw > 0 {
        pool::zeros(batch * p, k)
    } else {
        pool::uninit(batch * p, k)
    };
    let xs = slice(x);
    slice_mut(&mut cols)
        .par_chunks_mut(p * k)
        .zip(xs.par_chunks(g.in_size()))
        .for_each(|(out, img)| im2col_image(img, g, out));
    cols
}

/// [`im2col`] of one image into `out` (`[oh*ow, ic*kh*kw]`, zeroed).
fn im2col_image(img: &[f32], g: &ConvGeom, out: &mut [f32]) {
    // Without padding every window lies inside the image: kernel rows of a constant width
    // are copied without bounds logic per row.
    if g.ph == 0 && g.pw == 0 {
        let done = match g.kw {
            3 => im2col_inside::<3>(img, g, out),
            5 => im2col_inside::<5>(img, g, out),
            7 => im2col_inside::<7>(img, g, out),
            _ => false,
        };
        if done {
            return;
        }
    }
    let k = g.patch();
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let row = &mut out[(oy * g.ow + ox) * k..][..k];
            let mut idx = 0;
            for c in 0..g.ic {
                for ky in 0..g.kh {
                    let iy = (oy * g.sh + ky) as isize - g.ph as isize;
                    if iy < 0 || iy >= g.ih as isize {
                        idx += g.kw;
                        continue;
                    }
                    let base = (c * g.ih + iy as usize) * g.iw;
                    let ix0 = (ox * g.sw) as isize - g.pw as isize;
                    if ix0 >= 0 && ix0 as usize + g.kw <= g.iw {
                        // The whole kernel row is inside the image: one copy.
                        let from = base + ix0 as usize;
                        copy_row(&mut row[idx..idx + g.kw], &img[from..from + g.kw]);
                        idx += g.kw;
                        continue;
                    }
                    for kx in 0..g.kw {
                        let ix = (ox * g.sw + kx) as isize - g.pw as isize;
                        if ix >= 0 && ix < g.iw as isize {
                            row[idx] = img[base + ix as usize];
                        }
                        idx += 1;
                    }
                }
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for a kernel row: the common widths as fixed-size moves, not a
/// `memmove` call per few floats.
#[inline(always)]
fn copy_row(dst: &mut [f32], src: &[f32]) {
    fn fixed<const N: usize>(dst: &mut [f32], src: &[f32]) -> bool {
        match (<&mut [f32; N]>::try_from(dst), <&[f32; N]>::try_from(src)) {
            (Ok(d), Ok(s)) => {
                *d = *s;
                true
            }
            _ => false,
        }
    }
    let done = match dst.len() {
        3 => fixed::<3>(dst, src),
        5 => fixed::<5>(dst, src),
        7 => fixed::<7>(dst, src),
        _ => false,
    };
    if !done {
        dst.copy_from_slice(src);
    }
}

/// Evaluation-mode convolution: images in small groups, each through its own im2col buffer,
/// GEMM and transpose, so the patches stay in cache and nothing batch-sized is allocated
/// besides the output. Every output element is the same whole-`k` dot product as in
/// [`im2col`] + [`gemm`], so the result is the same.
fn conv_eval(x: &Array2<f32>, w: &Array2<f32>, g: &ConvGeom) -> Array2<f32> {
    const GROUP: usize = 8;
    let batch = x.nrows();
    let (p, k, oc) = (g.positions(), g.patch(), g.oc);
    // Each image's GEMM (beta = 0) writes all of its `[oc, P]` block.
    let mut y = pool::uninit(batch, oc * p);
    let wt = w.t();
    slice_mut(&mut y)
        .par_chunks_mut(GROUP * oc * p)
        .zip(slice(x).par_chunks(GROUP * g.in_size()))
        .for_each(|(out, imgs)| {
            let n = imgs.len() / g.in_size().max(1);
            SCRATCH.with_borrow_mut(|cols| {
                // Reused per thread: im2col writes every element when there is no padding
                // (else the buffer is zeroed first).
                if cols.len() < n * p * k {
                    cols.resize(n * p * k, 0.0);
                }
                let cols = &mut cols[..n * p * k];
                if g.ph > 0 || g.pw > 0 {
                    cols.fill(0.0);
                }
                for (img, c) in imgs.chunks(g.in_size()).zip(cols.chunks_mut(p * k)) {
                    im2col_image(img, g, c);
                }
                // One GEMM per image, written straight into its `[oc, P]` output seen as a
                // `[P, oc]` matrix with strides (1, P): no transpose pass. The output layout
                // only changes where each dot product is stored.
                for (c, dst) in cols.chunks(p * k).zip(out.chunks_mut(oc * p)) {
                    let (Ok(a), Ok(mut y)) = (
                        ArrayView2::from_shape((p, k), c),
                        ArrayViewMut2::from_shape((p, oc).strides((1, p)), dst),
                    ) else {
                        return;
                    };
                    general_mat_mul(1.0, &a, &wt, 0.0, &mut y);
                }
            });
        });
    y
}

thread_local! {
    /// [`conv_eval`]'s im2col buffer and [`conv_input_grad`]'s patch gradients, kept per
    /// thread across calls.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`im2col_image`] for an unpadded convolution with `g.kw == KW`: for each output row and
/// kernel row, the image row is read once and its `KW`-wide windows copied to their
/// patches. Returns false (nothing written) when the sizes do not add up.
#[inline(always)]
fn im2col_inside<const KW: usize>(img: &[f32], g: &ConvGeom, out: &mut [f32]) -> bool {
    let k = g.patch();
    let fits = g.kw == KW
        && g.ph == 0
        && g.pw == 0
        && img.len() >= g.in_size()
        && out.len() >= g.positions() * k
        && g.oh > 0
        && g.ow > 0
        && (g.oh - 1) * g.sh + g.kh <= g.ih
        && (g.ow - 1) * g.sw + KW <= g.iw;
    if !fits {
        return false;
    }
    for oy in 0..g.oh {
        let band = &mut out[oy * g.ow * k..][..g.ow * k];
        for c in 0..g.ic {
            for ky in 0..g.kh {
                let src = &img[(c * g.ih + oy * g.sh + ky) * g.iw..][..g.iw];
                let col = (c * g.kh + ky) * KW;
                for (ox, patch) in band.chunks_exact_mut(k).enumerate() {
                    let from = &src[ox * g.sw..][..KW];
                    let to = &mut patch[col..col + KW];
                    if let (Ok(to), Ok(from)) =
                        (<&mut [f32; KW]>::try_from(to), <&[f32; KW]>::try_from(from))
                    {
                        *to = *from;
                    }
                }
            }
        }
    }
    true
}

/// Adjoint of [`im2col`]: sums patch gradients back onto the image, per image in parallel.
#[cfg(test)]
pub(crate) fn col2im(dcols: &Array2<f32>, batch: usize, g: &ConvGeom) -> Array2<f32> {
    let (p, k) = (g.positions(), g.patch());
    let mut dx = Array2::<f32>::zeros((batch, g.in_size()));
    let ds = slice(dcols);
    slice_mut(&mut dx)
        .par_chunks_mut(g.in_size())
        .zip(ds.par_chunks(p * k))
        .for_each(|(img, d)| col2im_image(d, img, g));
    dx
}

/// [`col2im`] of one image's patch gradients `d` (`[P, k]`) onto `img` (zeroed).
fn col2im_image(d: &[f32], img: &mut [f32], g: &ConvGeom) {
    let k = g.patch();
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let row = &d[(oy * g.ow + ox) * k..][..k];
            let mut idx = 0;
            for c in 0..g.ic {
                for ky in 0..g.kh {
                    let iy = (oy * g.sh + ky) as isize - g.ph as isize;
                    if iy < 0 || iy >= g.ih as isize {
                        idx += g.kw;
                        continue;
                    }
                    let base = (c * g.ih + iy as usize) * g.iw;
                    let ix0 = (ox * g.sw) as isize - g.pw as isize;
                    if ix0 >= 0 && ix0 as usize + g.kw <= g.iw {
                        // The whole kernel row is inside the image (each cell gets
                        // one addition here, so the order per cell is unchanged).
                        let from = base + ix0 as usize;
                        for (cell, &d) in
                            img[from..from + g.kw].iter_mut().zip(&row[idx..idx + g.kw])
                        {
                            *cell += d;
                        }
                        idx += g.kw;
                        continue;
                    }
                    for kx in 0..g.kw {
                        let ix = (ox * g.sw + kx) as isize - g.pw as isize;
                        if ix >= 0 && ix < g.iw as isize {
                            img[base + ix as usize] += row[idx];
                        }
                        idx += 1;
                    }
                }
            }
        }
    }
}

/// The input gradient of a convolution, `col2im(dyp · w)`, one image at a time: each image's
/// `[P, oc]` gradient is read in place from `dy` (`[oc, P]`, strides `(1, P)`), its patch
/// gradients go to a per-thread buffer, then onto the image. Same dot products (over `oc`)
/// and the same additions per cell as one GEMM over the batch then [`col2im`] (tested),
/// without the batch-sized patch-gradient array.
fn conv_input_grad(dy: &Array2<f32>, w: &Array2<f32>, batch: usize, g: &ConvGeom) -> Array2<f32> {
    let (p, k, oc) = (g.positions(), g.patch(), g.oc);
    let mut dx = pool::zeros(batch, g.in_size());
    slice_mut(&mut dx)
        .par_chunks_mut(g.in_size())
        .zip(slice(dy).par_chunks(oc * p))
        .for_each(|(img, d)| {
            SCRATCH.with_borrow_mut(|buf| {
                if buf.len() < p * k {
                    buf.resize(p * k, 0.0);
                }
                let buf = &mut buf[..p * k];
                if let (Ok(a), Ok(mut c)) = (
                    ArrayView2::from_shape((p, oc).strides((1, p)), d),
                    ArrayViewMut2::from_shape((p, k), &mut *buf),
                ) {
                    general_mat_mul(1.0, &a, &w.view(), 0.0, &mut c);
                    col2im_image(buf, img, g);
                }
            });
        });
    dx
}

/// `[batch * P, k]` patches times `w^T` → `[batch, oc * P]`: one GEMM per image (images in
/// parallel) written straight into its channel-major output through strides, so there is no
/// `[batch * P, oc]` intermediate to allocate and transpose. Each output element is the same
/// whole-`k` dot product as in one `gemm` over all rows (tested).
fn conv_from_cols(cols: &Array2<f32>, w: &Array2<f32>, batch: usize, g: &ConvGeom) -> Array2<f32> {
    let (p, k, oc) = (g.positions(), g.patch(), g.oc);
    // Each image's GEMM (beta = 0) writes all of its `[oc, P]` block.
    let mut y = pool::uninit(batch, oc * p);
    let wt = w.t();
    slice_mut(&mut y)
        .par_chunks_mut(oc * p)
        .zip(slice(cols).par_chunks(p * k))
        .for_each(|(dst, c)| {
            if let (Ok(a), Ok(mut out)) = (
                ArrayView2::from_shape((p, k), c),
                ArrayViewMut2::from_shape((p, oc).strides((1, p)), dst),
            ) {
                general_mat_mul(1.0, &a, &wt, 0.0, &mut out);
            }
        });
    y
}

/// `[batch * P, oc]` (GEMM output, one row per output position) → `[batch, oc * P]`.
#[cfg(test)]
fn positions_to_channels(y: &Array2<f32>, batch: usize, g: &ConvGeom) -> Array2<f32> {
    let (p, oc) = (g.positions(), g.oc);
    let mut out = Array2::<f32>::zeros((batch, oc * p));
    let ys = slice(y);
    slice_mut(&mut out)
        .par_chunks_mut(oc * p)
        .zip(ys.par_chunks(p * oc))
        .for_each(|(dst, src)| {
            for pos in 0..p {
                for c in 0..oc {
                    dst[c * p + pos] = src[pos * oc + c];
                }
            }
        });
    out
}

/// `[batch, oc * P]` → `[batch * P, oc]`.
fn channels_to_positions(dy: &Array2<f32>, batch: usize, g: &ConvGeom) -> Array2<f32> {
    let (p, oc) = (g.positions(), g.oc);
    // A permutation: every element written.
    let mut out = pool::uninit(batch * p, oc);
    let ds = slice(dy);
    slice_mut(&mut out)
        .par_chunks_mut(p * oc)
        .zip(ds.par_chunks(oc * p))
        .for_each(|(dst, src)| {
            for c in 0..oc {
                for pos in 0..p {
                    dst[pos * oc + c] = src[c * p + pos];
                }
            }
        });
    out
}

fn pool_forward(x: &Array2<f32>, g: &PoolGeom) -> Array2<f32> {
    // Every output position is written once.
    let mut y = pool::uninit(x.nrows(), g.out_size());
    let scale = 1.0 / (g.kh * g.kw) as f32;
    slice_mut(&mut y)
        .par_chunks_mut(g.out_size())
        .zip(slice(x).par_chunks(g.in_size()))
        .for_each(|(out, img)| match (g.kh, g.kw) {
            // The usual 2x2 window as constants, so the window loops unroll.
            (2, 2) => pool_forward_image(img, out, g, 2, 2, scale),
            (kh, kw) => pool_forward_image(img, out, g, kh, kw, scale),
        });
    y
}

/// One image of [`pool_forward`]; `kh`, `kw` are `g`'s (passed so that constant sizes
/// specialise the inlined copy; the operations are the same either way).
#[inline(always)]
fn pool_forward_image(
    img: &[f32],
    out: &mut [f32],
    g: &PoolGeom,
    kh: usize,
    kw: usize,
    scale: f32,
) {
    for c in 0..g.c {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let mut sum = 0.0;
                for ky in 0..kh {
                    let base = (c * g.ih + oy * g.sh + ky) * g.iw + ox * g.sw;
                    sum += img[base..base + kw].iter().sum::<f32>();
                }
                out[(c * g.oh + oy) * g.ow + ox] = sum * scale;
            }
        }
    }
}

fn pool_backward(dy: &Array2<f32>, g: &PoolGeom) -> Array2<f32> {
    let mut dx = pool::zeros(dy.nrows(), g.in_size());
    let scale = 1.0 / (g.kh * g.kw) as f32;
    slice_mut(&mut dx)
        .par_chunks_mut(g.in_size())
        .zip(slice(dy).par_chunks(g.out_size()))
        .for_each(|(img, d)| match (g.kh, g.kw) {
            (2, 2) => pool_backward_image(d, img, g, 2, 2, scale),
            (kh, kw) => pool_backward_image(d, img, g, kh, kw, scale),
        });
    dx
}

/// One image of [`pool_backward`], specialised like [`pool_forward_image`].
#[inline(always)]
fn pool_backward_image(d: &[f32], img: &mut [f32], g: &PoolGeom, kh: usize, kw: usize, scale: f32) {
    for c in 0..g.c {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let v = d[(c * g.oh + oy) * g.ow + ox] * scale;
                for ky in 0..kh {
                    let base = (c * g.ih + oy * g.sh + ky) * g.iw + ox * g.sw;
                    for cell in &mut img[base..base + kw] {
                        *cell += v;
                    }
                }
            }
        }
    }
}

/// A mask of 0 and `1 / (1 - rate)`, one seeded RNG stream per fixed chunk of rows.
fn dropout_mask(rows: usize, cols: usize, rate: f32, seed: u64) -> Array2<f32> {
    // Every element written below.
    let mut mask = pool::uninit(rows, cols);
    let keep = 1.0 / (1.0 - rate);
    let chunk = cols.max(1) * DROPOUT_ROWS;
    slice_mut(&mut mask)
        .par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(k, m)| {
            let mut rng = StdRng::seed_from_u64(mix(seed, k as u64));
            // The stream's words in blocks (`fill` hands out the same words, in the same
            // order, as one `next_u32` per draw), so the comparison loop vectorises; each
            // word becomes `rng.random::<f32>()`'s value: its top 24 bits times 2^-24.
            let mut words = [0u32; 256];
            for m in m.chunks_mut(words.len()) {
                let words = &mut words[..m.len()];
                rng.fill(words);
                for (v, &u) in m.iter_mut().zip(words.iter()) {
                    let r = UNIT_24 * ((u >> 8) as f32);
                    // `keep * 1` or `keep * 0` (keep is finite and positive): the same
                    // values as the choice, without a branch that random draws mispredict.
                    *v = keep * f32::from(1 - u8::from(r < rate));
                }
            }
        });
    mask
}

/// `2^-24`: the step of `rng.random::<f32>()`.
const UNIT_24: f32 = 1.0 / (1u32 << 24) as f32;

fn sparse_forward(
    x: &Array2<f32>,
    outputs: usize,
    pre: &[u32],
    post: &[u32],
    w: &[f32],
) -> Array2<f32> {
    let mut y = Array2::<f32>::zeros((x.nrows(), outputs));
    let n_in = x.ncols();
    slice_mut(&mut y)
        .par_chunks_mut(outputs.max(1))
        .zip(slice(x).par_chunks(n_in.max(1)))
        .for_each(|(out, inp)| {
            for ((&i, &o), &wk) in pre.iter().zip(post).zip(w) {
                out[o as usize] += wk * inp[i as usize];
            }
        });
    y
}

fn sparse_backward(
    x: &Array2<f32>,
    dy: &Array2<f32>,
    outputs: usize,
    pre: &[u32],
    post: &[u32],
    w: &[f32],
    need_dx: bool,
) -> (Option<Array2<f32>>, Array2<f32>) {
    let n_in = x.ncols();
    let mut dw = vec![0.0f32; w.len()];
    for (inp, d) in slice(x)
        .chunks(n_in.max(1))
        .zip(slice(dy).chunks(outputs.max(1)))
    {
        for (k, (&i, &o)) in pre.iter().zip(post).enumerate() {
            dw[k] += d[o as usize] * inp[i as usize];
        }
    }
    let dx = need_dx.then(|| {
        let mut dx = Array2::<f32>::zeros((x.nrows(), n_in));
        slice_mut(&mut dx)
            .par_chunks_mut(n_in.max(1))
            .zip(slice(dy).par_chunks(outputs.max(1)))
            .for_each(|(g, d)| {
                for ((&i, &o), &wk) in pre.iter().zip(post).zip(w) {
                    g[i as usize] += wk * d[o as usize];
                }
            });
        dx
    });
    let n = dw.len();
    (
        dx,
        Array2::from_shape_vec((1, n), dw).unwrap_or_else(|_| Array2::zeros((1, n))),
    )
}

/// Applies a chain of kernels in evaluation mode.
pub(crate) fn forward_chain(kernels: &[Kernel], x: ArrayView2<f32>) -> Array2<f32> {
    let mut a = standard(x.to_owned());
    for k in kernels {
        a = k.forward(a, Mode::Eval).0;
    }
    a
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The block-filled dropout mask equals the per-draw `rng.random::<f32>()` one bit for bit
    /// (rows not a multiple of the stream's rows, and chunks longer than one block of words).
    #[test]
    fn dropout_mask_matches_per_draw_sampling() {
        for (rows, cols, rate, seed) in [(9, 500, 0.2f32, 7u64), (3, 77, 0.5, 1), (5, 300, 0.9, 42)]
        {
            let mut old = Array2::<f32>::zeros((rows, cols));
            let keep = 1.0 / (1.0 - rate);
            for (k, m) in slice_mut(&mut old)
                .chunks_mut(cols * DROPOUT_ROWS)
                .enumerate()
            {
                let mut rng = StdRng::seed_from_u64(mix(seed, k as u64));
                for v in m {
                    *v = if rng.random::<f32>() < rate {
                        0.0
                    } else {
                        keep
                    };
                }
            }
            let new = dropout_mask(rows, cols, rate, seed);
            let bits = |a: &Array2<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&old), bits(&new), "{rows}x{cols} rate {rate}");
            assert!(new.iter().any(|&v| v == 0.0) && new.iter().any(|&v| v == keep));
        }
    }

    /// Deterministic pseudo-random values in [-1, 1).
    pub(crate) fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
    }

    pub(crate) fn array(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        Array2::from_shape_vec((rows, cols), values(rows * cols, seed)).unwrap()
    }

    /// Reference conv via lifchip-net's synapse enumeration (an independent implementation).
    fn conv_via_synapses(x: &Array2<f32>, w: &Array2<f32>, g: &ConvGeom) -> Array2<f32> {
        let op = lifchip_net::LinearOp::Conv2d {
            out_channels: g.oc,
            kernel: [g.kh, g.kw],
            stride: [g.sh, g.sw],
            padding: [g.ph, g.pw],
            weights: lifchip_net::Tensor::new(
                vec![g.oc, g.ic, g.kh, g.kw],
                w.iter().copied().collect(),
            ),
        };
        let mut y = Array2::zeros((x.nrows(), g.out_size()));
        for b in 0..x.nrows() {
            op.for_each_synapse(&[g.ic, g.ih, g.iw], |i, o, wv| y[[b, o]] += wv * x[[b, i]]);
        }
        y
    }

    /// Checks `<dy, f(x)>` gradients of a kernel against central differences (loss in f64).
    fn check_gradients(kernel: &Kernel, x: &Array2<f32>, seed: u64) {
        let mode = Mode::Train { seed };
        let (y, saved) = kernel.forward(x.clone(), mode);
        let dy = array(y.nrows(), y.ncols(), 99);
        let loss = |k: &Kernel, x: &Array2<f32>| -> f64 {
            let (y, _) = k.forward(x.clone(), mode);
            y.iter()
                .zip(dy.iter())
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum()
        };
        let (dx, dw) = kernel.backward(&saved, dy.clone(), true);
        let dx = dx.unwrap();
        let h = 1e-2f32;
        for idx in (0..x.len()).step_by(x.len() / 23 + 1) {
            let (r, c) = (idx / x.ncols(), idx % x.ncols());
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[[r, c]] += h;
            xm[[r, c]] -= h;
            let fd = (loss(kernel, &xp) - loss(kernel, &xm)) / (2.0 * f64::from(h));
            let an = f64::from(dx[[r, c]]);
            assert!(
                (fd - an).abs() < 1e-3 * (1.0 + an.abs()),
                "dx[{r},{c}]: analytic {an}, fd {fd}"
            );
        }
        if let (Some(dw), Some(w)) = (dw, kernel.weights()) {
            for idx in (0..w.len()).step_by(w.len() / 23 + 1) {
                let (r, c) = (idx / w.ncols(), idx % w.ncols());
                let (mut kp, mut km) = (kernel.clone(), kernel.clone());
                kp.weights_mut().unwrap()[[r, c]] += h;
                km.weights_mut().unwrap()[[r, c]] -= h;
                let fd = (loss(&kp, x) - loss(&km, x)) / (2.0 * f64::from(h));
                let an = f64::from(dw[[r, c]]);
                assert!(
                    (fd - an).abs() < 1e-3 * (1.0 + an.abs()),
                    "dw[{r},{c}]: analytic {an}, fd {fd}"
                );
            }
        }
    }

    #[test]
    fn conv_matches_the_net_synapses_and_its_gradients() {
        for (input, oc, kernel, stride, padding) in [
            ([1, 6, 6], 2, [3, 3], [1, 1], [0, 0]),
            ([2, 7, 5], 3, [3, 2], [2, 1], [1, 2]),
            ([3, 5, 5], 2, [5, 5], [1, 1], [2, 2]),
            ([1, 4, 4], 1, [1, 1], [3, 3], [0, 0]),
        ] {
            let g = ConvGeom::new(input, oc, kernel, stride, padding).unwrap();
            let w = array(oc, g.patch(), 5);
            let x = array(3, g.in_size(), 6);
            let k = Kernel::Conv { w: w.clone(), g };
            let (y, _) = k.forward(x.clone(), Mode::Eval);
            let reference = conv_via_synapses(&x, &w, &g);
            for (a, b) in y.iter().zip(reference.iter()) {
                assert!((a - b).abs() < 1e-5, "{input:?} {kernel:?}: {a} vs {b}");
            }
            check_gradients(&k, &x, 1);
            // The grouped evaluation path gives the training path's bits (odd batch sizes
            // leave a partial group).
            let x = array(19, g.in_size(), 7);
            let (eval, _) = k.forward(x.clone(), Mode::Eval);
            let (train, _) = k.forward(x, Mode::Train { seed: 1 });
            assert_eq!(eval, train, "{input:?} {kernel:?}");
        }
        assert!(ConvGeom::new([1, 2, 2], 1, [3, 3], [1, 1], [0, 0]).is_none());
        assert!(ConvGeom::new([1, 2, 2], 1, [3, 3], [1, 1], [1, 1]).is_some());
    }

    /// Evaluation-mode convolution and the training forward give the bits of im2col, one
    /// GEMM over all rows and a transpose (the training path before per-image GEMMs), also with a patch longer than GEMM's k blocks, padding and strides.
    #[test]
    fn conv_eval_is_bit_identical_to_the_training_path() {
        for (input, oc, kernel, stride, padding, batch) in [
            ([16, 12, 12], 64, [5, 5], [1, 1], [0, 0], 11),
            ([1, 28, 28], 16, [5, 5], [1, 1], [0, 0], 9),
            ([24, 9, 7], 5, [3, 4], [2, 1], [1, 2], 17),
        ] {
            let g = ConvGeom::new(input, oc, kernel, stride, padding).unwrap();
            let w = array(oc, g.patch(), 8);
            let mut x = array(batch, g.in_size(), 9);
            x.iter_mut().step_by(5).for_each(|v| *v = 0.0);
            let train = positions_to_channels(&gemm(im2col(&x, &g).view(), w.t()), batch, &g);
            let eval = conv_eval(&x, &w, &g);
            let bits = |a: &Array2<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&eval), bits(&train), "{input:?} {kernel:?}");
            let from_cols = conv_from_cols(&im2col(&x, &g), &w, batch, &g);
            assert_eq!(bits(&from_cols), bits(&train), "{input:?} {kernel:?}");
            // Input gradient: per image from `dy` in place against one GEMM then col2im.
            let dy = array(batch, g.out_size(), 10);
            let dyp = channels_to_positions(&dy, batch, &g);
            let want = col2im(&gemm(dyp.view(), w.view()), batch, &g);
            let got = conv_input_grad(&dy, &w, batch, &g);
            assert_eq!(bits(&got), bits(&want), "dx {input:?} {kernel:?}");
        }
    }

    /// Pooling (forward and backward) with the 2x2 window specialised gives the same bits
    /// as the loops with the window read from the geometry (and so does any other window).
    #[test]
    fn pooling_matches_the_generic_loops() {
        for (input, size, stride) in [
            ([16, 24, 24], [2, 2], [2, 2]),
            ([3, 9, 7], [2, 2], [1, 2]),
            ([2, 9, 8], [3, 2], [2, 2]),
        ] {
            let g = PoolGeom::new(input, size, stride).unwrap();
            let batch = 3;
            let mut x = array(batch, g.in_size(), 11);
            x.iter_mut().step_by(3).for_each(|v| *v = -0.0);
            let dy = array(batch, g.out_size(), 12);
            let scale = 1.0 / (g.kh * g.kw) as f32;
            // The loops as they were, window from `g` at run time.
            let mut want_y = vec![0.0f32; batch * g.out_size()];
            let mut want_dx = vec![0.0f32; batch * g.in_size()];
            for b in 0..batch {
                let img = &slice(&x)[b * g.in_size()..][..g.in_size()];
                let d = &slice(&dy)[b * g.out_size()..][..g.out_size()];
                let out = &mut want_y[b * g.out_size()..][..g.out_size()];
                let dimg = &mut want_dx[b * g.in_size()..][..g.in_size()];
                for c in 0..g.c {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let mut sum = 0.0;
                            let v = d[(c * g.oh + oy) * g.ow + ox] * scale;
                            for ky in 0..g.kh {
                                let base = (c * g.ih + oy * g.sh + ky) * g.iw + ox * g.sw;
                                sum += img[base..base + g.kw].iter().sum::<f32>();
                                for cell in &mut dimg[base..base + g.kw] {
                                    *cell += v;
                                }
                            }
                            out[(c * g.oh + oy) * g.ow + ox] = sum * scale;
                        }
                    }
                }
            }
            let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let y = pool_forward(&x, &g);
            assert_eq!(bits(slice(&y)), bits(&want_y), "{input:?} {size:?}");
            let dx = pool_backward(&dy, &g);
            assert_eq!(bits(slice(&dx)), bits(&want_dx), "{input:?} {size:?}");
        }
    }

    /// im2col (the constant-width path for unpadded kernels 3/5/7 wide, and the general
    /// loops) against the definition, element by element.
    #[test]
    fn im2col_matches_the_definition() {
        for (input, kernel, stride, padding) in [
            ([1, 28, 28], [5, 5], [1, 1], [0, 0]),
            ([16, 12, 12], [5, 5], [1, 1], [0, 0]),
            ([3, 11, 9], [3, 3], [2, 1], [0, 0]),
            ([2, 13, 12], [7, 7], [1, 2], [0, 0]),
            ([2, 9, 8], [3, 4], [1, 1], [0, 0]),
            ([2, 9, 8], [3, 5], [2, 1], [1, 2]),
        ] {
            let g = ConvGeom::new(input, 4, kernel, stride, padding).unwrap();
            let batch = 2;
            let x = array(batch, g.in_size(), 13);
            let cols = im2col(&x, &g);
            let (p, k) = (g.positions(), g.patch());
            assert_eq!(cols.dim(), (batch * p, k));
            for b in 0..batch {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        for c in 0..g.ic {
                            for ky in 0..g.kh {
                                for kx in 0..g.kw {
                                    let iy = (oy * g.sh + ky) as isize - g.ph as isize;
                                    let ix = (ox * g.sw + kx) as isize - g.pw as isize;
                                    let inside = iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < g.ih
                                        && (ix as usize) < g.iw;
                                    let want = if inside {
                                        x[[b, (c * g.ih + iy as usize) * g.iw + ix as usize]]
                                    } else {
                                        0.0
                                    };
                                    let got =
                                        cols[[b * p + oy * g.ow + ox, (c * g.kh + ky) * g.kw + kx]];
                                    assert_eq!(got.to_bits(), want.to_bits(), "{input:?}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn dense_pool_sparse_dropout_gradients() {
        let dense = Kernel::Dense { w: array(4, 6, 1) };
        check_gradients(&dense, &array(5, 6, 2), 1);

        let g = PoolGeom::new([2, 5, 4], [2, 2], [2, 2]).unwrap();
        assert_eq!((g.oh, g.ow), (2, 2));
        let x = array(2, g.in_size(), 3);
        let (y, _) = Kernel::Pool(g).forward(x.clone(), Mode::Eval);
        assert!((y[[0, 0]] - (x[[0, 0]] + x[[0, 1]] + x[[0, 4]] + x[[0, 5]]) / 4.0).abs() < 1e-6);
        check_gradients(&Kernel::Pool(g), &x, 1);
        let overlapping = PoolGeom::new([1, 5, 5], [3, 3], [1, 2]).unwrap();
        check_gradients(&Kernel::Pool(overlapping), &array(2, 25, 4), 1);

        let sparse = Kernel::Sparse {
            outputs: 3,
            pre: vec![0, 1, 4, 4],
            post: vec![2, 0, 0, 1],
            w: array(1, 4, 7),
        };
        check_gradients(&sparse, &array(3, 5, 8), 1);

        let dropout = Kernel::Dropout { rate: 0.5 };
        let x = array(8, 50, 9);
        let (y, _) = dropout.forward(x.clone(), Mode::Train { seed: 3 });
        let zeros = y.iter().filter(|v| **v == 0.0).count();
        assert!((150..250).contains(&zeros), "{zeros} of 400 dropped");
        for (a, b) in y.iter().zip(x.iter()) {
            assert!(*a == 0.0 || (a - 2.0 * b).abs() < 1e-6);
        }
        assert_eq!(dropout.forward(x.clone(), Mode::Eval).0, x);
        check_gradients(&dropout, &x, 3);
    }
}
