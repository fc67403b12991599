//! Cross-crate tests live in `tests/tests/`: the property-based proof that backpropagation is
//! implemented correctly, from single ops to whole training steps.
//!
//! | file                              | what it proves                                                        |
//! |-----------------------------------|-----------------------------------------------------------------------|
//! | `tests/ops_gradcheck.rs`          | every op of `backprop-autograd`, and random programs of them, against finite differences |
//! | `tests/layers_and_losses.rs`      | every layer, loss and penalty of `backprop-nn` against finite differences |
//! | `tests/mlp_gradcheck.rs`          | random MLPs with each loss: `∂L/∂θ` for every parameter and `∂L/∂x`    |
//! | `tests/training_invariants.rs`    | SGD steps, lr = 0, gradient accumulation, loss signs, row permutations |
//! | `tests/precision.rs`              | `f32` and `f64` agree to `f32` precision, forward and backward        |
//! | `tests/targets_steady_state.rs`   | training steps with class or value `Targets` allocate nothing once warm |
//!
//! Gradients are compared with central differences in `f64`,
//! `(L(θ + ε) − L(θ − ε)) / 2ε` with `ε = 1e-6` ([`EPS`]), and must agree to
//! `|analytic − numeric| / max(1, |analytic|, |numeric|) ≤ 1e-6` ([`TOL`]). Values are drawn in
//! sane ranges and [`KINK_MARGIN`] away from kinks (ReLU at 0, the hinge at its margin); where a
//! network's own values come near a kink, a perturbation that crosses it discards the case
//! instead of comparing two slopes ([`ModelCheckError::StraddlesKink`]).
//!
//! Every property runs [`DEFAULT_CASES`] cases, or `PROPTEST_CASES` for a deep run:
//!
//! ```text
//! cargo test -p backprop-tests                        # the default run
//! PROPTEST_CASES=640 cargo test -p backprop-tests     # ten times deeper
//! ```
//!
//! A failing case is shrunk to a minimal one and its seed saved beside the test file
//! (`tests/<file>.proptest-regressions`, proptest's default when a test has no `lib.rs` above
//! it); these files are committed, so that every later run replays the saved cases first.
#![warn(missing_docs)]

mod alloc;
mod compare;
mod config;
mod model_check;
mod nets;
mod op_check;
mod shapes;
mod values;

pub use alloc::{CountingAllocator, allocations, steady_state};
pub use compare::{max_difference, max_difference_all};
pub use config::{DEFAULT_CASES, cases, config};
pub use model_check::{Comparison, ModelCheckError, ModelReport, Objective, check_model_gradients};
pub use nets::{
    Evaluation, MAX_BATCH, MAX_DEPTH, MAX_WIDTH, NetCase, NetObjective, NetOptions, Penalty, activation,
    net_case, parameter_gradients, parameter_values, select_rows, targets,
};
pub use op_check::{EPS, TOL, check_gradients};
pub use shapes::{MAX_DIM, any_shape, broadcast, broadcast_shapes, dim, matrix_shape, shape_with_axes};
pub use values::{
    KINK_MARGIN, away_from, class_index, moderate, pm1, signed, tensor_in, tensor_of, within, zero_one,
};
