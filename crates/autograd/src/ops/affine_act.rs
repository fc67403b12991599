//! A dense layer and its activation as one op: `Y = act(X·W + b)`.
//!
//! For `X: [m, k]`, `W: [k, n]`, `b: [n]` and `Z = X·W + b`:
//!
//! - forward: the bias is copied into every row of `Y`, one gemm adds `X·W` on top (`β = 1`),
//!   and the activation runs in place over `Y`: one pass over the output instead of two, and one
//!   node instead of two;
//! - backward: `dZ = dY ⊙ act'(Z)`, where `act'` is read off the output `Y` (`relu' = [y > 0]`,
//!   `tanh' = 1 − y²`, `σ' = y·(1 − y)`, `leaky_relu' = 1 or α` for `α > 0`), in a recycled
//!   scratch buffer; then as [`crate::Affine`]: `dX = dZ·Wᵀ`, `dW = Xᵀ·dZ` (gemms straight into
//!   the gradient buffers) and `db = Σ_rows dZ`.
//!
//! Values and gradients are those of [`Graph::affine`] followed by the activation op, bit for
//! bit: the same kernels, the same derivative formulas, the same products.

use backprop_tensor::{Float, Tensor, Transpose, leaky_relu, relu, sigmoid, tanh_in_place};

use crate::error::{AutogradError, Result};
use crate::graph::{Graph, Var};
use crate::op::{BackwardCtx, ForwardCtx, GradSink, Op};
use crate::ops::affine::{affine_dims, write_bias_gradient};

/// The activation of an [`AffineAct`]: one whose derivative can be read off its output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FusedActivation {
    /// `max(z, 0)`; derivative `[y > 0]` (0 at the kink, as [`crate::Relu`]).
    Relu,
    /// `z` for `z > 0`, else `α·z`, with `α > 0` (so that `y > 0` exactly when `z > 0`);
    /// derivative 1 or `α`.
    LeakyRelu(f64),
    /// `tanh(z)`; derivative `1 − y²`.
    Tanh,
    /// `σ(z)`; derivative `y·(1 − y)`.
    Sigmoid,
}

impl FusedActivation {
    fn name(self) -> &'static str {
        match self {
            FusedActivation::Relu => "affine_relu",
            FusedActivation::LeakyRelu(_) => "affine_leaky_relu",
            FusedActivation::Tanh => "affine_tanh",
            FusedActivation::Sigmoid => "affine_sigmoid",
        }
    }

    /// `y = act(y)` in place.
    fn apply<F: Float>(self, y: &mut [F]) {
        match self {
            FusedActivation::Relu => y.iter_mut().for_each(|v| *v = relu(*v)),
            FusedActivation::LeakyRelu(alpha) => {
                let alpha = F::from_f64(alpha);
                y.iter_mut().for_each(|v| *v = leaky_relu(*v, alpha));
            }
            FusedActivation::Tanh => tanh_in_place(y),
            FusedActivation::Sigmoid => y.iter_mut().for_each(|v| *v = sigmoid(*v)),
        }
    }

    /// `dz (+)= g ⊙ act'(y)`: overwrites when `accumulate` is false.
    fn write_gradient<F: Float>(self, g: &[F], y: &[F], dz: &mut [F], accumulate: bool) {
        let derivative = |y: F| match self {
            FusedActivation::Relu => {
                if y > F::zero() {
                    F::one()
                } else {
                    F::zero()
                }
            }
            FusedActivation::LeakyRelu(alpha) => {
                if y > F::zero() {
                    F::one()
                } else {
                    F::from_f64(alpha)
                }
            }
            FusedActivation::Tanh => F::one() - y * y,
            FusedActivation::Sigmoid => y * (F::one() - y),
        };
        let elements = dz.iter_mut().zip(g.iter().zip(y));
        if accumulate {
            elements.for_each(|(d, (&g, &y))| *d += g * derivative(y));
        } else {
            elements.for_each(|(d, (&g, &y))| *d = g * derivative(y));
        }
    }
}

/// The [`Op`] behind [`Graph::affine_act`]: `Y = act(X·W + b)`.
#[derive(Debug, Clone, Copy)]
pub struct AffineAct(pub FusedActivation);

impl<F: Float> Op<F> for AffineAct {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        let (x, w, b) = (inputs[0], inputs[1], inputs[2]);
        let (m, _, n) = affine_dims(self.0.name(), x, w, b)?;
        let mut out = ctx.uninit(&[m, n]);
        if n > 0 {
            for row in out.as_mut_slice().chunks_exact_mut(n) {
                row.copy_from_slice(b.as_slice());
            }
        }
        out.try_gemm_into(F::one(), x, Transpose::No, w, Transpose::No, F::one())?;
        self.0.apply(out.as_mut_slice());
        Ok(out)
    }

    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        let (x, w) = (ctx.inputs[0], ctx.inputs[1]);
        let n = w.shape()[1];
        let [dx, dw, db] = grads else {
            return Err(AutogradError::invalid(
                self.0.name(),
                format!("{} gradient sinks for 3 inputs", grads.len()),
            ));
        };
        let mut dz = dx.scratch(ctx.output.shape());
        self.0.write_gradient(ctx.grad_output.as_slice(), ctx.output.as_slice(), dz.as_mut_slice(), false);
        let result = (|| {
            dx.add_matmul(F::one(), &dz, Transpose::No, w, Transpose::Yes)?;
            dw.add_matmul(F::one(), x, Transpose::Yes, &dz, Transpose::No)?;
            db.with_buffer(|buffer, live| {
                write_bias_gradient(&dz, n, buffer, live);
                Ok(())
            })
        })();
        dx.recycle(dz);
        result
    }
}

impl<F: Float> Graph<F> {
    /// A dense layer with its activation, fused (see [`AffineAct`]): `act(x·w + b)` for
    /// `x: [m, k]`, `w: [k, n]`, `b: [n]`; the result is `[m, n]`. The same values and gradients
    /// as [`Graph::affine`] followed by the activation, in one node and one pass over the output.
    ///
    /// # Errors
    /// When the shapes do not fit (as [`Graph::affine`], under the op's name, e.g.
    /// `affine_relu: X [4, 3] · W [2, 5] + b [5]: inner dimensions 3 != 2`), or a leaky ReLU
    /// slope is not a finite number above 0.
    pub fn affine_act(&mut self, x: Var, w: Var, b: Var, activation: FusedActivation) -> Result<Var> {
        if let FusedActivation::LeakyRelu(alpha) = activation
            && !(alpha.is_finite() && alpha > 0.0)
        {
            return Err(AutogradError::invalid(
                activation.name(),
                format!("the slope must be a finite number above 0 to be fused, got {alpha}"),
            ));
        }
        self.apply(AffineAct(activation), &[x, w, b])
    }
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use super::FusedActivation;
    use crate::{Graph, gradcheck};

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
