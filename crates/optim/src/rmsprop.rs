//! RMSprop, with the momentum and centered options.

use backprop_tensor::Float;

use crate::config::RmsPropConfig;
use crate::error::Result;
use crate::optimizer::RuleOptimizer;
use crate::rule::{Chunk, MAX_BUFFERS, UpdateRule, check_at_least, lerp};

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
/// One fused loop per parameter; no temporaries. Created by
/// `RmsProp::new(params, RmsPropConfig { .. })`.
pub type RmsProp<F> = RuleOptimizer<F, RmsPropConfig>;

/// The update of one element: `avg` is ḡ (centered), `b` the momentum buffer.
#[inline(always)]
fn element<F: Float, const DECAY: bool>(
    c: &Constants<F>,
    w: &mut F,
    d: F,
    v: &mut F,
    avg: Option<&mut F>,
    b: Option<&mut F>,
) {
    let d = if DECAY { d + c.weight_decay * *w } else { d };
    *v = *v * c.alpha + c.one_minus_alpha * d * d;
    let s = match avg {
        Some(a) => {
            *a = lerp(*a, d, c.one_minus_alpha);
            (*v - *a * *a).sqrt()
        }
        None => v.sqrt(),
    } + c.eps;
    match b {
        Some(b) => {
            *b = *b * c.momentum + d / s;
            *w -= c.lr * *b;
        }
        None => *w += (-c.lr) * d / s,
    }
}

/// The hyperparameters in the parameter's element type.
struct Constants<F> {
    lr: F,
    alpha: F,
    one_minus_alpha: F,
    eps: F,
    momentum: F,
    weight_decay: F,
}

impl<F: Float> UpdateRule<F> for RmsPropConfig {
    /// One pass over θ, g, v and, with the options, ḡ (`CENTERED`) and b (`MOMENTUM`).
    #[inline(always)]
    fn update<const DECAY: bool, const CENTERED: bool, const MOMENTUM: bool>(&self, chunk: Chunk<'_, F>) {
        let Chunk { theta, grad, state: [square_avg, grad_avg, buffer], .. } = chunk;
        let c = &Constants {
            lr: F::from_f64(self.lr),
            alpha: F::from_f64(self.alpha),
            one_minus_alpha: F::from_f64(1.0 - self.alpha),
            eps: F::from_f64(self.eps),
            momentum: F::from_f64(self.momentum),
            weight_decay: F::from_f64(self.weight_decay),
        };
        let base = theta.iter_mut().zip(grad).zip(square_avg.iter_mut());
        match (CENTERED, MOMENTUM) {
            (false, false) => base.for_each(|((w, &d), v)| element::<F, DECAY>(c, w, d, v, None, None)),
            (true, false) => base
                .zip(grad_avg)
                .for_each(|(((w, &d), v), a)| element::<F, DECAY>(c, w, d, v, Some(a), None)),
            (false, true) => {
                base.zip(buffer).for_each(|(((w, &d), v), b)| element::<F, DECAY>(c, w, d, v, None, Some(b)))
            }
            (true, true) => base
                .zip(grad_avg)
                .zip(buffer)
                .for_each(|((((w, &d), v), a), b)| element::<F, DECAY>(c, w, d, v, Some(a), Some(b))),
        }
    }

    fn options(&self, _fresh: bool) -> [bool; 3] {
        [self.weight_decay != 0.0, self.centered, self.momentum > 0.0]
    }

    const BUFFERS: &'static [&'static str] = &["square_avg", "grad_avg", "momentum_buffer"];

    fn buffer_starts(&self) -> [Option<f64>; MAX_BUFFERS] {
        [Some(0.0), self.centered.then_some(0.0), (self.momentum > 0.0).then_some(0.0)]
    }

    const LABEL: &'static str = "RMSprop";

    fn validate(&self) -> Result<()> {
        check_at_least("RMSprop", "lr", self.lr, 0.0)?;
        check_at_least("RMSprop", "alpha", self.alpha, 0.0)?;
        check_at_least("RMSprop", "eps", self.eps, 0.0)?;
        check_at_least("RMSprop", "weight_decay", self.weight_decay, 0.0)?;
        check_at_least("RMSprop", "momentum", self.momentum, 0.0)
    }
}
