//! Adagrad.

use backprop_tensor::Float;

use crate::config::AdagradConfig;
use crate::error::Result;
use crate::lanes::{FlaggedUpdate, apply_flagged};
use crate::optimizer::RuleOptimizer;
use crate::rule::{MAX_BUFFERS, UpdateRule, check_at_least};

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

/// The constants of an update, in the parameter's element type.
struct Kernel<F> {
    weight_decay: F,
    neg_clr: F,
    eps: F,
}

/// The fused update of one parameter: one pass over θ, g and s; `DECAY`: λ ≠ 0 (the other
/// options are unused).
impl<F: Float> FlaggedUpdate<F> for Kernel<F> {
    #[inline(always)]
    fn run<const DECAY: bool, const UNUSED_B: bool, const UNUSED_C: bool>(
        &self,
        theta: &mut [F],
        grad: &[F],
        [sum, _, _]: [&mut [F]; 3],
    ) {
        for ((w, &d), s) in theta.iter_mut().zip(grad).zip(sum) {
            let d = if DECAY { d + self.weight_decay * *w } else { d };
            *s += d * d;
            *w += self.neg_clr * d / (s.sqrt() + self.eps);
        }
    }
}

impl<F: Float> UpdateRule<F> for AdagradConfig {
    const LABEL: &'static str = "Adagrad";
    const BUFFERS: &'static [&'static str] = &["sum"];

    fn validate(&self) -> Result<()> {
        check_at_least("Adagrad", "lr", self.lr, 0.0)?;
        check_at_least("Adagrad", "lr_decay", self.lr_decay, 0.0)?;
        check_at_least("Adagrad", "weight_decay", self.weight_decay, 0.0)?;
        check_at_least("Adagrad", "initial_accumulator_value", self.initial_accumulator_value, 0.0)?;
        check_at_least("Adagrad", "eps", self.eps, 0.0)
    }

    fn buffer_starts(&self) -> [Option<f64>; MAX_BUFFERS] {
        [Some(self.initial_accumulator_value), None, None]
    }

    fn update(&self, step: u64, _fresh: bool, theta: &mut [F], grad: &[F], state: [&mut [F]; MAX_BUFFERS]) {
        let kernel = Kernel {
            weight_decay: F::from_f64(self.weight_decay),
            neg_clr: F::from_f64(-(self.lr / (1.0 + (step - 1) as f64 * self.lr_decay))),
            eps: F::from_f64(self.eps),
        };
        apply_flagged(&kernel, [self.weight_decay != 0.0, false, false], theta, grad, state);
    }
}
