//! Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

use backprop_tensor::Float;

use crate::config::SgdConfig;
use crate::error::{OptimError, Result};
use crate::lanes::{FlaggedUpdate, apply_flagged};
use crate::optimizer::RuleOptimizer;
use crate::rule::{MAX_BUFFERS, UpdateRule, check_at_least};

/// `torch.optim.SGD`. For each parameter θ with gradient g, at its step t:
///
/// ```text
/// g ← g + λθ                              (weight decay λ ≠ 0)
/// b ← g                                   (μ ≠ 0, t = 1)
/// b ← μ·b + (1 − τ)·g                     (μ ≠ 0, t > 1)
/// g ← g + μ·b   (Nesterov)   or   g ← b   (μ ≠ 0)
/// θ ← θ − γ·g
/// ```
///
/// One fused loop over θ, g and b per parameter; no temporaries. Created by
/// `Sgd::new(params, SgdConfig { .. })`.
pub type Sgd<F> = RuleOptimizer<F, SgdConfig>;

/// The constants of an update, in the parameter's element type.
#[derive(Clone, Copy)]
struct Kernel<F> {
    lr: F,
    weight_decay: F,
    momentum: F,
    keep: F,
}

/// Options: `NESTEROV`, `DECAY` (λ ≠ 0) and `FIRST` (the momentum buffer starts as the
/// gradient); without a momentum buffer (μ = 0) the loop is `θ ← θ − γ·(g + λθ)`.
impl<F: Float> FlaggedUpdate<F> for Kernel<F> {
    #[inline(always)]
    fn run<const NESTEROV: bool, const DECAY: bool, const FIRST: bool>(
        &self,
        theta: &mut [F],
        grad: &[F],
        [buffer, _, _]: [&mut [F]; 3],
    ) {
        let k = self;
        if buffer.is_empty() {
            for (w, &d) in theta.iter_mut().zip(grad) {
                let d = if DECAY { d + k.weight_decay * *w } else { d };
                *w -= k.lr * d;
            }
            return;
        }
        for ((w, &d), b) in theta.iter_mut().zip(grad).zip(buffer) {
            let d = if DECAY { d + k.weight_decay * *w } else { d };
            *b = if FIRST { d } else { *b * k.momentum + k.keep * d };
            let step = if NESTEROV { d + k.momentum * *b } else { *b };
            *w -= k.lr * step;
        }
    }
}

impl<F: Float> UpdateRule<F> for SgdConfig {
    const LABEL: &'static str = "SGD";
    const BUFFERS: &'static [&'static str] = &["momentum_buffer"];

    fn validate(&self) -> Result<()> {
        check_at_least("SGD", "lr", self.lr, 0.0)?;
        check_at_least("SGD", "momentum", self.momentum, 0.0)?;
        check_at_least("SGD", "dampening", self.dampening, 0.0)?;
        check_at_least("SGD", "weight_decay", self.weight_decay, 0.0)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(OptimError::invalid(
                "SGD",
                "Nesterov momentum requires a momentum > 0 and zero dampening",
            ));
        }
        Ok(())
    }

    fn buffer_starts(&self) -> [Option<f64>; MAX_BUFFERS] {
        [(self.momentum != 0.0).then_some(0.0), None, None]
    }

    fn update(&self, _step: u64, fresh: bool, theta: &mut [F], grad: &[F], state: [&mut [F]; MAX_BUFFERS]) {
        let kernel = Kernel {
            lr: F::from_f64(self.lr),
            weight_decay: F::from_f64(self.weight_decay),
            momentum: F::from_f64(self.momentum),
            keep: F::from_f64(1.0 - self.dampening),
        };
        let flags = [self.nesterov, self.weight_decay != 0.0, fresh];
        apply_flagged(&kernel, flags, theta, grad, state);
    }
}
