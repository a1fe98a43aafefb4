//! Deterministic shuffling for mini-batch order.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A permutation of `0..n`, shuffled by Fisher–Yates with `StdRng::seed_from_u64(seed)`.
///
/// The same `n` and `seed` always give the same order (for a given `rand` version); use e.g.
/// `seed + epoch` for a fresh order each epoch.
pub fn shuffled_indices(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        idx.swap(i, j);
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_deterministic_permutation() {
        let a = shuffled_indices(1000, 5);
        assert_eq!(a, shuffled_indices(1000, 5));
        assert_ne!(a, shuffled_indices(1000, 6));
        assert_ne!(a, (0..1000).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert!(shuffled_indices(0, 1).is_empty());
        assert_eq!(shuffled_indices(1, 1), vec![0]);
    }

    #[test]
    fn roughly_uniform_first_position() {
        // each of 4 values should lead about a quarter of the time
        let mut first = [0usize; 4];
        for seed in 0..4000 {
            first[shuffled_indices(4, seed)[0]] += 1;
        }
        assert!(
            first.iter().all(|&c| (800..=1200).contains(&c)),
            "{first:?}"
        );
    }
}
