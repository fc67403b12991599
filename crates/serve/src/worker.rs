//! A session's training thread: it owns the [`Run`], takes [`Command`]s from a channel and
//! publishes the latest frame into a `watch` channel that every event stream of the session
//! reads (latest state only: a slow reader skips frames, it never queues them).
//!
//! Training is CPU work, so it runs on its own OS thread, never on the async runtime's.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::error::ApiResult;
use crate::run::{Run, View};

/// What a stream sends: a frame's JSON, or an error (divergence).
#[derive(Debug, Clone, PartialEq)]
pub enum Published {
    /// Nothing computed yet.
    Nothing,
    /// The JSON of the latest [`crate::frame::Frame`].
    Frame(Arc<str>),
    /// A message for the page (`event: error`).
    Error(Arc<str>),
}

/// The state the control endpoints answer with.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Status {
    /// Epochs trained.
    pub epoch: u64,
    /// Whether the run is playing.
    pub playing: bool,
    /// Weights and biases of the network (not in the control replies).
    #[serde(skip)]
    pub parameters: usize,
    /// Output classes (not in the control replies).
    #[serde(skip)]
    pub classes: usize,
}

/// A reply channel.
pub type Reply<T> = oneshot::Sender<T>;

/// A report computed on the training thread from the run (a weight's gradient, a model file).
pub type Job = Box<dyn FnOnce(&mut dyn Run) -> ApiResult<serde_json::Value> + Send>;

/// What the HTTP handlers ask of the training thread.
pub enum Command {
    /// Train continuously.
    Play(Reply<Status>),
    /// Stop training after the current epoch.
    Pause(Reply<Status>),
    /// Train `n` epochs (pausing first) and answer with the frame's JSON.
    Step(u64, Reply<Result<String, String>>),
    /// Replace the run (reset, regenerate, new experiment), paused at epoch 0.
    Replace(Box<dyn Run>, Reply<Status>),
    /// The current status.
    Status(Reply<Status>),
    /// The data as CSV.
    DataCsv(Reply<String>),
    /// The model file's bytes.
    ModelFile(Reply<ApiResult<Vec<u8>>>),
    /// Run any function on the run (reports computed on the worker's thread).
    With(Job, Reply<ApiResult<serde_json::Value>>),
}

/// Runs a session's loop until its command channel closes (the session ended).
pub fn work(
    mut run: Box<dyn Run>,
    commands: Receiver<Command>,
    frames: watch::Sender<Published>,
    interval: Duration,
) {
    let frames = Arc::new(Frames { sender: frames, latest: Mutex::new(0) });
    let mut w = Worker {
        drawer: Drawer::start(Arc::clone(&frames)),
        frames,
        interval,
        playing: false,
        points_sent: false,
        last_sent: None,
        rate: Rate::default(),
    };
    w.publish(&*run as &dyn View);
    loop {
        let command = if w.playing {
            match commands.try_recv() {
                Ok(c) => Some(c),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            match commands.recv() {
                Ok(c) => Some(c),
                Err(_) => return,
            }
        };
        if let Some(command) = command {
            w.handle(&mut run, command);
        }
        if w.playing {
            w.rate.start(run.epoch());
            let mut pending = None;
            let result = run.train(u64::MAX, &mut |view| {
                w.publish_if_due(view);
                match commands.try_recv() {
                    Ok(c) => {
                        pending = Some(c);
                        false
                    }
                    Err(TryRecvError::Empty) => true,
                    Err(TryRecvError::Disconnected) => false,
                }
            });
            if let Err(message) = result {
                w.playing = false;
                w.frames.send_now(Published::Error(message.into()));
            }
            match pending {
                Some(command) => w.handle(&mut run, command),
                // The run stopped without a command: an error, or the session ended.
                None => {
                    w.playing = false;
                }
            }
            if !w.playing {
                w.publish(&*run);
            }
        }
    }
}

/// The session's `watch` channel, written by the training thread and the drawing thread.
/// Every publication takes a number; a frame drawn from an older state than the last one
/// published is dropped, so a stream never goes back in time.
struct Frames {
    sender: watch::Sender<Published>,
    /// The number of the latest publication.
    latest: Mutex<u64>,
}

impl Frames {
    /// Takes the next number, for a publication that will follow.
    fn ticket(&self) -> u64 {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        *latest += 1;
        *latest
    }

    /// Sends `published` unless a later ticket has been taken since `ticket`.
    fn send(&self, ticket: u64, published: Published) {
        let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        if *latest == ticket {
            let _ = self.sender.send(published);
        }
    }

    /// Gives back `ticket`, the last one taken, when nothing was published with it (so the
    /// frame still being drawn stays the latest).
    fn give_back(&self, ticket: u64) {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        if *latest == ticket {
            *latest -= 1;
        }
    }

    /// Takes a ticket and sends at once.
    fn send_now(&self, published: Published) {
        let ticket = self.ticket();
        self.send(ticket, published);
    }
}

/// What the drawing thread turns into a frame: a snapshot, whether to include the points, the
/// epochs per second, and its ticket.
type Drawing = (Box<dyn View + Send>, bool, f64, u64);

/// A thread that draws frames from snapshots, so that while playing the training thread only
/// copies its state (drawing the heat maps of a 6×8 network takes longer than an epoch).
/// A rendezvous channel: a snapshot is handed over only while the drawer waits for one, so a
/// busy drawer makes the trainer skip a frame, never queue one (a queued newer snapshot would
/// make every frame being drawn stale before it is sent).
struct Drawer {
    snapshots: SyncSender<Drawing>,
}

impl Drawer {
    fn start(frames: Arc<Frames>) -> Option<Self> {
        let (snapshots, receiver) = std::sync::mpsc::sync_channel::<Drawing>(0);
        let spawned = std::thread::Builder::new().name("backprop-serve-frames".into()).spawn(move || {
            // Ends when the worker drops the sender (the session ended).
            for (view, points, rate, ticket) in receiver {
                let json = frame_json(&*view, points, rate);
                frames.send(ticket, Published::Frame(json.into()));
            }
        });
        // Without the thread, frames are drawn on the training thread.
        spawned.ok().map(|_| Drawer { snapshots })
    }
}

/// The JSON of `view`'s frame.
fn frame_json(view: &dyn View, points: bool, rate: f64) -> String {
    let frame = view.frame(points, rate);
    serde_json::to_string(&frame).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The worker's state besides the run.
struct Worker {
    frames: Arc<Frames>,
    drawer: Option<Drawer>,
    interval: Duration,
    playing: bool,
    points_sent: bool,
    last_sent: Option<Instant>,
    rate: Rate,
}

/// Epochs per second while playing, measured between frames.
#[derive(Debug, Default)]
struct Rate {
    since: Option<(Instant, u64)>,
    per_second: f64,
}

impl Rate {
    fn start(&mut self, epoch: u64) {
        if self.since.is_none() {
            self.since = Some((Instant::now(), epoch));
        }
    }

    fn update(&mut self, epoch: u64) -> f64 {
        if let Some((t, e)) = self.since {
            let dt = t.elapsed().as_secs_f64();
            if dt >= 0.25 {
                self.per_second = epoch.saturating_sub(e) as f64 / dt;
                self.since = Some((Instant::now(), epoch));
            } else if self.per_second == 0.0 && dt > 0.0 {
                self.per_second = epoch.saturating_sub(e) as f64 / dt;
            }
        }
        self.per_second
    }

    fn stop(&mut self) {
        self.since = None;
        self.per_second = 0.0;
    }
}

impl Worker {
    fn status(&self, run: &dyn Run) -> Status {
        Status {
            epoch: run.epoch(),
            playing: self.playing,
            parameters: run.parameters(),
            classes: run.classes(),
        }
    }

    fn handle(&mut self, run: &mut Box<dyn Run>, command: Command) {
        match command {
            Command::Play(reply) => {
                self.playing = true;
                let _ = reply.send(self.status(&**run));
            }
            Command::Pause(reply) => {
                self.pause();
                self.publish(&**run);
                let _ = reply.send(self.status(&**run));
            }
            Command::Step(n, reply) => {
                self.pause();
                let result = run.train(n, &mut |_| true);
                let frame = self.publish(&**run);
                let _ = reply.send(result.map(|()| frame));
            }
            Command::Replace(new, reply) => {
                self.pause();
                *run = new;
                self.points_sent = false;
                self.publish(&**run);
                let _ = reply.send(self.status(&**run));
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status(&**run));
            }
            Command::DataCsv(reply) => {
                let _ = reply.send(run.data_csv());
            }
            Command::ModelFile(reply) => {
                let _ = reply.send(run.model_file());
            }
            Command::With(f, reply) => {
                let result = f(&mut **run);
                let _ = reply.send(result);
            }
        }
    }

    fn pause(&mut self) {
        self.playing = false;
        self.rate.stop();
    }

    /// Builds and sends a frame now, on this thread; returns its JSON.
    fn publish(&mut self, run: &dyn View) -> String {
        let rate = if self.playing { self.rate.update(run.epoch()) } else { 0.0 };
        let ticket = self.frames.ticket();
        let json = frame_json(run, !self.points_sent, rate);
        self.points_sent = true;
        self.last_sent = Some(Instant::now());
        self.frames.send(ticket, Published::Frame(json.as_str().into()));
        json
    }

    /// Sends a frame when the last one is at least an interval old (frames are built only
    /// when one will be sent): drawn by the drawing thread from a snapshot when the run has
    /// one, skipped while that thread is still busy with the previous frame.
    fn publish_if_due(&mut self, run: &dyn View) {
        // The session keeps one receiver to subscribe streams from; more means a stream is open.
        let watched = self.frames.sender.receiver_count() > 1;
        if !watched || self.last_sent.is_some_and(|t| t.elapsed() < self.interval) {
            return;
        }
        let (Some(drawer), Some(snapshot)) = (&self.drawer, run.snapshot()) else {
            self.publish(run);
            return;
        };
        let rate = self.rate.update(run.epoch());
        let ticket = self.frames.ticket();
        match drawer.snapshots.try_send((snapshot, !self.points_sent, rate, ticket)) {
            Ok(()) => {
                self.points_sent = true;
                self.last_sent = Some(Instant::now());
            }
            // Busy: the next epoch tries again. Gone: draw here from now on.
            Err(TrySendError::Full(_)) => self.frames.give_back(ticket),
            Err(TrySendError::Disconnected(_)) => {
                self.frames.give_back(ticket);
                self.drawer = None;
                self.publish(run);
            }
        }
    }
}
