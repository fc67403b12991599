//! Dropout: zeroes random elements while training, as PyTorch's `nn.Dropout`.

use backprop_autograd::{BackwardCtx, ForwardCtx, GradSink, Graph, Op, Var};
use backprop_tensor::{Float, RngState, Tensor, TensorRng};

use crate::error::{NnError, Result};
use crate::module::Module;

/// Inverted dropout with probability `p`.
///
/// In training mode each element is kept with probability `1 − p` and scaled by `1/(1 − p)`
/// (so that the expected value is unchanged), or zeroed: `y = x ⊙ m`, `mᵢ ∈ {0, 1/(1 − p)}`,
/// `∂L/∂x = ∂L/∂y ⊙ m`. In evaluation mode it is the identity. The mask is drawn from the
/// layer's own [`TensorRng`] (one uniform per element, row-major; kept when `u ≥ p`), whose
/// state can be saved and restored for exact resumption.
#[derive(Debug, Clone)]
pub struct Dropout {
    p: f64,
    training: bool,
    rng: Box<TensorRng>,
}

impl Dropout {
    /// Dropout with probability `p` in `[0, 1]`, its mask drawn from `rng`.
    ///
    /// # Errors
    /// When `p` is outside `[0, 1]` or not a number.
    pub fn new(p: f64, rng: TensorRng) -> Result<Self> {
        if !(0.0..=1.0).contains(&p) {
            return Err(NnError::invalid("Dropout", format!("the probability must be in [0, 1], got {p}")));
        }
        Ok(Dropout { p, training: true, rng: Box::new(rng) })
    }

    /// The probability of zeroing an element.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The state of the mask generator (for checkpoints).
    pub fn rng_state(&self) -> RngState {
        self.rng.state()
    }

    /// Restores the mask generator (from a checkpoint).
    pub fn set_rng_state(&mut self, state: RngState) {
        *self.rng = TensorRng::from_state(state);
    }
}

/// The op behind [`Dropout`]: multiplication by a fixed mask.
struct MaskOp<F: Float> {
    mask: Vec<F>,
}

impl<F: Float> Op<F> for MaskOp<F> {
    fn name(&self) -> &str {
        "dropout"
    }

    fn forward(
        &mut self,
        ctx: &mut ForwardCtx<'_, F>,
        inputs: &[&Tensor<F>],
    ) -> Result<Tensor<F>, backprop_autograd::AutogradError> {
        let x = inputs[0];
        let mut out = ctx.uninit(x.shape());
        for ((o, &v), &m) in out.as_mut_slice().iter_mut().zip(x.as_slice()).zip(&self.mask) {
            *o = v * m;
        }
        Ok(out)
    }

    fn backward(
        &self,
        ctx: &BackwardCtx<'_, F>,
    ) -> Result<Vec<Option<Tensor<F>>>, backprop_autograd::AutogradError> {
        let mut grad = ctx.grad_output.clone();
        for (d, &m) in grad.as_mut_slice().iter_mut().zip(&self.mask) {
            *d *= m;
        }
        Ok(vec![Some(grad)])
    }

    fn backward_into(
        &self,
        ctx: &BackwardCtx<'_, F>,
        grads: &mut [GradSink<'_, F>],
    ) -> Result<(), backprop_autograd::AutogradError> {
        let g = ctx.grad_output.as_slice();
        grads[0].with_buffer(|buffer, live| {
            let dst = buffer.as_mut_slice();
            if live {
                for ((d, &gi), &m) in dst.iter_mut().zip(g).zip(&self.mask) {
                    *d += gi * m;
                }
            } else {
                for ((d, &gi), &m) in dst.iter_mut().zip(g).zip(&self.mask) {
                    *d = gi * m;
                }
            }
            Ok(())
        })
    }
}

impl Module for Dropout {
    fn forward<F: Float>(&mut self, g: &mut Graph<F>, x: Var) -> Result<Var> {
        if !self.training || self.p == 0.0 {
            return Ok(x);
        }
        let len = g.value(x)?.len();
        let mask: Vec<F> = if self.p >= 1.0 {
            vec![F::zero(); len]
        } else {
            let scale = F::from_f64(1.0 / (1.0 - self.p));
            (0..len).map(|_| if self.rng.uniform() >= self.p { scale } else { F::zero() }).collect()
        };
        Ok(g.apply(MaskOp { mask }, &[x])?)
    }

    fn parameters(&self) -> Vec<(String, Var)> {
        Vec::new()
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    fn is_training(&self) -> bool {
        self.training
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trains_with_a_scaled_mask_and_evaluates_as_identity() {
        let mut g = Graph::<f64>::new();
        let mut d = Dropout::new(0.5, TensorRng::seed_from_u64(1)).unwrap();
        let x = g.leaf(Tensor::full(&[100, 10], 3.0));
        let y = d.forward(&mut g, x).unwrap();
        let values = g.value(y).unwrap().to_vec();
        assert!(values.iter().all(|&v| v == 0.0 || v == 6.0));
        let kept = values.iter().filter(|&&v| v == 6.0).count();
        assert!((400..600).contains(&kept), "kept {kept} of 1000");
        let s = g.sum(y).unwrap();
        g.backward(s).unwrap();
        let grad = g.grad(x).unwrap().to_vec();
        for (gv, v) in grad.iter().zip(&values) {
            assert_eq!(*gv, if *v == 0.0 { 0.0 } else { 2.0 });
        }
        d.set_training(false);
        let z = d.forward(&mut g, x).unwrap();
        assert_eq!(z, x, "identity in evaluation mode");
        assert!(Dropout::new(1.5, TensorRng::seed_from_u64(0)).is_err());
    }

    #[test]
    fn rng_state_resumes_the_same_masks() {
        let mut g = Graph::<f32>::new();
        let mut a = Dropout::new(0.3, TensorRng::seed_from_u64(9)).unwrap();
        let x = g.input(Tensor::ones(&[4, 8]));
        a.forward(&mut g, x).unwrap();
        let mut b = Dropout::new(0.3, TensorRng::seed_from_u64(0)).unwrap();
        b.set_rng_state(a.rng_state());
        let ya = a.forward(&mut g, x).unwrap();
        let yb = b.forward(&mut g, x).unwrap();
        assert_eq!(g.value(ya).unwrap(), g.value(yb).unwrap());
    }
}
