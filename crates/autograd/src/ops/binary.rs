//! Elementwise functions of two broadcast operands `y = f(a, b)`: one generic [`Op`] for all.
//!
//! With NumPy broadcasting, result element `o` reads `a_i` and `b_j` (see the index map in
//! `broadcast.rs`). The vector-Jacobian product is elementwise too, and an operand element that
//! was read by several result elements (a stretched axis) receives the sum of their gradients:
//!
//! `dL/da_i = Σ_{o reads a_i} dL/dy_o · ∂f/∂a(a_i, b_j)`, and likewise for `b`.
//!
//! This is the gradient summed back to the operand's shape, computed without a temporary.

use backprop_tensor::{Float, Tensor, zip_into};

use crate::error::Result;
use crate::op::{BackwardCtx, ForwardCtx, GradSink, Op};
use crate::ops::broadcast::Broadcast;

/// An elementwise function `y = f(a, b)` with its partial derivatives, which [`Binary`] turns into
/// an [`Op`] with broadcasting.
pub trait BinaryFn<F: Float>: Send + Sync + 'static {
    /// Short name for error messages and graph pictures, e.g. `"mul"`.
    fn name(&self) -> &'static str;

    /// `f(a, b)`.
    fn value(&self, a: F, b: F) -> F;

    /// `∂f/∂a` at `(a, b)`, given also `y = f(a, b)`.
    fn derivative_a(&self, a: F, b: F, y: F) -> F;

    /// `∂f/∂b` at `(a, b)`, given also `y = f(a, b)`.
    fn derivative_b(&self, a: F, b: F, y: F) -> F;
}

/// The [`Op`] of an elementwise function of two operands that broadcast (NumPy rules).
#[derive(Debug, Clone, Copy, Default)]
pub struct Binary<K>(pub K);

impl<F: Float, K: BinaryFn<F>> Op<F> for Binary<K> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        let (a, b) = (inputs[0], inputs[1]);
        let kernel = &self.0;
        if a.shape() == b.shape() {
            let mut out = ctx.uninit(a.shape());
            zip_into(a.as_slice(), b.as_slice(), out.as_mut_slice(), |x, y| kernel.value(x, y));
            return Ok(out);
        }
        let map = Broadcast::new(kernel.name(), a.shape(), b.shape())?;
        let mut out = ctx.uninit(map.shape());
        let (av, bv, ov) = (a.as_slice(), b.as_slice(), out.as_mut_slice());
        map.for_each(|o, i, j| ov[o] = kernel.value(av[i], bv[j]));
        Ok(out)
    }

    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        for (operand, sink) in grads.iter_mut().enumerate() {
            sink.with_buffer(|buffer, live| self.write_gradient(ctx, operand, buffer, live))?;
        }
        Ok(())
    }
}

impl<K> Binary<K> {
    /// `buffer (+)= dL/d(operand)`: adds when `accumulate`, overwrites otherwise.
    fn write_gradient<F: Float>(
        &self,
        ctx: &BackwardCtx<'_, F>,
        operand: usize,
        buffer: &mut Tensor<F>,
        accumulate: bool,
    ) -> Result<()>
    where
        K: BinaryFn<F>,
    {
        let kernel = &self.0;
        let (a, b) = (ctx.inputs[0].as_slice(), ctx.inputs[1].as_slice());
        let (y, g) = (ctx.output.as_slice(), ctx.grad_output.as_slice());
        let partial = |x: F, z: F, w: F| {
            if operand == 0 { kernel.derivative_a(x, z, w) } else { kernel.derivative_b(x, z, w) }
        };
        let dst = buffer.as_mut_slice();
        if ctx.inputs[0].shape() == ctx.inputs[1].shape() {
            for (o, d) in dst.iter_mut().enumerate() {
                let local = g[o] * partial(a[o], b[o], y[o]);
                *d = if accumulate { *d + local } else { local };
            }
            return Ok(());
        }
        if !accumulate {
            dst.fill(F::zero());
        }
        let map = Broadcast::new(kernel.name(), ctx.inputs[0].shape(), ctx.inputs[1].shape())?;
        map.for_each(|o, i, j| {
            let target = if operand == 0 { i } else { j };
            dst[target] += g[o] * partial(a[i], b[j], y[o]);
        });
        Ok(())
    }
}
