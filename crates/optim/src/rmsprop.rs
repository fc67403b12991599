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

/// The constants of an update, in the parameter's element type.
struct Coefficients<F> {
    lr: F,
    alpha: F,
    one_minus_alpha: F,
    eps: F,
    momentum: F,
    weight_decay: F,
}

/// The fused update of one parameter: one pass over θ, g, v and, when not empty, ḡ (centered)
/// and b (momentum). Each combination is its own loop so that none branches per element.
fn kernel<F: Float, const DECAY: bool>(
    theta: &mut [F],
    grad: &[F],
    square_avg: &mut [F],
    grad_avg: &mut [F],
    buffer: &mut [F],
    k: &Coefficients<F>,
) {
    #[inline(always)]
    fn element<F: Float, const DECAY: bool>(
        w: &mut F,
        d: F,
        v: &mut F,
        avg: Option<&mut F>,
        b: Option<&mut F>,
        k: &Coefficients<F>,
    ) {
        let d = if DECAY { d + k.weight_decay * *w } else { d };
        *v = *v * k.alpha + k.one_minus_alpha * d * d;
        let s = match avg {
            Some(a) => {
                *a = lerp(*a, d, k.one_minus_alpha);
                (*v - *a * *a).sqrt()
            }
            None => v.sqrt(),
        } + k.eps;
        match b {
            Some(b) => {
                *b = *b * k.momentum + d / s;
                *w -= k.lr * *b;
            }
            None => *w += (-k.lr) * d / s,
        }
    }
    let base = theta.iter_mut().zip(grad).zip(square_avg.iter_mut());
    match (grad_avg.is_empty(), buffer.is_empty()) {
        (true, true) => base.for_each(|((w, &d), v)| element::<F, DECAY>(w, d, v, None, None, k)),
        (false, true) => {
            base.zip(grad_avg).for_each(|(((w, &d), v), a)| element::<F, DECAY>(w, d, v, Some(a), None, k))
        }
        (true, false) => {
            base.zip(buffer).for_each(|(((w, &d), v), b)| element::<F, DECAY>(w, d, v, None, Some(b), k))
        }
        (false, false) => base
            .zip(grad_avg)
            .zip(buffer)
            .for_each(|((((w, &d), v), a), b)| element::<F, DECAY>(w, d, v, Some(a), Some(b), k)),
    }
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
        let k = Coefficients {
            lr: F::from_f64(c.lr),
            alpha: F::from_f64(c.alpha),
            one_minus_alpha: F::from_f64(1.0 - c.alpha),
            eps: F::from_f64(c.eps),
            momentum: F::from_f64(c.momentum),
            weight_decay: F::from_f64(c.weight_decay),
        };
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
            let ga = ga[0].as_mut().map_or(&mut [][..], |t| t.as_mut_slice());
            let mb = mb[0].as_mut().map_or(&mut [][..], |t| t.as_mut_slice());
            let (theta, grad) = (param.as_mut_slice(), grad.as_slice());
            if c.weight_decay != 0.0 {
                kernel::<F, true>(theta, grad, sq, ga, mb, &k);
            } else {
                kernel::<F, false>(theta, grad, sq, ga, mb, &k);
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
