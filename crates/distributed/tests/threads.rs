//! The data-parallel reduction on ranks that are threads of this process (a collective over
//! shared memory written here), so that its contract is tested without MPI: replicas stay
//! bit-identical, the model equals single-process training (1e-12 relative in f64, 1e-5 in
//! f32), the deterministic mode gives the same bits on 1, 2, 3 and 4 ranks, evaluation is
//! reduced over the ranks, and the start-up check names what differs. The same contract over
//! MPI is tested end to end by crates/cli/tests/distributed.rs.

use std::sync::{Arc, Barrier, Mutex};

use backprop_autograd::Graph;
use backprop_data::{Dataset, Targets};
use backprop_distributed::{Collective, DataParallel, Element, Fingerprint, SingleProcess};
use backprop_nn::{Activation, Loss, MlpSpec, Module, Sequential};
use backprop_optim::{AdamConfig, OptimizerConfig};
use backprop_tensor::{Float, Tensor, TensorRng};
use backprop_train::{EpochRecord, GradientReduction, LocalGradients, TrainConfig, Trainer};

/// What the threads of one job share: a slot per rank and a barrier.
struct Shared {
    barrier: Barrier,
    slots: Mutex<Vec<Vec<u64>>>,
}

/// One rank of a job of threads. Values travel as bits; sums are taken in rank order, so every
/// rank gets the same bits (as MPI's reductions give).
struct Threads {
    rank: usize,
    shared: Arc<Shared>,
}

impl Threads {
    /// The collectives of `size` ranks.
    fn job(size: usize) -> Vec<Threads> {
        let shared =
            Arc::new(Shared { barrier: Barrier::new(size), slots: Mutex::new(vec![Vec::new(); size]) });
        (0..size).map(|rank| Threads { rank, shared: Arc::clone(&shared) }).collect()
    }

    /// Every rank's `mine`, in rank order.
    fn exchange(&self, mine: Vec<u64>) -> Vec<Vec<u64>> {
        self.shared.slots.lock().unwrap()[self.rank] = mine;
        self.shared.barrier.wait();
        let all = self.shared.slots.lock().unwrap().clone();
        self.shared.barrier.wait();
        all
    }

    fn sum<T: Copy + std::ops::Add<Output = T>>(
        &self,
        values: &mut [T],
        to: fn(T) -> u64,
        from: fn(u64) -> T,
    ) {
        let all = self.exchange(values.iter().map(|&v| to(v)).collect());
        for (i, v) in values.iter_mut().enumerate() {
            *v = all[1..].iter().fold(from(all[0][i]), |acc, r| acc + from(r[i]));
        }
    }

    fn gather<T: Copy>(&self, send: &[T], receive: &mut [T], to: fn(T) -> u64, from: fn(u64) -> T) {
        let all = self.exchange(send.iter().map(|&v| to(v)).collect());
        for (out, v) in receive.iter_mut().zip(all.iter().flatten()) {
            *out = from(*v);
        }
    }
}

fn f32_bits(v: f32) -> u64 {
    u64::from(v.to_bits())
}
fn f32_from(b: u64) -> f32 {
    f32::from_bits(b as u32)
}

impl Collective for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.shared.slots.lock().unwrap().len()
    }
    fn sum_f32(&mut self, values: &mut [f32]) {
        self.sum(values, f32_bits, f32_from);
    }
    fn sum_f64(&mut self, values: &mut [f64]) {
        self.sum(values, f64::to_bits, f64::from_bits);
    }
    fn broadcast_f32(&mut self, values: &mut [f32]) {
        let all = self.exchange(values.iter().map(|&v| f32_bits(v)).collect());
        values.iter_mut().zip(&all[0]).for_each(|(v, b)| *v = f32_from(*b));
    }
    fn broadcast_f64(&mut self, values: &mut [f64]) {
        let all = self.exchange(values.iter().map(|v| v.to_bits()).collect());
        values.iter_mut().zip(&all[0]).for_each(|(v, b)| *v = f64::from_bits(*b));
    }
    fn gather_f32(&mut self, send: &[f32], receive: &mut [f32]) {
        self.gather(send, receive, f32_bits, f32_from);
    }
    fn gather_f64(&mut self, send: &[f64], receive: &mut [f64]) {
        self.gather(send, receive, f64::to_bits, f64::from_bits);
    }
    fn gather_u64(&mut self, send: &[u64], receive: &mut [u64]) {
        self.gather(send, receive, |v| v, |v| v);
    }
    fn barrier(&mut self) {
        self.shared.barrier.wait();
    }
}

/// The blocking operations of a test rank that wraps a [`Threads`] rank as `inner` (the
/// wrappers differ only in their non-blocking ones).
macro_rules! delegate_to_inner {
    () => {
        fn rank(&self) -> usize {
            self.inner.rank()
        }
        fn size(&self) -> usize {
            self.inner.size()
        }
        fn sum_f32(&mut self, values: &mut [f32]) {
            self.inner.sum_f32(values)
        }
        fn sum_f64(&mut self, values: &mut [f64]) {
            self.inner.sum_f64(values)
        }
        fn broadcast_f32(&mut self, values: &mut [f32]) {
            self.inner.broadcast_f32(values)
        }
        fn broadcast_f64(&mut self, values: &mut [f64]) {
            self.inner.broadcast_f64(values)
        }
        fn gather_f32(&mut self, send: &[f32], receive: &mut [f32]) {
            self.inner.gather_f32(send, receive)
        }
        fn gather_f64(&mut self, send: &[f64], receive: &mut [f64]) {
            self.inner.gather_f64(send, receive)
        }
        fn gather_u64(&mut self, send: &[u64], receive: &mut [u64]) {
            self.inner.gather_u64(send, receive)
        }
        fn barrier(&mut self) {
            self.inner.barrier()
        }
    };
}

/// A thread rank with point-to-point messages, so that the sharded step's own exchange (MPI's
/// path) runs without MPI: a send is copied into the receiver's queue at once, a receive is
/// filled from it in `wait_sums` (messages between two ranks arrive in the order sent).
struct Messaging {
    inner: Threads,
    mail: Arc<Mailbox>,
    /// Receives started: (from, address, length, whether f64).
    pending: Vec<(usize, usize, usize, bool)>,
}

/// The messages sent from one rank to another and not yet received, in the order sent.
type Queues = std::collections::HashMap<(usize, usize), std::collections::VecDeque<Vec<u64>>>;

/// The queues of messages between every two ranks, by (from, to).
#[derive(Default)]
struct Mailbox {
    queues: Mutex<Queues>,
    arrived: std::sync::Condvar,
}

impl Messaging {
    fn job(size: usize) -> Vec<Messaging> {
        let mail = Arc::new(Mailbox::default());
        Threads::job(size)
            .into_iter()
            .map(|inner| Messaging { inner, mail: Arc::clone(&mail), pending: Vec::new() })
            .collect()
    }

    fn send(&mut self, to: usize, bits: Vec<u64>) {
        let mut queues = self.mail.queues.lock().unwrap();
        queues.entry((self.inner.rank, to)).or_default().push_back(bits);
        self.mail.arrived.notify_all();
    }
}

impl Collective for Messaging {
    delegate_to_inner!();
    fn point_to_point(&self) -> bool {
        true
    }
    unsafe fn start_send_f32(&mut self, to: usize, data: *const f32, len: usize) {
        // SAFETY: the caller's contract: `len` values at `data`.
        let values = unsafe { std::slice::from_raw_parts(data, len) };
        self.send(to, values.iter().map(|&v| f32_bits(v)).collect());
    }
    unsafe fn start_send_f64(&mut self, to: usize, data: *const f64, len: usize) {
        // SAFETY: the caller's contract: `len` values at `data`.
        let values = unsafe { std::slice::from_raw_parts(data, len) };
        self.send(to, values.iter().map(|v| v.to_bits()).collect());
    }
    unsafe fn start_receive_f32(&mut self, from: usize, data: *mut f32, len: usize) {
        self.pending.push((from, data as usize, len, false));
    }
    unsafe fn start_receive_f64(&mut self, from: usize, data: *mut f64, len: usize) {
        self.pending.push((from, data as usize, len, true));
    }
    fn wait_sums(&mut self) {
        for (from, at, len, wide) in std::mem::take(&mut self.pending) {
            let mut queues = self.mail.queues.lock().unwrap();
            let bits = loop {
                if let Some(bits) = queues.get_mut(&(from, self.inner.rank)).and_then(|q| q.pop_front()) {
                    break bits;
                }
                queues = self.mail.arrived.wait(queues).unwrap();
            };
            assert_eq!(bits.len(), len, "a message of another length than its receive");
            // SAFETY: the caller of `start_receive` keeps `len` values at `at` ours until now.
            unsafe {
                if wide {
                    let out = std::slice::from_raw_parts_mut(at as *mut f64, len);
                    out.iter_mut().zip(&bits).for_each(|(o, b)| *o = f64::from_bits(*b));
                } else {
                    let out = std::slice::from_raw_parts_mut(at as *mut f32, len);
                    out.iter_mut().zip(&bits).for_each(|(o, b)| *o = f32_from(*b));
                }
            }
        }
    }
}

/// A thread rank whose ranks share memory, so that the sharded step's exchange through shared
/// segments (MPI's on one machine) runs without MPI: each rank's segment is a buffer it
/// allocates, and leaks (as MPI keeps its windows until it ends), whose address every rank is
/// told; the fences are the barrier.
struct Sharing {
    inner: Threads,
}

impl Sharing {
    fn job(size: usize) -> Vec<Sharing> {
        Threads::job(size).into_iter().map(|inner| Sharing { inner }).collect()
    }

    /// Every rank's segment of `len` values, in rank order (collective).
    fn share<T: Copy + Default>(&mut self, len: usize) -> Vec<*mut T> {
        let mine = Box::leak(vec![T::default(); len].into_boxed_slice()).as_mut_ptr();
        let mut all = vec![0; self.inner.size()];
        self.inner.gather_u64(&[mine as usize as u64], &mut all);
        all.into_iter().map(|at| at as usize as *mut T).collect()
    }
}

impl Collective for Sharing {
    delegate_to_inner!();
    fn share_f32(&mut self, len: usize) -> Option<Vec<*mut f32>> {
        Some(self.share(len))
    }
    fn share_f64(&mut self, len: usize) -> Option<Vec<*mut f64>> {
        Some(self.share(len))
    }
}

/// Three noisy arcs of 2-D points, 3 classes: 90 rows.
fn arcs<F: Float>() -> Dataset<F> {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for class in 0..3 {
        for i in 0..30 {
            let r = 0.2 + 0.8 * i as f64 / 30.0;
            let a = class as f64 * 2.1 + 3.0 * i as f64 / 30.0 + 0.1 * ((i * 7919) % 13) as f64;
            x.extend([F::from_f64(r * a.cos()), F::from_f64(r * a.sin())]);
            y.push(class);
        }
    }
    let names = vec!["a".into(), "b".into(), "c".into()];
    Dataset::new(
        Tensor::from_vec(&[90, 2], x),
        Targets::Classes { indices: y, names },
        vec!["x1".into(), "x2".into()],
    )
    .unwrap()
}

/// What a run gives back: every parameter's values and the epoch records.
///
/// `batch_loss` in the records is the mean of this rank's own parts' losses (what its
/// progress lines show); the metrics of evaluations are the whole data's.
struct Trained<F: Float> {
    params: Vec<Vec<F>>,
    history: Vec<EpochRecord>,
    /// The optimizer's state after training (what a checkpoint would hold).
    optimizer: backprop_optim::OptimizerState<F>,
}

/// Trains a 2-16-3 tanh MLP with Adam and an L2 penalty on `data` (batches of 18) with
/// `reduction`; `seed` initialises the weights (rank 0's are broadcast when `broadcast`).
fn train<F: Element>(
    reduction: impl GradientReduction<F> + 'static,
    parallel: Option<&mut DataParallel<F>>,
    seed: u64,
    data: &Dataset<F>,
) -> Trained<F> {
    let mut g = Graph::<F>::new();
    let mut model: Sequential = MlpSpec::new(&[2, 16, 3], Activation::Tanh)
        .build(&mut g, &mut TensorRng::seed_from_u64(seed))
        .unwrap();
    if let Some(p) = parallel {
        p.broadcast_parameters(&mut g, &model.parameters()).unwrap();
    }
    let adam = OptimizerConfig::Adam(AdamConfig { lr: 0.02, ..AdamConfig::default() });
    let mut optimizer = adam.build(model.parameters()).unwrap();
    let config = TrainConfig { epochs: 4, batch_size: 18, l2: 1e-3, seed: 5, ..TrainConfig::default() };
    let mut trainer = Trainer::new(Loss::CrossEntropy, config).unwrap().with_reduction(reduction);
    let fit = trainer.fit(&mut g, &mut model, optimizer.as_mut(), data, Some(data), &mut ()).unwrap();
    let params = model.parameters().iter().map(|(_, p)| g.value(*p).unwrap().as_slice().to_vec()).collect();
    Trained { params, history: fit.history, optimizer: optimizer.state() }
}

/// Runs `train` on `size` thread ranks (each initialised from another seed) and returns every
/// rank's result; `micro` selects the deterministic mode; replicas are checked every step.
fn on_ranks<F: Element + Send + Sync>(size: usize, micro: Option<usize>) -> Vec<Trained<F>> {
    on_ranks_with(size, |p| match micro {
        Some(m) => p.with_micro_batch(m).unwrap(),
        None => p,
    })
}

/// [`on_ranks`] with each rank's reduction set up by `setup`.
fn on_ranks_with<F: Element + Send + Sync>(
    size: usize,
    setup: impl Fn(DataParallel<F>) -> DataParallel<F> + Sync,
) -> Vec<Trained<F>> {
    on_ranks_over(Threads::job(size), setup)
}

/// [`on_ranks_with`] over the rank collectives `comms`.
fn on_ranks_over<F: Element + Send + Sync, C: Collective + Send + 'static>(
    comms: Vec<C>,
    setup: impl Fn(DataParallel<F>) -> DataParallel<F> + Sync,
) -> Vec<Trained<F>> {
    let setup = &setup;
    let size = comms.len();
    std::thread::scope(|s| {
        let handles: Vec<_> = comms
            .into_iter()
            .zip(Threads::job(size))
            .map(|(comm, control)| {
                s.spawn(move || {
                    let rank = comm.rank();
                    let parallel = setup(DataParallel::<F>::new(comm).with_replica_check(true));
                    let mut control = DataParallel::<F>::new(control);
                    train(parallel, Some(&mut control), 100 + rank as u64, &arcs())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The evaluations of a run (training and validation metrics of every epoch).
fn metrics<F: Float>(
    t: &Trained<F>,
) -> Vec<(Option<backprop_train::Metrics>, Option<backprop_train::Metrics>)> {
    t.history.iter().map(|r| (r.train, r.validation)).collect()
}

fn bits<F: Float>(t: &Trained<F>) -> Vec<Vec<u64>> {
    t.params.iter().map(|p| p.iter().map(|v| Float::to_f64(*v).to_bits()).collect()).collect()
}

/// The largest per-tensor ‖a − b‖ / ‖b‖.
fn relative<F: Float>(a: &Trained<F>, b: &Trained<F>) -> f64 {
    a.params
        .iter()
        .zip(&b.params)
        .map(|(x, y)| {
            let d: f64 = x.iter().zip(y).map(|(p, q)| (Float::to_f64(*p) - Float::to_f64(*q)).powi(2)).sum();
            let n: f64 = y.iter().map(|q| Float::to_f64(*q).powi(2)).sum();
            (d / n).sqrt()
        })
        .fold(0.0, f64::max)
}

#[test]
fn one_rank_is_the_single_process_bit_for_bit() {
    let data = arcs::<f64>();
    let local = train(LocalGradients, None, 100, &data);
    let one = train(DataParallel::<f64>::new(SingleProcess), None, 100, &data);
    assert_eq!(bits(&one), bits(&local));
    assert_eq!(one.history, local.history);
}

fn replicas_match_the_single_process<F: Element + Send + Sync>(tolerance: f64) {
    let single = train(LocalGradients, None, 100, &arcs::<F>());
    for size in [2, 3] {
        let ranks = on_ranks::<F>(size, None);
        for r in &ranks[1..] {
            assert_eq!(bits(r), bits(&ranks[0]), "{size} ranks: replicas differ");
            assert_eq!(metrics(r), metrics(&ranks[0]), "{size} ranks: the ranks see other metrics");
        }
        let d = relative(&ranks[0], &single);
        assert!(d < tolerance, "{} on {size} ranks: relative difference {d}", F::NAME);
        // Evaluation is summed over the ranks' shares of the data: the single process's metrics.
        let (a, b) = (ranks[0].history.last().unwrap(), single.history.last().unwrap());
        let (ma, mb) = (a.validation.unwrap(), b.validation.unwrap());
        // (Within the models' own difference: rank 0's share alone would be far off.)
        assert!((ma.loss - mb.loss).abs() <= 10.0 * tolerance * mb.loss, "{} vs {}", ma.loss, mb.loss);
        assert_eq!(ma.accuracy, mb.accuracy);
    }
}

#[test]
fn replicas_stay_identical_and_match_the_single_process_in_f64() {
    replicas_match_the_single_process::<f64>(1e-12);
}

#[test]
fn replicas_stay_identical_and_match_the_single_process_in_f32() {
    replicas_match_the_single_process::<f32>(1e-5);
}

#[test]
fn the_deterministic_mode_gives_the_same_bits_on_any_number_of_ranks() {
    // Batches of 18 rows in micro-batches of 3: 6 per batch, so 1 to 6 ranks may share them.
    for size in [1, 2, 3, 4] {
        let runs = on_ranks::<f32>(size, Some(3));
        let one = on_ranks::<f32>(1, Some(3));
        assert_eq!(bits(&runs[0]), bits(&one[0]), "{size} ranks");
        assert_eq!(metrics(&runs[0]), metrics(&one[0]), "{size} ranks: other metrics");
    }
    // And it is the same training, up to rounding.
    let single = train(LocalGradients, None, 100, &arcs::<f64>());
    let micro = on_ranks::<f64>(2, Some(3));
    assert!(relative(&micro[0], &single) < 1e-12);
}

#[test]
fn buckets_of_any_size_give_the_same_bits() {
    // Which bucket a gradient travels in changes nothing in its sum.
    for size in [2, 3] {
        let default = on_ranks::<f32>(size, None);
        for bytes in [1, 200, usize::MAX] {
            let runs = on_ranks_with::<f32>(size, |p| p.with_bucket_bytes(bytes).unwrap());
            assert_eq!(bits(&runs[0]), bits(&default[0]), "{size} ranks, buckets of {bytes} bytes");
        }
    }
    assert!(DataParallel::<f32>::new(SingleProcess).with_bucket_bytes(0).is_err());
}

#[test]
fn the_sharded_step_gives_the_replicated_steps_bits_and_whole_optimizer_state() {
    // 2-16-3: 99 values, in blocks of 50 (2 ranks) or 33 (3 ranks) that cut the tensors.
    for size in [2, 3] {
        let replicated = on_ranks::<f32>(size, None);
        let sharded = on_ranks_with::<f32>(size, |p| p.with_sharded_step(true));
        for (r, run) in sharded.iter().enumerate() {
            assert_eq!(bits(run), bits(&replicated[0]), "{size} ranks, rank {r}: other parameters");
            assert_eq!(metrics(run), metrics(&replicated[0]), "{size} ranks, rank {r}: other metrics");
            // The state is gathered whole at the end: every rank's is the replicated one.
            assert_eq!(
                run.optimizer, replicated[0].optimizer,
                "{size} ranks, rank {r}: other optimizer state"
            );
        }
    }
    // The same through the exchanges MPI ranks use: point-to-point messages of unpacked
    // blocks, and shared memory where the ranks are on one machine.
    for size in [2, 3] {
        let replicated = on_ranks::<f32>(size, None);
        let messages = on_ranks_over::<f32, _>(Messaging::job(size), |p| p.with_sharded_step(true));
        let shared = on_ranks_over::<f32, _>(Sharing::job(size), |p| p.with_sharded_step(true));
        for (way, runs) in [("messages", messages), ("shared memory", shared)] {
            for (r, run) in runs.iter().enumerate() {
                assert_eq!(
                    bits(run),
                    bits(&replicated[0]),
                    "{size} ranks, rank {r}: other parameters ({way})"
                );
                assert_eq!(
                    run.optimizer, replicated[0].optimizer,
                    "{size} ranks, rank {r}: other state ({way})"
                );
            }
        }
    }
    // The sharded step is taken (no buckets during backward) unless clipping by the global
    // norm needs the whole gradient.
    let mut g = Graph::<f32>::new();
    let model: Sequential =
        MlpSpec::new(&[2, 4, 3], Activation::Tanh).build(&mut g, &mut TensorRng::seed_from_u64(0)).unwrap();
    let optimizer = OptimizerConfig::Adam(AdamConfig::default()).build(model.parameters()).unwrap();
    let mut parallel = DataParallel::<f32>::new(Threads::job(2).remove(0)).with_sharded_step(true);
    parallel.prepare(&model.parameters(), optimizer.as_ref(), false).unwrap();
    assert!(!parallel.overlaps_backward(), "sharded: the sums start after backward");
    parallel.prepare(&model.parameters(), optimizer.as_ref(), true).unwrap();
    assert!(parallel.overlaps_backward(), "clipping by norm: the replicated step, in buckets");
    // In f64, against one process (the sums of 2 and 3 ranks round differently).
    let single = train(LocalGradients, None, 100, &arcs::<f64>());
    let sharded = on_ranks_with::<f64>(3, |p| p.with_sharded_step(true));
    assert!(relative(&sharded[0], &single) < 1e-12);
}

/// What a rank asked of the non-blocking sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SumEvent {
    Start(usize),
    Progress,
    Wait,
}

/// A thread rank that logs its non-blocking sums.
struct Logged {
    inner: Threads,
    log: Arc<Mutex<Vec<SumEvent>>>,
}

impl Collective for Logged {
    delegate_to_inner!();
    unsafe fn start_sum_f32(&mut self, send: *const f32, receive: *mut f32, len: usize) {
        self.log.lock().unwrap().push(SumEvent::Start(len));
        // SAFETY: the caller's contract is the same.
        unsafe { self.inner.start_sum_f32(send, receive, len) }
    }
    fn progress_sums(&mut self) {
        self.log.lock().unwrap().push(SumEvent::Progress);
    }
    fn wait_sums(&mut self) {
        self.log.lock().unwrap().push(SumEvent::Wait);
    }
}

#[test]
fn the_first_bucket_starts_before_backward_reaches_the_first_layer() {
    // The 2-16-3 network's gradients in f32: the second layer's 48 + 3 values (204 bytes) are
    // finished first and fill a 200-byte bucket; the first layer's 32 + 16 go after backward.
    let logs: Vec<Vec<SumEvent>> = std::thread::scope(|s| {
        let handles: Vec<_> = Threads::job(2)
            .into_iter()
            .zip(Threads::job(2))
            .map(|(comm, control)| {
                s.spawn(move || {
                    let rank = comm.rank;
                    let log = Arc::new(Mutex::new(Vec::new()));
                    let logged = Logged { inner: comm, log: Arc::clone(&log) };
                    let parallel = DataParallel::<f32>::new(logged).with_bucket_bytes(200).unwrap();
                    let totals = parallel.reduction_log();
                    let mut control = DataParallel::<f32>::new(control);
                    train(parallel, Some(&mut control), 100 + rank as u64, &arcs());
                    let totals = totals.totals();
                    assert_eq!((totals.steps, totals.bytes, totals.buckets), (20, 20 * 99 * 4, 40));
                    log.lock().unwrap().clone()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    use SumEvent::*;
    let step = [Progress, Start(51), Progress, Progress, Start(48), Wait];
    // 4 epochs of 90 rows in batches of 18.
    assert_eq!(logs[0].len(), 20 * step.len(), "{:?}", &logs[0][..12.min(logs[0].len())]);
    for (i, events) in logs[0].chunks(step.len()).enumerate() {
        assert_eq!(events, step, "step {}", i + 1);
    }
    assert_eq!(logs[1], logs[0], "both ranks start the same sums in the same order");
}

#[test]
fn the_start_up_check_names_what_differs_and_which_rank() {
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = Threads::job(3)
            .into_iter()
            .map(|comm| {
                s.spawn(move || {
                    let rank = comm.rank;
                    let mut p = DataParallel::<f32>::new(comm);
                    let lr = if rank == 2 { 0.1 } else { 0.01 };
                    let items = [("settings", Fingerprint::new().debug(&lr).finish()), ("data", 7)];
                    p.check_same(&items)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });
    let expected =
        "rank 2 runs with other settings than rank 0 (every rank must get the same flags and data)";
    for r in results {
        assert_eq!(r.unwrap_err(), expected);
    }
}

#[test]
fn batches_too_small_for_the_ranks_are_refused() {
    let comms = Threads::job(4);
    let p = DataParallel::<f32>::new(comms.into_iter().next().unwrap());
    // 90 rows in batches of 43: the last batch has 4 rows, enough for 4 ranks.
    assert!(p.check_batches(90, 43).is_ok());
    let e = p.check_batches(90, 44).unwrap_err().to_string();
    assert!(e.contains("a batch of 2 rows has fewer rows than the 4 ranks"), "{e}");
    let p = p.with_micro_batch(8).unwrap();
    assert!(p.check_batches(90, 32).is_ok(), "4 micro-batches, the last batch 26 rows: 4");
    let e = p.check_batches(90, 24).unwrap_err().to_string();
    assert!(e.contains("a batch of 24 rows has 3 micro-batches of 8 rows, fewer than the 4 ranks"), "{e}");
}
