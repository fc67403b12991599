//! The gradient reduction of data-parallel training.

use std::ops::Range;

use backprop_autograd::{Graph, Var};
use backprop_optim::Optimizer;
use backprop_tensor::Float;
use backprop_train::{GradientReduction, Result, TrainError};

use crate::bucket::{Buckets, DEFAULT_BUCKET_BYTES, ReductionLog, missing_gradient};
use crate::collective::{Collective, Element};
use crate::shard::Shards;
use crate::tree::{pairwise_sum, split};

/// Data-parallel training as a [`GradientReduction`] for the `Trainer`: each rank computes its
/// consecutive slice of every global mini-batch (the `Trainer`'s batch size is the global one),
/// the gradients are summed over the ranks weighted by rows and divided by the batch's rows,
/// so every rank takes the optimizer step of the whole batch and the replicas stay identical.
/// As in DDP, the sums run in buckets that start while backward still runs: a bucket's sum
/// starts as soon as the backward pass has finished its size in gradients
/// ([`DataParallel::with_bucket_bytes`]), and the step waits for them after backward.
/// Evaluation data is split over the ranks too and its totals are summed.
///
/// With [`DataParallel::with_sharded_step`] (ZeRO stage 1) the gradients are instead summed by
/// a reduce-scatter after backward, each rank runs the optimizer on its block of the
/// parameters and the updated values are gathered: the same parameters bit for bit, with 1/N
/// of the optimizer's work per rank.
///
/// With [`DataParallel::with_micro_batch`] the gradient of a batch is instead the sum of the
/// gradients of its micro-batches of `m` rows, taken in a fixed pairwise tree over the
/// micro-batch index ([`pairwise_sum`]): the same bits on 1, 2 or 4 ranks.
pub struct DataParallel<F: Element> {
    comm: Box<dyn Collective>,
    micro_batch: Option<usize>,
    check_replicas: bool,
    /// Deterministic mode: this rank's micro-batch gradients, flattened (scaled by their rows).
    local: Vec<F>,
    /// Deterministic mode: every rank's micro-batch gradients.
    gathered: Vec<F>,
    /// The gradients' sums in buckets, overlapping backward.
    buckets: Buckets<F>,
    /// Whether the sharded step was asked for, and whether this run takes it
    /// ([`GradientReduction::prepare`] decides).
    sharded: bool,
    sharding: bool,
    /// Whether the last sharded reduction found every rank's sums finite.
    checked: bool,
    /// The sharded step's layout and buffers.
    shards: Shards<F>,
    /// The sharded step: each rank's rows of the batch being reduced.
    ranks_rows: Vec<F>,
    steps: u64,
}

impl<F: Element> DataParallel<F> {
    /// Data-parallel training over the ranks of `comm`.
    pub fn new(comm: impl Collective + 'static) -> Self {
        DataParallel {
            comm: Box::new(comm),
            micro_batch: None,
            check_replicas: false,
            local: Vec::new(),
            gathered: Vec::new(),
            buckets: Buckets::new(DEFAULT_BUCKET_BYTES, ReductionLog::default()),
            sharded: false,
            sharding: false,
            checked: false,
            shards: Shards::new(),
            ranks_rows: Vec::new(),
            steps: 0,
        }
    }

    /// Sums the gradients in buckets of at most `bytes` bytes (each at least one parameter's;
    /// the first at most 1 MiB), started as soon as backward has finished them; the default is
    /// DDP's 25 MiB. Smaller buckets start earlier and hide more of the communication behind
    /// backward, in more messages; `usize::MAX` sums everything in one bucket after backward.
    ///
    /// # Errors
    /// When `bytes` is 0.
    pub fn with_bucket_bytes(mut self, bytes: usize) -> Result<Self> {
        if bytes == 0 {
            return Err(TrainError::invalid("bucket_bytes", "must be at least 1 byte"));
        }
        self.buckets = Buckets::new(bytes, self.buckets.log().clone());
        Ok(self)
    }

    /// A handle on what the gradient sums moved and how long the steps waited for them after
    /// backward, readable while the `Trainer` holds this reduction (nothing is counted in one
    /// process, nor in the deterministic mode, which gathers instead).
    pub fn reduction_log(&self) -> ReductionLog {
        self.buckets.log().clone()
    }

    /// The sharded optimizer step (ZeRO stage 1, PyTorch's `ZeroRedundancyOptimizer`): after
    /// backward the gradients are summed by a reduce-scatter, so that each rank gets the sums
    /// of its block of the parameters laid end to end (1/N of them); each rank runs the
    /// optimizer on its block and the updated values are gathered by every rank. The
    /// parameters are those of the replicated step bit for bit (the update rules are
    /// elementwise), each rank doing 1/N of the optimizer's work and of the sums' additions;
    /// the optimizer's state is gathered whole before every epoch's end, so checkpoints hold
    /// all of it. No buckets: the sums start after backward. Not taken (the replicated step
    /// is) in one process, in the deterministic mode, with clipping by the global norm, or
    /// with an optimizer that cannot update a shard.
    pub fn with_sharded_step(mut self, sharded: bool) -> Self {
        self.sharded = sharded;
        self
    }

    /// The deterministic mode: gradients summed over micro-batches of `rows` rows in a fixed
    /// order, so that the trained model does not depend on the number of ranks. It costs a
    /// backward pass per micro-batch and a gather of every micro-batch's gradients
    /// (micro-batches × parameters values) instead of one all-reduce of the parameters.
    ///
    /// # Errors
    /// When `rows` is 0.
    pub fn with_micro_batch(mut self, rows: usize) -> Result<Self> {
        if rows == 0 {
            return Err(TrainError::invalid("micro_batch", "must be at least 1 row"));
        }
        self.micro_batch = Some(rows);
        Ok(self)
    }

    /// Compares a hash of every rank's parameters before every step (and in
    /// [`DataParallel::verify_replicas`]): training stops naming the step where they differ.
    pub fn with_replica_check(mut self, check: bool) -> Self {
        self.check_replicas = check;
        self
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.comm.size()
    }

    /// Gives every rank rank 0's parameter values (DDP's start: replicas begin identical even
    /// when their initialisation differed).
    ///
    /// # Errors
    /// When a parameter is not in `g`.
    pub fn broadcast_parameters(&mut self, g: &mut Graph<F>, params: &[(String, Var)]) -> Result<()> {
        for (_, p) in params {
            F::broadcast(self.comm.as_mut(), g.param_value_mut(*p)?.as_mut_slice());
        }
        Ok(())
    }

    /// Checks that every rank's parameters are bit-identical to rank 0's.
    ///
    /// # Errors
    /// Naming the first rank whose parameters differ, and `when`.
    pub fn verify_replicas(&mut self, g: &Graph<F>, params: &[(String, Var)], when: &str) -> Result<()> {
        let mut hash = crate::Fingerprint::new();
        for (name, p) in params {
            let bits: Vec<u64> =
                g.value(*p)?.as_slice().iter().map(|v| Float::to_f64(*v).to_bits()).collect();
            hash = hash.debug(name).debug(&bits);
        }
        let hashes = self.gather_u64(&[hash.finish()]);
        match hashes.iter().position(|&h| h != hashes[0]) {
            None => Ok(()),
            Some(rank) => Err(TrainError::invalid(
                "data-parallel training",
                format!("{when}, rank {rank}'s parameters differ from rank 0's"),
            )),
        }
    }

    /// The start-up check: every rank passes the same named fingerprints (settings, data, ...);
    /// `Err` names the first one in which some rank differs from rank 0, and that rank. Every
    /// rank gets the same answer.
    pub fn check_same(&mut self, items: &[(&str, u64)]) -> std::result::Result<(), String> {
        let mine: Vec<u64> = items.iter().map(|(_, h)| *h).collect();
        let all = self.gather_u64(&mine);
        for (rank, theirs) in all.chunks(mine.len().max(1)).enumerate().skip(1) {
            if let Some(i) = (0..mine.len()).find(|&i| theirs[i] != all[i]) {
                return Err(format!(
                    "rank {rank} runs with other {} than rank 0 (every rank must get the same flags and data)",
                    items[i].0
                ));
            }
        }
        Ok(())
    }

    /// Checks up front that every batch of an epoch over `rows` rows in batches of
    /// `batch_size` gives every rank at least one row (deterministic mode: one micro-batch).
    ///
    /// # Errors
    /// Naming the batch that is too small and what would fit.
    pub fn check_batches(&self, rows: usize, batch_size: usize) -> Result<()> {
        let last = rows % batch_size;
        for b in [batch_size.min(rows), last].into_iter().filter(|&b| b > 0) {
            self.pieces(b)?;
        }
        Ok(())
    }

    /// Waits for every rank.
    pub fn barrier(&mut self) {
        self.comm.barrier();
    }

    fn gather_u64(&mut self, send: &[u64]) -> Vec<u64> {
        let mut all = vec![0; send.len() * self.size()];
        self.comm.gather_u64(send, &mut all);
        all
    }

    /// How many pieces a batch of `rows` rows has (micro-batches, or one per rank), and this
    /// rank's range of them.
    fn pieces(&self, rows: usize) -> Result<(usize, Range<usize>)> {
        let (size, rank) = (self.size(), self.rank());
        // Deterministic mode: the micro-batches; otherwise one piece per rank.
        let count = self.micro_batch.map_or(size, |m| rows.div_ceil(m));
        if count < size || rows < size {
            let what = match self.micro_batch {
                Some(m) => {
                    format!(
                        "a batch of {rows} rows has {count} micro-batches of {m} rows, fewer than the {size} ranks"
                    )
                }
                None => format!("a batch of {rows} rows has fewer rows than the {size} ranks"),
            };
            return Err(TrainError::invalid(
                "batch_size",
                format!(
                    "{what}, and every rank needs one; choose a batch size for \
                     which every batch (the epoch's last one too) has enough"
                ),
            ));
        }
        Ok((count, split(count, size, rank)))
    }

    /// The rows of piece `j` of a batch of `rows` rows split into `count` pieces.
    fn piece_rows(&self, rows: usize, count: usize, j: usize) -> Range<usize> {
        match self.micro_batch {
            Some(m) => (j * m)..((j + 1) * m).min(rows),
            None => split(rows, count, j),
        }
    }

    /// The number of gradient values of `params`.
    fn grad_len(g: &Graph<F>, params: &[(String, Var)]) -> Result<usize> {
        params.iter().map(|(_, p)| Ok(g.value(*p)?.len())).sum()
    }

    /// Copies the gradients of `params`, times `scale`, into `out` (zeros for a parameter without one).
    fn flatten_into(g: &Graph<F>, params: &[(String, Var)], scale: F, out: &mut [F]) -> Result<()> {
        let mut at = 0;
        for (_, p) in params {
            let n = g.value(*p)?.len();
            match g.grad_opt(*p)? {
                Some(grad) => {
                    for (o, v) in out[at..at + n].iter_mut().zip(grad.as_slice()) {
                        *o = *v * scale;
                    }
                }
                None => out[at..at + n].fill(F::zero()),
            }
            at += n;
        }
        Ok(())
    }

    /// Sets the gradients of `params` to `flat / rows`.
    fn write_back(g: &mut Graph<F>, params: &[(String, Var)], flat: &[F], rows: F) -> Result<()> {
        let mut at = 0;
        for (name, p) in params {
            let n = g.value(*p)?.len();
            if g.requires_grad(*p)? {
                let grad = g.param_grad_mut(*p)?.ok_or_else(|| missing_gradient(name))?;
                for (o, v) in grad.as_mut_slice().iter_mut().zip(&flat[at..at + n]) {
                    *o = *v / rows;
                }
            }
            at += n;
        }
        Ok(())
    }
}

impl<F: Element> GradientReduction<F> for DataParallel<F> {
    fn part(&self, rows: usize, index: usize) -> Result<Option<Range<usize>>> {
        if self.micro_batch.is_none() && self.size() == 1 {
            return Ok((index == 0).then_some(0..rows));
        }
        let (count, mine) = self.pieces(rows)?;
        let j = mine.start + index;
        Ok((j < mine.end).then(|| self.piece_rows(rows, count, j)))
    }

    fn part_done(
        &mut self,
        g: &mut Graph<F>,
        params: &[(String, Var)],
        index: usize,
        rows: Range<usize>,
        last: bool,
    ) -> Result<()> {
        if self.micro_batch.is_none() {
            return Ok(());
        }
        let len = Self::grad_len(g, params)?;
        if self.local.len() < (index + 1) * len {
            self.local.resize((index + 1) * len, F::zero());
        }
        let scale = F::from_f64(rows.len() as f64);
        Self::flatten_into(g, params, scale, &mut self.local[index * len..(index + 1) * len])?;
        if !last {
            // The next micro-batch's backward starts afresh, as it would on another rank; the
            // last one's gradients stay live for the sum to be written into.
            g.zero_grad();
        }
        Ok(())
    }

    fn reduce(&mut self, g: &mut Graph<F>, params: &[(String, Var)], rows: usize) -> Result<()> {
        self.steps += 1;
        self.checked = false;
        if self.check_replicas {
            let when = format!("before step {}", self.steps);
            self.verify_replicas(g, params, &when)?;
        }
        let len = Self::grad_len(g, params)?;
        let total = F::from_f64(rows as f64);
        match self.micro_batch {
            None if self.size() == 1 => Ok(()),
            None if self.sharding => {
                let (count, _) = self.pieces(rows)?;
                self.ranks_rows.clear();
                // One piece per rank (no micro-batches here).
                self.ranks_rows.extend((0..count).map(|r| F::from_f64(split(rows, count, r).len() as f64)));
                self.checked =
                    self.shards.reduce(self.comm.as_mut(), g, params, (&self.ranks_rows, total))?;
                Ok(())
            }
            None => {
                if self.buckets.is_empty() {
                    // Nobody told the buckets about the gradients during backward (a loop
                    // other than the Trainer's): they all go now.
                    let mine = F::from_f64(self.part(rows, 0)?.map_or(0, |r| r.len()) as f64);
                    for (_, p) in params {
                        self.buckets.add(self.comm.as_mut(), g, *p, mine)?;
                    }
                }
                self.buckets.finish(self.comm.as_mut(), g, total)
            }
            Some(_) => {
                let (count, _) = self.pieces(rows)?;
                let size = self.size();
                let slots = count.div_ceil(size);
                self.local.resize(slots * len, F::zero());
                self.gathered.resize(size * slots * len, F::zero());
                F::gather(self.comm.as_mut(), &self.local[..slots * len], &mut self.gathered);
                // Micro-batch j is slot j - first(r) of its rank r.
                let offset = |j: usize| {
                    let r = (0..size).find(|&r| split(count, size, r).contains(&j)).expect("j < count");
                    (r * slots + j - split(count, size, r).start) * len
                };
                pairwise_sum(&mut self.gathered, count, len, offset);
                let first = offset(0);
                Self::write_back(g, params, &self.gathered[first..first + len], total)
            }
        }
    }

    fn gradients_checked(&self) -> bool {
        self.sharding && self.checked
    }

    fn overlaps_backward(&self) -> bool {
        self.micro_batch.is_none() && self.size() > 1 && !self.sharding
    }

    fn prepare(
        &mut self,
        params: &[(String, Var)],
        optimizer: &dyn Optimizer<F>,
        whole_gradients: bool,
    ) -> Result<()> {
        // The shards are positions in the trainer's parameter list, which must then be the
        // optimizer's list in the same order.
        let same_order = optimizer.params().iter().map(|(_, v)| *v).eq(params.iter().map(|(_, v)| *v));
        self.sharding = self.sharded
            && self.size() > 1
            && self.micro_batch.is_none()
            && optimizer.shardable()
            && !whole_gradients
            && same_order;
        Ok(())
    }

    fn step(
        &mut self,
        g: &mut Graph<F>,
        params: &[(String, Var)],
        optimizer: &mut dyn Optimizer<F>,
    ) -> Result<bool> {
        if !self.sharding {
            return Ok(false);
        }
        let log = self.buckets.log().clone();
        self.shards.step(self.comm.as_mut(), g, params, optimizer, &log)?;
        Ok(true)
    }

    fn sync_optimizer(&mut self, optimizer: &mut dyn Optimizer<F>) -> Result<()> {
        if self.sharding {
            self.shards.sync_state(self.comm.as_mut(), optimizer)?;
        }
        Ok(())
    }

    fn gradient_ready(&mut self, g: &Graph<F>, param: Var, rows: &Range<usize>) -> Result<()> {
        self.buckets.add(self.comm.as_mut(), g, param, F::from_f64(rows.len() as f64))
    }

    fn eval_rows(&self, rows: usize) -> Range<usize> {
        // The deterministic mode evaluates everything on every rank, so that its metrics (and
        // early stopping's decisions) do not depend on the number of ranks either.
        match self.micro_batch {
            Some(_) => 0..rows,
            None => split(rows, self.size(), self.rank()),
        }
    }

    fn sum(&mut self, values: &mut [f64]) -> Result<()> {
        if self.size() > 1 && self.micro_batch.is_none() {
            self.comm.sum_f64(values);
        }
        Ok(())
    }
}

impl<F: Element> Drop for DataParallel<F> {
    /// A rank that stops in the middle of a step (an error) may leave sums in flight: their
    /// buffers are given up rather than freed under MPI.
    fn drop(&mut self) {
        self.buckets.abandon();
    }
}
