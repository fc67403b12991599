//! The dense layer: `Y = act(X·W + b)`, one op for the plain affine map (`act` the identity,
//! [`Graph::affine`]) and for the fused activations ([`Graph::affine_act`]).
//!
//! For `X: [m, k]`, `W: [k, n]`, `b: [n]` (added to every row) and `Z = X·W + b`:
//!
//! - forward: the bias is copied into every row of `Y`, one gemm adds `X·W` on top (`β = 1`),
//!   and the activation runs in place over `Y`: one pass over the output and one node instead
//!   of an affine node and an activation node;
//! - backward: `dZ = dY ⊙ act'(Z)`, with `act'` read off the output `Y`
//!   ([`OutputDerivative`]), in a recycled scratch buffer (for the identity `dZ` is `dY`
//!   itself); then `dX = dZ·Wᵀ` (`[m, n]·[n, k]`), `dW = Xᵀ·dZ` (`[k, m]·[m, n]`), one gemm
//!   each with transpose flags straight into the gradient buffers, and `db = Σ_rows dZ`, the
//!   column sums (the bias was broadcast over the rows).
//!
//! No transposed copy and no temporary is made. Values and gradients are those of
//! [`Graph::affine`] followed by the activation's own op, bit for bit: the same kernels, the
//! same derivative formulas (each stated once, in the activation's [`UnaryFn`]), the same
//! products.

use backprop_tensor::{Float, Tensor, Transpose};

use crate::error::{AutogradError, Result};
use crate::graph::{Graph, Var};
use crate::op::{BackwardCtx, ForwardCtx, GradSink, Op};
use crate::ops::activation::{Identity, Sigmoid, Tanh};
use crate::ops::piecewise::{LeakyRelu, Relu};
use crate::ops::unary::{OutputDerivative, write_unary_gradient};

/// The [`Op`] behind [`Graph::affine_act`] and [`Graph::affine`]: `Y = act(X·W + b)` for an
/// activation `A` whose derivative is read off its output.
#[derive(Debug, Clone, Copy, Default)]
pub struct AffineAct<A>(pub A);

/// The [`Op`] behind [`Graph::affine`]: `Z = X·W + b`, the dense layer without an activation.
pub type Affine = AffineAct<Identity>;

/// The activation of [`Graph::affine_act`], chosen at run time; each is the [`AffineAct`] of its
/// elementwise op.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FusedActivation {
    /// [`Relu`]: `max(z, 0)`; derivative `[y > 0]` (0 at the kink).
    Relu,
    /// [`LeakyRelu`]: `z` for `z > 0`, else `α·z`, with `α > 0` (so that `y > 0` exactly when
    /// `z > 0`); derivative 1 or `α`.
    LeakyRelu(f64),
    /// [`Tanh`]: derivative `1 − y²`.
    Tanh,
    /// [`Sigmoid`]: derivative `y·(1 − y)`.
    Sigmoid,
}

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
fn write_bias_gradient<F: Float>(g: &Tensor<F>, n: usize, db: &mut Tensor<F>, accumulate: bool) {
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

/// The gradients of `Z = X·W + b` from `dZ`, into the three sinks.
fn affine_backward<F: Float>(
    dz: &Tensor<F>,
    x: &Tensor<F>,
    w: &Tensor<F>,
    grads: [&mut GradSink<'_, F>; 3],
) -> Result<()> {
    let [dx, dw, db] = grads;
    let n = w.shape()[1];
    dx.add_matmul(F::one(), dz, Transpose::No, w, Transpose::Yes)?;
    dw.add_matmul(F::one(), x, Transpose::Yes, dz, Transpose::No)?;
    db.with_buffer(|buffer, live| {
        write_bias_gradient(dz, n, buffer, live);
        Ok(())
    })
}

impl<F: Float, A: OutputDerivative<F>> Op<F> for AffineAct<A> {
    fn name(&self) -> &str {
        A::FUSED_NAME
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        let (x, w, b) = (inputs[0], inputs[1], inputs[2]);
        let (m, _, n) = affine_dims(A::FUSED_NAME, x, w, b)?;
        let mut out = ctx.uninit(&[m, n]);
        let bias = b.as_slice();
        backprop_tensor::fill_rows(out.as_mut_slice(), n, |_| bias);
        out.try_gemm_into(F::one(), x, Transpose::No, w, Transpose::No, F::one())?;
        self.0.map_in_place(out.as_mut_slice());
        Ok(out)
    }

    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        let (x, w) = (ctx.inputs[0], ctx.inputs[1]);
        let [dx, dw, db] = grads else {
            return Err(AutogradError::invalid(
                A::FUSED_NAME,
                format!("{} gradient sinks for 3 inputs", grads.len()),
            ));
        };
        if A::IS_IDENTITY {
            return affine_backward(ctx.grad_output, x, w, [dx, dw, db]);
        }
        let mut dz = dx.scratch(ctx.output.shape());
        let y = ctx.output.as_slice();
        // The output stands in for the input the activation overwrote (see `OutputDerivative`).
        write_unary_gradient(&self.0, y, y, ctx.grad_output.as_slice(), dz.as_mut_slice(), false);
        let result = affine_backward(&dz, x, w, [dx, dw, db]);
        dx.recycle(dz);
        result
    }
}

impl<F: Float> Graph<F> {
    /// The affine map `x·w + b` of a dense layer, fused (see [`AffineAct`]): `x: [m, k]` (a batch of
    /// rows), `w: [k, n]`, `b: [n]` added to every row; the result is `[m, n]`.
    ///
    /// # Errors
    /// When the shapes do not fit, naming all three:
    /// `affine: X [4, 3] · W [2, 5] + b [5]: inner dimensions 3 != 2`.
    pub fn affine(&mut self, x: Var, w: Var, b: Var) -> Result<Var> {
        self.apply(AffineAct(Identity), &[x, w, b])
    }

    /// A dense layer with its activation, fused (see [`AffineAct`]): `act(x·w + b)` for
    /// `x: [m, k]`, `w: [k, n]`, `b: [n]`; the result is `[m, n]`. The same values and gradients
    /// as [`Graph::affine`] followed by the activation, in one node and one pass over the output.
    ///
    /// # Errors
    /// When the shapes do not fit (as [`Graph::affine`], under the op's name, e.g.
    /// `affine_relu: X [4, 3] · W [2, 5] + b [5]: inner dimensions 3 != 2`), or a leaky ReLU
    /// slope is not a finite number above 0.
    pub fn affine_act(&mut self, x: Var, w: Var, b: Var, activation: FusedActivation) -> Result<Var> {
        let inputs = [x, w, b];
        match activation {
            FusedActivation::Relu => self.apply(AffineAct(Relu), &inputs),
            FusedActivation::LeakyRelu(alpha) if alpha.is_finite() && alpha > 0.0 => {
                self.apply(AffineAct(LeakyRelu(F::from_f64(alpha))), &inputs)
            }
            FusedActivation::LeakyRelu(alpha) => Err(AutogradError::invalid(
                <LeakyRelu<F> as OutputDerivative<F>>::FUSED_NAME,
                format!("the slope must be a finite number above 0 to be fused, got {alpha}"),
            )),
            FusedActivation::Tanh => self.apply(AffineAct(Tanh), &inputs),
            FusedActivation::Sigmoid => self.apply(AffineAct(Sigmoid), &inputs),
        }
    }
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use super::FusedActivation;
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

    const ALL: [FusedActivation; 4] = [
        FusedActivation::Relu,
        FusedActivation::LeakyRelu(0.1),
        FusedActivation::Tanh,
        FusedActivation::Sigmoid,
    ];

    fn unfused(g: &mut Graph<f32>, act: FusedActivation, z: crate::Var) -> crate::Var {
        match act {
            FusedActivation::Relu => g.relu(z).unwrap(),
            FusedActivation::LeakyRelu(alpha) => g.leaky_relu(z, alpha as f32).unwrap(),
            FusedActivation::Tanh => g.tanh(z).unwrap(),
            FusedActivation::Sigmoid => g.sigmoid(z).unwrap(),
        }
    }

    #[test]
    fn equals_affine_then_activation_bit_for_bit() {
        // Small (register kernel) and larger (blocked kernel) products, f32.
        for (m, k, n) in [(10, 8, 8), (64, 96, 80)] {
            let x = Tensor::from_shape_fn(&[m, k], |i| ((i[0] * 7 + i[1] * 3) % 11) as f32 * 0.1 - 0.5);
            let w = Tensor::from_shape_fn(&[k, n], |i| ((i[0] * 5 + i[1] * 2) % 13) as f32 * 0.07 - 0.4);
            let b = Tensor::from_shape_fn(&[n], |i| (i[0] % 5) as f32 * 0.1 - 0.2);
            let seed = Tensor::from_shape_fn(&[m, n], |i| ((i[0] + 2 * i[1]) % 7) as f32 * 0.3 - 1.0);
            for act in ALL {
                let run = |fused: bool| {
                    let mut g = Graph::<f32>::new();
                    let xv = g.leaf(x.clone());
                    let wv = g.param("w", w.clone());
                    let bv = g.param("b", b.clone());
                    let y = if fused {
                        g.affine_act(xv, wv, bv, act).unwrap()
                    } else {
                        let z = g.affine(xv, wv, bv).unwrap();
                        unfused(&mut g, act, z)
                    };
                    g.backward_with_seed(y, seed.clone()).unwrap();
                    let out = |v| g.grad(v).unwrap().clone();
                    (g.value(y).unwrap().clone(), out(xv), out(wv), out(bv))
                };
                assert_eq!(run(true), run(false), "{act:?} on {m}x{k}x{n}");
            }
        }
    }

    #[test]
    fn gradcheck_each_activation() {
        let inputs = [
            Tensor::from_shape_fn(&[4, 3], |i| (i[0] * 7 + i[1] * 3) as f64 * 0.13 - 0.6),
            Tensor::from_shape_fn(&[3, 5], |i| (i[0] * 5 + i[1] * 2) as f64 * 0.21 - 0.9),
            Tensor::from_shape_fn(&[5], |i| i[0] as f64 * 0.3 - 0.7),
        ];
        for act in ALL {
            gradcheck(|g, v| g.affine_act(v[0], v[1], v[2], act), &inputs, 1e-6, 1e-7)
                .unwrap_or_else(|e| panic!("{act:?}: {e}"));
        }
    }

    #[test]
    fn bad_shapes_and_slopes_are_named() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::zeros(&[4, 3]));
        let w = g.leaf(Tensor::zeros(&[2, 5]));
        let b = g.leaf(Tensor::zeros(&[5]));
        assert_eq!(
            g.affine_act(x, w, b, FusedActivation::Relu).unwrap_err().to_string(),
            "affine_relu: X [4, 3] · W [2, 5] + b [5]: inner dimensions 3 != 2"
        );
        let w = g.leaf(Tensor::zeros(&[3, 5]));
        let err = g.affine_act(x, w, b, FusedActivation::LeakyRelu(-0.5)).unwrap_err().to_string();
        assert_eq!(err, "affine_leaky_relu: the slope must be a finite number above 0 to be fused, got -0.5");
    }
}
