//! A session's training thread: it owns the [`Run`], takes [`Command`]s from a channel and
//! publishes the latest frame into a `watch` channel that every event stream of the session
//! reads (latest state only: a slow reader skips frames, it never queues them).
//!
//! Training is CPU work, so it runs on its own OS thread, never on the async runtime's.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
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
    let mut w = Worker {
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
                let _ = w.frames.send(Published::Error(message.into()));
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

/// The worker's state besides the run.
struct Worker {
    frames: watch::Sender<Published>,
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

    /// Builds and sends a frame now; returns its JSON.
    fn publish(&mut self, run: &dyn View) -> String {
        let rate = if self.playing { self.rate.update(run.epoch()) } else { 0.0 };
        let frame = run.frame(!self.points_sent, rate);
        self.points_sent = true;
        self.last_sent = Some(Instant::now());
        let json = serde_json::to_string(&frame).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        let _ = self.frames.send(Published::Frame(json.as_str().into()));
        json
    }

    /// Sends a frame when the last one is at least an interval old (frames are built only
    /// when one will be sent).
    fn publish_if_due(&mut self, run: &dyn View) {
        // The session keeps one receiver to subscribe streams from; more means a stream is open.
        let watched = self.frames.receiver_count() > 1;
        if watched && self.last_sent.is_none_or(|t| t.elapsed() >= self.interval) {
            self.publish(run);
        }
    }
}
