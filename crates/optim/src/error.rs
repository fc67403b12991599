//! The error type of this crate.

use backprop_autograd::AutogradError;

/// Why an optimizer step, a schedule or clipping failed.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    /// A graph operation failed (a handle of another graph, ...).
    #[error(transparent)]
    Autograd(#[from] AutogradError),
    /// A hyperparameter or argument the operation cannot take, explained.
    #[error("{op}: {reason}")]
    Invalid {
        /// The optimizer or function, e.g. `"Adam"` or `"clip_grad_norm"`.
        op: String,
        /// What was wrong.
        reason: String,
    },
}

impl OptimError {
    /// A misuse of `op`, explained by `reason`.
    pub fn invalid(op: impl Into<String>, reason: impl Into<String>) -> Self {
        OptimError::Invalid { op: op.into(), reason: reason.into() }
    }
}

/// Result of this crate's operations.
pub type Result<T, E = OptimError> = std::result::Result<T, E>;
