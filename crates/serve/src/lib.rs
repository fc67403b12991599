//! # backprop-serve
//!
//! `backprop serve`: the TensorFlow Playground as a local web app on backprop's engine. The
//! HTTP API is docs/SERVE_API.md (and `openapi.yaml`, served at `/openapi.yaml`); the page
//! lives in `assets/`, embedded in the binary.
//!
//! - Each session (a browser tab) owns a training thread ([`worker`]) fed by a command
//!   channel; it publishes the latest [`frame::Frame`] into a `watch` channel that the
//!   session's event streams read, throttled to the frame interval.
//! - Playground mode is the replica of `backprop-playground` itself, so its losses are the
//!   page's at every epoch.
//! - Caps ([`Limits`]) on sessions, parameters and body sizes; idle sessions end after the
//!   timeout (a reaper task); every refusal is a 4xx with `{"error": "..."}`.

#![warn(missing_docs)]

pub mod derivatives;
pub mod engine;
pub mod error;
pub mod experiment;
pub mod frame;
pub mod routes;
pub mod run;
pub mod session;
pub mod worker;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use rust_embed::Embed;

pub use crate::error::ApiError;
pub use crate::session::Limits;

use crate::routes::AppState;
use crate::session::{Sessions, reap_period};

/// The page's static files (crates/serve/assets/), in the binary.
#[derive(Embed)]
#[folder = "assets/"]
struct Assets;

/// The API's OpenAPI 3 description.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

/// The application: every route of docs/SERVE_API.md over a fresh set of sessions with
/// `limits`. Inside a tokio runtime it also starts the reaper of idle sessions, which ends
/// when the router is dropped.
pub fn router(limits: Limits) -> Router {
    app(Arc::new(Sessions::new(limits)))
}

/// [`router`] over given sessions.
fn app(state: AppState) -> Router {
    let limits = state.limits;
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(reaper(Arc::downgrade(&state)));
    }
    let sessions = Router::new()
        .route("/api/sessions", post(routes::create))
        .route("/api/sessions/{id}", get(routes::show).delete(routes::delete))
        .route("/api/sessions/{id}/experiment", put(routes::replace))
        .route("/api/sessions/{id}/play", post(routes::play))
        .route("/api/sessions/{id}/pause", post(routes::pause))
        .route("/api/sessions/{id}/reset", post(routes::reset))
        .route("/api/sessions/{id}/regenerate", post(routes::regenerate))
        .route("/api/sessions/{id}/step", post(routes::step))
        .route("/api/sessions/{id}/backward", post(routes::backward))
        .route("/api/sessions/{id}/weight", get(routes::weight))
        .route("/api/sessions/{id}/events", get(routes::events))
        .route("/api/sessions/{id}/data.csv", get(routes::data_csv))
        .route("/api/sessions/{id}/model.safetensors", get(routes::model_file))
        .layer(DefaultBodyLimit::max(limits.max_body));
    let uploads = Router::new()
        .route("/api/sessions/{id}/data", post(routes::upload))
        .layer(DefaultBodyLimit::max(limits.max_upload));
    Router::new()
        .route("/", get(index))
        .route("/openapi.yaml", get(openapi))
        .route("/assets/{*file}", get(asset))
        .merge(sessions)
        .merge(uploads)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
}

/// Ends idle sessions every [`reap_period`] until the sessions are gone.
async fn reaper(sessions: Weak<Sessions>) {
    let Some(period) = sessions.upgrade().map(|s| reap_period(s.limits.idle_timeout)) else {
        return;
    };
    loop {
        tokio::time::sleep(period).await;
        match sessions.upgrade() {
            Some(s) => {
                s.reap();
            }
            None => return,
        }
    }
}

async fn index() -> Response {
    embedded("index.html")
}

async fn asset(uri: Uri) -> Response {
    embedded(uri.path().trim_start_matches("/assets/"))
}

/// An embedded file with its MIME type, or 404.
fn embedded(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => {
            ([(header::CONTENT_TYPE, file.metadata.mimetype().to_string())], file.data).into_response()
        }
        None => ApiError::new(StatusCode::NOT_FOUND, format!("no file `{path}` in the page's assets"))
            .into_response(),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML).into_response()
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no route `{}`", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("`{method}` is not allowed on `{}`", uri.path()))
}

/// The last guard: a bug in a handler answers 500 with a message instead of dropping the
/// connection.
fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("internal error: {message} (a bug in backprop serve)"),
    )
    .into_response()
}

/// How `backprop serve` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// The address to bind (loopback by default).
    pub host: String,
    /// The port (0 picks a free one).
    pub port: u16,
    /// Open the page in a browser (xdg-open) once listening.
    pub open: bool,
    /// The caps.
    pub limits: Limits,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions { host: "127.0.0.1".into(), port: 8080, open: false, limits: Limits::default() }
    }
}

/// Binds, prints `backprop serve: listening on http://HOST:PORT/` on stdout (flushed, so
/// scripts can read the port), and serves until Ctrl-C, then shuts down gracefully.
///
/// # Errors
/// When the address cannot be bound or serving fails, with the address in the message.
pub async fn serve(options: ServeOptions) -> Result<(), String> {
    use std::io::Write;
    let listener = tokio::net::TcpListener::bind((options.host.as_str(), options.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", options.host, options.port))?;
    let address: SocketAddr =
        listener.local_addr().map_err(|e| format!("cannot read the bound address: {e}"))?;
    let url = format!("http://{address}/");
    println!("backprop serve: listening on {url}");
    let _ = std::io::stdout().flush();
    if options.open {
        open_browser(&url);
    }
    let sessions = Arc::new(Sessions::new(options.limits));
    let closing = Arc::clone(&sessions);
    axum::serve(listener, app(sessions))
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Event streams last as long as their session: end them so that the
            // graceful shutdown does not wait for the browser to go away.
            closing.close_all();
        })
        .await
        .map_err(|e| format!("serving {url} failed: {e}"))
}

/// Tries `xdg-open URL`; a missing opener is a warning, not a failure.
fn open_browser(url: &str) {
    if let Err(e) = std::process::Command::new("xdg-open")
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        eprintln!("warning: cannot open a browser (xdg-open: {e}); open {url} yourself");
    }
}
