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
    /// The communicator of the ranks on this machine when it holds every rank (`Some(None)`
    /// when it does not; `None` until asked).
    node: Option<Option<ffi::MPI_Comm>>,
    /// The shared windows allocated ([`Collective::share_f32`]). They are not freed: freeing
    /// is collective, and a rank that stops on an error of its own must not wait for the
    /// others in it; MPI releases them when it ends.
    windows: Vec<ffi::MPI_Win>,
}

/// The tag of the sharded step's point-to-point messages (the only ones on the world; the
/// collectives have their own context).
const SHARD_TAG: i32 = 0x5ca7;

impl MpiCollective {
    /// The world of a started MPI.
    pub fn world(universe: &Universe) -> Self {
        MpiCollective {
            world: universe.world(),
            scratch_f32: Vec::new(),
            scratch_f64: Vec::new(),
            requests: Vec::new(),
            node: None,
            windows: Vec::new(),
        }
    }

    /// The communicator of the ranks on this machine, if it holds every rank (made once).
    fn node(&mut self) -> Option<ffi::MPI_Comm> {
        if let Some(node) = self.node {
            return node;
        }
        let mut node = MaybeUninit::<ffi::MPI_Comm>::uninit();
        let mut size = 0;
        // SAFETY: a split of the live world communicator (collective: every rank asks at the same
        // step); MPI's default error handler aborts the job on failure.
        let node = unsafe {
            ffi::MPI_Comm_split_type(
                self.world.as_raw(),
                ffi::RSMPI_COMM_TYPE_SHARED,
                self.world.rank(),
                ffi::RSMPI_INFO_NULL,
                node.as_mut_ptr(),
            );
            let node = node.assume_init();
            ffi::MPI_Comm_size(node, &mut size);
            node
        };
        // Every rank sees the same answer: either all of them are on its machine or none is
        // with all the others.
        let shared = (size == self.world.size()).then_some(node);
        self.node = Some(shared);
        shared
    }

    /// [`Collective::share_f32`] for any MPI type.
    fn share<T: Equivalence>(&mut self, len: usize) -> Option<Vec<*mut T>> {
        let node = self.node()?;
        // Rank 0 decides for every rank whether the segments fit.
        let needed = self.size() * len * size_of::<T>();
        let mut fits = [u8::from(self.rank() == 0 && fits_in_shared_memory(needed))];
        self.world.process_at_rank(0).broadcast_into(&mut fits[..]);
        if fits[0] == 0 {
            return None;
        }
        let mut base: *mut T = std::ptr::null_mut();
        let mut window = MaybeUninit::<ffi::MPI_Win>::uninit();
        let mut segments = Vec::with_capacity(self.size());
        // SAFETY: a collective allocation on the live node communicator (every rank asks for
        // the same length); the query fills in each rank's base address; a passive access epoch
        // to every rank (`lock_all`) lets the fences synchronise memory with `MPI_Win_sync`.
        unsafe {
            ffi::MPI_Win_allocate_shared(
                (len.max(1) * size_of::<T>()) as ffi::MPI_Aint,
                size_of::<T>() as i32,
                ffi::RSMPI_INFO_NULL,
                node,
                (&mut base as *mut *mut T).cast(),
                window.as_mut_ptr(),
            );
            let window = window.assume_init();
            ffi::MPI_Win_lock_all(ffi::MPI_MODE_NOCHECK as i32, window);
            for rank in 0..self.size() {
                let (mut bytes, mut unit, mut at) = (0 as ffi::MPI_Aint, 0, std::ptr::null_mut::<T>());
                ffi::MPI_Win_shared_query(
                    window,
                    rank as i32,
                    &mut bytes,
                    &mut unit,
                    (&mut at as *mut *mut T).cast(),
                );
                segments.push(at);
            }
            self.windows.push(window);
        }
        Some(segments)
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

/// Whether `bytes` more fit, with as much again to spare, in the directory Open MPI backs its
/// shared windows with (`osc_sm_backing_directory`, `/dev/shm` by default). Containers often
/// keep it small (Docker: 64 MB), and a window that does not fit ends the job with SIGBUS when
/// its memory is touched; the sharded step then sends messages instead.
fn fits_in_shared_memory(bytes: usize) -> bool {
    let folder = std::env::var("OMPI_MCA_osc_sm_backing_directory").unwrap_or_else(|_| "/dev/shm".into());
    let Ok(folder) = std::ffi::CString::new(folder) else {
        return false;
    };
    let mut stat = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a NUL-terminated path and room for the answer, which a 0 return has filled.
    let stat = unsafe {
        if libc::statvfs(folder.as_ptr(), stat.as_mut_ptr()) != 0 {
            return false;
        }
        stat.assume_init()
    };
    u128::from(stat.f_bavail) * u128::from(stat.f_frsize) >= 2 * bytes as u128
}

/// Which way a point-to-point message goes.
#[derive(Clone, Copy)]
enum Message {
    Send,
    Receive,
}

impl MpiCollective {
    /// `MPI_Isend` or `MPI_Irecv` of `len` values with the other rank `peer` (in pieces of at
    /// most `i32::MAX`, MPI's counts: both sides cut a message alike).
    ///
    /// # Safety
    /// As [`Collective::start_send_f32`] (a send) or [`Collective::start_receive_f32`].
    unsafe fn start_message<T: Equivalence>(&mut self, way: Message, peer: usize, data: *mut T, len: usize) {
        let mut at = 0;
        while at < len {
            let count = (len - at).min(i32::MAX as usize);
            let mut request = MaybeUninit::<ffi::MPI_Request>::uninit();
            // SAFETY: the caller keeps the buffer ours until `wait_sums`; MPI's default error
            // handler aborts the job on failure, so the request is set when this returns.
            unsafe {
                let (buffer, datatype) = (data.add(at).cast(), T::equivalent_datatype().as_raw());
                match way {
                    Message::Send => ffi::MPI_Isend(
                        buffer,
                        count as i32,
                        datatype,
                        peer as i32,
                        SHARD_TAG,
                        self.world.as_raw(),
                        request.as_mut_ptr(),
                    ),
                    Message::Receive => ffi::MPI_Irecv(
                        buffer,
                        count as i32,
                        datatype,
                        peer as i32,
                        SHARD_TAG,
                        self.world.as_raw(),
                        request.as_mut_ptr(),
                    ),
                };
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

    fn point_to_point(&self) -> bool {
        true
    }

    fn share_f32(&mut self, len: usize) -> Option<Vec<*mut f32>> {
        self.share(len)
    }

    fn share_f64(&mut self, len: usize) -> Option<Vec<*mut f64>> {
        self.share(len)
    }

    fn fence(&mut self) {
        let Some(Some(node)) = self.node else {
            return self.barrier();
        };
        // SAFETY: live windows (in their access epoch) and the live node communicator.
        unsafe {
            for &window in &self.windows {
                ffi::MPI_Win_sync(window);
            }
            ffi::MPI_Barrier(node);
            for &window in &self.windows {
                ffi::MPI_Win_sync(window);
            }
        }
    }

    unsafe fn start_send_f32(&mut self, to: usize, data: *const f32, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.start_message(Message::Send, to, data.cast_mut(), len) }
    }

    unsafe fn start_receive_f32(&mut self, from: usize, data: *mut f32, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.start_message(Message::Receive, from, data, len) }
    }

    unsafe fn start_send_f64(&mut self, to: usize, data: *const f64, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.start_message(Message::Send, to, data.cast_mut(), len) }
    }

    unsafe fn start_receive_f64(&mut self, from: usize, data: *mut f64, len: usize) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.start_message(Message::Receive, from, data, len) }
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
