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

    /// The three options of [`UpdateRule::update`] for the next update of a parameter (`fresh`:
    /// its buffers were created for it).
    fn options(&self, fresh: bool) -> [bool; 3];

    /// Updates one chunk of a parameter, with the options `A`, `B`, `C` that
    /// [`UpdateRule::options`] chose, as constants: each combination is compiled to its own
    /// branch-free loop. Implementations are `#[inline(always)]`, so that the loop is compiled
    /// for the processor's widest vector unit; large parameters are updated in parallel chunks.
    fn update<const A: bool, const B: bool, const C: bool>(&self, chunk: Chunk<'_, F>);
}

/// A contiguous part of one parameter, for [`UpdateRule::update`].
#[derive(Debug)]
pub struct Chunk<'a, F> {
    /// The parameter's update count, from 1 (this update included).
    pub step: u64,
    /// Part of the parameter's value θ.
    pub theta: &'a mut [F],
    /// The same part of its gradient.
    pub grad: &'a [F],
    /// The same part of each buffer in [`UpdateRule::BUFFERS`] order, empty when unused.
    pub state: [&'a mut [F]; MAX_BUFFERS],
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
