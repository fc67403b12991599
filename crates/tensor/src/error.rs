//! The error type of tensor operations.

/// Why a tensor operation could not run.
///
/// Every variant names the operation, so that a message read without context still says what
/// failed: `matmul: [3, 4] x [5, 2]: inner dimensions 4 != 5`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorError {
    /// Two operands whose shapes do not fit together.
    #[error("{op}: {lhs:?} x {rhs:?}: {reason}")]
    Shape {
        /// The operation, e.g. `matmul` or `add`.
        op: &'static str,
        /// Shape of the left (first) operand.
        lhs: Vec<usize>,
        /// Shape of the right (second) operand.
        rhs: Vec<usize>,
        /// What exactly does not fit.
        reason: String,
    },
    /// A single operand or argument that the operation cannot take.
    #[error("{op}: {reason}")]
    Invalid {
        /// The operation.
        op: &'static str,
        /// What is wrong with the argument.
        reason: String,
    },
}

impl TensorError {
    /// A shape mismatch between two operands.
    pub fn shape(op: &'static str, lhs: &[usize], rhs: &[usize], reason: impl Into<String>) -> Self {
        TensorError::Shape { op, lhs: lhs.to_vec(), rhs: rhs.to_vec(), reason: reason.into() }
    }

    /// An invalid single operand or argument.
    pub fn invalid(op: &'static str, reason: impl Into<String>) -> Self {
        TensorError::Invalid { op, reason: reason.into() }
    }
}

/// Result of a fallible tensor operation.
pub type Result<T, E = TensorError> = std::result::Result<T, E>;

/// Unwraps a result of a `try_*` operation, panicking with its message (no `Err(...)` wrapper),
/// so that the panicking twin of an operation reports exactly what the `try_` version returns.
#[track_caller]
pub(crate) fn or_panic<T>(result: Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{error}"),
    }
}
