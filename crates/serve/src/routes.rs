//! The HTTP handlers of docs/SERVE_API.md. Each checks its input, finds the session and
//! hands the work to the session's training thread; none of them trains on the async
//! runtime's threads.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::derivatives::{WeightQuery, weight_info};
use crate::engine::{EngineRun, F};
use crate::error::{ApiError, ApiResult};
use crate::experiment::{Experiment, Mode, Resolved};
use crate::run::{PlaygroundRun, Run};
use crate::session::{Session, Sessions, lock};
use crate::worker::{Command, Published, Status};
use backprop_data::{CsvOptions, Dataset, Targets, read_csv};

/// The state every handler shares.
pub type AppState = Arc<Sessions>;

/// The most epochs one `step` request may ask for.
pub const MAX_STEP_EPOCHS: u64 = 1_000_000;

/// The `{id}` of a session's path. A segment that does not decode (a percent-escape that
/// is not UTF-8) names no session: 404 as an [`ApiError`] (axum's own refusal is plain text).
pub struct SessionId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SessionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await.map_err(|e| {
            ApiError::new(StatusCode::NOT_FOUND, format!("no session of this id: {}", e.body_text()))
        })?;
        Ok(SessionId(id))
    }
}

/// A fresh seed string as the page draws one (`Math.random().toFixed(5)`).
fn fresh_seed() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
    );
    format!("{:.5}", (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64)
}

/// Resolves an experiment and builds its run; `upload` is the session's uploaded data.
fn start(
    state: &Sessions,
    experiment: &Experiment,
    upload: Option<&Dataset<F>>,
) -> ApiResult<(Resolved, Box<dyn Run>)> {
    let resolved = experiment.resolve(state.limits.max_params, fresh_seed)?;
    let run: Box<dyn Run> = match resolved.mode {
        Mode::Playground => Box::new(PlaygroundRun::new(&resolved.config)?),
        Mode::Engine if resolved.upload => {
            let data = upload.ok_or_else(|| {
                ApiError::conflict(
                    "`dataset` `upload`: no data uploaded yet; POST a CSV file to the session's /data",
                )
            })?;
            Box::new(EngineRun::new(&resolved, Some(data))?)
        }
        Mode::Engine => Box::new(EngineRun::new(&resolved, None)?),
    };
    // Uploaded data decide the input width only now.
    let max = state.limits.max_params;
    if run.parameters() > max {
        return Err(ApiError::bad_request(format!(
            "`hidden` {:?}: the network would have {} weights and biases, more than the {max} allowed",
            resolved.config.network_shape,
            run.parameters()
        )));
    }
    Ok((resolved, run))
}

/// The session's uploaded data, if any.
fn upload_of(session: &Session) -> Option<Arc<Dataset<F>>> {
    lock(&session.upload).clone()
}

/// The body of create and replace.
fn described(state: &Sessions, session: &Session, parameters: usize, classes: usize) -> Value {
    json!({
        "id": session.id,
        "experiment": lock(&session.experiment).echo(classes),
        "parameters": parameters,
        "limits": state.limits,
    })
}

/// `POST /api/sessions`.
pub async fn create(
    State(state): State<AppState>,
    body: Result<Json<Experiment>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Json(experiment) = body?;
    let (resolved, run) = start(&state, &experiment, None)?;
    let (parameters, classes) = (run.parameters(), run.classes());
    let session = state.create(resolved, run)?;
    Ok((StatusCode::CREATED, Json(described(&state, &session, parameters, classes))))
}

/// `GET /api/sessions/{id}`.
pub async fn show(State(state): State<AppState>, SessionId(id): SessionId) -> ApiResult<Json<Value>> {
    let session = state.get(&id)?;
    let status = session.ask(Command::Status).await?;
    Ok(Json(json!({
        "id": session.id,
        "experiment": lock(&session.experiment).echo(status.classes),
        "epoch": status.epoch,
        "playing": status.playing,
        "parameters": status.parameters,
    })))
}

/// `DELETE /api/sessions/{id}`.
pub async fn delete(State(state): State<AppState>, SessionId(id): SessionId) -> ApiResult<StatusCode> {
    state.remove(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/sessions/{id}/experiment`: a new experiment, training reset.
pub async fn replace(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    body: Result<Json<Experiment>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let session = state.get(&id)?;
    let Json(experiment) = body?;
    let (resolved, run) = start(&state, &experiment, upload_of(&session).as_deref())?;
    let (parameters, classes) = (run.parameters(), run.classes());
    session.ask(|reply| Command::Replace(run, reply)).await?;
    *lock(&session.experiment) = resolved;
    Ok(Json(described(&state, &session, parameters, classes)))
}

/// `POST /api/sessions/{id}/play`.
pub async fn play(State(state): State<AppState>, SessionId(id): SessionId) -> ApiResult<Json<Status>> {
    Ok(Json(state.get(&id)?.ask(Command::Play).await?))
}

/// `POST /api/sessions/{id}/pause`.
pub async fn pause(State(state): State<AppState>, SessionId(id): SessionId) -> ApiResult<Json<Status>> {
    Ok(Json(state.get(&id)?.ask(Command::Pause).await?))
}

/// `POST /api/sessions/{id}/reset`: the same experiment (same seed) from epoch 0.
pub async fn reset(State(state): State<AppState>, SessionId(id): SessionId) -> ApiResult<Json<Status>> {
    let session = state.get(&id)?;
    let experiment = lock(&session.experiment).again();
    restart(&state, &session, experiment).await
}

/// `POST /api/sessions/{id}/regenerate`: new data (a fresh seed), the same settings.
pub async fn regenerate(State(state): State<AppState>, SessionId(id): SessionId) -> ApiResult<Json<Status>> {
    let session = state.get(&id)?;
    let mut experiment = lock(&session.experiment).echo(1);
    experiment.hash = None;
    experiment.seed = None;
    restart(&state, &session, experiment).await
}

/// Replaces the session's run by a fresh one of `experiment`.
async fn restart(state: &Sessions, session: &Session, mut experiment: Experiment) -> ApiResult<Json<Status>> {
    // The echo lists every field; the engine-only ones are absent in playground mode.
    experiment.classes = None;
    let (resolved, run) = start(state, &experiment, upload_of(session).as_deref())?;
    let status = session.ask(|reply| Command::Replace(run, reply)).await?;
    *lock(&session.experiment) = resolved;
    Ok(Json(status))
}

/// The body of `step`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    /// Epochs to train (default 1).
    pub epochs: Option<u64>,
}

/// A body axum read, or its refusal as an [`ApiError`]: one too large names `what`, the cap
/// of `limit` bytes and the `option` that sets it.
fn read_body(
    body: Result<Bytes, BytesRejection>,
    what: &str,
    limit: usize,
    option: &str,
) -> ApiResult<Bytes> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{what} is larger than the {limit} bytes allowed{option}"),
        ),
        status => ApiError::new(status, e.body_text()),
    })
}

/// Reads an optional JSON body of at most `limit` bytes: empty means `T::default()`,
/// anything else must be JSON.
fn optional_json<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> ApiResult<T> {
    let body = read_body(body, "the request body", limit, "")?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected `Content-Type: application/json`",
        ));
    }
    Ok(Json::<T>::from_bytes(&body)?.0)
}

/// `POST /api/sessions/{id}/step`: trains `epochs` epochs and answers with the frame.
pub async fn step(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let session = state.get(&id)?;
    let StepBody { epochs } = optional_json(&headers, body, state.limits.max_body)?;
    let epochs = epochs.unwrap_or(1);
    if !(1..=MAX_STEP_EPOCHS).contains(&epochs) {
        return Err(ApiError::bad_request(format!(
            "`epochs` {epochs}: expected an integer in 1..={MAX_STEP_EPOCHS}"
        )));
    }
    let frame = session.ask(|reply| Command::Step(epochs, reply)).await?.map_err(ApiError::conflict)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], frame).into_response())
}

/// The body of `backward`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackwardBody {
    /// The training row whose batch is taken (default 0).
    pub example: Option<usize>,
}

/// Runs `report` on the session's training thread and answers with its JSON.
async fn report(
    session: &Session,
    report: impl FnOnce(&mut dyn Run) -> ApiResult<Value> + Send + 'static,
) -> ApiResult<Json<Value>> {
    Ok(Json(session.ask(|reply| Command::With(Box::new(report), reply)).await??))
}

/// The JSON of a report (serialising plain numbers and strings cannot fail; a non-finite
/// number from a diverged run becomes `null`).
fn to_json(value: &impl serde::Serialize) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| ApiError::conflict(format!("cannot write the report: {e}")))
}

/// `POST /api/sessions/{id}/backward`: one mini-batch's backward pass, layer by layer.
pub async fn backward(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let session = state.get(&id)?;
    let BackwardBody { example } = optional_json(&headers, body, state.limits.max_body)?;
    let example = example.unwrap_or(0);
    report(&session, move |run| to_json(&run.derivatives(example)?.0)).await
}

/// `GET /api/sessions/{id}/weight?layer=l&from=i&to=j[&input=k&output=o&example=e]`: a
/// weight's value, ∂L/∂w on the batch holding row e, and its path sum from input k to output o.
pub async fn weight(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    query: Result<Query<WeightQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let session = state.get(&id)?;
    let Query(query) = query?;
    report(&session, move |run| {
        let (backward, local) = run.derivatives(query.example.unwrap_or(0))?;
        to_json(&weight_info(&query, &backward, &local)?)
    })
    .await
}

/// `GET /api/sessions/{id}/data.csv`.
pub async fn data_csv(State(state): State<AppState>, SessionId(id): SessionId) -> ApiResult<Response> {
    let csv = state.get(&id)?.ask(Command::DataCsv).await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

/// `GET /api/sessions/{id}/model.safetensors`: the model as `backprop predict` and PyTorch load it.
pub async fn model_file(State(state): State<AppState>, SessionId(id): SessionId) -> ApiResult<Response> {
    let bytes = state.get(&id)?.ask(Command::ModelFile).await??;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"model.safetensors\""),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /api/sessions/{id}/events`: the session's frames as Server-Sent Events, latest
/// state only, ending when the session ends.
pub async fn events(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let session = state.get(&id)?;
    let (rx, guard) = session.subscribe();
    let interval = state.limits.frame_interval;
    let stream = stream::unfold((rx, guard, false), move |(mut rx, guard, mut throttle)| async move {
        loop {
            if throttle {
                // At most one frame per interval; the watch keeps only the latest meanwhile.
                tokio::time::sleep(interval).await;
            }
            rx.changed().await.ok()?;
            let event = match &*rx.borrow_and_update() {
                Published::Nothing => None,
                Published::Frame(json) => Some(Event::default().event("frame").data(json.as_ref())),
                Published::Error(message) => Some(
                    Event::default().event("error").data(json!({ "error": message.as_ref() }).to_string()),
                ),
            };
            throttle = true;
            if let Some(event) = event {
                return Some((Ok(event), (rx, guard, throttle)));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// `POST /api/sessions/{id}/data`: a CSV file (header row; the target is the column named
/// `label`, else the last one) read by backprop-data's reader, whose errors name the row
/// and column. The session switches to engine mode on the uploaded data.
pub async fn upload(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let session = state.get(&id)?;
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    if !csv {
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected `Content-Type: text/csv`"));
    }
    let body = read_body(body, "the CSV file", state.limits.max_upload, " (--max-upload)")?;
    let target = {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(&body[..]);
        let names: Vec<String> =
            reader.headers().map(|h| h.iter().map(|n| n.trim().to_string()).collect()).unwrap_or_default();
        names.iter().find(|n| *n == "label").or(names.last()).cloned().unwrap_or_default()
    };
    let data: Dataset<F> = read_csv(&body[..], "data.csv", &CsvOptions::new(target))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let classes: Vec<String> = match data.targets() {
        Targets::Classes { names, .. } => names.clone(),
        _ => Vec::new(),
    };
    let mut experiment = lock(&session.experiment).echo(1);
    experiment.hash = None;
    experiment.classes = None;
    experiment.mode = Some(Mode::Engine);
    experiment.dataset = Some("upload".into());
    experiment.features = None;
    experiment.problem = Some(if classes.is_empty() { "regression" } else { "classification" }.into());
    experiment.loss = Some(match classes.len() {
        0 => "mse".into(),
        2 => experiment.loss.filter(|l| l != "mse").unwrap_or_else(|| "log".into()),
        _ => "ce".into(),
    });
    let (resolved, run) = start(&state, &experiment, Some(&data))?;
    session.ask(|reply| Command::Replace(run, reply)).await?;
    *lock(&session.experiment) = resolved;
    let reply = json!({
        "rows": data.len(),
        "columns": data.num_features() + 1,
        "features": data.feature_names(),
        "heatmap": data.num_features() == 2,
        "classes": classes,
    });
    *lock(&session.upload) = Some(Arc::new(data));
    Ok(Json(reply))
}
