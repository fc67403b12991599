//! The error type of training.

use backprop_autograd::AutogradError;
use backprop_data::DataError;
use backprop_nn::{ModelFileError, NnError};
use backprop_optim::OptimError;

/// Why training, evaluation or a checkpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A graph operation failed.
    #[error(transparent)]
    Autograd(#[from] AutogradError),
    /// A model, loss or model-file operation failed.
    #[error(transparent)]
    Nn(#[from] NnError),
    /// An optimizer, schedule or clipping operation failed.
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] backprop_tensor::TensorError),
    /// Reading a batch failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A setting the trainer cannot work with, explained.
    #[error("{what}: {reason}")]
    Invalid {
        /// The setting, e.g. `"batch_size"`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The model's output, the loss or a gradient stopped being a finite number.
    #[error("training diverged at epoch {epoch}, step {step}: {what}")]
    Diverged {
        /// The epoch being trained (1-based) or evaluated.
        epoch: u64,
        /// The optimizer step (1-based, counted over the whole run).
        step: u64,
        /// What became non-finite, e.g. `the gradient of 0.weight holds NaN`.
        what: String,
    },
    /// The untrained model's loss is already not finite: no step is to blame, the data's scale is.
    #[error("the untrained model's training loss is already {loss} before any step")]
    NotFiniteAtStart {
        /// The loss on the training data before the first step.
        loss: f64,
    },
    /// An observer failed (for example a checkpoint that could not be written).
    #[error("{0}")]
    Observer(String),
}

impl TrainError {
    /// An invalid setting `what`, explained by `reason`.
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        TrainError::Invalid { what, reason: reason.into() }
    }
}

impl From<ModelFileError> for TrainError {
    fn from(error: ModelFileError) -> Self {
        TrainError::Nn(NnError::ModelFile(error))
    }
}

/// Result of this crate's operations.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
