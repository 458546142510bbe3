//! The error every route answers with: an HTTP status, a stable machine-readable code and
//! a message for people that says what to do next.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};

/// Body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `insufficient_funds`, `bad_nonce`, `not_found`.
    pub code: String,
    /// What went wrong and what to do, for people.
    pub message: String,
}

/// An error response: HTTP status, stable code, human message.
#[derive(Clone, Debug)]
pub struct ApiError(pub StatusCode, pub &'static str, pub String);

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl ToString) -> Self {
        Self(StatusCode::BAD_REQUEST, code, message.to_string())
    }

    pub fn not_found(message: impl ToString) -> Self {
        Self(StatusCode::NOT_FOUND, "not_found", message.to_string())
    }

    pub fn internal(message: impl ToString) -> Self {
        Self(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            message.to_string(),
        )
    }

    /// The server is at a limit; the client should retry shortly.
    pub fn unavailable(code: &'static str, message: impl ToString) -> Self {
        Self(StatusCode::SERVICE_UNAVAILABLE, code, message.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0;
        let body = ErrorBody {
            code: self.1.to_string(),
            message: self.2,
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}
