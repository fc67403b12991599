//! Gradients summed over the ranks in buckets that start while backward still runs, as
//! PyTorch's DistributedDataParallel does.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use backprop_autograd::{Graph, Var};
use backprop_train::{Result, TrainError};

use crate::collective::{Collective, Element};
use crate::quotient::exact_reciprocal;

/// The default bucket size, DDP's `bucket_cap_mb = 25`: 25 MiB of gradients per sum.
pub const DEFAULT_BUCKET_BYTES: usize = 25 << 20;

/// The size of the first bucket of a step at most (DDP's `_DEFAULT_FIRST_BUCKET_BYTES`, 1 MiB):
/// small, so that the first sum starts early in the backward pass.
pub const FIRST_BUCKET_BYTES: usize = 1 << 20;

/// What the gradient sums of a run's steps moved and cost, added up over the steps.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReductionTotals {
    /// Steps whose gradients were summed over the ranks.
    pub steps: u64,
    /// Gradient bytes this rank sent into the sums (it received as many back).
    pub bytes: u64,
    /// The sums (buckets) they were sent in.
    pub buckets: u64,
    /// The time the steps waited for the sums after their backward passes: the part of the
    /// communication that backward did not hide.
    pub exposed: Duration,
    /// Steps whose sums went through memory the ranks share (the sharded step on one
    /// machine) rather than messages.
    pub shared_memory: u64,
}

/// A handle on a [`crate::DataParallel`]'s [`ReductionTotals`] that stays readable after the
/// reduction was handed to the `Trainer` (one process: not shared between threads).
#[derive(Debug, Clone, Default)]
pub struct ReductionLog(Rc<Cell<ReductionTotals>>);

impl ReductionLog {
    /// The totals so far.
    pub fn totals(&self) -> ReductionTotals {
        self.0.get()
    }

    pub(crate) fn add(&self, bytes: usize, buckets: usize, exposed: Duration) {
        let t = self.0.get();
        self.0.set(ReductionTotals {
            steps: t.steps + 1,
            bytes: t.bytes + bytes as u64,
            buckets: t.buckets + buckets as u64,
            exposed: t.exposed + exposed,
            ..t
        });
    }

    /// Counts a step whose sums went through shared memory.
    pub(crate) fn add_shared_memory(&self) {
        let t = self.0.get();
        self.0.set(ReductionTotals { shared_memory: t.shared_memory + 1, ..t });
    }
}

/// The error of a parameter that got no gradient on this rank (the others would wait for it).
pub(crate) fn missing_gradient(name: &str) -> TrainError {
    TrainError::invalid(
        "data-parallel training",
        format!("{name} got no gradient on this rank: every parameter must get one"),
    )
}

/// One step's gradients, packed in the order the backward pass finished them: a bucket's sum
/// starts as soon as it holds its size of values, the last (partial) bucket's when backward is
/// over; the step then waits for all of them and writes the sums back.
///
/// Every rank runs the same graph, so every rank packs the same parameters in the same order
/// and starts the same sums in the same order, as MPI requires; which bucket a value travels in
/// does not change its sum.
pub(crate) struct Buckets<F> {
    /// The most bytes of a bucket (the first one: at most [`FIRST_BUCKET_BYTES`]).
    bucket_bytes: usize,
    /// The gradients times this rank's rows, packed; sent.
    send: Vec<F>,
    /// Their sums over the ranks; received.
    sums: Vec<F>,
    /// This step's parameters in the order they were packed, each with its first value's place.
    placed: Vec<(Var, usize)>,
    /// Values packed, and values whose sum has started.
    packed: usize,
    started: usize,
    /// Sums started this step.
    buckets: usize,
    log: ReductionLog,
}

impl<F: Element> Buckets<F> {
    /// Buckets of at most `bucket_bytes` bytes (at least one parameter each), counting into `log`.
    pub(crate) fn new(bucket_bytes: usize, log: ReductionLog) -> Self {
        Buckets {
            bucket_bytes,
            send: Vec::new(),
            sums: Vec::new(),
            placed: Vec::new(),
            packed: 0,
            started: 0,
            buckets: 0,
            log,
        }
    }

    /// Whether no parameter was packed this step.
    pub(crate) fn is_empty(&self) -> bool {
        self.placed.is_empty()
    }

    /// Whether sums were started and not waited for (their buffers are MPI's).
    pub(crate) fn in_flight(&self) -> bool {
        self.started > 0
    }

    /// The totals of the finished steps.
    pub(crate) fn log(&self) -> &ReductionLog {
        &self.log
    }

    /// Packs `param`'s gradient times `rows` (zeros when it has none) and starts the bucket's
    /// sum if it is full.
    ///
    /// # Errors
    /// When `param` is not a parameter of `g`, or `g` gained parameters during the step.
    pub(crate) fn add(&mut self, comm: &mut dyn Collective, g: &Graph<F>, param: Var, rows: F) -> Result<()> {
        if self.placed.is_empty() {
            // Sized once per step, before any sum starts: the buffers never move while MPI
            // holds them.
            let total: usize =
                g.params().map(|p| g.value(p).map(|v| v.len())).sum::<backprop_autograd::Result<_>>()?;
            self.send.resize(total, F::zero());
            self.sums.resize(total, F::zero());
        }
        let n = g.value(param)?.len();
        let at = self.packed;
        let Some(out) = self.send.get_mut(at..at + n) else {
            return Err(TrainError::invalid(
                "data-parallel training",
                "the graph gained parameters during the backward pass",
            ));
        };
        match g.grad_opt(param)? {
            Some(grad) => out.iter_mut().zip(grad.as_slice()).for_each(|(o, v)| *o = *v * rows),
            None => out.fill(F::zero()),
        }
        self.placed.push((param, at));
        self.packed += n;
        let cap =
            if self.buckets == 0 { self.bucket_bytes.min(FIRST_BUCKET_BYTES) } else { self.bucket_bytes };
        if (self.packed - self.started) * size_of::<F>() >= cap {
            self.start(comm);
        } else {
            comm.progress_sums();
        }
        Ok(())
    }

    /// Starts the sum of the values packed since the last one started.
    fn start(&mut self, comm: &mut dyn Collective) {
        let (from, len) = (self.started, self.packed - self.started);
        if len == 0 {
            return;
        }
        // SAFETY: `send` and `sums` are separate buffers sized for the whole step before the
        // first sum started; neither is resized, nor its started range touched, until
        // `finish` has waited for the sums.
        unsafe { F::start_sum(comm, self.send.as_ptr().add(from), self.sums.as_mut_ptr().add(from), len) };
        self.started = self.packed;
        self.buckets += 1;
    }

    /// Starts the last bucket, waits for every sum, and sets each packed parameter's gradient to
    /// its sum divided by `rows`; the buckets are then empty for the next step.
    ///
    /// # Errors
    /// When a parameter that requires a gradient has none (every rank must compute one).
    pub(crate) fn finish(&mut self, comm: &mut dyn Collective, g: &mut Graph<F>, rows: F) -> Result<()> {
        let waiting = Instant::now();
        self.start(comm);
        comm.wait_sums();
        self.log.add(self.packed * size_of::<F>(), self.buckets, waiting.elapsed());
        (self.packed, self.started, self.buckets) = (0, 0, 0);
        for (param, at) in self.placed.drain(..) {
            if !g.requires_grad(param)? {
                continue;
            }
            match g.param_grad_mut(param)? {
                Some(grad) => {
                    let (out, sums) = (grad.as_mut_slice(), &self.sums[at..]);
                    match exact_reciprocal(rows) {
                        Some(reciprocal) => out.iter_mut().zip(sums).for_each(|(o, v)| *o = *v * reciprocal),
                        None => out.iter_mut().zip(sums).for_each(|(o, v)| *o = *v / rows),
                    }
                }
                None => return Err(missing_gradient(g.param_name(param)?)),
            }
        }
        Ok(())
    }

    /// Gives up the buffers of sums still in flight without freeing them (MPI may still write
    /// into them), for a rank that stops in the middle of a step.
    pub(crate) fn abandon(&mut self) {
        if self.in_flight() {
            std::mem::forget(std::mem::take(&mut self.send));
            std::mem::forget(std::mem::take(&mut self.sums));
            self.started = 0;
        }
    }
}
