//! # backprop-autograd
//!
//! Reverse-mode automatic differentiation (backpropagation) over a define-by-run computation
//! graph.
#![warn(missing_docs)]

mod error;
mod graph;
mod op;
mod ops;
mod pool;

pub use error::{AutogradError, Result};
pub use graph::{Graph, Var};
pub use ops::*;
pub use op::{BackwardCtx, ForwardCtx, GradSink, Op};
