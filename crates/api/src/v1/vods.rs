//! `/vods`: recordings of broadcasts (DESIGN.md "Domain": `recording →
//! ready`). Anyone may list and read the ready VODs of channels they may
//! see (browse lists public channels' only); a channel's owner and admins
//! see every status, rename and delete them. Deleting a VOD deletes its
//! segments and the clips cut from it.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use control::WebhookEventType;
use control::{Channel, PlaybackAudience, PlaybackPolicy, Visibility, Vod, VodFilter, VodStatus};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use super::access::{self, can_manage};
use super::caller::Caller;
use super::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use super::schema::{self, ErrorBody, PageBody};
use super::urls;
use crate::ApiError;

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(list_vods))
        .routes(routes!(list_channel_vods))
        .routes(routes!(get_vod, update_vod, delete_vod))
}

/// Lifetime of the playback tokens put into the URLs of signed channels'
/// media for their owners.
pub(super) const URL_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// A recording.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VodBody {
    pub vod_id: String,
    pub channel_id: String,
    /// The broadcast recorded.
    pub live_stream_id: String,
    #[schema(schema_with = schema::vod_status)]
    pub status: VodStatus,
    pub title: String,
    /// Media duration, seconds; 0 until ready.
    pub duration_s: f64,
    /// Media segments; 0 until ready.
    pub segment_count: u32,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// When it became ready, unix milliseconds.
    pub ready_at_ms: Option<i64>,
    /// HLS master playlist (`/vod/{vod_id}/master.m3u8`), once ready. For a
    /// signed channel, its owner gets it with a short-lived `?token=`.
    pub playback_url: Option<String>,
    /// Poster image, once ready.
    pub poster_url: Option<String>,
}

/// `?token=...` for a signed channel's media when the caller manages it
/// (anyone else brings their own token); empty otherwise.
pub(super) async fn token_query(
    ctx: &Ctx,
    caller: &Caller,
    channel: &Channel,
    audience: PlaybackAudience,
) -> Result<String, ApiError> {
    if channel.playback_policy == PlaybackPolicy::Public || !can_manage(caller, channel) {
        return Ok(String::new());
    }
    let token = ctx
        .db
        .mint_playback_token_for(
            &channel.playback_id,
            audience,
            URL_TOKEN_TTL,
            caller.user_id(),
        )
        .await?;
    Ok(format!("?token={token}"))
}

pub(super) async fn vod_body(
    ctx: &Ctx,
    caller: &Caller,
    vod: Vod,
    channel: &Channel,
) -> Result<VodBody, ApiError> {
    let (playback_url, poster_url) = if vod.status == VodStatus::Ready {
        let video = token_query(ctx, caller, channel, PlaybackAudience::Video).await?;
        let image = token_query(ctx, caller, channel, PlaybackAudience::Thumbnail).await?;
        (
            Some(ctx.url(&urls::vod_playback(&vod.vod_id)) + &video),
            Some(ctx.url(&urls::vod_poster(&vod.vod_id)) + &image),
        )
    } else {
        (None, None)
    };
    Ok(VodBody {
        duration_s: vod.duration_ms as f64 / 1000.0,
        vod_id: vod.vod_id,
        channel_id: vod.channel_id,
        live_stream_id: vod.live_stream_id,
        status: vod.status,
        title: vod.title,
        segment_count: vod.segment_count,
        created_at_ms: vod.created_at_ms,
        ready_at_ms: vod.ready_at_ms,
        playback_url,
        poster_url,
    })
}

/// Filters of `GET /vods`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VodListQuery {
    /// Only this channel's VODs.
    pub channel_id: Option<String>,
    /// Only VODs of this user's channels: `me`, or a user id.
    pub owner: Option<String>,
}

/// Lists VODs narrowed by `filter`: every status for an admin or for the
/// caller's own channels, else ready VODs only (of public channels when no
/// channel is named).
async fn list(
    ctx: &Ctx,
    caller: &Caller,
    channel_id: Option<String>,
    owner: Option<String>,
    page: &PageQuery,
) -> Result<Json<PageBody<VodBody>>, ApiError> {
    let page = page.request()?;
    let owner_user_id = match owner.as_deref() {
        None => None,
        Some("me") => Some(caller.require()?.user.user_id.clone()),
        Some(id) => Some(id.to_owned()),
    };
    let mut filter = VodFilter {
        channel_id: channel_id.clone(),
        owner_user_id: owner_user_id.clone(),
        ..VodFilter::default()
    };
    let mut channels: HashMap<String, Channel> = HashMap::new();
    let privileged = match &channel_id {
        Some(channel_id) => {
            let channel = access::channel_to_read(ctx, caller, channel_id).await?;
            let manage = can_manage(caller, &channel);
            channels.insert(channel.channel_id.clone(), channel);
            manage
        }
        None => {
            caller.is_admin()
                || owner_user_id
                    .as_deref()
                    .is_some_and(|o| caller.user_id() == Some(o))
        }
    };
    if !privileged {
        filter.status = Some(VodStatus::Ready);
        if channel_id.is_none() {
            filter.visibility = Some(Visibility::Public);
        }
    }
    let page = ctx.db.list_vods_page(&filter, &page).await?;
    let mut data = Vec::with_capacity(page.items.len());
    for vod in page.items {
        let channel = match channels.get(&vod.channel_id) {
            Some(c) => c.clone(),
            None => {
                let Some(c) = ctx.db.channel(&vod.channel_id).await? else {
                    continue; // deleted meanwhile
                };
                channels.insert(c.channel_id.clone(), c.clone());
                c
            }
        };
        // The filter already enforces it; double-check against the rules.
        if !access::can_see_vod(caller, &channel, &vod) {
            continue;
        }
        data.push(vod_body(ctx, caller, vod, &channel).await?);
    }
    Ok(Json(PageBody {
        data,
        next_cursor: page.next_cursor,
    }))
}

/// List VODs, newest first. Anonymous callers and viewers get the ready
/// VODs of public channels (or of the channel named by `channel_id`, if
/// they may see it); owners (`owner=me`) and admins get every status.
#[utoipa::path(get, path = "/vods", tag = "vods",
    params(PageQuery, VodListQuery),
    responses(
        (status = 200, body = PageBody<VodBody>),
        (status = 400, body = ErrorBody),
        (status = 401, description = "owner=me without credentials", body = ErrorBody),
        (status = 404, description = "No such channel, or not yours to see", body = ErrorBody),
    ))]
async fn list_vods(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(query): ApiQuery<VodListQuery>,
) -> Result<Json<PageBody<VodBody>>, ApiError> {
    list(&ctx, &caller, query.channel_id, query.owner, &page).await
}

/// List a channel's VODs, newest first (every status for its owner and
/// admins, ready ones for everyone else).
#[utoipa::path(get, path = "/channels/{channel_id}/vods", tag = "vods",
    params(("channel_id" = String, Path), PageQuery),
    responses(
        (status = 200, body = PageBody<VodBody>),
        (status = 400, body = ErrorBody),
        (status = 404, description = "No such channel, or not yours to see", body = ErrorBody),
    ))]
async fn list_channel_vods(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<PageBody<VodBody>>, ApiError> {
    list(&ctx, &caller, Some(channel_id), None, &page).await
}

/// Get a VOD.
#[utoipa::path(get, path = "/vods/{vod_id}", tag = "vods",
    params(("vod_id" = String, Path)),
    responses(
        (status = 200, body = VodBody),
        (status = 404, description = "No such VOD, or not yours to see", body = ErrorBody),
    ))]
async fn get_vod(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(vod_id): ApiPath<String>,
) -> Result<Json<VodBody>, ApiError> {
    let (vod, channel) = access::vod_to_read(&ctx, &caller, &vod_id).await?;
    Ok(Json(vod_body(&ctx, &caller, vod, &channel).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateVodRequest {
    /// 1-200 characters.
    pub title: String,
}

/// Rename a VOD (its channel's owner or an admin).
#[utoipa::path(patch, path = "/vods/{vod_id}", tag = "vods",
    params(("vod_id" = String, Path)),
    request_body = UpdateVodRequest,
    responses(
        (status = 200, body = VodBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn update_vod(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(vod_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateVodRequest>,
) -> Result<Json<VodBody>, ApiError> {
    let (vod, channel) = access::vod_to_manage(&ctx, &caller, &vod_id).await?;
    let vod = ctx.db.update_vod_title(&vod.vod_id, &body.title).await?;
    let body = vod_body(&ctx, &caller, vod, &channel).await?;
    vod_event(&ctx, &channel, WebhookEventType::VodUpdated, &body).await;
    Ok(Json(body))
}

/// Enqueues a `vod.*` event (data: the VOD's body) for the channel's
/// owner; a failure is logged, not returned (the change succeeded).
async fn vod_event(
    ctx: &Ctx,
    channel: &control::Channel,
    event_type: WebhookEventType,
    body: &VodBody,
) {
    let data = serde_json::to_value(body).unwrap_or_default();
    if let Err(e) = ctx
        .db
        .enqueue_webhook_event(
            event_type,
            &channel.owner_user_id,
            Some(&channel.channel_id),
            data,
        )
        .await
    {
        tracing::warn!(error = %e, vod_id = %body.vod_id, %event_type, "could not enqueue a VOD event");
    }
}

/// Delete a VOD with its segments, playlists, poster and the clips cut
/// from its broadcast (their files too). Refused (409) while the broadcast
/// is in progress.
#[utoipa::path(delete, path = "/vods/{vod_id}", tag = "vods",
    params(("vod_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The broadcast is in progress", body = ErrorBody),
    ))]
async fn delete_vod(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(vod_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let (vod, channel) = access::vod_to_manage(&ctx, &caller, &vod_id).await?;
    let body = vod_body(&ctx, &caller, vod.clone(), &channel).await?;
    ctx.live.delete_vod(&vod.vod_id).await.map_err(live_error)?;
    vod_event(&ctx, &channel, WebhookEventType::VodDeleted, &body).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A `live` error as the API reports it.
pub(super) fn live_error(e: live::Error) -> ApiError {
    match e {
        live::Error::Control(e) => e.into(),
        live::Error::Storage(e) => e.into(),
        live::Error::Busy(_) => ApiError::conflict(
            "broadcast_in_progress",
            "the channel has a broadcast in progress; end it first",
        ),
    }
}
