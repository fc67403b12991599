//! The one error type of the HTTP API: a 4xx status and a plain sentence, sent as
//! `{"error": "..."}` (docs/SERVE_API.md).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A refused request: the status and the sentence that names the field, row or column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status (always 4xx for the client's mistakes, 500 only for a bug).
    pub status: StatusCode,
    /// One line naming what was wrong.
    pub message: String,
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: one_line(&message.into()) }
    }

    /// 400: a bad value (the message names the field and the allowed range).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: no session with this id (never existed, deleted or expired).
    pub fn unknown_session(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("no session `{id}` (it never existed, was deleted or expired)"),
        )
    }

    /// 409: the request does not fit the session's state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 500: the session's training thread is gone (a bug: it ends only with its session).
    pub fn session_gone() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "the session's training thread stopped")
    }
}

/// Messages are one line, so a client can show them as they are.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

/// axum's refusals of a JSON body keep their status (400 syntax, 415 content type, 413 too
/// large, 422 data) except that a body that parses but does not fit the schema (unknown
/// field, wrong type) is a 400 like every other bad value; the message is serde's, which
/// names the field, line and column.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = match &rejection {
            JsonRejection::JsonDataError(_) => StatusCode::BAD_REQUEST,
            other => other.status(),
        };
        let message = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "expected `Content-Type: application/json`".to_string()
            }
            other => other.body_text(),
        };
        ApiError::new(status, message)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(rejection.body_text())
    }
}
