//! Adam and AdamW (decoupled weight decay), with the AMSGrad option.

use backprop_autograd::{Graph, Var};
use backprop_tensor::Float;

use crate::config::{AdamConfig, AdamWConfig, OptimizerConfig};
use crate::error::Result;
use crate::lanes::{Update, apply};
use crate::optimizer::{Optimizer, OptimizerState, Slots, check_at_least, check_unit, wrong_kind};

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

/// The constants of one parameter's update, in its element type.
#[derive(Clone, Copy)]
struct Coefficients<F> {
    /// `1 − γλ` for AdamW, 1 for Adam.
    shrink: F,
    /// λ for Adam (added to the gradient).
    weight_decay: F,
    /// The lerp weight `1 − β₁`, and `1 − (1 − β₁)` for its upper branch.
    one_minus_beta1: F,
    beta1_again: F,
    beta2: F,
    one_minus_beta2: F,
    bias_correction2_sqrt: F,
    eps: F,
    neg_step_size: F,
}

/// The fused update of one parameter: one pass over θ, g, m, v (and v̂ with AMSGrad). The
/// options are constants so that each combination compiles to a branch-free, vectorisable
/// loop; `LOW` says which form of PyTorch's `lerp` applies (`1 − β₁ < 0.5`, the usual case).
#[inline(always)]
fn kernel<F: Float, const AMSGRAD: bool, const COUPLED: bool, const LOW: bool>(
    theta: &mut [F],
    grad: &[F],
    m: &mut [F],
    v: &mut [F],
    vmax: &mut [F],
    k: Coefficients<F>,
) {
    let moments = |w: &mut F, d: F, m: &mut F, v: &mut F| {
        *w *= k.shrink;
        let d = if COUPLED { d + k.weight_decay * *w } else { d };
        *m = if LOW { *m + k.one_minus_beta1 * (d - *m) } else { d - (d - *m) * k.beta1_again };
        *v = *v * k.beta2 + k.one_minus_beta2 * d * d;
    };
    let apply = |w: &mut F, m: F, second: F| {
        let denom = second.sqrt() / k.bias_correction2_sqrt + k.eps;
        *w += k.neg_step_size * m / denom;
    };
    if AMSGRAD {
        for ((((w, &d), m), v), vmax) in
            theta.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()).zip(vmax)
        {
            moments(w, d, m, v);
            *vmax = vmax.max(*v);
            apply(w, *m, *vmax);
        }
    } else {
        for (((w, &d), m), v) in theta.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()) {
            moments(w, d, m, v);
            apply(w, *m, *v);
        }
    }
}

/// [`kernel`] as an [`Update`], run by [`lanes::apply`] (vector units, parallel chunks).
struct Kernel<F, const AMSGRAD: bool, const COUPLED: bool, const LOW: bool>(Coefficients<F>);

impl<F: Float, const AMSGRAD: bool, const COUPLED: bool, const LOW: bool> Update<F>
    for Kernel<F, AMSGRAD, COUPLED, LOW>
{
    #[inline(always)]
    fn run(&self, theta: &mut [F], grad: &[F], [m, v, vmax]: [&mut [F]; 3]) {
        kernel::<F, AMSGRAD, COUPLED, LOW>(theta, grad, m, v, vmax, self.0);
    }
}

/// One Adam/AdamW step over every parameter with a gradient: PyTorch's `_single_tensor_adam`.
fn step<F: Float>(slots: &mut Slots<F>, g: &mut Graph<F>, h: &Hyper) -> Result<()> {
    let (beta1, beta2) = h.betas;
    let one_minus_beta1 = F::from_f64(1.0 - beta1);
    let coupled = !h.decoupled && h.weight_decay != 0.0;
    let low = one_minus_beta1.abs() < F::from_f64(0.5);
    let mut k = Coefficients {
        shrink: if h.decoupled { F::from_f64(1.0 - h.lr * h.weight_decay) } else { F::one() },
        weight_decay: F::from_f64(h.weight_decay),
        one_minus_beta1,
        beta1_again: F::one() - one_minus_beta1,
        beta2: F::from_f64(beta2),
        one_minus_beta2: F::from_f64(1.0 - beta2),
        bias_correction2_sqrt: F::one(),
        eps: F::from_f64(h.eps),
        neg_step_size: F::zero(),
    };
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
        k.neg_step_size = F::from_f64(-(h.lr / bias_correction1));
        k.bias_correction2_sqrt = F::from_f64(bias_correction2.sqrt());

        let (m, rest) = slot.buffers.split_at_mut(1);
        let (v, vmax) = rest.split_at_mut(1);
        let m = m[0].as_mut().expect("ensured").as_mut_slice();
        let v = v[0].as_mut().expect("ensured").as_mut_slice();
        let vmax = vmax[0].as_mut().map_or(&mut [][..], |t| t.as_mut_slice());
        let (theta, grad) = (param.as_mut_slice(), grad.as_slice());
        let state = [m, v, vmax];
        match (h.amsgrad, coupled, low) {
            (false, false, true) => apply(&Kernel::<F, false, false, true>(k), theta, grad, state),
            (false, false, false) => apply(&Kernel::<F, false, false, false>(k), theta, grad, state),
            (false, true, true) => apply(&Kernel::<F, false, true, true>(k), theta, grad, state),
            (false, true, false) => apply(&Kernel::<F, false, true, false>(k), theta, grad, state),
            (true, false, true) => apply(&Kernel::<F, true, false, true>(k), theta, grad, state),
            (true, false, false) => apply(&Kernel::<F, true, false, false>(k), theta, grad, state),
            (true, true, true) => apply(&Kernel::<F, true, true, true>(k), theta, grad, state),
            (true, true, false) => apply(&Kernel::<F, true, true, false>(k), theta, grad, state),
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
