//! The error type of graph operations.

use backprop_tensor::TensorError;

/// Why a graph operation, a backward pass or a gradient read failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AutogradError {
    /// A tensor operation inside an op failed (usually shapes that do not fit).
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// A value of another graph was passed to this one.
    #[error(
        "{op}: value {var} belongs to graph #{var_graph}, not to this graph #{graph}; values of two graphs cannot be mixed"
    )]
    ForeignVar {
        /// The operation that received it.
        op: String,
        /// The value, as `Var` prints it.
        var: String,
        /// The graph it belongs to.
        var_graph: u32,
        /// The graph it was passed to.
        graph: u32,
    },
    /// A value recorded before the graph was last cleared.
    #[error(
        "{op}: value {var} was recorded before the graph was cleared (step {var_step}, now step {step}); record it again"
    )]
    StaleVar {
        /// The operation that received it.
        op: String,
        /// The value.
        var: String,
        /// The generation in which it was recorded.
        var_step: u32,
        /// The graph's current generation.
        step: u32,
    },
    /// `backward()` from a value that is not a scalar, without a seed gradient.
    #[error(
        "backward: the output has shape {shape:?}; backward() needs a single-element output, or use backward_with_seed() with a gradient of that shape"
    )]
    NotScalar {
        /// Shape of the output.
        shape: Vec<usize>,
    },
    /// A seed gradient of the wrong shape.
    #[error("backward: seed gradient has shape {seed:?} but the output has shape {output:?}")]
    SeedShape {
        /// Shape of the seed.
        seed: Vec<usize>,
        /// Shape of the output.
        output: Vec<usize>,
    },
    /// Reading a gradient that no backward pass computed.
    #[error("grad: no gradient for {var}: {reason}")]
    NoGrad {
        /// The value.
        var: String,
        /// Why there is none.
        reason: &'static str,
    },
    /// A backward pass that starts a third step on a tape that was not cleared since the first:
    /// a training loop that forgets `clear`, whose tape would keep every earlier step's nodes
    /// and slow down each step (see `Graph::set_retain_tape`).
    #[error(
        "backward: the tape still holds the {earlier} nodes of earlier steps; call g.clear() after each step, or run each step in g.step(|g| ...), which clears it (g.set_retain_tape(true) keeps them on purpose)"
    )]
    TapeNotCleared {
        /// How many nodes the tape held at the previous backward pass.
        earlier: usize,
    },
    /// An op's backward returned something other than one gradient per input of the right shape.
    #[error("{op}: backward returned {reason}")]
    BadGradient {
        /// The op.
        op: String,
        /// What was wrong.
        reason: String,
    },
    /// Any other misuse of an op or of the graph, with its explanation.
    #[error("{op}: {reason}")]
    Invalid {
        /// The operation.
        op: String,
        /// What was wrong.
        reason: String,
    },
}

impl AutogradError {
    /// A misuse of `op`, explained by `reason`.
    pub fn invalid(op: impl Into<String>, reason: impl Into<String>) -> Self {
        AutogradError::Invalid { op: op.into(), reason: reason.into() }
    }
}

/// Result of a graph operation.
pub type Result<T, E = AutogradError> = std::result::Result<T, E>;
