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
//! The channel's master playlist is the one stable URL; it points into the
//! current broadcast's directory, so every segment URL names its broadcast.
//! That makes segments immutable (cacheable for a year by browsers and
//! CDNs) although every broadcast numbers its segments from 0. While a
//! channel is live its playlists come from the live session
//! (`live::Registry`); once it ended, the master points at the recording.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::{BufMut, Bytes, BytesMut};
use control::LiveStreamStatus;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method};
use live::SessionView;
use storage::keys;
use tower_http::cors::{Any, CorsLayer};

use crate::{ApiError, AppState, cache};

const M3U8: HeaderValue = HeaderValue::from_static("application/vnd.apple.mpegurl");

pub(crate) fn router() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers(Any);
    Router::new()
        .route("/hls/{playback_id}/master.m3u8", get(channel_master))
        .route(
            "/hls/{playback_id}/{live_stream_id}/{rendition}/{file}",
            get(broadcast_file),
        )
        .route("/vod/{vod_id}/master.m3u8", get(vod_master))
        .route("/vod/{vod_id}/{rendition}/{file}", get(vod_file))
        .layer(cors)
}

fn check_component(what: &'static str, value: &str) -> Result<(), ApiError> {
    if keys::is_safe_component(value) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_path",
            format!("invalid {what} in path"),
        ))
    }
}

async fn channel_by_playback_id(
    state: &AppState,
    playback_id: &str,
) -> Result<control::Channel, ApiError> {
    check_component("playback id", playback_id)?;
    state
        .db
        .channel_by_playback_id(playback_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("unknown_playback_id", "no channel has this playback id")
        })
}

/// `/hls/{playback_id}/master.m3u8`: the live broadcast's master, or after
/// it ended, the recording's; variant URIs are rewritten into the
/// broadcast's directory.
async fn channel_master(
    State(state): State<AppState>,
    Path(playback_id): Path<String>,
) -> Result<Response, ApiError> {
    let channel = channel_by_playback_id(&state, &playback_id).await?;
    if let Some(view) = state.live.registry().get(&channel.channel_id) {
        let master = view.playlists().master.clone().ok_or_else(not_started)?;
        return Ok(playlist(
            prefix_uris(&master, &view.live_stream_id),
            cache::LIVE_PLAYLIST,
        ));
    }
    let latest = state
        .db
        .latest_live_stream(&channel.channel_id)
        .await?
        .ok_or_else(|| ApiError::not_found("not_live", "this channel has not broadcast yet"))?;
    let key = keys::vod_master_playlist(&latest.live_stream_id);
    let master = state.store.get(&key).await?.ok_or_else(|| {
        ApiError::not_found(
            "not_live",
            "this channel is not live and has no recording to show",
        )
    })?;
    Ok(playlist(
        prefix_uris(&master, &latest.live_stream_id),
        cache::ENDED_PLAYLIST,
    ))
}

/// Where a broadcast's playlists come from.
enum Broadcast {
    /// In progress on this node: playlists from memory.
    Live(Arc<SessionView>),
    /// Everything from storage; `ended` says whether its playlists are final.
    Stored { ended: bool },
}

/// Checks that `live_stream_id` is a broadcast of the playback id's channel.
async fn broadcast(
    state: &AppState,
    playback_id: &str,
    live_stream_id: &str,
) -> Result<Broadcast, ApiError> {
    check_component("live stream id", live_stream_id)?;
    let channel = channel_by_playback_id(state, playback_id).await?;
    if let Some(view) = state.live.registry().get(&channel.channel_id)
        && view.live_stream_id == live_stream_id
    {
        return Ok(Broadcast::Live(view));
    }
    match state.db.live_stream(live_stream_id).await? {
        Some(ls) if ls.channel_id == channel.channel_id => Ok(Broadcast::Stored {
            ended: ls.status == LiveStreamStatus::Ended,
        }),
        _ => Err(ApiError::not_found(
            "unknown_live_stream",
            "no such broadcast on this channel",
        )),
    }
}

async fn broadcast_file(
    State(state): State<AppState>,
    Path((playback_id, live_stream_id, rendition, file)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    check_component("rendition", &rendition)?;
    check_component("file name", &file)?;
    let broadcast = broadcast(&state, &playback_id, &live_stream_id).await?;
    let id = &live_stream_id;
    match (file.as_str(), broadcast) {
        (keys::MEDIA_PLAYLIST, Broadcast::Live(view)) => {
            let playlists = view.playlists();
            let body =
                playlists
                    .media
                    .get(&rendition)
                    .cloned()
                    .ok_or_else(|| match playlists.master {
                        None => not_started(),
                        Some(_) => ApiError::not_found("unknown_rendition", "no such rendition"),
                    })?;
            Ok(playlist(body, cache::LIVE_PLAYLIST))
        }
        (keys::MEDIA_PLAYLIST, Broadcast::Stored { ended }) => {
            let body = stored(&state, &keys::media_playlist(id, &rendition)).await?;
            let cache = if ended {
                cache::VOD_PLAYLIST
            } else {
                cache::LIVE_PLAYLIST
            };
            Ok(playlist(body, cache))
        }
        (keys::VOD_PLAYLIST, Broadcast::Live(_)) => Err(ApiError::not_found(
            "vod_not_ready",
            "the recording is available when the broadcast ends",
        )),
        (keys::VOD_PLAYLIST, Broadcast::Stored { .. }) => {
            let body = stored(&state, &keys::vod_media_playlist(id, &rendition)).await?;
            Ok(playlist(body, cache::VOD_PLAYLIST))
        }
        (_, _) => segment(&state, id, &rendition, &file).await,
    }
}

async fn vod_live_stream_id(state: &AppState, vod_id: &str) -> Result<String, ApiError> {
    check_component("VOD id", vod_id)?;
    let vod = state
        .db
        .vod(vod_id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_vod", "no such VOD"))?;
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
) -> Result<Response, ApiError> {
    let live_stream_id = vod_live_stream_id(&state, &vod_id).await?;
    let body = stored(&state, &keys::vod_master_playlist(&live_stream_id)).await?;
    Ok(playlist(body, cache::VOD_PLAYLIST))
}

async fn vod_file(
    State(state): State<AppState>,
    Path((vod_id, rendition, file)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    check_component("rendition", &rendition)?;
    check_component("file name", &file)?;
    let live_stream_id = vod_live_stream_id(&state, &vod_id).await?;
    if file == keys::VOD_PLAYLIST {
        let body = stored(
            &state,
            &keys::vod_media_playlist(&live_stream_id, &rendition),
        )
        .await?;
        return Ok(playlist(body, cache::VOD_PLAYLIST));
    }
    segment(&state, &live_stream_id, &rendition, &file).await
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
fn prefix_uris(playlist: &[u8], prefix: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(playlist.len() + 4 * (prefix.len() + 1));
    for line in playlist.split_inclusive(|b| *b == b'\n') {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            out.put_slice(line);
        } else if trimmed.starts_with(b"#") {
            let mut rest = line;
            while let Some(at) = find(rest, b"URI=\"") {
                let (head, tail) = rest.split_at(at + 5);
                out.put_slice(head);
                out.put_slice(prefix.as_bytes());
                out.put_u8(b'/');
                rest = tail;
            }
            out.put_slice(rest);
        } else {
            out.put_slice(prefix.as_bytes());
            out.put_u8(b'/');
            out.put_slice(line);
        }
    }
    out.freeze()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn stored(state: &AppState, key: &str) -> Result<Bytes, ApiError> {
    state
        .store
        .get(key)
        .await?
        .ok_or_else(|| ApiError::not_found("not_found", "no such playlist"))
}

fn playlist(body: Bytes, cache_control: HeaderValue) -> Response {
    ([(CONTENT_TYPE, M3U8), (CACHE_CONTROL, cache_control)], body).into_response()
}

async fn segment(
    state: &AppState,
    live_stream_id: &str,
    rendition: &str,
    file: &str,
) -> Result<Response, ApiError> {
    let content_type = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("ts") => HeaderValue::from_static("video/mp2t"),
        Some("m4s") => HeaderValue::from_static("video/iso.segment"),
        Some("mp4") => HeaderValue::from_static("video/mp4"),
        _ => return Err(ApiError::not_found("not_found", "no such segment")),
    };
    let body = state
        .store
        .get(&keys::segment(live_stream_id, rendition, file))
        .await?
        .ok_or_else(|| ApiError::not_found("not_found", "no such segment"))?;
    Ok((
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, cache::SEGMENT),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

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
