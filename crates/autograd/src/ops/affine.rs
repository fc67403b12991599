//! The fused affine map of a dense layer: `Z = X·W + b`.
//!
//! For `X: [m, k]`, `W: [k, n]`, `b: [n]` (added to every row):
//!
//! - `dL/dX = dL/dZ · Wᵀ` (`[m, n]·[n, k]`),
//! - `dL/dW = Xᵀ · dL/dZ` (`[k, m]·[m, n]`),
//! - `dL/db = Σ_rows dL/dZ`, the column sums (the bias was broadcast over the rows).
//!
//! The forward pass copies the bias into every row of the output and then runs one gemm with
//! `β = 1` on top of it; the backward pass runs one gemm per matrix gradient with transpose flags,
//! straight into the gradient buffers. No transposed copy and no temporary is made.

use backprop_tensor::{Float, Tensor, Transpose};

use crate::error::{AutogradError, Result};
use crate::graph::{Graph, Var};
use crate::op::{BackwardCtx, ForwardCtx, GradSink, Op};

/// The [`Op`] behind [`Graph::affine`]: `Z = X·W + b`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Affine;

/// `(m, k, n)` of `X·W + b`, or an error naming `op` and all three shapes.
pub(crate) fn affine_dims<F: Float>(
    op: &str,
    x: &Tensor<F>,
    w: &Tensor<F>,
    b: &Tensor<F>,
) -> Result<(usize, usize, usize)> {
    let fail = |reason: String| {
        AutogradError::invalid(
            op,
            format!("X {:?} · W {:?} + b {:?}: {reason}", x.shape(), w.shape(), b.shape()),
        )
    };
    let (&[m, k], &[k2, n]) = (x.shape(), w.shape()) else {
        return Err(fail("X and W must be matrices".into()));
    };
    if k != k2 {
        return Err(fail(format!("inner dimensions {k} != {k2}")));
    }
    if b.shape() != [n] {
        return Err(fail(format!("b must have shape [{n}], one value per column of W")));
    }
    Ok((m, k, n))
}

/// `db (+)= column sums of g` for `g` with `n` columns.
pub(crate) fn write_bias_gradient<F: Float>(g: &Tensor<F>, n: usize, db: &mut Tensor<F>, accumulate: bool) {
    let dst = db.as_mut_slice();
    if !accumulate {
        dst.fill(F::zero());
    }
    if n == 0 {
        return;
    }
    for row in g.as_slice().chunks_exact(n) {
        dst.iter_mut().zip(row).for_each(|(d, &v)| *d += v);
    }
}

impl<F: Float> Op<F> for Affine {
    fn name(&self) -> &str {
        "affine"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        let (x, w, b) = (inputs[0], inputs[1], inputs[2]);
        let (m, _, n) = affine_dims("affine", x, w, b)?;
        let mut out = ctx.uninit(&[m, n]);
        if n > 0 {
            for row in out.as_mut_slice().chunks_exact_mut(n) {
                row.copy_from_slice(b.as_slice());
            }
        }
        out.try_gemm_into(F::one(), x, Transpose::No, w, Transpose::No, F::one())?;
        Ok(out)
    }

    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        let (x, w, g) = (ctx.inputs[0], ctx.inputs[1], ctx.grad_output);
        let n = w.shape()[1];
        let [dx, dw, db] = grads else {
            return Err(AutogradError::invalid(
                "affine",
                format!("{} gradient sinks for 3 inputs", grads.len()),
            ));
        };
        dx.add_matmul(F::one(), g, Transpose::No, w, Transpose::Yes)?;
        dw.add_matmul(F::one(), x, Transpose::Yes, g, Transpose::No)?;
        db.with_buffer(|buffer, live| {
            write_bias_gradient(g, n, buffer, live);
            Ok(())
        })
    }
}

impl<F: Float> Graph<F> {
    /// The affine map `x·w + b` of a dense layer, fused (see [`Affine`]): `x: [m, k]` (a batch of
    /// rows), `w: [k, n]`, `b: [n]` added to every row; the result is `[m, n]`.
    ///
    /// # Errors
    /// When the shapes do not fit, naming all three:
    /// `affine: X [4, 3] · W [2, 5] + b [5]: inner dimensions 3 != 2`.
    pub fn affine(&mut self, x: Var, w: Var, b: Var) -> Result<Var> {
        self.apply(Affine, &[x, w, b])
    }
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use crate::{Graph, gradcheck};

    #[test]
    fn matches_matmul_plus_bias() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
        let w = g.param("w", Tensor::from_rows(&[[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]]));
        let b = g.param("b", Tensor::from_vec(&[3], vec![0.1, 0.2, 0.3]));
        let z = g.affine(x, w, b).unwrap();
        let xw = g.matmul(x, w).unwrap();
        let reference = g.add(xw, b).unwrap();
        assert_eq!(g.value(z).unwrap(), g.value(reference).unwrap());
        let seed = Tensor::from_rows(&[[1.0, 0.0, -1.0], [2.0, 1.0, 0.0], [0.5, 0.5, 0.5]]);
        g.backward_with_seed(z, seed.clone()).unwrap();
        let (dx, dw, db) =
            (g.grad(x).unwrap().clone(), g.grad(w).unwrap().clone(), g.grad(b).unwrap().clone());
        assert_eq!(db.to_vec(), vec![3.5, 1.5, -0.5]);
        let mut h = Graph::<f64>::new();
        let (x2, w2, b2) = (
            h.leaf(g.value(x).unwrap().clone()),
            h.leaf(g.value(w).unwrap().clone()),
            h.leaf(g.value(b).unwrap().clone()),
        );
        let xw = h.matmul(x2, w2).unwrap();
        let reference = h.add(xw, b2).unwrap();
        h.backward_with_seed(reference, seed).unwrap();
        assert_eq!(h.grad(x2).unwrap(), &dx);
        assert_eq!(h.grad(w2).unwrap(), &dw);
        assert_eq!(h.grad(b2).unwrap(), &db);
    }

    #[test]
    fn gradcheck_including_one_row_and_one_column() {
        for (m, k, n) in [(3, 2, 4), (1, 1, 1), (1, 3, 2), (4, 2, 1)] {
            let inputs = [
                Tensor::from_shape_fn(&[m, k], |i| (i[0] * 7 + i[1] * 3) as f64 * 0.13 - 0.6),
                Tensor::from_shape_fn(&[k, n], |i| (i[0] * 5 + i[1] * 2) as f64 * 0.21 - 0.4),
                Tensor::from_shape_fn(&[n], |i| i[0] as f64 * 0.3 - 0.2),
            ];
            gradcheck(|g, v| g.affine(v[0], v[1], v[2]), &inputs, 1e-6, 1e-8).unwrap();
        }
    }

    #[test]
    fn shape_errors_name_all_three_shapes() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::zeros(&[4, 3]));
        let w = g.leaf(Tensor::zeros(&[2, 5]));
        let w_ok = g.leaf(Tensor::zeros(&[3, 5]));
        let b = g.leaf(Tensor::zeros(&[5]));
        let b_bad = g.leaf(Tensor::zeros(&[1, 5]));
        assert_eq!(
            g.affine(x, w, b).unwrap_err().to_string(),
            "affine: X [4, 3] · W [2, 5] + b [5]: inner dimensions 3 != 2"
        );
        assert_eq!(
            g.affine(x, w_ok, b_bad).unwrap_err().to_string(),
            "affine: X [4, 3] · W [3, 5] + b [1, 5]: b must have shape [5], one value per column of W"
        );
        assert_eq!(
            g.affine(b, w_ok, b).unwrap_err().to_string(),
            "affine: X [5] · W [3, 5] + b [5]: X and W must be matrices"
        );
    }
}
