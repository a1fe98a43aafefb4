//! Telling a difference from noise: the 95 % Wilson score interval of an accuracy, and
//! McNemar's exact test of two accuracies measured on the same images.
//!
//! **Why these.** An accuracy is `k` correct out of `n` images; the Wilson interval keeps its
//! coverage near 95 % also at accuracies close to 100 % and for small `n`, where the normal
//! ("Wald") interval collapses to zero width. Two points run on the same images are paired:
//! only the images on which they disagree (`b`: only A right, `c`: only B right) say anything
//! about which is better, and under "no difference" each of those is A's with probability ½.
//! The exact two-sided binomial test on `b` of `b + c` is McNemar's exact test; it is valid for
//! any `b + c` (the chi-square form with continuity correction needs `b + c` of about 25 or
//! more) and conservative, so "p < 0.05" never overstates a difference.

/// z of a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval of `correct` out of `n` at `z` (`(0, 1)` when `n` is 0).
pub fn wilson(correct: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = correct.min(n) as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    // At 0 and n the bounds are exactly 0 and 1 (rounding would leave 1 - 1e-16).
    let lo = if correct == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if correct >= n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (lo, hi)
}

/// The Wilson interval at 95 % of an accuracy given as a fraction of `n` images (the count of
/// right images is the nearest integer; a fraction that is not a number counts as none right).
pub fn wilson_accuracy(accuracy: f64, n: u64) -> (f64, f64) {
    let fraction = if accuracy.is_nan() {
        0.0
    } else {
        accuracy.clamp(0.0, 1.0)
    };
    let correct = (fraction * n as f64).round() as u64;
    wilson(correct, n, Z95)
}

/// Counts of a paired comparison of A and B on the same images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paired {
    /// Images only A classified right.
    pub only_a: u64,
    /// Images only B classified right.
    pub only_b: u64,
    pub n: u64,
}

/// Pairs two per-image correctness strings (`'1'` right, anything else wrong); `None` when
/// their lengths differ or either is empty (the points did not run on the same images).
pub fn paired(a: &str, b: &str) -> Option<Paired> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let (mut only_a, mut only_b) = (0, 0);
    for (x, y) in a.bytes().zip(b.bytes()) {
        match (x == b'1', y == b'1') {
            (true, false) => only_a += 1,
            (false, true) => only_b += 1,
            _ => {}
        }
    }
    Some(Paired {
        only_a,
        only_b,
        n: a.len() as u64,
    })
}

/// McNemar's exact two-sided p-value for `b` discordant pairs one way and `c` the other:
/// `min(1, 2 · P[X ≤ min(b, c)])` with `X ~ Binomial(b + c, ½)`; 1 when `b + c` is 0.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // Terms in log space: 0.5^n underflows for n > 1074.
    let mut log_pmf = -(n as f64) * std::f64::consts::LN_2;
    let mut tail = log_pmf.exp();
    for i in 1..=k {
        log_pmf += ((n - i + 1) as f64).ln() - (i as f64).ln();
        tail += log_pmf.exp();
    }
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_matches_hand_values() {
        // 988 of 1000: (0.979143, 0.993122), computed by hand from the formula in Python.
        let (lo, hi) = wilson(988, 1000, Z95);
        assert!(close(lo, 0.979_143, 1e-6), "{lo}");
        assert!(close(hi, 0.993_122, 1e-6), "{hi}");
        // 5 of 10: symmetric around 0.5, (0.2366, 0.7634).
        let (lo, hi) = wilson(5, 10, Z95);
        assert!(
            close(lo, 0.236_6, 1e-4) && close(hi, 0.763_4, 1e-4),
            "{lo} {hi}"
        );
        assert!(close(lo + hi, 1.0, 1e-12));
    }

    #[test]
    fn wilson_edges() {
        assert_eq!(wilson(0, 0, Z95), (0.0, 1.0));
        let (lo, hi) = wilson(10, 10, Z95);
        assert_eq!(hi, 1.0);
        // All right out of 10: lower bound n/(n + z²) = 10/13.8415 = 0.7225.
        assert!(close(lo, 0.722_5, 1e-4), "{lo}");
        let (lo, hi) = wilson(0, 10, Z95);
        assert_eq!(lo, 0.0);
        assert!(close(hi, 0.277_5, 1e-4), "{hi}");
        // More correct than images is clamped, not a NaN.
        let (lo, hi) = wilson(12, 10, Z95);
        assert!(lo.is_finite() && hi == 1.0);
    }

    #[test]
    fn fractions_round_to_image_counts() {
        assert_eq!(wilson_accuracy(0.988, 1000), wilson(988, 1000, Z95));
        // 0.98799999 of 1000 is still 988 images.
        assert_eq!(wilson_accuracy(0.987_999_99, 1000), wilson(988, 1000, Z95));
        assert_eq!(wilson_accuracy(1.5, 10), wilson(10, 10, Z95));
        assert_eq!(wilson_accuracy(f64::NAN, 10), wilson(0, 10, Z95));
        assert_eq!(wilson_accuracy(0.5, 0), (0.0, 1.0));
    }

    #[test]
    fn mcnemar_matches_binomial_tails() {
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // b=0, c=5: 2 · 0.5^5 = 0.0625.
        assert!(close(mcnemar_exact(0, 5), 0.0625, 1e-12));
        assert!(close(mcnemar_exact(5, 0), 0.0625, 1e-12));
        // b=1, c=9: 2 · (1 + 10) / 1024 = 0.021484375.
        assert!(close(mcnemar_exact(1, 9), 22.0 / 1024.0, 1e-12));
        // b=c: the tail passes ½, clamped to 1.
        assert_eq!(mcnemar_exact(7, 7), 1.0);
        // b=10, c=25: 2 · Σ_{k≤10} C(35,k) / 2^35 = 0.0166738 (math.comb in Python).
        let p = mcnemar_exact(10, 25);
        let tail: f64 = (0..=10u64).map(|k| comb(35, k)).sum::<f64>() / 2f64.powi(35);
        assert!(close(p, 2.0 * tail, 1e-12), "{p}");
        assert!(close(p, 0.016_673_848, 1e-8), "{p}");
        // Large counts do not underflow to 0 or overflow.
        let p = mcnemar_exact(1500, 1500);
        assert_eq!(p, 1.0);
        let p = mcnemar_exact(1400, 1600);
        // 2 · Σ_{k≤1400} C(3000,k) / 2^3000 = 2.785640e-4 (math.comb in Python).
        assert!(close(p, 2.785_640e-4, 1e-9), "{p}");
    }

    fn comb(n: u64, k: u64) -> f64 {
        (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    }

    #[test]
    fn pairs_count_disagreements() {
        assert_eq!(
            paired("1100", "1010"),
            Some(Paired {
                only_a: 1,
                only_b: 1,
                n: 4
            })
        );
        assert_eq!(paired("", ""), None);
        assert_eq!(paired("1", "10"), None);
    }
}
