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
use crate::quotient::exact_reciprocal;

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
    /// This rank's block: the gradient sums, then the updated values sent to the others
    /// (when the collective has no point-to-point messages).
    own: Vec<F>,
    /// The other ranks' parts of this rank's block of gradients, received (point to point).
    received: Vec<F>,
    /// Zeros sent for a parameter without a gradient (point to point).
    zeros: Vec<F>,
    /// Every rank's shared segment where the ranks share memory ([`Collective::share_f32`]):
    /// `size` blocks of its gradients (block `r`: its part of rank `r`'s block), then its block
    /// of updated values. Asked for once per length (`shared_len`).
    shared: Option<Vec<*mut F>>,
    shared_len: usize,
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
            received: Vec::new(),
            zeros: Vec::new(),
            shared: None,
            shared_len: 0,
            state_stale: false,
            exposed: Duration::ZERO,
        }
    }

    /// This rank's positions among the parameters' values laid end to end.
    fn range(&self, comm: &dyn Collective) -> Range<usize> {
        self.block_of(comm.rank())
    }

    /// Rank `rank`'s positions among the parameters' values laid end to end.
    fn block_of(&self, rank: usize) -> Range<usize> {
        let total: usize = self.lengths.iter().sum();
        let start = (rank * self.block).min(total);
        start..(start + self.block).min(total)
    }

    /// Sums the gradients of `params` over the ranks, each rank's times its rows (`ranks_rows`),
    /// and sets this rank's block of them to the sums divided by `rows`; the rest of the
    /// gradients keep this rank's own values. When any rank's block holds a value that is not
    /// finite, every rank sums everything instead, so that the trainer's divergence check
    /// names the same gradient on every rank. Returns whether every rank's block was finite.
    ///
    /// # Errors
    /// When a parameter that requires a gradient has none on this rank.
    pub(crate) fn reduce(
        &mut self,
        comm: &mut dyn Collective,
        g: &mut Graph<F>,
        params: &[(String, Var)],
        (ranks_rows, rows): (&[F], F),
    ) -> Result<bool> {
        let mine = ranks_rows[comm.rank()];
        self.lengths.clear();
        for (_, p) in params {
            self.lengths.push(g.value(*p)?.len());
        }
        let total: usize = self.lengths.iter().sum();
        let (size, rank) = (comm.size(), comm.rank());
        self.block = total.div_ceil(size);
        self.flat.resize(size * self.block, F::zero());
        self.own.resize(self.block, F::zero());
        let own = self.range(comm);
        let wanted = (size + 1) * self.block;
        if self.shared_len != wanted {
            // Collective: every rank has the same layout, so every rank asks here.
            self.shared = F::share(comm, wanted);
            self.shared_len = wanted;
        }
        let finite = if let Some(segments) = self.shared.take() {
            let finite = self.reduce_shared(comm, g, params, &segments, ranks_rows, rows);
            self.shared = Some(segments);
            finite?
        } else if comm.point_to_point() {
            // The other ranks' blocks are sent straight from the gradients, as they are, and
            // each part received is scaled by its sender's rows where it is added: the same
            // products as scaling before sending, without a pass that packs them.
            self.received.resize(size * self.block, F::zero());
            let mut sources = Vec::with_capacity(params.len());
            for (_, p) in params {
                sources.push(g.grad_opt(*p)?.map(|grad| grad.as_slice().as_ptr()));
            }
            if sources.iter().any(Option::is_none) {
                self.zeros.resize(self.block, F::zero());
            }
            let started = Instant::now();
            for peer in (0..size).filter(|&r| r != rank) {
                for (_, positions, at) in pieces(&self.lengths, own.clone()) {
                    // SAFETY: `received` is neither resized nor touched until `wait_sums`
                    // below; the pieces of different peers do not overlap.
                    unsafe {
                        F::start_receive(
                            comm,
                            peer,
                            self.received.as_mut_ptr().add(peer * self.block + at),
                            positions.len(),
                        )
                    };
                }
                for (k, positions, _) in pieces(&self.lengths, self.block_of(peer)) {
                    let from = match sources[k] {
                        // SAFETY: within the gradient, which has the parameter's length.
                        Some(grad) => unsafe { grad.add(positions.start) },
                        None => self.zeros.as_ptr(),
                    };
                    // SAFETY: the gradients (and `zeros`) are neither moved nor written until
                    // `wait_sums` below: this rank writes only its own block of them, after.
                    unsafe { F::start_send(comm, peer, from, positions.len()) };
                }
            }
            comm.wait_sums();
            self.exposed = started.elapsed();
            let (received, block) = (&self.received, self.block);
            let part = |r: usize, at: usize, n: usize| &received[r * block + at..r * block + at + n];
            sum_block(g, params, (&self.lengths, own), rank, part, (ranks_rows, rows))?
        } else {
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
            let mut finite = true;
            for (k, positions, at) in pieces(&self.lengths, own.clone()) {
                let (name, p) = &params[k];
                if g.requires_grad(*p)? {
                    let n = positions.len();
                    let grad = g.param_grad_mut(*p)?.ok_or_else(|| missing_gradient(name))?;
                    for (o, v) in grad.as_mut_slice()[positions].iter_mut().zip(&self.own[at..at + n]) {
                        *o = *v / rows;
                        finite &= o.is_finite();
                    }
                }
            }
            finite
        };
        // One number, so that every rank takes the same path.
        let started = Instant::now();
        let mut bad = [if finite { 0.0 } else { 1.0 }];
        comm.sum_f64(&mut bad);
        if bad[0] != 0.0 {
            self.gather_sums(comm, g, params)?;
        }
        self.exposed += started.elapsed();
        Ok(bad[0] == 0.0)
    }

    /// [`Shards::reduce`] through shared memory: this rank writes its gradients in the other
    /// ranks' blocks into its segment, and after a fence adds every rank's part of its own
    /// block, read where it lies. The other ranks finish reading this rank's segment before the
    /// agreement on finiteness that follows, so the next writes (the step's values, then the
    /// next step's gradients) wait for nothing more. Returns whether this rank's block is
    /// finite.
    fn reduce_shared(
        &mut self,
        comm: &mut dyn Collective,
        g: &mut Graph<F>,
        params: &[(String, Var)],
        segments: &[*mut F],
        ranks_rows: &[F],
        rows: F,
    ) -> Result<bool> {
        let (size, rank, block) = (comm.size(), comm.rank(), self.block);
        let started = Instant::now();
        for peer in (0..size).filter(|&r| r != rank) {
            // SAFETY: block `peer` of this rank's segment ((size + 1) · block values), which no
            // other rank reads before the fence below.
            let out = unsafe { std::slice::from_raw_parts_mut(segments[rank].add(peer * block), block) };
            for (k, positions, at) in pieces(&self.lengths, self.block_of(peer)) {
                let out = &mut out[at..at + positions.len()];
                match g.grad_opt(params[k].1)? {
                    Some(grad) => out.copy_from_slice(&grad.as_slice()[positions]),
                    None => out.fill(F::zero()),
                }
            }
        }
        comm.fence();
        self.exposed = started.elapsed();
        // SAFETY: block `rank` of rank r's segment, written before the fence above and
        // unchanged until the agreement that follows this reduction.
        let part = |r: usize, at: usize, n: usize| unsafe {
            std::slice::from_raw_parts(segments[r].add(rank * block + at), n)
        };
        sum_block(g, params, (&self.lengths, self.range(comm)), rank, part, (ranks_rows, rows))
    }

    /// Gives every rank the whole of the reduced gradients: every rank's block of sums is
    /// gathered (a step whose sums are not all finite, so that the trainer's divergence check
    /// names the same gradient on every rank).
    fn gather_sums(
        &mut self,
        comm: &mut dyn Collective,
        g: &mut Graph<F>,
        params: &[(String, Var)],
    ) -> Result<()> {
        self.own.fill(F::zero());
        let range = self.range(comm);
        for (k, positions, at) in pieces(&self.lengths, range) {
            if let Some(grad) = g.grad_opt(params[k].1)? {
                self.own[at..at + positions.len()].copy_from_slice(&grad.as_slice()[positions]);
            }
        }
        F::gather(comm, &self.own, &mut self.flat);
        let mut at = 0;
        for ((_, p), &n) in params.iter().zip(&self.lengths) {
            if g.requires_grad(*p)?
                && let Some(grad) = g.param_grad_mut(*p)?
            {
                grad.as_mut_slice().copy_from_slice(&self.flat[at..at + n]);
            }
            at += n;
        }
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
        if let Some(segments) = &self.shared {
            // This rank's updated block goes into its segment, and every other rank's is copied
            // from theirs straight into the parameters.
            let started = Instant::now();
            let (size, rank, block) = (comm.size(), comm.rank(), self.block);
            // SAFETY: this rank's segment holds (size + 1) · block values; the other ranks read
            // its last block only after the fence below, and finished reading it in the last
            // step before the fence of this step's reduction.
            let mine = unsafe { std::slice::from_raw_parts_mut(segments[rank].add(size * block), block) };
            for (k, positions, at) in pieces(&self.lengths, range.clone()) {
                mine[at..at + positions.len()].copy_from_slice(&g.value(params[k].1)?.as_slice()[positions]);
            }
            comm.fence();
            for peer in (0..size).filter(|&r| r != rank) {
                // SAFETY: rank `peer`'s segment, written before the fence and unchanged until
                // the fence of the next step's reduction, which this rank reaches after this.
                let theirs = unsafe { std::slice::from_raw_parts(segments[peer].add(size * block), block) };
                for (k, positions, at) in pieces(&self.lengths, self.block_of(peer)) {
                    let n = positions.len();
                    g.param_value_mut(params[k].1)?.as_mut_slice()[positions]
                        .copy_from_slice(&theirs[at..at + n]);
                }
            }
            self.exposed += started.elapsed();
        } else if comm.point_to_point() {
            // Each rank's updated block goes to every other rank straight from its parameters
            // and into theirs, one message per parameter it touches.
            let mut values = Vec::with_capacity(params.len());
            for (_, p) in params {
                values.push(g.param_value_mut(*p)?.as_mut_slice().as_mut_ptr());
            }
            let started = Instant::now();
            let (size, rank) = (comm.size(), comm.rank());
            for peer in (0..size).filter(|&r| r != rank) {
                for (k, positions, _) in pieces(&self.lengths, self.block_of(peer)) {
                    // SAFETY: the parameters' buffers are neither moved nor touched until
                    // `wait_sums` below; the other ranks' blocks, received, and this rank's,
                    // sent, do not overlap.
                    unsafe { F::start_receive(comm, peer, values[k].add(positions.start), positions.len()) };
                }
                for (k, positions, _) in pieces(&self.lengths, range.clone()) {
                    // SAFETY: as above.
                    unsafe {
                        F::start_send(
                            comm,
                            peer,
                            values[k].add(positions.start).cast_const(),
                            positions.len(),
                        )
                    };
                }
            }
            comm.wait_sums();
            self.exposed += started.elapsed();
        } else {
            self.own.fill(F::zero());
            for (k, positions, at) in pieces(&self.lengths, range.clone()) {
                let value = &g.value(params[k].1)?.as_slice()[positions];
                self.own[at..at + value.len()].copy_from_slice(value);
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
        }
        let total: usize = self.lengths.iter().sum();
        log.add(total * size_of::<F>(), 1, self.exposed);
        if self.shared.is_some() {
            log.add_shared_memory();
        }
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

/// Sets this rank's block (`own`, among the parameters of `lengths` laid end to end) of the
/// gradients of `params` to the sums of every rank's part over the batch's rows ([`add_parts`]):
/// `part(r, at, n)` is rank `r`'s `n` values from place `at` of the block, wherever the
/// exchange left them. Returns whether every sum is finite.
///
/// # Errors
/// When a parameter that requires a gradient has none on this rank.
fn sum_block<'a, F: Element>(
    g: &mut Graph<F>,
    params: &[(String, Var)],
    (lengths, own): (&[usize], Range<usize>),
    rank: usize,
    part: impl Fn(usize, usize, usize) -> &'a [F],
    (ranks_rows, rows): (&[F], F),
) -> Result<bool> {
    let mut finite = true;
    for (k, positions, at) in pieces(lengths, own) {
        let (name, p) = &params[k];
        if !g.requires_grad(*p)? {
            continue;
        }
        let n = positions.len();
        let grad =
            &mut g.param_grad_mut(*p)?.ok_or_else(|| missing_gradient(name))?.as_mut_slice()[positions];
        finite &= add_parts(grad, rank, |r| part(r, at, n), (ranks_rows, rows));
    }
    Ok(finite)
}

/// Sets `out` (this rank's own part of a block, its gradient) to the sum over the ranks of
/// their parts times their rows (`ranks_rows`), divided by `rows`: this rank's part is `out`,
/// rank `r`'s is `part(r)`, added in rank order (the all-reduce's sum bit for bit on 2 ranks,
/// where `a + b` is `b + a`). Returns whether every sum is finite.
fn add_parts<'a, F: Element>(
    out: &mut [F],
    rank: usize,
    part: impl Fn(usize) -> &'a [F],
    (ranks_rows, rows): (&[F], F),
) -> bool {
    match exact_reciprocal(rows) {
        Some(reciprocal) => add_parts_by(out, rank, part, ranks_rows, |sum| sum * reciprocal),
        None => add_parts_by(out, rank, part, ranks_rows, |sum| sum / rows),
    }
}

/// [`add_parts`] with the division by the rows as `divide`.
fn add_parts_by<'a, F: Element>(
    out: &mut [F],
    rank: usize,
    part: impl Fn(usize) -> &'a [F],
    ranks_rows: &[F],
    divide: impl Fn(F) -> F,
) -> bool {
    let mut finite = true;
    let mine = ranks_rows[rank];
    if let &[first, second] = ranks_rows {
        // The common case in a loop the compiler vectorises.
        let (other, theirs) = (part(1 - rank), if rank == 0 { second } else { first });
        for (o, &v) in out.iter_mut().zip(other) {
            let (own, v) = (*o * mine, v * theirs);
            *o = divide(if rank == 0 { own + v } else { v + own });
            finite &= o.is_finite();
        }
        return finite;
    }
    for (i, o) in out.iter_mut().enumerate() {
        let term = |r: usize| if r == rank { *o * mine } else { part(r)[i] * ranks_rows[r] };
        let mut sum = term(0);
        for r in 1..ranks_rows.len() {
            sum += term(r);
        }
        *o = divide(sum);
        finite &= o.is_finite();
    }
    finite
}

/// The parts of parameters of `lengths` (laid end to end) in `range`: (parameter index, its
/// positions, the first one's place in the block that starts at `range.start`).
fn pieces(lengths: &[usize], range: Range<usize>) -> impl Iterator<Item = (usize, Range<usize>, usize)> + '_ {
    let mut at = 0;
    lengths.iter().enumerate().filter_map(move |(k, &n)| {
        let (from, to) = (range.start.clamp(at, at + n), range.end.clamp(at, at + n));
        let first = at;
        at += n;
        (from < to).then(|| (k, from - first..to - first, from - range.start))
    })
}
