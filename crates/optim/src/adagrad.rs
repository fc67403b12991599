//! Adagrad.

use backprop_autograd::{Graph, Var};
use backprop_tensor::Float;

use crate::config::{AdagradConfig, OptimizerConfig};
use crate::error::Result;
use crate::optimizer::{Optimizer, OptimizerState, Slots, check_at_least, wrong_kind};

const SUM: usize = 0;

/// `torch.optim.Adagrad`. For each parameter θ with gradient g, at its step t:
///
/// ```text
/// g ← g + λθ                      (weight decay λ ≠ 0)
/// γₜ = γ / (1 + (t − 1)·η)        (learning-rate decay η)
/// s ← s + g²                      (s starts at the initial accumulator value)
/// θ ← θ − γₜ · g / (√s + ε)
/// ```
///
/// One fused loop per parameter; no temporaries.
#[derive(Debug, Clone)]
pub struct Adagrad<F: Float> {
    config: AdagradConfig,
    slots: Slots<F>,
}

/// The fused update of one parameter: one pass over θ, g and s.
fn kernel<F: Float, const DECAY: bool>(
    theta: &mut [F],
    grad: &[F],
    sum: &mut [F],
    weight_decay: F,
    neg_clr: F,
    eps: F,
) {
    for ((w, &d), s) in theta.iter_mut().zip(grad).zip(sum) {
        let d = if DECAY { d + weight_decay * *w } else { d };
        *s += d * d;
        *w += neg_clr * d / (s.sqrt() + eps);
    }
}

fn validate(c: &AdagradConfig) -> Result<()> {
    check_at_least("Adagrad", "lr", c.lr, 0.0)?;
    check_at_least("Adagrad", "lr_decay", c.lr_decay, 0.0)?;
    check_at_least("Adagrad", "weight_decay", c.weight_decay, 0.0)?;
    check_at_least("Adagrad", "initial_accumulator_value", c.initial_accumulator_value, 0.0)?;
    check_at_least("Adagrad", "eps", c.eps, 0.0)
}

impl<F: Float> Adagrad<F> {
    /// Adagrad over `params`.
    ///
    /// # Errors
    /// A negative or non-finite hyperparameter, an empty or duplicated parameter list.
    pub fn new(params: impl IntoIterator<Item = (String, Var)>, config: AdagradConfig) -> Result<Self> {
        validate(&config)?;
        Ok(Adagrad { config, slots: Slots::new("Adagrad", &["sum"], params)? })
    }
}

impl<F: Float> Optimizer<F> for Adagrad<F> {
    fn name(&self) -> &'static str {
        "adagrad"
    }

    fn step(&mut self, g: &mut Graph<F>) -> Result<()> {
        let c = self.config;
        let eps = F::from_f64(c.eps);
        let init = F::from_f64(c.initial_accumulator_value);
        for slot in &mut self.slots.slots {
            let (param, grad) = g.param_mut_with_grad(slot.var)?;
            let Some(grad) = grad else { continue };
            slot.step += 1;
            slot.ensure(SUM, param.shape(), init);
            let neg_clr = F::from_f64(-(c.lr / (1.0 + (slot.step - 1) as f64 * c.lr_decay)));
            let sum = slot.buffers[SUM].as_mut().expect("ensured").as_mut_slice();
            let (theta, grad) = (param.as_mut_slice(), grad.as_slice());
            if c.weight_decay != 0.0 {
                kernel::<F, true>(theta, grad, sum, F::from_f64(c.weight_decay), neg_clr, eps);
            } else {
                kernel::<F, false>(theta, grad, sum, F::zero(), neg_clr, eps);
            }
        }
        self.slots.steps += 1;
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn config(&self) -> OptimizerConfig {
        OptimizerConfig::Adagrad(self.config)
    }

    fn params(&self) -> Vec<(String, Var)> {
        self.slots.params()
    }

    fn steps(&self) -> u64 {
        self.slots.steps
    }

    fn state(&self) -> OptimizerState<F> {
        self.slots.export(self.config())
    }

    fn load_state(&mut self, g: &Graph<F>, state: &OptimizerState<F>) -> Result<()> {
        let OptimizerConfig::Adagrad(config) = state.config else {
            return Err(wrong_kind("Adagrad", &state.config));
        };
        validate(&config)?;
        self.slots.import(state, &self.slots.shapes(g)?)?;
        self.config = config;
        Ok(())
    }
}
