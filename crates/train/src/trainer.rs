//! The training loop, written once: mini-batches, loss, penalties, backward, gradient
//! reduction, divergence checks, clipping, the optimizer step, schedules, evaluation, early
//! stopping and events.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use backprop_autograd::{Graph, Var};
use backprop_data::{Batch, Dataset};
use backprop_nn::{Loss, Module, Reduction, l1_penalty, l2_penalty};
use backprop_optim::{LrScheduler, Optimizer, clip_grad_norm, clip_grad_value};
use backprop_tensor::{Float, Tensor, first_non_finite};
use serde::{Deserialize, Serialize};

use crate::config::{Clip, EarlyStopping, Monitor, ScheduleStep, TrainConfig};
use crate::error::{Result, TrainError};
use crate::metrics::{EpochRecord, Metrics, evaluate_shared};
use crate::observer::{Control, Observer, Snapshot, StepReport, StopReason};
use crate::reduce::{GradientReduction, LocalGradients};
use crate::state::TrainingState;

use crate::source::{BatchSource, DatasetBatches};

/// Parameters by name, as [`Module::parameters`] lists them.
type Named = [(String, Var)];

/// The key of the trainer's own counters in [`TrainingState::extra`].
const STATE_KEY: &str = "trainer";

/// Trains a model with a loss and an optimizer, as Keras's `fit` or PyTorch Lightning's
/// `Trainer`: one loop that every front end (the command line, the web playground,
/// data-parallel training) drives through its configuration, its observers and its
/// gradient-reduction hook.
///
/// A `Trainer` remembers where it stopped ([`Trainer::state`]): calling [`Trainer::fit`] again
/// continues from there, and [`Trainer::resume`] continues a run from a checkpoint's state, bit
/// for bit as the uninterrupted run would have gone on.
pub struct Trainer<F: Float> {
    loss: Loss,
    config: TrainConfig,
    reduction: Box<dyn GradientReduction<F>>,
    stop: Arc<AtomicBool>,
    state: TrainingState,
    counters: Counters,
    /// The rows of a part of a batch, when the reduction splits batches (reused).
    part: Batch<F>,
}

/// What the trainer carries from one `fit` to the next, and through checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Counters {
    /// The learning rate the schedule starts from (the optimizer's at the first fit).
    base_lr: Option<f64>,
    /// Steps of the schedule taken.
    schedule_step: u64,
    /// Early stopping: the best monitored value, its epoch, and evaluations since.
    best: Option<f64>,
    best_epoch: u64,
    wait: u64,
}

/// The result of [`Trainer::fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The epoch records of this fit, its first epoch's starting point first (epoch 0 for a new run).
    pub history: Vec<EpochRecord>,
    /// Why it ended.
    pub stop: StopReason,
}

impl Fit {
    /// The last record.
    pub fn last(&self) -> &EpochRecord {
        self.history.last().expect("a fit records its starting point")
    }
}

impl<F: Float> Trainer<F> {
    /// A trainer for `loss` with these settings.
    ///
    /// # Errors
    /// When a setting is invalid ([`TrainConfig::validate`]).
    pub fn new(loss: Loss, config: TrainConfig) -> Result<Self> {
        config.validate()?;
        Ok(Trainer {
            loss,
            config,
            reduction: Box::new(LocalGradients),
            stop: Arc::new(AtomicBool::new(false)),
            state: TrainingState::default(),
            counters: Counters::default(),
            part: Batch::new(),
        })
    }

    /// Replaces the gradient reduction (identity by default) by `reduction`, e.g. an all-reduce
    /// across the processes of a data-parallel run.
    pub fn with_reduction(mut self, reduction: impl GradientReduction<F> + 'static) -> Self {
        self.reduction = Box::new(reduction);
        self
    }

    /// The loss.
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// A flag that stops training after the current step when set (from a Ctrl-C handler or
    /// another thread).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Where training stands: epochs and steps done, and the trainer's counters (schedule,
    /// early stopping). A checkpoint saves it; [`Trainer::resume`] takes it back.
    pub fn state(&self) -> &TrainingState {
        &self.state
    }

    /// Continues from a saved state (with the model and optimizer of the same checkpoint).
    ///
    /// # Errors
    /// When the trainer's part of the state cannot be read.
    pub fn resume(&mut self, state: &TrainingState) -> Result<()> {
        self.counters = match state.extra.get(STATE_KEY) {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                TrainError::invalid("checkpoint", format!("the trainer's state is unreadable: {e}"))
            })?,
            None => Counters::default(),
        };
        self.state = state.clone();
        Ok(())
    }

    /// Trains on `train` in shuffled mini-batches for the configured epochs, evaluating on
    /// `train` and `validation` as configured, and telling `observer` about every step and epoch.
    ///
    /// # Errors
    /// Divergence ([`TrainError::Diverged`]: a non-finite output, loss or gradient, naming
    /// epoch and step), an untrained model whose loss is not finite, data that does not fit the
    /// model or the loss, or an observer's error.
    pub fn fit<M: Module>(
        &mut self,
        g: &mut Graph<F>,
        model: &mut M,
        optimizer: &mut dyn Optimizer<F>,
        train: &Dataset<F>,
        validation: Option<&Dataset<F>>,
        observer: &mut dyn Observer<F, M>,
    ) -> Result<Fit> {
        let mut batches =
            DatasetBatches::new(train, self.config.batch_size, self.config.shuffle, self.config.seed)?;
        self.fit_batches(
            g,
            model,
            optimizer,
            &mut batches,
            Evaluation { train: Some(train), validation },
            observer,
        )
    }

    /// Trains on the batches of any source; `evaluation` names the data sets to evaluate on.
    ///
    /// # Errors
    /// As [`Trainer::fit`].
    pub fn fit_batches<M: Module>(
        &mut self,
        g: &mut Graph<F>,
        model: &mut M,
        optimizer: &mut dyn Optimizer<F>,
        source: &mut dyn BatchSource<F>,
        evaluation: Evaluation<'_, F>,
        observer: &mut dyn Observer<F, M>,
    ) -> Result<Fit> {
        let params = model.parameters();
        let weights: Vec<(String, Var)> = params.iter().filter(|(n, _)| is_weight(n)).cloned().collect();
        let whole_gradients = matches!(self.config.clip, Some(Clip::Norm(_)));
        self.reduction.prepare(&params, optimizer, whole_gradients)?;
        let mut scheduler = self.scheduler(optimizer)?;
        let mut best_weights: Vec<Tensor<F>> = Vec::new();
        let mut history = Vec::new();

        let first = self.record(g, model, &evaluation, optimizer.lr(), None)?;
        if self.state.step == 0
            && let Some(loss) = first.train.map(|m| m.loss).filter(|l| !l.is_finite())
        {
            return Err(TrainError::NotFiniteAtStart { loss });
        }
        let mut control = self.tell_epoch(g, model, optimizer, observer, &first)?;
        history.push(first);

        let last_epoch = self.config.epochs;
        let mut stop = if control == Control::Stop { StopReason::Requested } else { StopReason::Completed };
        while control == Control::Continue && self.state.epoch < last_epoch {
            let epoch = self.state.epoch + 1;
            let (mut sum, mut count) = (0.0, 0_u64);
            let mut step = self.state.step;
            let mut interrupted = false;
            // This process forms only its own rows of each batch (data-parallel training
            // splits the global batch); the reduction is asked for them before each batch is
            // formed and takes the step after it.
            let reduction = RefCell::new(&mut *self.reduction);
            let select = |len: usize| process_rows(&**reduction.borrow(), len);
            let (config, stop_flag) = (&self.config, &self.stop);
            let context = &mut StepContext {
                loss: self.loss,
                config,
                part: &mut self.part,
                params: &params,
                weights: &weights,
            };
            source.for_each_batch_rows(epoch - 1, &select, &mut |len, offset, rows| {
                step += 1;
                observer.on_step_start(epoch, step);
                let lr = optimizer.lr();
                let batch = StepBatch { rows, offset, len };
                let loss = train_step(
                    g,
                    model,
                    optimizer,
                    &mut **reduction.borrow_mut(),
                    context,
                    batch,
                    (epoch, step),
                )?;
                sum += loss;
                count += 1;
                if let Some(s) = scheduler.as_mut().filter(|_| config.schedule_step == ScheduleStep::Step) {
                    optimizer.set_lr(s.step());
                }
                let report = StepReport { epoch, step, loss, lr, rows: len };
                if observer.on_step(&report) == Control::Stop || stop_flag.load(Ordering::Relaxed) {
                    interrupted = true;
                }
                Ok(!interrupted)
            })?;
            self.state.step = step;
            if interrupted {
                // The epoch is not complete: the state keeps the last complete epoch.
                stop = StopReason::Requested;
                break;
            }
            if let Some(s) = scheduler.as_mut().filter(|_| self.config.schedule_step == ScheduleStep::Epoch) {
                optimizer.set_lr(s.step());
            }
            self.state.epoch = epoch;
            let batch_loss = (count > 0).then(|| sum / count as f64);
            let record = if self.config.evaluates(epoch, last_epoch) {
                let r = self.record(g, model, &evaluation, optimizer.lr(), batch_loss)?;
                check_finite_after_epoch(&r, epoch, step)?;
                r
            } else {
                EpochRecord { epoch, step, lr: optimizer.lr(), batch_loss, train: None, validation: None }
            };
            if let Some(s) = &scheduler {
                self.counters.schedule_step = s.last_step();
            }
            if let Some(early) = self.config.early_stopping
                && let Some(value) = monitored(&early, &record)
                && let Some(done) =
                    self.early_stopping(&early, epoch, value, g, &params, &mut best_weights)?
            {
                stop = done;
            }
            control = self.tell_epoch(g, model, optimizer, observer, &record)?;
            history.push(record);
            if matches!(stop, StopReason::EarlyStopped { .. }) {
                break;
            }
            if control == Control::Stop {
                stop = StopReason::Requested;
            }
        }
        if let (Some(early), StopReason::EarlyStopped { .. }) = (self.config.early_stopping, stop)
            && early.restore_best_weights
            && !best_weights.is_empty()
        {
            for ((_, p), best) in params.iter().zip(&best_weights) {
                g.param_value_mut(*p)?.try_assign(best)?;
            }
        }
        self.save_counters();
        self.reduction.sync_optimizer(optimizer)?;
        let snapshot = Snapshot { graph: g, model, optimizer: &*optimizer, state: &self.state };
        observer.on_stop(&snapshot, stop)?;
        Ok(Fit { history, stop })
    }

    /// The record of the model as it stands after `self.state.epoch` epochs.
    fn record<M: Module>(
        &mut self,
        g: &mut Graph<F>,
        model: &mut M,
        evaluation: &Evaluation<'_, F>,
        lr: f64,
        batch_loss: Option<f64>,
    ) -> Result<EpochRecord> {
        let reduction = &mut *self.reduction;
        let mut eval = |d: &Dataset<F>| {
            let rows = reduction.eval_rows(d.len());
            evaluate_shared(g, model, self.loss, d, rows, &mut |v| reduction.sum(v))
        };
        let train = evaluation.train.map(&mut eval).transpose()?;
        let validation = evaluation.validation.map(&mut eval).transpose()?;
        Ok(EpochRecord { epoch: self.state.epoch, step: self.state.step, lr, batch_loss, train, validation })
    }

    fn tell_epoch<M: Module>(
        &mut self,
        g: &Graph<F>,
        model: &M,
        optimizer: &mut dyn Optimizer<F>,
        observer: &mut dyn Observer<F, M>,
        record: &EpochRecord,
    ) -> Result<Control> {
        self.save_counters();
        // Observers read the optimizer (checkpoints save its state): whole on every process.
        self.reduction.sync_optimizer(optimizer)?;
        let snapshot = Snapshot { graph: g, model, optimizer: &*optimizer, state: &self.state };
        let control = observer.on_epoch_end(&snapshot, record)?;
        Ok(if self.stop.load(Ordering::Relaxed) { Control::Stop } else { control })
    }

    /// The schedule over the optimizer's rate, at the step the counters say; sets the
    /// optimizer's rate to the schedule's.
    fn scheduler(&mut self, optimizer: &mut dyn Optimizer<F>) -> Result<Option<Box<dyn LrScheduler + Send>>> {
        let Some(schedule) = self.config.schedule else { return Ok(None) };
        let base = *self.counters.base_lr.get_or_insert(optimizer.lr());
        let mut s = schedule.build(base)?;
        s.set_last_step(self.counters.schedule_step);
        optimizer.set_lr(s.lr());
        Ok(Some(s))
    }

    /// Updates early stopping with the value of an evaluated epoch; `Some` when training stops.
    fn early_stopping(
        &mut self,
        early: &EarlyStopping,
        epoch: u64,
        value: f64,
        g: &Graph<F>,
        params: &[(String, Var)],
        best_weights: &mut Vec<Tensor<F>>,
    ) -> Result<Option<StopReason>> {
        let higher_is_better = early.monitor == Monitor::ValidationAccuracy;
        let improved = match self.counters.best {
            None => true,
            Some(best) if higher_is_better => value > best + early.min_delta,
            Some(best) => value < best - early.min_delta,
        };
        if improved {
            self.counters.best = Some(value);
            self.counters.best_epoch = epoch;
            self.counters.wait = 0;
            if early.restore_best_weights {
                if best_weights.len() == params.len() {
                    for ((_, p), best) in params.iter().zip(best_weights.iter_mut()) {
                        best.try_assign(g.value(*p)?)?;
                    }
                } else {
                    *best_weights =
                        params.iter().map(|(_, p)| Ok(g.value(*p)?.clone())).collect::<Result<_>>()?;
                }
            }
            return Ok(None);
        }
        self.counters.wait += 1;
        Ok((self.counters.wait >= early.patience.max(1)).then(|| StopReason::EarlyStopped {
            best_epoch: self.counters.best_epoch,
            best: self.counters.best.unwrap_or(value),
        }))
    }

    fn save_counters(&mut self) {
        let value = serde_json::to_value(&self.counters).expect("the counters serialise");
        self.state.extra.insert(STATE_KEY.to_string(), value);
    }
}

/// What every step of a `fit` shares.
struct StepContext<'a, F: Float> {
    loss: Loss,
    config: &'a TrainConfig,
    /// The rows of a part of a batch, when the reduction splits batches (reused).
    part: &'a mut Batch<F>,
    params: &'a Named,
    /// The parameters the penalties apply to.
    weights: &'a Named,
}

/// A mini-batch as a step sees it: the rows this process computes, and where they are.
struct StepBatch<'a, F: Float> {
    /// Rows `offset..offset + rows.len()` of the batch (all of them in one process).
    rows: &'a Batch<F>,
    offset: usize,
    /// The whole batch's number of rows (the global batch's, in data-parallel training).
    len: usize,
}

/// The rows of a mini-batch of `len` rows that this process computes: from the first row of
/// its first part ([`GradientReduction::part`]) to the end of its last (the parts of the
/// reductions here are consecutive; rows between parts that are not would be formed unused).
fn process_rows<F: Float>(reduction: &dyn GradientReduction<F>, len: usize) -> Result<Range<usize>> {
    let (mut start, mut end, mut index) = (len, 0, 0);
    while let Some(part) = reduction.part(len, index)? {
        (start, end, index) = (start.min(part.start), end.max(part.end), index + 1);
    }
    Ok(start.min(end)..end)
}

/// One optimizer step on one mini-batch; returns the batch loss. Its tape is cleared
/// afterwards, also on an error.
fn train_step<F: Float, M: Module>(
    g: &mut Graph<F>,
    model: &mut M,
    optimizer: &mut dyn Optimizer<F>,
    reduction: &mut dyn GradientReduction<F>,
    context: &mut StepContext<'_, F>,
    batch: StepBatch<'_, F>,
    (epoch, step): (u64, u64),
) -> Result<f64> {
    let diverged = |what: String| TrainError::Diverged { epoch, step, what };
    let StepContext { loss, config, part: part_buffer, params, weights } = context;
    let (loss, config, params, weights) = (*loss, *config, *params, *weights);
    let StepBatch { rows: mine, offset, len } = batch;
    g.step(|g| {
        optimizer.zero_grad(g);
        // The parts of the batch this process computes (the whole batch in one process):
        // their losses are means over their rows, reported as the rows' mean.
        let (mut index, mut weighted, mut rows, mut single) = (0, 0.0, 0, None);
        let mut next = reduction.part(len, 0)?;
        while let Some(range) = next {
            if index > 0 {
                // The earlier part's tape is done with; its parameters' gradients stay.
                g.clear();
            }
            let part = if range == (offset..offset + mine.len()) {
                mine
            } else {
                mine.rows_into(range.start - offset..range.end - offset, part_buffer)?;
                &**part_buffer
            };
            let backward = &mut |g: &mut Graph<F>, total: Var| -> Result<()> {
                if reduction.overlaps_backward() {
                    g.backward_with(total, |g, p| reduction.gradient_ready(g, p, &range))
                } else {
                    Ok(g.backward(total)?)
                }
            };
            let value = backward_part(g, model, (loss, config), weights, part, &diverged, backward)?;
            next = reduction.part(len, index + 1)?;
            reduction.part_done(g, params, index, range.clone(), next.is_none())?;
            single = if index == 0 { Some(value) } else { None };
            weighted += value * range.len() as f64;
            rows += range.len();
            index += 1;
        }
        reduction.reduce(g, params, len)?;
        // A reduction that checked the gradients as it summed them has said so.
        let checked = reduction.gradients_checked();
        for (name, p) in params.iter().filter(|_| !checked) {
            if let Some(grad) = g.grad_opt(*p)?
                && let Some(i) = first_non_finite(grad.as_slice())
            {
                return Err(diverged(format!("the gradient of {name} holds {}", grad.as_slice()[i])));
            }
        }
        match config.clip {
            Some(Clip::Norm(max)) => {
                clip_grad_norm(g, params, max)?;
            }
            Some(Clip::Value(v)) => clip_grad_value(g, params, v)?,
            None => {}
        }
        if !reduction.step(g, params, optimizer)? {
            optimizer.step(g)?;
        }
        Ok(single.unwrap_or(if rows > 0 { weighted / rows as f64 } else { f64::NAN }))
    })
}

/// Forward, loss (with penalties) and backward (by `backward`, given the graph and the total
/// loss) of one part of a mini-batch; returns its loss (the mean over its rows, without
/// penalties).
fn backward_part<F: Float, M: Module>(
    g: &mut Graph<F>,
    model: &mut M,
    (loss, config): (Loss, &TrainConfig),
    weights: &Named,
    batch: &Batch<F>,
    diverged: &dyn Fn(String) -> TrainError,
    backward: &mut dyn FnMut(&mut Graph<F>, Var) -> Result<()>,
) -> Result<f64> {
    let x = g.input_copy(&batch.features);
    let output = model.forward(g, x)?;
    let out = g.value(output)?.as_slice();
    if let Some(i) = first_non_finite(out) {
        return Err(diverged(format!("the model's output holds {}", out[i])));
    }
    let data_loss = loss.compute_targets(g, output, (&batch.targets).into(), Reduction::Mean)?;
    let value = g.value(data_loss)?.item();
    if !value.is_finite() {
        return Err(diverged(format!("the training loss is {value}")));
    }
    let mut total = data_loss;
    if config.l1 > 0.0 {
        let penalty = l1_penalty(g, weights, config.l1)?;
        total = g.add(total, penalty)?;
    }
    if config.l2 > 0.0 {
        let penalty = l2_penalty(g, weights, config.l2)?;
        total = g.add(total, penalty)?;
    }
    backward(g, total)?;
    Ok(value.to_f64())
}

/// The data sets a run is evaluated on.
#[derive(Debug, Clone, Copy)]
pub struct Evaluation<'a, F: Float> {
    /// The training data (its loss and accuracy over all rows).
    pub train: Option<&'a Dataset<F>>,
    /// Held-out data.
    pub validation: Option<&'a Dataset<F>>,
}

/// Whether a parameter is a weight (penalties leave biases out), by PyTorch's names.
fn is_weight(name: &str) -> bool {
    name == "weight" || name.ends_with(".weight")
}

/// The value early stopping watches in a record, if the record has it.
fn monitored(early: &EarlyStopping, record: &EpochRecord) -> Option<f64> {
    let validation_or_train = record.validation.or(record.train);
    match early.monitor {
        Monitor::ValidationLoss => validation_or_train.map(|m| m.loss),
        Monitor::ValidationAccuracy => validation_or_train.and_then(|m| m.accuracy),
        Monitor::TrainLoss => record.train.map(|m| m.loss),
    }
}

/// A non-finite loss over the training or validation data after an epoch is divergence.
fn check_finite_after_epoch(record: &EpochRecord, epoch: u64, step: u64) -> Result<()> {
    let bad = |m: Option<Metrics>| m.is_some_and(|m| !m.loss.is_finite());
    if bad(record.train) || bad(record.validation) {
        let loss = record.train.map_or(f64::NAN, |m| m.loss);
        return Err(TrainError::Diverged {
            epoch,
            step,
            what: format!("the training loss is {loss} after the epoch"),
        });
    }
    Ok(())
}
