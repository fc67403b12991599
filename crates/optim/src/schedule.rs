//! Learning-rate schedules, as `torch.optim.lr_scheduler` (closed forms).
//!
//! A schedule is a function `lr_at(t)` of the number `t` of scheduler steps taken (usually
//! epochs), plus that counter. Use it as PyTorch does: set the optimizer's rate from
//! [`LrScheduler::lr`] at the start, and after each epoch call
//! `optimizer.set_lr(scheduler.step())`.

use serde::{Deserialize, Serialize};

use crate::error::{OptimError, Result};

/// A learning-rate schedule with its step counter.
pub trait LrScheduler {
    /// The learning rate after `t` scheduler steps.
    fn lr_at(&self, t: u64) -> f64;

    /// How many steps were taken (PyTorch's `last_epoch`).
    fn last_step(&self) -> u64;

    /// Sets the step counter (to resume from a checkpoint).
    fn set_last_step(&mut self, t: u64);

    /// The current learning rate, `lr_at(last_step())`.
    fn lr(&self) -> f64 {
        self.lr_at(self.last_step())
    }

    /// Advances one step and returns the new learning rate.
    fn step(&mut self) -> f64 {
        let t = self.last_step() + 1;
        self.set_last_step(t);
        self.lr_at(t)
    }
}

fn check_positive(op: &str, what: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(OptimError::invalid(op, format!("{what} must be a positive number, got {v}")))
    }
}

fn check_non_negative(op: &str, what: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(OptimError::invalid(op, format!("{what} must be a finite number >= 0, got {v}")))
    }
}

fn check_steps(op: &str, what: &str, steps: u64) -> Result<()> {
    if steps == 0 { Err(OptimError::invalid(op, format!("{what} must be at least 1"))) } else { Ok(()) }
}

/// What distinguishes one schedule from another: its learning rate after `t` steps from a base
/// rate. [`Scheduled`] adds the base rate and the step counter.
pub trait LrCurve {
    /// The name in messages, as PyTorch spells the class (`"StepLR"`).
    const LABEL: &'static str;

    /// Checks the parameters.
    ///
    /// # Errors
    /// A parameter out of its range, named in the message.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// The learning rate after `t` scheduler steps from `base_lr`.
    fn lr_at(&self, base_lr: f64, t: u64) -> f64;
}

/// A curve with its base learning rate and step counter: the one implementation of
/// [`LrScheduler`] (named per curve: [`StepLr`], [`ExponentialLr`], [`CosineAnnealingLr`],
/// [`LinearWarmup`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled<C> {
    base_lr: f64,
    curve: C,
    t: u64,
}

impl<C: LrCurve> Scheduled<C> {
    /// `curve` from `base_lr`, at step 0.
    ///
    /// # Errors
    /// A negative or non-finite `base_lr`, invalid curve parameters.
    pub fn start(base_lr: f64, curve: C) -> Result<Self> {
        check_non_negative(C::LABEL, "base_lr", base_lr)?;
        curve.validate()?;
        Ok(Scheduled { base_lr, curve, t: 0 })
    }
}

impl<C: LrCurve> LrScheduler for Scheduled<C> {
    fn lr_at(&self, t: u64) -> f64 {
        self.curve.lr_at(self.base_lr, t)
    }
    fn last_step(&self) -> u64 {
        self.t
    }
    fn set_last_step(&mut self, t: u64) {
        self.t = t;
    }
}

/// `StepLR`: `γ₀ · gammaᵏ` with `k = ⌊t / step_size⌋` (decay every `step_size` steps).
pub type StepLr = Scheduled<StepDecay>;

/// [`StepLr`]'s curve.
#[derive(Debug, Clone, PartialEq)]
pub struct StepDecay {
    step_size: u64,
    gamma: f64,
}

impl LrCurve for StepDecay {
    const LABEL: &'static str = "StepLR";

    fn validate(&self) -> Result<()> {
        check_non_negative(Self::LABEL, "gamma", self.gamma)?;
        check_steps(Self::LABEL, "step_size", self.step_size)
    }

    fn lr_at(&self, base_lr: f64, t: u64) -> f64 {
        base_lr * self.gamma.powf((t / self.step_size) as f64)
    }
}

impl StepLr {
    /// Decays `base_lr` by `gamma` every `step_size` steps (PyTorch's default gamma is 0.1).
    ///
    /// # Errors
    /// `step_size` 0, a negative learning rate or gamma.
    pub fn new(base_lr: f64, step_size: u64, gamma: f64) -> Result<Self> {
        Scheduled::start(base_lr, StepDecay { step_size, gamma })
    }
}

/// `ExponentialLR`: `γ₀ · gammaᵗ`.
pub type ExponentialLr = Scheduled<ExponentialDecay>;

/// [`ExponentialLr`]'s curve: the factor per step.
#[derive(Debug, Clone, PartialEq)]
pub struct ExponentialDecay(f64);

impl LrCurve for ExponentialDecay {
    const LABEL: &'static str = "ExponentialLR";

    fn validate(&self) -> Result<()> {
        check_non_negative(Self::LABEL, "gamma", self.0)
    }

    fn lr_at(&self, base_lr: f64, t: u64) -> f64 {
        base_lr * self.0.powf(t as f64)
    }
}

impl ExponentialLr {
    /// Multiplies the rate by `gamma` every step.
    ///
    /// # Errors
    /// A negative learning rate or gamma.
    pub fn new(base_lr: f64, gamma: f64) -> Result<Self> {
        Scheduled::start(base_lr, ExponentialDecay(gamma))
    }
}

/// `CosineAnnealingLR`: `η_min + (γ₀ − η_min)·(1 + cos(π·t / T_max)) / 2`, from `γ₀` at
/// `t = 0` down to `η_min` at `t = T_max` (and, as PyTorch's closed form, back up after).
pub type CosineAnnealingLr = Scheduled<CosineAnnealing>;

/// [`CosineAnnealingLr`]'s curve.
#[derive(Debug, Clone, PartialEq)]
pub struct CosineAnnealing {
    t_max: u64,
    eta_min: f64,
}

impl LrCurve for CosineAnnealing {
    const LABEL: &'static str = "CosineAnnealingLR";

    fn validate(&self) -> Result<()> {
        check_non_negative(Self::LABEL, "eta_min", self.eta_min)?;
        check_steps(Self::LABEL, "t_max", self.t_max)
    }

    fn lr_at(&self, base_lr: f64, t: u64) -> f64 {
        let phase = std::f64::consts::PI * t as f64 / self.t_max as f64;
        self.eta_min + (base_lr - self.eta_min) * (1.0 + phase.cos()) / 2.0
    }
}

impl CosineAnnealingLr {
    /// Anneals `base_lr` to `eta_min` over `t_max` steps.
    ///
    /// # Errors
    /// `t_max` 0, a negative learning rate or minimum.
    pub fn new(base_lr: f64, t_max: u64, eta_min: f64) -> Result<Self> {
        Scheduled::start(base_lr, CosineAnnealing { t_max, eta_min })
    }
}

/// Linear warm-up (`LinearLR` with `end_factor = 1`): `γ₀·(f + (1 − f)·t / W)` for `t < W`,
/// then the `after` schedule shifted by `W` steps (PyTorch's `SequentialLR(LinearLR, after,
/// milestones=[W])`), or the constant `γ₀` without one.
pub type LinearWarmup = Scheduled<Warmup>;

/// [`LinearWarmup`]'s curve.
pub struct Warmup {
    warmup_steps: u64,
    start_factor: f64,
    after: Option<Box<dyn LrScheduler + Send>>,
}

impl std::fmt::Debug for Warmup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warmup")
            .field("warmup_steps", &self.warmup_steps)
            .field("start_factor", &self.start_factor)
            .field("then", &self.after.is_some())
            .finish()
    }
}

impl LrCurve for Warmup {
    const LABEL: &'static str = "LinearWarmup";

    fn validate(&self) -> Result<()> {
        check_positive(Self::LABEL, "start_factor", self.start_factor)?;
        if self.start_factor > 1.0 {
            return Err(OptimError::invalid(
                Self::LABEL,
                format!("start_factor must be in (0, 1], got {}", self.start_factor),
            ));
        }
        check_steps(Self::LABEL, "warmup_steps", self.warmup_steps)
    }

    fn lr_at(&self, base_lr: f64, t: u64) -> f64 {
        if t < self.warmup_steps {
            let f = self.start_factor + (1.0 - self.start_factor) * t as f64 / self.warmup_steps as f64;
            base_lr * f
        } else {
            match &self.after {
                Some(s) => s.lr_at(t - self.warmup_steps),
                None => base_lr,
            }
        }
    }
}

impl LinearWarmup {
    /// Ramps from `start_factor·base_lr` to `base_lr` over `warmup_steps`, then holds (or
    /// follows `after`, whose own step 0 is the end of the warm-up).
    ///
    /// # Errors
    /// `warmup_steps` 0, `start_factor` outside `(0, 1]`, a negative learning rate.
    pub fn new(
        base_lr: f64,
        warmup_steps: u64,
        start_factor: f64,
        after: Option<Box<dyn LrScheduler + Send>>,
    ) -> Result<Self> {
        Scheduled::start(base_lr, Warmup { warmup_steps, start_factor, after })
    }
}

/// A schedule by name and parameters, for command lines and saved configurations; JSON such
/// as `{"kind": "cosine", "t_max": 100, "eta_min": 0.0, "warmup_steps": 5}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    /// The decay after the warm-up.
    #[serde(flatten)]
    pub kind: ScheduleKind,
    /// Steps of linear warm-up from a tenth of the rate (0: none).
    #[serde(default)]
    pub warmup_steps: u64,
}

/// The decay of a [`ScheduleConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScheduleKind {
    /// The base rate throughout.
    Constant,
    /// [`StepLr`].
    Step {
        /// Steps between decays.
        step_size: u64,
        /// Factor per decay.
        gamma: f64,
    },
    /// [`ExponentialLr`].
    Exponential {
        /// Factor per step.
        gamma: f64,
    },
    /// [`CosineAnnealingLr`].
    Cosine {
        /// Steps to the minimum.
        t_max: u64,
        /// The minimum rate.
        #[serde(default)]
        eta_min: f64,
    },
}

/// The constant schedule's curve.
#[derive(Debug, Clone, PartialEq)]
struct Constant;

impl LrCurve for Constant {
    const LABEL: &'static str = "constant schedule";

    fn lr_at(&self, base_lr: f64, _t: u64) -> f64 {
        base_lr
    }
}

impl ScheduleConfig {
    /// The start factor of the warm-up.
    pub const WARMUP_START_FACTOR: f64 = 0.1;

    /// Builds the scheduler for a base learning rate.
    ///
    /// # Errors
    /// Invalid parameters, as the schedule's `new` says.
    pub fn build(&self, base_lr: f64) -> Result<Box<dyn LrScheduler + Send>> {
        let decay: Box<dyn LrScheduler + Send> = match self.kind {
            ScheduleKind::Constant => Box::new(Scheduled::start(base_lr, Constant)?),
            ScheduleKind::Step { step_size, gamma } => Box::new(StepLr::new(base_lr, step_size, gamma)?),
            ScheduleKind::Exponential { gamma } => Box::new(ExponentialLr::new(base_lr, gamma)?),
            ScheduleKind::Cosine { t_max, eta_min } => {
                Box::new(CosineAnnealingLr::new(base_lr, t_max, eta_min)?)
            }
        };
        if self.warmup_steps == 0 {
            return Ok(decay);
        }
        Ok(Box::new(LinearWarmup::new(base_lr, self.warmup_steps, Self::WARMUP_START_FACTOR, Some(decay))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-15 * b.abs().max(1.0)
    }

    #[test]
    fn step_exponential_and_cosine_follow_torch_closed_forms() {
        let mut s = StepLr::new(0.1, 3, 0.5).unwrap();
        let lrs: Vec<f64> = std::iter::once(s.lr()).chain((0..7).map(|_| s.step())).collect();
        assert_eq!(lrs, vec![0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]);
        let e = ExponentialLr::new(0.2, 0.9).unwrap();
        assert!(close(e.lr_at(3), 0.2 * 0.729));
        let c = CosineAnnealingLr::new(0.1, 10, 0.001).unwrap();
        assert_eq!(c.lr_at(0), 0.1);
        assert!(close(c.lr_at(5), 0.001 + 0.099 / 2.0));
        assert!(close(c.lr_at(10), 0.001));
        assert!(StepLr::new(0.1, 0, 0.5).is_err());
    }

    #[test]
    fn warmup_ramps_then_hands_over() {
        let after = Box::new(StepLr::new(1.0, 2, 0.1).unwrap());
        let mut w = LinearWarmup::new(1.0, 4, 0.2, Some(after)).unwrap();
        assert!(close(w.lr(), 0.2));
        let lrs: Vec<f64> = (0..7).map(|_| w.step()).collect();
        let expected = [0.4, 0.6, 0.8, 1.0, 1.0, 0.1, 0.1];
        for (a, b) in lrs.iter().zip(expected) {
            assert!(close(*a, b), "{lrs:?}");
        }
        w.set_last_step(1);
        assert!(close(w.lr(), 0.4));
        let err = LinearWarmup::new(1.0, 4, 0.0, None).unwrap_err().to_string();
        assert_eq!(err, "LinearWarmup: start_factor must be a positive number, got 0");
    }

    #[test]
    fn configs_build_by_name() {
        let c: ScheduleConfig =
            serde_json::from_str("{\"kind\":\"cosine\",\"t_max\":10,\"warmup_steps\":2}").unwrap();
        let s = c.build(1.0).unwrap();
        assert!(close(s.lr_at(0), 0.1) && close(s.lr_at(1), 0.55) && close(s.lr_at(2), 1.0));
        assert!(close(s.lr_at(12), 0.0));
        let constant = ScheduleConfig { kind: ScheduleKind::Constant, warmup_steps: 0 }.build(0.3).unwrap();
        assert_eq!(constant.lr_at(100), 0.3);
    }
}
