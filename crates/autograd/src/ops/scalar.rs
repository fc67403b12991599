//! Negation and arithmetic with a constant: `−x`, `x + c`, `c·x`.

use backprop_tensor::Float;

use crate::error::Result;
use crate::graph::{Graph, Var};
use crate::ops::unary::{Unary, UnaryFn, unary_fn};

unary_fn! {
    /// `y = −x`; `dy/dx = −1`.
    Neg = "neg",
    value(x) = -x,
    derivative(_, _) = -F::one();
    /// `−a` elementwise (see [`Neg`]).
    fn neg;
}

/// `y = x + c` for a constant `c`; `dy/dx = 1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddScalar<F>(pub F);

/// `y = c·x` for a constant `c`; `dy/dx = c`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MulScalar<F>(pub F);

impl<F: Float> UnaryFn<F> for AddScalar<F> {
    fn name(&self) -> &'static str {
        "add_scalar"
    }
    fn value(&self, x: F) -> F {
        x + self.0
    }
    fn derivative(&self, _: F, _: F) -> F {
        F::one()
    }
}

impl<F: Float> UnaryFn<F> for MulScalar<F> {
    fn name(&self) -> &'static str {
        "mul_scalar"
    }
    fn value(&self, x: F) -> F {
        x * self.0
    }
    fn derivative(&self, _: F, _: F) -> F {
        self.0
    }
}

impl<F: Float> Graph<F> {
    /// `a + c` elementwise for a constant `c` (see [`AddScalar`]).
    ///
    /// # Errors
    /// When `a` is not a live value of this graph.
    pub fn add_scalar(&mut self, a: Var, c: F) -> Result<Var> {
        self.apply(Unary(AddScalar(c)), &[a])
    }

    /// `c·a` elementwise for a constant `c` (see [`MulScalar`]).
    ///
    /// # Errors
    /// When `a` is not a live value of this graph.
    pub fn mul_scalar(&mut self, a: Var, c: F) -> Result<Var> {
        self.apply(Unary(MulScalar(c)), &[a])
    }
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use crate::{Graph, gradcheck};

    #[test]
    fn values_and_gradients() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::from_vec(&[2], vec![1.5, -2.0]));
        let y = g.neg(x).unwrap();
        let y = g.add_scalar(y, 4.0).unwrap();
        let y = g.mul_scalar(y, -3.0).unwrap(); // -3·(4 − x)
        assert_eq!(g.value(y).unwrap().to_vec(), vec![-7.5, -18.0]);
        g.backward_with_seed(y, Tensor::from_vec(&[2], vec![1.0, 2.0])).unwrap();
        assert_eq!(g.grad(x).unwrap().to_vec(), vec![3.0, 6.0]);
    }

    #[test]
    fn gradcheck_each() {
        let x = [Tensor::from_vec(&[2, 3], vec![0.3, -1.2, 0.7, 1.5, -0.4, 2.0])];
        gradcheck(|g, v| g.neg(v[0]), &x, 1e-6, 1e-8).unwrap();
        gradcheck(|g, v| g.add_scalar(v[0], 2.5), &x, 1e-6, 1e-8).unwrap();
        gradcheck(|g, v| g.mul_scalar(v[0], -0.7), &x, 1e-6, 1e-8).unwrap();
    }
}
