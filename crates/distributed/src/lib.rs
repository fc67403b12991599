//! # backprop-distributed
//!
//! Data-parallel training for [`backprop_train::Trainer`], as PyTorch's
//! DistributedDataParallel: every process (rank) holds a replica of the model, computes the
//! gradients of its slice of each global mini-batch, and the gradients are summed over the
//! ranks before every rank takes the same optimizer step.
//!
//! - [`Collective`]: the operations the ranks do together (sum, broadcast, gather). The
//!   default build has [`SingleProcess`]; the `mpi` feature adds `MpiCollective` over rsmpi.
//! - [`DataParallel`]: the [`backprop_train::GradientReduction`] that the `Trainer` is given:
//!   its parts of each batch, the all-reduce (or the sharded optimizer step,
//!   [`DataParallel::with_sharded_step`]), and the deterministic mode ([`DataParallel::with_micro_batch`])
//!   whose gradients do not depend on the number of ranks, bit for bit.
//! - [`Fingerprint`] and [`DataParallel::check_same`]: the start-up check that every rank runs
//!   the same settings on the same data.
//!
//! docs/DISTRIBUTED.md says how to run it and what it costs.
#![warn(missing_docs)]

mod bucket;
mod collective;
mod fingerprint;
#[cfg(feature = "mpi")]
mod mpi_collective;
mod parallel;
mod quotient;
mod shard;
mod tree;

pub use bucket::{DEFAULT_BUCKET_BYTES, FIRST_BUCKET_BYTES, ReductionLog, ReductionTotals};
pub use collective::{Collective, Element, SingleProcess};
pub use fingerprint::Fingerprint;
#[cfg(feature = "mpi")]
pub use mpi_collective::{MpiCollective, Universe, initialize};
pub use parallel::DataParallel;
pub use tree::{pairwise_sum, split};
