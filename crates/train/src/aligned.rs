//! Float buffers aligned to cache lines, for the evaluators' hot kernels.

/// A float buffer starting on a 64-byte boundary: rows of 16k floats (weight rows, a conv's
/// channel rows, register blocks, product panels) then never straddle two cache lines, which
/// costs a full vector twice the loads and blocks store-to-load forwarding.
#[derive(Debug)]
pub(crate) struct Aligned {
    buf: Vec<f32>,
    off: usize,
    len: usize,
}

impl Aligned {
    pub(crate) fn zeros(len: usize) -> Aligned {
        let buf = vec![0.0f32; len + 15];
        // At most 15 floats in; if alignment were impossible the buffer is merely unaligned.
        let off = buf.as_ptr().align_offset(64).min(15);
        Aligned { buf, off, len }
    }

    pub(crate) fn from_slice(x: &[f32]) -> Aligned {
        let mut a = Aligned::zeros(x.len());
        a.as_mut().copy_from_slice(x);
        a
    }

    pub(crate) fn as_ref(&self) -> &[f32] {
        &self.buf[self.off..self.off + self.len]
    }

    pub(crate) fn as_mut(&mut self) -> &mut [f32] {
        &mut self.buf[self.off..self.off + self.len]
    }
}
