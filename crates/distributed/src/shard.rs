//! The sharded optimizer step (ZeRO stage 1, PyTorch's `ZeroRedundancyOptimizer`): the
//! parameters laid end to end are cut into one block per rank; the gradients are summed by a
//! reduce-scatter, so that each rank gets the sums of its own block only, each rank runs the
//! optimizer on its block, and the updated values are gathered by every rank. The update
//! rules are elementwise, so the parameters are those of the replicated step bit for bit;
//! each rank does 1/N of the optimizer's work and of the additions of the sums.

use std::ops::Range;
use std::time::{Duration, Instant};

use backprop_autograd::{Graph, Var};
use backprop_optim::Optimizer;
use backprop_train::{Result, TrainError};

use crate::bucket::{ReductionLog, missing_gradient};
use crate::collective::{Collective, Element};

/// One rank's side of the sharded step: the layout of the parameters and the buffers that the
/// reduce-scatter and the gathers reuse from step to step.
pub(crate) struct Shards<F> {
    /// The length of each parameter, in the order of the trainer's parameter list (the
    /// optimizer's order too: `DataParallel` checks it before sharding).
    lengths: Vec<usize>,
    /// Values per block: the total divided by the ranks, rounded up (the last block is padded
    /// with zeros, so that every block has the same length, as MPI's block collectives want).
    block: usize,
    /// The gradients times this rank's rows laid end to end and padded, sent into the
    /// reduce-scatter; then the buffer every rank's block is gathered into.
    flat: Vec<F>,
    /// This rank's block: the gradient sums, then the updated values sent to the others.
    own: Vec<F>,
    /// Whether a sharded step ran since the optimizer's state was last gathered.
    state_stale: bool,
    /// The time of this step's communication so far.
    exposed: Duration,
}

impl<F: Element> Shards<F> {
    pub(crate) fn new() -> Self {
        Shards {
            lengths: Vec::new(),
            block: 0,
            flat: Vec::new(),
            own: Vec::new(),
            state_stale: false,
            exposed: Duration::ZERO,
        }
    }

    /// This rank's positions among the parameters' values laid end to end.
    fn range(&self, comm: &dyn Collective) -> Range<usize> {
        let total: usize = self.lengths.iter().sum();
        let start = (comm.rank() * self.block).min(total);
        start..(start + self.block).min(total)
    }

    /// Sums the gradients of `params` (each times `mine`, this rank's rows) over the ranks,
    /// and sets this rank's block of them to the sums divided by `rows`; the rest of the
    /// gradients keep this rank's own values. When any rank's block holds a value that is not
    /// finite, every rank sums everything instead, so that the trainer's divergence check
    /// names the same gradient on every rank.
    ///
    /// # Errors
    /// When a parameter that requires a gradient has none on this rank.
    pub(crate) fn reduce(
        &mut self,
        comm: &mut dyn Collective,
        g: &mut Graph<F>,
        params: &[(String, Var)],
        (mine, rows): (F, F),
    ) -> Result<()> {
        self.lengths.clear();
        for (_, p) in params {
            self.lengths.push(g.value(*p)?.len());
        }
        let total: usize = self.lengths.iter().sum();
        let size = comm.size();
        self.block = total.div_ceil(size);
        self.flat.resize(size * self.block, F::zero());
        self.own.resize(self.block, F::zero());
        let mut at = 0;
        for ((_, p), &n) in params.iter().zip(&self.lengths) {
            let out = &mut self.flat[at..at + n];
            match g.grad_opt(*p)? {
                Some(grad) => out.iter_mut().zip(grad.as_slice()).for_each(|(o, v)| *o = *v * mine),
                None => out.fill(F::zero()),
            }
            at += n;
        }
        self.flat[total..].fill(F::zero());

        let started = Instant::now();
        F::reduce_scatter(comm, &self.flat, &mut self.own);
        self.exposed = started.elapsed();

        let range = self.range(comm);
        let mut finite = true;
        let mut at = 0;
        for ((name, p), &n) in params.iter().zip(&self.lengths) {
            let (from, to) = (range.start.clamp(at, at + n), range.end.clamp(at, at + n));
            if from < to && g.requires_grad(*p)? {
                let grad = g.param_grad_mut(*p)?.ok_or_else(|| missing_gradient(name))?;
                let sums = &self.own[from - range.start..to - range.start];
                for (o, v) in grad.as_mut_slice()[from - at..to - at].iter_mut().zip(sums) {
                    *o = *v / rows;
                    finite &= o.is_finite();
                }
            }
            at += n;
        }
        // One number, so that every rank takes the same path.
        let started = Instant::now();
        let mut bad = [if finite { 0.0 } else { 1.0 }];
        comm.sum_f64(&mut bad);
        if bad[0] != 0.0 {
            let mut all = self.flat.clone();
            F::sum(comm, &mut all);
            let mut at = 0;
            for ((name, p), &n) in params.iter().zip(&self.lengths) {
                if g.requires_grad(*p)? {
                    let grad = g.param_grad_mut(*p)?.ok_or_else(|| missing_gradient(name))?;
                    grad.as_mut_slice().iter_mut().zip(&all[at..at + n]).for_each(|(o, v)| *o = *v / rows);
                }
                at += n;
            }
        }
        self.exposed += started.elapsed();
        Ok(())
    }

    /// Runs the optimizer on this rank's block and gathers every rank's updated values into
    /// the parameters; adds the step to `log`.
    ///
    /// # Errors
    /// When the optimizer fails.
    pub(crate) fn step(
        &mut self,
        comm: &mut dyn Collective,
        g: &mut Graph<F>,
        params: &[(String, Var)],
        optimizer: &mut dyn Optimizer<F>,
        log: &ReductionLog,
    ) -> Result<()> {
        let range = self.range(comm);
        optimizer.step_shard(g, range.clone())?;
        self.state_stale = true;
        self.own.fill(F::zero());
        let mut at = 0;
        for ((_, p), &n) in params.iter().zip(&self.lengths) {
            let (from, to) = (range.start.clamp(at, at + n), range.end.clamp(at, at + n));
            if from < to {
                let value = &g.value(*p)?.as_slice()[from - at..to - at];
                self.own[from - range.start..to - range.start].copy_from_slice(value);
            }
            at += n;
        }
        let started = Instant::now();
        F::gather(comm, &self.own, &mut self.flat);
        self.exposed += started.elapsed();
        let mut at = 0;
        for ((_, p), &n) in params.iter().zip(&self.lengths) {
            let value = g.param_value_mut(*p)?.as_mut_slice();
            // This rank's own values are in place already.
            let (from, to) = (range.start.clamp(at, at + n) - at, range.end.clamp(at, at + n) - at);
            value[..from].copy_from_slice(&self.flat[at..at + from]);
            value[to..].copy_from_slice(&self.flat[at + to..at + n]);
            at += n;
        }
        let total: usize = self.lengths.iter().sum();
        log.add(total * size_of::<F>(), 1, self.exposed);
        Ok(())
    }

    /// Gathers every rank's block of each of the optimizer's state buffers, so that every
    /// rank holds the whole state (what checkpoints save), after sharded steps.
    ///
    /// # Errors
    /// When the optimizer's buffers do not have the parameters' lengths.
    pub(crate) fn sync_state(
        &mut self,
        comm: &mut dyn Collective,
        optimizer: &mut dyn Optimizer<F>,
    ) -> Result<()> {
        if !self.state_stale {
            return Ok(());
        }
        self.state_stale = false;
        let range = self.range(comm);
        for mut buffers in optimizer.state_slices() {
            if buffers.len() != self.lengths.len()
                || buffers.iter().zip(&self.lengths).any(|(b, &n)| b.as_ref().is_some_and(|b| b.len() != n))
            {
                return Err(TrainError::invalid(
                    "data-parallel training",
                    "the optimizer's state does not have the parameters' shapes",
                ));
            }
            self.own.fill(F::zero());
            let mut at = 0;
            for (buffer, &n) in buffers.iter().zip(&self.lengths) {
                let (from, to) = (range.start.clamp(at, at + n), range.end.clamp(at, at + n));
                if let Some(buffer) = buffer
                    && from < to
                {
                    self.own[from - range.start..to - range.start]
                        .copy_from_slice(&buffer[from - at..to - at]);
                }
                at += n;
            }
            F::gather(comm, &self.own, &mut self.flat);
            let mut at = 0;
            for (buffer, &n) in buffers.iter_mut().zip(&self.lengths) {
                if let Some(buffer) = buffer {
                    let (from, to) = (range.start.clamp(at, at + n) - at, range.end.clamp(at, at + n) - at);
                    buffer[..from].copy_from_slice(&self.flat[at..at + from]);
                    buffer[to..].copy_from_slice(&self.flat[at + to..at + n]);
                }
                at += n;
            }
        }
        Ok(())
    }
}
