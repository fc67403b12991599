//! The sessions: each browser tab's experiment, its training thread and its frame channel,
//! kept in one map with caps, and ended by the reaper after the idle timeout.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde::Serialize;
use tokio::sync::{oneshot, watch};

use crate::error::{ApiError, ApiResult};
use crate::experiment::Resolved;
use crate::run::Run;
use crate::worker::{Command, Published, Reply, work};

/// The server's caps (docs/SERVE_API.md, "Limits"); the CLI's flags set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Sessions alive at once.
    pub max_sessions: usize,
    /// Weights and biases per network.
    pub max_params: usize,
    /// Bytes of an uploaded CSV.
    pub max_upload: usize,
    /// Bytes of any other request body.
    pub max_body: usize,
    /// A session without requests and open streams this long ends.
    #[serde(serialize_with = "as_seconds")]
    pub idle_timeout: Duration,
    /// The shortest time between two frames of a stream.
    #[serde(serialize_with = "as_milliseconds")]
    pub frame_interval: Duration,
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn as_milliseconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 16,
            max_params: backprop_playground::Network::MAX_PARAMETERS,
            max_upload: 10 * 1024 * 1024,
            max_body: 1024 * 1024,
            idle_timeout: Duration::from_secs(600),
            frame_interval: Duration::from_millis(16),
        }
    }
}

/// One session.
pub struct Session {
    /// The session's id (hex).
    pub id: String,
    /// `None` once the session ended: dropping the sender stops the training thread, which
    /// drops the frame sender and so ends every stream, even those still holding the session.
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    frames: watch::Receiver<Published>,
    last_seen: Mutex<Instant>,
    streams: AtomicUsize,
    /// The experiment it runs, as resolved.
    pub experiment: Mutex<Resolved>,
    /// The uploaded data set, kept for reset, regenerate and new experiments on it.
    pub upload: Mutex<Option<Arc<backprop_data::Dataset<crate::engine::F>>>>,
}

/// Locks a mutex even when a panicking thread poisoned it (the data are plain values).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    /// Marks the session as used now (every request does).
    pub fn touch(&self) {
        *lock(&self.last_seen) = Instant::now();
    }

    /// Asks the training thread and waits for its answer.
    ///
    /// # Errors
    /// 500 when the thread is gone.
    pub async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> ApiResult<T> {
        let (tx, rx) = oneshot::channel();
        let sent = match &*lock(&self.commands) {
            Some(commands) => commands.send(command(tx)).is_ok(),
            None => false,
        };
        if !sent {
            return Err(ApiError::unknown_session(&self.id));
        }
        rx.await.map_err(|_| ApiError::session_gone())
    }

    /// A receiver of the session's frames, counted as an open stream until dropped.
    pub fn subscribe(self: &Arc<Self>) -> (watch::Receiver<Published>, StreamGuard) {
        self.streams.fetch_add(1, Ordering::SeqCst);
        let mut rx = self.frames.clone();
        rx.mark_changed();
        (rx, StreamGuard(Arc::clone(self)))
    }

    /// Ends the session's thread and streams.
    fn close(&self) {
        lock(&self.commands).take();
    }

    fn idle_for(&self) -> Duration {
        if self.streams.load(Ordering::SeqCst) > 0 { Duration::ZERO } else { lock(&self.last_seen).elapsed() }
    }
}

/// Counts an open stream; dropping it (the client went away) marks the session used.
pub struct StreamGuard(Arc<Session>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.streams.fetch_sub(1, Ordering::SeqCst);
    }
}

/// All sessions, with the server's limits.
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
    /// The caps.
    pub limits: Limits,
    ids: std::collections::hash_map::RandomState,
    counter: AtomicUsize,
}

impl Sessions {
    /// No sessions yet.
    pub fn new(limits: Limits) -> Self {
        Sessions {
            map: Mutex::new(HashMap::new()),
            limits,
            ids: std::collections::hash_map::RandomState::new(),
            counter: AtomicUsize::new(0),
        }
    }

    /// Starts a session running `run` on its own thread.
    ///
    /// # Errors
    /// 429 when the session cap is reached.
    pub fn create(&self, experiment: Resolved, run: Box<dyn Run>) -> ApiResult<Arc<Session>> {
        let mut map = lock(&self.map);
        if map.len() >= self.limits.max_sessions {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "the server already runs {} sessions, its limit (--max-sessions); close a tab or wait for one to expire",
                    self.limits.max_sessions
                ),
            ));
        }
        let mut hasher = self.ids.build_hasher();
        hasher.write_usize(self.counter.fetch_add(1, Ordering::SeqCst));
        let id = format!("{:016x}", hasher.finish());
        let (commands, receiver) = mpsc::channel();
        let (frames_tx, frames) = watch::channel(Published::Nothing);
        let interval = self.limits.frame_interval;
        std::thread::Builder::new()
            .name(format!("session-{id}"))
            .spawn(move || work(run, receiver, frames_tx, interval))
            .map_err(|e| {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("cannot start a training thread: {e}"))
            })?;
        let session = Arc::new(Session {
            id: id.clone(),
            commands: Mutex::new(Some(commands)),
            frames,
            last_seen: Mutex::new(Instant::now()),
            streams: AtomicUsize::new(0),
            experiment: Mutex::new(experiment),
            upload: Mutex::new(None),
        });
        map.insert(id, Arc::clone(&session));
        Ok(session)
    }

    /// The session `id`, marked as used.
    ///
    /// # Errors
    /// 404 when there is none.
    pub fn get(&self, id: &str) -> ApiResult<Arc<Session>> {
        let session = lock(&self.map).get(id).cloned().ok_or_else(|| ApiError::unknown_session(id))?;
        session.touch();
        Ok(session)
    }

    /// Ends session `id`: its thread stops when the map's handle is dropped and its streams
    /// end with it.
    ///
    /// # Errors
    /// 404 when there is none.
    pub fn remove(&self, id: &str) -> ApiResult<()> {
        let session = lock(&self.map).remove(id).ok_or_else(|| ApiError::unknown_session(id))?;
        session.close();
        Ok(())
    }

    /// Sessions alive.
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    /// Whether none is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends every session (at shutdown).
    pub fn close_all(&self) {
        for (_, session) in lock(&self.map).drain() {
            session.close();
        }
    }

    /// Ends every session idle for the timeout; returns how many ended.
    pub fn reap(&self) -> usize {
        let timeout = self.limits.idle_timeout;
        let mut map = lock(&self.map);
        let before = map.len();
        map.retain(|_, s| {
            let keep = s.idle_for() < timeout;
            if !keep {
                s.close();
            }
            keep
        });
        before - map.len()
    }
}

/// How often the reaper looks: a tenth of the timeout, between 10 ms and 10 s.
pub fn reap_period(timeout: Duration) -> Duration {
    (timeout / 10).clamp(Duration::from_millis(10), Duration::from_secs(10))
}
