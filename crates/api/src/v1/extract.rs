//! Request extractors whose rejections are [`ApiError`]s (JSON bodies,
//! query strings, path segments), and the page parameters every list
//! takes.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use control::PageRequest;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use crate::ApiError;

/// A JSON body (`Content-Type: application/json` required): 400 when it is
/// not JSON, 415 without the content type, 422 when it does not fit the
/// type (a missing or unknown field, a wrong type or enum value).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct ApiJson<T>(pub T);

/// A query string; 400 when it does not fit the type.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub T);

/// Path parameters; 400 when they do not fit the type.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct ApiPath<T>(pub T);

/// A JSON body that may be left out: an empty body is `T::default()`,
/// anything else is as [`ApiJson`].
pub(crate) struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || (v.starts_with("application/") && v.ends_with("+json"))
            });
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    code: "body_too_large",
                    message: "the request body is too large".into(),
                }
            } else {
                ApiError::bad_request("invalid_body", e.body_text())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType {
                code: "unsupported_media_type",
                message: "send the body as JSON with Content-Type: application/json".into(),
            });
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(OptionalJson(value))
    }
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Items per page, 1 to 100. Default 25.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page; leave out for the first page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page to read; 400 on a bad limit or cursor.
    pub(crate) fn request(&self) -> Result<PageRequest, ApiError> {
        PageRequest::new(self.limit, self.cursor.as_deref()).map_err(|e| match e {
            control::Error::Invalid { field, message } => {
                ApiError::bad_request("invalid_query", format!("invalid {field}: {message}"))
            }
            e => ApiError::from(e),
        })
    }
}
