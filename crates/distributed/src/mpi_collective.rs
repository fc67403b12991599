//! [`Collective`] over MPI (rsmpi), with the `mpi` feature.

use std::mem::MaybeUninit;

use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
pub use mpi::environment::Universe;
use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

use crate::collective::Collective;

/// Starts MPI (`MPI_Init`) once per process; the returned `Universe` ends it (`MPI_Finalize`)
/// when dropped, so it must outlive every [`MpiCollective`]. `None` when MPI was started before.
pub fn initialize() -> Option<Universe> {
    mpi::initialize()
}

/// The ranks of `MPI_COMM_WORLD`: every process `mpirun` (or `srun`) started.
pub struct MpiCollective {
    world: SimpleCommunicator,
    /// Send buffers of the sums (rsmpi's all-reduce does not work in place); reused.
    scratch_f32: Vec<f32>,
    scratch_f64: Vec<f64>,
    /// The non-blocking sums started and not yet waited for.
    requests: Vec<ffi::MPI_Request>,
    /// The other ranks' blocks of a reduce-scatter, received; reused.
    blocks_f32: Vec<f32>,
    blocks_f64: Vec<f64>,
}

/// The tag of the reduce-scatter's messages (the only point-to-point messages on the world).
const REDUCE_SCATTER_TAG: i32 = 0x5ca7;

/// A reduce-scatter over point-to-point messages: every rank sends block `j` of `send` to
/// rank `j` and receives its own block from every other rank into `blocks`, then adds the
/// blocks in rank order. Open MPI's own reduce-scatters (libnbc's reduce to rank 0 and
/// scatter; tuned's) do more work on 2 ranks: this one moves and adds half the gradient per
/// rank, both ranks at once.
fn reduce_scatter<T>(world: &SimpleCommunicator, send: &[T], receive: &mut [T], blocks: &mut Vec<T>)
where
    T: Equivalence + Copy + Default + std::ops::Add<Output = T>,
{
    let (rank, size, block) = (world.rank() as usize, world.size() as usize, receive.len());
    assert_eq!(send.len(), size * block, "reduce-scatter: send holds one block per rank");
    assert!(block <= i32::MAX as usize, "reduce-scatter: a block of more than i32::MAX values");
    blocks.resize(size * block, T::default());
    let mut requests: Vec<ffi::MPI_Request> = Vec::with_capacity(2 * size);
    for peer in (0..size).filter(|&p| p != rank) {
        let mut request = MaybeUninit::<ffi::MPI_Request>::uninit();
        // SAFETY: `blocks` and `send` are not touched (nor resized) until `MPI_Waitall` below
        // has completed every request; MPI's default error handler aborts on failure, so the
        // request is set when the call returns.
        unsafe {
            ffi::MPI_Irecv(
                blocks.as_mut_ptr().add(peer * block).cast(),
                block as i32,
                T::equivalent_datatype().as_raw(),
                peer as i32,
                REDUCE_SCATTER_TAG,
                world.as_raw(),
                request.as_mut_ptr(),
            );
            requests.push(request.assume_init());
            ffi::MPI_Isend(
                send.as_ptr().add(peer * block).cast(),
                block as i32,
                T::equivalent_datatype().as_raw(),
                peer as i32,
                REDUCE_SCATTER_TAG,
                world.as_raw(),
                request.as_mut_ptr(),
            );
            requests.push(request.assume_init());
        }
    }
    // SAFETY: live requests of this process, over buffers borrowed for this whole function.
    unsafe {
        ffi::MPI_Waitall(requests.len() as i32, requests.as_mut_ptr(), ffi::RSMPI_STATUSES_IGNORE);
    }
    // Rank order, whichever rank adds: on 2 ranks a + b, the all-reduce's sum bit for bit.
    let mine = &send[rank * block..(rank + 1) * block];
    let part = |r: usize| if r == rank { mine } else { &blocks[r * block..(r + 1) * block] };
    receive.copy_from_slice(part(0));
    for r in 1..size {
        receive.iter_mut().zip(part(r)).for_each(|(o, v)| *o = *o + *v);
    }
}

impl MpiCollective {
    /// The world of a started MPI.
    pub fn world(universe: &Universe) -> Self {
        MpiCollective {
            world: universe.world(),
            scratch_f32: Vec::new(),
            scratch_f64: Vec::new(),
            requests: Vec::new(),
            blocks_f32: Vec::new(),
            blocks_f64: Vec::new(),
        }
    }

    /// `MPI_Iallreduce` of `len` values (in pieces of at most `i32::MAX`, MPI's counts).
    ///
    /// # Safety
    /// As [`Collective::start_sum_f32`].
    unsafe fn start_sum<T: Equivalence>(&mut self, send: *const T, receive: *mut T, len: usize) {
        let mut at = 0;
        while at < len {
            let count = (len - at).min(i32::MAX as usize);
            let mut request = MaybeUninit::<ffi::MPI_Request>::uninit();
            // SAFETY: the caller keeps both buffers ours until `wait_sums`; MPI's default error
            // handler aborts the job on failure, so the request is set when this returns.
            unsafe {
                ffi::MPI_Iallreduce(
                    send.add(at).cast(),
                    receive.add(at).cast(),
                    count as i32,
                    T::equivalent_datatype().as_raw(),
                    SystemOperation::sum().as_raw(),
                    self.world.as_raw(),
                    request.as_mut_ptr(),
                );
                self.requests.push(request.assume_init());
            }
            at += count;
        }
    }
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_f32(&mut self, values: &mut [f32]) {
        self.scratch_f32.clear();
        self.scratch_f32.extend_from_slice(values);
        self.world.all_reduce_into(&self.scratch_f32[..], values, SystemOperation::sum());
    }

    fn sum_f64(&mut self, values: &mut [f64]) {
        self.scratch_f64.clear();
        self.scratch_f64.extend_from_slice(values);
        self.world.all_reduce_into(&self.scratch_f64[..], values, SystemOperation::sum());
    }

    fn broadcast_f32(&mut self, values: &mut [f32]) {
        self.world.process_at_rank(0).broadcast_into(values);
    }

    fn broadcast_f64(&mut self, values: &mut [f64]) {
        self.world.process_at_rank(0).broadcast_into(values);
    }

    fn gather_f32(&mut self, send: &[f32], receive: &mut [f32]) {
        self.world.all_gather_into(send, receive);
    }

    fn gather_f64(&mut self, send: &[f64], receive: &mut [f64]) {
        self.world.all_gather_into(send, receive);
    }

    fn gather_u64(&mut self, send: &[u64], receive: &mut [u64]) {
        self.world.all_gather_into(send, receive);
    }

    fn barrier(&mut self) {
        self.world.barrier();
    }

    fn reduce_scatter_f32(&mut self, send: &[f32], receive: &mut [f32]) {
        reduce_scatter(&self.world, send, receive, &mut self.blocks_f32);
    }

    fn reduce_scatter_f64(&mut self, send: &[f64], receive: &mut [f64]) {
        reduce_scatter(&self.world, send, receive, &mut self.blocks_f64);
    }

    unsafe fn start_sum_f32(&mut self, send: *const f32, receive: *mut f32, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.start_sum(send, receive, len) }
    }

    unsafe fn start_sum_f64(&mut self, send: *const f64, receive: *mut f64, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.start_sum(send, receive, len) }
    }

    fn progress_sums(&mut self) {
        if self.requests.is_empty() {
            return;
        }
        let mut done = 0;
        // SAFETY: the requests are live ones of this process; `MPI_Testall` completes all of
        // them (setting `done`) or none.
        unsafe {
            ffi::MPI_Testall(
                self.requests.len() as i32,
                self.requests.as_mut_ptr(),
                &mut done,
                ffi::RSMPI_STATUSES_IGNORE,
            );
        }
        if done != 0 {
            self.requests.clear();
        }
    }

    fn wait_sums(&mut self) {
        if self.requests.is_empty() {
            return;
        }
        // SAFETY: the requests are live ones of this process.
        unsafe {
            ffi::MPI_Waitall(
                self.requests.len() as i32,
                self.requests.as_mut_ptr(),
                ffi::RSMPI_STATUSES_IGNORE,
            );
        }
        self.requests.clear();
    }
}
