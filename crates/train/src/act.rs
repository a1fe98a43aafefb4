//! Rate nonlinearities (soft-LIF, hard LIF, ReLU) with their derivatives, and the batched,
//! seeded training noise of Hunsberger & Eliasmith (2015).
//!
//! Every function takes the *pre-activation* `pre = x + bias`; the LIF input current is
//! `J = gain * pre + 1`, so the firing threshold `J = 1` sits at `pre = 0`. Outputs are in
//! "amplitude units": `A * rate`, rate in Hz.

use ndarray::Array2;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Smallest `J - 1` at which the hard-LIF derivative is evaluated: the true derivative is
/// unbounded at the threshold, so it is capped there to stay finite.
pub(crate) const HARD_LIF_MIN_DRIVE: f64 = 1e-6;

/// Parameters shared by the soft and the hard LIF rate curves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LifParams {
    pub amplitude: f32,
    pub tau_rc: f32,
    pub tau_ref: f32,
    pub gamma: f32,
    pub gain: f32,
}

/// A rate nonlinearity applied per neuron to `pre = x + bias`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Activation {
    SoftLif(LifParams),
    Lif(LifParams),
    Relu,
}

// The scalar curves are written once and instantiated for f32 (training and evaluation) and
// f64 (finite-difference tests of the formulas themselves). `$tail` is the |z| beyond which
// `e^-|z|` is below half an ulp of 1 in that precision, so the exact expressions reduce to
// their tails without changing the rounded result (and without exp/log1p calls).
macro_rules! lif_curves {
    ($t:ty, $soft:ident, $hard:ident, $tail:expr, $ln:path, $ln_1p:path) => {
        /// Soft-LIF output `A / (tau_ref + tau_rc * ln(1 + 1/j))` with
        /// `j = gamma * ln(1 + exp((J - 1) / gamma))`, and its derivative with respect to `pre`:
        /// `gain * tau_rc * out^2 / (A * j * (j + 1) * (1 + exp(-z)))`, `z = (J - 1) / gamma`.
        ///
        /// Tails: for `z > 0`, `j = gamma * (z + ln(1 + e^-z))` (no overflow); for `z <= 0`,
        /// `ln j` is computed as `ln gamma + z + ln(ln(1 + t) / t)` with `t = e^z`, so very
        /// negative inputs (where `j` underflows) keep the log asymptote `ln(1 + 1/j) ~ -ln j`,
        /// and `j * (1 + e^-z)` is rewritten as `gamma * (1 + t) * ln(1 + t) / t`, which tends
        /// to `gamma` instead of `0 * inf`.
        #[allow(dead_code)]
        #[inline]
        pub(crate) fn $soft(
            pre: $t,
            a: $t,
            tau_rc: $t,
            tau_ref: $t,
            gamma: $t,
            gain: $t,
        ) -> ($t, $t) {
            let z = gain * pre / gamma;
            if z.is_nan() {
                return (<$t>::NAN, <$t>::NAN);
            }
            // (j, ln(1 + 1/j), j * (1 + e^-z))
            let (j, log_term, q) = if z > $tail {
                let j = gamma * z;
                (j, $soft::log1p_inv(j), j)
            } else if z > 0.0 {
                let e = (-z).exp();
                let j = gamma * (z + $ln_1p(e));
                (j, $soft::log1p_inv(j), j * (1.0 + e))
            } else if z >= -$tail {
                let t = z.exp();
                let ratio = $ln_1p(t) / t;
                let j = gamma * t * ratio;
                let ln_j = $ln(gamma) + z + $ln(ratio);
                (j, $ln_1p(j) - ln_j, gamma * ratio * (1.0 + t))
            } else {
                // j = gamma e^z is below rounding next to 1: ln(1 + 1/j) = -ln j exactly here.
                (0.0, -($ln(gamma) + z), gamma)
            };
            let out = a / (tau_ref + tau_rc * log_term);
            let deriv = gain * tau_rc * out * out / (a * (j + 1.0) * q);
            (out, if deriv.is_finite() { deriv } else { 0.0 })
        }

        #[allow(dead_code)]
        mod $soft {
            /// `ln(1 + 1/j)` for `j > 0`, accurate for small and large `j`.
            #[inline]
            pub(super) fn log1p_inv(j: $t) -> $t {
                if j >= 1.0 {
                    $ln_1p(1.0 / j)
                } else {
                    $ln((1.0 + j) / j)
                }
            }
        }

        /// Hard LIF output `A / (tau_ref + tau_rc * ln(1 + 1/(J - 1)))` for `J > 1`, else 0,
        /// and its derivative with respect to `pre` (capped near the threshold, see
        /// [`HARD_LIF_MIN_DRIVE`]).
        #[allow(dead_code)]
        #[inline]
        pub(crate) fn $hard(pre: $t, a: $t, tau_rc: $t, tau_ref: $t, gain: $t) -> ($t, $t) {
            let drive = gain * pre;
            if drive.is_nan() {
                return (<$t>::NAN, <$t>::NAN);
            }
            if drive <= 0.0 {
                return (0.0, 0.0);
            }
            let out = a / (tau_ref + tau_rc * $soft::log1p_inv(drive));
            let d = drive.max(HARD_LIF_MIN_DRIVE as $t);
            let out_d = if d == drive {
                out
            } else {
                a / (tau_ref + tau_rc * $soft::log1p_inv(d))
            };
            let deriv = gain * tau_rc * (out_d / a) * (out_d / (d * (d + 1.0)));
            (out, if deriv.is_finite() { deriv } else { 0.0 })
        }
    };
}

lif_curves!(
    f32,
    soft_lif_f32,
    lif_f32,
    17.0,
    crate::act::fast::ln,
    crate::act::fast::ln_1p
);
lif_curves!(f64, soft_lif_f64, lif_f64, 37.0, f64::ln, f64::ln_1p);

/// Inlinable f32 logarithms (a few ulp, checked against f64 in the tests): the libm calls
/// dominated training time on conv layers, where there are ~25 MACs per activation.
mod fast {
    const SQRT2: f32 = std::f32::consts::SQRT_2;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;

    /// `2 atanh(s) = ln((1 + s) / (1 - s))` for `|s| <= 1/3`, by its odd series.
    #[inline(always)]
    fn two_atanh(s: f32) -> f32 {
        let s2 = s * s;
        let poly = 1.0 / 3.0
            + s2 * (1.0 / 5.0
                + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0)))));
        2.0 * s + 2.0 * s * (s2 * poly)
    }

    /// Natural logarithm.
    #[inline(always)]
    pub(super) fn ln(x: f32) -> f32 {
        if !(f32::MIN_POSITIVE..f32::INFINITY).contains(&x) {
            return x.ln(); // zero, subnormal, negative, infinite or NaN: rare, leave it to libm
        }
        let bits = x.to_bits();
        let mut e = ((bits >> 23) as i32) - 127;
        let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
        if m > SQRT2 {
            m *= 0.5;
            e += 1;
        }
        let ef = e as f32;
        ef * LN2_HI + (ef * LN2_LO + two_atanh((m - 1.0) / (m + 1.0)))
    }

    /// `ln(1 + x)` for `x >= 0` (accurate for tiny `x`).
    #[inline(always)]
    pub(super) fn ln_1p(x: f32) -> f32 {
        if x <= 1.0 {
            if x < 0.0 {
                x.ln_1p()
            } else {
                two_atanh(x / (2.0 + x))
            }
        } else {
            ln(1.0 + x)
        }
    }
}

/// The soft-LIF curve of [`soft_lif_f32`] on a block of neurons, branch-free so that the
/// compiler vectorises it (compiled for SSE2, AVX2 and AVX-512, picked at run time by
/// `lifchip_simd::multiversion!`): every lane evaluates the arithmetic of
/// all four input ranges and keeps its own, with the same operations in the same order as the
/// scalar function, so each result is bit-identical to it. The only libm call, `expf`, stays
/// scalar and runs only for the lanes in the middle range. Lanes the fast path does not cover
/// (NaN input, a logarithm of a non-normal number) are recomputed by the scalar function.
mod block {
    use super::{LifParams, fast, soft_lif_f32};
    use crate::exact::div_by;

    /// Neurons per block (stack buffers; indices fit in `u16`).
    pub(super) const LEN: usize = 256;
    const TAIL: f32 = 17.0;

    /// `2 atanh(s)`, as `fast::two_atanh`.
    #[inline(always)]
    fn two_atanh(s: f32) -> f32 {
        let s2 = s * s;
        let poly = 1.0 / 3.0
            + s2 * (1.0 / 5.0
                + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0)))));
        2.0 * s + 2.0 * s * (s2 * poly)
    }

    /// `fast::ln` for positive normal finite `x` (others give garbage; callers flag them).
    #[inline(always)]
    fn ln_normal(x: f32) -> f32 {
        const SQRT2: f32 = std::f32::consts::SQRT_2;
        const LN2_HI: f32 = 0.693_145_75;
        const LN2_LO: f32 = 1.428_606_8e-6;
        let bits = x.to_bits();
        let e = ((bits >> 23) as i32) - 127;
        let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
        let big = m > SQRT2;
        let m = if big { m * 0.5 } else { m };
        let ef = (e + i32::from(big)) as f32;
        ef * LN2_HI + (ef * LN2_LO + two_atanh((m - 1.0) / (m + 1.0)))
    }

    #[inline(always)]
    fn normal(x: f32) -> bool {
        (f32::MIN_POSITIVE..f32::INFINITY).contains(&x)
    }

    /// `fl(a / (tau_ref + tau_rc * log_term))` and, with `DERIV`, the derivative
    /// `gain * tau_rc * out^2 / (a * (j + 1) * q)` (0 where not finite): the scalar curve's
    /// last two lines.
    #[inline(always)]
    fn finish<const DERIV: bool>(p: &LifParams, log_term: f32, j: f32, q: f32) -> (f32, f32) {
        let (a, tau_rc, tau_ref, gain) = (p.amplitude, p.tau_rc, p.tau_ref, p.gain);
        let out = a / (tau_ref + tau_rc * log_term);
        if !DERIV {
            return (out, 0.0);
        }
        let dv = gain * tau_rc * out * out / (a * (j + 1.0) * q);
        (out, if dv.is_finite() { dv } else { 0.0 })
    }

    /// Writes the outputs of `pre` (at most [`LEN`] neurons) to `v` and, when given, the
    /// derivatives to `d`. Every neuron first gets the negative tail's few operations
    /// (silent neurons: the common case), then the neurons of the three other ranges are
    /// gathered into one list per range and each list runs that range's operations only,
    /// lane by lane. Each neuron's result depends on its own input alone, so the order they
    /// are computed in changes nothing.
    // Index loops over several parallel stack arrays read more plainly than zipped iterators.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn run<const DERIV: bool>(
        p: &LifParams,
        pre: &[f32],
        v: &mut [f32],
        mut d: Option<&mut [f32]>,
        skip: &[u64; LEN / 64],
    ) {
        let (gamma, gain) = (p.gamma, p.gain);
        let n = pre.len().min(v.len()).min(LEN);
        let ln_gamma = fast::ln(gamma);
        let mut z = [0.0f32; LEN];
        // `gain * pre / gamma`, the division as an exact f64 product (`exact::div_by`).
        let inv_gamma = 1.0 / f64::from(gamma);
        for i in 0..n {
            z[i] = div_by(gain * pre[i], inv_gamma);
        }
        // Negative tail (j = 0, q = gamma) for all, overwritten below for the other ranges.
        let mut deriv = [0.0f32; LEN];
        for i in 0..n {
            let (out, dv) = finish::<DERIV>(p, -(ln_gamma + z[i]), 0.0, gamma);
            v[i] = out;
            deriv[i] = dv;
        }
        // Branch-free compaction: every list gets every index written, only its own advance.
        // Indices by input range, each list in ascending order (the positive tail's list
        // also holds NaN inputs).
        // Built from one bit mask per range and 64 neurons, so the cost is per member.
        let mut neg_mid = [0u16; LEN];
        let mut pos_mid = [0u16; LEN];
        let mut pos_tail = [0u16; LEN];
        let (mut c0, mut c1, mut c2) = (0, 0, 0);
        for (w, zs) in z[..n].chunks(64).enumerate() {
            let (mut m0, mut m1, mut m2) = (0u64, 0u64, 0u64);
            for (b, &zi) in zs.iter().enumerate() {
                m0 |= u64::from((-TAIL..=0.0).contains(&zi)) << b;
                m1 |= u64::from(zi > 0.0 && zi <= TAIL) << b;
                m2 |= u64::from(zi > TAIL || zi.is_nan()) << b;
            }
            // Neurons whose result the caller has already are left out of every range.
            let keep = !skip[w];
            let (m0, m1, m2) = (m0 & keep, m1 & keep, m2 & keep);
            let base = (w * 64) as u16;
            for (mut m, list, c) in [
                (m0, &mut neg_mid, &mut c0),
                (m1, &mut pos_mid, &mut c1),
                (m2, &mut pos_tail, &mut c2),
            ] {
                while m != 0 {
                    if let Some(slot) = list.get_mut(*c) {
                        *slot = base + m.trailing_zeros() as u16;
                    }
                    *c += 1;
                    m &= m - 1;
                }
            }
        }
        let mut odd = [false; LEN];
        // Whether any neuron is flagged, kept while scattering instead of scanning `odd`.
        let mut any_odd = false;
        let mut zc = [0.0f32; LEN];
        let mut e = [0.0f32; LEN];
        let mut jj = [0.0f32; LEN];
        let mut outs = [0.0f32; LEN];
        let mut ders = [0.0f32; LEN];
        let mut flags = [false; LEN];
        // Negative middle: t = e^z, ln j = ln gamma + z + ln(ln(1 + t) / t).
        let m = c0;
        if m > 0 {
            let list = &neg_mid[..m];
            for (k, &i) in list.iter().enumerate() {
                zc[k] = z[usize::from(i)];
            }
            exp_neg_abs(&zc[..m], &mut e[..m]);
            let mut ratios = [0.0f32; LEN];
            for k in 0..m {
                let ei = e[k];
                let l1 = two_atanh(ei / (2.0 + ei));
                ratios[k] = l1 / ei;
                jj[k] = gamma * ei * ratios[k];
            }
            let small = jj[..m].iter().all(|&j| j <= 1.0);
            for k in 0..m {
                let (zi, ei, ratio, j) = (zc[k], e[k], ratios[k], jj[k]);
                // ln(1 + j): the series for j <= 1, else the logarithm.
                let ln_arg = 1.0 + j;
                let second = if small || j <= 1.0 {
                    two_atanh(j / (2.0 + j))
                } else {
                    ln_normal(ln_arg)
                };
                let ln_j = ln_gamma + zi + ln_normal(ratio);
                let q = gamma * ratio * (1.0 + ei);
                (outs[k], ders[k]) = finish::<DERIV>(p, second - ln_j, j, q);
                flags[k] = ((j > 1.0 || j.is_nan()) && !normal(ln_arg)) || !normal(ratio);
            }
            any_odd |= scatter(list, &outs, &ders, &flags, v, &mut deriv, &mut odd);
        }
        // Positive middle: e = e^-z, j = gamma (z + ln(1 + e)).
        let m = c1;
        if m > 0 {
            let list = &pos_mid[..m];
            for (k, &i) in list.iter().enumerate() {
                zc[k] = z[usize::from(i)];
            }
            exp_neg_abs(&zc[..m], &mut e[..m]);
            for k in 0..m {
                let ei = e[k];
                let l1 = two_atanh(ei / (2.0 + ei));
                jj[k] = gamma * (zc[k] + l1);
            }
            positive::<DERIV>(p, &jj[..m], Some(&e[..m]), &mut outs, &mut ders, &mut flags);
            any_odd |= scatter(list, &outs, &ders, &flags, v, &mut deriv, &mut odd);
        }
        // Positive tail: j = gamma z (NaN inputs are flagged and redone by the scalar curve).
        let m = c2;
        if m > 0 {
            let list = &pos_tail[..m];
            for (k, &i) in list.iter().enumerate() {
                jj[k] = gamma * z[usize::from(i)];
            }
            positive::<DERIV>(p, &jj[..m], None, &mut outs, &mut ders, &mut flags);
            for (k, &i) in list.iter().enumerate() {
                flags[k] |= z[usize::from(i)].is_nan();
            }
            any_odd |= scatter(list, &outs, &ders, &flags, v, &mut deriv, &mut odd);
        }
        if let Some(d) = d.as_mut() {
            d[..n].copy_from_slice(&deriv[..n]);
        }
        if any_odd {
            let (a, tau_rc, tau_ref) = (p.amplitude, p.tau_rc, p.tau_ref);
            for i in (0..n).filter(|&i| odd[i]) {
                let (out, dv) = soft_lif_f32(pre[i], a, tau_rc, tau_ref, gamma, gain);
                v[i] = out;
                if let Some(d) = d.as_mut() {
                    d[i] = dv;
                }
            }
        }
    }

    /// `e = exp(-|z|)`: libm's `expf`, one neuron at a time (the bits the scalar curve has).
    #[inline(always)]
    fn exp_neg_abs(z: &[f32], e: &mut [f32]) {
        for (e, &z) in e.iter_mut().zip(z) {
            *e = (-z.abs()).exp();
        }
    }

    /// `z > 0`: `log_term = ln(1 + 1/j)` (`ln_1p(1/j)` for `j >= 1`, `ln((1 + j)/j)` below),
    /// `q = j (1 + e)` in the middle range (`e` given), `q = j` in the tail.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn positive<const DERIV: bool>(
        p: &LifParams,
        jj: &[f32],
        e: Option<&[f32]>,
        outs: &mut [f32; LEN],
        ders: &mut [f32; LEN],
        flags: &mut [bool; LEN],
    ) {
        let m = jj.len().min(LEN);
        let big = jj.iter().filter(|&&j| j >= 1.0).count();
        // One form for the whole list when its neurons agree (the usual case).
        let (all_small, all_big) = (big == 0, big == m);
        for k in 0..m {
            let j = jj[k];
            let u = 1.0 / j;
            let ln_arg = (1.0 + j) / j;
            let use_atanh = j >= 1.0;
            let log_term = if all_big {
                two_atanh(u / (2.0 + u))
            } else if all_small {
                ln_normal(ln_arg)
            } else if use_atanh {
                two_atanh(u / (2.0 + u))
            } else {
                ln_normal(ln_arg)
            };
            let q = match e {
                Some(e) => j * (1.0 + e[k]),
                None => j,
            };
            (outs[k], ders[k]) = finish::<DERIV>(p, log_term, j, q);
            flags[k] = !use_atanh && !normal(ln_arg);
        }
    }

    /// Writes a list's results back to the block positions it was gathered from; returns
    /// whether any of them is flagged for the scalar curve.
    #[inline(always)]
    fn scatter(
        list: &[u16],
        outs: &[f32; LEN],
        ders: &[f32; LEN],
        flags: &[bool; LEN],
        v: &mut [f32],
        deriv: &mut [f32; LEN],
        odd: &mut [bool; LEN],
    ) -> bool {
        let mut any = false;
        for (k, &i) in list.iter().enumerate() {
            let i = usize::from(i);
            v[i] = outs[k];
            deriv[i] = ders[k];
            odd[i] = flags[k];
            any |= flags[k];
        }
        any
    }

    lifchip_simd::multiversion! {
        /// Applies the curve in place to `v`, writing derivatives to `d` when given.
        pub(super) fn apply<>(p: &LifParams, v: &mut [f32], d: Option<&mut [f32]>) => apply_generic
    }

    #[inline(always)]
    fn apply_generic(p: &LifParams, v: &mut [f32], d: Option<&mut [f32]>) {
        let mut pre = [0.0f32; LEN];
        match d {
            Some(d) => {
                for (v, d) in v.chunks_mut(LEN).zip(d.chunks_mut(LEN)) {
                    pre[..v.len()].copy_from_slice(v);
                    run::<true>(p, &pre[..v.len()], v, Some(d), &NO_SKIP);
                }
            }
            None => {
                for v in v.chunks_mut(LEN) {
                    pre[..v.len()].copy_from_slice(v);
                    run::<false>(p, &pre[..v.len()], v, None, &NO_SKIP);
                }
            }
        }
    }

    /// No neuron left out.
    const NO_SKIP: [u64; LEN / 64] = [0; LEN / 64];

    /// One block (at most [`LEN`] neurons) of `pre` into `v` (and `d`), where a neuron whose
    /// input has the bits `known.0[i]` takes `known.1[i]` (and the derivative `known.2[i]`)
    /// instead of running the ranges.
    #[inline(always)]
    fn known_block(
        p: &LifParams,
        pre: &[f32],
        v: &mut [f32],
        d: Option<&mut [f32]>,
        known: (&[u32], &[f32], &[f32]),
    ) {
        let (bits, outs, derivs) = known;
        let n = pre.len().min(LEN);
        let mut skip = NO_SKIP;
        for (w, (x, k)) in pre[..n].chunks(64).zip(bits.chunks(64)).enumerate() {
            // 16 lanes at a time in a `u32`, then joined (see the spiking LIF tile).
            let mut m = 0u64;
            for (c, (x, k)) in x.chunks(16).zip(k.chunks(16)).enumerate() {
                let mut part = 0u32;
                for (b, (x, k)) in x.iter().zip(k).enumerate() {
                    part |= u32::from(x.to_bits() == *k) << b;
                }
                m |= u64::from(part) << (16 * c);
            }
            skip[w] = m;
        }
        match d {
            Some(d) => {
                run::<true>(p, &pre[..n], v, Some(&mut *d), &skip);
                let lanes = v.iter_mut().zip(d.iter_mut()).zip(&pre[..n]);
                for (((v, d), x), ((k, o), dk)) in lanes.zip(bits.iter().zip(outs).zip(derivs)) {
                    if x.to_bits() == *k {
                        (*v, *d) = (*o, *dk);
                    }
                }
            }
            None => {
                run::<false>(p, &pre[..n], v, None, &skip);
                for ((v, x), (k, o)) in v.iter_mut().zip(&pre[..n]).zip(bits.iter().zip(outs)) {
                    if x.to_bits() == *k {
                        *v = *o;
                    }
                }
            }
        }
    }

    lifchip_simd::multiversion! {
        /// [`apply_from`] on one block with known neurons (see `known_block`).
        pub(super) fn apply_from_known<>(
            p: &LifParams,
            pre: &[f32],
            v: &mut [f32],
            d: Option<&mut [f32]>,
            known: (&[u32], &[f32], &[f32]),
        ) => known_block
    }

    lifchip_simd::multiversion! {
        /// The block path on a copy of `pre`, for tests and noisy training (which needs `pre`).
        pub(super) fn apply_from<>(
            p: &LifParams,
            pre: &[f32],
            v: &mut [f32],
            d: Option<&mut [f32]>,
        ) => apply_from_generic
    }

    #[inline(always)]
    fn apply_from_generic(p: &LifParams, pre: &[f32], v: &mut [f32], d: Option<&mut [f32]>) {
        match d {
            Some(d) => {
                for ((x, v), d) in pre
                    .chunks(LEN)
                    .zip(v.chunks_mut(LEN))
                    .zip(d.chunks_mut(LEN))
                {
                    run::<true>(p, x, v, Some(d), &NO_SKIP);
                }
            }
            None => {
                for (x, v) in pre.chunks(LEN).zip(v.chunks_mut(LEN)) {
                    run::<false>(p, x, v, None, &NO_SKIP);
                }
            }
        }
    }
}

impl Activation {
    /// Output and derivative (with respect to `pre`) of one neuron.
    #[inline]
    pub(crate) fn eval(&self, pre: f32) -> (f32, f32) {
        match *self {
            Activation::SoftLif(p) => {
                soft_lif_f32(pre, p.amplitude, p.tau_rc, p.tau_ref, p.gamma, p.gain)
            }
            Activation::Lif(p) => lif_f32(pre, p.amplitude, p.tau_rc, p.tau_ref, p.gain),
            Activation::Relu => {
                if pre > 0.0 {
                    (pre, 1.0)
                } else if pre.is_nan() {
                    (f32::NAN, f32::NAN)
                } else {
                    (0.0, 0.0)
                }
            }
        }
    }
}

/// Gaussian rate noise for training: `sigma_hz * A` standard deviation, added only where the
/// hard LIF neuron would fire (`J > 1`), output clipped at zero.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Noise {
    pub sigma_hz: f32,
    pub seed: u64,
}

/// Rows handled by one RNG stream: fixed, so noise does not depend on the thread count.
const ROWS_PER_CHUNK: usize = 4;

/// Applies `act` in place to `pre` (shape `[batch, neurons]`, standard layout) and, when
/// `deriv` is given, writes the derivative `d output / d pre` there. With noise, clipped
/// outputs get derivative 0 (the noise itself carries no gradient).
pub(crate) fn apply(
    act: &Activation,
    values: &mut Array2<f32>,
    deriv: Option<&mut Array2<f32>>,
    noise: Option<Noise>,
) {
    match *act {
        Activation::SoftLif(p) => apply_soft(&p, values, deriv, noise, None),
        Activation::Lif(p) => apply_curve(
            |x| lif_f32(x, p.amplitude, p.tau_rc, p.tau_ref, p.gain),
            p.amplitude,
            values,
            deriv,
            noise,
        ),
        Activation::Relu => apply_curve(|x| Activation::Relu.eval(x), 1.0, values, deriv, None),
    }
}

/// Whether at least an eighth of `pre`'s first row has the bits of `bias` (one value per
/// column): where neurons at their bias are common enough for [`AtBias`] to pay for its
/// checks. Which path runs changes no value.
pub(crate) fn mostly_at_bias(pre: &Array2<f32>, bias: &[f32]) -> bool {
    let Some(row) = pre.rows().into_iter().next() else {
        return false;
    };
    let at = row
        .iter()
        .zip(bias)
        .filter(|(v, b)| v.to_bits() == b.to_bits());
    bias.len() == pre.ncols() && at.count() * 8 >= bias.len()
}

/// The curve's output (and derivative) at each column's bias, which is what a neuron's
/// pre-activation is when all its inputs are zero (`0 + b`): a first conv's positions over
/// blank background, 44 % of them on MNIST. The curve is a pure function of its input, so a
/// neuron at its bias can take these values instead of running it again.
pub(crate) struct AtBias {
    bits: Vec<u32>,
    out: Vec<f32>,
    /// Empty when made without derivatives.
    deriv: Vec<f32>,
}

impl AtBias {
    /// For soft-LIF (the other curves are cheap): the values at `bias`, one per column, with
    /// the derivatives when `deriv`.
    pub(crate) fn new(act: &Activation, bias: &[f32], deriv: bool) -> Option<AtBias> {
        if !matches!(act, Activation::SoftLif(_)) || bias.is_empty() {
            return None;
        }
        let mut out = Array2::from_shape_vec((1, bias.len()), bias.to_vec()).ok()?;
        let mut d = Array2::zeros((1, if deriv { bias.len() } else { 0 }));
        apply(act, &mut out, deriv.then_some(&mut d), None);
        Some(AtBias {
            bits: bias.iter().map(|b| b.to_bits()).collect(),
            out: out.into_raw_vec_and_offset().0,
            deriv: d.into_raw_vec_and_offset().0,
        })
    }

    /// [`apply`], the same values, with the neurons at their bias taking the stored ones
    /// (soft-LIF leaves them out of its work).
    pub(crate) fn apply(
        &self,
        act: &Activation,
        values: &mut Array2<f32>,
        deriv: Option<&mut Array2<f32>>,
        noise: Option<Noise>,
    ) {
        match *act {
            Activation::SoftLif(p) => apply_soft(&p, values, deriv, noise, Some(self)),
            _ => apply(act, values, deriv, noise),
        }
    }

    fn fits(&self, cols: usize, deriv: bool) -> bool {
        cols > 0
            && self.bits.len() == cols
            && self.out.len() == cols
            && (!deriv || self.deriv.len() == cols)
    }
}

/// [`apply`] for soft-LIF: the vectorised [`block`] curve, then the noise, drawn from the same
/// per-chunk streams, in the same order (one Gaussian per neuron with `pre > 0`) as the scalar
/// path, so the results are the same bits.
fn apply_soft(
    p: &LifParams,
    values: &mut Array2<f32>,
    deriv: Option<&mut Array2<f32>>,
    noise: Option<Noise>,
    known: Option<&AtBias>,
) {
    let cols = values.ncols().max(1);
    let known = known.filter(|k| k.fits(values.ncols(), deriv.is_some()));
    let chunk = cols * ROWS_PER_CHUNK;
    let noisy = noise.filter(|n| n.sigma_hz > 0.0);
    let Some(vals) = values.as_slice_mut() else {
        values
            .mapv_inplace(|x| soft_lif_f32(x, p.amplitude, p.tau_rc, p.tau_ref, p.gamma, p.gain).0);
        return;
    };
    let run = |k: usize, v: &mut [f32], mut d: Option<&mut [f32]>| {
        let noisy = match (noisy, known) {
            (None, None) => {
                block::apply(p, v, d);
                return;
            }
            (n, _) => n,
        };
        let mut rng = noisy.map(|n| SmallRng::seed_from_u64(mix(n.seed, k as u64)));
        let scale = noisy.map_or(0.0, |n| n.sigma_hz * p.amplitude);
        let mut pre = [0.0f32; block::LEN];
        let mut start = 0;
        while start < v.len() {
            // With known neurons, blocks stop at row ends (so a block's neurons are one run
            // of columns); the neurons are still visited in order, so the noise draws are the
            // same.
            let end = match known {
                Some(_) => (start + block::LEN)
                    .min(v.len())
                    .min((start / cols + 1) * cols),
                None => (start + block::LEN).min(v.len()),
            };
            let x = &mut pre[..end - start];
            x.copy_from_slice(&v[start..end]);
            let out = &mut v[start..end];
            let mut dv = d.as_mut().map(|d| &mut d[start..end]);
            match known {
                Some(kn) => {
                    let (c0, c1) = (start % cols, start % cols + (end - start));
                    let derivs = kn.deriv.get(c0..c1).unwrap_or(&[]);
                    let slices = (&kn.bits[c0..c1], &kn.out[c0..c1], derivs);
                    block::apply_from_known(p, x, out, dv.as_deref_mut(), slices);
                }
                None => block::apply_from(p, x, out, dv.as_deref_mut()),
            }
            let Some(rng) = rng.as_mut() else {
                start = end;
                continue;
            };
            // The neurons with `pre > 0` first (branch-free, in order), then one Gaussian
            // each in that order: the same draws as testing each neuron in turn, without a
            // hard-to-predict branch per neuron.
            let mut noisy = [0u16; block::LEN];
            let mut count = 0;
            for (i, &x) in x.iter().enumerate() {
                if let Some(slot) = noisy.get_mut(count) {
                    *slot = i as u16;
                }
                count += usize::from(x > 0.0);
            }
            for &i in &noisy[..count.min(block::LEN)] {
                let i = usize::from(i);
                let eta: f32 = StandardNormal.sample(rng);
                let noisy_out = out[i] + scale * eta;
                if noisy_out > 0.0 {
                    out[i] = noisy_out;
                } else {
                    out[i] = 0.0;
                    if let Some(d) = dv.as_mut() {
                        d[i] = 0.0;
                    }
                }
            }
            start = end;
        }
    };
    match deriv.and_then(|d| d.as_slice_mut()) {
        Some(d) => vals
            .par_chunks_mut(chunk)
            .zip(d.par_chunks_mut(chunk))
            .enumerate()
            .for_each(|(k, (v, d))| run(k, v, Some(d))),
        None => vals
            .par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(k, v)| run(k, v, None)),
    }
}

fn apply_curve(
    curve: impl Fn(f32) -> (f32, f32) + Sync,
    amplitude: f32,
    values: &mut Array2<f32>,
    deriv: Option<&mut Array2<f32>>,
    noise: Option<Noise>,
) {
    let cols = values.ncols().max(1);
    let chunk = cols * ROWS_PER_CHUNK;
    let Some(vals) = values.as_slice_mut() else {
        // Callers always pass standard-layout arrays; stay total anyway.
        values.mapv_inplace(|p| curve(p).0);
        return;
    };
    let noisy = noise.filter(|n| n.sigma_hz > 0.0);
    let run = |k: usize, v: &mut [f32], d: Option<&mut [f32]>| match (noisy, d) {
        (None, None) => v.iter_mut().for_each(|x| *x = curve(*x).0),
        (None, Some(d)) => v.iter_mut().zip(d).for_each(|(x, d)| (*x, *d) = curve(*x)),
        (Some(n), d) => {
            let mut rng = SmallRng::seed_from_u64(mix(n.seed, k as u64));
            let scale = n.sigma_hz * amplitude;
            let mut d = d;
            for i in 0..v.len() {
                let pre = v[i];
                let (mut out, mut dv) = curve(pre);
                if pre > 0.0 {
                    let noise: f32 = StandardNormal.sample(&mut rng);
                    let noisy_out = out + scale * noise;
                    if noisy_out > 0.0 {
                        out = noisy_out;
                    } else {
                        out = 0.0;
                        dv = 0.0;
                    }
                }
                v[i] = out;
                if let Some(d) = d.as_mut() {
                    d[i] = dv;
                }
            }
        }
    };
    match deriv.and_then(|d| d.as_slice_mut()) {
        Some(d) => vals
            .par_chunks_mut(chunk)
            .zip(d.par_chunks_mut(chunk))
            .enumerate()
            .for_each(|(k, (v, d))| run(k, v, Some(d))),
        None => vals
            .par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(k, v)| run(k, v, None)),
    }
}

/// SplitMix64-style mixing of a seed with a stream number: distinct, well-spread RNG seeds.
pub(crate) fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper's soft-LIF (the `examples/mnist-*.yaml` activation).
    pub(super) fn paper_params() -> LifParams {
        LifParams {
            amplitude: 0.063,
            tau_rc: 0.022,
            tau_ref: 0.002,
            gamma: 0.02,
            gain: 1.0,
        }
    }

    const A: f64 = 0.063;
    const TAU_RC: f64 = 0.022;
    const TAU_REF: f64 = 0.002;
    const GAMMA: f64 = 0.02;

    fn soft(pre: f64, gain: f64) -> (f64, f64) {
        soft_lif_f64(pre, A, TAU_RC, TAU_REF, GAMMA, gain)
    }

    /// The soft-LIF curve written naively from the paper's formula (fine away from the tails).
    fn soft_naive(pre: f64, gain: f64) -> f64 {
        let j_minus_1 = gain * pre;
        let j = GAMMA * (j_minus_1 / GAMMA).exp().ln_1p();
        A / (TAU_REF + TAU_RC * (1.0 + 1.0 / j).ln())
    }

    /// The paper's derivative formula, written naively.
    fn soft_deriv_naive(pre: f64, gain: f64) -> f64 {
        let r = soft_naive(pre, gain);
        let j = GAMMA * (gain * pre / GAMMA).exp().ln_1p();
        gain * TAU_RC * r * r / (A * j * (j + 1.0) * (1.0 + (-gain * pre / GAMMA).exp()))
    }

    fn central_difference(f: impl Fn(f64) -> f64, x: f64) -> f64 {
        let h = 1e-6 * x.abs().max(1e-3);
        (f(x + h) - f(x - h)) / (2.0 * h)
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs()) + 1e-300
    }

    #[test]
    fn soft_lif_matches_the_paper_formulas_in_the_middle() {
        for &gain in &[1.0, 0.825] {
            for &pre in &[
                -0.5, -0.1, -0.02, -1e-3, 0.0, 1e-3, 0.02, 0.1, 0.5, 1.0, 3.0,
            ] {
                let (out, d) = soft(pre, gain);
                assert!(close(out, soft_naive(pre, gain), 1e-9), "value at {pre}");
                assert!(
                    close(d, soft_deriv_naive(pre, gain), 1e-9),
                    "derivative at {pre}"
                );
            }
        }
    }

    #[test]
    fn soft_lif_derivative_matches_finite_differences_including_tails() {
        // Very negative inputs (j underflows in the naive formula), the knee, and very large ones.
        let points = [
            -1e4, -1e3, -100.0, -30.0, -5.0, -1.0, -0.2, -0.05, -0.01, 0.0, 0.01, 0.05, 0.2, 1.0,
            5.0, 30.0, 1e3, 1e5,
        ];
        for &pre in &points {
            let (_, d) = soft(pre, 1.0);
            let fd = central_difference(|x| soft(x, 1.0).0, pre);
            assert!(
                close(d, fd, 1e-5),
                "pre = {pre}: analytic {d:e}, finite difference {fd:e}"
            );
            assert!(d > 0.0 && d.is_finite(), "pre = {pre}: derivative {d:e}");
        }
    }

    #[test]
    fn soft_lif_tails_follow_their_asymptotes() {
        // Very negative: j ~ gamma * e^z, so out ~ A / (tau_ref + tau_rc * (-ln gamma - z)).
        for &pre in &[-10.0, -100.0, -1e4, -1e30] {
            let z = pre / GAMMA;
            let asymptote = A / (TAU_REF + TAU_RC * (-(GAMMA.ln()) - z));
            let (out, d) = soft(pre, 1.0);
            assert!(
                close(out, asymptote, 1e-9),
                "pre = {pre}: {out:e} vs {asymptote:e}"
            );
            assert!(d.is_finite() && d >= 0.0);
        }
        // Very large: j = J - 1, the hard LIF curve.
        for &pre in &[10.0, 1e3, 1e10] {
            let (out, d) = soft(pre, 1.0);
            let (hard, hard_d) = lif_f64(pre, A, TAU_RC, TAU_REF, 1.0);
            assert!(close(out, hard, 1e-12), "pre = {pre}");
            assert!(close(d, hard_d, 1e-9), "pre = {pre}: {d:e} vs {hard_d:e}");
        }
        // Limits are finite and exact.
        assert_eq!(soft(f64::NEG_INFINITY, 1.0), (0.0, 0.0));
        let (top, d) = soft(f64::INFINITY, 1.0);
        assert!(close(top, A / TAU_REF, 1e-12) && d == 0.0);
        assert!(soft(f64::NAN, 1.0).0.is_nan());
    }

    #[test]
    fn f32_curves_agree_with_f64() {
        for k in -400..=400 {
            let pre = f64::from(k) * 0.01;
            for &pre in &[pre, pre * 1e3] {
                let (o64, d64) = soft(pre, 1.0);
                let (o32, d32) = soft_lif_f32(
                    pre as f32,
                    A as f32,
                    TAU_RC as f32,
                    TAU_REF as f32,
                    GAMMA as f32,
                    1.0,
                );
                assert!(close(f64::from(o32), o64, 1e-5), "value at {pre}");
                assert!(
                    close(f64::from(d32), d64, 2e-5),
                    "derivative at {pre}: {d32} vs {d64}"
                );
                let (h64, hd64) = lif_f64(pre, A, TAU_RC, TAU_REF, 1.0);
                let (h32, hd32) = lif_f32(pre as f32, A as f32, TAU_RC as f32, TAU_REF as f32, 1.0);
                assert!(close(f64::from(h32), h64, 1e-5));
                assert!(
                    close(f64::from(hd32), hd64, 1e-4),
                    "hard derivative at {pre}"
                );
            }
        }
        // f32 tails stay finite.
        for &pre in &[
            -1e38f32,
            -1e6,
            -50.0,
            50.0,
            1e6,
            1e38,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            let (o, d) = soft_lif_f32(pre, 0.063, 0.022, 0.002, 0.02, 1.0);
            assert!(
                o.is_finite() && d.is_finite() && o >= 0.0 && d >= 0.0,
                "{pre}: {o} {d}"
            );
        }
    }

    /// Training with known neurons (derivatives and noise): the same outputs, derivatives and
    /// noise draws as without, with blocks that stop at row ends (300 columns) and chunks of
    /// rows of every length.
    #[test]
    fn known_neurons_in_training_give_the_same_bits() {
        let p = paper_params();
        let act = Activation::SoftLif(p);
        let cols = 300;
        let mut rng = SmallRng::seed_from_u64(11);
        let bias: Vec<f32> = (0..cols)
            .map(|_| {
                let x: f32 = StandardNormal.sample(&mut rng);
                x * 0.05
            })
            .collect();
        for rows in [1, 4, 9] {
            let pre = Array2::from_shape_fn((rows, cols), |(r, j)| {
                if (r * 13 + j * 7) % 5 < 2 {
                    bias[j]
                } else {
                    let x: f32 = StandardNormal.sample(&mut rng);
                    x * 0.1
                }
            });
            let mut at = Array2::from_shape_vec((1, cols), bias.clone()).unwrap();
            let mut at_d = Array2::zeros((1, cols));
            apply(&act, &mut at, Some(&mut at_d), None);
            let bits: Vec<u32> = bias.iter().map(|b| b.to_bits()).collect();
            let (at, at_d) = (
                at.into_raw_vec_and_offset().0,
                at_d.into_raw_vec_and_offset().0,
            );
            let known = AtBias {
                bits,
                out: at,
                deriv: at_d,
            };
            for noise in [
                None,
                Some(Noise {
                    sigma_hz: 10.0,
                    seed: 3,
                }),
            ] {
                let (mut want, mut want_d) = (pre.clone(), Array2::zeros((rows, cols)));
                apply(&act, &mut want, Some(&mut want_d), noise);
                let (mut got, mut got_d) = (pre.clone(), Array2::zeros((rows, cols)));
                known.apply(&act, &mut got, Some(&mut got_d), noise);
                let b = |a: &Array2<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    b(&got),
                    b(&want),
                    "outputs, {rows} rows, noise {}",
                    noise.is_some()
                );
                assert_eq!(b(&got_d), b(&want_d), "derivatives, {rows} rows");
            }
        }
    }

    /// Neurons whose input has the known bits take the given value and skip the ranges; the
    /// others get exactly the curve's value, whichever lanes of a block were left out.
    #[test]
    fn known_inputs_take_their_value_and_the_rest_are_unchanged() {
        let p = paper_params();
        let act = Activation::SoftLif(p);
        // 300 neurons a row (a block of 256 and a short one), every range among the known
        // values (and both zeros, NaN), 37 rows.
        let size = 300;
        let mut rng = SmallRng::seed_from_u64(9);
        let known: Vec<f32> = (0..size)
            .map(|i| match i % 50 {
                0 => 0.0,
                1 => -0.0,
                2 => f32::NAN,
                _ => {
                    let x: f32 = StandardNormal.sample(&mut rng);
                    x * [0.01, 0.3, 2.0][i % 3]
                }
            })
            .collect();
        let known_bits: Vec<u32> = known.iter().map(|v| v.to_bits()).collect();
        let pre = Array2::from_shape_fn((37, size), |(r, i)| {
            // Rows with none, some or all neurons at their known input; `-0` where `+0` is
            // known (different bits: computed).
            let at = match r % 4 {
                0 => false,
                1 => true,
                _ => (r * 7 + i * 3) % 5 < 2,
            };
            if at {
                known[i]
            } else if known[i].to_bits() == 0 {
                -0.0
            } else {
                let x: f32 = StandardNormal.sample(&mut rng);
                x * 0.5
            }
        });
        // The scalar curve, which the block kernel matches bit for bit.
        let curve = |x: f32| soft_lif_f32(x, p.amplitude, p.tau_rc, p.tau_ref, p.gamma, p.gain).0;
        let want = pre.mapv(curve);
        let at: Vec<f32> = known.iter().map(|&x| curve(x)).collect();
        let mut got = pre.clone();
        let with = |out: &[f32]| AtBias {
            bits: known_bits.clone(),
            out: out.to_vec(),
            deriv: Vec::new(),
        };
        with(&at).apply(&act, &mut got, None, None);
        let bits = |a: &Array2<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want));
        // With other values given, exactly the known neurons take them.
        let marks: Vec<f32> = (0..size).map(|i| -1.0 - i as f32).collect();
        let mut got = pre.clone();
        with(&marks).apply(&act, &mut got, None, None);
        for ((g, w), (x, i)) in got
            .iter()
            .zip(want.iter())
            .zip(pre.iter().zip((0..size).cycle()))
        {
            let expected = if x.to_bits() == known_bits[i] {
                marks[i]
            } else {
                *w
            };
            assert_eq!(g.to_bits(), expected.to_bits());
        }
    }

    #[test]
    fn block_soft_lif_is_bit_identical_to_the_scalar_curve() {
        let mut inputs: Vec<f32> = (-4000..=4000).map(|k| k as f32 * 1e-3).collect();
        inputs.extend((-300..=300).map(|k| k as f32 * 0.37));
        inputs.extend([
            0.0,
            -0.0,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
            0.34,
            -0.34,
            0.340_000_03,
            -0.340_000_03,
            1e30,
            -1e30,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ]);
        let mut rng = SmallRng::seed_from_u64(5);
        for _ in 0..20_000 {
            let x: f32 = StandardNormal.sample(&mut rng);
            inputs.push(x * 0.5);
        }
        // At every vector level (the kernel is compiled for each; only the width changes).
        let levels = [
            lifchip_simd::Level::Base,
            lifchip_simd::Level::Avx2,
            lifchip_simd::Level::Avx512,
        ];
        let params = [
            (0.02, 1.0),
            (0.02, 0.825),
            (1.0, 3.0),
            (5.0, 0.5),
            (1e-4, 1.0),
        ];
        for (level, (gamma, gain)) in levels
            .into_iter()
            .flat_map(|l| params.into_iter().map(move |g| (l, g)))
        {
            lifchip_simd::cap(level);
            let p = LifParams {
                amplitude: 0.063,
                tau_rc: 0.022,
                tau_ref: 0.002,
                gamma,
                gain,
            };
            let mut v = inputs.clone();
            let mut d = vec![0.0f32; v.len()];
            block::apply(&p, &mut v, Some(&mut d));
            let mut without = inputs.clone();
            block::apply(&p, &mut without, None);
            assert_eq!(
                v.iter().map(|o| o.to_bits()).collect::<Vec<_>>(),
                without.iter().map(|o| o.to_bits()).collect::<Vec<_>>(),
                "outputs with and without derivatives"
            );
            let (mut from, mut from_d) = (vec![0.0f32; v.len()], vec![0.0f32; v.len()]);
            block::apply_from(&p, &inputs, &mut from, Some(&mut from_d));
            let bits = |xs: &[f32]| xs.iter().map(|o| o.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                (bits(&from), bits(&from_d)),
                (bits(&v), bits(&d)),
                "apply_from"
            );
            for ((&x, &o), &dv) in inputs.iter().zip(&v).zip(&d) {
                let (want, want_d) =
                    soft_lif_f32(x, p.amplitude, p.tau_rc, p.tau_ref, p.gamma, p.gain);
                assert_eq!(
                    (o.to_bits(), dv.to_bits()),
                    (want.to_bits(), want_d.to_bits()),
                    "{level:?} gamma {gamma} gain {gain} pre {x:e}: block ({o:e}, {dv:e}) scalar ({want:e}, {want_d:e})"
                );
            }
        }
        lifchip_simd::cap(lifchip_simd::Level::Avx512);
    }

    /// Noisy soft-LIF against the rule written neuron by neuron (curve, then for `pre > 0`
    /// one draw from the chunk's stream and the clip), bit for bit, at every vector level:
    /// widths that are not multiples of 16 or of the block, NaN, ±0, clipped outputs.
    #[test]
    fn noise_matches_the_neuron_by_neuron_rule_bit_for_bit() {
        let p = paper_params();
        let mut src = SmallRng::seed_from_u64(11);
        let mut clipped = 0;
        for level in [
            lifchip_simd::Level::Base,
            lifchip_simd::Level::Avx2,
            lifchip_simd::Level::Avx512,
        ] {
            lifchip_simd::cap(level);
            for (rows, cols) in [(9, 37), (6, 300), (5, 256), (3, 1), (4, 513)] {
                let pre: Vec<f32> = (0..rows * cols)
                    .map(|k| match k % 97 {
                        0 => f32::NAN,
                        1 => 0.0,
                        2 => -0.0,
                        3 => 1e-9,
                        _ => {
                            let x: f32 = StandardNormal.sample(&mut src);
                            x * 0.05
                        }
                    })
                    .collect();
                let noise = Noise {
                    sigma_hz: 40.0,
                    seed: 3,
                };
                let base = Array2::from_shape_vec((rows, cols), pre.clone()).unwrap();
                let (mut v, mut d) = (base.clone(), Array2::zeros(base.raw_dim()));
                apply(&Activation::SoftLif(p), &mut v, Some(&mut d), Some(noise));
                let mut w = base.clone();
                apply(&Activation::SoftLif(p), &mut w, None, Some(noise));
                let (mut want, mut want_d) = (Vec::new(), Vec::new());
                for (k, chunk) in pre.chunks(cols * ROWS_PER_CHUNK).enumerate() {
                    let mut rng = SmallRng::seed_from_u64(mix(noise.seed, k as u64));
                    let scale = noise.sigma_hz * p.amplitude;
                    for &x in chunk {
                        let (mut out, mut dv) =
                            soft_lif_f32(x, p.amplitude, p.tau_rc, p.tau_ref, p.gamma, p.gain);
                        if x > 0.0 {
                            let eta: f32 = StandardNormal.sample(&mut rng);
                            let y = out + scale * eta;
                            if y > 0.0 {
                                out = y;
                            } else {
                                (out, dv) = (0.0, 0.0);
                            }
                        }
                        want.push(out.to_bits());
                        want_d.push(dv.to_bits());
                    }
                }
                let bits = |a: &Array2<f32>| a.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&v), want, "{level:?} {rows}x{cols} outputs");
                assert_eq!(bits(&d), want_d, "{level:?} {rows}x{cols} derivatives");
                assert_eq!(
                    bits(&w),
                    want,
                    "{level:?} {rows}x{cols} without derivatives"
                );
                clipped += pre
                    .iter()
                    .zip(&want)
                    .filter(|&(&x, &o)| x > 0.0 && o == 0)
                    .count();
            }
        }
        lifchip_simd::cap(lifchip_simd::Level::Avx512);
        assert!(clipped > 50, "{clipped} clipped outputs");
    }

    #[test]
    fn hard_lif_matches_the_rate_formula_and_finite_differences() {
        // r(J) = 1 / (tau_ref + tau_rc ln(1 + 1/(J-1))): J = 2 gives 1/(0.002 + 0.022 ln 2).
        let (out, _) = lif_f64(1.0, 1.0, TAU_RC, TAU_REF, 1.0);
        assert!(close(out, 1.0 / (TAU_REF + TAU_RC * 2f64.ln()), 1e-12));
        assert_eq!(lif_f64(-0.5, A, TAU_RC, TAU_REF, 1.0), (0.0, 0.0));
        assert_eq!(lif_f64(0.0, A, TAU_RC, TAU_REF, 1.0), (0.0, 0.0));
        for &pre in &[1e-3, 0.01, 0.1, 1.0, 10.0, 1e4] {
            let (_, d) = lif_f64(pre, A, TAU_RC, TAU_REF, 0.825);
            let fd = central_difference(|x| lif_f64(x, A, TAU_RC, TAU_REF, 0.825).0, pre);
            assert!(close(d, fd, 1e-5), "pre = {pre}: {d:e} vs {fd:e}");
        }
        // Capped, finite at the threshold.
        let (_, d) = lif_f64(1e-300, A, TAU_RC, TAU_REF, 1.0);
        assert!(d.is_finite() && d > 0.0);
    }

    #[test]
    fn relu_and_noise() {
        assert_eq!(Activation::Relu.eval(2.0), (2.0, 1.0));
        assert_eq!(Activation::Relu.eval(-2.0), (0.0, 0.0));
        let p = paper_params();
        let act = Activation::SoftLif(p);
        let pre: Vec<f32> = (0..64 * 50).map(|k| (k % 64) as f32 * 0.05 - 1.6).collect();
        let base = Array2::from_shape_vec((50, 64), pre.clone()).unwrap();
        let mut clean = base.clone();
        apply(&act, &mut clean, None, None);
        let run = |seed| {
            let mut v = base.clone();
            let mut d = Array2::zeros(v.raw_dim());
            apply(
                &act,
                &mut v,
                Some(&mut d),
                Some(Noise {
                    sigma_hz: 10.0,
                    seed,
                }),
            );
            (v, d)
        };
        let (a, da) = run(7);
        let (b, _) = run(7);
        let (c, _) = run(8);
        assert_eq!(a, b, "same seed, same noise");
        assert_ne!(a, c);
        let mut sum_sq = 0.0;
        let mut count = 0;
        for ((&p, (&noisy, &clean)), &d) in
            pre.iter().zip(a.iter().zip(clean.iter())).zip(da.iter())
        {
            assert!(noisy >= 0.0);
            if p <= 0.0 {
                assert_eq!(noisy, clean, "no noise below threshold");
            } else if noisy > 0.0 {
                sum_sq += f64::from((noisy - clean) / 0.063).powi(2);
                count += 1;
            } else {
                assert_eq!(d, 0.0, "clipped outputs carry no gradient");
            }
        }
        let sigma = (sum_sq / f64::from(count)).sqrt();
        assert!((8.5..11.5).contains(&sigma), "noise sigma {sigma} Hz");
    }
}

#[cfg(test)]
mod speed {
    use super::tests::paper_params;
    use super::*;

    #[test]
    #[ignore]
    fn activation_speed() {
        let p = paper_params();
        let base = Array2::from_shape_fn((100, 9216), |(i, j)| {
            ((i * 31 + j * 17) % 1000) as f32 / 250.0 - 2.0
        });
        // Scalar curve against the block path, one thread, alternating (median of 5).
        let xs: Vec<f32> = base.iter().copied().collect();
        let (mut scalar, mut blocked) = (Vec::new(), Vec::new());
        let mut sink = 0.0f32;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for &x in &xs {
                let (o, d) = soft_lif_f32(x, 0.063, 0.022, 0.002, 0.02, 1.0);
                sink += o + d;
            }
            scalar.push(t.elapsed().as_secs_f64() * 1e9 / xs.len() as f64);
            let mut v = xs.clone();
            let mut d = vec![0.0f32; v.len()];
            let t = std::time::Instant::now();
            block::apply(&p, &mut v, Some(&mut d));
            blocked.push(t.elapsed().as_secs_f64() * 1e9 / xs.len() as f64);
            sink += v[7] + d[9];
        }
        scalar.sort_by(f64::total_cmp);
        blocked.sort_by(f64::total_cmp);
        eprintln!(
            "soft-LIF with derivative, 1 thread: scalar {:.2} ns/element, block {:.2} ns/element ({sink})",
            scalar[2], blocked[2]
        );
        for (name, act) in [
            ("soft", Activation::SoftLif(p)),
            ("hard", Activation::Lif(p)),
            ("relu", Activation::Relu),
        ] {
            for (deriv, noise) in [(false, false), (true, false), (true, true)] {
                let mut v = base.clone();
                let mut d = Array2::zeros(v.raw_dim());
                let t = std::time::Instant::now();
                for _ in 0..10 {
                    v.assign(&base);
                    apply(
                        &act,
                        &mut v,
                        deriv.then_some(&mut d),
                        noise.then_some(Noise {
                            sigma_hz: 10.0,
                            seed: 1,
                        }),
                    );
                }
                let ns = t.elapsed().as_secs_f64() * 1e9 / (10.0 * base.len() as f64);
                eprintln!("{name} deriv {deriv} noise {noise}: {ns:.2} ns/element (2 threads)");
            }
        }
    }
}
