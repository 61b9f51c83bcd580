//! The Mux-compatible surface: `/video/v1/...` and `/system/v1/...` with
//! Mux Video's paths, methods, envelopes, errors and pagination, so code
//! written with `@mux/mux-node` or `mux_python` runs against this server
//! with only the base URL changed. Both surfaces are views of the same
//! domain: a Mux live stream is a channel, an asset is a recording (VOD),
//! a Mux access token is one of our API tokens (HTTP Basic
//! `token_id:token_secret`, or Bearer). `docs/mux-compat.md` lists every
//! endpoint and field: supported, mapped, or refused and why.
//!
//! * Single objects answer `{"data": …}`; lists `{"data": […]}` (plus
//!   `next_cursor` for assets). Deletions and state changes Mux answers
//!   with no body answer 204 or `{"data": {}}` as Mux does.
//! * Errors are Mux's: `{"error": {"type": "not_found", "messages":
//!   ["…"]}}`, 400 for invalid parameters (where `/api/v1` says 422), so
//!   the SDKs raise their usual error classes. [`mux_errors`] reshapes the
//!   errors the shared extractors and access checks produce.
//! * Unknown request fields are ignored (Mux clients send fields we do not
//!   implement); fields we cannot honour are refused by name.
//! * Each caller sees their own live streams, assets and signing keys (a
//!   Mux "environment" is a user); admins may act on anyone's by id.

mod assets;
mod live_streams;
pub(crate) mod objects;
mod system;
mod webhooks;

pub use webhooks::webhook_body;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use control::{Channel, Vod};
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use super::Ctx;
use super::access;
use super::caller::Caller;
use crate::ApiError;

/// Every Mux route with its documentation.
pub(crate) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .merge(live_streams::router())
        .merge(assets::router())
        .merge(system::router())
}

/// `{"data": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Data<T: ToSchema> {
    pub data: T,
}

pub(crate) fn data<T: ToSchema + Serialize>(value: T) -> axum::Json<Data<T>> {
    axum::Json(Data { data: value })
}

/// `{"data": {}}`: what Mux answers to state changes with no object.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EmptyData {
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

pub(crate) fn empty_data() -> axum::Json<EmptyData> {
    axum::Json(EmptyData {
        data: serde_json::json!({}),
    })
}

/// Mux's error body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct MuxErrorBody {
    pub error: MuxErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct MuxErrorDetail {
    /// `invalid_parameters`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `too_many_requests`, `internal_error`.
    #[serde(rename = "type")]
    pub kind: String,
    pub messages: Vec<String>,
}

/// `?limit=&page=` (live streams, signing keys): pages numbered from 1,
/// and an empty page past the end (the SDKs' iterators stop on it).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageNumberQuery {
    /// Items per page, 1 to 100. Default 25.
    pub limit: Option<u32>,
    /// Page number from 1. Default 1.
    pub page: Option<u32>,
}

impl PageNumberQuery {
    /// `(limit, offset)`; 400 on a bad limit or page.
    pub(crate) fn window(&self) -> Result<(u32, u64), ApiError> {
        let limit = self.limit.unwrap_or(control::PAGE_LIMIT_DEFAULT);
        if !(1..=control::PAGE_LIMIT_MAX).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_parameters",
                format!("limit must be between 1 and {}", control::PAGE_LIMIT_MAX),
            ));
        }
        let page = self.page.unwrap_or(1);
        if page == 0 {
            return Err(ApiError::bad_request(
                "invalid_parameters",
                "page must be 1 or more",
            ));
        }
        Ok((limit, u64::from(page - 1) * u64::from(limit)))
    }
}

/// The Mux error `type` of an HTTP status.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 415 | 422 => "invalid_parameters",
        401 => "unauthorized",
        403 => "forbidden",
        404 | 405 => "not_found",
        409 => "conflict",
        429 => "too_many_requests",
        _ => "internal_error",
    }
}

/// Largest error body reshaped; anything bigger is not one of ours.
const ERROR_BODY_MAX: usize = 64 * 1024;

/// Middleware of the Mux routes: errors in `/api/v1`'s shape
/// (`{"error": {"code", "message"}}`, from shared extractors and checks)
/// become Mux's (`{"error": {"type", "messages"}}`), and 422 becomes 400
/// as on Mux. Other responses pass untouched.
pub(crate) async fn mux_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, ERROR_BODY_MAX)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("error")
                .and_then(|e| e.get("message"))
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_lowercase()
        });
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    let body = MuxErrorBody {
        error: MuxErrorDetail {
            kind: error_type(status).to_owned(),
            messages: vec![message],
        },
    };
    parts.status = status;
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let json = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, Body::from(json)).into_response()
}

/// A 400 about a request field, in Mux's words.
pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_parameters", message)
}

/// The caller, who must be logged in (API token or session).
pub(crate) fn owner_id(caller: &Caller) -> Result<String, ApiError> {
    Ok(caller.require()?.user.user_id.clone())
}

/// A live stream (channel) the caller may manage; 404 otherwise.
pub(crate) async fn channel_to_manage(
    ctx: &Ctx,
    caller: &Caller,
    live_stream_id: &str,
) -> Result<Channel, ApiError> {
    caller.require()?;
    let channel = ctx
        .db
        .channel(live_stream_id)
        .await?
        .filter(|c| access::can_manage(caller, c))
        .ok_or_else(|| ApiError::not_found("not_found", "live stream not found"))?;
    Ok(channel)
}

/// An asset (recording) the caller may manage, with its channel; 404
/// otherwise.
pub(crate) async fn asset_to_manage(
    ctx: &Ctx,
    caller: &Caller,
    asset_id: &str,
) -> Result<(Vod, Channel), ApiError> {
    caller.require()?;
    let not_found = || ApiError::not_found("not_found", "asset not found");
    let vod = ctx.db.vod(asset_id).await?.ok_or_else(not_found)?;
    let channel = ctx
        .db
        .channel(&vod.channel_id)
        .await?
        .filter(|c| access::can_manage(caller, c))
        .ok_or_else(not_found)?;
    Ok((vod, channel))
}

/// A listed playback id of a live stream or asset, as Mux shows it; 404
/// if it has no such id.
pub(crate) async fn listed_playback_id(
    ctx: &Ctx,
    object: control::PlaybackObject,
    playback_id: &str,
) -> Result<objects::MuxPlaybackId, ApiError> {
    let ids = ctx.db.playback_ids_of(&object).await?;
    ids.iter()
        .find(|r| r.playback_id == playback_id)
        .map(objects::MuxPlaybackId::from)
        .ok_or_else(|| ApiError::not_found("not_found", "playback id not found"))
}

/// Adds a playback id with the requested policy to a live stream or asset.
pub(crate) async fn add_playback_id(
    ctx: &Ctx,
    object: control::PlaybackObject,
    request: Option<live_streams::CreatePlaybackIdRequest>,
) -> Result<objects::MuxPlaybackId, ApiError> {
    let policy = live_streams::policy_of(request)?;
    let record = ctx
        .db
        .add_playback_id(&object, policy)
        .await
        .map_err(live_streams::limit_as_invalid)?;
    Ok(objects::MuxPlaybackId::from(&record))
}
