//! The `Optimizer` trait, its exportable state, and [`RuleOptimizer`], the one implementation:
//! the per-parameter bookkeeping (slots, step counts, learning rate, state export and import)
//! around an [`UpdateRule`].

use std::ops::Range;

use backprop_autograd::{Graph, Var};
use backprop_tensor::{Float, Tensor};

use crate::config::OptimizerConfig;
use crate::error::{OptimError, Result};
use crate::lanes::{Update, apply};
use crate::rule::{Chunk, MAX_BUFFERS, UpdateRule};

/// An optimizer over named parameters of a [`Graph`], as `torch.optim.Optimizer`.
///
/// It is created over a list of `(name, handle)` pairs (usually
/// `backprop_nn::Module::parameters`) and keeps per-parameter state (momentum buffers,
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

    /// Whether [`Optimizer::step_shard`] and [`Optimizer::state_slices`] are implemented: the
    /// update is elementwise, so that data-parallel training can split it over its ranks
    /// (ZeRO stage 1). The default is `false`.
    fn shardable(&self) -> bool {
        false
    }

    /// The update of [`Optimizer::step`] restricted to the values at positions `shard` of the
    /// parameters laid end to end (in the order of [`Optimizer::params`]): only those values
    /// and their state change, while the step counts (and the buffers a first update creates,
    /// whole) advance as in a full step, so that the ranks that update the other positions
    /// together give exactly the full step's values. Only where [`Optimizer::shardable`].
    ///
    /// # Errors
    /// When a handle is not a parameter of `g`, or the optimizer is not shardable.
    fn step_shard(&mut self, g: &mut Graph<F>, shard: Range<usize>) -> Result<()> {
        let _ = (g, shard);
        Err(OptimError::invalid(self.name(), "this optimizer cannot update a shard of its parameters"))
    }

    /// The state buffers, for data-parallel training to gather the shards its ranks updated:
    /// for each buffer kind (by position), each parameter's buffer in parameter order (`None`
    /// where it has none yet). Empty where not [`Optimizer::shardable`].
    fn state_slices(&mut self) -> Vec<Vec<Option<&mut [F]>>> {
        Vec::new()
    }
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
struct Slot<F: Float> {
    name: String,
    var: Var,
    step: u64,
    buffers: [Option<Tensor<F>>; MAX_BUFFERS],
}

impl<F: Float> Slot<F> {
    /// Creates the buffers that `starts` asks for and are missing, of `shape`; says whether it
    /// created any.
    fn ensure(&mut self, starts: &[Option<f64>; MAX_BUFFERS], shape: &[usize]) -> bool {
        let mut created = false;
        for (buffer, start) in self.buffers.iter_mut().zip(starts) {
            if let (None, Some(start)) = (&buffer, start) {
                *buffer = Some(Tensor::full(shape, F::from_f64(*start)));
                created = true;
            }
        }
        created
    }

    /// The slices of the buffers that `starts` asks for (empty for the others).
    fn state(&mut self, starts: &[Option<f64>; MAX_BUFFERS]) -> [&mut [F]; MAX_BUFFERS] {
        let mut starts = starts.iter();
        self.buffers.each_mut().map(|buffer| match (buffer, starts.next()) {
            (Some(t), Some(Some(_))) => t.as_mut_slice(),
            _ => &mut [][..],
        })
    }
}

/// An optimizer running the update rule `R` over named parameters: the one implementation of
/// [`Optimizer`], as `torch.optim.Optimizer` is the base of every algorithm. Named per rule:
/// [`crate::Sgd`], [`crate::Adam`], [`crate::AdamW`], [`crate::RmsProp`], [`crate::Adagrad`].
#[derive(Debug, Clone)]
pub struct RuleOptimizer<F: Float, R> {
    rule: R,
    slots: Vec<Slot<F>>,
    steps: u64,
}

impl<F: Float, R: UpdateRule<F>> RuleOptimizer<F, R> {
    /// The optimizer over `params` (names and handles) with hyperparameters `rule`.
    ///
    /// # Errors
    /// Invalid hyperparameters (see the rule's fields), an empty or duplicated parameter list.
    pub fn new(params: impl IntoIterator<Item = (String, Var)>, rule: R) -> Result<Self> {
        rule.validate()?;
        let slots: Vec<Slot<F>> = params
            .into_iter()
            .map(|(name, var)| Slot { name, var, step: 0, buffers: Default::default() })
            .collect();
        if slots.is_empty() {
            return Err(OptimError::invalid(R::LABEL, "the parameter list is empty"));
        }
        for (i, s) in slots.iter().enumerate() {
            if slots[..i].iter().any(|o| o.name == s.name) {
                return Err(OptimError::invalid(
                    R::LABEL,
                    format!("parameter name '{}' appears twice", s.name),
                ));
            }
        }
        Ok(RuleOptimizer { rule, slots, steps: 0 })
    }

    /// Checks `state` against these parameters (same names in the same order, known buffers of
    /// the shapes of the current values in `g`) and returns the slots it describes.
    fn imported_slots(&self, g: &Graph<F>, state: &OptimizerState<F>) -> Result<Vec<Slot<F>>> {
        let names: Vec<&str> = self.slots.iter().map(|s| s.name.as_str()).collect();
        let theirs: Vec<&str> = state.params.iter().map(|p| p.name.as_str()).collect();
        if names != theirs {
            return Err(OptimError::invalid(
                R::LABEL,
                format!("the state is for parameters {theirs:?}, this optimizer has {names:?}"),
            ));
        }
        let mut installed = Vec::with_capacity(self.slots.len());
        for (p, slot) in state.params.iter().zip(&self.slots) {
            let shape = g.value(slot.var)?.shape();
            let mut buffers: [Option<Tensor<F>>; MAX_BUFFERS] = Default::default();
            for (name, t) in &p.buffers {
                let Some(k) = R::BUFFERS.iter().position(|b| b == name) else {
                    return Err(OptimError::invalid(
                        R::LABEL,
                        format!(
                            "parameter '{}': unknown buffer '{name}' (this optimizer keeps {:?})",
                            p.name,
                            R::BUFFERS
                        ),
                    ));
                };
                if t.shape() != shape {
                    return Err(OptimError::invalid(
                        R::LABEL,
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
        Ok(installed)
    }

    /// [`Optimizer::step`] on the values at positions `shard` of the parameters laid end to
    /// end: every parameter with a gradient counts the step (and gets its buffers), and the
    /// rule runs on the part of it inside `shard`. The rules are elementwise, so a part's
    /// values are those of the full update bit for bit.
    fn step_range(&mut self, g: &mut Graph<F>, shard: Range<usize>) -> Result<()> {
        let starts = self.rule.buffer_starts();
        let mut at = 0;
        for slot in &mut self.slots {
            let (param, grad) = g.param_mut_with_grad(slot.var)?;
            let len = param.len();
            let (first, end) = (at, at + len);
            at = end;
            let Some(grad) = grad else { continue };
            slot.step += 1;
            let fresh = slot.ensure(&starts, param.shape());
            let rule = AtStep { rule: &self.rule, step: slot.step };
            // This parameter's part of the shard, in its own positions.
            let (from, to) = (shard.start.clamp(first, end) - first, shard.end.clamp(first, end) - first);
            if from == to {
                continue;
            }
            let (theta, grad) = (&mut param.as_mut_slice()[from..to], &grad.as_slice()[from..to]);
            let state = slot.state(&starts).map(|b| if b.is_empty() { b } else { &mut b[from..to] });
            rule.apply(self.rule.options(fresh), theta, grad, state);
        }
        self.steps += 1;
        Ok(())
    }
}

/// A rule at one parameter's update count.
struct AtStep<'a, R> {
    rule: &'a R,
    step: u64,
}

/// [`AtStep`] with the rule's options fixed at compile time: an [`Update`], which
/// [`lanes::apply`](apply) runs on the vector units and in parallel chunks.
struct Compiled<'a, R, const A: bool, const B: bool, const C: bool>(&'a AtStep<'a, R>);

impl<F: Float, R: UpdateRule<F>, const A: bool, const B: bool, const C: bool> Update<F>
    for Compiled<'_, R, A, B, C>
{
    #[inline(always)]
    fn run(&self, theta: &mut [F], grad: &[F], state: [&mut [F]; MAX_BUFFERS]) {
        self.0.rule.update::<A, B, C>(Chunk { step: self.0.step, theta, grad, state });
    }
}

impl<R> AtStep<'_, R> {
    /// Applies the rule with `options`: the one place where run-time options select a compiled
    /// loop.
    fn apply<F: Float>(&self, options: [bool; 3], theta: &mut [F], grad: &[F], state: [&mut [F]; MAX_BUFFERS])
    where
        R: UpdateRule<F>,
    {
        macro_rules! select {
            ($(($a:literal, $b:literal, $c:literal)),*) => {
                match options {
                    $([$a, $b, $c] => apply(&Compiled::<R, $a, $b, $c>(self), theta, grad, state),)*
                }
            };
        }
        select!(
            (false, false, false),
            (false, false, true),
            (false, true, false),
            (false, true, true),
            (true, false, false),
            (true, false, true),
            (true, true, false),
            (true, true, true)
        );
    }
}

impl<F: Float, R: UpdateRule<F>> Optimizer<F> for RuleOptimizer<F, R> {
    fn name(&self) -> &'static str {
        self.config().name()
    }

    fn step(&mut self, g: &mut Graph<F>) -> Result<()> {
        self.step_range(g, 0..usize::MAX)
    }

    fn lr(&self) -> f64 {
        self.config().lr()
    }

    fn set_lr(&mut self, lr: f64) {
        let Ok(rule) = R::try_from(self.config().with_lr(lr)) else { unreachable!("with_lr keeps the kind") };
        self.rule = rule;
    }

    fn config(&self) -> OptimizerConfig {
        self.rule.into()
    }

    fn params(&self) -> Vec<(String, Var)> {
        self.slots.iter().map(|s| (s.name.clone(), s.var)).collect()
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn state(&self) -> OptimizerState<F> {
        OptimizerState {
            config: self.config(),
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
                        .zip(R::BUFFERS)
                        .filter_map(|(b, n)| b.as_ref().map(|t| (n.to_string(), t.clone())))
                        .collect(),
                })
                .collect(),
        }
    }

    fn load_state(&mut self, g: &Graph<F>, state: &OptimizerState<F>) -> Result<()> {
        let Ok(rule) = R::try_from(state.config) else {
            return Err(OptimError::invalid(
                R::LABEL,
                format!("cannot load the state of a {} optimizer", state.config.name()),
            ));
        };
        rule.validate()?;
        self.slots = self.imported_slots(g, state)?;
        self.steps = state.steps;
        self.rule = rule;
        Ok(())
    }

    fn shardable(&self) -> bool {
        true
    }

    fn step_shard(&mut self, g: &mut Graph<F>, shard: Range<usize>) -> Result<()> {
        self.step_range(g, shard)
    }

    fn state_slices(&mut self) -> Vec<Vec<Option<&mut [F]>>> {
        let mut kinds: Vec<Vec<Option<&mut [F]>>> = (0..R::BUFFERS.len()).map(|_| Vec::new()).collect();
        for slot in &mut self.slots {
            for (kind, buffer) in kinds.iter_mut().zip(slot.buffers.iter_mut()) {
                kind.push(buffer.as_mut().map(|t| t.as_mut_slice()));
            }
        }
        kinds
    }
}

// Here rather than in `config`, so that the configurations know no optimizer.
impl OptimizerConfig {
    /// Creates the optimizer over `params`.
    ///
    /// # Errors
    /// Invalid hyperparameters (each optimizer's `new` says which), an empty or duplicated
    /// parameter list.
    pub fn build<F: Float>(&self, params: Vec<(String, Var)>) -> Result<Box<dyn Optimizer<F>>> {
        fn boxed<F: Float, R: UpdateRule<F>>(
            params: Vec<(String, Var)>,
            rule: R,
        ) -> Result<Box<dyn Optimizer<F>>> {
            Ok(Box::new(RuleOptimizer::new(params, rule)?))
        }
        match *self {
            OptimizerConfig::Sgd(c) => boxed(params, c),
            OptimizerConfig::Adam(c) => boxed(params, c),
            OptimizerConfig::AdamW(c) => boxed(params, c),
            OptimizerConfig::RmsProp(c) => boxed(params, c),
            OptimizerConfig::Adagrad(c) => boxed(params, c),
        }
    }
}
