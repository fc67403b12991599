//! The built-in ops, one file per op or tight family: forward, backward, the `Graph` method that
//! records it, and gradient checks beside them.

mod activation;
mod affine;
mod arith;
mod binary;
mod broadcast;
mod columns;
mod exp_ln;
mod matmul;
mod piecewise;
mod power;
mod reduce;
mod scalar;
mod shape;
mod softmax;
mod unary;

pub use activation::{Identity, Sigmoid, Softplus, Tanh};
pub use affine::{Affine, AffineAct, FusedActivation};
pub use arith::{Add, Div, Mul, Sub};
pub use binary::{Binary, BinaryFn};
pub use columns::{ConcatCols, SliceCols};
pub use exp_ln::{Exp, Ln};
pub use matmul::MatMul;
pub use piecewise::{Abs, LeakyRelu, Relu};
pub use power::{Powi, Sqrt, Square};
pub use reduce::{Mean, MeanAxis, Sum, SumAxis};
pub use scalar::{AddScalar, MulScalar, Neg};
pub use shape::{MatrixTranspose, Reshape};
pub use softmax::{LogSoftmax, Softmax};
pub use unary::{OutputDerivative, Unary, UnaryFn};
