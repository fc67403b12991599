//! Smooth activations: the logistic sigmoid, tanh and softplus, on the stable kernels of
//! `backprop_tensor`.
//!
//! Sigmoid and tanh differentiate through their saved output, as the lecture does:
//! `σ' = σ·(1 − σ)`, `tanh' = 1 − tanh²`; no exponential is evaluated twice.

use backprop_tensor::{Float, sigmoid, softplus, tanh, tanh_in_place, tanh_into};

use crate::error::Result;
use crate::graph::{Graph, Var};
use crate::ops::unary::{OutputDerivative, Unary, UnaryFn, unary_fn};

unary_fn! {
    /// `y = σ(x) = 1 / (1 + e⁻ˣ)` (never overflows); `dy/dx = y·(1 − y)`.
    Sigmoid = "sigmoid",
    value(x) = sigmoid(x),
    derivative(_, y) = y * (F::one() - y);
    /// `σ(a)` elementwise (see [`Sigmoid`]).
    fn sigmoid;
}

unary_fn! {
    /// `y = softplus(x) = ln(1 + eˣ)`, computed as `max(x, 0) + ln(1 + e^(−|x|))`; `dy/dx = σ(x)`.
    Softplus = "softplus",
    value(x) = softplus(x),
    derivative(x, _) = sigmoid(x);
    /// `ln(1 + eᵃ)` elementwise, stable for any `a` (see [`Softplus`]).
    fn softplus;
}

/// `y = tanh(x)`; `dy/dx = 1 − y²`. Values come from [`backprop_tensor::tanh`] (for `f32`, a
/// vectorised, correctly rounded evaluation).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tanh;

impl<F: Float> UnaryFn<F> for Tanh {
    fn name(&self) -> &'static str {
        "tanh"
    }
    fn value(&self, x: F) -> F {
        tanh(x)
    }
    fn derivative(&self, _: F, y: F) -> F {
        F::one() - y * y
    }
    fn map_slice(&self, x: &[F], y: &mut [F]) {
        tanh_into(x, y);
    }
    fn map_in_place(&self, y: &mut [F]) {
        tanh_in_place(y);
    }
}

impl<F: Float> Graph<F> {
    /// `tanh(a)` elementwise (see [`Tanh`]).
    ///
    /// # Errors
    /// When `a` is not a live value of this graph.
    pub fn tanh(&mut self, a: Var) -> Result<Var> {
        self.apply(Unary(Tanh), &[a])
    }
}

/// `y = x`; `dy/dx = 1`: the activation of a dense layer without one ([`crate::Affine`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl<F: Float> UnaryFn<F> for Identity {
    fn name(&self) -> &'static str {
        "identity"
    }
    fn value(&self, x: F) -> F {
        x
    }
    fn derivative(&self, _: F, _: F) -> F {
        F::one()
    }
    fn map_slice(&self, x: &[F], y: &mut [F]) {
        y.copy_from_slice(x);
    }
    fn map_in_place(&self, _: &mut [F]) {}
}

impl<F: Float> OutputDerivative<F> for Identity {
    const FUSED_NAME: &'static str = "affine";
    const IS_IDENTITY: bool = true;
}

impl<F: Float> OutputDerivative<F> for Sigmoid {
    const FUSED_NAME: &'static str = "affine_sigmoid";
}

impl<F: Float> OutputDerivative<F> for Tanh {
    const FUSED_NAME: &'static str = "affine_tanh";
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use crate::{Graph, gradcheck};

    #[test]
    fn saturated_inputs_give_finite_values_and_gradients() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::from_vec(&[4], vec![-800.0, -1.0, 0.0, 800.0]));
        let s = g.sigmoid(x).unwrap();
        let t = g.tanh(x).unwrap();
        let p = g.softplus(x).unwrap();
        let st = g.add(s, t).unwrap();
        let y = g.add(st, p).unwrap();
        g.backward_with_seed(y, Tensor::ones(&[4])).unwrap();
        let value = g.value(y).unwrap();
        let grad = g.grad(x).unwrap();
        assert!(value.is_finite() && grad.is_finite(), "{value:?} {grad:?}");
        assert_eq!(value.as_slice()[3], 1.0 + 1.0 + 800.0);
        // At 0: σ' = 1/4, tanh' = 1, softplus' = σ(0) = 1/2.
        assert_eq!(grad.as_slice()[2], 1.75);
        assert_eq!(grad.as_slice()[3], 1.0, "only softplus still has a slope");
    }

    #[test]
    fn gradcheck_each() {
        let x = [Tensor::from_vec(&[2, 3], vec![0.3, -1.2, 0.7, 1.5, -0.4, -2.0])];
        gradcheck(|g, v| g.sigmoid(v[0]), &x, 1e-6, 1e-8).unwrap();
        gradcheck(|g, v| g.tanh(v[0]), &x, 1e-6, 1e-8).unwrap();
        gradcheck(|g, v| g.softplus(v[0]), &x, 1e-6, 1e-8).unwrap();
    }
}
