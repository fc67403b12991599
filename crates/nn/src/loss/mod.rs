//! Loss functions as fused graph ops, each with its gradient in closed form (as PyTorch's
//! `nn.functional` losses), and weight penalties.
//!
//! Every loss takes raw model outputs (logits for classification) and reduces with
//! [`Reduction::Mean`] (divide by the number of terms, PyTorch's default) or
//! [`Reduction::Sum`]. Each is one node in the graph: the forward pass computes the loss in a
//! numerically stable form and the backward pass writes `∂L/∂logits` straight into the gradient
//! buffer.

mod cross_entropy;
mod elementwise;
mod kind;
mod penalty;

pub use cross_entropy::{multi_margin, softmax_cross_entropy};
pub use elementwise::{bce_with_logits, hinge, logistic_pm1, mse};
pub use kind::{Loss, Targets, Task, class_indices};
pub use penalty::{l1_penalty, l2_penalty};

use serde::{Deserialize, Serialize};

/// How the per-element (or per-sample) losses are combined into one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduction {
    /// The mean over the terms (PyTorch's default): gradients are divided by their count.
    #[default]
    Mean,
    /// The sum over the terms.
    Sum,
}

impl Reduction {
    /// The factor applied to the sum of `count` terms.
    pub(crate) fn scale(self, count: usize) -> f64 {
        match self {
            Reduction::Mean => 1.0 / count.max(1) as f64,
            Reduction::Sum => 1.0,
        }
    }
}

/// Writes `value(i)` into (or adds it to) a gradient buffer, without a temporary tensor.
pub(crate) fn write_gradient<F: backprop_tensor::Float>(
    sink: &mut backprop_autograd::GradSink<'_, F>,
    value: impl Fn(usize) -> F,
) -> backprop_autograd::Result<()> {
    sink.with_buffer(|buffer, live| {
        let dst = buffer.as_mut_slice();
        if live {
            for (i, d) in dst.iter_mut().enumerate() {
                *d += value(i);
            }
        } else {
            for (i, d) in dst.iter_mut().enumerate() {
                *d = value(i);
            }
        }
        Ok(())
    })
}
