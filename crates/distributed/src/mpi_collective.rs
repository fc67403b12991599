//! [`Collective`] over MPI (rsmpi), with the `mpi` feature.

use mpi::collective::SystemOperation;
pub use mpi::environment::Universe;
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
}

impl MpiCollective {
    /// The world of a started MPI.
    pub fn world(universe: &Universe) -> Self {
        MpiCollective { world: universe.world(), scratch_f32: Vec::new(), scratch_f64: Vec::new() }
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
}
