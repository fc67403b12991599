//! The hook between backward and the optimizer step, where data-parallel training sums the
//! gradients of its replicas.

use backprop_autograd::{Graph, Var};
use backprop_tensor::Float;

use crate::error::Result;

/// Combines the parameters' gradients after `backward` and before clipping and the optimizer
/// step, as PyTorch's DistributedDataParallel all-reduces them. A single process needs nothing:
/// [`LocalGradients`], the default, leaves them as they are.
pub trait GradientReduction<F: Float> {
    /// Reduces the gradients of `params` in `g` in place (a parameter without a gradient has
    /// none to reduce). `rows` is the number of rows of the local mini-batch.
    ///
    /// # Errors
    /// When the reduction fails (a lost peer, say); training stops with the error.
    fn reduce(&mut self, g: &mut Graph<F>, params: &[(String, Var)], rows: usize) -> Result<()>;
}

/// The identity reduction of a single process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalGradients;

impl<F: Float> GradientReduction<F> for LocalGradients {
    fn reduce(&mut self, _g: &mut Graph<F>, _params: &[(String, Var)], _rows: usize) -> Result<()> {
        Ok(())
    }
}
