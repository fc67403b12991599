//! Matrix product `C = A·B`.
//!
//! For `A: [m, k]`, `B: [k, n]`: `dL/dA = dL/dC·Bᵀ` and `dL/dB = Aᵀ·dL/dC`, each one gemm with
//! a transpose flag, accumulated (`β = 1`) straight into the gradient buffers.

use backprop_tensor::{Float, Tensor, Transpose};

use crate::error::Result;
use crate::graph::{Graph, Var};
use crate::op::{BackwardCtx, ForwardCtx, GradSink, Op};

/// The [`Op`] behind [`Graph::matmul`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MatMul;

impl<F: Float> Op<F> for MatMul {
    fn name(&self) -> &str {
        "matmul"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        let (a, b) = (inputs[0], inputs[1]);
        // Validates shapes with the op's own message before touching a buffer.
        let (m, _) = a.try_dim2("matmul").map_err(|_| matmul_shape_error(a, b))?;
        let (_, n) = b.try_dim2("matmul").map_err(|_| matmul_shape_error(a, b))?;
        if a.shape()[1] != b.shape()[0] {
            return Err(matmul_shape_error(a, b));
        }
        let mut out = ctx.uninit(&[m, n]);
        out.try_gemm_into(F::one(), a, Transpose::No, b, Transpose::No, F::zero())?;
        Ok(out)
    }

    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        let (a, b, g) = (ctx.inputs[0], ctx.inputs[1], ctx.grad_output);
        let (ga, gb) = grads.split_at_mut(1);
        ga[0].add_matmul(F::one(), g, Transpose::No, b, Transpose::Yes)?;
        gb[0].add_matmul(F::one(), a, Transpose::Yes, g, Transpose::No)?;
        Ok(())
    }
}

fn matmul_shape_error<F: Float>(a: &Tensor<F>, b: &Tensor<F>) -> crate::error::AutogradError {
    a.try_matmul(b).expect_err("shapes were found not to fit").into()
}

impl<F: Float> Graph<F> {
    /// Matrix product `a·b` of `[m, k]` and `[k, n]`.
    ///
    /// # Errors
    /// When either is not a matrix or the inner dimensions differ:
    /// `matmul: [3, 4] x [5, 2]: inner dimensions 4 != 5`.
    pub fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        self.apply(MatMul, &[a, b])
    }
}
