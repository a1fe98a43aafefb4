//! `C = A · B` for `f32`, bit for bit what `ndarray`'s `general_mat_mul` (`matrixmultiply`'s
//! sgemm) gives on a machine with AVX2 and FMA (its 8×8 FMA kernel) or AVX-512 (its 16-wide
//! kernel), with different register tiles and less copying around the arithmetic.
//!
//! What every element is: a chain of fused multiply-adds starting from zero over each block
//! of [`KC`] steps of the inner dimension (in order), the blocks' chains then added in order
//! (`matrixmultiply` writes the first block's chain and adds each later one to `C` with
//! `beta = 1`; with `alpha = 1` its final `fma(alpha, ab, beta * c)` is that addition).
//! Nothing else about the work changes a bit of the result, so this module is free to choose
//! the rest:
//! - one operand is read in place when its rows are contiguous (`matrixmultiply` packs both
//!   operands of every call); the other is copied a block at a time, each row tile's values
//!   of one step together;
//! - the product may be computed transposed (`Cᵀ = Bᵀ · Aᵀ`), whichever way copies less;
//! - a weight matrix multiplied by many per-image matrices is packed once ([`Packed`]);
//! - the register tile is 6 rows × 16 columns (12 `ymm` accumulators, enough for Zen 2's FMA
//!   latency where `matrixmultiply` keeps 8) with AVX2, 12 × 32 with AVX-512.
//!
//! Measured on Zen 2 (`gemm::speed`, an ignored test that prints GMAC/s): the tiles reach
//! 33–36 GMAC/s where `matrixmultiply` does 28–32, but only with the weights packed
//! beforehand; packing them per call costs what the tiles save (bench/torch/NOTES.md,
//! round 16).
//!
//! Below AVX2 + FMA (or with views this module does not take: negative strides,
//! non-contiguous memory) every call goes to `general_mat_mul`, so results never depend on
//! which path ran.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

/// `matrixmultiply`'s depth block for `f32` (its `S_KC`): the chains restart every `KC` steps.
const KC: usize = 256;
/// Bytes of a block of the broadcast operand that are reread from L2 (its size on Zen 2).
const L2: usize = 512 << 10;

/// Whether this module computes products here (else `general_mat_mul` does): with FMA
/// vectors, which every level above the baseline has.
fn enabled() -> bool {
    lifchip_simd::level() >= lifchip_simd::Level::Avx2
}

/// The register tile for this CPU, `(rows, panel columns)`, rows of the operand read one
/// value at a time and broadcast: enough independent accumulators
/// to cover the FMA latency (a ragged last panel is half as wide when that covers it).
fn tile_shape() -> (usize, usize) {
    match lifchip_simd::level() {
        lifchip_simd::Level::Avx512 => (12, 32),
        _ => (6, 16),
    }
}

/// A matrix in memory: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    /// The view's memory and strides, when its memory is one slice and no stride is negative.
    fn of(v: &ArrayView2<'a, f32>) -> Option<Mat<'a>> {
        let (rows, cols) = v.dim();
        let (rs, cs) = (stride(v.strides()[0], rows)?, stride(v.strides()[1], cols)?);
        let data = v.to_slice_memory_order()?;
        Some(Mat {
            data,
            rows,
            cols,
            rs,
            cs,
        })
    }

    fn t(self) -> Mat<'a> {
        Mat {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Elements copied to put it in panels: none when its rows are contiguous, except the
    /// last panel when it is ragged.
    fn pack_cost(&self, reuse: usize, nr: usize) -> usize {
        let (k, n) = (self.rows, self.cols);
        if (self.cs == 1 || n <= 1) && !aliasing(self.rs, reuse) {
            let last = n % nr;
            if last == 0 || last == nr / 2 {
                0
            } else {
                k * panel_width(n, n - last, nr)
            }
        } else {
            k * packed_cols(n, nr)
        }
    }
}

/// A usable stride: non-negative (any value for an axis of length at most 1).
fn stride(s: isize, len: usize) -> Option<usize> {
    if len <= 1 {
        return Some(0);
    }
    usize::try_from(s).ok()
}

/// The columns `j0..j0 + width` of a `[k, n]` operand as the tiles read them: row `t` is
/// `data[start + t * step..][..width]` (of the operand itself, or of its packed copy).
#[derive(Clone, Copy)]
struct Panel {
    packed: bool,
    start: usize,
    step: usize,
    j0: usize,
    width: usize,
}

/// The right-hand operand `[k, n]` in panels of the tile's width (or half): read in place where
/// its rows are contiguous, else (and for a ragged last panel) packed (unspecified past column
/// `n`: those lanes are computed but never stored).
pub(crate) struct Packed<'a> {
    b: ArrayView2<'a, f32>,
    own: Vec<f32>,
    panels: Vec<Panel>,
}

impl<'a> Packed<'a> {
    /// Prepares `b` (`[k, n]`) when this module will use it.
    pub(crate) fn new(b: ArrayView2<'a, f32>) -> Packed<'a> {
        // Short products (`k` below 64) stay with `general_mat_mul`: there the tiles' fixed
        // cost outweighs what they save (a 5×5 single-channel conv ran at 0.7× its speed).
        let (own, panels) = match Mat::of(&b) {
            Some(m) if enabled() && m.rows >= 64 => panels(m, usize::MAX, tile_shape().1),
            _ => (Vec::new(), Vec::new()),
        };
        Packed { b, own, panels }
    }
}

impl Drop for Packed<'_> {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.own));
    }
}

/// A buffer of `len` floats with unspecified contents, from [`crate::pool`]: a fresh big
/// allocation pays page faults on every call.
fn scratch(len: usize) -> Vec<f32> {
    crate::pool::uninit(1, len).into_raw_vec_and_offset().0
}

/// Hands a [`scratch`] buffer back to the pool.
fn give_back(v: Vec<f32>) {
    if let Ok(a) = ndarray::Array2::from_shape_vec((1, v.len()), v) {
        crate::pool::recycle(a);
    }
}

/// The width of the panel starting at column `j0` of `n`, in panels `nr` wide.
fn panel_width(n: usize, j0: usize, nr: usize) -> usize {
    if n - j0 > nr / 2 { nr } else { nr / 2 }
}

/// Columns of `n` once packed: `nr` per panel, the last one half that when that covers it.
fn packed_cols(n: usize, nr: usize) -> usize {
    let full = n / nr * nr;
    match n - full {
        0 => full,
        rem if rem > nr / 2 => full + nr,
        _ => full + nr / 2,
    }
}

/// `b`'s panels, `nr` wide; `reuse`: how many row tiles read each of them.
fn panels(b: Mat<'_>, reuse: usize, nr: usize) -> (Vec<f32>, Vec<Panel>) {
    let (k, n) = (b.rows, b.cols);
    let mut panels = Vec::new();
    let mut packed = 0;
    let mut j0 = 0;
    while j0 < n {
        let width = panel_width(n, j0, nr);
        let in_place = (b.cs == 1 || n <= 1) && j0 + width <= n && k > 0 && !aliasing(b.rs, reuse);
        panels.push(Panel {
            packed: !in_place,
            start: if in_place { j0 } else { packed },
            step: if in_place { b.rs } else { width },
            j0,
            width,
        });
        if !in_place {
            packed += k * width;
        }
        j0 += width;
    }
    // Filled in one pass over `b` in memory order (panel by panel, a strided `b` was read
    // once per panel).
    let mut own = scratch(packed);
    let copies: Vec<&Panel> = panels.iter().filter(|p| p.packed).collect();
    if b.cs == 1 || n <= 1 {
        for t in 0..k {
            let Some(row) = b.data.get(t * b.rs..t * b.rs + n) else {
                break;
            };
            for p in &copies {
                let live = p.width.min(n - p.j0);
                let at = p.start + t * p.width;
                if let Some(dst) = own.get_mut(at..at + live) {
                    // An element loop, not `copy_from_slice`: that was a `memcpy` call per
                    // 16 floats (a third of a dense layer's input gradient).
                    for (d, &v) in dst.iter_mut().zip(&row[p.j0..]) {
                        *d = v;
                    }
                }
            }
        }
    } else {
        // 64 steps at a time: a whole panel's columns (rows `width` floats apart) did not
        // stay in L1 across its columns, which made this copy a third of a dense forward.
        for p in &copies {
            for t0 in (0..k).step_by(64) {
                let steps = (t0 + 64).min(k) - t0;
                let at = p.start + t0 * p.width;
                let Some(dst) = own.get_mut(at..at + steps * p.width) else {
                    break;
                };
                let live = p.width.min(n - p.j0);
                // Columns contiguous in memory (the weights of `x · wᵀ`): 8 × 8 blocks, read
                // as 8 columns of 8 and written as 8 rows of 8.
                let mut l0 = 0;
                if b.rs == 1 && steps == 64 {
                    while l0 + 8 <= live {
                        for tb in 0..8 {
                            let mut blk = [[0.0f32; 8]; 8];
                            for (q, c) in blk.iter_mut().enumerate() {
                                let at = (p.j0 + l0 + q) * b.cs + t0 + tb * 8;
                                if let Some(Ok(v)) =
                                    b.data.get(at..at + 8).map(<&[f32; 8]>::try_from)
                                {
                                    *c = *v;
                                }
                            }
                            for (tt, row) in dst[tb * 8 * p.width..]
                                .chunks_exact_mut(p.width)
                                .take(8)
                                .enumerate()
                            {
                                if let Ok(d) = <&mut [f32; 8]>::try_from(&mut row[l0..l0 + 8]) {
                                    *d = std::array::from_fn(|q| blk[q][tt]);
                                }
                            }
                        }
                        l0 += 8;
                    }
                }
                for l in l0..live {
                    let Some(col) = b.data.get((p.j0 + l) * b.cs + t0 * b.rs..) else {
                        break;
                    };
                    let col = col.iter().step_by(b.rs.max(1));
                    for (d, &v) in dst.chunks_exact_mut(p.width).zip(col) {
                        d[l] = v;
                    }
                }
            }
        }
    }
    (own, panels)
}

/// Whether a panel read in place with rows `step` floats apart by `reuse` row tiles is better
/// packed: rows a multiple of 4 KiB apart share cache sets, so a panel reread many times
/// does not stay in cache (a dense layer's weight gradient ran at 0.8× with them in place).
fn aliasing(step: usize, reuse: usize) -> bool {
    step.is_multiple_of(1024) && reuse > 16
}

/// `c = a · b` (beta = 0).
pub(crate) fn mm(a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>) {
    let (Some(am), Some(bm)) = (Mat::of(&a), Mat::of(&b)) else {
        general_mat_mul(1.0, &a, &b, 0.0, &mut c);
        return;
    };
    if !enabled() || am.cols != bm.rows || c.dim() != (am.rows, bm.cols) {
        general_mat_mul(1.0, &a, &b, 0.0, &mut c);
        return;
    }
    // Transposed, `bᵀ` is broadcast and `aᵀ` is in panels: take the way that copies less.
    // Elements copied either way, and (four times) written one by one when the tile lanes
    // are not contiguous in `c`.
    let (rsc, csc) = (c.strides()[0], c.strides()[1]);
    let (mr, nr) = tile_shape();
    let cost = |x: Mat<'_>, y: Mat<'_>, lanes: isize| {
        let scatter = if lanes == 1 || y.cols <= 1 {
            0
        } else {
            4 * x.rows * y.cols
        };
        x.rows * x.cols + y.pack_cost(x.rows.div_ceil(mr), nr) + scatter
    };
    let swap = cost(bm.t(), am.t(), rsc) < cost(am, bm, csc);
    let (x, y) = if swap { (bm.t(), am.t()) } else { (am, bm) };
    let (own, panels) = panels(y, x.rows.div_ceil(mr), nr);
    let done = product(x, y.data, &own, &panels, y.cols, &mut c, swap);
    give_back(own);
    if !done {
        general_mat_mul(1.0, &a, &b, 0.0, &mut c);
    }
}

/// `c = a · b` for the `b` of `packed`.
pub(crate) fn mm_packed(a: ArrayView2<f32>, packed: &Packed<'_>, mut c: ArrayViewMut2<f32>) {
    let b = &packed.b;
    let fits = a.ncols() == b.nrows() && c.dim() == (a.nrows(), b.ncols());
    let done = fits
        && (!packed.panels.is_empty() || b.ncols() == 0)
        && Mat::of(b).zip(Mat::of(&a)).is_some_and(|(bm, am)| {
            product(
                am,
                bm.data,
                &packed.own,
                &packed.panels,
                b.ncols(),
                &mut c,
                false,
            )
        });
    if !done {
        general_mat_mul(1.0, &a, b, 0.0, &mut c);
    }
}

/// `c = x · y` (or `cᵀ` when `transposed`) with `y` (`[k, n]`, memory `data`) in `panels`
/// (packed ones in `own`). False when something does not fit: the caller then computes the
/// whole product again with `general_mat_mul`.
#[allow(clippy::too_many_arguments)]
fn product(
    x: Mat<'_>,
    data: &[f32],
    own: &[f32],
    panels: &[Panel],
    n: usize,
    c: &mut ArrayViewMut2<f32>,
    transposed: bool,
) -> bool {
    let (m, k) = (x.rows, x.cols);
    let (rsc, csc) = (c.strides()[0], c.strides()[1]);
    let (rsc, csc) = if transposed { (csc, rsc) } else { (rsc, csc) };
    let (crows, ccols) = if transposed {
        (c.ncols(), c.nrows())
    } else {
        c.dim()
    };
    let (Some(rsc), Some(csc)) = (stride(rsc, crows), stride(csc, ccols)) else {
        return false;
    };
    if crows != m || ccols != n || panels.iter().map(|p| p.width).sum::<usize>() < n {
        return false;
    }
    let Some(out) = c.as_slice_memory_order_mut() else {
        return false;
    };
    let mut out = Out {
        data: out,
        rs: rsc,
        cs: csc,
    };
    if m == 0 || n == 0 {
        return true;
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                out.set(i, j, 0.0);
            }
        }
        return true;
    }
    let ops = Operands {
        x,
        data,
        own,
        panels,
        n,
    };
    // Several blocks into an output whose tile lanes are not contiguous: the running sums go
    // to a row-major buffer first, then once to the output.
    if k > KC && out.cs != 1 {
        let cols = panels.iter().map(|p| p.width).sum();
        let mut sums = scratch(m * cols);
        let mut buf = Out {
            data: &mut sums,
            rs: cols,
            cs: 1,
        };
        let done = tiles(&ops, &mut buf).is_some();
        if done {
            for i in 0..m {
                for j in 0..n {
                    out.set(i, j, sums[i * cols + j]);
                }
            }
        }
        give_back(sums);
        return done;
    }
    tiles(&ops, &mut out).is_some()
}

struct Operands<'a> {
    /// The broadcast operand `[m, k]`.
    x: Mat<'a>,
    /// The panel operand's memory and packed copies.
    data: &'a [f32],
    own: &'a [f32],
    panels: &'a [Panel],
    n: usize,
}

/// The output: element `(i, j)` at `data[i * rs + j * cs]`.
struct Out<'a> {
    data: &'a mut [f32],
    rs: usize,
    cs: usize,
}

impl Out<'_> {
    fn set(&mut self, i: usize, j: usize, v: f32) {
        if let Some(x) = self.data.get_mut(i * self.rs + j * self.cs) {
            *x = v;
        }
    }
}

/// The register tile of rows `i0..i0 + r` of the broadcast operand (packed for this block:
/// `a`, step `t` of row `i0 + q` at `t * r + q`) and panel `p`, over steps `t0..t0 + kc`,
/// into `out`. A function, not a closure: closures do not get the caller's target features,
/// so their `mul_add` was a libm call.
#[inline(always)]
fn tile_at(
    ops: &Operands<'_>,
    a: &[f32],
    (t0, kc, first): (usize, usize, bool),
    (i0, r): (usize, usize),
    p: &Panel,
    out: &mut Out<'_>,
) -> Option<()> {
    let a = a.get(..kc * r)?;
    let src = if p.packed { ops.own } else { ops.data };
    let b = src.get(p.start + t0 * p.step..)?;
    if b.len() < (kc - 1) * p.step + p.width {
        return None;
    }
    // The tiles of both shapes of [`tile_shape`] (and their halves for ragged panels).
    macro_rules! go {
        ($($w:literal: $($r:literal)*;)*) => {
            match (r, p.width) {
                $($(($r, $w) => {
                    let mut t = [[0.0f32; $w]; $r];
                    tile::<$r, $w>(a, b, p.step, &mut t);
                    store::<$r, $w>(out, i0, p.j0, ops.n, first, &t)
                })*)*
                _ => return None,
            }
        };
    }
    go!(
        32: 1 2 3 4 5 6 7 8 9 10 11 12;
        16: 1 2 3 4 5 6 7 8 9 10 11 12;
        8: 1 2 3 4 5 6;
    );
    Some(())
}

lifchip_simd::multiversion! {
    /// Every register tile of the product into `out`, block by block of [`KC`] steps: a
    /// block's tiles all read the same rows of both operands, so they stay in cache.
    fn tiles<>(ops: &Operands<'_>, out: &mut Out<'_>) -> Option<()> => tiles_generic
}

#[inline(always)]
fn tiles_generic(ops: &Operands<'_>, out: &mut Out<'_>) -> Option<()> {
    let (x, m, k) = (&ops.x, ops.x.rows, ops.x.cols);
    let mr = tile_shape().0;
    // The broadcast operand's block, row tile by row tile, each step's values together: the
    // tiles then read it through one pointer (six row pointers, reloaded from the stack
    // every step, made the AVX2 tile load-bound).
    let mut packed = scratch(m * KC.min(k));
    let mut t0 = 0;
    while t0 < k {
        let kc = (k - t0).min(KC);
        let first = t0 == 0;
        for (i0, r) in row_split(m, mr) {
            let dst = packed.get_mut(i0 * kc..(i0 + r) * kc)?;
            for q in 0..r {
                let row = x.data.get((i0 + q) * x.rs + t0 * x.cs..)?;
                for (d, &v) in dst.chunks_exact_mut(r).zip(row.iter().step_by(x.cs.max(1))) {
                    d[q] = v;
                }
            }
        }
        // A block of the broadcast operand that fits in L2 is reread for each panel, which
        // then stays in L1 across the row tiles; a bigger one is read once, each row tile
        // running over all panels.
        if m * kc * 4 <= L2 {
            for p in ops.panels {
                for (i0, r) in row_split(m, mr) {
                    let a = packed.get(i0 * kc..)?;
                    tile_at(ops, a, (t0, kc, first), (i0, r), p, out)?;
                }
            }
        } else {
            for (i0, r) in row_split(m, mr) {
                let a = packed.get(i0 * kc..)?;
                for p in ops.panels {
                    tile_at(ops, a, (t0, kc, first), (i0, r), p, out)?;
                }
            }
        }
        t0 += kc;
    }
    give_back(packed);
    Some(())
}

/// The row tiles of `m` rows (first row, rows), at most `mr` each and as even as possible:
/// 64 rows in tiles of 12 run as 11, 11, 11, 11, 10, 10 rather than five of 12 and a slow 4.
fn row_split(m: usize, mr: usize) -> impl Iterator<Item = (usize, usize)> {
    let tiles = m.div_ceil(mr).max(1);
    let (base, extra) = (m / tiles, m % tiles);
    (0..tiles).map(move |i| (i * base + i.min(extra), base + usize::from(i < extra)))
}

/// One register tile over one block: `a` (`R` values per step) times a panel `W` wide whose
/// step `t` row is `b[t * step..][..W]` (`b` reaches that far: checked by the caller). Per
/// element, a fused multiply-add chain from zero. One return, no exit inside the loop:
/// otherwise the accumulators were kept in memory, stored every step.
#[inline(always)]
fn tile<const R: usize, const W: usize>(
    a: &[f32],
    b: &[f32],
    step: usize,
    out: &mut [[f32; W]; R],
) {
    let mut acc = [[0.0f32; W]; R];
    for (t, at) in a.chunks_exact(R).enumerate() {
        let (Some(bk), Ok(at)) = (b.get(t * step..t * step + W), <&[f32; R]>::try_from(at)) else {
            continue;
        };
        let Ok(bk) = <&[f32; W]>::try_from(bk) else {
            continue;
        };
        for r in 0..R {
            let av = at[r];
            for l in 0..W {
                acc[r][l] = av.mul_add(bk[l], acc[r][l]);
            }
        }
    }
    // Copied out once: the accumulators stay a local of their own, kept in registers.
    *out = acc;
}

/// Writes (`first`) or adds a tile's live part: rows `i0..i0 + R`, columns
/// `j0..min(j0 + W, n)`.
#[inline(always)]
fn store<const R: usize, const W: usize>(
    out: &mut Out<'_>,
    i0: usize,
    j0: usize,
    n: usize,
    first: bool,
    t: &[[f32; W]; R],
) {
    let live = W.min(n - j0);
    for (r, row) in t.iter().enumerate() {
        let base = (i0 + r) * out.rs + j0 * out.cs;
        if out.cs == 1 {
            if let Some(dst) = out.data.get_mut(base..base + live) {
                if first {
                    dst.copy_from_slice(&row[..live]);
                } else {
                    for (d, &v) in dst.iter_mut().zip(row) {
                        *d += v;
                    }
                }
            }
        } else {
            for (l, &v) in row[..live].iter().enumerate() {
                if let Some(x) = out.data.get_mut(base + l * out.cs) {
                    *x = if first { v } else { *x + v };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifchip_simd::Level;
    use ndarray::{Array2, ShapeBuilder};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn random(rows: usize, cols: usize, f_order: bool, rng: &mut StdRng) -> Array2<f32> {
        let shape = (rows, cols).set_f(f_order);
        // Wide exponents and both signs, so any change in the order of operations shows.
        Array2::from_shape_fn(shape, |_| {
            let x: f32 = rng.random_range(-1.0..1.0);
            x * 2f32.powi(rng.random_range(-8..8))
        })
    }

    fn bits(c: &Array2<f32>) -> Vec<u32> {
        c.iter().map(|x| x.to_bits()).collect()
    }

    const LEVELS: [Level; 3] = [Level::Base, Level::Avx2, Level::Avx512];

    /// Shapes around the tile and block edges, every layout of `a`, `b` and `c`, at every
    /// level the CPU has (the tile shape changes with it): the same bits as
    /// `general_mat_mul`, through `mm` and through `mm_packed`.
    #[test]
    fn products_equal_general_mat_mul_bit_for_bit() {
        let sizes = [
            1, 2, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 24, 25, 31, 32, 33, 48, 64, 100,
        ];
        let depths = [1, 2, 25, 63, 64, 65, 255, 256, 257, 400, 511, 512, 513, 700];
        for level in LEVELS {
            lifchip_simd::cap(level);
            let mut rng = StdRng::seed_from_u64(7);
            for _ in 0..240 {
                let m = sizes[rng.random_range(0..sizes.len())];
                let n = sizes[rng.random_range(0..sizes.len())];
                let k = depths[rng.random_range(0..depths.len())];
                let (fa, fb, fc) = (rng.random(), rng.random(), rng.random());
                let a = random(m, k, fa, &mut rng);
                let b = random(k, n, fb, &mut rng);
                let mut want = Array2::<f32>::zeros((m, n).set_f(fc));
                general_mat_mul(1.0, &a, &b, 0.0, &mut want);
                let mut got = Array2::<f32>::from_elem((m, n).set_f(fc), f32::NAN);
                mm(a.view(), b.view(), got.view_mut());
                let case = format!("{m}x{k}x{n} {fa} {fb} {fc} at {level:?}");
                assert_eq!(bits(&got), bits(&want), "mm {case}");
                let packed = Packed::new(b.view());
                let mut got = Array2::<f32>::from_elem((m, n).set_f(fc), f32::NAN);
                mm_packed(a.view(), &packed, got.view_mut());
                assert_eq!(bits(&got), bits(&want), "mm_packed {case}");
            }
        }
        lifchip_simd::cap(Level::Avx512);
    }

    /// At every vector level the CPU has, the products run in the tiles, not in the fallback
    /// (so the test above checks them), for every tile height and a ragged last panel.
    #[test]
    fn the_tiles_compute_the_products() {
        let mut rng = StdRng::seed_from_u64(9);
        for level in LEVELS {
            lifchip_simd::cap(level);
            if !enabled() {
                continue;
            }
            for (m, n) in [(30, 40), (5, 24), (13, 8), (12, 33)] {
                for (fa, fc) in [(false, false), (true, false), (false, true)] {
                    let a = random(m, 600, fa, &mut rng);
                    let b = random(600, n, false, &mut rng);
                    let (Some(am), Some(bm)) = (Mat::of(&a.view()), Mat::of(&b.view())) else {
                        panic!("contiguous views");
                    };
                    let (own, panels) = panels(bm, 1, tile_shape().1);
                    let mut c = Array2::<f32>::from_elem((m, n).set_f(fc), f32::NAN);
                    let mut cv = c.view_mut();
                    assert!(product(am, bm.data, &own, &panels, n, &mut cv, false));
                    let mut want = Array2::<f32>::zeros((m, n));
                    general_mat_mul(1.0, &a, &b, 0.0, &mut want);
                    let got = c.as_standard_layout().to_owned();
                    assert_eq!(bits(&got), bits(&want), "{m}x600x{n} at {level:?}");
                }
            }
        }
        lifchip_simd::cap(Level::Avx512);
    }

    /// Sub-views (rows of a bigger matrix, a column block) and an empty inner dimension.
    #[test]
    fn views_and_empty_products_equal_general_mat_mul() {
        let mut rng = StdRng::seed_from_u64(8);
        let a = random(40, 300, false, &mut rng);
        let b = random(300, 70, false, &mut rng);
        let (a_rows, b_cols) = (
            a.slice(ndarray::s![5..30, ..]),
            b.slice(ndarray::s![.., 3..50]),
        );
        let mut want = Array2::<f32>::zeros((25, 47));
        general_mat_mul(1.0, &a_rows, &b_cols, 0.0, &mut want);
        let mut got = Array2::<f32>::from_elem((25, 47), f32::NAN);
        mm(a_rows, b_cols, got.view_mut());
        assert_eq!(bits(&got), bits(&want));
        let (a0, b0) = (Array2::<f32>::zeros((5, 0)), Array2::<f32>::zeros((0, 7)));
        let mut got = Array2::<f32>::from_elem((5, 7), f32::NAN);
        mm(a0.view(), b0.view(), got.view_mut());
        assert!(got.iter().all(|&x| x == 0.0));
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};
    use std::time::Instant;

    fn time(f: &mut dyn FnMut()) -> f64 {
        let mut best = f64::MAX;
        for _ in 0..7 {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        best * 1e3
    }

    #[test]
    #[ignore]
    fn hot_shapes() {
        // (m, k, n, a transposed, b transposed, c f-order, label)
        let cases = [
            (6, 256, 16, false, false, false, "one tile, L1"),
            (120, 256, 320, false, false, false, "L2"),
            (120, 2000, 320, false, false, false, "deep"),
            (256, 784, 500, false, true, false, "mlp1 fwd x·wT (eval)"),
            (256, 500, 300, false, true, false, "mlp2 fwd x·wT (eval)"),
            (100, 784, 500, false, true, false, "mlp1 fwd x·wT"),
            (100, 500, 300, false, true, false, "mlp2 fwd x·wT"),
            (100, 300, 500, false, false, false, "mlp2 dX dy·w"),
            (500, 100, 784, true, false, false, "mlp1 dW dyT·x"),
            (300, 100, 500, true, false, false, "mlp2 dW dyT·x"),
            (100, 1024, 2000, false, true, false, "dense fwd x·wT"),
            (100, 2000, 1024, false, false, false, "dense dX dy·w"),
            (2000, 100, 1024, true, false, false, "dense dW dyT·x"),
            (16, 57600, 25, true, false, false, "conv1 dW"),
            (64, 6400, 400, true, false, false, "conv2 dW"),
            (64, 400, 64, false, true, true, "conv2 fwd (1 image)"),
            (576, 25, 16, false, true, true, "conv1 fwd (1 image)"),
            (64, 64, 400, true, false, false, "conv2 dX (1 image)"),
        ];
        let only = std::env::var("GEMM_CASE").unwrap_or_default();
        for (m, k, n, ta, tb, fc, label) in cases {
            if !label.starts_with(only.as_str()) {
                continue;
            }
            let a = if ta {
                Array2::<f32>::from_elem((k, m), 0.5).reversed_axes()
            } else {
                Array2::from_elem((m, k), 0.5)
            };
            let b = if tb {
                Array2::<f32>::from_elem((n, k), 0.25).reversed_axes()
            } else {
                Array2::from_elem((k, n), 0.25)
            };
            let mut c = Array2::<f32>::zeros((m, n).set_f(fc));
            let reps = (2e8 / (m * k * n) as f64).ceil() as usize;
            let old = time(&mut || {
                for _ in 0..reps {
                    general_mat_mul(1.0, &a, &b, 0.0, &mut c)
                }
            });
            let new = time(&mut || {
                for _ in 0..reps {
                    mm(a.view(), b.view(), c.view_mut())
                }
            });
            let p = Packed::new(b.view());
            let packed = time(&mut || {
                for _ in 0..reps {
                    mm_packed(a.view(), &p, c.view_mut())
                }
            });
            let g = (m * k * n * reps) as f64 / 1e6;
            println!(
                "{label:24} matrixmultiply {:6.1} GMAC/s  mm {:6.1}  mm_packed {:6.1}",
                g / old,
                g / new,
                g / packed
            );
        }
    }
}
