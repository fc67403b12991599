//! What distinguishes one optimization algorithm from another: an [`UpdateRule`] (its
//! hyperparameters, the buffers it keeps per parameter, its fused update). The bookkeeping
//! they share is [`crate::RuleOptimizer`]'s.

use backprop_tensor::Float;

use crate::config::OptimizerConfig;
use crate::error::{OptimError, Result};

/// The most state buffers a rule keeps per parameter (Adam's `exp_avg`, `exp_avg_sq`,
/// `max_exp_avg_sq`).
pub const MAX_BUFFERS: usize = 3;

/// One algorithm's update, implemented by its hyperparameters (for example
/// [`crate::SgdConfig`]); [`crate::RuleOptimizer`] runs it over named parameters.
///
/// The update of one parameter is one fused pass over its value `θ`, gradient `g` and the state
/// buffers the rule uses, elementwise, so that any split into chunks and any vector width give
/// the same numbers.
///
/// Its kind and learning rate are those of the [`OptimizerConfig`] it converts to.
pub trait UpdateRule<F: Float>:
    Copy + std::fmt::Debug + Send + Sync + 'static + Into<OptimizerConfig> + TryFrom<OptimizerConfig>
{
    /// The name in messages, as PyTorch spells the class (`"SGD"`, `"AdamW"`).
    const LABEL: &'static str;

    /// The names of the buffers a parameter can have, by position (as in PyTorch's state dict).
    const BUFFERS: &'static [&'static str];

    /// Checks the hyperparameters.
    ///
    /// # Errors
    /// A hyperparameter out of its range, named in the message.
    fn validate(&self) -> Result<()>;

    /// For each of [`UpdateRule::BUFFERS`]: the value its elements start at when these
    /// hyperparameters use it, `None` when they do not (its slice is then empty).
    fn buffer_starts(&self) -> [Option<f64>; MAX_BUFFERS];

    /// Updates one parameter at its `step`-th update (from 1). `state` holds the buffers in
    /// [`UpdateRule::BUFFERS`] order, each the length of `theta` when used, empty when not;
    /// `fresh` says that they were created for this update.
    fn update(&self, step: u64, fresh: bool, theta: &mut [F], grad: &[F], state: [&mut [F]; MAX_BUFFERS]);
}

/// `start + weight·(end − start)`, evaluated as PyTorch's `lerp` does from the nearer end
/// (`NEAR_START`: `|weight| < 0.5`), so that moving averages round as PyTorch's do;
/// `one_minus_weight` is `1 − weight`.
#[inline(always)]
pub(crate) fn lerp_from<F: Float, const NEAR_START: bool>(
    start: F,
    end: F,
    weight: F,
    one_minus_weight: F,
) -> F {
    if NEAR_START { start + weight * (end - start) } else { end - (end - start) * one_minus_weight }
}

/// [`lerp_from`] choosing its end at run time.
#[inline]
pub(crate) fn lerp<F: Float>(start: F, end: F, weight: F) -> F {
    if weight.abs() < F::from_f64(0.5) {
        lerp_from::<F, true>(start, end, weight, F::one() - weight)
    } else {
        lerp_from::<F, false>(start, end, weight, F::one() - weight)
    }
}

/// Checks that a hyperparameter is finite and at least `min`.
pub(crate) fn check_at_least(op: &str, what: &str, value: f64, min: f64) -> Result<()> {
    if value.is_finite() && value >= min {
        Ok(())
    } else {
        Err(OptimError::invalid(op, format!("{what} must be a finite number >= {min}, got {value}")))
    }
}

/// Checks that a hyperparameter lies in `[0, 1)`.
pub(crate) fn check_unit(op: &str, what: &str, value: f64) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(OptimError::invalid(op, format!("{what} must be in [0, 1), got {value}")))
    }
}
