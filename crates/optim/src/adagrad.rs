//! Adagrad.

use backprop_tensor::Float;

use crate::config::AdagradConfig;
use crate::error::Result;
use crate::optimizer::RuleOptimizer;
use crate::rule::{Chunk, MAX_BUFFERS, UpdateRule, check_at_least};

/// `torch.optim.Adagrad`. For each parameter θ with gradient g, at its step t:
///
/// ```text
/// g ← g + λθ                      (weight decay λ ≠ 0)
/// γₜ = γ / (1 + (t − 1)·η)        (learning-rate decay η)
/// s ← s + g²                      (s starts at the initial accumulator value)
/// θ ← θ − γₜ · g / (√s + ε)
/// ```
///
/// One fused loop per parameter; no temporaries. Created by
/// `Adagrad::new(params, AdagradConfig { .. })`.
pub type Adagrad<F> = RuleOptimizer<F, AdagradConfig>;

impl<F: Float> UpdateRule<F> for AdagradConfig {
    /// One pass over θ, g and s; `DECAY`: λ ≠ 0 (the other options are unused).
    #[inline(always)]
    fn update<const DECAY: bool, const UNUSED: bool, const UNUSED_TOO: bool>(&self, chunk: Chunk<'_, F>) {
        let Chunk { step, theta, grad, state: [sum, _, _] } = chunk;
        let weight_decay = F::from_f64(self.weight_decay);
        let neg_clr = F::from_f64(-(self.lr / (1.0 + (step - 1) as f64 * self.lr_decay)));
        let eps = F::from_f64(self.eps);
        for ((w, &d), s) in theta.iter_mut().zip(grad).zip(sum) {
            let d = if DECAY { d + weight_decay * *w } else { d };
            *s += d * d;
            *w += neg_clr * d / (s.sqrt() + eps);
        }
    }

    fn options(&self, _fresh: bool) -> [bool; 3] {
        [self.weight_decay != 0.0, false, false]
    }

    const BUFFERS: &'static [&'static str] = &["sum"];

    fn buffer_starts(&self) -> [Option<f64>; MAX_BUFFERS] {
        [Some(self.initial_accumulator_value), None, None]
    }

    const LABEL: &'static str = "Adagrad";

    fn validate(&self) -> Result<()> {
        for (what, value) in [
            ("lr", self.lr),
            ("lr_decay", self.lr_decay),
            ("weight_decay", self.weight_decay),
            ("initial_accumulator_value", self.initial_accumulator_value),
            ("eps", self.eps),
        ] {
            check_at_least("Adagrad", what, value, 0.0)?;
        }
        Ok(())
    }
}
