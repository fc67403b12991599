//! Hyperparameters of each optimizer, with `torch.optim`'s defaults, and the optimizer kind by
//! name (for command lines and checkpoints). This module knows no optimizer: the update rules
//! build on it ([`OptimizerConfig::build`] is defined with the generic optimizer).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{OptimError, Result};

/// `torch.optim.SGD` hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SgdConfig {
    /// Learning rate γ (PyTorch's default 1e-3).
    pub lr: f64,
    /// Momentum μ (0: plain gradient descent).
    pub momentum: f64,
    /// Dampening τ of the momentum.
    pub dampening: f64,
    /// Nesterov momentum (needs μ > 0 and τ = 0).
    pub nesterov: bool,
    /// L2 weight decay λ (added to the gradient).
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 1e-3, momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

/// The hyperparameters of Adam and AdamW, which differ only in how they apply weight decay:
/// `DECOUPLED` is AdamW's. Named [`AdamConfig`] and [`AdamWConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AdamFamilyConfig<const DECOUPLED: bool> {
    /// Learning rate γ (1e-3).
    pub lr: f64,
    /// Decay rates (β₁, β₂) of the moment estimates ((0.9, 0.999)).
    pub betas: (f64, f64),
    /// ε added to the denominator (1e-8).
    pub eps: f64,
    /// Weight decay λ: Adam adds `λθ` to the gradient (default 0); AdamW decouples it,
    /// `θ ← θ·(1 − γλ)` before the Adam step (default 1e-2).
    pub weight_decay: f64,
    /// AMSGrad: divide by the running maximum of the second moment (false).
    pub amsgrad: bool,
}

/// `torch.optim.Adam` hyperparameters.
pub type AdamConfig = AdamFamilyConfig<false>;

/// `torch.optim.AdamW` hyperparameters: Adam's, with decoupled weight decay 1e-2 by default.
pub type AdamWConfig = AdamFamilyConfig<true>;

impl<const DECOUPLED: bool> Default for AdamFamilyConfig<DECOUPLED> {
    fn default() -> Self {
        let weight_decay = if DECOUPLED { 1e-2 } else { 0.0 };
        AdamFamilyConfig { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay, amsgrad: false }
    }
}

// By hand: serde derives no `Deserialize` for const generics. Missing fields take this
// member's defaults, as `#[serde(default)]` does for the other configurations.
impl<'de, const DECOUPLED: bool> Deserialize<'de> for AdamFamilyConfig<DECOUPLED> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Given {
            lr: Option<f64>,
            betas: Option<(f64, f64)>,
            eps: Option<f64>,
            weight_decay: Option<f64>,
            amsgrad: Option<bool>,
        }
        let given = Given::deserialize(deserializer)?;
        let default = Self::default();
        Ok(AdamFamilyConfig {
            lr: given.lr.unwrap_or(default.lr),
            betas: given.betas.unwrap_or(default.betas),
            eps: given.eps.unwrap_or(default.eps),
            weight_decay: given.weight_decay.unwrap_or(default.weight_decay),
            amsgrad: given.amsgrad.unwrap_or(default.amsgrad),
        })
    }
}

impl<const DECOUPLED: bool> AdamFamilyConfig<DECOUPLED> {
    /// The same numbers as hyperparameters of `AdamFamilyConfig<OTHER>` (to wrap them in the
    /// [`OptimizerConfig`] variant of this member).
    fn with_decoupling<const OTHER: bool>(self) -> AdamFamilyConfig<OTHER> {
        let AdamFamilyConfig { lr, betas, eps, weight_decay, amsgrad } = self;
        AdamFamilyConfig { lr, betas, eps, weight_decay, amsgrad }
    }
}

/// `torch.optim.RMSprop` hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RmsPropConfig {
    /// Learning rate γ (1e-2).
    pub lr: f64,
    /// Smoothing constant α of the squared-gradient average (0.99).
    pub alpha: f64,
    /// ε added after the square root (1e-8).
    pub eps: f64,
    /// L2 weight decay λ (0).
    pub weight_decay: f64,
    /// Momentum μ (0).
    pub momentum: f64,
    /// Centered: normalise by the estimated variance instead of the second moment (false).
    pub centered: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig { lr: 1e-2, alpha: 0.99, eps: 1e-8, weight_decay: 0.0, momentum: 0.0, centered: false }
    }
}

/// `torch.optim.Adagrad` hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdagradConfig {
    /// Learning rate γ (1e-2).
    pub lr: f64,
    /// Learning-rate decay η: step `t` uses γ / (1 + (t − 1)·η) (0).
    pub lr_decay: f64,
    /// L2 weight decay λ (0).
    pub weight_decay: f64,
    /// Initial value of the sum of squared gradients (0).
    pub initial_accumulator_value: f64,
    /// ε added after the square root (1e-10).
    pub eps: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
}

/// An optimizer kind with its hyperparameters; serialised (JSON) as
/// `{"kind": "adam", "lr": 0.001, ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// Stochastic gradient descent.
    Sgd(SgdConfig),
    /// Adam.
    Adam(AdamConfig),
    /// AdamW.
    #[serde(rename = "adamw")]
    AdamW(AdamWConfig),
    /// RMSprop.
    #[serde(rename = "rmsprop")]
    RmsProp(RmsPropConfig),
    /// Adagrad.
    Adagrad(AdagradConfig),
}

impl OptimizerConfig {
    /// The kinds' names ([`OptimizerConfig::name`]).
    pub const NAMES: [&'static str; 5] = ["sgd", "adam", "adamw", "rmsprop", "adagrad"];

    /// Every name [`OptimizerConfig::from_name`] accepts: the kinds and SGD's two momentum
    /// settings, in the order a user picks from.
    pub const CHOICES: [&'static str; 7] =
        ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"];

    /// The kind's name.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd(_) => "sgd",
            OptimizerConfig::Adam(_) => "adam",
            OptimizerConfig::AdamW(_) => "adamw",
            OptimizerConfig::RmsProp(_) => "rmsprop",
            OptimizerConfig::Adagrad(_) => "adagrad",
        }
    }

    /// The kind `name` with PyTorch's defaults (`momentum` is accepted as SGD with momentum 0.9,
    /// `nesterov` as SGD with Nesterov momentum 0.9).
    ///
    /// # Errors
    /// An unknown name, listing the known ones.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "sgd" => OptimizerConfig::Sgd(SgdConfig::default()),
            "momentum" => OptimizerConfig::Sgd(SgdConfig { momentum: 0.9, ..SgdConfig::default() }),
            "nesterov" => {
                OptimizerConfig::Sgd(SgdConfig { momentum: 0.9, nesterov: true, ..SgdConfig::default() })
            }
            "adam" => OptimizerConfig::Adam(AdamConfig::default()),
            "adamw" => OptimizerConfig::AdamW(AdamWConfig::default()),
            "rmsprop" => OptimizerConfig::RmsProp(RmsPropConfig::default()),
            "adagrad" => OptimizerConfig::Adagrad(AdagradConfig::default()),
            _ => {
                return Err(OptimError::invalid(
                    "optimizer",
                    format!("unknown optimizer '{name}'; expected one of {}", Self::CHOICES.join(", ")),
                ));
            }
        })
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::Adam(c) => c.lr,
            OptimizerConfig::AdamW(c) => c.lr,
            OptimizerConfig::RmsProp(c) => c.lr,
            OptimizerConfig::Adagrad(c) => c.lr,
        }
    }

    /// The same with another learning rate.
    pub fn with_lr(mut self, lr: f64) -> Self {
        match &mut self {
            OptimizerConfig::Sgd(c) => c.lr = lr,
            OptimizerConfig::Adam(c) => c.lr = lr,
            OptimizerConfig::AdamW(c) => c.lr = lr,
            OptimizerConfig::RmsProp(c) => c.lr = lr,
            OptimizerConfig::Adagrad(c) => c.lr = lr,
        }
        self
    }
}

/// `From` and `TryFrom` (which gives back another kind) between a kind's hyperparameters and
/// [`OptimizerConfig`].
macro_rules! kind_conversions {
    ($($variant:ident($config:ty)),*) => {$(
        impl From<$config> for OptimizerConfig {
            fn from(config: $config) -> Self {
                OptimizerConfig::$variant(config)
            }
        }

        impl TryFrom<OptimizerConfig> for $config {
            type Error = OptimizerConfig;

            fn try_from(config: OptimizerConfig) -> std::result::Result<Self, OptimizerConfig> {
                match config {
                    OptimizerConfig::$variant(c) => Ok(c),
                    other => Err(other),
                }
            }
        }
    )*};
}

kind_conversions!(Sgd(SgdConfig), RmsProp(RmsPropConfig), Adagrad(AdagradConfig));

// Adam's and AdamW's for any `DECOUPLED`, so that one rule serves both.
impl<const DECOUPLED: bool> From<AdamFamilyConfig<DECOUPLED>> for OptimizerConfig {
    fn from(config: AdamFamilyConfig<DECOUPLED>) -> Self {
        if DECOUPLED {
            OptimizerConfig::AdamW(config.with_decoupling())
        } else {
            OptimizerConfig::Adam(config.with_decoupling())
        }
    }
}

impl<const DECOUPLED: bool> TryFrom<OptimizerConfig> for AdamFamilyConfig<DECOUPLED> {
    type Error = OptimizerConfig;

    fn try_from(config: OptimizerConfig) -> std::result::Result<Self, OptimizerConfig> {
        match config {
            OptimizerConfig::Adam(c) if !DECOUPLED => Ok(c.with_decoupling()),
            OptimizerConfig::AdamW(c) if DECOUPLED => Ok(c.with_decoupling()),
            other => Err(other),
        }
    }
}

impl fmt::Display for OptimizerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_and_defaults() {
        let c = OptimizerConfig::from_name("AdamW").unwrap();
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            "{\"kind\":\"adamw\",\"lr\":0.001,\"betas\":[0.9,0.999],\"eps\":1e-8,\"weight_decay\":0.01,\"amsgrad\":false}"
        );
        let back: OptimizerConfig =
            serde_json::from_str("{\"kind\":\"sgd\",\"lr\":0.1,\"momentum\":0.9}").unwrap();
        assert_eq!(back, OptimizerConfig::Sgd(SgdConfig { lr: 0.1, momentum: 0.9, ..SgdConfig::default() }));
        for name in OptimizerConfig::NAMES {
            assert_eq!(OptimizerConfig::from_name(name).unwrap().name(), name);
        }
        for name in OptimizerConfig::CHOICES {
            assert!(OptimizerConfig::from_name(name).is_ok(), "{name}");
        }
        assert_eq!(
            OptimizerConfig::from_name("nesterov").unwrap(),
            OptimizerConfig::Sgd(SgdConfig { momentum: 0.9, nesterov: true, ..SgdConfig::default() })
        );
        assert_eq!(OptimizerConfig::from_name("rmsprop").unwrap().with_lr(0.5).lr(), 0.5);
        let err = OptimizerConfig::from_name("lbfgs").unwrap_err().to_string();
        assert_eq!(
            err,
            "optimizer: unknown optimizer 'lbfgs'; expected one of sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad"
        );
    }
}
