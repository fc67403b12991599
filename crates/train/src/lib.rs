//! # backprop-train
//!
//! Training as a library: the one training loop of backprop, which the command line, the web
//! playground and data-parallel training all drive.
//!
//! - [`Trainer`]: mini-batches (shuffled with a seed), the loss and L1/L2 penalties, backward,
//!   a [`GradientReduction`] hook, divergence checks (a non-finite output, loss or gradient
//!   stops the run naming the epoch and the step), gradient clipping, the optimizer step, a
//!   learning-rate schedule per epoch or per step, evaluation every N epochs, early stopping
//!   with patience and restore-best-weights. Its steady state allocates nothing.
//! - [`TrainConfig`] with Keras's defaults; [`Observer`]s receive every step and epoch and can
//!   stop the run; [`BatchSource`] for data that is not a [`backprop_data::Dataset`].
//! - [`evaluate`]: loss and accuracy of a model on a data set.
//! - Checkpoints: [`save_checkpoint`], [`load_checkpoint`] and the [`CheckpointWriter`]
//!   observer; a resumed run ends bit-identical to an uninterrupted one.
//!
//! XOR with a 2-8-1 tanh network, Adam and a validation set:
//!
//! ```
//! use backprop_autograd::Graph;
//! use backprop_data::{Dataset, Targets};
//! use backprop_nn::{Activation, Loss, Module, mlp};
//! use backprop_optim::{AdamConfig, OptimizerConfig};
//! use backprop_tensor::{Tensor, TensorRng};
//! use backprop_train::{TrainConfig, Trainer};
//!
//! let x = Tensor::<f32>::from_rows(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
//! let classes = Targets::Classes { indices: vec![0, 1, 1, 0], names: vec!["0".into(), "1".into()] };
//! let data = Dataset::new(x, classes, vec!["a".into(), "b".into()])?;
//!
//! let mut g = Graph::<f32>::new();
//! let mut model = mlp(&mut g, &[2, 8, 1], Activation::Tanh, &mut TensorRng::seed_from_u64(0))?;
//! let adam = OptimizerConfig::Adam(AdamConfig { lr: 0.05, ..AdamConfig::default() });
//! let mut optimizer = adam.build(model.parameters())?;
//!
//! let config = TrainConfig { epochs: 300, batch_size: 4, ..TrainConfig::default() };
//! let mut trainer = Trainer::new(Loss::BceWithLogits, config)?;
//! let fit = trainer.fit(&mut g, &mut model, optimizer.as_mut(), &data, None, &mut ())?;
//! assert_eq!(fit.last().train.unwrap().accuracy, Some(1.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod checkpoint;
mod config;
mod error;
mod metrics;
mod observer;
mod reduce;
mod report;
mod source;
mod state;
mod trainer;

pub use checkpoint::{
    CHECKPOINT_KEY, CHECKPOINT_VERSION, Checkpoint, CheckpointWriter, OPTIMIZER_PREFIX, TrainingState,
    load_checkpoint, save_checkpoint,
};
pub use config::{Clip, EarlyStopping, Monitor, ScheduleStep, TrainConfig};
pub use error::{Result, TrainError};
pub use metrics::{EVAL_CHUNK_ROWS, EpochRecord, Metrics, evaluate};
pub use observer::{Control, Observer, OnEpochEnd, Snapshot, StepReport, StopReason};
pub use reduce::{GradientReduction, LocalGradients};
pub use report::{
    ClassScores, ClassificationReport, RegressionReport, classification_report, confusion_matrix,
    regression_report, regression_report_of,
};
pub use source::{BatchSource, DatasetBatches, FromFn, SelectedRows};
pub use trainer::{Evaluation, Fit, Trainer};
