//! Adam and AdamW (decoupled weight decay), with the AMSGrad option: one rule, whose
//! configuration's `DECOUPLED` tells them apart.

use backprop_tensor::Float;

use crate::config::AdamFamilyConfig;
use crate::error::Result;
use crate::optimizer::RuleOptimizer;
use crate::rule::{Chunk, MAX_BUFFERS, UpdateRule, check_at_least, check_unit, lerp_from};

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

/// PyTorch's `_single_tensor_adam`.
impl<F: Float, const DECOUPLED: bool> UpdateRule<F> for AdamFamilyConfig<DECOUPLED> {
    /// One pass over θ, g, m, v (and v̂ with `AMSGRAD`). `COUPLED`: λθ is added to the gradient
    /// (Adam with λ ≠ 0); `LOW`: the form of PyTorch's `lerp` for `1 − β₁ < 0.5`, the usual case.
    #[inline(always)]
    fn update<const AMSGRAD: bool, const COUPLED: bool, const LOW: bool>(&self, chunk: Chunk<'_, F>) {
        let Chunk { step, theta, grad, state: [m, v, vmax] } = chunk;
        let (beta1, beta2) = self.betas;
        let t = step as f64;
        // `1 − γλ` for AdamW, 1 for Adam.
        let shrink = if DECOUPLED { F::from_f64(1.0 - self.lr * self.weight_decay) } else { F::one() };
        let weight_decay = F::from_f64(self.weight_decay);
        // The lerp weight `1 − β₁`, and `1 − (1 − β₁)` for its upper branch.
        let one_minus_beta1 = F::from_f64(1.0 - beta1);
        let beta1_again = F::one() - one_minus_beta1;
        let (beta2_f, one_minus_beta2) = (F::from_f64(beta2), F::from_f64(1.0 - beta2));
        let bias_correction2_sqrt = F::from_f64((1.0 - beta2.powf(t)).sqrt());
        let eps = F::from_f64(self.eps);
        let neg_step_size = F::from_f64(-(self.lr / (1.0 - beta1.powf(t))));
        let moments = |w: &mut F, d: F, m: &mut F, v: &mut F| {
            *w *= shrink;
            let d = if COUPLED { d + weight_decay * *w } else { d };
            *m = lerp_from::<F, LOW>(*m, d, one_minus_beta1, beta1_again);
            *v = *v * beta2_f + one_minus_beta2 * d * d;
        };
        let apply = |w: &mut F, m: F, second: F| {
            let denom = second.sqrt() / bias_correction2_sqrt + eps;
            *w += neg_step_size * m / denom;
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

    fn options(&self, _fresh: bool) -> [bool; 3] {
        let coupled = !DECOUPLED && self.weight_decay != 0.0;
        let low = F::from_f64(1.0 - self.betas.0).abs() < F::from_f64(0.5);
        [self.amsgrad, coupled, low]
    }

    const BUFFERS: &'static [&'static str] = &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

    fn buffer_starts(&self) -> [Option<f64>; MAX_BUFFERS] {
        [Some(0.0), Some(0.0), self.amsgrad.then_some(0.0)]
    }

    const LABEL: &'static str = if DECOUPLED { "AdamW" } else { "Adam" };

    fn validate(&self) -> Result<()> {
        let op = <Self as UpdateRule<F>>::LABEL;
        check_at_least(op, "lr", self.lr, 0.0)?;
        check_unit(op, "beta1", self.betas.0)?;
        check_unit(op, "beta2", self.betas.1)?;
        check_at_least(op, "eps", self.eps, 0.0)?;
        check_at_least(op, "weight_decay", self.weight_decay, 0.0)
    }
}
