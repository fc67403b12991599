//! Where a run stands, as checkpoints keep it.

use std::collections::BTreeMap;

use backprop_tensor::RngState;

/// Where training stands: what, besides model and optimizer, a resumed run needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrainingState {
    /// Completed epochs.
    pub epoch: u64,
    /// Completed optimizer steps (or any step counter the trainer keeps).
    pub step: u64,
    /// The trainer's random generator (shuffling), to continue the same sequence.
    pub rng: Option<RngState>,
    /// Anything else the trainer wants back (a scheduler's step, the best loss, ...).
    pub extra: BTreeMap<String, serde_json::Value>,
}
