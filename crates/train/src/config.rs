//! What a [`crate::Trainer`] is told: the settings of a run, with the defaults a Keras or
//! PyTorch user expects.

use backprop_optim::ScheduleConfig;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The settings of a training run.
///
/// The defaults are Keras's `fit`: batches of 32, shuffled every epoch, one epoch, evaluation
/// after every epoch; no penalty, schedule, clipping or early stopping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Rows per mini-batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Epochs to train (fewer when early stopping or an observer stops the run).
    pub epochs: u64,
    /// Whether each epoch visits the rows in a new random order.
    pub shuffle: bool,
    /// The seed of the shuffles: the same seed gives the same batches (and, with the same
    /// threads, the same weights bit for bit).
    pub seed: u64,
    /// Evaluate on the training and validation data every this many epochs (and after the
    /// last); 0 evaluates only before training and after the last epoch.
    pub eval_every: u64,
    /// The L1 penalty `l1 · Σ|w|` on the weights (parameters named `weight` or `*.weight`).
    pub l1: f64,
    /// The L2 penalty `l2 · Σw²` on the weights.
    pub l2: f64,
    /// A learning-rate schedule over the optimizer's rate, stepped as [`Self::schedule_step`] says.
    pub schedule: Option<ScheduleConfig>,
    /// When the schedule advances.
    pub schedule_step: ScheduleStep,
    /// Gradient clipping, applied after the gradient reduction and before the optimizer step.
    pub clip: Option<Clip>,
    /// Stop when a validation metric stops improving.
    pub early_stopping: Option<EarlyStopping>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch_size: 32,
            epochs: 1,
            shuffle: true,
            seed: 0,
            eval_every: 1,
            l1: 0.0,
            l2: 0.0,
            schedule: None,
            schedule_step: ScheduleStep::Epoch,
            clip: None,
            early_stopping: None,
        }
    }
}

impl TrainConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// A batch size of 0, a negative or non-finite penalty, an invalid clipping threshold or
    /// early-stopping setting, naming it.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(TrainError::invalid("batch_size", "must be at least 1"));
        }
        for (what, v) in [("l1", self.l1), ("l2", self.l2)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(TrainError::invalid(what, format!("must be a finite number >= 0, got {v}")));
            }
        }
        if let Some(clip) = self.clip {
            let v = clip.threshold();
            if !(v.is_finite() && v > 0.0) {
                return Err(TrainError::invalid(
                    "clip",
                    format!("the threshold must be a positive number, got {v}"),
                ));
            }
        }
        if let Some(e) = &self.early_stopping
            && !(e.min_delta.is_finite() && e.min_delta >= 0.0)
        {
            return Err(TrainError::invalid(
                "early_stopping",
                format!("min_delta must be a finite number >= 0, got {}", e.min_delta),
            ));
        }
        Ok(())
    }

    /// Whether the end of epoch `epoch` (1-based) of a run of `last` epochs is evaluated.
    pub(crate) fn evaluates(&self, epoch: u64, last: u64) -> bool {
        epoch == last || (self.eval_every > 0 && epoch.is_multiple_of(self.eval_every))
    }
}

/// When a learning-rate schedule advances, as PyTorch's `scheduler.step()` is called after
/// every epoch or after every optimizer step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleStep {
    /// After each epoch.
    #[default]
    Epoch,
    /// After each optimizer step.
    Step,
}

/// Gradient clipping, as `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clip {
    /// Scale all gradients together so that their joint L2 norm is at most this.
    Norm(f64),
    /// Clamp every gradient element to `[-v, v]`.
    Value(f64),
}

impl Clip {
    fn threshold(self) -> f64 {
        match self {
            Clip::Norm(v) | Clip::Value(v) => v,
        }
    }
}

/// The metric early stopping watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// The validation loss (lower is better); the training loss without validation data.
    #[default]
    ValidationLoss,
    /// The validation accuracy (higher is better; classification only).
    ValidationAccuracy,
    /// The loss on the training data.
    TrainLoss,
}

/// Keras's `EarlyStopping`: stop once the monitored metric has not improved by more than
/// `min_delta` for `patience` evaluations; optionally put back the best weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// What to watch.
    pub monitor: Monitor,
    /// Evaluations without improvement before stopping.
    pub patience: u64,
    /// The least change that counts as an improvement.
    pub min_delta: f64,
    /// Whether the model ends with the weights of its best evaluation.
    pub restore_best_weights: bool,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping {
            monitor: Monitor::ValidationLoss,
            patience: 5,
            min_delta: 0.0,
            restore_best_weights: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_keras_and_bad_settings_are_named() {
        let c = TrainConfig::default();
        assert_eq!((c.batch_size, c.epochs, c.shuffle, c.eval_every), (32, 1, true, 1));
        assert!(c.validate().is_ok());
        let bad = TrainConfig { batch_size: 0, ..TrainConfig::default() };
        assert_eq!(bad.validate().unwrap_err().to_string(), "batch_size: must be at least 1");
        let bad = TrainConfig { l2: -1.0, ..TrainConfig::default() };
        assert_eq!(bad.validate().unwrap_err().to_string(), "l2: must be a finite number >= 0, got -1");
        let bad = TrainConfig { clip: Some(Clip::Norm(0.0)), ..TrainConfig::default() };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "clip: the threshold must be a positive number, got 0"
        );
        let every = TrainConfig { eval_every: 3, ..TrainConfig::default() };
        let evaluated: Vec<u64> = (1..=10).filter(|&e| every.evaluates(e, 10)).collect();
        assert_eq!(evaluated, [3, 6, 9, 10]);
    }
}
