//! `/clips`: time ranges of a recording or of a broadcast's DVR window
//! (DESIGN.md "Domain").
//!
//! A clip is *instant*: a playlist over segments that already exist, so it
//! is `ready` as soon as it is created. Its range is snapped outwards to
//! segment boundaries, which are keyframes (`start_s`/`end_s` of the
//! response are the snapped ones). `export: "mp4"` (or
//! `POST /clips/{clip_id}/export` later) queues a remux into one MP4 file;
//! `export_status` and `export_progress` (0-100) report on it, and the file
//! is at `mp4_url` once `export_status` is `ready`. `clip.ready` is sent
//! when a clip becomes playable, and again when its MP4 is ready.
//!
//! Any logged-in user may clip what they may see; a clip's creator, its
//! channel's owner and admins may rename, export and delete it.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use control::{
    Channel, Clip, ClipExportStatus, ClipFilter, ClipSource, ClipStatus, NewClip, PlaybackAudience,
    VodStatus,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use super::access;
use super::caller::Caller;
use super::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use super::schema::{self, ErrorBody, PageBody};
use super::urls;
use super::vods::{live_error, token_query};
use crate::ApiError;

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(create_clip, list_clips))
        .routes(routes!(get_clip, update_clip, delete_clip))
        .routes(routes!(export_clip))
}

/// A clip.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClipBody {
    pub clip_id: String,
    pub channel_id: String,
    /// The broadcast whose segments it plays.
    pub live_stream_id: String,
    /// Set when cut from a recording; `null` for a DVR-window clip.
    pub vod_id: Option<String>,
    /// Seconds from the start of the source, snapped to a keyframe.
    pub start_s: f64,
    /// Seconds from the start of the source, snapped to a segment end.
    pub end_s: f64,
    pub duration_s: f64,
    pub title: String,
    #[schema(schema_with = schema::clip_status)]
    pub status: ClipStatus,
    #[schema(schema_with = schema::clip_export_status)]
    pub export_status: ClipExportStatus,
    /// Percent, 0-100; 100 once the export is ready.
    pub export_progress: u8,
    /// Why the last export failed.
    pub export_error: Option<String>,
    pub created_by_user_id: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
    /// HLS master playlist (`/clips/{clip_id}/master.m3u8`), when ready.
    pub playback_url: Option<String>,
    /// The exported MP4 (`/clips/{clip_id}.mp4`), when exported.
    pub mp4_url: Option<String>,
}

pub(super) async fn clip_body(
    ctx: &Ctx,
    caller: &Caller,
    clip: Clip,
    channel: &Channel,
) -> Result<ClipBody, ApiError> {
    let playable = clip.status == ClipStatus::Ready;
    let exported = clip.export_status == ClipExportStatus::Ready;
    let token = if playable || exported {
        token_query(ctx, caller, channel, PlaybackAudience::Video).await?
    } else {
        String::new()
    };
    Ok(ClipBody {
        playback_url: playable.then(|| ctx.url(&urls::clip_playback(&clip.clip_id)) + &token),
        mp4_url: exported.then(|| ctx.url(&urls::clip_mp4(&clip.clip_id)) + &token),
        start_s: clip.start_ms as f64 / 1000.0,
        end_s: clip.end_ms as f64 / 1000.0,
        duration_s: clip.duration_ms() as f64 / 1000.0,
        clip_id: clip.clip_id,
        channel_id: clip.channel_id,
        live_stream_id: clip.live_stream_id,
        vod_id: clip.vod_id,
        title: clip.title,
        status: clip.status,
        export_status: clip.export_status,
        export_progress: clip.export_progress,
        export_error: clip.export_error,
        created_by_user_id: clip.created_by_user_id,
        created_at_ms: clip.created_at_ms,
        updated_at_ms: clip.updated_at_ms,
    })
}

/// What a clip may be exported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ExportFormat {
    /// One MP4 file, remuxed without re-encoding.
    Mp4,
}

/// Exactly one of `vod_id` and `live_stream_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateClipRequest {
    /// Cut from this recording.
    pub vod_id: Option<String>,
    /// Cut from this broadcast's DVR window (live or ended).
    pub live_stream_id: Option<String>,
    /// Seconds from the start of the source; snapped down to a keyframe.
    pub start_s: f64,
    /// Seconds from the start of the source; snapped up to the end of its
    /// segment. At most 10 minutes after `start_s`.
    pub end_s: f64,
    /// Default: the VOD's title, or the channel's.
    pub title: Option<String>,
    /// `"mp4"` queues an MP4 export at once.
    pub export: Option<ExportFormat>,
}

/// Seconds from a request as milliseconds; 422 when not a finite,
/// non-negative number.
fn seconds_to_ms(field: &'static str, seconds: f64) -> Result<i64, ApiError> {
    if !seconds.is_finite() || !(0.0..=1e9).contains(&seconds) {
        return Err(ApiError::invalid(
            field,
            "must be a non-negative number of seconds",
        ));
    }
    Ok((seconds * 1000.0).round() as i64)
}

/// Create a clip from a VOD or a broadcast's DVR window (any logged-in
/// user who may see the source). It is ready at once; `export: "mp4"`
/// also queues an MP4 export.
#[utoipa::path(post, path = "/clips", tag = "clips",
    request_body = CreateClipRequest,
    responses(
        (status = 201, body = ClipBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such source, or not yours to see", body = ErrorBody),
        (status = 422, description = "Bad range (or no media in it), or both or neither source", body = ErrorBody),
        (status = 429, description = "`[api] clips_per_hour_per_user` clips made in the last hour, or too many exports queued",
            body = ErrorBody, headers(("retry-after" = u64))),
    ))]
async fn create_clip(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateClipRequest>,
) -> Result<(StatusCode, Json<ClipBody>), ApiError> {
    let user_id = caller.require()?.user.user_id.clone();
    // Refused early (before any work) when the export queue is full; the
    // clip rate is enforced when the clip is written.
    if body.export == Some(ExportFormat::Mp4) {
        check_export_queue(&ctx, &caller, &user_id).await?;
    }
    let start_ms = seconds_to_ms("start_s", body.start_s)?;
    let end_ms = seconds_to_ms("end_s", body.end_s)?;
    if end_ms <= start_ms {
        return Err(ApiError::invalid("end_s", "must be after start_s"));
    }
    if end_ms - start_ms > control::CLIP_MAX_DURATION_MS {
        return Err(ApiError::invalid(
            "end_s",
            format!(
                "a clip is at most {} s long",
                control::CLIP_MAX_DURATION_MS / 1000
            ),
        ));
    }
    let (source, live_stream_id, channel, vod_duration_ms) =
        match (body.vod_id, body.live_stream_id) {
            (Some(vod_id), None) => {
                let (vod, channel) = access::vod_to_read(&ctx, &caller, &vod_id).await?;
                if vod.status == VodStatus::Failed {
                    return Err(ApiError::invalid("vod_id", "the recording failed"));
                }
                let duration = (vod.status == VodStatus::Ready).then_some(vod.duration_ms);
                (
                    ClipSource::Vod { vod_id: vod.vod_id },
                    vod.live_stream_id,
                    channel,
                    duration,
                )
            }
            (None, Some(live_stream_id)) => {
                let (live_stream, channel) =
                    access::live_stream_to_read(&ctx, &caller, &live_stream_id).await?;
                (
                    ClipSource::LiveStream {
                        live_stream_id: live_stream.live_stream_id.clone(),
                    },
                    live_stream.live_stream_id,
                    channel,
                    None,
                )
            }
            _ => {
                return Err(ApiError::invalid(
                    "vod_id",
                    "give exactly one of vod_id and live_stream_id",
                ));
            }
        };

    // Snap to the segments of the reference rendition.
    let renditions = ctx.db.segment_renditions(&live_stream_id).await?;
    let Some(rendition) = control::clip_rendition(&renditions) else {
        return Err(ApiError::invalid(
            "start_s",
            "the source has no media to clip yet",
        ));
    };
    let segments = ctx.db.segments(&live_stream_id, rendition).await?;
    // A ready recording's length is what control checks against.
    let available_ms = vod_duration_ms.unwrap_or_else(|| control::segments_duration_ms(&segments));
    if end_ms > available_ms {
        return Err(ApiError::invalid(
            "end_s",
            format!("the source is {:.3} s long", available_ms as f64 / 1000.0),
        ));
    }
    let (start_ms, mut end_ms) = control::snap_clip_range(&segments, start_ms, end_ms)
        .ok_or_else(|| ApiError::invalid("start_s", "no media in this range"))?;
    if let Some(duration) = vod_duration_ms {
        // The recording's total may be rounded differently from the sum.
        end_ms = end_ms.min(duration);
    }
    if control::clip_segments(&segments, start_ms, end_ms)
        .iter()
        .all(|s| s.gap)
    {
        return Err(ApiError::invalid(
            "start_s",
            "no stored media in this range",
        ));
    }
    if end_ms - start_ms > control::CLIP_MAX_DURATION_MS {
        return Err(ApiError::invalid(
            "end_s",
            "the range, snapped to keyframes, is longer than a clip may be",
        ));
    }

    const HOUR_MS: i64 = 3600 * 1000;
    let quota = (!caller.is_admin()).then(|| {
        (
            ctx.options().config.clips_per_hour_per_user,
            now_ms() - HOUR_MS,
        )
    });
    let clip = match ctx
        .db
        .create_clip_limited(
            NewClip {
                source,
                start_ms,
                end_ms,
                title: body.title.unwrap_or_default(),
                created_by_user_id: Some(user_id.clone()),
            },
            quota,
        )
        .await
    {
        Ok(clip) => clip,
        Err(control::Error::LimitReached { limit, .. }) => {
            return Err(clip_rate_refusal(&ctx, &user_id, limit).await?);
        }
        Err(e) => return Err(e.into()),
    };
    // Instant: its playlist is made from the segment index on request.
    let mut clip = ctx.db.finish_clip(&clip.clip_id).await?;
    if let Err(e) = ctx.db.enqueue_clip_ready(&clip).await {
        tracing::warn!(error = %e, clip = %clip.clip_id, "cannot enqueue clip.ready");
    }
    if body.export == Some(ExportFormat::Mp4) {
        clip = ctx
            .db
            .request_clip_export_by(&clip.clip_id, Some(&user_id), export_quota(&ctx, &caller))
            .await
            .map_err(export_refusal)?;
        ctx.live.wake_clip_exporter();
    }
    Ok((
        StatusCode::CREATED,
        Json(clip_body(&ctx, &caller, clip, &channel).await?),
    ))
}

/// The 429 for a user who made `limit` clips in the last hour;
/// `Retry-After` says when the oldest of them leaves the hour.
async fn clip_rate_refusal(ctx: &Ctx, user_id: &str, limit: u32) -> Result<ApiError, ApiError> {
    const HOUR_MS: i64 = 3600 * 1000;
    let now = now_ms();
    let (_, oldest) = ctx.db.clips_made_since(user_id, now - HOUR_MS).await?;
    let wait_ms = oldest.map_or(HOUR_MS, |t| t + HOUR_MS - now).max(1000);
    Ok(ApiError::too_many_requests(
        "too_many_clips",
        format!("at most {limit} clips per hour; try again later"),
        (wait_ms / 1000) as u64,
    ))
}

/// The queued-exports limit for this caller (none for admins).
fn export_quota(ctx: &Ctx, caller: &Caller) -> Option<u32> {
    (!caller.is_admin()).then_some(ctx.options().config.queued_exports_per_user)
}

/// A full export queue as 429; other errors as they are.
fn export_refusal(e: control::Error) -> ApiError {
    match e {
        control::Error::LimitReached { limit, .. } => ApiError::too_many_requests(
            "too_many_exports",
            format!("at most {limit} exports at once; wait for one to finish"),
            30,
        ),
        e => e.into(),
    }
}

/// 429 early, before a clip is made to be exported, when the caller's
/// export queue is full (the update enforces it again, atomically).
async fn check_export_queue(ctx: &Ctx, caller: &Caller, user_id: &str) -> Result<(), ApiError> {
    match export_quota(ctx, caller) {
        Some(limit) if ctx.db.queued_exports_of(user_id).await? >= u64::from(limit) => {
            Err(export_refusal(control::Error::LimitReached {
                what: "exports queued per user",
                limit,
            }))
        }
        _ => Ok(()),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Filters of `GET /clips`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ClipListQuery {
    pub channel_id: Option<String>,
    /// Clips cut from this recording.
    pub vod_id: Option<String>,
    /// Clips over this broadcast's segments (from its VOD or DVR window).
    pub live_stream_id: Option<String>,
}

/// List clips, newest first, narrowed by the filters: those the caller may
/// see (ready clips of public channels, and of unlisted ones when the
/// filter names the channel, VOD or broadcast; plus the caller's own and
/// those of channels they manage; admins see all).
#[utoipa::path(get, path = "/clips", tag = "clips",
    params(PageQuery, ClipListQuery),
    responses(
        (status = 200, body = PageBody<ClipBody>),
        (status = 400, body = ErrorBody),
        (status = 404, description = "The channel, VOD or broadcast named is not yours to see", body = ErrorBody),
    ))]
async fn list_clips(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(query): ApiQuery<ClipListQuery>,
) -> Result<Json<PageBody<ClipBody>>, ApiError> {
    let page = page.request()?;
    // A named source must be visible (404 like a missing one otherwise).
    if let Some(channel_id) = &query.channel_id {
        access::channel_to_read(&ctx, &caller, channel_id).await?;
    }
    if let Some(vod_id) = &query.vod_id {
        access::vod_to_read(&ctx, &caller, vod_id).await?;
    }
    if let Some(live_stream_id) = &query.live_stream_id {
        access::live_stream_to_read(&ctx, &caller, live_stream_id).await?;
    }
    // Ready clips of unlisted channels only for a caller who named where
    // to look (and may see it, checked above); the database leaves out
    // what the caller may not see, so cursors never point at hidden clips.
    let named =
        query.channel_id.is_some() || query.vod_id.is_some() || query.live_stream_id.is_some();
    let filter = ClipFilter {
        channel_id: query.channel_id,
        vod_id: query.vod_id,
        live_stream_id: query.live_stream_id,
        visible_to: Some(control::ClipViewer {
            user_id: caller.user_id().map(str::to_owned),
            admin: caller.is_admin(),
            include_unlisted: named,
        }),
    };
    let page = ctx.db.list_clips(&filter, &page).await?;
    let mut channels: HashMap<String, Channel> = HashMap::new();
    let mut data = Vec::with_capacity(page.items.len());
    for clip in page.items {
        let channel = match channels.get(&clip.channel_id) {
            Some(c) => c.clone(),
            None => {
                let Some(c) = ctx.db.channel(&clip.channel_id).await? else {
                    continue;
                };
                channels.insert(c.channel_id.clone(), c.clone());
                c
            }
        };
        // The query's rule and this one agree; kept as a second lock.
        if access::can_see_clip(&caller, &channel, &clip) {
            data.push(clip_body(&ctx, &caller, clip, &channel).await?);
        }
    }
    Ok(Json(PageBody {
        data,
        next_cursor: page.next_cursor,
    }))
}

/// Get a clip, with its export's status and progress.
#[utoipa::path(get, path = "/clips/{clip_id}", tag = "clips",
    params(("clip_id" = String, Path)),
    responses(
        (status = 200, body = ClipBody),
        (status = 404, description = "No such clip, or not yours to see", body = ErrorBody),
    ))]
async fn get_clip(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(clip_id): ApiPath<String>,
) -> Result<Json<ClipBody>, ApiError> {
    let (clip, channel) = access::clip_to_read(&ctx, &caller, &clip_id).await?;
    Ok(Json(clip_body(&ctx, &caller, clip, &channel).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateClipRequest {
    /// 1-200 characters.
    pub title: String,
}

/// Rename a clip (its creator, its channel's owner or an admin).
#[utoipa::path(patch, path = "/clips/{clip_id}", tag = "clips",
    params(("clip_id" = String, Path)),
    request_body = UpdateClipRequest,
    responses(
        (status = 200, body = ClipBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn update_clip(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(clip_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateClipRequest>,
) -> Result<Json<ClipBody>, ApiError> {
    let (clip, channel) = access::clip_to_change(&ctx, &caller, &clip_id).await?;
    let clip = ctx.db.update_clip_title(&clip.clip_id, &body.title).await?;
    Ok(Json(clip_body(&ctx, &caller, clip, &channel).await?))
}

/// Delete a clip and its exported file (its creator, its channel's owner
/// or an admin). The recording's segments stay.
#[utoipa::path(delete, path = "/clips/{clip_id}", tag = "clips",
    params(("clip_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn delete_clip(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(clip_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let (clip, _) = access::clip_to_change(&ctx, &caller, &clip_id).await?;
    ctx.live
        .delete_clip(&clip.clip_id)
        .await
        .map_err(live_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Request an MP4 export of a clip (its creator, its channel's owner or an
/// admin). A clip already exported, or being exported, is returned as it
/// is; a failed export is retried.
#[utoipa::path(post, path = "/clips/{clip_id}/export", tag = "clips",
    params(("clip_id" = String, Path)),
    responses(
        (status = 202, description = "Queued (or already exported)", body = ClipBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The clip failed and cannot be exported", body = ErrorBody),
        (status = 429, description = "`[api] queued_exports_per_user` exports already queued",
            body = ErrorBody, headers(("retry-after" = u64))),
    ))]
async fn export_clip(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(clip_id): ApiPath<String>,
) -> Result<(StatusCode, Json<ClipBody>), ApiError> {
    let (clip, channel) = access::clip_to_change(&ctx, &caller, &clip_id).await?;
    let user_id = caller.require()?.user.user_id.clone();
    let clip = ctx
        .db
        .request_clip_export_by(&clip.clip_id, Some(&user_id), export_quota(&ctx, &caller))
        .await
        .map_err(export_refusal)?;
    if clip.export_status == ClipExportStatus::Pending {
        ctx.live.wake_clip_exporter();
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(clip_body(&ctx, &caller, clip, &channel).await?),
    ))
}
