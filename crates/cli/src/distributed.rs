//! `backprop train --distributed` (data-parallel training over the ranks `mpirun` or `srun`
//! started) and `--micro-batch M` (the deterministic mode, on any number of ranks, one
//! included): the flags and what `train` does with them, around the library's
//! [`backprop_distributed::DataParallel`]. docs/DISTRIBUTED.md explains both.
//!
//! Only rank 0 prints and writes files: the other ranks train with `--save`, `--plot` and
//! `--checkpoint` cleared and their report output silenced (see [`quiet`]).

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use backprop_autograd::Graph;
use backprop_distributed::{Collective, DataParallel, Fingerprint, ReductionLog, SingleProcess};
use backprop_nn::{Module, Sequential};
use backprop_train::{Observer, Trainer};
use clap::Args;

use crate::F;
use crate::args::{TrainArgs, parse_batch_size, parse_bucket_kb};
use crate::error::{CliError, EXIT_USAGE, Result};
use crate::summary::RunSummary;

/// The flags of data-parallel and deterministic training.
#[derive(Debug, Clone, Default, Args)]
pub struct DistributedArgs {
    /// Train data-parallel over the MPI ranks this process is one of
    /// (`mpirun -np N backprop train ... --distributed`): --batch-size is the global batch, each
    /// rank computes its slice, gradients are summed over the ranks; only rank 0 prints and
    /// writes files. Needs a backprop built with the `mpi` feature
    #[arg(long)]
    pub distributed: bool,
    /// Deterministic mode: each batch's gradient is summed over micro-batches of M rows in one
    /// fixed order, so the model file is byte-identical on 1, 2 or 4 ranks (with the same
    /// --threads); costs one backward pass per micro-batch
    #[arg(long, value_name = "M", value_parser = parse_batch_size, allow_hyphen_values = true)]
    pub micro_batch: Option<usize>,
    /// Every rank runs the whole optimizer step after an all-reduce of the gradients in
    /// buckets (PyTorch DDP's way) instead of the default sharded step (ZeRO stage 1: the
    /// gradients are reduce-scattered, each rank updates its 1/N of the parameters and the
    /// updated values are gathered; the same model bit for bit, less work per rank)
    #[arg(long)]
    pub replicated_step: bool,
    /// With --replicated-step: the gradients' sums over the ranks start in buckets of this many
    /// KiB, each as soon as backward has finished it (overlapping the rest of backward);
    /// default 25600 (PyTorch DDP's 25 MiB)
    #[arg(long, value_name = "KIB", value_parser = parse_bucket_kb, requires = "replicated_step")]
    pub bucket_kb: Option<usize>,
    /// Compare a hash of every rank's parameters before every step and after training, and
    /// stop naming the step where they differ (a check of the replicas, for tests)
    #[arg(long)]
    pub check_replicas: bool,
}

/// Set on ranks other than 0: the report's output is not printed.
static QUIET: AtomicBool = AtomicBool::new(false);

/// This process's rank in a `--distributed` run (`usize::MAX`: not one).
static RANK: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Notes the step that this rank begins ([`backprop_nn::atomic_file::note_rank_progress`]):
/// when a rank fails, the MPI launcher ends the others with SIGTERM, and each then says which
/// step of which epoch it was in (the launcher's own message names the rank that failed).
pub struct RankProgress(usize);

impl Observer<F, Sequential> for RankProgress {
    fn on_step_start(&mut self, epoch: u64, step: u64) {
        backprop_nn::atomic_file::note_rank_progress(self.0, epoch, step);
    }
}

/// The observer of this rank's progress, in a `--distributed` run.
pub fn rank_progress() -> Option<RankProgress> {
    let rank = RANK.load(Ordering::Relaxed);
    (rank != usize::MAX).then_some(RankProgress(rank))
}

/// Whether this process's report output is silenced (a rank other than 0).
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A `train` run's place among the ranks: MPI started (with `--distributed`), this rank, and
/// the collective of the start-up checks. MPI ends when it is dropped, after training.
pub struct Session {
    flags: DistributedArgs,
    /// The checks' own reduction (settings, broadcast, replicas), on the same ranks.
    control: DataParallel<F>,
    /// What the training's gradient sums moved and cost (a data-parallel run's).
    log: Option<ReductionLog>,
    #[cfg(feature = "mpi")]
    universe: Option<backprop_distributed::Universe>,
}

impl Session {
    /// Starts MPI when `--distributed` asks for it.
    ///
    /// # Errors
    /// `--distributed` in a build without MPI, or a run under `mpirun` without `--distributed`
    /// (every rank would train alone and write the same files).
    pub fn start(flags: &DistributedArgs) -> Result<Session> {
        if !flags.distributed {
            if let Some(n) = launcher_ranks().filter(|&n| n > 1) {
                return Err(CliError::usage(format!(
                    "started as one of {n} MPI ranks without --distributed: add --distributed to train together (or run one process)"
                )));
            }
            return Ok(Session::with(flags, SingleProcess));
        }
        Self::start_mpi(flags)
    }

    fn with(flags: &DistributedArgs, comm: impl Collective + 'static) -> Session {
        Session {
            flags: flags.clone(),
            control: DataParallel::new(comm),
            log: None,
            #[cfg(feature = "mpi")]
            universe: None,
        }
    }

    #[cfg(feature = "mpi")]
    fn start_mpi(flags: &DistributedArgs) -> Result<Session> {
        let universe = backprop_distributed::initialize()
            .ok_or_else(|| CliError::Runtime("MPI could not be started (it was started before)".into()))?;
        let mut session = Session::with(flags, backprop_distributed::MpiCollective::world(&universe));
        session.universe = Some(universe);
        RANK.store(session.control.rank(), Ordering::Relaxed);
        if session.control.rank() != 0 {
            QUIET.store(true, Ordering::Relaxed);
        }
        Ok(session)
    }

    #[cfg(not(feature = "mpi"))]
    fn start_mpi(_flags: &DistributedArgs) -> Result<Session> {
        Err(CliError::usage(
            "--distributed needs MPI, and this backprop was built without it: build it with \
             `cargo build --release -p backprop-cli --features mpi` (Open MPI: cargo xtask deps --mpi)",
        ))
    }

    /// `args` as this rank uses them: on ranks other than 0 without the files to write.
    pub fn args<'a>(&self, args: &'a TrainArgs) -> Cow<'a, TrainArgs> {
        if self.control.rank() == 0 {
            return Cow::Borrowed(args);
        }
        let mut mine = args.clone();
        (mine.save, mine.plot, mine.checkpoint) = (None, None, None);
        Cow::Owned(mine)
    }

    /// Checks that every rank runs the same settings on the same data (hashes compared); a
    /// mismatch ends every rank with one message, from rank 0.
    fn check_same_run(&mut self, trainer: &Trainer<F>, summary: &RunSummary<'_>) {
        let data = summary.data;
        let settings = Fingerprint::new()
            .debug(trainer.config())
            .debug(&trainer.loss())
            .debug(&summary.specs)
            .debug(&summary.optimizer)
            .debug(&summary.meta)
            .debug(&(self.flags.micro_batch, self.flags.check_replicas, self.flags.bucket_kb))
            .debug(&self.flags.replicated_step);
        let test = data.test.as_ref().map_or(Fingerprint::new(), |t| Fingerprint::new().dataset(t));
        let items = [
            (
                "settings (model, loss, optimizer, batch size, epochs, seed, penalties, --micro-batch, --bucket-kb, --replicated-step)",
                settings.finish(),
            ),
            ("training data", Fingerprint::new().dataset(&data.train).finish()),
            ("test data", test.finish()),
        ];
        if let Err(message) = self.control.check_same(&items) {
            self.stop_all(&message);
        }
    }

    /// Before training: checks that every rank runs the same settings on the same data (a
    /// mismatch ends every rank with one message, from rank 0), that every batch has rows for
    /// every rank, gives every rank rank 0's initial parameters, and hands `trainer` the
    /// data-parallel reduction (in a single process only for `--micro-batch`).
    ///
    /// # Errors
    /// Batches too small for the ranks.
    pub fn prepare(
        &mut self,
        trainer: Trainer<F>,
        (g, model): (&mut Graph<F>, &Sequential),
        summary: &RunSummary<'_>,
    ) -> Result<Trainer<F>> {
        let data = summary.data;
        // One process has no other rank to agree with: hashing every value of the data set
        // (about 4% of the CPU time of a one-epoch Fashion-MNIST run, by perf) would buy nothing.
        if self.control.size() > 1 {
            self.check_same_run(&trainer, summary);
        }
        let (rows, batch_size) = (data.train.len(), trainer.config().batch_size);
        let mut parallel = DataParallel::<F>::new(self.collective())
            .with_replica_check(self.flags.check_replicas)
            .with_sharded_step(!self.flags.replicated_step);
        if let Some(kib) = self.flags.bucket_kb {
            parallel = parallel.with_bucket_bytes(kib.saturating_mul(1024))?;
        }
        let parallel = match self.flags.micro_batch {
            Some(m) => parallel.with_micro_batch(m)?,
            None => parallel,
        };
        parallel.check_batches(rows, batch_size)?;
        if self.flags.distributed && self.flags.micro_batch.is_none() {
            self.log = Some(parallel.reduction_log());
        }
        let params = model.parameters();
        self.control.broadcast_parameters(g, &params)?;
        Ok(if self.flags.distributed || self.flags.micro_batch.is_some() {
            trainer.with_reduction(parallel)
        } else {
            trainer
        })
    }

    /// After training, in a data-parallel run: what its gradient sums cost per step, as JSON
    /// (`steps`, `bytes_per_step`, `buckets_per_step`, `exposed_ms_per_step`: the time a step
    /// waited for the sums after its backward pass; `exchange`: `shared memory` or `messages`)
    /// and as a line for people.
    pub fn allreduce_report(&self) -> Option<(serde_json::Value, String)> {
        let totals = self.log.as_ref()?.totals();
        let steps = totals.steps.max(1) as f64;
        let bytes = totals.bytes as f64 / steps;
        let buckets = totals.buckets as f64 / steps;
        let exposed_ms = totals.exposed.as_secs_f64() * 1e3 / steps;
        let step = if self.flags.replicated_step { "replicated" } else { "sharded" };
        // Every step's sums go the same way.
        let exchange = if totals.shared_memory > 0 { "shared memory" } else { "messages" };
        let json = serde_json::json!({
            "ranks": self.control.size(),
            "optimizer_step": step,
            "exchange": exchange,
            "steps": totals.steps,
            "bytes_per_step": bytes,
            "buckets_per_step": buckets,
            "exposed_ms_per_step": exposed_ms,
        });
        let line = format!(
            "gradient sums over {} ranks ({step} optimizer step, through {exchange}): {:.3} MB per step in {buckets:.1} buckets; {exposed_ms:.3} ms per step waited for after backward",
            self.control.size(),
            bytes / 1e6
        );
        Some((json, line))
    }

    /// After training: with `--check-replicas`, the final parameters of every rank compared.
    ///
    /// # Errors
    /// When a rank's parameters differ from rank 0's.
    pub fn finish(&mut self, g: &Graph<F>, model: &Sequential) -> Result<()> {
        if self.flags.check_replicas {
            self.control.verify_replicas(g, &model.parameters(), "after training")?;
        }
        Ok(())
    }

    /// Another handle on the ranks of this session.
    fn collective(&self) -> Box<dyn Collective> {
        #[cfg(feature = "mpi")]
        if let Some(universe) = &self.universe {
            return Box::new(backprop_distributed::MpiCollective::world(universe));
        }
        Box::new(SingleProcess)
    }

    /// Ends every rank with `message` printed once, by rank 0: every rank gets here (the check
    /// is collective), rank 0 prints before any rank exits, and MPI ends before the exit.
    fn stop_all(&mut self, message: &str) -> ! {
        if self.control.rank() == 0 {
            eprintln!("error: {message}");
        }
        self.control.barrier();
        self.control = DataParallel::new(SingleProcess);
        #[cfg(feature = "mpi")]
        drop(self.universe.take());
        std::process::exit(i32::from(EXIT_USAGE));
    }
}

/// The number of ranks the MPI launcher (Open MPI's mpirun, MPICH's or Slurm's PMI) says this
/// process is one of, if it was started by one.
fn launcher_ranks() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
        .iter()
        .find_map(|var| std::env::var(var).ok()?.parse().ok())
}
