//! Sums and means, of everything or along one axis.
//!
//! A sum copies its gradient to every element it summed (`∂(Σ x)/∂x_i = 1`); a mean also
//! divides it by the number of elements. Along an axis, each output element spreads its gradient
//! over the line of inputs it summed.

use backprop_tensor::{Float, Tensor};

use crate::error::{AutogradError, Result};
use crate::graph::{Graph, Var};
use crate::op::{BackwardCtx, ForwardCtx, GradSink, Op};

/// `y = Σ_i x_i` (a scalar, shape `[]`); `∂y/∂x_i = 1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sum;

/// `y = (1/n) Σ_i x_i` over the `n` elements (shape `[]`); `∂y/∂x_i = 1/n`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mean;

/// `y[..., ...] = Σ_j x[..., j, ...]` along `axis`, which is removed; `∂y/∂x[..., j, ...] = 1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SumAxis {
    /// The axis summed over.
    pub axis: usize,
}

/// `y = (1/n) Σ_j x[..., j, ...]` along `axis` of length `n`, which is removed;
/// `∂y/∂x[..., j, ...] = 1/n`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeanAxis {
    /// The axis averaged over.
    pub axis: usize,
}

/// A shape seen as `[outer, len, inner]` around the reduced axis (a sum of everything is
/// `[1, n, 1]`).
#[derive(Debug, Clone, Copy)]
struct AxisLayout {
    outer: usize,
    len: usize,
    inner: usize,
}

impl AxisLayout {
    fn new(op: &str, shape: &[usize], axis: usize) -> Result<Self> {
        if axis >= shape.len() {
            return Err(AutogradError::invalid(op, format!("axis {axis} out of range for shape {shape:?}")));
        }
        Ok(AxisLayout {
            outer: shape[..axis].iter().product(),
            len: shape[axis],
            inner: shape[axis + 1..].iter().product(),
        })
    }

    /// Calls `f(input_index, output_index)` for every input element.
    fn for_each(&self, mut f: impl FnMut(usize, usize)) {
        for o in 0..self.outer {
            for j in 0..self.len {
                let input = (o * self.len + j) * self.inner;
                let output = o * self.inner;
                for i in 0..self.inner {
                    f(input + i, output + i);
                }
            }
        }
    }
}

/// `1/n` for a mean over `n` elements; an error rather than a silent NaN when `n = 0`.
fn inverse_count<F: Float>(op: &str, n: usize, shape: &[usize]) -> Result<F> {
    if n == 0 {
        return Err(AutogradError::invalid(op, format!("cannot average zero elements (shape {shape:?})")));
    }
    Ok(F::one() / F::from_f64(n as f64))
}

fn reduce_all<F: Float>(ctx: &mut ForwardCtx<'_, F>, x: &Tensor<F>, scale: F) -> Tensor<F> {
    let mut out = ctx.uninit(&[]);
    out.as_mut_slice()[0] = x.sum() * scale;
    out
}

fn reduce_axis<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    x: &Tensor<F>,
    op: &str,
    axis: usize,
    mean: bool,
) -> Result<Tensor<F>> {
    let layout = AxisLayout::new(op, x.shape(), axis)?;
    let scale = if mean { inverse_count(op, layout.len, x.shape())? } else { F::one() };
    let shape: Vec<usize> =
        x.shape().iter().enumerate().filter(|&(k, _)| k != axis).map(|(_, &n)| n).collect();
    let mut out = ctx.zeros(&shape);
    let (src, dst) = (x.as_slice(), out.as_mut_slice());
    layout.for_each(|i, o| dst[o] += src[i]);
    if mean {
        dst.iter_mut().for_each(|v| *v *= scale);
    }
    Ok(out)
}

/// `buffer (+)= scale · g[o]` for every input element `i` and the output element `o` it went
/// into: adds when `accumulate`, overwrites otherwise.
fn spread<F: Float>(buffer: &mut Tensor<F>, accumulate: bool, g: &[F], scale: F, layout: AxisLayout) {
    let dst = buffer.as_mut_slice();
    if accumulate {
        layout.for_each(|i, o| dst[i] += scale * g[o]);
    } else {
        layout.for_each(|i, o| dst[i] = scale * g[o]);
    }
}

fn write_all<F: Float>(ctx: &BackwardCtx<'_, F>, buffer: &mut Tensor<F>, live: bool, scale: F) {
    let layout = AxisLayout { outer: 1, len: buffer.len(), inner: 1 };
    spread(buffer, live, ctx.grad_output.as_slice(), scale, layout);
}

fn write_axis<F: Float>(
    ctx: &BackwardCtx<'_, F>,
    buffer: &mut Tensor<F>,
    live: bool,
    op: &str,
    axis: usize,
    mean: bool,
) -> Result<()> {
    let layout = AxisLayout::new(op, ctx.inputs[0].shape(), axis)?;
    let scale = if mean { inverse_count(op, layout.len, ctx.inputs[0].shape())? } else { F::one() };
    spread(buffer, live, ctx.grad_output.as_slice(), scale, layout);
    Ok(())
}

impl<F: Float> Op<F> for Sum {
    fn name(&self) -> &str {
        "sum"
    }
    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        Ok(reduce_all(ctx, inputs[0], F::one()))
    }
    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        grads[0].with_buffer(|buffer, live| {
            write_all(ctx, buffer, live, F::one());
            Ok(())
        })
    }
}

impl<F: Float> Op<F> for Mean {
    fn name(&self) -> &str {
        "mean"
    }
    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        let scale = inverse_count("mean", inputs[0].len(), inputs[0].shape())?;
        Ok(reduce_all(ctx, inputs[0], scale))
    }
    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        let scale = inverse_count("mean", ctx.inputs[0].len(), ctx.inputs[0].shape())?;
        grads[0].with_buffer(|buffer, live| {
            write_all(ctx, buffer, live, scale);
            Ok(())
        })
    }
}

/// The [`Op`] of a reduction along one axis: `$ty { axis }`, named `$name`, a mean if `$mean`.
macro_rules! axis_reduction_op {
    ($ty:ident, $name:literal, $mean:literal) => {
        impl<F: Float> Op<F> for $ty {
            fn name(&self) -> &str {
                $name
            }
            fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
                reduce_axis(ctx, inputs[0], $name, self.axis, $mean)
            }
            fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
                grads[0].with_buffer(|buffer, live| write_axis(ctx, buffer, live, $name, self.axis, $mean))
            }
        }
    };
}

axis_reduction_op!(SumAxis, "sum_axis", false);
axis_reduction_op!(MeanAxis, "mean_axis", true);

impl<F: Float> Graph<F> {
    /// The sum of all elements of `a`, a scalar of shape `[]` (see [`Sum`]).
    ///
    /// # Errors
    /// When `a` is not a live value of this graph.
    pub fn sum(&mut self, a: Var) -> Result<Var> {
        self.apply(Sum, &[a])
    }

    /// The mean of all elements of `a`, a scalar of shape `[]` (see [`Mean`]).
    ///
    /// # Errors
    /// When `a` has no elements (`mean: cannot average zero elements (shape [0])`).
    pub fn mean(&mut self, a: Var) -> Result<Var> {
        self.apply(Mean, &[a])
    }

    /// Sums along `axis`, which is removed: `[m, n]` along 0 gives `[n]` (see [`SumAxis`]).
    ///
    /// # Errors
    /// When `axis` is out of range: `sum_axis: axis 2 out of range for shape [2, 3]`.
    pub fn sum_axis(&mut self, a: Var, axis: usize) -> Result<Var> {
        self.apply(SumAxis { axis }, &[a])
    }

    /// Means along `axis`, which is removed (see [`MeanAxis`]).
    ///
    /// # Errors
    /// When `axis` is out of range or has length 0.
    pub fn mean_axis(&mut self, a: Var, axis: usize) -> Result<Var> {
        self.apply(MeanAxis { axis }, &[a])
    }
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use crate::{Graph, gradcheck};

    #[test]
    fn values_shapes_and_gradients() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::from_rows(&[[1.0, 5.0, 3.0], [-4.0, 2.0, 8.0]]));
        let s = g.sum(x).unwrap();
        let m = g.mean(x).unwrap();
        let s0 = g.sum_axis(x, 0).unwrap();
        let m1 = g.mean_axis(x, 1).unwrap();
        assert_eq!((g.value(s).unwrap().shape(), g.value(s).unwrap().item()), (&[][..], 15.0));
        assert_eq!(g.value(m).unwrap().item(), 2.5);
        assert_eq!(g.value(s0).unwrap().to_vec(), vec![-3.0, 7.0, 11.0]);
        assert_eq!(g.value(m1).unwrap().to_vec(), vec![3.0, 2.0]);
        g.backward_with_seed(m1, Tensor::from_vec(&[2], vec![3.0, -6.0])).unwrap();
        assert_eq!(g.grad(x).unwrap().to_vec(), vec![1.0, 1.0, 1.0, -2.0, -2.0, -2.0]);
    }

    #[test]
    fn gradcheck_each_over_three_axes() {
        let x = [Tensor::from_shape_fn(&[2, 3, 2], |i| (i[0] * 6 + i[1] * 2 + i[2]) as f64 * 0.37 - 1.5)];
        gradcheck(|g, v| g.sum(v[0]), &x, 1e-6, 1e-8).unwrap();
        gradcheck(|g, v| g.mean(v[0]), &x, 1e-6, 1e-8).unwrap();
        for axis in 0..3 {
            gradcheck(|g, v| g.sum_axis(v[0], axis), &x, 1e-6, 1e-8).unwrap();
            gradcheck(|g, v| g.mean_axis(v[0], axis), &x, 1e-6, 1e-8).unwrap();
        }
    }

    #[test]
    fn bad_axes_and_empty_means_are_errors() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::zeros(&[2, 3]));
        assert_eq!(
            g.sum_axis(x, 2).unwrap_err().to_string(),
            "sum_axis: axis 2 out of range for shape [2, 3]"
        );
        let e = g.leaf(Tensor::zeros(&[0, 3]));
        assert_eq!(g.mean(e).unwrap_err().to_string(), "mean: cannot average zero elements (shape [0, 3])");
        assert!(g.mean_axis(e, 0).is_err());
        let sums = g.mean_axis(e, 1).unwrap();
        assert_eq!(g.value(sums).unwrap().shape(), &[0]);
    }
}
