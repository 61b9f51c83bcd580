//! [`ApiError`]: every error response of the HTTP API.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// An error as the client sees it: a status, a stable machine-readable code
/// and a human message. Internal errors keep their detail in the log only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Not available yet; the client may retry (LL-HLS blocking timeouts).
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unavailable {
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }
}

impl From<control::Error> for ApiError {
    fn from(e: control::Error) -> Self {
        ApiError::Internal(format!("database: {e}"))
    }
}

impl From<storage::Error> for ApiError {
    fn from(e: storage::Error) -> Self {
        ApiError::Internal(format!("storage: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::NotFound { code, message } => (StatusCode::NOT_FOUND, code, message),
            ApiError::BadRequest { code, message } => (StatusCode::BAD_REQUEST, code, message),
            ApiError::Unavailable { code, message } => {
                (StatusCode::SERVICE_UNAVAILABLE, code, message)
            }
            ApiError::Internal(detail) => {
                // The request span carries the request id.
                tracing::error!(error = %detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal server error".to_string(),
                )
            }
        };
        let body = serde_json::json!({ "error": { "code": code, "message": message } });
        // Errors are about this moment (not live yet, part not there yet):
        // a CDN or browser must not keep serving them.
        (
            status,
            [(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            )],
            Json(body),
        )
            .into_response()
    }
}
