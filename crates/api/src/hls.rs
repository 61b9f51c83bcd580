//! The HLS origin: live playlists from memory, everything else from storage.
//!
//! ```text
//! GET /hls/{playback_id}/master.m3u8                        the channel's current (or last) broadcast
//! GET /hls/{playback_id}/{live_stream_id}/{rendition}/index.m3u8   live media playlist
//! GET /hls/{playback_id}/{live_stream_id}/{rendition}/vod.m3u8     recording, once ended
//! GET /hls/{playback_id}/{live_stream_id}/{rendition}/{n}.ts       segment
//! GET /vod/{vod_id}/master.m3u8                             a finished recording
//! GET /vod/{vod_id}/{rendition}/vod.m3u8
//! GET /vod/{vod_id}/{rendition}/{n}.ts
//! ```
//!
//! Low-latency channels add LL-HLS (RFC 8216bis §6.2.5): partial segments
//! `{msn}.{part}.m4s` served from the hot cache, blocking playlist reload
//! (`_HLS_msn`, `_HLS_part`: the request is held until that segment or part
//! is listed, 503 after three target durations, 400 when it is more than two
//! segments ahead), delta updates (`_HLS_skip=YES`), and requests for the
//! preload-hinted part held until it exists.
//!
//! The channel's master playlist is the one stable URL; it points into the
//! current broadcast's directory, so every segment URL names its broadcast.
//! That makes segments immutable (cacheable for a year by browsers and
//! CDNs) although every broadcast numbers its segments from 0. While a
//! channel is live its playlists come from the live session
//! (`live::Registry`); once it ended, the master points at the recording.
//!
//! Channels with signed playback (and private ones) answer every playlist
//! and segment request only with `?token=` (audience `v`), thumbnails and
//! posters only with an audience `t` token; see [`crate::playback_auth`].
//! A recording (`/vod/{vod_id}/...`) accepts tokens for its VOD id or for
//! its channel's playback id (the channel's master points at its latest
//! recording anyway). Playlists served to a token holder carry the token
//! on each URI, and signed responses are `Cache-Control: private`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use control::{LiveStreamStatus, PlaybackAudience};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Method};
use live::{Playlists, SessionView};
use storage::keys;
use tower_http::cors::{Any, CorsLayer};

use crate::playback_auth::{Grant, check_playback, check_playback_for, rewrite_uris};
use crate::{ApiError, AppState, cache};

const M3U8: HeaderValue = HeaderValue::from_static("application/vnd.apple.mpegurl");
/// Milliseconds since the media at the live edge arrived at ingest, on live
/// playlists: how far behind real time the newest listed part or segment
/// was published (plus this response's own wait, which is ~0 for a
/// blocking reload answered when the part appeared).
const EDGE_AGE: HeaderName = HeaderName::from_static("x-aethex-edge-age-ms");

pub(crate) fn router() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers([EDGE_AGE]);
    Router::new()
        .route("/hls/{playback_id}/master.m3u8", get(channel_master))
        .route(
            "/hls/{playback_id}/{live_stream_id}/{rendition}/{file}",
            get(broadcast_file),
        )
        .route("/thumbnails/{file}", get(channel_thumbnail))
        .route("/vod/{vod_id}/poster.jpg", get(vod_poster))
        .route("/vod/{vod_id}/master.m3u8", get(vod_master))
        .route("/vod/{vod_id}/{rendition}/{file}", get(vod_file))
        .layer(cors)
}

pub(crate) fn check_component(what: &'static str, value: &str) -> Result<(), ApiError> {
    if keys::is_safe_component(value) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_path",
            format!("invalid {what} in path"),
        ))
    }
}

/// The channel whose live output a playback id names (its own id, or a
/// further one added on the Mux surface), as seen through that id: its
/// `playback_id` is the requested id and its `playback_policy` the id's,
/// so that [`check_playback`] asks for a token for this id under this
/// id's policy. Asset (recording) ids are not live outputs: 404.
pub(crate) async fn channel_by_playback_id(
    state: &AppState,
    playback_id: &str,
) -> Result<control::Channel, ApiError> {
    check_component("playback id", playback_id)?;
    let now = Instant::now();
    let generation = state.db.channels_generation();
    let resolved = match state.caches.playback.get(playback_id, now, generation) {
        Some(hit) => hit,
        None => {
            let resolved = state.db.resolve_playback_id(playback_id).await?;
            state
                .caches
                .playback
                .put(playback_id, now, generation, resolved.clone());
            resolved
        }
    };
    match resolved {
        Some(resolved) if resolved.vod.is_none() => Ok(as_seen_through(
            resolved.channel,
            playback_id,
            resolved.policy,
        )),
        _ => Err(ApiError::not_found(
            "unknown_playback_id",
            "no channel has this playback id",
        )),
    }
}

/// `channel` as played through `playback_id` with `policy`.
pub(crate) fn as_seen_through(
    mut channel: control::Channel,
    playback_id: &str,
    policy: control::PlaybackPolicy,
) -> control::Channel {
    channel.playback_id = playback_id.to_owned();
    channel.playback_policy = policy;
    channel
}

/// `/hls/{playback_id}/master.m3u8`: the live broadcast's master, or after
/// it ended, the recording's; variant URIs are rewritten into the
/// broadcast's directory.
async fn channel_master(
    State(state): State<AppState>,
    Path(playback_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let channel = channel_by_playback_id(&state, &playback_id).await?;
    live_master(&state, &channel, token(&query), "").await
}

/// The master playlist of `channel`'s current (or last) broadcast, its
/// variant URIs under `{base}{live_stream_id}/` (`base` is "" for
/// `/hls/{playback_id}/master.m3u8` and `hls/{playback_id}/` for Mux's
/// `/{playback_id}.m3u8`).
pub(crate) async fn live_master(
    state: &AppState,
    channel: &control::Channel,
    token: Option<&str>,
    base: &str,
) -> Result<Response, ApiError> {
    let grant = check_playback(state, channel, token, PlaybackAudience::Video).await?;
    if let Some(view) = state.live.registry().get(&channel.channel_id) {
        let master = view.playlists().master.clone().ok_or_else(not_started)?;
        let prefix = format!("{base}{}", view.live_stream_id);
        return Ok(playlist(
            rewrite_uris(&master, Some(&prefix), grant.token()),
            grant.cache_control(cache::LIVE_PLAYLIST),
        ));
    }
    let latest = state
        .db
        .latest_live_stream(&channel.channel_id)
        .await?
        .ok_or_else(|| ApiError::not_found("not_live", "this channel has not broadcast yet"))?;
    let key = keys::vod_master_playlist(&latest.live_stream_id);
    let master = state.media.get(&key).await?.ok_or_else(|| {
        ApiError::not_found(
            "not_live",
            "this channel is not live and has no recording to show",
        )
    })?;
    let prefix = format!("{base}{}", latest.live_stream_id);
    Ok(playlist(
        rewrite_uris(&master, Some(&prefix), grant.token()),
        grant.cache_control(cache::ENDED_PLAYLIST),
    ))
}

/// The `token` query parameter, if any.
fn token(query: &HashMap<String, String>) -> Option<&str> {
    query.get("token").map(String::as_str)
}

/// `/thumbnails/{playback_id}.jpg`: a recent frame of the channel's current
/// (or last) broadcast, refreshed every few seconds while live.
async fn channel_thumbnail(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let playback_id = file
        .strip_suffix(".jpg")
        .ok_or_else(|| ApiError::not_found("not_found", "thumbnails are .jpg files"))?;
    let channel = channel_by_playback_id(&state, playback_id).await?;
    live_thumbnail(&state, &channel, token(&query), &ImageRequest::default()).await
}

/// Mux's thumbnail parameters: a frame at `time` (recordings only), a size
/// and fit, and the output format (from the URL's extension).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ImageRequest {
    pub time_s: Option<f64>,
    pub shape: live::ImageShape,
    pub format: Option<live::ImageFormat>,
}

impl ImageRequest {
    /// Whether the stored JPEG answers it as it is.
    fn is_plain(&self) -> bool {
        self.time_s.is_none()
            && self.shape.width.is_none()
            && self.shape.height.is_none()
            && matches!(self.format, None | Some(live::ImageFormat::Jpeg))
    }

    fn format(&self) -> live::ImageFormat {
        self.format.unwrap_or(live::ImageFormat::Jpeg)
    }
}

fn image_error(e: live::ImageError) -> ApiError {
    match e {
        live::ImageError::Busy => ApiError::too_many_requests(
            "busy",
            "busy making other images; try again in a moment",
            1,
        ),
        live::ImageError::NoFrame(m) => ApiError::not_found("no_frame", m),
        live::ImageError::Failed(m) => ApiError::Internal(format!("image: {m}")),
    }
}

/// `body` (a stored JPEG) as `request` asks: as it is, or re-shaped.
async fn shaped(
    state: &AppState,
    body: Bytes,
    request: &ImageRequest,
) -> Result<(Bytes, &'static str), ApiError> {
    if request.is_plain() {
        return Ok((body, "image/jpeg"));
    }
    let format = request.format();
    let out = state
        .live
        .reshape(body, request.shape, format)
        .await
        .map_err(image_error)?;
    Ok((out, format.content_type()))
}

fn image(body: Bytes, content_type: &'static str, cache_control: HeaderValue) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, cache_control),
        ],
        body,
    )
        .into_response()
}

/// A recent frame of `channel`'s current (or last) broadcast.
pub(crate) async fn live_thumbnail(
    state: &AppState,
    channel: &control::Channel,
    token: Option<&str>,
    request: &ImageRequest,
) -> Result<Response, ApiError> {
    let grant = check_playback(state, channel, token, PlaybackAudience::Thumbnail).await?;
    let live_stream_id = match state.live.registry().get(&channel.channel_id) {
        Some(view) => {
            view.want_thumbnail();
            view.live_stream_id.clone()
        }
        None => {
            state
                .db
                .latest_live_stream(&channel.channel_id)
                .await?
                .ok_or_else(|| {
                    ApiError::not_found("not_live", "this channel has not broadcast yet")
                })?
                .live_stream_id
        }
    };
    let key = keys::thumbnail(&live_stream_id);
    let body = match state.live.cache().get(&key) {
        Some(b) => b,
        None => state
            .media
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::not_found("no_thumbnail", "no thumbnail yet"))?,
    };
    let (body, content_type) = shaped(state, body, request).await?;
    Ok(image(
        body,
        content_type,
        grant.cache_control(HeaderValue::from_static("public, max-age=5")),
    ))
}

/// `/vod/{vod_id}/poster.jpg`: the recording's poster frame.
async fn vod_poster(
    State(state): State<AppState>,
    Path(vod_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (live_stream_id, grant) =
        vod_media(&state, &vod_id, token(&query), PlaybackAudience::Thumbnail).await?;
    let body = state
        .media
        .get(&keys::poster(&live_stream_id))
        .await?
        .ok_or_else(|| ApiError::not_found("no_poster", "this recording has no poster"))?;
    Ok(jpeg(body, grant.cache_control(cache::VOD_PLAYLIST)))
}

fn jpeg(body: Bytes, cache_control: HeaderValue) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            (CACHE_CONTROL, cache_control),
        ],
        body,
    )
        .into_response()
}

/// Where a broadcast's playlists come from.
enum Broadcast {
    /// In progress on this node: playlists from memory.
    Live(Arc<SessionView>),
    /// Everything from storage; `ended` says whether its playlists are final.
    Stored { ended: bool },
}

/// Checks that the request may play the playback id's channel (its
/// token, for signed playback) and that `live_stream_id` is a broadcast of
/// that channel.
async fn broadcast(
    state: &AppState,
    playback_id: &str,
    live_stream_id: &str,
    token: Option<&str>,
) -> Result<(Broadcast, Grant), ApiError> {
    check_component("live stream id", live_stream_id)?;
    let channel = channel_by_playback_id(state, playback_id).await?;
    let grant = check_playback(state, &channel, token, PlaybackAudience::Video).await?;
    if let Some(view) = state.live.registry().get(&channel.channel_id)
        && view.live_stream_id == live_stream_id
    {
        return Ok((Broadcast::Live(view), grant));
    }
    let now = Instant::now();
    if state
        .caches
        .ended
        .channel_of(live_stream_id, now)
        .is_some_and(|c| c == channel.channel_id)
    {
        return Ok((Broadcast::Stored { ended: true }, grant));
    }
    match state.db.live_stream(live_stream_id).await? {
        Some(ls) if ls.channel_id == channel.channel_id => {
            let ended = ls.status == LiveStreamStatus::Ended;
            if ended {
                state
                    .caches
                    .ended
                    .ended(live_stream_id, &ls.channel_id, now);
            }
            Ok((Broadcast::Stored { ended }, grant))
        }
        _ => Err(ApiError::not_found(
            "unknown_live_stream",
            "no such broadcast on this channel",
        )),
    }
}

async fn broadcast_file(
    State(state): State<AppState>,
    Path((playback_id, live_stream_id, rendition, file)): Path<(String, String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    trust: Option<Extension<crate::ClientAddressPolicy>>,
) -> Result<Response, ApiError> {
    check_component("rendition", &rendition)?;
    check_component("file name", &file)?;
    let (broadcast, grant) =
        broadcast(&state, &playback_id, &live_stream_id, token(&query)).await?;
    let id = &live_stream_id;
    match (file.as_str(), broadcast) {
        (keys::MEDIA_PLAYLIST, Broadcast::Live(view)) => {
            // A player reloading the live playlist is a viewer (see
            // live::Viewers for why playlist requests are what we count),
            // known by its address (the peer's, or with
            // `trust_forwarded_for` the proxy's last X-Forwarded-For entry:
            // otherwise any client could pose as any number of viewers)
            // and user agent.
            let trust = trust.is_some_and(|Extension(p)| p.trust_forwarded_for);
            let peer = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
            let client = (
                crate::client_address(&headers, peer, trust),
                headers.get("user-agent").and_then(|v| v.to_str().ok()),
            );
            state
                .live
                .viewers()
                .touch(id, client, std::time::Instant::now());
            live_media_playlist(&view, &rendition, Directives::parse(&query)?, &grant).await
        }
        (keys::MEDIA_PLAYLIST, Broadcast::Stored { ended }) => {
            let body = stored(&state, &keys::media_playlist(id, &rendition)).await?;
            let cache = if ended {
                cache::VOD_PLAYLIST
            } else {
                cache::LIVE_PLAYLIST
            };
            Ok(playlist(grant.playlist(body), grant.cache_control(cache)))
        }
        (keys::VOD_PLAYLIST, Broadcast::Live(_)) => Err(ApiError::not_found(
            "vod_not_ready",
            "the recording is available when the broadcast ends",
        )),
        (keys::VOD_PLAYLIST, Broadcast::Stored { .. }) => {
            let body = stored(&state, &keys::vod_media_playlist(id, &rendition)).await?;
            Ok(playlist(
                grant.playlist(body),
                grant.cache_control(cache::VOD_PLAYLIST),
            ))
        }
        (_, broadcast) => {
            let Some(part) = part_of(&file) else {
                return media_object(&state, id, &rendition, &file, &headers, &grant).await;
            };
            // LL-HLS parts exist only in the hot cache (never in storage). A
            // request for the part the preload hint names may come before
            // the part exists: hold it until it does.
            if let Broadcast::Live(view) = &broadcast
                && view.playlists().low_latency
            {
                wait_for_part(view, &rendition, part).await?;
            }
            let key = keys::segment(id, &rendition, &file);
            let body = state
                .live
                .cache()
                .get(&key)
                .ok_or_else(|| ApiError::not_found("not_found", "no such part"))?;
            Ok((
                [
                    (CONTENT_TYPE, HeaderValue::from_static("video/iso.segment")),
                    (CACHE_CONTROL, grant.cache_control(cache::SEGMENT)),
                ],
                body,
            )
                .into_response())
        }
    }
}

/// LL-HLS delivery directives of a playlist request (RFC 8216bis §6.2.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Directives {
    msn: Option<u64>,
    part: Option<u32>,
    skip: bool,
}

impl Directives {
    pub(crate) fn parse(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let number = |name: &'static str| -> Result<Option<u64>, ApiError> {
            query
                .get(name)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        ApiError::bad_request(
                            "invalid_directive",
                            format!("{name} must be a non-negative integer"),
                        )
                    })
                })
                .transpose()
        };
        let msn = number("_HLS_msn")?;
        let part = number("_HLS_part")?
            .map(|p| {
                u32::try_from(p).map_err(|_| {
                    ApiError::bad_request("invalid_directive", "_HLS_part is too large")
                })
            })
            .transpose()?;
        if part.is_some() && msn.is_none() {
            return Err(ApiError::bad_request(
                "invalid_directive",
                "_HLS_part requires _HLS_msn",
            ));
        }
        let skip = match query.get("_HLS_skip").map(String::as_str) {
            None => false,
            Some("YES" | "v2") => true,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_directive",
                    "_HLS_skip must be YES or v2",
                ));
            }
        };
        Ok(Directives { msn, part, skip })
    }
}

/// How long a blocking request may be held: three target durations
/// (RFC 8216bis §6.2.5.2), at least one second.
fn block_timeout(playlists: &Playlists) -> Duration {
    (playlists.target_duration * 3).max(Duration::from_secs(1))
}

/// A live media playlist from memory; with `_HLS_msn`, held until that
/// segment or part is listed (low-latency channels only: standard ones do
/// not advertise CAN-BLOCK-RELOAD and ignore the directives).
async fn live_media_playlist(
    view: &SessionView,
    rendition: &str,
    directives: Directives,
    grant: &Grant,
) -> Result<Response, ApiError> {
    let mut rx = view.subscribe();
    let first = rx.borrow_and_update().clone();
    let blocking = first.low_latency && directives.msn.is_some();
    let deadline = tokio::time::Instant::now() + block_timeout(&first);
    let mut playlists = first;
    loop {
        let media = playlists
            .media
            .get(rendition)
            .ok_or_else(|| match playlists.master {
                None => not_started(),
                Some(_) => ApiError::not_found("unknown_rendition", "no such rendition"),
            })?;
        let Some(msn) = directives.msn.filter(|_| blocking) else {
            return Ok(live_playlist_response(
                &playlists,
                media,
                directives.skip,
                grant,
            ));
        };
        if playlists.ended || media.reached(msn, directives.part) {
            return Ok(live_playlist_response(
                &playlists,
                media,
                directives.skip,
                grant,
            ));
        }
        if msn > media.next_sequence + 1 {
            return Err(ApiError::bad_request(
                "msn_too_far",
                format!(
                    "_HLS_msn={msn} is more than two segments beyond the last one ({})",
                    media.next_sequence.saturating_sub(1)
                ),
            ));
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => playlists = rx.borrow_and_update().clone(),
            // The session ended without a final update: answer with what we have.
            Ok(Err(_)) => {
                return Ok(live_playlist_response(
                    &playlists,
                    media,
                    directives.skip,
                    grant,
                ));
            }
            Err(_) => {
                return Err(ApiError::unavailable(
                    "not_yet_available",
                    "the requested segment or part did not appear in time",
                ));
            }
        }
    }
}

fn live_playlist_response(
    playlists: &Playlists,
    media: &live::MediaPlaylistView,
    skip: bool,
    grant: &Grant,
) -> Response {
    let body = match (&media.delta, skip) {
        (Some(delta), true) => delta.clone(),
        _ => media.body.clone(),
    };
    let mut response = playlist(
        grant.playlist(body),
        grant.cache_control(live_cache(playlists.ended)),
    );
    if let Some(edge) = playlists.edge_received_at.filter(|_| !playlists.ended) {
        let age_ms = Instant::now().saturating_duration_since(edge).as_millis();
        if let Ok(v) = HeaderValue::from_str(&age_ms.to_string()) {
            response.headers_mut().insert(EDGE_AGE, v);
        }
    }
    response
}

/// `(msn, part)` of a part file name `{msn}.{part}.m4s`.
pub(crate) fn part_of(file: &str) -> Option<(u64, u32)> {
    let (msn, part) = file.strip_suffix(".m4s")?.split_once('.')?;
    Some((msn.parse().ok()?, part.parse().ok()?))
}

/// Holds a request for a part until it is listed (the preload hint names
/// the next part before it exists), at most a block timeout; parts far
/// ahead of the live edge are not waited for.
async fn wait_for_part(
    view: &SessionView,
    rendition: &str,
    (msn, part): (u64, u32),
) -> Result<(), ApiError> {
    let mut rx = view.subscribe();
    let deadline = tokio::time::Instant::now() + block_timeout(&rx.borrow());
    loop {
        {
            let playlists = rx.borrow_and_update();
            let Some(media) = playlists.media.get(rendition) else {
                return Ok(());
            };
            if playlists.ended || media.reached(msn, Some(part)) || msn > media.next_sequence + 1 {
                return Ok(());
            }
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Ok(()),
            Err(_) => {
                return Err(ApiError::unavailable(
                    "not_yet_available",
                    "the requested part did not appear in time",
                ));
            }
        }
    }
}

/// How long `/vod` requests reuse what they looked up about a ready
/// recording (its broadcast and channel ids, which never change) instead of
/// asking the database again. The channel itself (its playback policy) is
/// read on every request, so policy changes apply at once.
const VOD_LOOKUP_TTL: Duration = Duration::from_secs(30);
const VOD_LOOKUPS_MAX: usize = 4096;

/// Ready recordings looked up lately: VOD id → (when, live stream id,
/// channel id); per application (in [`crate::AppState`]).
#[derive(Default)]
pub(crate) struct VodLookupCache(Mutex<HashMap<String, (Instant, String, String)>>);

impl VodLookupCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, String, String)>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A ready recording's broadcast id, once the request may play it
/// (public playback, or a token for the VOD id or its channel's playback
/// id with `audience`). One channel lookup per request (the live routes
/// reuse theirs for a second, see [`crate::lookups`]); the recording's own
/// row only every [`VOD_LOOKUP_TTL`].
async fn vod_media(
    state: &AppState,
    vod_id: &str,
    token: Option<&str>,
    audience: PlaybackAudience,
) -> Result<(String, Grant), ApiError> {
    check_component("VOD id", vod_id)?;
    let hit = state
        .caches
        .vod_lookups
        .lock()
        .get(vod_id)
        .filter(|(at, _, _)| at.elapsed() < VOD_LOOKUP_TTL)
        .map(|(_, ls, channel_id)| (ls.clone(), channel_id.clone()));
    let (ready, channel_id) = match hit {
        Some((live_stream_id, channel_id)) => (Ok(live_stream_id), channel_id),
        None => {
            let vod = state
                .db
                .vod(vod_id)
                .await?
                .ok_or_else(|| ApiError::not_found("unknown_vod", "no such VOD"))?;
            let channel_id = vod.channel_id.clone();
            let ready = ready_vod(vod);
            // Only ready recordings: that status is final.
            if let Ok(live_stream_id) = &ready {
                let mut lookups = state.caches.vod_lookups.lock();
                if lookups.len() >= VOD_LOOKUPS_MAX {
                    lookups.retain(|_, (at, _, _)| at.elapsed() < VOD_LOOKUP_TTL);
                    if lookups.len() >= VOD_LOOKUPS_MAX {
                        lookups.clear();
                    }
                }
                lookups.insert(
                    vod_id.to_owned(),
                    (Instant::now(), live_stream_id.clone(), channel_id.clone()),
                );
            }
            (ready, channel_id)
        }
    };
    let channel = state
        .db
        .channel(&channel_id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_vod", "no such VOD"))?;
    // The token first: whoever may not play it learns nothing about its
    // state.
    let grant = check_playback_for(
        state,
        &channel,
        &[vod_id, &channel.playback_id],
        token,
        audience,
    )
    .await?;
    Ok((ready?, grant))
}

/// The recording's broadcast id when it is ready, else why not (404).
fn ready_vod(vod: control::Vod) -> Result<String, ApiError> {
    match vod.status {
        control::VodStatus::Ready => Ok(vod.live_stream_id),
        control::VodStatus::Recording => Err(ApiError::not_found(
            "vod_not_ready",
            "this VOD is still recording; it becomes available when the broadcast ends",
        )),
        control::VodStatus::Failed => Err(ApiError::not_found(
            "vod_failed",
            "this recording failed and has no media",
        )),
    }
}

async fn vod_master(
    State(state): State<AppState>,
    Path(vod_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (live_stream_id, grant) =
        vod_media(&state, &vod_id, token(&query), PlaybackAudience::Video).await?;
    let body = stored(&state, &keys::vod_master_playlist(&live_stream_id)).await?;
    Ok(playlist(
        grant.playlist(body),
        grant.cache_control(cache::VOD_PLAYLIST),
    ))
}

async fn vod_file(
    State(state): State<AppState>,
    Path((vod_id, rendition, file)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_component("rendition", &rendition)?;
    check_component("file name", &file)?;
    let (live_stream_id, grant) =
        vod_media(&state, &vod_id, token(&query), PlaybackAudience::Video).await?;
    if file == keys::VOD_PLAYLIST {
        let body = stored(
            &state,
            &keys::vod_media_playlist(&live_stream_id, &rendition),
        )
        .await?;
        return Ok(playlist(
            grant.playlist(body),
            grant.cache_control(cache::VOD_PLAYLIST),
        ));
    }
    media_object(&state, &live_stream_id, &rendition, &file, &headers, &grant).await
}

fn live_cache(ended: bool) -> HeaderValue {
    if ended {
        cache::VOD_PLAYLIST
    } else {
        cache::LIVE_PLAYLIST
    }
}

fn not_started() -> ApiError {
    ApiError::not_found(
        "not_started",
        "the broadcast has started but its first segment is not ready yet",
    )
}

/// Prefixes every URI of a playlist (URI lines and `URI="..."` attributes)
/// with `{prefix}/`, turning `source/index.m3u8` into
/// `{live_stream_id}/source/index.m3u8`.
#[cfg(test)]
fn prefix_uris(playlist: &[u8], prefix: &str) -> Bytes {
    rewrite_uris(playlist, Some(prefix), None)
}

async fn stored(state: &AppState, key: &str) -> Result<Bytes, ApiError> {
    state
        .media
        .get(key)
        .await?
        .ok_or_else(|| ApiError::not_found("not_found", "no such playlist"))
}

fn playlist(body: Bytes, cache_control: HeaderValue) -> Response {
    ([(CONTENT_TYPE, M3U8), (CACHE_CONTROL, cache_control)], body).into_response()
}

/// A segment, part or initialization segment: from the hot cache (recent
/// media of live streams, and the only home of LL-HLS parts), else storage.
async fn media_object(
    state: &AppState,
    live_stream_id: &str,
    rendition: &str,
    file: &str,
    headers: &HeaderMap,
    grant: &Grant,
) -> Result<Response, ApiError> {
    let content_type = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("ts") => HeaderValue::from_static("video/mp2t"),
        Some("m4s") => HeaderValue::from_static("video/iso.segment"),
        Some("mp4") => HeaderValue::from_static("video/mp4"),
        _ => return Err(ApiError::not_found("not_found", "no such segment")),
    };
    let key = keys::segment(live_stream_id, rendition, file);
    let now = Instant::now();
    let mut cached = state
        .live
        .cache()
        .get(&key)
        .or_else(|| state.caches.mapped.get(&key, now));
    if cached.is_none()
        && let Some(bytes) = state
            .media
            .get_mapped(&key, crate::mapped::MAX_OBJECT_BYTES)
            .await?
    {
        state.caches.mapped.insert(&key, bytes.clone(), now);
        cached = Some(bytes);
    }
    crate::object::serve(
        state,
        &key,
        cached,
        headers,
        content_type,
        grant.cache_control(cache::SEGMENT),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_part_names() {
        assert_eq!(part_of("12.3.m4s"), Some((12, 3)));
        assert_eq!(part_of("12.m4s"), None);
        assert_eq!(part_of("12.3.ts"), None);
        assert_eq!(part_of("a.b.m4s"), None);
    }

    #[test]
    fn parses_directives() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        assert_eq!(Directives::parse(&q(&[])).unwrap(), Directives::default());
        assert_eq!(
            Directives::parse(&q(&[
                ("_HLS_msn", "7"),
                ("_HLS_part", "2"),
                ("_HLS_skip", "YES")
            ]))
            .unwrap(),
            Directives {
                msn: Some(7),
                part: Some(2),
                skip: true
            }
        );
        // A playback token next to the directives changes nothing.
        assert_eq!(
            Directives::parse(&q(&[("token", "a.b.c"), ("_HLS_msn", "7")])).unwrap(),
            Directives {
                msn: Some(7),
                part: None,
                skip: false
            }
        );
        assert!(Directives::parse(&q(&[("_HLS_part", "2")])).is_err());
        assert!(Directives::parse(&q(&[("_HLS_msn", "-1")])).is_err());
        assert!(Directives::parse(&q(&[("_HLS_skip", "NO")])).is_err());
    }

    #[test]
    fn prefixes_uris() {
        let master = b"#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"audio/index.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nsource/index.m3u8\n\n";
        let out = prefix_uris(master, "ls1");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"ls1/audio/index.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nls1/source/index.m3u8\n\n"
        );
    }
}

/// Mux-form playback of a recording through one of its (asset) playback
/// ids: `channel` as seen through that id (see [`as_seen_through`]).
pub(crate) mod asset {
    use super::*;

    async fn grant(
        state: &AppState,
        channel: &control::Channel,
        vod: &control::Vod,
        token: Option<&str>,
        audience: PlaybackAudience,
    ) -> Result<(String, Grant), ApiError> {
        let grant = check_playback(state, channel, token, audience).await?;
        Ok((ready_vod(vod.clone())?, grant))
    }

    /// `/{PLAYBACK_ID}.m3u8`: the recording's master, its variant URIs
    /// under `{playback_id}/`.
    pub(crate) async fn master(
        state: &AppState,
        channel: &control::Channel,
        vod: &control::Vod,
        token: Option<&str>,
    ) -> Result<Response, ApiError> {
        let (live_stream_id, grant) =
            grant(state, channel, vod, token, PlaybackAudience::Video).await?;
        let body = stored(state, &keys::vod_master_playlist(&live_stream_id)).await?;
        Ok(playlist(
            rewrite_uris(&body, Some(&channel.playback_id), grant.token()),
            grant.cache_control(cache::VOD_PLAYLIST),
        ))
    }

    /// `/{PLAYBACK_ID}/{rendition}/{file}`: a variant playlist or a media
    /// object of the recording.
    pub(crate) async fn file(
        state: &AppState,
        channel: &control::Channel,
        vod: &control::Vod,
        rendition: &str,
        file: &str,
        token: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Response, ApiError> {
        check_component("rendition", rendition)?;
        check_component("file name", file)?;
        let (live_stream_id, grant) =
            grant(state, channel, vod, token, PlaybackAudience::Video).await?;
        if file == keys::VOD_PLAYLIST {
            let body = stored(state, &keys::vod_media_playlist(&live_stream_id, rendition)).await?;
            return Ok(playlist(
                grant.playlist(body),
                grant.cache_control(cache::VOD_PLAYLIST),
            ));
        }
        media_object(state, &live_stream_id, rendition, file, headers, &grant).await
    }

    /// `/{PLAYBACK_ID}/thumbnail.jpg`: the recording's poster.
    /// (With `time`: the recording's frame at that time.)
    pub(crate) async fn poster(
        state: &AppState,
        channel: &control::Channel,
        vod: &control::Vod,
        token: Option<&str>,
        request: &ImageRequest,
    ) -> Result<Response, ApiError> {
        let (live_stream_id, grant) =
            grant(state, channel, vod, token, PlaybackAudience::Thumbnail).await?;
        if let Some(time_s) = request.time_s {
            let format = request.format();
            let body = state
                .live
                .frame_at(&live_stream_id, time_s, request.shape, format)
                .await
                .map_err(image_error)?;
            return Ok(image(
                body,
                format.content_type(),
                grant.cache_control(cache::VOD_PLAYLIST),
            ));
        }
        let body = state
            .media
            .get(&keys::poster(&live_stream_id))
            .await?
            .ok_or_else(|| ApiError::not_found("no_poster", "this recording has no poster"))?;
        let (body, content_type) = shaped(state, body, request).await?;
        Ok(image(
            body,
            content_type,
            grant.cache_control(cache::VOD_PLAYLIST),
        ))
    }

    /// What `/{PLAYBACK_ID}/{name}` of a recording is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum FileRequest {
        /// A made file, served as stored (ranges allowed).
        File(control::AssetFileName),
        /// `storyboard.vtt`: the WebVTT index of `storyboard.jpg`.
        StoryboardIndex,
    }

    /// `/{PLAYBACK_ID}/{highest.mp4,audio.m4a,storyboard.jpg,storyboard.vtt,animated.gif}`
    /// of a recording, once made (404 saying why until then).
    pub(crate) async fn made_file(
        state: &AppState,
        channel: &control::Channel,
        vod: &control::Vod,
        request: FileRequest,
        token: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Response, ApiError> {
        use control::{AssetFileName, AssetFileStatus};
        let name = match request {
            FileRequest::File(name) => name,
            FileRequest::StoryboardIndex => AssetFileName::Storyboard,
        };
        let audience = match name {
            AssetFileName::HighestMp4 | AssetFileName::AudioM4a => PlaybackAudience::Video,
            AssetFileName::Storyboard => PlaybackAudience::Storyboard,
            AssetFileName::AnimatedGif => PlaybackAudience::Gif,
        };
        let (live_stream_id, grant) = grant(state, channel, vod, token, audience).await?;
        let file = state.db.asset_file(&vod.vod_id, name).await?;
        let file = match file {
            Some(f) if f.status == AssetFileStatus::Ready => f,
            Some(f) if f.status == AssetFileStatus::Preparing => {
                return Err(ApiError::not_found(
                    "preparing",
                    format!("{name} of this recording is being made; try again shortly"),
                ));
            }
            Some(f) => {
                return Err(ApiError::not_found(
                    "not_available",
                    format!("{name} of this recording is {}", f.status),
                ));
            }
            None => {
                return Err(ApiError::not_found(
                    "not_requested",
                    format!("{name} was not asked for this recording (see docs/mux-compat.md)"),
                ));
            }
        };
        if request == FileRequest::StoryboardIndex {
            let geometry: live::StoryboardGeometry = serde_json::from_str(&file.meta)
                .map_err(|_| ApiError::Internal("storyboard without geometry".into()))?;
            let mut image = format!("/{}/storyboard.jpg", channel.playback_id);
            if let Some(token) = grant.token() {
                image.push_str(&format!("?token={token}"));
            }
            return Ok((
                [
                    (
                        CONTENT_TYPE,
                        HeaderValue::from_static("text/vtt; charset=utf-8"),
                    ),
                    (CACHE_CONTROL, grant.cache_control(cache::VOD_PLAYLIST)),
                ],
                geometry.webvtt(&image),
            )
                .into_response());
        }
        let key = keys::asset_file(&live_stream_id, name.as_str());
        let content_type = HeaderValue::from_static(keys::content_type(&key));
        crate::object::serve(
            state,
            &key,
            None,
            headers,
            content_type,
            grant.cache_control(cache::SEGMENT),
        )
        .await
    }
}
