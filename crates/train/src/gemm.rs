//! `C = A · B` for `f32`, bit for bit what `ndarray`'s `general_mat_mul` (`matrixmultiply`'s
//! sgemm) gives on an AVX-512 machine, with less copying around the arithmetic.
//!
//! What every element is: a chain of fused multiply-adds starting from zero over each block
//! of [`KC`] steps of the inner dimension (in order), the blocks' chains then added in order
//! (`matrixmultiply` writes the first block's chain and adds each later one to `C` with
//! `beta = 1`). Nothing else about the work changes a bit of the result, so this module is
//! free to choose the rest:
//! - one operand is read in place when its rows are contiguous (`matrixmultiply` packs both
//!   operands of every call);
//! - the product may be computed transposed (`Cᵀ = Bᵀ · Aᵀ`), whichever way copies less;
//! - a weight matrix multiplied by many per-image matrices is packed once ([`Packed`]);
//! - the register tile is up to 12 rows × 32 columns (24 accumulators), rows split evenly.
//!
//! Used where it measured faster (`gemm::speed`, an ignored test that prints GMAC/s): the
//! dense layers' forward and input gradient and the per-image convolution forward with its
//! weights packed once per batch. The weight gradients stay with `matrixmultiply`.
//!
//! Without AVX-512 (or with views this module does not take: negative strides, non-contiguous
//! memory) every call goes to `general_mat_mul`, so results never depend on which path ran.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

/// `matrixmultiply`'s depth block for `f32` (its `S_KC`): the chains restart every `KC` steps.
const KC: usize = 256;
/// Rows of the register tile (of the operand read one value at a time and broadcast).
const MR: usize = 12;
/// Columns of a packed panel (the last panel of a matrix is 16 wide when that covers it).
const NR: usize = 32;

/// Whether this module computes products here (else `general_mat_mul` does).
fn enabled() -> bool {
    lifchip_simd::level() == lifchip_simd::Level::Avx512
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

    /// How the tiles read it as the broadcast operand: by rows, by columns, or not at all.
    fn broadcast(&self) -> Option<bool> {
        if self.cs == 1 || self.cols <= 1 {
            Some(false)
        } else if self.rs == 1 || self.rows <= 1 {
            Some(true)
        } else {
            None
        }
    }

    /// Elements copied to put it in panels: none when its rows are contiguous, except the
    /// last panel when it is ragged.
    fn pack_cost(&self, reuse: usize) -> usize {
        let (k, n) = (self.rows, self.cols);
        if (self.cs == 1 || n <= 1) && !aliasing(self.rs, reuse) {
            let last = n % NR;
            if last == 0 || last == 16 {
                0
            } else {
                k * panel_width(n, n - last)
            }
        } else {
            k * packed_cols(n)
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

/// The right-hand operand `[k, n]` in panels of [`NR`] (or 16) columns: read in place where
/// its rows are contiguous, else (and for a ragged last panel) packed, zero past column `n`.
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
            Some(m) if enabled() && m.rows >= 64 => panels(m, usize::MAX),
            _ => (Vec::new(), Vec::new()),
        };
        Packed { b, own, panels }
    }
}

/// The width of the panel starting at column `j0` of `n`.
fn panel_width(n: usize, j0: usize) -> usize {
    if n - j0 > 16 { NR } else { 16 }
}

/// Columns of `n` once packed: 32 per panel, the last one 16 when that covers it.
fn packed_cols(n: usize) -> usize {
    let full = n / NR * NR;
    match n - full {
        0 => full,
        rem if rem > 16 => full + NR,
        _ => full + 16,
    }
}

/// `b`'s panels; `reuse`: how many row tiles read each of them.
fn panels(b: Mat<'_>, reuse: usize) -> (Vec<f32>, Vec<Panel>) {
    let (k, n) = (b.rows, b.cols);
    let mut panels = Vec::new();
    let mut packed = 0;
    let mut j0 = 0;
    while j0 < n {
        let width = panel_width(n, j0);
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
    let mut own = vec![0.0f32; packed];
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
                    dst.copy_from_slice(&row[p.j0..p.j0 + live]);
                }
            }
        }
    } else {
        for p in &copies {
            for l in 0..p.width.min(n - p.j0) {
                let j = p.j0 + l;
                for t in 0..k {
                    if let (Some(d), Some(&v)) = (
                        own.get_mut(p.start + t * p.width + l),
                        b.data.get(t * b.rs + j * b.cs),
                    ) {
                        *d = v;
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
    let cost = |x: Mat<'_>, y: Mat<'_>, lanes: isize| {
        x.broadcast().map(|by_cols| {
            let copy = if by_cols { x.rows * x.cols } else { 0 };
            let scatter = if lanes == 1 || y.cols <= 1 {
                0
            } else {
                4 * x.rows * y.cols
            };
            copy + y.pack_cost(row_tiles(x.rows)) + scatter
        })
    };
    let normal = cost(am, bm, csc);
    let swapped = cost(bm.t(), am.t(), rsc);
    let swap = match (normal, swapped) {
        (Some(x), Some(y)) => y < x,
        (None, Some(_)) => true,
        _ => false,
    };
    let (x, y) = if swap { (bm.t(), am.t()) } else { (am, bm) };
    let (own, panels) = panels(y, row_tiles(x.rows));
    if !product(x, y.data, &own, &panels, y.cols, &mut c, swap) {
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
    let Some(by_cols) = x.broadcast() else {
        return false;
    };
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
        let cols = packed_cols(n);
        let mut sums = vec![0.0f32; m * cols];
        let mut buf = Out {
            data: &mut sums,
            rs: cols,
            cs: 1,
        };
        if tiles(&ops, by_cols, &mut buf).is_none() {
            return false;
        }
        for i in 0..m {
            for j in 0..n {
                out.set(i, j, sums[i * cols + j]);
            }
        }
        return true;
    }
    tiles(&ops, by_cols, &mut out).is_some()
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

/// The register tile of rows `i0..` of the broadcast operand (`a`, rows `lda` apart from
/// offset `off`) and panel `p`, over steps `t0..t0 + kc`, into `out`. A function, not a
/// closure: closures do not get the caller's target features, so their `mul_add` was a libm
/// call.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn tile_at(
    ops: &Operands<'_>,
    (a, lda, off): (&[f32], usize, usize),
    (t0, kc, first): (usize, usize, bool),
    (i0, r): (usize, usize),
    p: &Panel,
    out: &mut Out<'_>,
) -> Option<()> {
    let mut rows: [&[f32]; MR] = [&[]; MR];
    for (q, row) in rows.iter_mut().enumerate().take(r) {
        let at = (i0 + q) * lda + off;
        *row = a.get(at..at + kc)?;
    }
    let src = if p.packed { ops.own } else { ops.data };
    let b = src.get(p.start + t0 * p.step..)?;
    if b.len() < (kc - 1) * p.step + p.width {
        return None;
    }
    macro_rules! go {
            ($($r:literal)*) => {
                match (r, p.width) {
                    $(($r, NR) => {
                        let mut t = [[0.0f32; NR]; $r];
                        tile::<$r, NR>(&take::<$r>(&rows, kc)?, b, p.step, kc, &mut t);
                        store::<$r, NR>(out, i0, p.j0, ops.n, first, &t)
                    }
                    ($r, _) => {
                        let mut t = [[0.0f32; 16]; $r];
                        tile::<$r, 16>(&take::<$r>(&rows, kc)?, b, p.step, kc, &mut t);
                        store::<$r, 16>(out, i0, p.j0, ops.n, first, &t)
                    })*
                    _ => return None,
                }
            };
        }
    go!(1 2 3 4 5 6 7 8 9 10 11 12);
    Some(())
}

lifchip_simd::multiversion! {
    /// Every register tile of the product into `out`, block by block of [`KC`] steps: a
    /// block's tiles all read the same rows of both operands, so they stay in cache.
    fn tiles<>(ops: &Operands<'_>, by_cols: bool, out: &mut Out<'_>) -> Option<()>
        => tiles_generic
}

#[inline(always)]
fn tiles_generic(ops: &Operands<'_>, by_cols: bool, out: &mut Out<'_>) -> Option<()> {
    let (x, m, k) = (&ops.x, ops.x.rows, ops.x.cols);
    // A column-major broadcast operand is copied a block at a time into rows of `KC`.
    let mut buf = if by_cols {
        vec![0.0f32; m * KC.min(k)]
    } else {
        Vec::new()
    };
    let mut t0 = 0;
    while t0 < k {
        let kc = (k - t0).min(KC);
        let first = t0 == 0;
        if by_cols {
            let start = t0 * x.cs;
            let cols = x.data.get(start..start + (kc - 1) * x.cs + m)?;
            for t in 0..kc {
                for (i, &v) in cols[t * x.cs..t * x.cs + m].iter().enumerate() {
                    buf[i * KC.min(k) + t] = v;
                }
            }
        }
        let (a, lda, off) = if by_cols {
            (&buf[..], KC.min(k), 0)
        } else {
            (x.data, x.rs, t0)
        };
        // A block of the broadcast operand that fits in L2 is reread for each panel, which
        // then stays in L1 across the row tiles; a bigger one is read once, each row tile
        // running over all panels.
        if m * kc * 4
            <= std::env::var("GEMM_L2")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(512usize)
                << 10
        {
            for p in ops.panels {
                for rows in row_split(m) {
                    tile_at(ops, (a, lda, off), (t0, kc, first), rows, p, out)?;
                }
            }
        } else {
            for rows in row_split(m) {
                for p in ops.panels {
                    tile_at(ops, (a, lda, off), (t0, kc, first), rows, p, out)?;
                }
            }
        }
        t0 += kc;
    }
    Some(())
}

/// Row tiles of `m` rows: at most [`MR`] each.
fn row_tiles(m: usize) -> usize {
    m.div_ceil(MR)
}

/// The row tiles of `m` rows (first row, rows), as even as possible: 64 rows run as
/// 11, 11, 11, 11, 10, 10 rather than five of 12 and a slow 4.
fn row_split(m: usize) -> impl Iterator<Item = (usize, usize)> {
    let tiles = row_tiles(m).max(1);
    let (base, extra) = (m / tiles, m % tiles);
    (0..tiles).map(move |i| (i * base + i.min(extra), base + usize::from(i < extra)))
}

/// The first `R` of `rows`, each cut to exactly `kc` (so [`tile`] indexes them unchecked).
#[inline(always)]
fn take<'a, const R: usize>(rows: &[&'a [f32]; MR], kc: usize) -> Option<[&'a [f32]; R]> {
    let mut a: [&[f32]; R] = [&[]; R];
    for (dst, src) in a.iter_mut().zip(rows) {
        *dst = src.get(..kc)?;
    }
    Some(a)
}

/// One register tile over one block: `rows` (each `kc` long) of the broadcast operand times a
/// panel `W` wide whose step `t` row is `b[t * step..][..W]` (`b` reaches that far: checked
/// by the caller). Per element, a fused multiply-add chain from zero. One return, no exit
/// inside the loop: otherwise the accumulators were kept in memory, stored every step.
#[inline(always)]
fn tile<const R: usize, const W: usize>(
    rows: &[&[f32]; R],
    b: &[f32],
    step: usize,
    kc: usize,
    out: &mut [[f32; W]; R],
) {
    let mut acc = [[0.0f32; W]; R];
    for t in 0..kc {
        let Ok(bk) = <&[f32; W]>::try_from(&b[t * step..t * step + W]) else {
            continue;
        };
        for r in 0..R {
            let av = rows[r][t];
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

    /// Shapes around the tile and block edges, every layout of `a`, `b` and `c`: the same bits
    /// as `general_mat_mul`, through `mm` and through `mm_packed`.
    #[test]
    fn products_equal_general_mat_mul_bit_for_bit() {
        let mut rng = StdRng::seed_from_u64(7);
        let sizes = [1, 2, 11, 12, 13, 16, 17, 25, 31, 32, 33, 48, 64, 100];
        let depths = [1, 2, 25, 255, 256, 257, 400, 700];
        let mut checked = 0;
        for _ in 0..160 {
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
            assert_eq!(bits(&got), bits(&want), "mm {m}x{k}x{n} {fa} {fb} {fc}");
            let packed = Packed::new(b.view());
            let mut got = Array2::<f32>::from_elem((m, n).set_f(fc), f32::NAN);
            mm_packed(a.view(), &packed, got.view_mut());
            assert_eq!(
                bits(&got),
                bits(&want),
                "mm_packed {m}x{k}x{n} {fa} {fb} {fc}"
            );
            checked += 1;
        }
        assert_eq!(checked, 160);
    }

    /// On this module's machines the products above run here, not in the fallback.
    #[test]
    fn the_tiles_compute_the_products() {
        if !enabled() {
            return;
        }
        let mut rng = StdRng::seed_from_u64(9);
        for (fa, fc) in [(false, false), (true, false), (false, true)] {
            let a = random(30, 300, fa, &mut rng);
            let b = random(300, 40, false, &mut rng);
            let (Some(am), Some(bm)) = (Mat::of(&a.view()), Mat::of(&b.view())) else {
                panic!("contiguous views");
            };
            let (own, panels) = panels(bm, 1);
            let mut c = Array2::<f32>::from_elem((30, 40).set_f(fc), f32::NAN);
            assert!(product(
                am,
                bm.data,
                &own,
                &panels,
                40,
                &mut c.view_mut(),
                false
            ));
            let mut want = Array2::<f32>::zeros((30, 40));
            general_mat_mul(1.0, &a, &b, 0.0, &mut want);
            assert_eq!(bits(&c.as_standard_layout().to_owned()), bits(&want));
        }
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
            (12, 256, 32, false, false, false, "one tile, L1"),
            (120, 256, 320, false, false, false, "L2"),
            (120, 2000, 320, false, false, false, "deep"),
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
