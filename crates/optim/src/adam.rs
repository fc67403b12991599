//! Adam and AdamW (decoupled weight decay), with the AMSGrad option.

use backprop_autograd::{Graph, Var};
use backprop_tensor::Float;

use crate::config::{AdamConfig, AdamWConfig, OptimizerConfig};
use crate::error::Result;
use crate::optimizer::{Optimizer, OptimizerState, Slots, check_at_least, check_unit, lerp, wrong_kind};

const EXP_AVG: usize = 0;
const EXP_AVG_SQ: usize = 1;
const MAX_EXP_AVG_SQ: usize = 2;
const BUFFERS: &[&str] = &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

/// The hyperparameters both share; `decoupled` tells AdamW's weight decay from Adam's.
#[derive(Debug, Clone, Copy)]
struct Hyper {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    decoupled: bool,
}

fn validate(op: &str, h: &Hyper) -> Result<()> {
    check_at_least(op, "lr", h.lr, 0.0)?;
    check_unit(op, "beta1", h.betas.0)?;
    check_unit(op, "beta2", h.betas.1)?;
    check_at_least(op, "eps", h.eps, 0.0)?;
    check_at_least(op, "weight_decay", h.weight_decay, 0.0)
}

/// One Adam/AdamW step over every parameter with a gradient: PyTorch's `_single_tensor_adam`.
fn step<F: Float>(slots: &mut Slots<F>, g: &mut Graph<F>, h: &Hyper) -> Result<()> {
    let (beta1, beta2) = h.betas;
    let one_minus_beta1 = F::from_f64(1.0 - beta1);
    let beta2_f = F::from_f64(beta2);
    let one_minus_beta2 = F::from_f64(1.0 - beta2);
    let eps = F::from_f64(h.eps);
    let coupled_decay = (!h.decoupled && h.weight_decay != 0.0).then(|| F::from_f64(h.weight_decay));
    let shrink = F::from_f64(1.0 - h.lr * h.weight_decay);
    for slot in &mut slots.slots {
        let (param, grad) = g.param_mut_with_grad(slot.var)?;
        let Some(grad) = grad else { continue };
        slot.step += 1;
        slot.ensure(EXP_AVG, param.shape(), F::zero());
        slot.ensure(EXP_AVG_SQ, param.shape(), F::zero());
        if h.amsgrad {
            slot.ensure(MAX_EXP_AVG_SQ, param.shape(), F::zero());
        }
        let t = slot.step as f64;
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2 = 1.0 - beta2.powf(t);
        let neg_step_size = F::from_f64(-(h.lr / bias_correction1));
        let bias_correction2_sqrt = F::from_f64(bias_correction2.sqrt());

        let (m, rest) = slot.buffers.split_at_mut(1);
        let (v, vmax) = rest.split_at_mut(1);
        let m = m[0].as_mut().expect("ensured").as_mut_slice();
        let v = v[0].as_mut().expect("ensured").as_mut_slice();
        let mut vmax = vmax[0].as_mut().map(|t| t.as_mut_slice());
        let theta = param.as_mut_slice();
        let grad = grad.as_slice();
        for (i, (w, &d)) in theta.iter_mut().zip(grad).enumerate() {
            if h.decoupled {
                *w *= shrink;
            }
            let d = match coupled_decay {
                Some(wd) => d + wd * *w,
                None => d,
            };
            m[i] = lerp(m[i], d, one_minus_beta1);
            v[i] = v[i] * beta2_f + one_minus_beta2 * d * d;
            let second = match vmax.as_deref_mut() {
                Some(vmax) => {
                    vmax[i] = vmax[i].max(v[i]);
                    vmax[i]
                }
                None => v[i],
            };
            let denom = second.sqrt() / bias_correction2_sqrt + eps;
            *w += neg_step_size * m[i] / denom;
        }
    }
    slots.steps += 1;
    Ok(())
}

/// `torch.optim.Adam`. For each parameter θ with gradient g, at its step t:
///
/// ```text
/// g ← g + λθ                                   (weight decay λ ≠ 0)
/// m ← β₁·m + (1 − β₁)·g                        (as lerp(m, g, 1 − β₁))
/// v ← β₂·v + (1 − β₂)·g²
/// v̂ ← max(v̂, v)                                (AMSGrad; then v̂ replaces v below)
/// θ ← θ − (γ / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// One fused loop over θ, g, m, v (and v̂) per parameter; no temporaries.
#[derive(Debug, Clone)]
pub struct Adam<F: Float> {
    config: AdamConfig,
    slots: Slots<F>,
}

impl<F: Float> Adam<F> {
    /// Adam over `params`.
    ///
    /// # Errors
    /// A negative or non-finite learning rate, ε or weight decay, a β outside `[0, 1)`, an
    /// empty or duplicated parameter list.
    pub fn new(params: impl IntoIterator<Item = (String, Var)>, config: AdamConfig) -> Result<Self> {
        validate("Adam", &hyper(&config))?;
        Ok(Adam { config, slots: Slots::new("Adam", BUFFERS, params)? })
    }
}

fn hyper(c: &AdamConfig) -> Hyper {
    Hyper {
        lr: c.lr,
        betas: c.betas,
        eps: c.eps,
        weight_decay: c.weight_decay,
        amsgrad: c.amsgrad,
        decoupled: false,
    }
}

fn hyper_w(c: &AdamWConfig) -> Hyper {
    Hyper {
        lr: c.lr,
        betas: c.betas,
        eps: c.eps,
        weight_decay: c.weight_decay,
        amsgrad: c.amsgrad,
        decoupled: true,
    }
}

impl<F: Float> Optimizer<F> for Adam<F> {
    fn name(&self) -> &'static str {
        "adam"
    }

    fn step(&mut self, g: &mut Graph<F>) -> Result<()> {
        step(&mut self.slots, g, &hyper(&self.config))
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn config(&self) -> OptimizerConfig {
        OptimizerConfig::Adam(self.config)
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
        let OptimizerConfig::Adam(config) = state.config else {
            return Err(wrong_kind("Adam", &state.config));
        };
        validate("Adam", &hyper(&config))?;
        self.slots.import(state, &self.slots.shapes(g)?)?;
        self.config = config;
        Ok(())
    }
}

/// `torch.optim.AdamW`: Adam with decoupled weight decay. Each step first shrinks the
/// parameter, `θ ← θ·(1 − γλ)`, then takes the Adam step of the plain gradient (no `λθ` added
/// to it). In the fused loop the shrink is applied to each element just before its update.
#[derive(Debug, Clone)]
pub struct AdamW<F: Float> {
    config: AdamWConfig,
    slots: Slots<F>,
}

impl<F: Float> AdamW<F> {
    /// AdamW over `params`.
    ///
    /// # Errors
    /// As [`Adam::new`].
    pub fn new(params: impl IntoIterator<Item = (String, Var)>, config: AdamWConfig) -> Result<Self> {
        validate("AdamW", &hyper_w(&config))?;
        Ok(AdamW { config, slots: Slots::new("AdamW", BUFFERS, params)? })
    }
}

impl<F: Float> Optimizer<F> for AdamW<F> {
    fn name(&self) -> &'static str {
        "adamw"
    }

    fn step(&mut self, g: &mut Graph<F>) -> Result<()> {
        step(&mut self.slots, g, &hyper_w(&self.config))
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn config(&self) -> OptimizerConfig {
        OptimizerConfig::AdamW(self.config)
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
        let OptimizerConfig::AdamW(config) = state.config else {
            return Err(wrong_kind("AdamW", &state.config));
        };
        validate("AdamW", &hyper_w(&config))?;
        self.slots.import(state, &self.slots.shapes(g)?)?;
        self.config = config;
        Ok(())
    }
}
