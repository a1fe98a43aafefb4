//! The storable weight grid of a target: which integers a projection's weights may take,
//! depending on its sign class. Shared by the compiler (quantization, chip-unit checks), the
//! chip format (weight field validation) and quantization-aware training.

use serde::{Deserialize, Serialize};

use crate::{Target, WeightEncoding};

/// The sign class of a projection's weights: the weight format of sign-mode targets stores
/// same-sign projections with one more magnitude bit than mixed ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignClass {
    /// Every weight `>= 0` (also: all zero, or none).
    Excitatory,
    /// Every weight `<= 0`, at least one `< 0`.
    Inhibitory,
    /// Weights of both signs.
    Mixed,
}

impl SignClass {
    /// The sign class of `weights`.
    pub fn of(weights: &[f32]) -> SignClass {
        let positive = weights.iter().any(|&w| w > 0.0);
        let negative = weights.iter().any(|&w| w < 0.0);
        match (positive, negative) {
            (true, true) => SignClass::Mixed,
            (false, true) => SignClass::Inhibitory,
            _ => SignClass::Excitatory,
        }
    }
}

/// The integers a stored weight may take: the multiples of `step` in `lo..=hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightGrid {
    pub lo: i64,
    pub hi: i64,
    pub step: i64,
}

impl WeightGrid {
    /// Whether `w` is on the grid.
    pub fn contains(&self, w: i64) -> bool {
        (self.lo..=self.hi).contains(&w) && w % self.step == 0
    }

    /// The largest magnitude on the grid.
    pub fn max_magnitude(&self) -> i64 {
        self.hi.max(-self.lo)
    }
}

impl Target {
    /// The grid of a stored weight of a projection of sign class `sign`.
    pub fn weight_grid(&self, sign: SignClass) -> WeightGrid {
        // A checked target has 1..=16 bits; the clamp only keeps the shifts defined.
        let b = self.precision.weight_bits.clamp(1, 32);
        match self.precision.weight_encoding {
            WeightEncoding::Signed => WeightGrid {
                lo: -(1i64 << (b - 1)),
                hi: (1i64 << (b - 1)) - 1,
                step: 1,
            },
            WeightEncoding::LoihiSignMode => {
                // Lava stores 8-bit magnitudes; fewer bits coarsen the step; a mixed-sign
                // projection spends one magnitude bit on the sign.
                let full = 8u32.max(b);
                let ntb = (full - b) + u32::from(sign == SignClass::Mixed);
                let step = 1i64 << ntb;
                let top = (((1i64 << full) - 1) >> ntb) << ntb;
                let (lo, hi) = match sign {
                    SignClass::Excitatory => (0, top),
                    SignClass::Inhibitory => (-top, 0),
                    SignClass::Mixed => (-(1i64 << full), top),
                };
                WeightGrid { lo, hi, step }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_class_of_weights() {
        assert_eq!(SignClass::of(&[0.0, 1.0]), SignClass::Excitatory);
        assert_eq!(SignClass::of(&[0.0, -1.0]), SignClass::Inhibitory);
        assert_eq!(SignClass::of(&[-1.0, 1.0]), SignClass::Mixed);
        assert_eq!(SignClass::of(&[]), SignClass::Excitatory);
    }

    #[test]
    fn grid_membership() {
        let g = WeightGrid {
            lo: -256,
            hi: 254,
            step: 2,
        };
        assert!(g.contains(-256) && g.contains(254) && g.contains(0));
        assert!(!g.contains(3) && !g.contains(256) && !g.contains(-258));
        assert_eq!(g.max_magnitude(), 256);
    }
}
