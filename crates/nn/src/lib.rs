//! # backprop-nn
//!
//! Layers, losses, prediction helpers and PyTorch-compatible model files on
//! [`backprop_autograd`]. PyTorch is the reference: the same initial weights and the same data
//! give the same numbers, parameters carry PyTorch's `state_dict` names, and model files load
//! into the equivalent `torch.nn.Sequential`.
//!
//! - [`Module`]: forward on graph values, named parameters in a stable order, train/eval mode.
//! - [`Dense`]: `Z = X·W + b` on a whole batch with `W: [in, out]`, one gemm forward and one
//!   gemm or reduction per gradient backward; PyTorch's `nn.Linear` initialisation by default.
//! - [`Activation`] (identity, sigmoid, tanh, ReLU, leaky ReLU, softmax) and [`Dropout`] as
//!   layers, [`Sequential`], and the builder [`mlp`] / [`MlpSpec`].
//! - Losses on logits with mean or sum [`Reduction`]: [`mse`], [`bce_with_logits`] (labels 0/1),
//!   [`logistic_pm1`] (labels ±1), [`softmax_cross_entropy`] (class indices), [`hinge`],
//!   [`multi_margin`]; penalties [`l1_penalty`], [`l2_penalty`]; [`Loss`] names them.
//! - Predictions: [`sign_labels`], [`threshold_labels`], [`argmax_labels`], probabilities,
//!   [`Loss::predict_classes`], [`accuracy`].
//! - Model files: [`save_model`], [`load_model`], [`load_weights`] with [`ModelMeta`].
//! - ONNX export of a model and its input scaling: [`export_onnx`] ([`onnx`]).
//!
//! One training step of a small classifier, by hand (`backprop-optim` has the optimizers):
//!
//! ```
//! use backprop_autograd::Graph;
//! use backprop_nn::{Activation, Module, Reduction, bce_with_logits, mlp};
//! use backprop_tensor::{Tensor, TensorRng};
//!
//! let mut g = Graph::<f64>::new();
//! let mut model = mlp(&mut g, &[2, 4, 1], Activation::Tanh, &mut TensorRng::seed_from_u64(0)).unwrap();
//! let x = Tensor::from_rows(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
//! let y = Tensor::from_vec(&[4, 1], vec![0.0, 1.0, 1.0, 0.0]);
//!
//! let loss_of = |g: &mut Graph<f64>, model: &mut backprop_nn::Sequential| {
//!     let (xv, yv) = (g.input(x.clone()), g.input(y.clone()));
//!     let logits = model.forward(g, xv).unwrap();
//!     bce_with_logits(g, logits, yv, Reduction::Mean).unwrap()
//! };
//! let loss = loss_of(&mut g, &mut model);
//! let before = g.value(loss).unwrap().item();
//! g.backward(loss).unwrap();
//! for (_, p) in model.parameters() {
//!     let (w, grad) = g.param_mut_with_grad(p).unwrap();
//!     w.try_axpy(-0.5, grad.unwrap()).unwrap(); // w ← w − γ·∂L/∂w
//! }
//! g.zero_grad();
//! g.clear();
//! let after = loss_of(&mut g, &mut model);
//! assert!(g.value(after).unwrap().item() < before);
//! ```
#![warn(missing_docs)]

mod activation;
pub mod atomic_file;
mod dense;
mod dropout;
mod error;
mod loss;
mod mlp;
pub mod model_file;
mod module;
pub mod onnx;
mod pass;
mod predict;
pub mod safetensors_file;
mod sequential;

pub use activation::{Activation, DEFAULT_LEAKY_SLOPE};
pub use dense::{BiasInit, Dense, DenseInit};
pub use dropout::Dropout;
pub use error::{ModelFileError, ModelFileErrorKind, NnError, Result};
pub use loss::{
    Loss, Reduction, Targets, Task, bce_with_logits, class_indices, hinge, l1_penalty, l2_penalty,
    logistic_pm1, mse, multi_margin, softmax_cross_entropy,
};
pub use mlp::{MlpSpec, mlp};
pub use model_file::{ModelHeader, ModelMeta, load_model, load_weights, read_model_header, save_model};
pub use module::Module;
pub use onnx::export_onnx;
pub use predict::{
    accuracy, argmax_labels, sigmoid_probabilities, sign_labels, softmax_probabilities, threshold_labels,
};
pub use sequential::{Layer, LayerSpec, Sequential};
