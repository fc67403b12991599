//! Events of a training run: what observers (progress bars, JSON streams, checkpoint writers,
//! web pages) receive, and how they ask training to stop.

use backprop_autograd::Graph;
use backprop_optim::Optimizer;
use backprop_tensor::Float;

use crate::error::Result;
use crate::metrics::EpochRecord;
use crate::state::TrainingState;

/// What an observer wants after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Control {
    /// Go on training.
    #[default]
    Continue,
    /// Stop after this step (or epoch); the run ends with [`StopReason::Requested`].
    Stop,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopReason {
    /// All epochs were trained.
    Completed,
    /// Early stopping: the monitored metric did not improve for `patience` evaluations; `best_epoch`
    /// is the epoch of the best value (whose weights the model holds when `restore_best_weights`).
    EarlyStopped {
        /// The epoch with the best monitored value.
        best_epoch: u64,
        /// That value.
        best: f64,
    },
    /// An observer or the stop flag asked to stop.
    Requested,
}

/// One optimizer step, as observers see it (nothing in it is allocated).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// The epoch being trained (1-based).
    pub epoch: u64,
    /// The optimizer step (1-based, over the whole run).
    pub step: u64,
    /// The step's mini-batch loss (without penalties).
    pub loss: f64,
    /// The learning rate the step used.
    pub lr: f64,
    /// Rows in the mini-batch.
    pub rows: usize,
}

/// A read-only view of the run between steps: the graph with the parameters, the model, the
/// optimizer and the counters. Observers that save or draw the model use it.
pub struct Snapshot<'a, F: Float, M> {
    /// The graph holding the model's parameters (its tape is empty).
    pub graph: &'a Graph<F>,
    /// The model.
    pub model: &'a M,
    /// The optimizer, with its state.
    pub optimizer: &'a dyn Optimizer<F>,
    /// Epoch, step and the rest of what a resumed run needs.
    pub state: &'a TrainingState,
}

/// Receives the events of a run. Every method has a default that does nothing, so an observer
/// implements what it needs. `M` is the model type; observers that do not look at the model
/// implement `Observer<F, M>` for every `M`.
pub trait Observer<F: Float, M> {
    /// Before every optimizer step: step `step` (1-based over the run) of epoch `epoch`
    /// begins. Keep it cheap: it runs on the training loop's hot path.
    fn on_step_start(&mut self, epoch: u64, step: u64) {
        let _ = (epoch, step);
    }

    /// After every optimizer step. Keep it cheap: it runs on the training loop's hot path.
    fn on_step(&mut self, step: &StepReport) -> Control {
        let _ = step;
        Control::Continue
    }

    /// After each epoch's record, and once before training with the record of epoch 0 (the
    /// untrained model, or the resumed one).
    ///
    /// # Errors
    /// An error ends the run with it (a checkpoint that cannot be written, say).
    fn on_epoch_end(&mut self, run: &Snapshot<'_, F, M>, record: &EpochRecord) -> Result<Control> {
        let _ = (run, record);
        Ok(Control::Continue)
    }

    /// Once, when the run ends without an error.
    ///
    /// # Errors
    /// An error is the run's result.
    fn on_stop(&mut self, run: &Snapshot<'_, F, M>, reason: StopReason) -> Result<()> {
        let _ = (run, reason);
        Ok(())
    }
}

/// The observer that observes nothing.
impl<F: Float, M> Observer<F, M> for () {}

/// Several observers, called in order; the run stops when any of them asks.
impl<F: Float, M> Observer<F, M> for Vec<&mut dyn Observer<F, M>> {
    fn on_step_start(&mut self, epoch: u64, step: u64) {
        self.iter_mut().for_each(|o| o.on_step_start(epoch, step));
    }

    fn on_step(&mut self, step: &StepReport) -> Control {
        self.iter_mut().fold(Control::Continue, |c, o| c.or(o.on_step(step)))
    }

    fn on_epoch_end(&mut self, run: &Snapshot<'_, F, M>, record: &EpochRecord) -> Result<Control> {
        let mut control = Control::Continue;
        for o in self.iter_mut() {
            control = control.or(o.on_epoch_end(run, record)?);
        }
        Ok(control)
    }

    fn on_stop(&mut self, run: &Snapshot<'_, F, M>, reason: StopReason) -> Result<()> {
        self.iter_mut().try_for_each(|o| o.on_stop(run, reason))
    }
}

impl Control {
    /// `Stop` when either asks to stop.
    pub fn or(self, other: Control) -> Control {
        if self == Control::Stop || other == Control::Stop { Control::Stop } else { Control::Continue }
    }
}

/// An observer from a function called with each epoch's record (epoch 0 first); the run goes
/// on unless it returns [`Control::Stop`]. For printing or collecting records:
/// `&mut OnEpochEnd(|r: &EpochRecord| { println!("{r:?}"); Control::Continue })`.
pub struct OnEpochEnd<G>(pub G);

impl<F: Float, M, G: FnMut(&EpochRecord) -> Control> Observer<F, M> for OnEpochEnd<G> {
    fn on_epoch_end(&mut self, _run: &Snapshot<'_, F, M>, record: &EpochRecord) -> Result<Control> {
        Ok((self.0)(record))
    }
}
