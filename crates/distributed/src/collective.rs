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

    /// Sums `send` (`size()` blocks of `receive.len()` values) element-wise over the ranks and
    /// gives each rank the sums of its own block (block `rank()`) in `receive` (MPI's
    /// `MPI_Reduce_scatter_block`): the sharded optimizer step's gradient sums where the
    /// collective has no [`Collective::point_to_point`] messages (with them the step moves its
    /// blocks itself, unpacked). Each sum is taken in rank order, as [`Collective::sum_f32`]'s.
    /// The default sums everything and keeps its block.
    fn reduce_scatter_f32(&mut self, send: &[f32], receive: &mut [f32]) {
        let mut all = send.to_vec();
        self.sum_f32(&mut all);
        let at = self.rank() * receive.len();
        receive.copy_from_slice(&all[at..at + receive.len()]);
    }

    /// [`Collective::reduce_scatter_f32`] for `f64`.
    fn reduce_scatter_f64(&mut self, send: &[f64], receive: &mut [f64]) {
        let mut all = send.to_vec();
        self.sum_f64(&mut all);
        let at = self.rank() * receive.len();
        receive.copy_from_slice(&all[at..at + receive.len()]);
    }

    /// Starts summing the `len` values at `send` element-wise over the ranks into the `len`
    /// values at `receive`, without waiting for the other ranks (MPI's `MPI_Iallreduce`):
    /// data-parallel training starts a bucket of gradients while backward still runs.
    /// [`Collective::wait_sums`] waits for every started sum. Every rank must start the same
    /// sums, of the same lengths, in the same order. The default sums at once.
    ///
    /// # Safety
    /// `send` and `receive` must point to `len` values each, in buffers that do not overlap,
    /// that stay allocated and in place, and that nothing else reads or writes (`send`: writes)
    /// until `wait_sums` has returned.
    unsafe fn start_sum_f32(&mut self, send: *const f32, receive: *mut f32, len: usize) {
        // SAFETY: the caller hands these values over until `wait_sums`.
        let (send, receive) =
            unsafe { (std::slice::from_raw_parts(send, len), std::slice::from_raw_parts_mut(receive, len)) };
        receive.copy_from_slice(send);
        self.sum_f32(receive);
    }

    /// [`Collective::start_sum_f32`] for `f64`.
    ///
    /// # Safety
    /// As [`Collective::start_sum_f32`].
    unsafe fn start_sum_f64(&mut self, send: *const f64, receive: *mut f64, len: usize) {
        // SAFETY: the caller hands these values over until `wait_sums`.
        let (send, receive) =
            unsafe { (std::slice::from_raw_parts(send, len), std::slice::from_raw_parts_mut(receive, len)) };
        receive.copy_from_slice(send);
        self.sum_f64(receive);
    }

    /// Whether [`Collective::start_send_f32`] and [`Collective::start_receive_f32`] (and their
    /// `f64` twins) move values between two ranks: the sharded optimizer step then sends each
    /// rank its blocks straight from the gradients and parameters, and receives into them,
    /// instead of packing them for the collectives. The default is `false`.
    fn point_to_point(&self) -> bool {
        false
    }

    /// Starts sending the `len` values at `data` to rank `to` (MPI's `MPI_Isend`); they have
    /// arrived once [`Collective::wait_sums`] returns. Messages from one rank to another are
    /// received in the order they were started. Only where [`Collective::point_to_point`].
    ///
    /// # Safety
    /// `data` must point to `len` values that stay allocated, in place and unwritten until
    /// `wait_sums` has returned.
    unsafe fn start_send_f32(&mut self, to: usize, data: *const f32, len: usize) {
        let _ = (to, data, len);
        unimplemented!("this collective has no point-to-point messages")
    }

    /// Starts receiving `len` values from rank `from` into `data` (MPI's `MPI_Irecv`), the
    /// next message `from` sends this rank; they are there once [`Collective::wait_sums`]
    /// returns. Only where [`Collective::point_to_point`].
    ///
    /// # Safety
    /// `data` must point to `len` values that stay allocated and in place, and that nothing
    /// else reads or writes, until `wait_sums` has returned.
    unsafe fn start_receive_f32(&mut self, from: usize, data: *mut f32, len: usize) {
        let _ = (from, data, len);
        unimplemented!("this collective has no point-to-point messages")
    }

    /// [`Collective::start_send_f32`] for `f64`.
    ///
    /// # Safety
    /// As [`Collective::start_send_f32`].
    unsafe fn start_send_f64(&mut self, to: usize, data: *const f64, len: usize) {
        let _ = (to, data, len);
        unimplemented!("this collective has no point-to-point messages")
    }

    /// [`Collective::start_receive_f32`] for `f64`.
    ///
    /// # Safety
    /// As [`Collective::start_receive_f32`].
    unsafe fn start_receive_f64(&mut self, from: usize, data: *mut f64, len: usize) {
        let _ = (from, data, len);
        unimplemented!("this collective has no point-to-point messages")
    }

    /// Where every rank runs on this machine: allocates `len` values per rank in memory that
    /// every rank can read (MPI-3's `MPI_Win_allocate_shared`) and returns each rank's segment,
    /// in rank order; `None` (the default) where the ranks do not share memory. A rank writes
    /// only its own segment and reads the others' between two [`Collective::fence`]s that
    /// follow their writes. The sharded optimizer step moves its blocks through them: a read
    /// of another rank's memory instead of a message copied into one's own. Collective: every
    /// rank calls it with the same `len`; the segments stay allocated while this collective
    /// lives (and, under MPI, until MPI ends).
    fn share_f32(&mut self, len: usize) -> Option<Vec<*mut f32>> {
        let _ = len;
        None
    }

    /// [`Collective::share_f32`] for `f64`.
    fn share_f64(&mut self, len: usize) -> Option<Vec<*mut f64>> {
        let _ = len;
        None
    }

    /// Waits for every rank, and makes what each rank wrote to its shared segments
    /// ([`Collective::share_f32`]) before the fence visible to every rank after it. The
    /// default is a [`Collective::barrier`].
    fn fence(&mut self) {
        self.barrier();
    }

    /// Lets the started sums move on without waiting for them: MPI advances a non-blocking
    /// collective only inside its own calls, so data-parallel training calls this between
    /// pieces of its backward pass. The default has nothing to do.
    fn progress_sums(&mut self) {}

    /// Waits until every sum started by [`Collective::start_sum_f32`] or
    /// [`Collective::start_sum_f64`], and every message started by the `start_send` and
    /// `start_receive` methods, has arrived. The default has nothing to wait for.
    fn wait_sums(&mut self) {}
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
    fn reduce_scatter_f32(&mut self, send: &[f32], receive: &mut [f32]) {
        (**self).reduce_scatter_f32(send, receive)
    }
    fn reduce_scatter_f64(&mut self, send: &[f64], receive: &mut [f64]) {
        (**self).reduce_scatter_f64(send, receive)
    }
    unsafe fn start_sum_f32(&mut self, send: *const f32, receive: *mut f32, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).start_sum_f32(send, receive, len) }
    }
    unsafe fn start_sum_f64(&mut self, send: *const f64, receive: *mut f64, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).start_sum_f64(send, receive, len) }
    }
    fn point_to_point(&self) -> bool {
        (**self).point_to_point()
    }
    unsafe fn start_send_f32(&mut self, to: usize, data: *const f32, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).start_send_f32(to, data, len) }
    }
    unsafe fn start_receive_f32(&mut self, from: usize, data: *mut f32, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).start_receive_f32(from, data, len) }
    }
    unsafe fn start_send_f64(&mut self, to: usize, data: *const f64, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).start_send_f64(to, data, len) }
    }
    unsafe fn start_receive_f64(&mut self, from: usize, data: *mut f64, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).start_receive_f64(from, data, len) }
    }
    fn share_f32(&mut self, len: usize) -> Option<Vec<*mut f32>> {
        (**self).share_f32(len)
    }
    fn share_f64(&mut self, len: usize) -> Option<Vec<*mut f64>> {
        (**self).share_f64(len)
    }
    fn fence(&mut self) {
        (**self).fence()
    }
    fn progress_sums(&mut self) {
        (**self).progress_sums()
    }
    fn wait_sums(&mut self) {
        (**self).wait_sums()
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
    /// [`Collective::reduce_scatter_f32`] or [`Collective::reduce_scatter_f64`].
    fn reduce_scatter(c: &mut dyn Collective, send: &[Self], receive: &mut [Self]);
    /// [`Collective::start_sum_f32`] or [`Collective::start_sum_f64`].
    ///
    /// # Safety
    /// As [`Collective::start_sum_f32`].
    unsafe fn start_sum(c: &mut dyn Collective, send: *const Self, receive: *mut Self, len: usize);
    /// [`Collective::start_send_f32`] or [`Collective::start_send_f64`].
    ///
    /// # Safety
    /// As [`Collective::start_send_f32`].
    unsafe fn start_send(c: &mut dyn Collective, to: usize, data: *const Self, len: usize);
    /// [`Collective::start_receive_f32`] or [`Collective::start_receive_f64`].
    ///
    /// # Safety
    /// As [`Collective::start_receive_f32`].
    unsafe fn start_receive(c: &mut dyn Collective, from: usize, data: *mut Self, len: usize);
    /// [`Collective::share_f32`] or [`Collective::share_f64`].
    fn share(c: &mut dyn Collective, len: usize) -> Option<Vec<*mut Self>>;
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
    fn reduce_scatter(c: &mut dyn Collective, send: &[Self], receive: &mut [Self]) {
        c.reduce_scatter_f32(send, receive)
    }
    unsafe fn start_sum(c: &mut dyn Collective, send: *const Self, receive: *mut Self, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { c.start_sum_f32(send, receive, len) }
    }
    unsafe fn start_send(c: &mut dyn Collective, to: usize, data: *const Self, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { c.start_send_f32(to, data, len) }
    }
    unsafe fn start_receive(c: &mut dyn Collective, from: usize, data: *mut Self, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { c.start_receive_f32(from, data, len) }
    }
    fn share(c: &mut dyn Collective, len: usize) -> Option<Vec<*mut Self>> {
        c.share_f32(len)
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
    fn reduce_scatter(c: &mut dyn Collective, send: &[Self], receive: &mut [Self]) {
        c.reduce_scatter_f64(send, receive)
    }
    unsafe fn start_sum(c: &mut dyn Collective, send: *const Self, receive: *mut Self, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { c.start_sum_f64(send, receive, len) }
    }
    unsafe fn start_send(c: &mut dyn Collective, to: usize, data: *const Self, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { c.start_send_f64(to, data, len) }
    }
    unsafe fn start_receive(c: &mut dyn Collective, from: usize, data: *mut Self, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { c.start_receive_f64(from, data, len) }
    }
    fn share(c: &mut dyn Collective, len: usize) -> Option<Vec<*mut Self>> {
        c.share_f64(len)
    }
}
