//! A small fork-join team of threads for the hot loops: split matrix products, large
//! elementwise kernels, optimizer updates.
//!
//! Why not rayon for these: a job handed to rayon from outside its pool goes through a queue
//! that allocates a block every 63 jobs, and a rayon thread that found no work for a few
//! microseconds goes to sleep, so the next split pays a wake-up. The team allocates nothing
//! after its threads are started, and its threads wait for the next job by spinning for
//! [`SPIN`] before they park, which covers the gaps between the products of a training step
//! and between the calls of an inference loop.
//!
//! [`parallel_for`] runs `f(0)`, …, `f(parts − 1)` on the calling thread and the team's
//! threads (each takes the next part from a shared counter) and returns when all are done. A
//! team thread must join a job before it takes parts, and the caller closes the job when it
//! finds no part left: it then waits only for the threads that joined. So a team thread that
//! the system has not scheduled in time (a busy machine) costs nothing: the caller does its
//! parts. A call made while the team is busy (from another thread, or from inside a part) runs
//! its parts on the calling thread. A panic in a part is re-raised in the caller after every
//! thread has left the job.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long an idle team thread spins for the next job before it parks.
const SPIN: Duration = Duration::from_micros(100);

/// The bit of `Team::gate` that says the job is closed (no more joining).
const CLOSED: u64 = 1 << 15;
/// The bits of `Team::gate` that count the threads inside the job.
const JOINED: u64 = CLOSED - 1;

/// The most threads the team starts besides the caller.
const MAX_HELPERS: usize = 63;

/// One helper thread's mailbox.
struct Helper {
    /// The last job number handed to it (0: none yet).
    assigned: AtomicU64,
    /// Whether it is parked (or about to park), so that a new job must unpark it.
    parked: AtomicBool,
    /// Set once the thread has allocated its buffers and waits for jobs.
    ready: AtomicBool,
    thread: OnceLock<Thread>,
}

/// The job being run: the parts' function (lifetime erased; it outlives the job because the
/// caller waits for every helper to finish before returning) and the part counters.
struct Job {
    f: *const (dyn Fn(usize) + Sync),
}

struct Team {
    /// Held by the thread running a job; others run serially.
    busy: Mutex<()>,
    /// The current job, written by the holder of `busy` before it hands out the job number.
    job: Mutex<Option<Job>>,
    number: AtomicU64,
    /// The job number (above bit 16), whether it is closed, and how many helpers are in it.
    gate: AtomicU64,
    next: AtomicUsize,
    parts: AtomicUsize,
    /// Helpers that take part in jobs (at most `helpers.len()`).
    active: AtomicUsize,
    helpers: Vec<Helper>,
    started: AtomicUsize,
    start_lock: Mutex<()>,
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

// SAFETY: the raw function pointer in `job` is only dereferenced while the job runs, and the
// function is `Sync`; everything else is atomics and mutexes.
unsafe impl Sync for Team {}
// SAFETY: as above.
unsafe impl Send for Team {}

static TEAM: OnceLock<Team> = OnceLock::new();

fn team() -> &'static Team {
    TEAM.get_or_init(|| {
        let default = std::thread::available_parallelism().map_or(1, |n| n.get());
        Team {
            busy: Mutex::new(()),
            job: Mutex::new(None),
            number: AtomicU64::new(0),
            gate: AtomicU64::new(0),
            next: AtomicUsize::new(0),
            parts: AtomicUsize::new(0),
            active: AtomicUsize::new(default.saturating_sub(1).min(MAX_HELPERS)),
            helpers: (0..MAX_HELPERS)
                .map(|_| Helper {
                    assigned: AtomicU64::new(0),
                    parked: AtomicBool::new(false),
                    ready: AtomicBool::new(false),
                    thread: OnceLock::new(),
                })
                .collect(),
            started: AtomicUsize::new(0),
            start_lock: Mutex::new(()),
            panic: Mutex::new(None),
        }
    })
}

/// Sets how many threads (the caller included) run [`parallel_for`]'s parts.
///
/// The helpers are started now, so that a system that cannot start them (a limit on processes
/// or on memory for their stacks) is an error here, where the thread count is chosen, rather
/// than in the middle of a product.
///
/// # Errors
/// When a helper cannot be started: the team then keeps the helpers it has.
pub(crate) fn set_team_size(threads: usize) -> Result<(), String> {
    let team = team();
    let helpers = threads.saturating_sub(1).min(MAX_HELPERS);
    team.active.store(helpers, Ordering::Relaxed);
    team.start(helpers).map_err(|(started, e)| {
        team.active.store(started, Ordering::Relaxed);
        format!("cannot start thread {} of {threads} of the kernels' team: {e}", started + 2)
    })
}

/// The number of threads (the caller included) that run [`parallel_for`]'s parts.
pub fn team_size() -> usize {
    team().active.load(Ordering::Relaxed) + 1
}

/// Runs `f(0)`, …, `f(parts − 1)` on the calling thread and the team's threads, and returns
/// when all are done (see the module documentation). Parts must not depend on each other's
/// order; each runs exactly once.
///
/// # Panics
/// Re-raises the panic of a part, after every part has finished or been abandoned.
pub fn parallel_for(parts: usize, f: impl Fn(usize) + Sync) {
    let team = team();
    let helpers = team.active.load(Ordering::Relaxed).min(parts.saturating_sub(1));
    let guard = if helpers > 0 { team.busy.try_lock().ok() } else { None };
    let Some(_guard) = guard else {
        (0..parts).for_each(f);
        return;
    };
    // A helper that cannot be started (set_team_size reported it) leaves its parts to the others.
    let helpers = team.start(helpers).map_or_else(|(started, _)| started, |()| helpers);
    let erased: &(dyn Fn(usize) + Sync) = &f;
    // SAFETY: only the lifetime is erased: the helpers call the function only while this call
    // waits for them below, so it is never used after `f` is dropped.
    let erased: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(erased) };
    *team.job.lock().expect("team job lock") = Some(Job { f: erased });
    team.next.store(0, Ordering::Relaxed);
    team.parts.store(parts, Ordering::Relaxed);
    let number = team.number.fetch_add(1, Ordering::Relaxed) + 1;
    team.gate.store(number << 16, Ordering::SeqCst);
    for helper in &team.helpers[..helpers] {
        // SeqCst pairs with the helper's store of `parked` and load of `assigned`: either it
        // sees this job before parking, or this sees it parked and unparks it.
        helper.assigned.store(number, Ordering::SeqCst);
        if helper.parked.load(Ordering::SeqCst)
            && let Some(thread) = helper.thread.get()
        {
            thread.unpark();
        }
    }
    team.work(&f);
    // No part is left: close the job and wait for the helpers that joined it.
    team.gate.fetch_or(CLOSED, Ordering::SeqCst);
    let mut spins = 0u32;
    while team.gate.load(Ordering::Acquire) & JOINED != 0 {
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(64) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    *team.job.lock().expect("team job lock") = None;
    let panic = team.panic.lock().expect("team panic lock").take();
    if let Some(payload) = panic {
        std::panic::resume_unwind(payload);
    }
}

impl Team {
    /// Takes parts until none is left, catching a panic so that the job can still end.
    fn work(&self, f: &(dyn Fn(usize) + Sync)) {
        let parts = self.parts.load(Ordering::Relaxed);
        loop {
            let part = self.next.fetch_add(1, Ordering::Relaxed);
            if part >= parts {
                break;
            }
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(part))) {
                self.next.store(parts, Ordering::Relaxed);
                self.panic.lock().expect("team panic lock").get_or_insert(payload);
                break;
            }
        }
    }

    /// Starts helper threads up to `count`.
    ///
    /// # Errors
    /// How many helpers run, and why the next could not be started.
    fn start(&'static self, count: usize) -> Result<(), (usize, std::io::Error)> {
        if self.started.load(Ordering::Acquire) >= count {
            return Ok(());
        }
        let _lock = self.start_lock.lock().expect("team start lock");
        let started = self.started.load(Ordering::Acquire);
        for index in started..count {
            let handle = std::thread::Builder::new()
                .name(format!("backprop-team-{index}"))
                .spawn(move || self.helper_loop(index))
                .map_err(|e| (index, e))?;
            self.helpers[index].thread.set(handle.thread().clone()).expect("started once");
            // Wait until the thread has allocated what it needs, so that no allocation of its
            // happens later, during the jobs.
            while !self.helpers[index].ready.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            self.started.store(index + 1, Ordering::Release);
        }
        Ok(())
    }

    fn helper_loop(&self, index: usize) {
        // Thread-local buffers of the kernels, allocated now rather than in a later job.
        #[cfg(target_arch = "x86_64")]
        crate::panels::prepare_thread();
        let me = &self.helpers[index];
        me.ready.store(true, Ordering::Release);
        let mut seen = 0u64;
        // This thread's subnormal mode, made to follow `set_flush_denormal` before each job.
        let mut flushing = false;
        loop {
            let number = self.wait_for_job(me, seen);
            seen = number;
            if !self.join(number) {
                continue;
            }
            let job = self.job.lock().expect("team job lock").as_ref().map(|j| j.f);
            if let Some(f) = job {
                // SAFETY: the caller of `parallel_for` keeps the function alive until every
                // helper that joined has left (below).
                let f = unsafe { &*f };
                crate::denormal::follow(&mut flushing);
                self.work(f);
            }
            self.gate.fetch_sub(1, Ordering::Release);
        }
    }

    /// Enters job `number` if it is still open.
    fn join(&self, number: u64) -> bool {
        let mut gate = self.gate.load(Ordering::SeqCst);
        loop {
            if gate >> 16 != number || gate & CLOSED != 0 {
                return false;
            }
            match self.gate.compare_exchange_weak(gate, gate + 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(now) => gate = now,
            }
        }
    }

    /// Spins, then parks, until a job numbered after `seen` is assigned.
    fn wait_for_job(&self, me: &Helper, seen: u64) -> u64 {
        let started = Instant::now();
        let mut spins = 0u32;
        loop {
            let number = me.assigned.load(Ordering::Acquire);
            if number != seen {
                return number;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(32) {
                // Give the core away now and then: on a busy machine a spinning thread would
                // take time from the threads doing the work (ours or others').
                std::thread::yield_now();
            }
            if spins.is_multiple_of(256) && started.elapsed() > SPIN {
                me.parked.store(true, Ordering::SeqCst);
                // Re-check after announcing the park, so that a job assigned meanwhile is not
                // missed (its caller saw `parked` and unparks us, or we see the job here).
                while me.assigned.load(Ordering::SeqCst) == seen {
                    std::thread::park();
                }
                me.parked.store(false, Ordering::Release);
                return me.assigned.load(Ordering::Acquire);
            }
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_and_nested_calls_run_serially() {
        for parts in [0, 1, 2, 5, 100] {
            let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            parallel_for(parts, |i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
                // A call from inside a part finds the team busy and runs on this thread.
                let inner = AtomicUsize::new(0);
                parallel_for(3, |_| {
                    inner.fetch_add(1, Ordering::Relaxed);
                });
                assert_eq!(inner.load(Ordering::Relaxed), 3);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "{parts} parts");
        }
    }

    #[test]
    fn a_panicking_part_is_reraised_after_the_job() {
        let done = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            parallel_for(8, |i| {
                if i == 3 {
                    panic!("part 3 failed");
                }
                done.fetch_add(1, Ordering::Relaxed);
            })
        }));
        let payload = result.expect_err("the panic comes back");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"part 3 failed"));
        // The team is usable afterwards.
        let total = AtomicUsize::new(0);
        parallel_for(4, |i| {
            total.fetch_add(i, Ordering::Relaxed);
        });
        assert_eq!(total.load(Ordering::Relaxed), 6);
    }
}
