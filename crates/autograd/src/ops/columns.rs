//! Matrices side by side (`concat_cols`) and a range of columns (`slice_cols`).
//!
//! Each output column is a copy of one input column, so the gradient of an input column is the
//! gradient of the output column it was copied to: concatenation splits the gradient, slicing
//! places it back in its columns (and zero elsewhere).

use backprop_tensor::{Float, Tensor, TensorError};

use crate::error::Result;
use crate::graph::{Graph, Var};
use crate::op::{BackwardCtx, ForwardCtx, GradSink, Op};

/// `y = [x₁ x₂ … x_p]` for matrices with equal row counts (`[m, c_k]` each, `[m, Σ c_k]` in
/// all); `dL/dx_k` = the columns of `dL/dy` that `x_k` occupies.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConcatCols;

/// `y = x[:, start..end]`; `dL/dx` = `dL/dy` in columns `start..end`, 0 in the others.
#[derive(Debug, Clone, Copy, Default)]
pub struct SliceCols {
    /// First column taken.
    pub start: usize,
    /// One past the last column taken.
    pub end: usize,
}

/// `dst[:, offset..offset + width] (+)= src` where `dst` has `dst_cols` columns and `src` has
/// `width`; every row of `src` is written.
fn write_columns<F: Float>(
    dst: &mut [F],
    dst_cols: usize,
    src: &[F],
    width: usize,
    offset: usize,
    accumulate: bool,
) {
    if width == 0 {
        return;
    }
    for (row, src_row) in src.chunks_exact(width).enumerate() {
        let dst_row = &mut dst[row * dst_cols + offset..row * dst_cols + offset + width];
        if accumulate {
            dst_row.iter_mut().zip(src_row).for_each(|(d, &s)| *d += s);
        } else {
            dst_row.copy_from_slice(src_row);
        }
    }
}

/// `dst (+)= src[:, offset..offset + width]` where `src` has `src_cols` columns.
fn read_columns<F: Float>(
    src: &[F],
    src_cols: usize,
    dst: &mut [F],
    width: usize,
    offset: usize,
    accumulate: bool,
) {
    if width == 0 {
        return;
    }
    for (row, dst_row) in dst.chunks_exact_mut(width).enumerate() {
        let src_row = &src[row * src_cols + offset..row * src_cols + offset + width];
        if accumulate {
            dst_row.iter_mut().zip(src_row).for_each(|(d, &s)| *d += s);
        } else {
            dst_row.copy_from_slice(src_row);
        }
    }
}

impl<F: Float> Op<F> for ConcatCols {
    fn name(&self) -> &str {
        "concat_cols"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        let [rows, total] = Tensor::try_concat_cols_shape(inputs)?;
        let mut out = ctx.uninit(&[rows, total]);
        let mut offset = 0;
        for part in inputs {
            let width = part.shape()[1];
            write_columns(out.as_mut_slice(), total, part.as_slice(), width, offset, false);
            offset += width;
        }
        Ok(out)
    }

    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        let total = ctx.grad_output.shape()[1];
        let mut offset = 0;
        for (part, sink) in ctx.inputs.iter().zip(grads.iter_mut()) {
            let width = part.shape()[1];
            sink.with_buffer(|buffer, live| {
                read_columns(ctx.grad_output.as_slice(), total, buffer.as_mut_slice(), width, offset, live);
                Ok(())
            })?;
            offset += width;
        }
        Ok(())
    }
}

impl<F: Float> Op<F> for SliceCols {
    fn name(&self) -> &str {
        "slice_cols"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        const OP: &str = "slice_cols";
        let x = inputs[0];
        let (rows, cols) = x.try_dim2(OP)?;
        let (start, end) = (self.start, self.end);
        if start > end || end > cols {
            return Err(TensorError::invalid(
                OP,
                format!("columns {start}..{end} out of range for shape {:?}", x.shape()),
            )
            .into());
        }
        let mut out = ctx.uninit(&[rows, end - start]);
        read_columns(x.as_slice(), cols, out.as_mut_slice(), end - start, start, false);
        Ok(out)
    }

    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        grads[0].with_buffer(|buffer, live| {
            if !live {
                buffer.fill(F::zero());
            }
            self.write(ctx, buffer, true);
            Ok(())
        })
    }
}

impl SliceCols {
    fn write<F: Float>(&self, ctx: &BackwardCtx<'_, F>, buffer: &mut Tensor<F>, accumulate: bool) {
        let cols = ctx.inputs[0].shape()[1];
        let width = self.end - self.start;
        write_columns(buffer.as_mut_slice(), cols, ctx.grad_output.as_slice(), width, self.start, accumulate);
    }
}

impl<F: Float> Graph<F> {
    /// Matrices with the same number of rows side by side: `[m, a]`, `[m, b]` give `[m, a + b]`
    /// (see [`ConcatCols`]).
    ///
    /// # Errors
    /// When `parts` is empty, a part is not a matrix, or the row counts differ:
    /// `concat_cols: [2, 1] x [3, 1]: row counts 2 != 3`.
    pub fn concat_cols(&mut self, parts: &[Var]) -> Result<Var> {
        self.apply(ConcatCols, parts)
    }

    /// Columns `start..end` of a matrix (see [`SliceCols`]).
    ///
    /// # Errors
    /// When `a` is not a matrix or the range is outside its columns:
    /// `slice_cols: columns 2..4 out of range for shape [2, 3]`.
    pub fn slice_cols(&mut self, a: Var, start: usize, end: usize) -> Result<Var> {
        self.apply(SliceCols { start, end }, &[a])
    }
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use crate::{Graph, gradcheck};

    #[test]
    fn values_gradients_and_errors() {
        let mut g = Graph::<f64>::new();
        let a = g.leaf(Tensor::from_rows(&[[1.0], [2.0]]));
        let b = g.leaf(Tensor::from_rows(&[[3.0, 4.0], [5.0, 6.0]]));
        let c = g.concat_cols(&[a, b, a]).unwrap();
        assert_eq!(g.value(c).unwrap().to_vec(), vec![1.0, 3.0, 4.0, 1.0, 2.0, 5.0, 6.0, 2.0]);
        let s = g.slice_cols(c, 1, 3).unwrap();
        assert_eq!(g.value(s).unwrap(), g.value(b).unwrap());
        g.backward_with_seed(c, Tensor::from_rows(&[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])).unwrap();
        assert_eq!(g.grad(a).unwrap().to_vec(), vec![5.0, 13.0], "a used twice: columns 0 and 3");
        assert_eq!(g.grad(b).unwrap().to_vec(), vec![2.0, 3.0, 6.0, 7.0]);
        let err = g.slice_cols(c, 2, 5).unwrap_err();
        assert_eq!(err.to_string(), "slice_cols: columns 2..5 out of range for shape [2, 4]");
        let tall = g.leaf(Tensor::zeros(&[3, 1]));
        assert_eq!(
            g.concat_cols(&[a, tall]).unwrap_err().to_string(),
            "concat_cols: [2, 1] x [3, 1]: row counts 2 != 3"
        );
        assert_eq!(g.concat_cols(&[]).unwrap_err().to_string(), "concat_cols: nothing to concatenate");
    }

    #[test]
    fn gradcheck_each() {
        let x =
            [Tensor::from_rows(&[[0.3, -1.2, 0.7], [1.5, -0.4, -2.0]]), Tensor::from_rows(&[[0.9], [-0.6]])];
        let w = Tensor::from_shape_fn(&[2, 4], |i| (i[0] * 4 + i[1]) as f64 - 3.5);
        gradcheck(
            |g, v| {
                let c = g.concat_cols(&[v[1], v[0]])?;
                let w = g.input(w.clone());
                g.mul(c, w)
            },
            &x,
            1e-6,
            1e-8,
        )
        .unwrap();
        for (start, end) in [(0, 3), (1, 2), (2, 3), (1, 1)] {
            gradcheck(|g, v| g.slice_cols(v[0], start, end), &x[..1], 1e-6, 1e-8).unwrap();
        }
    }
}
