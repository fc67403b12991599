//! Softmax and log-softmax along the rows of a matrix `[batch, classes]`.
//!
//! Forward passes use the stable kernels of `backprop_tensor` (the row maximum is subtracted
//! before exponentiating). Backward passes use the saved output `y`; for one row, with `g` the
//! gradient of that row of the output:
//!
//! - softmax `y_j = e^(x_j) / Σ_k e^(x_k)` has Jacobian `∂y_j/∂x_i = y_j (δ_ij − y_i)`, so
//!   `dL/dx_i = y_i (g_i − Σ_j g_j y_j)`;
//! - log-softmax `y_j = x_j − ln Σ_k e^(x_k)` has `∂y_j/∂x_i = δ_ij − softmax_i`, so
//!   `dL/dx_i = g_i − e^(y_i) Σ_j g_j`.

use backprop_tensor::{Float, Tensor};

use crate::error::Result;
use crate::graph::{Graph, Var};
use crate::op::{BackwardCtx, ForwardCtx, GradSink, Op};

/// `y_ij = e^(x_ij) / Σ_k e^(x_ik)`; `dL/dx_ij = y_ij (g_ij − Σ_k g_ik y_ik)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Softmax;

/// `y_ij = x_ij − ln Σ_k e^(x_ik)`; `dL/dx_ij = g_ij − e^(y_ij) Σ_k g_ik`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSoftmax;

/// `buffer (+)= dL/dx`, row by row: `row_sum(y, g)` once per row, then each element is
/// `element(y_j, g_j, row_sum)`. Adds when `accumulate`, overwrites otherwise.
fn write_rows<F: Float>(
    ctx: &BackwardCtx<'_, F>,
    buffer: &mut Tensor<F>,
    accumulate: bool,
    row_sum: impl Fn(&[F], &[F]) -> F,
    element: impl Fn(F, F, F) -> F,
) {
    let cols = ctx.output.shape().get(1).copied().unwrap_or(0).max(1);
    let rows = buffer.as_mut_slice().chunks_exact_mut(cols);
    for ((dst, y), g) in
        rows.zip(ctx.output.as_slice().chunks_exact(cols)).zip(ctx.grad_output.as_slice().chunks_exact(cols))
    {
        let s = row_sum(y, g);
        for ((d, &y), &g) in dst.iter_mut().zip(y).zip(g) {
            let local = element(y, g, s);
            *d = if accumulate { *d + local } else { local };
        }
    }
}

impl Softmax {
    fn write<F: Float>(ctx: &BackwardCtx<'_, F>, buffer: &mut Tensor<F>, accumulate: bool) {
        write_rows(
            ctx,
            buffer,
            accumulate,
            |y, g| y.iter().zip(g).fold(F::zero(), |acc, (&y, &g)| acc + y * g),
            |y, g, s| y * (g - s),
        );
    }
}

impl LogSoftmax {
    fn write<F: Float>(ctx: &BackwardCtx<'_, F>, buffer: &mut Tensor<F>, accumulate: bool) {
        write_rows(
            ctx,
            buffer,
            accumulate,
            |_, g| g.iter().fold(F::zero(), |acc, &g| acc + g),
            |y, g, s| g - y.exp() * s,
        );
    }
}

/// The [`Op`] of a row-wise function: `$ty`, named `$name`, forward by the tensor method
/// `$forward`, backward by `$ty::write`.
macro_rules! row_op {
    ($ty:ident, $name:literal, $forward:ident) => {
        impl<F: Float> Op<F> for $ty {
            fn name(&self) -> &str {
                $name
            }

            fn forward(&mut self, _ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
                Ok(inputs[0].$forward()?)
            }

            fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
                grads[0].with_buffer(|buffer, live| {
                    $ty::write(ctx, buffer, live);
                    Ok(())
                })
            }
        }
    };
}

row_op!(Softmax, "softmax", try_softmax_rows);
row_op!(LogSoftmax, "log_softmax", try_log_softmax_rows);

impl<F: Float> Graph<F> {
    /// Softmax of each row of a matrix (see [`Softmax`]): every row of the result is a
    /// probability distribution.
    ///
    /// # Errors
    /// When `a` is not a matrix or its rows are empty.
    pub fn softmax(&mut self, a: Var) -> Result<Var> {
        self.apply(Softmax, &[a])
    }

    /// Log-softmax of each row of a matrix (see [`LogSoftmax`]), finite even where softmax
    /// underflows to 0: the input of a cross-entropy loss.
    ///
    /// # Errors
    /// When `a` is not a matrix or its rows are empty.
    pub fn log_softmax(&mut self, a: Var) -> Result<Var> {
        self.apply(LogSoftmax, &[a])
    }
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use crate::{Graph, gradcheck};

    #[test]
    fn gradient_of_a_normalised_output_is_zero_along_the_row() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::from_rows(&[[1.0, 2.0, 3.0], [1000.0, -5.0, 0.0]]));
        let p = g.softmax(x).unwrap();
        // The sum of each row is 1 whatever x is, so d(Σ p)/dx = 0.
        let total = g.sum(p).unwrap();
        g.backward(total).unwrap();
        assert!(g.grad(x).unwrap().as_slice().iter().all(|d| d.abs() < 1e-15));
        let lp = g.log_softmax(x).unwrap();
        assert!(g.value(lp).unwrap().is_finite());
        assert!((g.value(lp).unwrap().as_slice()[4] + 1005.0).abs() < 1e-9);
    }

    #[test]
    fn gradcheck_both() {
        let x = [Tensor::from_rows(&[[0.3, -1.2, 0.7], [1.5, -0.4, -2.0]])];
        gradcheck(|g, v| g.softmax(v[0]), &x, 1e-6, 1e-8).unwrap();
        gradcheck(|g, v| g.log_softmax(v[0]), &x, 1e-6, 1e-8).unwrap();
        let one = [Tensor::from_rows(&[[0.3]])];
        gradcheck(|g, v| g.log_softmax(v[0]), &one, 1e-6, 1e-8).unwrap();
    }

    #[test]
    fn a_vector_is_refused() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::zeros(&[3]));
        let err = g.softmax(x).unwrap_err();
        assert_eq!(err.to_string(), "softmax_rows: expected a matrix, got shape [3]");
    }
}
