//! What the ranks of a data-parallel run do together.

use backprop_tensor::Float;

/// The collective operations of a group of processes (ranks `0..size`), as MPI names them.
/// Every rank must call the same operations in the same order with the same lengths; a rank
/// that fails or dies ends the job (MPI's default error handler aborts it), so the methods
/// return nothing.
pub trait Collective {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Sums `values` element-wise over the ranks, in place; every rank gets the sums.
    fn sum_f32(&mut self, values: &mut [f32]);
    /// [`Collective::sum_f32`] for `f64`.
    fn sum_f64(&mut self, values: &mut [f64]);
    /// Replaces `values` on every rank by rank 0's.
    fn broadcast_f32(&mut self, values: &mut [f32]);
    /// [`Collective::broadcast_f32`] for `f64`.
    fn broadcast_f64(&mut self, values: &mut [f64]);
    /// Gathers every rank's `send` (of equal lengths) into `receive` in rank order
    /// (`receive.len() == size() * send.len()`), on every rank; the values are copied, not
    /// added, so they arrive bit for bit.
    fn gather_f32(&mut self, send: &[f32], receive: &mut [f32]);
    /// [`Collective::gather_f32`] for `f64`.
    fn gather_f64(&mut self, send: &[f64], receive: &mut [f64]);
    /// [`Collective::gather_f32`] for `u64` (fingerprints).
    fn gather_u64(&mut self, send: &[u64], receive: &mut [u64]);
    /// Waits until every rank has called it.
    fn barrier(&mut self);
}

/// A boxed collective is one (so that a collective can be chosen at run time).
impl<C: Collective + ?Sized> Collective for Box<C> {
    fn rank(&self) -> usize {
        (**self).rank()
    }
    fn size(&self) -> usize {
        (**self).size()
    }
    fn sum_f32(&mut self, values: &mut [f32]) {
        (**self).sum_f32(values)
    }
    fn sum_f64(&mut self, values: &mut [f64]) {
        (**self).sum_f64(values)
    }
    fn broadcast_f32(&mut self, values: &mut [f32]) {
        (**self).broadcast_f32(values)
    }
    fn broadcast_f64(&mut self, values: &mut [f64]) {
        (**self).broadcast_f64(values)
    }
    fn gather_f32(&mut self, send: &[f32], receive: &mut [f32]) {
        (**self).gather_f32(send, receive)
    }
    fn gather_f64(&mut self, send: &[f64], receive: &mut [f64]) {
        (**self).gather_f64(send, receive)
    }
    fn gather_u64(&mut self, send: &[u64], receive: &mut [u64]) {
        (**self).gather_u64(send, receive)
    }
    fn barrier(&mut self) {
        (**self).barrier()
    }
}

/// One process: the collective of a run that is not distributed. Sums and broadcasts change
/// nothing and a gather copies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum_f32(&mut self, _values: &mut [f32]) {}
    fn sum_f64(&mut self, _values: &mut [f64]) {}
    fn broadcast_f32(&mut self, _values: &mut [f32]) {}
    fn broadcast_f64(&mut self, _values: &mut [f64]) {}
    fn gather_f32(&mut self, send: &[f32], receive: &mut [f32]) {
        receive.copy_from_slice(send);
    }
    fn gather_f64(&mut self, send: &[f64], receive: &mut [f64]) {
        receive.copy_from_slice(send);
    }
    fn gather_u64(&mut self, send: &[u64], receive: &mut [u64]) {
        receive.copy_from_slice(send);
    }
    fn barrier(&mut self) {}
}

/// An element type the collectives move: picks the `f32` or `f64` operation, so that
/// [`crate::DataParallel`] is written once over [`Float`].
pub trait Element: Float {
    /// [`Collective::sum_f32`] or [`Collective::sum_f64`].
    fn sum(c: &mut dyn Collective, values: &mut [Self]);
    /// [`Collective::broadcast_f32`] or [`Collective::broadcast_f64`].
    fn broadcast(c: &mut dyn Collective, values: &mut [Self]);
    /// [`Collective::gather_f32`] or [`Collective::gather_f64`].
    fn gather(c: &mut dyn Collective, send: &[Self], receive: &mut [Self]);
}

impl Element for f32 {
    fn sum(c: &mut dyn Collective, values: &mut [Self]) {
        c.sum_f32(values);
    }
    fn broadcast(c: &mut dyn Collective, values: &mut [Self]) {
        c.broadcast_f32(values)
    }
    fn gather(c: &mut dyn Collective, send: &[Self], receive: &mut [Self]) {
        c.gather_f32(send, receive)
    }
}

impl Element for f64 {
    fn sum(c: &mut dyn Collective, values: &mut [Self]) {
        c.sum_f64(values)
    }
    fn broadcast(c: &mut dyn Collective, values: &mut [Self]) {
        c.broadcast_f64(values)
    }
    fn gather(c: &mut dyn Collective, send: &[Self], receive: &mut [Self]) {
        c.gather_f64(send, receive)
    }
}
