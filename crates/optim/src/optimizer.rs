//! The `Optimizer` trait, its exportable state, and the per-parameter bookkeeping the
//! optimizers share.

use backprop_autograd::{Graph, Var};
use backprop_tensor::{Float, Tensor};

use crate::config::OptimizerConfig;
use crate::error::{OptimError, Result};

/// An optimizer over named parameters of a [`Graph`], as `torch.optim.Optimizer`.
///
/// It is created over a list of `(name, handle)` pairs (usually
/// [`backprop_nn::Module::parameters`]) and keeps per-parameter state (momentum buffers,
/// moment estimates) by name. [`Optimizer::step`] updates each parameter that has a gradient,
/// in one fused pass over its value, gradient and state buffers; parameters without a gradient
/// are skipped (their state and step count do not advance), as in PyTorch.
pub trait Optimizer<F: Float>: Send {
    /// The optimizer's name (`"sgd"`, `"adam"`, `"adamw"`, `"rmsprop"`, `"adagrad"`).
    fn name(&self) -> &'static str;

    /// Updates every parameter that has a gradient.
    ///
    /// # Errors
    /// When a handle is not a parameter of `g`.
    fn step(&mut self, g: &mut Graph<F>) -> Result<()>;

    /// Forgets the gradients before the next backward pass. The graph keeps one gradient per
    /// parameter, so this clears the gradients of all its parameters (PyTorch's
    /// `zero_grad(set_to_none=True)` over the whole model).
    fn zero_grad(&mut self, g: &mut Graph<F>) {
        g.zero_grad();
    }

    /// The current learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (what schedules do).
    fn set_lr(&mut self, lr: f64);

    /// The hyperparameters, with the current learning rate.
    fn config(&self) -> OptimizerConfig;

    /// The parameters, in the order given at creation.
    fn params(&self) -> Vec<(String, Var)>;

    /// How many times [`Optimizer::step`] ran.
    fn steps(&self) -> u64;

    /// A copy of the complete state: hyperparameters, step counts and buffers.
    fn state(&self) -> OptimizerState<F>;

    /// Restores a state exported by [`Optimizer::state`] of the same kind over parameters of the
    /// same names (hyperparameters included, as PyTorch's `load_state_dict`); `g` holds the
    /// parameters, whose shapes the buffers must have.
    ///
    /// # Errors
    /// Another kind of optimizer, invalid hyperparameters, other parameter names, an unknown
    /// buffer, or a buffer whose shape is not its parameter's; nothing is changed then.
    fn load_state(&mut self, g: &Graph<F>, state: &OptimizerState<F>) -> Result<()>;
}

/// The state of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamState<F: Float> {
    /// The parameter's name.
    pub name: String,
    /// How many updates it received.
    pub step: u64,
    /// Its buffers by name (`momentum_buffer`, `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`,
    /// `square_avg`, `grad_avg`, `sum`), each of the parameter's shape; a buffer is present once
    /// the first update created it.
    pub buffers: Vec<(String, Tensor<F>)>,
}

/// The complete state of an optimizer, as PyTorch's `optimizer.state_dict()`.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerState<F: Float> {
    /// Kind and hyperparameters, with the learning rate at export.
    pub config: OptimizerConfig,
    /// How many times `step` ran.
    pub steps: u64,
    /// Per-parameter state, in parameter order.
    pub params: Vec<ParamState<F>>,
}

/// One parameter with its step count and buffers (`None` until first needed).
#[derive(Debug, Clone)]
pub(crate) struct Slot<F: Float> {
    pub(crate) name: String,
    pub(crate) var: Var,
    pub(crate) step: u64,
    pub(crate) buffers: Vec<Option<Tensor<F>>>,
}

/// The parameters of one optimizer and their state.
#[derive(Debug, Clone)]
pub(crate) struct Slots<F: Float> {
    pub(crate) op: &'static str,
    /// The names of the buffers a slot can hold, by position.
    pub(crate) buffer_names: &'static [&'static str],
    pub(crate) slots: Vec<Slot<F>>,
    pub(crate) steps: u64,
}

impl<F: Float> Slots<F> {
    /// Slots for `params`, after checking that there are some and that names are unique.
    pub(crate) fn new(
        op: &'static str,
        buffer_names: &'static [&'static str],
        params: impl IntoIterator<Item = (String, Var)>,
    ) -> Result<Self> {
        let slots: Vec<Slot<F>> = params
            .into_iter()
            .map(|(name, var)| Slot { name, var, step: 0, buffers: vec![None; buffer_names.len()] })
            .collect();
        if slots.is_empty() {
            return Err(OptimError::invalid(op, "the parameter list is empty"));
        }
        for (i, s) in slots.iter().enumerate() {
            if slots[..i].iter().any(|o| o.name == s.name) {
                return Err(OptimError::invalid(op, format!("parameter name '{}' appears twice", s.name)));
            }
        }
        Ok(Slots { op, buffer_names, slots, steps: 0 })
    }

    pub(crate) fn params(&self) -> Vec<(String, Var)> {
        self.slots.iter().map(|s| (s.name.clone(), s.var)).collect()
    }

    pub(crate) fn export(&self, config: OptimizerConfig) -> OptimizerState<F> {
        OptimizerState {
            config,
            steps: self.steps,
            params: self
                .slots
                .iter()
                .map(|s| ParamState {
                    name: s.name.clone(),
                    step: s.step,
                    buffers: s
                        .buffers
                        .iter()
                        .zip(self.buffer_names)
                        .filter_map(|(b, n)| b.as_ref().map(|t| (n.to_string(), t.clone())))
                        .collect(),
                })
                .collect(),
        }
    }

    /// Checks `state` against these slots (same names in the same order, known buffers whose
    /// shapes match the current parameter values in `shapes`) and installs it.
    pub(crate) fn import(&mut self, state: &OptimizerState<F>, shapes: &[Vec<usize>]) -> Result<()> {
        let op = self.op;
        let names: Vec<&str> = self.slots.iter().map(|s| s.name.as_str()).collect();
        let theirs: Vec<&str> = state.params.iter().map(|p| p.name.as_str()).collect();
        if names != theirs {
            return Err(OptimError::invalid(
                op,
                format!("the state is for parameters {theirs:?}, this optimizer has {names:?}"),
            ));
        }
        let mut installed = Vec::with_capacity(self.slots.len());
        for ((p, slot), shape) in state.params.iter().zip(&self.slots).zip(shapes) {
            let mut buffers = vec![None; self.buffer_names.len()];
            for (name, t) in &p.buffers {
                let Some(k) = self.buffer_names.iter().position(|b| b == name) else {
                    return Err(OptimError::invalid(
                        op,
                        format!(
                            "parameter '{}': unknown buffer '{name}' (this optimizer keeps {:?})",
                            p.name, self.buffer_names
                        ),
                    ));
                };
                if t.shape() != shape.as_slice() {
                    return Err(OptimError::invalid(
                        op,
                        format!(
                            "parameter '{}': buffer '{name}' has shape {:?}, the parameter {shape:?}",
                            p.name,
                            t.shape()
                        ),
                    ));
                }
                buffers[k] = Some(t.clone());
            }
            installed.push(Slot { name: slot.name.clone(), var: slot.var, step: p.step, buffers });
        }
        self.slots = installed;
        self.steps = state.steps;
        Ok(())
    }

    /// The shapes of the parameters' current values in `g`.
    pub(crate) fn shapes(&self, g: &Graph<F>) -> Result<Vec<Vec<usize>>> {
        self.slots.iter().map(|s| Ok(g.value(s.var)?.shape().to_vec())).collect()
    }
}

impl<F: Float> Slot<F> {
    /// Buffer `k`, created with every element `init` if it does not exist yet.
    pub(crate) fn ensure(&mut self, k: usize, shape: &[usize], init: F) {
        if self.buffers[k].is_none() {
            self.buffers[k] = Some(Tensor::full(shape, init));
        }
    }
}

/// `self + weight·(end − self)`, evaluated as PyTorch's `lerp` does (from the nearer end), so
/// that moment estimates round as PyTorch's do.
#[inline]
pub(crate) fn lerp<F: Float>(start: F, end: F, weight: F) -> F {
    let half = F::from_f64(0.5);
    if weight.abs() < half {
        start + weight * (end - start)
    } else {
        end - (end - start) * (F::one() - weight)
    }
}

/// The error of loading another optimizer's state.
pub(crate) fn wrong_kind(op: &str, config: &OptimizerConfig) -> OptimError {
    OptimError::invalid(op, format!("cannot load the state of a {} optimizer", config.name()))
}

/// Checks that a hyperparameter is finite and at least `min`.
pub(crate) fn check_at_least(op: &str, what: &str, value: f64, min: f64) -> Result<()> {
    if value.is_finite() && value >= min {
        Ok(())
    } else {
        Err(OptimError::invalid(op, format!("{what} must be a finite number >= {min}, got {value}")))
    }
}

/// Checks that a hyperparameter lies in `[0, 1)`.
pub(crate) fn check_unit(op: &str, what: &str, value: f64) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(OptimError::invalid(op, format!("{what} must be in [0, 1), got {value}")))
    }
}
