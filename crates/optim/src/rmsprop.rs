//! RMSprop, with the momentum and centered options.

use backprop_autograd::{Graph, Var};
use backprop_tensor::Float;

use crate::config::{OptimizerConfig, RmsPropConfig};
use crate::error::Result;
use crate::optimizer::{Optimizer, OptimizerState, Slots, check_at_least, lerp, wrong_kind};

const SQUARE_AVG: usize = 0;
const GRAD_AVG: usize = 1;
const MOMENTUM_BUFFER: usize = 2;

/// `torch.optim.RMSprop`. For each parameter θ with gradient g:
///
/// ```text
/// g ← g + λθ                                   (weight decay λ ≠ 0)
/// v ← α·v + (1 − α)·g²
/// ḡ ← α·ḡ + (1 − α)·g   (as lerp(ḡ, g, 1 − α))  (centered)
/// s ← √(v − ḡ²) + ε      (centered)   or   s ← √v + ε
/// b ← μ·b + g/s,  θ ← θ − γ·b                  (momentum μ > 0)
/// θ ← θ − γ·g/s                                (μ = 0)
/// ```
///
/// One fused loop per parameter; no temporaries.
#[derive(Debug, Clone)]
pub struct RmsProp<F: Float> {
    config: RmsPropConfig,
    slots: Slots<F>,
}

fn validate(c: &RmsPropConfig) -> Result<()> {
    check_at_least("RMSprop", "lr", c.lr, 0.0)?;
    check_at_least("RMSprop", "alpha", c.alpha, 0.0)?;
    check_at_least("RMSprop", "eps", c.eps, 0.0)?;
    check_at_least("RMSprop", "weight_decay", c.weight_decay, 0.0)?;
    check_at_least("RMSprop", "momentum", c.momentum, 0.0)
}

impl<F: Float> RmsProp<F> {
    /// RMSprop over `params`.
    ///
    /// # Errors
    /// A negative or non-finite hyperparameter, an empty or duplicated parameter list.
    pub fn new(params: impl IntoIterator<Item = (String, Var)>, config: RmsPropConfig) -> Result<Self> {
        validate(&config)?;
        Ok(RmsProp {
            config,
            slots: Slots::new("RMSprop", &["square_avg", "grad_avg", "momentum_buffer"], params)?,
        })
    }
}

impl<F: Float> Optimizer<F> for RmsProp<F> {
    fn name(&self) -> &'static str {
        "rmsprop"
    }

    fn step(&mut self, g: &mut Graph<F>) -> Result<()> {
        let c = self.config;
        let lr = F::from_f64(c.lr);
        let alpha = F::from_f64(c.alpha);
        let one_minus_alpha = F::from_f64(1.0 - c.alpha);
        let eps = F::from_f64(c.eps);
        let mu = F::from_f64(c.momentum);
        let decay = (c.weight_decay != 0.0).then(|| F::from_f64(c.weight_decay));
        for slot in &mut self.slots.slots {
            let (param, grad) = g.param_mut_with_grad(slot.var)?;
            let Some(grad) = grad else { continue };
            slot.step += 1;
            slot.ensure(SQUARE_AVG, param.shape(), F::zero());
            if c.centered {
                slot.ensure(GRAD_AVG, param.shape(), F::zero());
            }
            if c.momentum > 0.0 {
                slot.ensure(MOMENTUM_BUFFER, param.shape(), F::zero());
            }
            let (sq, rest) = slot.buffers.split_at_mut(1);
            let (ga, mb) = rest.split_at_mut(1);
            let sq = sq[0].as_mut().expect("ensured").as_mut_slice();
            let mut ga = ga[0].as_mut().map(|t| t.as_mut_slice());
            let mut mb = mb[0].as_mut().map(|t| t.as_mut_slice());
            for (i, (w, &d)) in param.as_mut_slice().iter_mut().zip(grad.as_slice()).enumerate() {
                let d = match decay {
                    Some(wd) => d + wd * *w,
                    None => d,
                };
                sq[i] = sq[i] * alpha + one_minus_alpha * d * d;
                let avg = match ga.as_deref_mut() {
                    Some(ga) => {
                        ga[i] = lerp(ga[i], d, one_minus_alpha);
                        (sq[i] - ga[i] * ga[i]).sqrt()
                    }
                    None => sq[i].sqrt(),
                } + eps;
                match mb.as_deref_mut() {
                    Some(b) => {
                        b[i] = b[i] * mu + d / avg;
                        *w -= lr * b[i];
                    }
                    None => *w += (-lr) * d / avg,
                }
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
        OptimizerConfig::RmsProp(self.config)
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
        let OptimizerConfig::RmsProp(config) = state.config else {
            return Err(wrong_kind("RMSprop", &state.config));
        };
        validate(&config)?;
        self.slots.import(state, &self.slots.shapes(g)?)?;
        self.config = config;
        Ok(())
    }
}
