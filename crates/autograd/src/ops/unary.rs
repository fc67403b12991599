//! Elementwise functions `y = f(x)`: one generic [`Op`] for all of them.
//!
//! For `y_i = f(x_i)` the Jacobian is diagonal, so the vector-Jacobian product is elementwise:
//! `dL/dx_i = dL/dy_i · f'(x_i)`. Each function only says how to compute `f` and `f'`; the
//! forward pass writes into a recycled buffer and the backward pass writes straight into the
//! gradient buffer, so neither allocates in a training loop's steady state.

use backprop_tensor::{Float, Tensor, map_into};

use crate::error::Result;
use crate::op::{BackwardCtx, ForwardCtx, GradSink, Op};

/// An elementwise function `y = f(x)` and its derivative, which [`Unary`] turns into an [`Op`].
///
/// Implement it for a custom elementwise op instead of writing a whole [`Op`]; record it with
/// `graph.apply(Unary(MyFunction), &[x])`.
pub trait UnaryFn<F: Float>: Send + Sync + 'static {
    /// Short name for error messages and graph pictures, e.g. `"exp"`.
    fn name(&self) -> &'static str;

    /// `f(x)`.
    fn value(&self, x: F) -> F;

    /// `f'(x)`, given both `x` and `y = f(x)`: whichever gives the cheaper or more accurate
    /// formula (`exp' = y`, `sigmoid' = y·(1 − y)`).
    fn derivative(&self, x: F, y: F) -> F;

    /// `y[i] = f(x[i])` over a whole slice. The default maps [`UnaryFn::value`] (in parallel
    /// above [`backprop_tensor::PARALLEL_THRESHOLD`]); a function with a vectorised kernel (tanh)
    /// overrides it with one that computes the same values.
    fn map_slice(&self, x: &[F], y: &mut [F]) {
        map_into(x, y, |v| self.value(v));
    }

    /// `y[i] = f(y[i])` over a whole slice, in place (the fused dense layer's activation). The
    /// default maps [`UnaryFn::value`]; a function with a vectorised kernel overrides it with one
    /// that computes the same values.
    fn map_in_place(&self, y: &mut [F]) {
        y.iter_mut().for_each(|v| *v = self.value(*v));
    }
}

/// A [`UnaryFn`] whose derivative can be read off its output: `derivative(y, y)` equals
/// `derivative(x, y)` for every `x` with `y = f(x)` (the derivative reads only `y`, as
/// `σ' = y·(1 − y)`, or only the sign of `x`, which `y` shares, as `relu' = [x > 0]`).
///
/// Such an activation can be fused with the op before it and computed in place over that op's
/// output, which is then gone: [`crate::AffineAct`] is generic over it.
pub trait OutputDerivative<F: Float>: UnaryFn<F> {
    /// The name of the dense layer fused with this activation, e.g. `"affine_relu"`.
    const FUSED_NAME: &'static str;

    /// Whether `f` is the identity (`f' = 1`): then a fused op uses `dL/dy` as `dL/dx` as it is.
    const IS_IDENTITY: bool = false;
}

/// Declares an elementwise function without parameters in one place: the unit struct (with its
/// doc), its [`UnaryFn`] (name, `f(x)` and `f'` from `x` and `y = f(x)`), and the `Graph`
/// method that records it (with its doc).
macro_rules! unary_fn {
    (
        $(#[$type_doc:meta])*
        $ty:ident = $name:literal,
        value($x:pat_param) = $value:expr,
        derivative($dx:pat_param, $dy:pat_param) = $derivative:expr;
        $(#[$method_doc:meta])*
        fn $method:ident;
    ) => {
        $(#[$type_doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $ty;

        impl<F: backprop_tensor::Float> $crate::ops::unary::UnaryFn<F> for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn value(&self, $x: F) -> F {
                $value
            }
            fn derivative(&self, $dx: F, $dy: F) -> F {
                $derivative
            }
        }

        impl<F: backprop_tensor::Float> $crate::graph::Graph<F> {
            $(#[$method_doc])*
            ///
            /// # Errors
            /// When `a` is not a live value of this graph.
            pub fn $method(&mut self, a: $crate::graph::Var) -> $crate::error::Result<$crate::graph::Var> {
                self.apply($crate::ops::unary::Unary($ty), &[a])
            }
        }
    };
}
pub(crate) use unary_fn;

/// The [`Op`] of an elementwise function `f`: `y_i = f(x_i)`, `dL/dx_i = dL/dy_i · f'(x_i)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unary<K>(pub K);

impl<F: Float, K: UnaryFn<F>> Op<F> for Unary<K> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        let x = inputs[0];
        let mut out = ctx.uninit(x.shape());
        self.0.map_slice(x.as_slice(), out.as_mut_slice());
        Ok(out)
    }

    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        let (x, y, g) = (ctx.inputs[0].as_slice(), ctx.output.as_slice(), ctx.grad_output.as_slice());
        grads[0].with_buffer(|buffer, live| {
            write_unary_gradient(&self.0, x, y, g, buffer.as_mut_slice(), live);
            Ok(())
        })
    }
}

/// `d (+)= g ⊙ f'(x, y)` elementwise, for `y = f(x)` and `g = dL/dy`: adds when `accumulate`,
/// overwrites otherwise. The one backward loop of elementwise functions, fused or not.
pub(crate) fn write_unary_gradient<F: Float, K: UnaryFn<F>>(
    f: &K,
    x: &[F],
    y: &[F],
    g: &[F],
    d: &mut [F],
    accumulate: bool,
) {
    let elements = d.iter_mut().zip(g).zip(x.iter().zip(y));
    if accumulate {
        for ((d, &g), (&x, &y)) in elements {
            *d += g * f.derivative(x, y);
        }
    } else {
        for ((d, &g), (&x, &y)) in elements {
            *d = g * f.derivative(x, y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Graph;

    /// f(x) = x³, f'(x) = 3x², as a user would add an elementwise op.
    struct Cube;

    impl UnaryFn<f64> for Cube {
        fn name(&self) -> &'static str {
            "cube"
        }
        fn value(&self, x: f64) -> f64 {
            x * x * x
        }
        fn derivative(&self, x: f64, _y: f64) -> f64 {
            3.0 * x * x
        }
    }

    #[test]
    fn a_custom_elementwise_function_gets_forward_and_backward() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::from_vec(&[3], vec![-1.0, 2.0, 0.5]));
        let y = g.apply(Unary(Cube), &[x]).unwrap();
        assert_eq!(g.value(y).unwrap().to_vec(), vec![-1.0, 8.0, 0.125]);
        g.backward_with_seed(y, Tensor::from_vec(&[3], vec![1.0, 2.0, -4.0])).unwrap();
        assert_eq!(g.grad(x).unwrap().to_vec(), vec![3.0, 24.0, -3.0]);
    }

    #[test]
    fn gradients_of_two_uses_add_up() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::scalar(2.0));
        let a = g.apply(Unary(Cube), &[x]).unwrap();
        let b = g.apply(Unary(Cube), &[x]).unwrap();
        let s = g.add(a, b).unwrap();
        g.backward(s).unwrap();
        assert_eq!(g.grad(x).unwrap().item(), 24.0);
    }
}
