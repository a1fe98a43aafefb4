//! Exact shortcuts for IEEE operations: the same bits, cheaper instructions.

/// `x / c` for f32 `x` and `c`, given `inv_c = 1 / c` in f64: `x * inv_c` in f64, rounded
/// once to f32 — the same bits as the f32 division, without the divider. Why it is exact:
/// `x` and `c` have 24-bit significands and a point halfway between two f32 values needs 25,
/// so `x - c * mid` is a nonzero multiple of `ulp(c) * ulp(mid) / 2` and `x / c` stays more
/// than `2^-49` (relative) away from every halfway point (more than `2^-175` absolute among
/// subnormal results); the f64 product is within `2^-52` (relative) of `x / c`, so both
/// round to the same f32. Zeros, infinities and NaN follow from IEEE multiplication as they
/// do from division (`c = 0` gives `inv_c = inf`).
#[inline(always)]
pub(crate) fn div_by(x: f32, inv_c: f64) -> f32 {
    (f64::from(x) * inv_c) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `div_by` gives the f32 division's bits: every significand of the dividend (one binade;
    /// the others differ only by exact powers of two) against divisors that Adam's bias
    /// corrections take and hard ones (significands of all ones, just above a power of two,
    /// subnormal), then random bit patterns of both (zeros, subnormals, infinities, NaN).
    #[test]
    fn division_by_an_f64_reciprocal_is_exact() {
        let same = |x: f32, c: f32| {
            let (want, got) = (x / c, div_by(x, 1.0 / f64::from(c)));
            assert!(
                want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
                "{x:e} / {c:e}: {want:e} against {got:e}"
            );
        };
        let mut divisors = vec![
            1.0,
            f32::from_bits(0x3fff_ffff), // 1.99999988: all ones
            f32::from_bits(0x3f7f_ffff), // 0.99999994
            f32::from_bits(0x3f80_0001), // just above 1
            f32::from_bits(0x0000_0003), // subnormal
            f32::from_bits(0x0055_5555),
            3.0,
            0.1,
        ];
        for t in [1, 2, 3, 10, 100, 1000, 5000] {
            divisors.push(1.0 - 0.9f32.powi(t));
            divisors.push(1.0 - 0.999f32.powi(t));
        }
        for &c in &divisors {
            for m in 0..1u32 << 23 {
                same(f32::from_bits(0x3f80_0000 | m), c);
            }
            // Dividends whose quotients are subnormal, and subnormal dividends.
            for m in (0..1u32 << 23).step_by(97) {
                same(f32::from_bits(m), c);
                same(f32::from_bits(0x0080_0000 | m), c);
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000_000 {
            let r = next();
            same(f32::from_bits(r as u32), f32::from_bits((r >> 32) as u32));
        }
    }
}
