//! Recycled buffers for the training pass's large per-batch arrays (im2col columns, GEMM
//! outputs, derivatives, gradients). Each batch used to allocate them afresh: big blocks come
//! from `mmap` or a heap top that `free` trims, so every batch paid page faults and zeroing
//! for memory that the next line overwrote anyway. A buffer taken here has unspecified
//! contents (stale values of an earlier array, or zeros): [`uninit`] is only for arrays that
//! are written in full before they are read (GEMMs with `beta = 0`, element-wise maps),
//! [`zeros`] for accumulators. Which buffer an array gets changes no value it ends up with.

use std::sync::Mutex;

use ndarray::Array2;

/// Arrays below this many floats are left to the allocator (cheap, and not worth a lock).
const MIN_LEN: usize = 1 << 14;
/// Buffers kept at most; more are freed (a training pass holds a few dozen at once).
const MAX_BUFFERS: usize = 64;
/// Floats kept at most in all (1 GiB): a bound on what the pool can hold on to.
const MAX_FLOATS: usize = 1 << 28;

/// Kept buffers, taken best-fit.
struct Free(Vec<Vec<f32>>);

impl Free {
    /// A vector of `len` floats with unspecified contents: the smallest kept buffer that
    /// holds `len`, or a new one.
    fn take(&mut self, len: usize) -> Vec<f32> {
        let best = self
            .0
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        match best.map(|i| self.0.swap_remove(i)) {
            Some(mut v) => {
                // Writes only where the buffer holds fewer than `len` floats.
                v.resize(len, 0.0);
                v
            }
            None => vec![0.0; len],
        }
    }

    fn give(&mut self, v: Vec<f32>) {
        let kept: usize = self.0.iter().map(Vec::capacity).sum();
        if v.capacity() >= MIN_LEN
            && self.0.len() < MAX_BUFFERS
            && kept.saturating_add(v.capacity()) <= MAX_FLOATS
        {
            self.0.push(v);
        }
    }
}

static FREE: Mutex<Free> = Mutex::new(Free(Vec::new()));

fn free_list() -> std::sync::MutexGuard<'static, Free> {
    // A panic while holding the lock leaves a valid list (push/remove only): keep using it.
    FREE.lock().unwrap_or_else(|e| e.into_inner())
}

fn take(len: usize) -> Vec<f32> {
    if len < MIN_LEN {
        return vec![0.0; len];
    }
    free_list().take(len)
}

/// A `[rows, cols]` array whose contents are unspecified: the caller writes every element
/// before reading any.
pub(crate) fn uninit(rows: usize, cols: usize) -> Array2<f32> {
    let Some(len) = rows.checked_mul(cols) else {
        return Array2::zeros((rows, cols));
    };
    Array2::from_shape_vec((rows, cols), take(len)).unwrap_or_else(|_| Array2::zeros((rows, cols)))
}

/// A `[rows, cols]` array of zeros (a recycled buffer, cleared).
pub(crate) fn zeros(rows: usize, cols: usize) -> Array2<f32> {
    let mut a = uninit(rows, cols);
    a.fill(0.0);
    a
}

/// Hands an array's buffer back for a later [`uninit`] or [`zeros`].
pub(crate) fn recycle(a: Array2<f32>) {
    let (v, _) = a.into_raw_vec_and_offset();
    if v.capacity() >= MIN_LEN {
        free_list().give(v);
    }
}

/// Frees every kept buffer (at the end of a training run).
pub(crate) fn clear() {
    let kept = std::mem::take(&mut free_list().0);
    drop(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Best fit, reuse of the same allocation, lengths as asked, and the cap on kept buffers.
    #[test]
    fn free_list_takes_the_smallest_buffer_that_fits() {
        let mut free = Free(Vec::new());
        let small = vec![1.0f32; MIN_LEN];
        let large = vec![2.0f32; 4 * MIN_LEN];
        let (ps, pl) = (small.as_ptr(), large.as_ptr());
        free.give(large);
        free.give(small);
        free.give(vec![0.0; 10]); // too small to keep
        assert_eq!(free.0.len(), 2);
        let a = free.take(MIN_LEN - 5);
        assert_eq!((a.len(), a.as_ptr()), (MIN_LEN - 5, ps));
        let b = free.take(3 * MIN_LEN);
        assert_eq!((b.len(), b.as_ptr()), (3 * MIN_LEN, pl));
        let c = free.take(8 * MIN_LEN); // nothing fits: a new zeroed buffer
        assert_eq!(c.len(), 8 * MIN_LEN);
        assert!(c.iter().all(|&v| v == 0.0));
        // A buffer shrunk and grown again keeps its allocation.
        free.give(a);
        let d = free.take(MIN_LEN);
        assert_eq!((d.len(), d.as_ptr()), (MIN_LEN, ps));
        for _ in 0..MAX_BUFFERS + 3 {
            free.give(vec![0.0; MIN_LEN]);
        }
        assert_eq!(free.0.len(), MAX_BUFFERS);
        // The bound on kept floats.
        let mut free = Free(Vec::new());
        free.give(vec![0.0; MAX_FLOATS / 2]);
        free.give(vec![0.0; MAX_FLOATS / 2 + 1]);
        assert_eq!(free.0.len(), 1);
    }

    /// Shapes as asked, and `zeros` clears a recycled buffer full of other values.
    #[test]
    fn pooled_arrays_have_the_asked_shape_and_zeros_are_zero() {
        for _ in 0..4 {
            let mut a = uninit(300, 200);
            assert_eq!(a.dim(), (300, 200));
            a.fill(7.5);
            recycle(a);
            let b = zeros(250, 200);
            assert_eq!(b.dim(), (250, 200));
            assert!(b.iter().all(|&v| v == 0.0));
            recycle(b);
        }
        assert_eq!(uninit(3, 4).dim(), (3, 4));
    }
}
