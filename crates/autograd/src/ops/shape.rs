//! Rearranging elements without changing them: `reshape` and the matrix `transpose`.
//!
//! Both are permutations of the elements, so their vector-Jacobian product is the inverse
//! permutation of the gradient: reshape it back, transpose it back.

use backprop_tensor::{Float, Tensor, TensorError};

use crate::error::Result;
use crate::graph::{Graph, Var};
use crate::op::{BackwardCtx, ForwardCtx, GradSink, Op};

/// `y = x` under a new shape with the same number of elements (row-major order is kept);
/// `dL/dx = reshape(dL/dy, shape of x)`.
#[derive(Debug, Clone, Default)]
pub struct Reshape {
    /// The new shape.
    pub shape: Vec<usize>,
}

/// `y_ji = x_ij` for a matrix; `dL/dx = (dL/dy)ᵀ`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatrixTranspose;

impl<F: Float> Op<F> for Reshape {
    fn name(&self) -> &str {
        "reshape"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        let x = inputs[0];
        let count: usize = self.shape.iter().product();
        if count != x.len() {
            return Err(TensorError::shape(
                "reshape",
                x.shape(),
                &self.shape,
                format!("{} elements cannot take a shape of {count}", x.len()),
            )
            .into());
        }
        let mut out = ctx.uninit(&self.shape);
        out.as_mut_slice().copy_from_slice(x.as_slice());
        Ok(out)
    }

    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        grads[0].with_buffer(|buffer, live| {
            let (dst, g) = (buffer.as_mut_slice(), ctx.grad_output.as_slice());
            if live {
                dst.iter_mut().zip(g).for_each(|(d, &g)| *d += g);
            } else {
                dst.copy_from_slice(g);
            }
            Ok(())
        })
    }
}

/// `dst (+)= srcᵀ` for `src` of `rows × cols` stored row-major.
fn write_transposed<F: Float>(src: &[F], rows: usize, cols: usize, dst: &mut [F], accumulate: bool) {
    for i in 0..rows {
        for j in 0..cols {
            let (d, v) = (&mut dst[j * rows + i], src[i * cols + j]);
            *d = if accumulate { *d + v } else { v };
        }
    }
}

impl<F: Float> Op<F> for MatrixTranspose {
    fn name(&self) -> &str {
        "transpose"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        let x = inputs[0];
        let (rows, cols) = x.try_dim2("transpose")?;
        let mut out = ctx.uninit(&[cols, rows]);
        write_transposed(x.as_slice(), rows, cols, out.as_mut_slice(), false);
        Ok(out)
    }

    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        let (rows, cols) = ctx.grad_output.try_dim2("transpose")?;
        grads[0].with_buffer(|buffer, live| {
            write_transposed(ctx.grad_output.as_slice(), rows, cols, buffer.as_mut_slice(), live);
            Ok(())
        })
    }
}

impl<F: Float> Graph<F> {
    /// `a` under another shape with the same number of elements, in the same row-major order
    /// (see [`Reshape`]).
    ///
    /// # Errors
    /// When the element counts differ: `reshape: [2, 3] x [4, 2]: 6 elements cannot take a shape of 8`.
    pub fn reshape(&mut self, a: Var, shape: &[usize]) -> Result<Var> {
        self.apply(Reshape { shape: shape.to_vec() }, &[a])
    }

    /// The transpose of a matrix (see [`MatrixTranspose`]). Matrix products do not need it: they
    /// take transposes as flags.
    ///
    /// # Errors
    /// When `a` is not a matrix: `transpose: expected a matrix, got shape [3]`.
    pub fn transpose(&mut self, a: Var) -> Result<Var> {
        self.apply(MatrixTranspose, &[a])
    }
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use crate::{Graph, gradcheck};

    #[test]
    fn values_and_errors() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let t = g.transpose(x).unwrap();
        assert_eq!(g.value(t).unwrap().shape(), &[3, 2]);
        assert_eq!(g.value(t).unwrap().to_vec(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let r = g.reshape(x, &[3, 1, 2]).unwrap();
        assert_eq!(g.value(r).unwrap().to_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(
            g.reshape(x, &[4, 2]).unwrap_err().to_string(),
            "reshape: [2, 3] x [4, 2]: 6 elements cannot take a shape of 8"
        );
        let v = g.leaf(Tensor::zeros(&[3]));
        assert_eq!(g.transpose(v).unwrap_err().to_string(), "transpose: expected a matrix, got shape [3]");
    }

    #[test]
    fn gradcheck_each() {
        let x = [Tensor::from_rows(&[[0.3, -1.2, 0.7], [1.5, -0.4, -2.0]])];
        // Multiplying by fixed weights makes every element's gradient distinct.
        let w = Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
        gradcheck(
            |g, v| {
                let t = g.transpose(v[0])?;
                let w = g.input(w.clone());
                g.mul(t, w)
            },
            &x,
            1e-6,
            1e-8,
        )
        .unwrap();
        gradcheck(|g, v| g.reshape(v[0], &[6]), &x, 1e-6, 1e-8).unwrap();
        gradcheck(|g, v| g.reshape(v[0], &[3, 2]), &x, 1e-6, 1e-8).unwrap();
    }
}
