//! `backprop serve`'s training thread, measured as the page sees it: epochs per second while
//! playing with a stream open (frames built at the 16 ms frame interval included), the cost of
//! one frame, and step-to-frame latency (a `step` command until its frame is in the watch
//! channel the streams read), at the Playground's default experiment and at the 6×8 spiral
//! (all seven features, six hidden layers of 8). The bar: 20× the real page's 48 and
//! 11 epochs/s, i.e. well over 960 and 220 epochs/s.
//!
//! `cargo bench -p backprop-benches --bench serve` (criterion prints time per epoch; the
//! reciprocal is epochs/s).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use backprop_playground::PlaygroundConfig;
use backprop_serve::frame::Frame;
use backprop_serve::run::{PlaygroundRun, Run, View};
use backprop_serve::worker::{Command, Published, work};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::sync::{oneshot, watch};

const DEFAULT: &str = "#activation=tanh&batchSize=10&dataset=circle&learningRate=0.03&networkShape=4,2&seed=0.12345\
                       &percTrainData=50&x=true&y=true";
const SPIRAL_6X8: &str = "#activation=tanh&batchSize=10&dataset=spiral&learningRate=0.03&networkShape=8,8,8,8,8,8\
                          &seed=0.12345&percTrainData=50&x=true&y=true&xSquared=true&ySquared=true&xTimesY=true\
                          &sinX=true&sinY=true";

fn run_of(hash: &str) -> Box<dyn Run> {
    Box::new(PlaygroundRun::new(&PlaygroundConfig::from_url(hash).unwrap()).unwrap())
}

fn ask<T>(commands: &mpsc::Sender<Command>, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> T {
    let (tx, rx) = oneshot::channel();
    commands.send(command(tx)).unwrap();
    rx.blocking_recv().unwrap()
}

/// A worker thread on `hash` with a stream's receiver open (so frames are built).
fn worker(hash: &str) -> (mpsc::Sender<Command>, watch::Receiver<Published>, watch::Receiver<Published>) {
    let (commands, receiver) = mpsc::channel();
    let (frames, session_rx) = watch::channel(Published::Nothing);
    let stream_rx = session_rx.clone();
    let run = run_of(hash);
    std::thread::spawn(move || work(run, receiver, frames, Duration::from_millis(16)));
    (commands, session_rx, stream_rx)
}

fn bench_serve(c: &mut Criterion) {
    let mut group = c.benchmark_group("serve");
    group.sample_size(10).measurement_time(Duration::from_secs(3));
    for (name, hash) in [("default", DEFAULT), ("spiral_6x8", SPIRAL_6X8)] {
        // Time per epoch while playing, frames included: criterion's iterations are epochs.
        group.bench_function(format!("{name}/play_epoch_with_frames"), |b| {
            let (commands, _session, _stream) = worker(hash);
            b.iter_custom(|iters| {
                let start_epoch = ask(&commands, Command::Status).epoch;
                let t = Instant::now();
                ask(&commands, Command::Play);
                while ask(&commands, Command::Status).epoch < start_epoch + iters {
                    std::thread::sleep(Duration::from_micros(200));
                }
                let elapsed = t.elapsed();
                ask(&commands, Command::Pause);
                let trained = ask(&commands, Command::Status).epoch - start_epoch;
                // Overshoot (epochs trained while the status answer travelled) counts too.
                elapsed.mul_f64(iters as f64 / trained.max(1) as f64)
            });
        });
        group.bench_function(format!("{name}/frame"), |b| {
            let run = run_of(hash);
            b.iter(|| -> Frame { run.frame(false, 0.0) });
        });
        group.bench_function(format!("{name}/step_to_frame_latency"), |b| {
            let (commands, _session, mut stream) = worker(hash);
            b.iter(|| {
                stream.borrow_and_update();
                let (tx, _rx) = oneshot::channel();
                commands.send(Command::Step(1, tx)).unwrap();
                while !stream.has_changed().unwrap() {
                    std::hint::spin_loop();
                }
            });
        });
        group.bench_function(format!("{name}/epoch_without_frames"), |b| {
            let mut run = run_of(hash);
            b.iter(|| run.train(1, &mut |_: &dyn View| true).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, bench_serve);
criterion_main!(benches);
