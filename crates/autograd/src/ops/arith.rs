//! The four arithmetic operations with NumPy broadcasting: `a + b`, `a − b`, `a · b`, `a / b`.
//!
//! An operand that was broadcast (a bias row `[n]` added to a batch `[m, n]`, a scalar `[]`, a
//! column `[m, 1]`) receives its gradient summed over the copies it was stretched into.

use backprop_tensor::Float;

use crate::error::Result;
use crate::graph::{Graph, Var};
use crate::ops::binary::{Binary, BinaryFn};

/// `y = a + b`; `∂y/∂a = 1`, `∂y/∂b = 1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Add;

/// `y = a − b`; `∂y/∂a = 1`, `∂y/∂b = −1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sub;

/// `y = a · b`; `∂y/∂a = b`, `∂y/∂b = a`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mul;

/// `y = a / b`; `∂y/∂a = 1/b`, `∂y/∂b = −a/b² = −y/b`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Div;

impl<F: Float> BinaryFn<F> for Add {
    fn name(&self) -> &'static str {
        "add"
    }
    fn value(&self, a: F, b: F) -> F {
        a + b
    }
    fn derivative_a(&self, _: F, _: F, _: F) -> F {
        F::one()
    }
    fn derivative_b(&self, _: F, _: F, _: F) -> F {
        F::one()
    }
}

impl<F: Float> BinaryFn<F> for Sub {
    fn name(&self) -> &'static str {
        "sub"
    }
    fn value(&self, a: F, b: F) -> F {
        a - b
    }
    fn derivative_a(&self, _: F, _: F, _: F) -> F {
        F::one()
    }
    fn derivative_b(&self, _: F, _: F, _: F) -> F {
        -F::one()
    }
}

impl<F: Float> BinaryFn<F> for Mul {
    fn name(&self) -> &'static str {
        "mul"
    }
    fn value(&self, a: F, b: F) -> F {
        a * b
    }
    fn derivative_a(&self, _: F, b: F, _: F) -> F {
        b
    }
    fn derivative_b(&self, a: F, _: F, _: F) -> F {
        a
    }
}

impl<F: Float> BinaryFn<F> for Div {
    fn name(&self) -> &'static str {
        "div"
    }
    fn value(&self, a: F, b: F) -> F {
        a / b
    }
    fn derivative_a(&self, _: F, b: F, _: F) -> F {
        F::one() / b
    }
    fn derivative_b(&self, _: F, b: F, y: F) -> F {
        -y / b
    }
}

impl<F: Float> Graph<F> {
    /// `a + b` elementwise, broadcasting (see [`Add`]).
    ///
    /// # Errors
    /// When the shapes do not broadcast: `add: [2, 3] x [2]: cannot broadcast: ...`.
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        self.apply(Binary(Add), &[a, b])
    }

    /// `a − b` elementwise, broadcasting (see [`Sub`]).
    ///
    /// # Errors
    /// When the shapes do not broadcast.
    pub fn sub(&mut self, a: Var, b: Var) -> Result<Var> {
        self.apply(Binary(Sub), &[a, b])
    }

    /// `a · b` elementwise (Hadamard product), broadcasting (see [`Mul`]).
    ///
    /// # Errors
    /// When the shapes do not broadcast.
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        self.apply(Binary(Mul), &[a, b])
    }

    /// `a / b` elementwise, broadcasting (see [`Div`]). Division by zero follows IEEE (±inf, NaN).
    ///
    /// # Errors
    /// When the shapes do not broadcast.
    pub fn div(&mut self, a: Var, b: Var) -> Result<Var> {
        self.apply(Binary(Div), &[a, b])
    }
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use crate::{AutogradError, Graph, gradcheck};

    fn t(shape: &[usize], data: &[f64]) -> Tensor<f64> {
        Tensor::from_vec(shape, data.to_vec())
    }

    #[test]
    fn values_and_gradients_of_a_bias_row() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(t(&[2, 3], &[1., 2., 3., 4., 5., 6.]));
        let b = g.leaf(t(&[3], &[10., 20., 30.]));
        let y = g.mul(x, b).unwrap();
        assert_eq!(g.value(y).unwrap().to_vec(), vec![10., 40., 90., 40., 100., 180.]);
        g.backward_with_seed(y, Tensor::ones(&[2, 3])).unwrap();
        assert_eq!(g.grad(b).unwrap().to_vec(), vec![5., 7., 9.], "column sums of x");
        assert_eq!(g.grad(x).unwrap().to_vec(), vec![10., 20., 30., 10., 20., 30.]);
    }

    #[test]
    fn gradcheck_every_operation_with_broadcasting() {
        let a = t(&[2, 3], &[0.3, -1.2, 0.7, 1.5, -0.4, 2.0]);
        let col = t(&[2, 1], &[1.3, -0.8]);
        let row = t(&[1, 3], &[0.9, 1.7, -1.1]);
        let scalar = t(&[], &[0.6]);
        let five_axes = Tensor::from_shape_fn(&[2, 1, 1, 1, 3], |i| (i[0] * 3 + i[4]) as f64 * 0.4 - 1.1);
        let four_axes = t(&[2, 1, 1, 1], &[0.7, -1.3]);
        for (x, y) in
            [(&a, &a), (&a, &col), (&row, &col), (&scalar, &a), (&a, &scalar), (&five_axes, &four_axes)]
        {
            let inputs = [x.clone(), y.clone()];
            gradcheck(|g, v| g.add(v[0], v[1]), &inputs, 1e-6, 1e-8).unwrap();
            gradcheck(|g, v| g.sub(v[0], v[1]), &inputs, 1e-6, 1e-8).unwrap();
            gradcheck(|g, v| g.mul(v[0], v[1]), &inputs, 1e-6, 1e-8).unwrap();
            gradcheck(|g, v| g.div(v[0], v[1]), &inputs, 1e-6, 1e-7).unwrap();
        }
    }

    #[test]
    fn shapes_that_do_not_broadcast_name_the_op_and_both_shapes() {
        let mut g = Graph::<f64>::new();
        let a = g.leaf(Tensor::zeros(&[2, 3]));
        let b = g.leaf(Tensor::zeros(&[2]));
        let err = g.div(a, b).unwrap_err();
        assert!(matches!(err, AutogradError::Tensor(_)));
        assert_eq!(
            err.to_string(),
            "div: [2, 3] x [2]: cannot broadcast: axis 1 of the result has lengths 3 and 2"
        );
    }
}
