//! # backprop-optim
//!
//! Optimizers with `torch.optim`'s exact update rules and defaults, learning-rate schedules,
//! and gradient clipping. Like `torch.optim`, it knows parameters and gradients only: checkpoints
//! of whole runs are `backprop-train`'s.
//!
//! - [`Optimizer`]: `step`, `zero_grad`, learning rate, state export and import, over named
//!   parameters of a [`backprop_autograd::Graph`]. Each update is one fused pass over a
//!   parameter's value, gradient and state buffers.
//! - [`Sgd`] (momentum, dampening, Nesterov, weight decay), [`Adam`] (AMSGrad), [`AdamW`]
//!   (decoupled weight decay), [`RmsProp`] (momentum, centered), [`Adagrad`]; their configs
//!   default to PyTorch's values, and [`OptimizerConfig`] names them. Each is a
//!   [`RuleOptimizer`] running its config's [`UpdateRule`].
//! - Schedules ([`LrScheduler`]): [`StepLr`], [`ExponentialLr`], [`CosineAnnealingLr`],
//!   [`LinearWarmup`], each a [`Scheduled`] [`LrCurve`]; [`ScheduleConfig`] by name.
//! - Clipping: [`clip_grad_norm`], [`clip_grad_value`].
//!
//! Fitting `y = 2x + 1` with SGD and momentum:
//!
//! ```
//! use backprop_autograd::Graph;
//! use backprop_nn::{Activation, Module, Reduction, mlp, mse};
//! use backprop_optim::{Optimizer, Sgd, SgdConfig};
//! use backprop_tensor::{Tensor, TensorRng};
//!
//! let mut g = Graph::<f64>::new();
//! let mut model = mlp(&mut g, &[1, 1], Activation::Identity, &mut TensorRng::seed_from_u64(0)).unwrap();
//! let config = SgdConfig { lr: 0.1, momentum: 0.5, ..SgdConfig::default() };
//! let mut sgd = Sgd::new(model.parameters(), config).unwrap();
//! let x = Tensor::from_vec(&[4, 1], vec![-1.0, 0.0, 1.0, 2.0]);
//! let y = Tensor::from_vec(&[4, 1], vec![-1.0, 1.0, 3.0, 5.0]);
//! for _ in 0..200 {
//!     sgd.zero_grad(&mut g);
//!     let (xv, yv) = (g.input(x.clone()), g.input(y.clone()));
//!     let prediction = model.forward(&mut g, xv).unwrap();
//!     let loss = mse(&mut g, prediction, yv, Reduction::Mean).unwrap();
//!     g.backward(loss).unwrap();
//!     sgd.step(&mut g).unwrap();
//!     g.clear();
//! }
//! let fitted = model.predict(&g, &Tensor::from_vec(&[1, 1], vec![10.0])).unwrap();
//! assert!((fitted.item() - 21.0).abs() < 1e-9);
//! ```
#![warn(missing_docs)]

mod adagrad;
mod adam;
mod clip;
mod config;
mod error;
mod lanes;
mod optimizer;
mod rmsprop;
mod rule;
mod schedule;
mod sgd;

pub use adagrad::Adagrad;
pub use adam::{Adam, AdamW};
pub use clip::{clip_grad_norm, clip_grad_value};
pub use config::{
    AdagradConfig, AdamConfig, AdamFamilyConfig, AdamWConfig, OptimizerConfig, RmsPropConfig, SgdConfig,
};
pub use error::{OptimError, Result};
pub use optimizer::{Optimizer, OptimizerState, ParamState, RuleOptimizer};
pub use rmsprop::RmsProp;
pub use rule::{Chunk, MAX_BUFFERS, UpdateRule};
pub use schedule::{
    CosineAnnealing, CosineAnnealingLr, ExponentialDecay, ExponentialLr, LinearWarmup, LrCurve, LrScheduler,
    ScheduleConfig, ScheduleKind, Scheduled, StepDecay, StepLr, Warmup,
};
pub use sgd::Sgd;
