//! Piecewise-linear functions: `|x|`, `relu(x)`, `leaky_relu(x)`.
//!
//! They have a kink at 0 where the derivative jumps. There the backward pass uses the one-sided
//! value that PyTorch uses: `|x|' = 0`, `relu' = 0`, `leaky_relu' = α` (a valid subgradient).

use backprop_tensor::{Float, leaky_relu, relu};

use crate::error::Result;
use crate::graph::{Graph, Var};
use crate::ops::unary::{OutputDerivative, Unary, UnaryFn, unary_fn};

unary_fn! {
    /// `y = |x|`; `dy/dx = sign(x)` (1 above 0, −1 below, 0 at 0).
    Abs = "abs",
    value(x) = x.abs(),
    // Not `signum`, which is 1 at +0.
    derivative(x, _) = if x > F::zero() {
        F::one()
    } else if x < F::zero() {
        -F::one()
    } else {
        F::zero()
    };
    /// `|a|` elementwise (see [`Abs`]).
    fn abs;
}

unary_fn! {
    /// `y = max(x, 0)`; `dy/dx = 1` for `x > 0`, else 0.
    Relu = "relu",
    value(x) = relu(x),
    derivative(x, _) = if x > F::zero() { F::one() } else { F::zero() };
    /// `max(a, 0)` elementwise (see [`Relu`]).
    fn relu;
}

/// `y > 0` exactly when `x > 0`.
impl<F: Float> OutputDerivative<F> for Relu {
    const FUSED_NAME: &'static str = "affine_relu";
}

/// `y = x` for `x > 0`, else `α·x`; `dy/dx = 1` for `x > 0`, else `α`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeakyRelu<F>(pub F);

impl<F: Float> UnaryFn<F> for LeakyRelu<F> {
    fn name(&self) -> &'static str {
        "leaky_relu"
    }
    fn value(&self, x: F) -> F {
        leaky_relu(x, self.0)
    }
    fn derivative(&self, x: F, _: F) -> F {
        if x > F::zero() { F::one() } else { self.0 }
    }
}

/// For `α > 0` only (then `y > 0` exactly when `x > 0`), which [`Graph::affine_act`] checks.
impl<F: Float> OutputDerivative<F> for LeakyRelu<F> {
    const FUSED_NAME: &'static str = "affine_leaky_relu";
}

impl<F: Float> Graph<F> {
    /// `a` where positive, else `alpha·a`, elementwise (see [`LeakyRelu`]).
    ///
    /// # Errors
    /// When `a` is not a live value of this graph.
    pub fn leaky_relu(&mut self, a: Var, alpha: F) -> Result<Var> {
        self.apply(Unary(LeakyRelu(alpha)), &[a])
    }
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use crate::{Graph, gradcheck};

    #[test]
    fn derivatives_at_and_around_the_kink() {
        for (which, value, grad) in [
            (0, vec![2.0, 0.0, 3.0], vec![-1.0, 0.0, 1.0]),
            (1, vec![0.0, 0.0, 3.0], vec![0.0, 0.0, 1.0]),
            (2, vec![-0.2, 0.0, 3.0], vec![0.1, 0.1, 1.0]),
        ] {
            let mut g = Graph::<f64>::new();
            let x = g.leaf(Tensor::from_vec(&[3], vec![-2.0, 0.0, 3.0]));
            let y = match which {
                0 => g.abs(x),
                1 => g.relu(x),
                _ => g.leaky_relu(x, 0.1),
            }
            .unwrap();
            g.backward_with_seed(y, Tensor::ones(&[3])).unwrap();
            assert_eq!(g.value(y).unwrap().to_vec(), value, "op {which}");
            assert_eq!(g.grad(x).unwrap().to_vec(), grad, "op {which}");
        }
    }

    #[test]
    fn gradcheck_away_from_the_kink() {
        let x = [Tensor::from_vec(&[2, 3], vec![0.3, -1.2, 0.7, 1.5, -0.4, -2.0])];
        gradcheck(|g, v| g.abs(v[0]), &x, 1e-6, 1e-8).unwrap();
        gradcheck(|g, v| g.relu(v[0]), &x, 1e-6, 1e-8).unwrap();
        gradcheck(|g, v| g.leaky_relu(v[0], 0.01), &x, 1e-6, 1e-8).unwrap();
    }
}
