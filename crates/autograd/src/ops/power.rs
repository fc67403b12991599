//! Powers: `xⁿ` for an integer `n`, `x²`, `√x`.

use backprop_tensor::Float;

use crate::error::Result;
use crate::graph::{Graph, Var};
use crate::ops::unary::{Unary, UnaryFn, unary_fn};

/// `y = xⁿ` for an integer `n`; `dy/dx = n·xⁿ⁻¹` (and 0 for `n = 0`, where `y = 1`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Powi(pub i32);

impl<F: Float> UnaryFn<F> for Powi {
    fn name(&self) -> &'static str {
        "powi"
    }
    fn value(&self, x: F) -> F {
        x.powi(self.0)
    }
    fn derivative(&self, x: F, _: F) -> F {
        if self.0 == 0 { F::zero() } else { F::from_f64(f64::from(self.0)) * x.powi(self.0 - 1) }
    }
}

impl<F: Float> Graph<F> {
    /// `aⁿ` elementwise for an integer `n` (see [`Powi`]).
    ///
    /// # Errors
    /// When `a` is not a live value of this graph.
    pub fn powi(&mut self, a: Var, n: i32) -> Result<Var> {
        self.apply(Unary(Powi(n)), &[a])
    }
}

unary_fn! {
    /// `y = x²`; `dy/dx = 2x`.
    Square = "square",
    value(x) = x * x,
    derivative(x, _) = x + x;
    /// `a²` elementwise (see [`Square`]).
    fn square;
}

unary_fn! {
    /// `y = √x`; `dy/dx = 1 / (2√x) = 1 / (2y)` (infinite at 0; NaN below 0, as `√x` is).
    Sqrt = "sqrt",
    value(x) = x.sqrt(),
    derivative(_, y) = F::one() / (y + y);
    /// `√a` elementwise (see [`Sqrt`]).
    fn sqrt;
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use crate::{Graph, gradcheck};

    #[test]
    fn values_and_gradients() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::from_vec(&[2], vec![2.0, 4.0]));
        let cube = g.powi(x, 3).unwrap();
        assert_eq!(g.value(cube).unwrap().to_vec(), vec![8.0, 64.0]);
        g.backward_with_seed(cube, Tensor::ones(&[2])).unwrap();
        assert_eq!(g.grad(x).unwrap().to_vec(), vec![12.0, 48.0]);
        let root = g.sqrt(x).unwrap();
        g.backward_with_seed(root, Tensor::ones(&[2])).unwrap();
        // Leaves accumulate: 3x² + 1/(2√x).
        assert_eq!(g.grad(x).unwrap().to_vec(), vec![12.0 + 0.5 / 2f64.sqrt(), 48.25]);
        let one = g.powi(x, 0).unwrap();
        assert_eq!(g.value(one).unwrap().to_vec(), vec![1.0, 1.0]);
    }

    #[test]
    fn gradcheck_each() {
        let x = [Tensor::from_vec(&[2, 2], vec![0.3, 1.2, 0.7, 2.5])];
        for n in [-3, -1, 0, 1, 2, 5] {
            gradcheck(|g, v| g.powi(v[0], n), &x, 1e-6, 1e-6).unwrap();
        }
        gradcheck(|g, v| g.square(v[0]), &x, 1e-6, 1e-8).unwrap();
        gradcheck(|g, v| g.sqrt(v[0]), &x, 1e-6, 1e-8).unwrap();
    }
}
