//! Adam and AdamW (decoupled weight decay), with the AMSGrad option: one rule, whose
//! configuration's `DECOUPLED` tells them apart.

use backprop_tensor::Float;

use crate::config::AdamFamilyConfig;
use crate::error::Result;
use crate::lanes::{FlaggedUpdate, apply_flagged};
use crate::optimizer::RuleOptimizer;
use crate::rule::{MAX_BUFFERS, UpdateRule, check_at_least, check_unit, lerp_from};

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
/// One fused loop over θ, g, m, v (and v̂) per parameter; no temporaries. Created by
/// `Adam::new(params, AdamConfig { .. })`.
pub type Adam<F> = RuleOptimizer<F, AdamFamilyConfig<false>>;

/// `torch.optim.AdamW`: Adam with decoupled weight decay. Each step first shrinks the
/// parameter, `θ ← θ·(1 − γλ)`, then takes the Adam step of the plain gradient (no `λθ` added
/// to it). In the fused loop the shrink is applied to each element just before its update.
/// Created by `AdamW::new(params, AdamWConfig { .. })`.
pub type AdamW<F> = RuleOptimizer<F, AdamFamilyConfig<true>>;

/// The constants of one parameter's update, in its element type.
#[derive(Clone, Copy)]
struct Kernel<F> {
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

/// The fused update of one parameter: one pass over θ, g, m, v (and v̂ with `AMSGRAD`).
/// `COUPLED`: λθ is added to the gradient (Adam with λ ≠ 0); `LOW`: the form of PyTorch's
/// `lerp` for `1 − β₁ < 0.5`, the usual case.
impl<F: Float> FlaggedUpdate<F> for Kernel<F> {
    #[inline(always)]
    fn run<const AMSGRAD: bool, const COUPLED: bool, const LOW: bool>(
        &self,
        theta: &mut [F],
        grad: &[F],
        [m, v, vmax]: [&mut [F]; 3],
    ) {
        let k = self;
        let moments = |w: &mut F, d: F, m: &mut F, v: &mut F| {
            *w *= k.shrink;
            let d = if COUPLED { d + k.weight_decay * *w } else { d };
            *m = lerp_from::<F, LOW>(*m, d, k.one_minus_beta1, k.beta1_again);
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
}

/// PyTorch's `_single_tensor_adam`.
impl<F: Float, const DECOUPLED: bool> UpdateRule<F> for AdamFamilyConfig<DECOUPLED> {
    const LABEL: &'static str = if DECOUPLED { "AdamW" } else { "Adam" };
    const BUFFERS: &'static [&'static str] = &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

    fn validate(&self) -> Result<()> {
        let op = <Self as UpdateRule<F>>::LABEL;
        check_at_least(op, "lr", self.lr, 0.0)?;
        check_unit(op, "beta1", self.betas.0)?;
        check_unit(op, "beta2", self.betas.1)?;
        check_at_least(op, "eps", self.eps, 0.0)?;
        check_at_least(op, "weight_decay", self.weight_decay, 0.0)
    }

    fn buffer_starts(&self) -> [Option<f64>; MAX_BUFFERS] {
        [Some(0.0), Some(0.0), self.amsgrad.then_some(0.0)]
    }

    fn update(&self, step: u64, _fresh: bool, theta: &mut [F], grad: &[F], state: [&mut [F]; MAX_BUFFERS]) {
        let (beta1, beta2) = self.betas;
        let one_minus_beta1 = F::from_f64(1.0 - beta1);
        let t = step as f64;
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2 = 1.0 - beta2.powf(t);
        let kernel = Kernel {
            shrink: if DECOUPLED { F::from_f64(1.0 - self.lr * self.weight_decay) } else { F::one() },
            weight_decay: F::from_f64(self.weight_decay),
            one_minus_beta1,
            beta1_again: F::one() - one_minus_beta1,
            beta2: F::from_f64(beta2),
            one_minus_beta2: F::from_f64(1.0 - beta2),
            bias_correction2_sqrt: F::from_f64(bias_correction2.sqrt()),
            eps: F::from_f64(self.eps),
            neg_step_size: F::from_f64(-(self.lr / bias_correction1)),
        };
        let coupled = !DECOUPLED && self.weight_decay != 0.0;
        let low = one_minus_beta1.abs() < F::from_f64(0.5);
        apply_flagged(&kernel, [self.amsgrad, coupled, low], theta, grad, state);
    }
}
