//! Dense products `x · wᵀ` against weights that stay fixed for a whole evaluation run: the
//! weights are put in panels once, and the inputs that are zero in a whole tile of rows are
//! skipped (MNIST pixels: 82 % of an image, 73 % of a pair of images). Bit for bit what
//! [`crate::kernels::gemm`] (`matrixmultiply`'s sgemm) gives, so nothing downstream changes.
//!
//! Why skipping is exact: `matrixmultiply` computes every element as a chain of fused
//! multiply-adds from `+0` over each block of [`KC`] steps of the inner dimension, in order,
//! then adds the blocks' chains in order. A zero input times a finite weight adds `±0` to a
//! chain, which leaves a nonzero chain as it was and a `+0` chain at `+0`; a block with no
//! term left is `+0`, which leaves the sum of blocks as it was. The one exception is a chain
//! at `-0`, which needs a product below 2^-150 in magnitude (it rounds to `-0`): adding `+0`
//! then makes it `+0`, so such a zero result may differ in sign. The graph adds every product
//! to `+0` before its bias (`(0 + y) + b`), which erases that sign. Skipping needs finite
//! weights (`0 · inf` is NaN): with any non-finite weight every input is kept. Which rows
//! share a tile changes what is skipped, never a result.
//!
//! Used only where the CPU has FMA vectors (every [`lifchip_simd::Level`] above the
//! baseline); elsewhere callers keep `gemm`.

use ndarray::Array2;
use rayon::prelude::*;

use crate::aligned::Aligned;
use crate::pool;

/// `matrixmultiply`'s depth block for `f32` (its `S_KC`): the chains restart every `KC` steps.
const KC: usize = 256;
/// Rows per parallel task: their packed inputs and one panel stay in L2 together.
const GROUP_ROWS: usize = 48;

/// Weights `[n, k]` (a dense kernel's `[out, in]`) in panels of `width` outputs: panel `p`,
/// input `t` is `values[(p * k + t) * width..][..width]`, zero past output `n`.
#[derive(Debug)]
pub(crate) struct PackedWeights {
    k: usize,
    n: usize,
    /// On a cache-line boundary, so that no vector load of a panel row straddles two lines.
    values: Aligned,
    /// Every weight is finite, so zero inputs may be skipped.
    skip_zeros: bool,
    /// The register tile, chosen for the CPU when packed. Any vector level computes the same
    /// bits (`mul_add` is fused at every level), so a level capped later changes nothing.
    shape: TileShape,
}

/// Rows × panel columns of a register tile (10 or 12 vector accumulators, with registers
/// left for the panel row and the broadcast), at most [`TILE_ROWS_MAX`] rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TileShape {
    rows: usize,
    width: usize,
}

/// Rows a register tile may have: [`tile`]'s accumulators stay in registers only when LLVM
/// unrolls its row loop whole, which it did for 6 rows and not for 8 or 12; those tiles kept
/// their sums on the stack and ran 10× slower (12 × 16 at AVX-512 on a Zen 5: the MLP's
/// inference at 8,600 images/s against 134,000 with 6 × 32, `bench/torch/NOTES.md` round 23).
const TILE_ROWS_MAX: usize = 6;

/// The register tile at this CPU's vector level, or `None` without FMA vectors. Inputs with
/// many zeros (an image's pixels) take two rows and a wide panel: the fewer rows a tile has,
/// the more of its inputs are zero in all of them (MNIST: 27 % of the pixels are nonzero in
/// some row of a pair, 42 % of six).
fn tile_shape(sparse: bool) -> Option<TileShape> {
    shape_at(lifchip_simd::level(), sparse)
}

/// [`tile_shape`] at vector level `level`.
fn shape_at(level: lifchip_simd::Level, sparse: bool) -> Option<TileShape> {
    let (rows, width) = match (level, sparse) {
        (lifchip_simd::Level::Base, _) => return None,
        (lifchip_simd::Level::Avx2, false) => (6, 16),
        (lifchip_simd::Level::Avx2, true) => (2, 40),
        (lifchip_simd::Level::Avx512, false) => (6, 32),
        (lifchip_simd::Level::Avx512, true) => (2, 96),
    };
    debug_assert!(rows <= TILE_ROWS_MAX);
    Some(TileShape { rows, width })
}

impl PackedWeights {
    /// Packs `w` (`[n, k]`) for inputs with many zeros (`sparse`) or few, or `None` where this
    /// module does not run (no FMA vectors, an empty product).
    pub(crate) fn new(w: &Array2<f32>, sparse: bool) -> Option<PackedWeights> {
        Self::with_shape(w, tile_shape(sparse)?)
    }

    fn with_shape(w: &Array2<f32>, shape: TileShape) -> Option<PackedWeights> {
        let (n, k) = w.dim();
        let width = shape.width;
        if n == 0 || k == 0 {
            return None;
        }
        let panels = n.div_ceil(width);
        let mut values = Aligned::zeros(panels.checked_mul(k)?.checked_mul(width)?);
        let packed = values.as_mut();
        for (j, row) in w.rows().into_iter().enumerate() {
            let (p, l) = (j / width, j % width);
            for (t, &v) in row.iter().enumerate() {
                packed[(p * k + t) * width + l] = v;
            }
        }
        let skip_zeros = w.iter().all(|v| v.is_finite());
        Some(PackedWeights {
            k,
            n,
            values,
            skip_zeros,
            shape,
        })
    }

    /// `x · wᵀ` (`x` is `[m, k]`), or `None` when `x` has another width or is not in standard
    /// layout (the caller then takes `gemm`). Groups of rows run side by side on the pool.
    pub(crate) fn product(&self, x: &Array2<f32>) -> Option<Array2<f32>> {
        let (m, n, k) = (x.nrows(), self.n, self.k);
        if x.ncols() != k {
            return None;
        }
        let xs = x.as_slice()?;
        let mut c = pool::uninit(m, n);
        let cs = c.as_slice_mut()?;
        let work = |(xg, cg): (&[f32], &mut [f32])| self.product_into(xg, cg);
        if m * k * n >= 1 << 18 && rayon::current_num_threads() > 1 {
            xs.par_chunks(GROUP_ROWS * k)
                .zip(cs.par_chunks_mut(GROUP_ROWS * n))
                .for_each(work);
        } else {
            xs.chunks(GROUP_ROWS * k)
                .zip(cs.chunks_mut(GROUP_ROWS * n))
                .for_each(work);
        }
        Some(c)
    }

    /// `x · wᵀ` on this thread, `x` being `[rows, k]` and `c` `[rows, n]`, both row-major.
    fn product_into(&self, x: &[f32], c: &mut [f32]) {
        match (self.shape.rows, self.shape.width) {
            (6, 32) => tiles::<6, 32>(self, x, c),
            (2, 40) => tiles::<2, 40>(self, x, c),
            (2, 96) => tiles::<2, 96>(self, x, c),
            _ => tiles::<6, 16>(self, x, c),
        }
    }
}

/// The kept inputs of every tile of a group of rows: tile `t`'s steps in block `b` (of [`KC`]
/// inputs) are `steps[ranges[t * blocks + b]]` (input indices), whose values in the tile's `R`
/// rows are `a[i * R..][..R]` for step `i` (zero past the last row).
#[derive(Default)]
struct Kept {
    steps: Vec<u32>,
    a: Vec<f32>,
    ranges: Vec<(usize, usize)>,
    live: Vec<u8>,
}

impl Kept {
    /// Adds the tile of rows `x` (`[rows <= R, k]`).
    #[inline(always)]
    fn gather<const R: usize>(&mut self, x: &[f32], k: usize, skip_zeros: bool) {
        let rows = (x.len() / k).min(R);
        // Which inputs are nonzero in some row: row by row, contiguous (vectorised).
        self.live.clear();
        self.live.resize(k, u8::from(!skip_zeros));
        if skip_zeros {
            for row in x.chunks_exact(k) {
                for (l, &v) in self.live.iter_mut().zip(row) {
                    *l |= u8::from(v != 0.0);
                }
            }
        }
        for (b0, flags) in (0..k).step_by(KC).zip(self.live.chunks(KC)) {
            let start = self.steps.len();
            for (s, _) in (b0..).zip(flags).filter(|(_, f)| **f != 0) {
                let mut vals = [0.0f32; R];
                for (r, v) in vals.iter_mut().enumerate().take(rows) {
                    *v = x[r * k + s];
                }
                // Input indices fit: `k` is a weight matrix's width.
                self.steps.push(s as u32);
                self.a.extend_from_slice(&vals);
            }
            self.ranges.push((start, self.steps.len()));
        }
    }
}

lifchip_simd::multiversion! {
    /// Every tile of the rows `x` (`[rows, k]`) into `c` (`[rows, n]`).
    fn tiles<const R: usize, const W: usize>(p: &PackedWeights, x: &[f32], c: &mut [f32])
        => tiles_generic
}

#[inline(always)]
fn tiles_generic<const R: usize, const W: usize>(p: &PackedWeights, x: &[f32], c: &mut [f32]) {
    let (k, n) = (p.k, p.n);
    let (m, blocks) = (x.len() / k, k.div_ceil(KC));
    let mut kept = Kept::default();
    // A plain loop: an iterator's closure would not be inlined into this vector-level copy.
    for xt in x.chunks(R * k) {
        kept.gather::<R>(xt, k, p.skip_zeros);
    }
    // Block by block, so that a panel's block (`KC * W` weights) stays in L1 while every tile
    // reads it; the first block's sums are written, later ones added (as `gemm` does).
    let mut acc = [[0.0f32; W]; R];
    for b in 0..blocks {
        for (pi, panel) in p.values.as_ref().chunks_exact(k * W).enumerate() {
            let (j0, live) = (pi * W, W.min(n - pi * W));
            for (ti, &(s0, s1)) in kept.ranges.iter().skip(b).step_by(blocks).enumerate() {
                if s0 == s1 && b > 0 {
                    continue;
                }
                tile::<R, W>(
                    &kept.a[s0 * R..s1 * R],
                    &kept.steps[s0..s1],
                    panel,
                    &mut acc,
                );
                let rows = (m - ti * R).min(R);
                for (r, row) in acc.iter().enumerate().take(rows) {
                    let base = (ti * R + r) * n + j0;
                    if let Some(dst) = c.get_mut(base..base + live) {
                        if b == 0 {
                            dst.copy_from_slice(&row[..live]);
                        } else {
                            for (d, v) in dst.iter_mut().zip(row) {
                                *d += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One register tile over one block: per element, a fused multiply-add chain from zero over
/// the kept inputs in order. One return and no exit inside the loop: otherwise the
/// accumulators were kept in memory.
#[inline(always)]
fn tile<const R: usize, const W: usize>(
    a: &[f32],
    steps: &[u32],
    panel: &[f32],
    out: &mut [[f32; W]; R],
) {
    let mut acc = [[0.0f32; W]; R];
    for (at, &s) in a.chunks_exact(R).zip(steps) {
        let s = s as usize * W;
        let (Some(bk), Ok(at)) = (panel.get(s..s + W), <&[f32; R]>::try_from(at)) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The tile shapes `product_into` has a kernel for.
    const KERNELS: [(usize, usize); 4] = [(6, 16), (6, 32), (2, 40), (2, 96)];

    fn bits(a: &Array2<f32>) -> Vec<u32> {
        a.iter().map(|v| v.to_bits()).collect()
    }

    /// Values with zeros in runs and scattered, as in images (and some exact `-0`).
    fn inputs(m: usize, k: usize, zeros: f64, rng: &mut StdRng) -> Array2<f32> {
        Array2::from_shape_fn((m, k), |(i, j)| {
            let edge = (j * 7 + i) % 97 < 30;
            if edge || rng.random_bool(zeros) {
                if rng.random_bool(0.1) { -0.0 } else { 0.0 }
            } else {
                rng.random_range(-1.0f32..1.0)
            }
        })
    }

    /// Every shape class, tile height and output layout gives `gemm`'s bits, with zeros
    /// (and `-0`) in runs and scattered; the tiles run at whatever vector level is in use.
    #[test]
    fn products_equal_gemm_bit_for_bit() {
        let mut rng = StdRng::seed_from_u64(7);
        // Depths across the 256-step blocks (one, two with a short last, exactly two, four
        // with a short last), widths with ragged panels, rows with ragged tiles and groups.
        for &(m, k, n) in &[
            (1, 3, 1),
            (5, 100, 10),
            (13, 255, 17),
            (50, 257, 33),
            (97, 512, 16),
            (256, 784, 500),
            (7, 1100, 40),
        ] {
            for zeros in [0.0, 0.5, 0.95, 1.0] {
                let x = inputs(m, k, zeros, &mut rng);
                let w = Array2::from_shape_fn((n, k), |_| rng.random_range(-1.0f32..1.0));
                let want = gemm(x.view(), w.t());
                for (rows, width) in KERNELS {
                    let shape = TileShape { rows, width };
                    let p = PackedWeights::with_shape(&w, shape).unwrap();
                    assert!(p.skip_zeros);
                    let got = p.product(&x).unwrap();
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{rows}-row tiles, m {m} k {k} n {n}"
                    );
                }
            }
        }
        // Several threads: groups of rows side by side.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let x = inputs(300, 700, 0.6, &mut rng);
        let w = Array2::from_shape_fn((90, 700), |_| rng.random_range(-1.0f32..1.0));
        let p = PackedWeights::with_shape(&w, TileShape { rows: 2, width: 40 }).unwrap();
        let got = pool.install(|| p.product(&x).unwrap());
        assert_eq!(bits(&got), bits(&gemm(x.view(), w.t())));
    }

    /// Every level's tiles are short enough to stay in registers, and each is a shape
    /// `product_into` has a kernel for (its fallback would read the panels at another width).
    #[test]
    fn every_level_has_a_tile_kept_in_registers() {
        use lifchip_simd::Level;
        for level in [Level::Avx2, Level::Avx512] {
            for sparse in [false, true] {
                let shape = shape_at(level, sparse).unwrap();
                assert!(shape.rows <= TILE_ROWS_MAX, "{level:?}: {shape:?}");
                assert!(
                    KERNELS.contains(&(shape.rows, shape.width)),
                    "{level:?}: {shape:?} has no kernel of its own"
                );
            }
        }
        assert_eq!(shape_at(Level::Base, false), None);
    }

    /// A non-finite weight turns skipping off: `0 · inf` is NaN in the product.
    #[test]
    fn non_finite_weights_keep_every_input() {
        let mut rng = StdRng::seed_from_u64(8);
        let x = inputs(20, 300, 0.7, &mut rng);
        let mut w = Array2::from_shape_fn((9, 300), |_| rng.random_range(-1.0f32..1.0));
        w[[3, 0]] = f32::INFINITY;
        w[[5, 290]] = f32::NAN;
        let p = PackedWeights::with_shape(&w, TileShape { rows: 6, width: 16 }).unwrap();
        assert!(!p.skip_zeros);
        let want = gemm(x.view(), w.t());
        assert!(want.iter().any(|v| v.is_nan()));
        assert_eq!(bits(&p.product(&x).unwrap()), bits(&want));
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use crate::kernels::gemm;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::time::Instant;

    fn best(f: &mut dyn FnMut()) -> f64 {
        (0..7)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// GMAC/s of `gemm` and of `product` (dense-equivalent) on one thread, best of 7, for
    /// `x` `[m, k]` with a share `zeros` of zeros and random weights `[n, k]`; `None` where
    /// packing does not run (no FMA vectors).
    fn rates(m: usize, k: usize, n: usize, zeros: f64, rng: &mut StdRng) -> Option<(f64, f64)> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let x = Array2::from_shape_fn((m, k), |_| {
            if rng.random_bool(zeros) {
                0.0
            } else {
                rng.random_range(0.0f32..1.0)
            }
        });
        let w = Array2::from_shape_fn((n, k), |_| rng.random_range(-1.0f32..1.0));
        let p = PackedWeights::new(&w, zeros > 0.0)?;
        Some(pool.install(|| {
            let reps = (1 << 27) / (m * k * n) + 1;
            let a = best(&mut || {
                for _ in 0..reps {
                    crate::pool::recycle(gemm(x.view(), w.t()));
                }
            });
            let b = best(&mut || {
                for _ in 0..reps {
                    crate::pool::recycle(p.product(&x).unwrap());
                }
            });
            let macs = (reps * m * k * n) as f64;
            (macs / a / 1e9, macs / b / 1e9)
        }))
    }

    /// The evaluation's shapes (MNIST-like zeros in the first).
    const SHAPES: [(&str, usize, usize, usize, f64); 4] = [
        ("mlp1", 256, 784, 500, 0.8),
        ("mlp2", 256, 500, 300, 0.0),
        ("fc1", 256, 1024, 2000, 0.0),
        ("conv2", 64, 400, 64, 0.0),
    ];

    /// Times of `product` against `gemm`:
    /// `cargo test --release -p lifchip-train --lib packed::speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn shapes() {
        let mut rng = StdRng::seed_from_u64(1);
        for (name, m, k, n, zeros) in SHAPES {
            let Some((a, b)) = rates(m, k, n, zeros, &mut rng) else {
                return;
            };
            println!("{name}: gemm {a:.1} GMAC/s, packed {b:.1} GMAC/s (dense-equivalent)");
        }
    }

    /// A tile whose sums leave the registers is tens of times slower than `gemm` (12-row
    /// tiles at AVX-512 ran at 1.4 against 90 GMAC/s): caught here, with a margin no load
    /// on the machine makes up (both timed side by side, best of 7). Optimised builds only.
    #[test]
    fn packed_products_keep_pace_with_gemm() {
        if cfg!(debug_assertions) {
            return;
        }
        let mut rng = StdRng::seed_from_u64(2);
        for (name, m, k, n, zeros) in SHAPES {
            let Some((a, b)) = rates(m, k, n, zeros, &mut rng) else {
                return;
            };
            assert!(b > a / 5.0, "{name}: packed {b:.1} GMAC/s, gemm {a:.1}");
        }
    }
}
