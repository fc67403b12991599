//! The error types of this crate.

use std::path::{Path, PathBuf};

use backprop_autograd::AutogradError;
use backprop_tensor::TensorError;

/// Why building, running, saving or loading a model failed.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// A graph operation failed (usually shapes that do not fit).
    #[error(transparent)]
    Autograd(#[from] AutogradError),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// A model file could not be written or read.
    #[error(transparent)]
    ModelFile(#[from] ModelFileError),
    /// An argument the operation cannot take, explained.
    #[error("{op}: {reason}")]
    Invalid {
        /// The operation or item, e.g. `"Dense::new"` or `"softmax_cross_entropy"`.
        op: String,
        /// What was wrong.
        reason: String,
    },
}

impl NnError {
    /// A misuse of `op`, explained by `reason`.
    pub fn invalid(op: impl Into<String>, reason: impl Into<String>) -> Self {
        NnError::Invalid { op: op.into(), reason: reason.into() }
    }
}

impl From<NnError> for AutogradError {
    /// Lets an [`NnError`] travel through code that returns [`AutogradError`] (custom ops).
    fn from(error: NnError) -> Self {
        match error {
            NnError::Autograd(e) => e,
            NnError::Tensor(e) => AutogradError::Tensor(e),
            NnError::Invalid { op, reason } => AutogradError::Invalid { op, reason },
            NnError::ModelFile(e) => AutogradError::invalid("model file", e.to_string()),
        }
    }
}

/// Result of this crate's operations.
pub type Result<T, E = NnError> = std::result::Result<T, E>;

/// A model or checkpoint file that could not be written or read: the file and exactly what is
/// wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct ModelFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub kind: ModelFileErrorKind,
}

impl ModelFileError {
    /// An error about the file at `path`.
    pub fn new(path: &Path, kind: ModelFileErrorKind) -> Self {
        ModelFileError { path: path.to_path_buf(), kind }
    }
}

/// What is wrong with a model or checkpoint file.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileErrorKind {
    /// The operating system refused a read, write, sync or rename.
    #[error("cannot {action}: {source}")]
    Io {
        /// What was attempted: `"read"`, `"create a temporary file next to"`, ...
        action: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
    /// The bytes are not a safetensors file at all.
    #[error("not a safetensors file: {reason}")]
    NotSafetensors {
        /// What was found instead.
        reason: String,
    },
    /// The file ends before the data its header announces.
    #[error("truncated: {reason}")]
    Truncated {
        /// Where it ends and where it should.
        reason: String,
    },
    /// A safetensors file without this crate's metadata.
    #[error(
        "not a backprop {what} file: the safetensors metadata has no '{key}' entry (it holds tensors {tensors:?})"
    )]
    MissingMetadata {
        /// `"model"` or `"checkpoint"`.
        what: &'static str,
        /// The metadata key that was looked for.
        key: &'static str,
        /// The names of the tensors it does hold.
        tensors: Vec<String>,
    },
    /// The metadata is present but cannot be understood.
    #[error("bad metadata: {reason}")]
    BadMetadata {
        /// What is wrong with it.
        reason: String,
    },
    /// A tensor the architecture needs is not in the file.
    #[error("missing tensor '{name}' (expected shape {expected:?})")]
    MissingTensor {
        /// Its name, e.g. `2.weight`.
        name: String,
        /// The shape it should have.
        expected: Vec<usize>,
    },
    /// A tensor in the file that the architecture does not have.
    #[error("unexpected tensor '{name}' of shape {shape:?}: the architecture has no such parameter")]
    UnexpectedTensor {
        /// Its name.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A tensor of the wrong shape.
    #[error("tensor '{name}' has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// Its name.
        name: String,
        /// The shape in the file.
        found: Vec<usize>,
        /// The shape the model needs.
        expected: Vec<usize>,
    },
    /// A tensor of the wrong element type.
    #[error("tensor '{name}' has dtype {found}, expected {expected}")]
    DtypeMismatch {
        /// Its name.
        name: String,
        /// The dtype in the file, as safetensors names it (`F64`).
        found: String,
        /// The dtype the model needs (`F32`).
        expected: String,
    },
    /// A tensor holding NaN or an infinity.
    #[error("tensor '{name}' holds a non-finite value ({value}) at element {index}")]
    NonFinite {
        /// Its name.
        name: String,
        /// Position of the first such element (row-major).
        index: usize,
        /// The value.
        value: f64,
    },
    /// An output path that cannot take a file (a directory, a FIFO nobody reads, ...).
    #[error("cannot write: {reason}")]
    Unwritable {
        /// Why not.
        reason: String,
    },
    /// The metadata contradicts itself or the tensors.
    #[error("inconsistent: {reason}")]
    Inconsistent {
        /// The contradiction.
        reason: String,
    },
}
