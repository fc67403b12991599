//! Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

use backprop_autograd::{Graph, Var};
use backprop_tensor::Float;

use crate::config::{OptimizerConfig, SgdConfig};
use crate::error::{OptimError, Result};
use crate::lanes::{Update, apply};
use crate::optimizer::{Optimizer, OptimizerState, Slots, check_at_least, wrong_kind};

const MOMENTUM_BUFFER: usize = 0;

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
/// One fused loop over θ, g and b per parameter; no temporaries.
#[derive(Debug, Clone)]
pub struct Sgd<F: Float> {
    config: SgdConfig,
    slots: Slots<F>,
}

impl<F: Float> Sgd<F> {
    /// SGD over `params` (names and handles).
    ///
    /// # Errors
    /// A negative or non-finite learning rate, momentum, dampening or weight decay; Nesterov
    /// without momentum or with dampening; an empty or duplicated parameter list.
    pub fn new(params: impl IntoIterator<Item = (String, Var)>, config: SgdConfig) -> Result<Self> {
        validate(&config)?;
        Ok(Sgd { config, slots: Slots::new("SGD", &["momentum_buffer"], params)? })
    }
}

/// The constants of an update, in the parameter's element type.
#[derive(Clone, Copy)]
struct Coefficients<F> {
    lr: F,
    weight_decay: F,
    momentum: F,
    keep: F,
}

/// `θ ← θ − γ·(g + λθ)`, one pass.
#[inline(always)]
fn plain<F: Float, const DECAY: bool>(theta: &mut [F], grad: &[F], k: Coefficients<F>) {
    for (w, &d) in theta.iter_mut().zip(grad) {
        let d = if DECAY { d + k.weight_decay * *w } else { d };
        *w -= k.lr * d;
    }
}

/// The momentum update, one pass over θ, g and b; `FIRST`: the buffer starts as the gradient.
#[inline(always)]
fn momentum<F: Float, const NESTEROV: bool, const DECAY: bool, const FIRST: bool>(
    theta: &mut [F],
    grad: &[F],
    buffer: &mut [F],
    k: Coefficients<F>,
) {
    for ((w, &d), b) in theta.iter_mut().zip(grad).zip(buffer) {
        let d = if DECAY { d + k.weight_decay * *w } else { d };
        *b = if FIRST { d } else { *b * k.momentum + k.keep * d };
        let step = if NESTEROV { d + k.momentum * *b } else { *b };
        *w -= k.lr * step;
    }
}

/// [`plain`] as an [`Update`], run by [`lanes::apply`] (vector units, parallel chunks).
struct Plain<F, const DECAY: bool>(Coefficients<F>);

impl<F: Float, const DECAY: bool> Update<F> for Plain<F, DECAY> {
    #[inline(always)]
    fn run(&self, theta: &mut [F], grad: &[F], _: [&mut [F]; 3]) {
        plain::<F, DECAY>(theta, grad, self.0);
    }
}

/// [`momentum`] as an [`Update`].
struct Momentum<F, const NESTEROV: bool, const DECAY: bool, const FIRST: bool>(Coefficients<F>);

impl<F: Float, const NESTEROV: bool, const DECAY: bool, const FIRST: bool> Update<F>
    for Momentum<F, NESTEROV, DECAY, FIRST>
{
    #[inline(always)]
    fn run(&self, theta: &mut [F], grad: &[F], [buffer, _, _]: [&mut [F]; 3]) {
        momentum::<F, NESTEROV, DECAY, FIRST>(theta, grad, buffer, self.0);
    }
}

fn validate(c: &SgdConfig) -> Result<()> {
    check_at_least("SGD", "lr", c.lr, 0.0)?;
    check_at_least("SGD", "momentum", c.momentum, 0.0)?;
    check_at_least("SGD", "dampening", c.dampening, 0.0)?;
    check_at_least("SGD", "weight_decay", c.weight_decay, 0.0)?;
    if c.nesterov && (c.momentum <= 0.0 || c.dampening != 0.0) {
        return Err(OptimError::invalid(
            "SGD",
            "Nesterov momentum requires a momentum > 0 and zero dampening",
        ));
    }
    Ok(())
}

impl<F: Float> Optimizer<F> for Sgd<F> {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fn step(&mut self, g: &mut Graph<F>) -> Result<()> {
        let c = self.config;
        let k = Coefficients {
            lr: F::from_f64(c.lr),
            weight_decay: F::from_f64(c.weight_decay),
            momentum: F::from_f64(c.momentum),
            keep: F::from_f64(1.0 - c.dampening),
        };
        let decay = c.weight_decay != 0.0;
        for slot in &mut self.slots.slots {
            let (param, grad) = g.param_mut_with_grad(slot.var)?;
            let Some(grad) = grad else { continue };
            slot.step += 1;
            if c.momentum == 0.0 {
                let (theta, grad) = (param.as_mut_slice(), grad.as_slice());
                let none = [&mut [][..], &mut [][..], &mut [][..]];
                match decay {
                    true => apply(&Plain::<F, true>(k), theta, grad, none),
                    false => apply(&Plain::<F, false>(k), theta, grad, none),
                }
                continue;
            }
            let first = slot.buffers[MOMENTUM_BUFFER].is_none();
            slot.ensure(MOMENTUM_BUFFER, param.shape(), F::zero());
            let (theta, grad) = (param.as_mut_slice(), grad.as_slice());
            let buffer = slot.buffers[MOMENTUM_BUFFER].as_mut().expect("ensured").as_mut_slice();
            let state = [buffer, &mut [][..], &mut [][..]];
            match (c.nesterov, decay, first) {
                (false, false, false) => apply(&Momentum::<F, false, false, false>(k), theta, grad, state),
                (false, false, true) => apply(&Momentum::<F, false, false, true>(k), theta, grad, state),
                (false, true, false) => apply(&Momentum::<F, false, true, false>(k), theta, grad, state),
                (false, true, true) => apply(&Momentum::<F, false, true, true>(k), theta, grad, state),
                (true, false, false) => apply(&Momentum::<F, true, false, false>(k), theta, grad, state),
                (true, false, true) => apply(&Momentum::<F, true, false, true>(k), theta, grad, state),
                (true, true, false) => apply(&Momentum::<F, true, true, false>(k), theta, grad, state),
                (true, true, true) => apply(&Momentum::<F, true, true, true>(k), theta, grad, state),
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
        OptimizerConfig::Sgd(self.config)
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
        let OptimizerConfig::Sgd(config) = state.config else {
            return Err(wrong_kind("SGD", &state.config));
        };
        validate(&config)?;
        self.slots.import(state, &self.slots.shapes(g)?)?;
        self.config = config;
        Ok(())
    }
}
