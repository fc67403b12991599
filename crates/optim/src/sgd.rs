//! Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

use backprop_tensor::Float;

use crate::config::SgdConfig;
use crate::error::{OptimError, Result};
use crate::optimizer::RuleOptimizer;
use crate::rule::{Chunk, MAX_BUFFERS, UpdateRule, check_at_least};

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

impl<F: Float> UpdateRule<F> for SgdConfig {
    /// Options: `NESTEROV`, `DECAY` (λ ≠ 0) and `FIRST` (the momentum buffer starts as the
    /// gradient); without a momentum buffer (μ = 0) the loop is `θ ← θ − γ·(g + λθ)`.
    #[inline(always)]
    fn update<const NESTEROV: bool, const DECAY: bool, const FIRST: bool>(&self, chunk: Chunk<'_, F>) {
        let Chunk { theta, grad, state: [buffer, _, _], .. } = chunk;
        let (lr, weight_decay) = (F::from_f64(self.lr), F::from_f64(self.weight_decay));
        if buffer.is_empty() {
            for (w, &d) in theta.iter_mut().zip(grad) {
                let d = if DECAY { d + weight_decay * *w } else { d };
                *w -= lr * d;
            }
            return;
        }
        let (momentum, keep) = (F::from_f64(self.momentum), F::from_f64(1.0 - self.dampening));
        for ((w, &d), b) in theta.iter_mut().zip(grad).zip(buffer) {
            let d = if DECAY { d + weight_decay * *w } else { d };
            *b = if FIRST { d } else { *b * momentum + keep * d };
            let step = if NESTEROV { d + momentum * *b } else { *b };
            *w -= lr * step;
        }
    }

    fn options(&self, fresh: bool) -> [bool; 3] {
        [self.nesterov, self.weight_decay != 0.0, fresh]
    }

    const BUFFERS: &'static [&'static str] = &["momentum_buffer"];

    fn buffer_starts(&self) -> [Option<f64>; MAX_BUFFERS] {
        [(self.momentum != 0.0).then_some(0.0), None, None]
    }

    const LABEL: &'static str = "SGD";

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
}
