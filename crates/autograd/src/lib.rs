//! # backprop-autograd
//!
//! Reverse-mode automatic differentiation (backpropagation) over a define-by-run computation
//! graph, for the `f32`/`f64` tensors of `backprop_tensor`.
//!
//! - A [`Graph`] is an arena. Every op runs at once on real values and records a node (its
//!   output, the op, the input handles); a [`Var`] is a `Copy` handle to a value. Parameters
//!   ([`Graph::param`]) survive [`Graph::clear`]; everything else is dropped at the end of a step
//!   and its memory recycled for the next one. [`Graph::step`] runs one step and clears after it;
//!   a loop that never clears gets [`AutogradError::TapeNotCleared`] at its third step instead of
//!   a tape that grows and slows every step down.
//! - [`Graph::backward`] visits the recorded nodes once, newest first (a reverse topological
//!   order), handing each op `dL/d(output)` and adding the vector-Jacobian products it returns
//!   into its inputs' gradients: linear in the number of edges. A value used by several ops gets
//!   the sum of their contributions (the chain rule's sum over paths).
//! - An op is a type implementing [`Op`], PyTorch's `autograd.Function`: `forward` on values,
//!   `backward_into` from `dL/d(output)` to one `dL/d(input)` per input, added into that input's
//!   [`GradSink`]. Elementwise functions only need [`UnaryFn`] or [`BinaryFn`].
//! - [`gradcheck`] compares backpropagation with central finite differences; [`Graph::to_dot`]
//!   draws the graph, with local derivatives on the edges of scalar graphs.
//!
//! Built-in ops, as `Graph` methods: `matmul`, `affine` (`X·W + b`), `add`, `sub`, `mul`, `div`
//! (NumPy broadcasting), `neg`, `add_scalar`, `mul_scalar`, `powi`, `square`, `sqrt`, `exp`, `ln`,
//! `abs`, `sum`, `mean`, `sum_axis`, `mean_axis`, `sigmoid`, `tanh`, `relu`, `leaky_relu`,
//! `softplus`, `softmax` and `log_softmax` (along rows), `reshape`, `transpose`, `concat_cols`,
//! `slice_cols`. Each op's doc comment gives its formula and derivative. Fused for speed, with
//! the values and gradients of the ops it replaces bit for bit: [`Graph::affine_act`]
//! (`act(X·W + b)` for ReLU, leaky ReLU, tanh, sigmoid: one node and one pass over the output).
//!
//! Gradients: after a backward pass, [`Graph::grad`] returns `dL/dv`. A value the output does not
//! depend on has no gradient: [`Graph::grad_opt`] returns `None` (meaning zero) and
//! [`Graph::grad`] an [`AutogradError::NoGrad`] error that says why. Gradients of parameters and
//! leaves add up over backward passes until [`Graph::zero_grad`]. Misuse (a value of another
//! graph, a value from before [`Graph::clear`], shapes that do not fit) is an error naming the op
//! and the shapes, never a panic or a wrong number.
//!
//! ## Gradients of a formula
//!
//! `f(x, y) = x·y + eˣ` at `(1, 2)`: `∂f/∂x = y + eˣ`, `∂f/∂y = x`.
//!
//! ```
//! use backprop_autograd::Graph;
//! use backprop_tensor::Tensor;
//!
//! let mut g = Graph::<f64>::new();
//! let x = g.leaf(Tensor::scalar(1.0));
//! let y = g.leaf(Tensor::scalar(2.0));
//! let xy = g.mul(x, y)?;
//! let ex = g.exp(x)?;
//! let f = g.add(xy, ex)?;
//! g.backward(f)?;
//! assert_eq!(g.value(f)?.item(), 2.0 + 1f64.exp());
//! assert_eq!(g.grad(x)?.item(), 2.0 + 1f64.exp());
//! assert_eq!(g.grad(y)?.item(), 1.0);
//! # Ok::<(), backprop_autograd::AutogradError>(())
//! ```
//!
//! ## A custom op
//!
//! `Cube`: `y = x³`, `dL/dx = 3x²·dL/dy`. `forward` takes its output buffer from the context (a
//! recycled one in a training loop); `backward_into`, the one backward method an op implements,
//! hands each input's gradient to that input's sink, which adds it to what other paths gave.
//!
//! ```
//! use backprop_autograd::{BackwardCtx, ForwardCtx, GradSink, Graph, Op, Result, gradcheck};
//! use backprop_tensor::{Float, Tensor};
//!
//! /// y = x³ elementwise; dy/dx = 3x².
//! struct Cube;
//!
//! impl<F: Float> Op<F> for Cube {
//!     fn name(&self) -> &str {
//!         "cube"
//!     }
//!
//!     fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
//!         let x = inputs[0];
//!         let mut y = ctx.uninit(x.shape());
//!         for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
//!             *y = x * x * x;
//!         }
//!         Ok(y)
//!     }
//!
//!     fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
//!         let three = F::from_f64(3.0);
//!         let dx = ctx.inputs[0].try_zip_map("cube", ctx.grad_output, |x, g| three * x * x * g)?;
//!         grads[0].accumulate("cube", dx)
//!     }
//! }
//!
//! // Backpropagation agrees with finite differences...
//! let x = Tensor::from_vec(&[2, 2], vec![0.5, -1.5, 2.0, 0.1]);
//! let report = gradcheck(|g, v| g.apply(Cube, &[v[0]]), &[x], 1e-6, 1e-6).unwrap();
//! assert!(report.error < 1e-8, "{report}");
//!
//! // ... and the op mixes with the built-in ones: d(Σ (2x)³)/dx = 24x².
//! let mut g = Graph::<f64>::new();
//! let x = g.leaf(Tensor::from_vec(&[2], vec![1.0, -0.5]));
//! let two_x = g.mul_scalar(x, 2.0)?;
//! let cubed = g.apply(Cube, &[two_x])?;
//! let total = g.sum(cubed)?;
//! g.backward(total)?;
//! assert_eq!(g.grad(x)?.to_vec(), vec![24.0, 6.0]);
//! # Ok::<(), backprop_autograd::AutogradError>(())
//! ```
//!
//! The example program `cargo run -p backprop-autograd --example custom_op` does the same and
//! prints the graph of a scalar computation in Graphviz DOT.
#![warn(missing_docs)]

mod backward;
mod dot;
mod error;
mod gradcheck;
mod graph;
mod op;
mod op_arena;
mod ops;
mod pool;
mod store;
mod var;

pub use error::{AutogradError, Result};
pub use gradcheck::{GradcheckError, GradcheckReport, gradcheck, gradcheck_error};
pub use graph::{Graph, Var};
pub use op::{BackwardCtx, ForwardCtx, GradSink, Op};
pub use ops::*;
