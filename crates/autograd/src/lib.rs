//! # backprop-autograd
//!
//! Reverse-mode automatic differentiation (backpropagation) over a define-by-run computation
//! graph.
#![warn(missing_docs)]

mod dot;
mod error;
mod gradcheck;
mod graph;
mod op;
mod ops;
mod pool;

pub use error::{AutogradError, Result};
pub use gradcheck::{GradcheckError, GradcheckReport, gradcheck, gradcheck_error};
pub use graph::{Graph, Var};
pub use op::{BackwardCtx, ForwardCtx, GradSink, Op};
pub use ops::*;
