//! `/live-streams`: the broadcasts of a channel (DESIGN.md "Domain":
//! `connected → active → disconnected → ... → ended`; a channel with no
//! unfinished live stream is idle). Anyone who may see the channel may see
//! its live streams; its owner and admins may `complete` one.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use control::{LiveStream, LiveStreamStatus};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use super::access;
use super::caller::Caller;
use super::extract::{ApiPath, ApiQuery, PageQuery};
use super::schema::{self, ErrorBody, PageBody};
use crate::ApiError;

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(list_live_streams))
        .routes(routes!(get_live_stream))
        .routes(routes!(complete_live_stream))
}

/// What the publisher sends and how (Mux's stream health). Fields are
/// `null` until measured.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IngestBody {
    /// RFC 6381, e.g. `avc1.64001f`.
    pub video_codec: Option<String>,
    /// RFC 6381, e.g. `mp4a.40.2`.
    pub audio_codec: Option<String>,
    /// Pixels.
    pub width: Option<u32>,
    /// Pixels.
    pub height: Option<u32>,
    /// Frames per second.
    pub fps: Option<f64>,
    /// The publisher's bitrate, in bits per second.
    pub bitrate_bps: Option<u64>,
    /// Time between keyframes, in milliseconds.
    pub keyframe_interval_ms: Option<u32>,
}

/// One broadcast of a channel.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LiveStreamBody {
    pub live_stream_id: String,
    pub channel_id: String,
    #[schema(schema_with = schema::live_stream_status)]
    pub status: LiveStreamStatus,
    /// When the publisher connected, unix milliseconds.
    pub started_at_ms: i64,
    /// When media first arrived, unix milliseconds.
    pub active_at_ms: Option<i64>,
    /// When it ended, unix milliseconds; set iff status is ended.
    pub ended_at_ms: Option<i64>,
    /// Why it ended ("publisher finished", "reconnect window elapsed",
    /// "ended by request", ...); set iff status is ended.
    pub end_reason: Option<String>,
    pub ingest: IngestBody,
    /// Concurrent viewers now (0 once ended).
    pub current_viewers: u32,
    /// The most concurrent viewers seen.
    pub peak_viewers: u32,
    /// While this server runs the broadcast: segments listed as gaps
    /// because the store refused them (all renditions); else `null`.
    pub dropped_segments: Option<u64>,
    /// While this server runs the broadcast: source segments (LL-HLS
    /// parts) listed later than their target duration after their last
    /// frame arrived; else `null`.
    pub late_segments: Option<u64>,
}

fn live_stream_body(ctx: &Ctx, ls: LiveStream) -> LiveStreamBody {
    let current_viewers = if ls.status == LiveStreamStatus::Ended {
        0
    } else {
        ctx.current_viewers(&ls.live_stream_id)
    };
    let session = ctx
        .live
        .registry()
        .get(&ls.channel_id)
        .filter(|view| view.live_stream_id == ls.live_stream_id)
        .map(|view| view.playlists());
    LiveStreamBody {
        current_viewers,
        live_stream_id: ls.live_stream_id,
        channel_id: ls.channel_id,
        status: ls.status,
        started_at_ms: ls.started_at_ms,
        active_at_ms: ls.active_at_ms,
        ended_at_ms: ls.ended_at_ms,
        end_reason: ls.end_reason,
        ingest: IngestBody {
            video_codec: ls.ingest.video_codec,
            audio_codec: ls.ingest.audio_codec,
            width: ls.ingest.width,
            height: ls.ingest.height,
            fps: ls.ingest.fps,
            bitrate_bps: ls.stats.ingest_bitrate_bps,
            keyframe_interval_ms: ls.stats.keyframe_interval_ms,
        },
        peak_viewers: ls.stats.peak_viewers,
        dropped_segments: session.as_ref().map(|p| p.dropped_segments),
        late_segments: session.as_ref().map(|p| p.late_segments),
    }
}

/// How long [`end_broadcast`] waits for the broadcast's actor to finish
/// (final playlists, the VOD) before ending the row itself.
const END_WAIT: Duration = Duration::from_secs(10);

/// Ends an unfinished broadcast now and returns it as ended.
///
/// When this server runs its session, the session is stopped (its
/// publisher disconnected, no reconnect window) and this waits for it to
/// write its final playlists and end the row. A row with no session here
/// (left by a server that crashed) is ended directly.
pub(crate) async fn end_broadcast(
    ctx: &Ctx,
    live_stream: &LiveStream,
    reason: live::EndReason,
) -> Result<LiveStream, ApiError> {
    let id = &live_stream.live_stream_id;
    let ours = ctx
        .live
        .registry()
        .get(&live_stream.channel_id)
        .is_some_and(|view| view.live_stream_id == *id);
    if ours && ctx.live.stop(&live_stream.channel_id) {
        let deadline = tokio::time::Instant::now() + END_WAIT;
        loop {
            match ctx.db.live_stream(id).await? {
                None => {
                    return Err(control::Error::NotFound {
                        what: "live stream",
                    }
                    .into());
                }
                Some(ls) if ls.status == LiveStreamStatus::Ended => return Ok(ls),
                Some(_) if tokio::time::Instant::now() >= deadline => {
                    tracing::warn!(live_stream_id = %id, "the broadcast did not end within 10 s; ending its row");
                    break;
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
    Ok(ctx.db.end_live_stream(id, reason.as_str()).await?)
}

/// List a channel's live streams, newest first.
#[utoipa::path(get, path = "/channels/{channel_id}/live-streams", tag = "live-streams",
    params(("channel_id" = String, Path), PageQuery),
    responses(
        (status = 200, body = PageBody<LiveStreamBody>),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn list_live_streams(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<PageBody<LiveStreamBody>>, ApiError> {
    let page = page.request()?;
    let channel = access::channel_to_read(&ctx, &caller, &channel_id).await?;
    let page = ctx.db.list_live_streams(&channel.channel_id, &page).await?;
    Ok(Json(PageBody::from_page(page, |ls| {
        live_stream_body(&ctx, ls)
    })))
}

/// Get a live stream: status, timestamps, ingest stats, viewers.
#[utoipa::path(get, path = "/live-streams/{live_stream_id}", tag = "live-streams",
    params(("live_stream_id" = String, Path)),
    responses(
        (status = 200, body = LiveStreamBody),
        (status = 404, body = ErrorBody),
    ))]
async fn get_live_stream(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(live_stream_id): ApiPath<String>,
) -> Result<Json<LiveStreamBody>, ApiError> {
    let (live_stream, _) = access::live_stream_to_read(&ctx, &caller, &live_stream_id).await?;
    Ok(Json(live_stream_body(&ctx, live_stream)))
}

/// End a broadcast now (owner or admin): the publisher is disconnected,
/// with no reconnect window, and the live stream (and its recording) is
/// finished. The channel stays enabled: the publisher may start a new
/// broadcast (disable the channel to refuse it). 409 (`already_ended`) if
/// the live stream has already ended; 404 if there is no such live stream
/// or the caller may not see it.
#[utoipa::path(post, path = "/live-streams/{live_stream_id}/complete", tag = "live-streams",
    params(("live_stream_id" = String, Path)),
    responses(
        (status = 200, description = "Ended", body = LiveStreamBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not the channel's owner or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already ended", body = ErrorBody),
    ))]
async fn complete_live_stream(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(live_stream_id): ApiPath<String>,
) -> Result<Json<LiveStreamBody>, ApiError> {
    let (live_stream, _) = access::live_stream_to_manage(&ctx, &caller, &live_stream_id).await?;
    if live_stream.status == LiveStreamStatus::Ended {
        return Err(already_ended());
    }
    let ended = end_broadcast(&ctx, &live_stream, live::EndReason::Requested).await?;
    Ok(Json(live_stream_body(&ctx, ended)))
}

fn already_ended() -> ApiError {
    ApiError::conflict("already_ended", "the live stream has already ended")
}
