//! [`ApiError`]: every error response of the HTTP API.
//!
//! One function maps the domain's errors to statuses ([`From<control::Error>`]):
//! a missing row is 404, a taken name, a broadcast in progress, a row in
//! use or a state that does not allow the change is 409, a field that
//! fails validation is 422, and everything else (the database, storage,
//! hashing) is a 500 whose detail goes to the log, tagged with the request
//! id by the request span, and never to the client.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// An error as the client sees it: a status, a stable machine-readable code
/// and a human message. Internal errors keep their detail in the log only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401: no credentials, or credentials that are not (or no longer)
    /// valid.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// 403: authenticated, but this caller may not do this (or a
    /// cookie-authenticated write without its CSRF token).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 409: a unique name is taken, a broadcast is in progress, a row is
    /// in use, or the resource's state does not allow the change.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 413: the request body is larger than accepted.
    #[error("{message}")]
    PayloadTooLarge { code: &'static str, message: String },
    /// 415: a JSON body without `Content-Type: application/json`.
    #[error("{message}")]
    UnsupportedMediaType { code: &'static str, message: String },
    /// 422: well-formed input with a field that fails validation; `field`
    /// names it (added to the JSON as `error.field`) when known.
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        field: Option<&'static str>,
    },
    /// 429 with `Retry-After`.
    #[error("{message}")]
    TooManyRequests {
        code: &'static str,
        message: String,
        retry_after_s: u64,
    },
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

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A 422 about one input field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code: "invalid_field",
            message: message.into(),
            field: Some(field),
        }
    }

    pub fn too_many_requests(
        code: &'static str,
        message: impl Into<String>,
        retry_after_s: u64,
    ) -> Self {
        ApiError::TooManyRequests {
            code,
            message: message.into(),
            retry_after_s,
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<control::Error> for ApiError {
    fn from(e: control::Error) -> Self {
        use control::Error as E;
        match e {
            E::NotFound { what } => ApiError::not_found("not_found", format!("{what} not found")),
            E::Conflict { what } => {
                ApiError::conflict("already_taken", format!("{what} is already taken"))
            }
            E::Busy { .. } => ApiError::conflict(
                "broadcast_in_progress",
                "the channel has a broadcast in progress; end it first",
            ),
            e @ E::InUse { .. } => ApiError::conflict("in_use", e.to_string()),
            e @ E::LimitReached { .. } => ApiError::conflict("limit_reached", e.to_string()),
            e @ E::Overloaded(_) => ApiError::too_many_requests("busy", e.to_string(), 2),
            E::InvalidTransition { what, from, to, .. } => ApiError::conflict(
                "invalid_state",
                format!("the {what} is {from} and cannot become {to}"),
            ),
            E::Invalid { field, message } => ApiError::Unprocessable {
                code: "invalid_field",
                message: format!("invalid {field}: {message}"),
                field: Some(field),
            },
            e @ (E::Corrupt { .. }
            | E::PasswordHash(_)
            | E::Crypto(_)
            | E::Migrate(_)
            | E::Database(_)) => ApiError::Internal(format!("database: {e}")),
        }
    }
}

impl From<storage::Error> for ApiError {
    fn from(e: storage::Error) -> Self {
        ApiError::Internal(format!("storage: {e}"))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType {
                code: "unsupported_media_type",
                message: "send the body as JSON with Content-Type: application/json".into(),
            },
            JsonRejection::JsonDataError(e) => ApiError::Unprocessable {
                code: "invalid_body",
                message: e.body_text(),
                field: None,
            },
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::bad_request("malformed_json", e.body_text())
            }
            e if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
                code: "body_too_large",
                message: "the request body is too large".into(),
            },
            e => ApiError::bad_request("invalid_body", e.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut field = None;
        let mut retry_after = None;
        let (code, message) = match self {
            ApiError::NotFound { code, message }
            | ApiError::BadRequest { code, message }
            | ApiError::Unauthorized { code, message }
            | ApiError::Forbidden { code, message }
            | ApiError::Conflict { code, message }
            | ApiError::PayloadTooLarge { code, message }
            | ApiError::UnsupportedMediaType { code, message }
            | ApiError::Unavailable { code, message } => (code, message),
            ApiError::Unprocessable {
                code,
                message,
                field: f,
            } => {
                field = f;
                (code, message)
            }
            ApiError::TooManyRequests {
                code,
                message,
                retry_after_s,
            } => {
                retry_after = Some(retry_after_s.max(1));
                (code, message)
            }
            ApiError::Internal(detail) => {
                // The request span carries the request id.
                tracing::error!(error = %detail, "internal error");
                ("internal", "internal server error".to_string())
            }
        };
        let mut error = serde_json::json!({ "code": code, "message": message });
        if let Some(field) = field {
            error["field"] = field.into();
        }
        let body = serde_json::json!({ "error": error });
        // Errors are about this moment (not live yet, part not there yet):
        // a CDN or browser must not keep serving them.
        let mut response = (
            status,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(body),
        )
            .into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="aethex""#),
            );
        }
        response
    }
}
