//! Clip playback: playlists over a clip's segments and the exported MP4.
//!
//! ```text
//! GET /clips/{clip_id}/master.m3u8                  the broadcast's renditions, over the clip
//! GET /clips/{clip_id}/{rendition}/index.m3u8       VOD playlist (ENDLIST) of the clip's segments
//! GET /clips/{clip_id}/{rendition}/{segment}        a segment (or init segment) of the clip
//! GET /clips/{clip_id}.mp4                          the exported MP4 (Range requests honoured)
//! ```
//!
//! An instant clip owns no objects: its playlists are made on request from
//! the segment index (`control`), and its segments are the broadcast's own,
//! served here (from the hot cache, else storage) only when they belong to
//! the clip. Times are snapped to segment boundaries when the clip is made
//! (`control::snap_clip_range`), so the playlists list whole segments.
//!
//! Every route checks signed playback first
//! ([`crate::playback_auth::check_playback`], `?token=`); playlists carry
//! the token on to the URIs they list, so players that do not propagate
//! query strings still play, and what a token holder gets is `private` to
//! shared caches, as on `/hls`.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use control::{Channel, Clip, ClipExportStatus, ClipStatus, LiveStreamStatus, SegmentRecord};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method};
use storage::keys;
use tower_http::cors::{Any, CorsLayer};

use crate::playback_auth::{Grant, check_playback};
use crate::{ApiError, AppState, cache};

const M3U8: HeaderValue = HeaderValue::from_static("application/vnd.apple.mpegurl");

pub(crate) fn router() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers(Any);
    Router::new()
        .route("/clips/{clip}", get(clip_file))
        .route("/clips/{clip}/master.m3u8", get(clip_master))
        .route("/clips/{clip}/{rendition}/{file}", get(clip_rendition_file))
        .layer(cors)
}

type TokenQuery = Query<HashMap<String, String>>;

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

/// The clip, its channel and what the request was granted, once it may
/// play the channel's media.
async fn clip_for_playback(
    state: &AppState,
    clip_id: &str,
    query: &HashMap<String, String>,
) -> Result<(Clip, Channel, Grant), ApiError> {
    check_component("clip id", clip_id)?;
    let unknown = || ApiError::not_found("unknown_clip", "no such clip");
    let clip = state.db.clip(clip_id).await?.ok_or_else(unknown)?;
    let channel = state
        .db
        .channel(&clip.channel_id)
        .await?
        .ok_or_else(unknown)?;
    let grant = check_playback(
        state,
        &channel,
        query.get("token").map(String::as_str),
        control::PlaybackAudience::Video,
    )
    .await?;
    Ok((clip, channel, grant))
}

/// A clip whose playlists may be served, and the request's grant.
async fn playable_clip(
    state: &AppState,
    clip_id: &str,
    query: &HashMap<String, String>,
) -> Result<(Clip, Grant), ApiError> {
    let (clip, _, grant) = clip_for_playback(state, clip_id, query).await?;
    match clip.status {
        ClipStatus::Ready => Ok((clip, grant)),
        ClipStatus::Preparing => Err(ApiError::not_found(
            "clip_not_ready",
            "this clip is being prepared",
        )),
        ClipStatus::Failed => Err(ApiError::not_found(
            "clip_failed",
            "this clip could not be made and has no media",
        )),
    }
}

/// `?token=...` to append to listed URIs, or nothing.
fn token_suffix(query: &HashMap<String, String>) -> String {
    let Some(token) = query.get("token").filter(|t| !t.is_empty()) else {
        return String::new();
    };
    let mut out = String::with_capacity(token.len() + 7);
    out.push_str("?token=");
    for b in token.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `Cache-Control` of a clip's playlists: they never change once the
/// broadcast ended; a DVR clip of a live broadcast may still gain
/// renditions' segments that lag behind the source.
async fn playlist_cache(state: &AppState, clip: &Clip) -> Result<HeaderValue, ApiError> {
    let ended = state
        .db
        .live_stream(&clip.live_stream_id)
        .await?
        .is_none_or(|ls| ls.status == LiveStreamStatus::Ended);
    Ok(if ended {
        cache::VOD_PLAYLIST
    } else {
        cache::ENDED_PLAYLIST
    })
}

fn playlist(body: String, cache_control: HeaderValue) -> Response {
    ([(CONTENT_TYPE, M3U8), (CACHE_CONTROL, cache_control)], body).into_response()
}

/// The indexed segments of a rendition that the clip plays.
async fn clip_segments_of(
    state: &AppState,
    clip: &Clip,
    rendition: &str,
) -> Result<Vec<SegmentRecord>, ApiError> {
    let all = state.db.segments(&clip.live_stream_id, rendition).await?;
    Ok(control::clip_segments(&all, clip.start_ms, clip.end_ms)
        .into_iter()
        .cloned()
        .collect())
}

/// `/clips/{clip_id}/master.m3u8`: the broadcast's variants (from its
/// master playlist, so codecs, resolution and bandwidth are the
/// broadcast's), each pointing at the clip's media playlist.
async fn clip_master(
    State(state): State<AppState>,
    Path(clip_id): Path<String>,
    Query(query): TokenQuery,
) -> Result<Response, ApiError> {
    let (clip, grant) = playable_clip(&state, &clip_id, &query).await?;
    let token = token_suffix(&query);
    let mut playable: Vec<(String, Vec<SegmentRecord>)> = Vec::new();
    for rendition in state.db.segment_renditions(&clip.live_stream_id).await? {
        let segments = clip_segments_of(&state, &clip, &rendition).await?;
        if segments.iter().any(|s| !s.gap) {
            playable.push((rendition, segments));
        }
    }
    if playable.is_empty() {
        return Err(ApiError::not_found(
            "no_media",
            "the segments of this clip are gone",
        ));
    }
    let names: Vec<&str> = playable.iter().map(|(r, _)| r.as_str()).collect();
    let body = match broadcast_master(&state, &clip).await? {
        Some(master) => rewrite_master(&master, &names, &token),
        None => None,
    }
    .unwrap_or_else(|| synthesize_master(&playable, &token));
    Ok(playlist(
        body,
        grant.cache_control(playlist_cache(&state, &clip).await?),
    ))
}

/// The broadcast's master playlist: live on this node, else the stored
/// recording's or live one.
async fn broadcast_master(state: &AppState, clip: &Clip) -> Result<Option<Bytes>, ApiError> {
    if let Some(view) = state.live.registry().get(&clip.channel_id)
        && view.live_stream_id == clip.live_stream_id
        && let Some(master) = view.playlists().master.clone()
    {
        return Ok(Some(master));
    }
    for key in [
        keys::vod_master_playlist(&clip.live_stream_id),
        keys::master_playlist(&clip.live_stream_id),
    ] {
        if let Some(master) = state.media.get(&key).await? {
            return Ok(Some(master));
        }
    }
    Ok(None)
}

/// The broadcast's master with each variant URI (`{rendition}/vod.m3u8`,
/// `{rendition}/index.m3u8`, or absolute) replaced by the clip's
/// `{rendition}/index.m3u8`; variants of renditions the clip lacks are
/// left out. `None` when no variant is left.
fn rewrite_master(master: &[u8], renditions: &[&str], token: &str) -> Option<String> {
    let text = std::str::from_utf8(master).ok()?;
    let mut out = String::with_capacity(text.len() + 64);
    let mut pending_inf: Option<&str> = None;
    let mut variants = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with("#EXT-X-STREAM-INF") {
            pending_inf = Some(line);
        } else if line.starts_with('#') {
            // Tags with URIs of their own (I-frame playlists, alternative
            // renditions) would point at the broadcast: leave them out.
            if !line.contains("URI=") {
                out.push_str(line);
                out.push('\n');
            }
        } else if !line.is_empty()
            && let Some(inf) = pending_inf.take()
        {
            let path = line.split(['?', '#']).next().unwrap_or(line);
            let mut components = path.rsplit('/');
            let _file = components.next();
            let rendition = components.next().unwrap_or("");
            if renditions.contains(&rendition) {
                let _ = writeln!(out, "{inf}\n{rendition}/{}{token}", keys::MEDIA_PLAYLIST);
                variants += 1;
            }
        }
    }
    (variants > 0).then_some(out)
}

/// A master playlist from the segment index alone (no stored master):
/// `BANDWIDTH` is each rendition's peak segment bit rate in the clip.
fn synthesize_master(renditions: &[(String, Vec<SegmentRecord>)], token: &str) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for (name, segments) in renditions {
        let peak = segments
            .iter()
            .filter(|s| !s.gap && s.duration_90k > 0)
            .map(|s| (s.size_bytes as i128 * 8 * 90_000 / s.duration_90k as i128) as i64)
            .max()
            .unwrap_or(1)
            .max(1);
        let _ = writeln!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={peak},NAME=\"{name}\"\n{name}/{}{token}",
            keys::MEDIA_PLAYLIST
        );
    }
    out
}

/// The clip's media playlist: its segments, `EXT-X-PLAYLIST-TYPE:VOD`,
/// `EXT-X-ENDLIST`.
fn media_playlist(segments: &[SegmentRecord], token: &str) -> String {
    let uses_map = segments.iter().any(|s| s.map_uri.is_some());
    let target = segments
        .iter()
        .map(|s| (s.duration_90k + 89_999) / 90_000)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = String::with_capacity(64 * segments.len() + 200);
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{target}\n\
         #EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n",
        if uses_map { 7 } else { 3 },
        segments.first().map_or(0, |s| s.sequence),
    );
    let mut current_map: Option<&str> = None;
    for (i, s) in segments.iter().enumerate() {
        if i > 0 && s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if let Some(map) = s.map_uri.as_deref()
            && current_map != Some(map)
        {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{map}{token}\"");
            current_map = Some(map);
        }
        let _ = writeln!(out, "#EXTINF:{:.3},", s.duration_90k as f64 / 90_000.0);
        if s.gap {
            out.push_str("#EXT-X-GAP\n");
        }
        let _ = writeln!(out, "{}{token}", s.uri);
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// `/clips/{clip_id}/{rendition}/index.m3u8` and the clip's segments.
async fn clip_rendition_file(
    State(state): State<AppState>,
    Path((clip_id, rendition, file)): Path<(String, String, String)>,
    Query(query): TokenQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_component("rendition", &rendition)?;
    check_component("file name", &file)?;
    let (clip, grant) = playable_clip(&state, &clip_id, &query).await?;
    let segments = clip_segments_of(&state, &clip, &rendition).await?;
    if file == keys::MEDIA_PLAYLIST {
        if segments.iter().all(|s| s.gap) {
            return Err(ApiError::not_found(
                "unknown_rendition",
                "this clip has no such rendition",
            ));
        }
        let body = media_playlist(&segments, &token_suffix(&query));
        return Ok(playlist(
            body,
            grant.cache_control(playlist_cache(&state, &clip).await?),
        ));
    }
    let listed = segments
        .iter()
        .any(|s| !s.gap && (s.uri == file || s.map_uri.as_deref() == Some(file.as_str())));
    if !listed {
        return Err(ApiError::not_found(
            "not_found",
            "no such segment in this clip",
        ));
    }
    let key = keys::segment(&clip.live_stream_id, &rendition, &file);
    let cached = state.live.cache().get(&key);
    serve_object(
        &state,
        &key,
        cached,
        &headers,
        grant.cache_control(cache::SEGMENT),
    )
    .await
}

/// `/clips/{clip_id}.mp4`: the exported file. 404 `not_exported` when no
/// export was asked for (or it failed), 409 `export_in_progress` while it
/// runs.
async fn clip_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(query): TokenQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let clip_id = file
        .strip_suffix(".mp4")
        .ok_or_else(|| ApiError::not_found("not_found", "no such resource"))?;
    let (clip, _, grant) = clip_for_playback(&state, clip_id, &query).await?;
    match clip.export_status {
        ClipExportStatus::Ready => {}
        ClipExportStatus::Pending | ClipExportStatus::Running => {
            return Err(ApiError::conflict(
                "export_in_progress",
                format!(
                    "this clip is being exported ({}%); try again when its export_status is ready",
                    clip.export_progress
                ),
            ));
        }
        ClipExportStatus::None => {
            return Err(ApiError::not_found(
                "not_exported",
                "this clip has not been exported; POST /api/v1/clips/{clip_id}/export",
            ));
        }
        ClipExportStatus::Failed => {
            return Err(ApiError::not_found(
                "export_failed",
                "this clip's export failed; it may be requested again",
            ));
        }
    }
    serve_object(
        &state,
        &keys::clip(&clip.clip_id),
        None,
        &headers,
        grant.cache_control(cache::SEGMENT),
    )
    .await
}

/// An immutable object (segment, init segment, MP4), whole or the one byte
/// range of a `Range` header.
async fn serve_object(
    state: &AppState,
    key: &str,
    cached: Option<Bytes>,
    headers: &HeaderMap,
    cache_control: HeaderValue,
) -> Result<Response, ApiError> {
    let content_type = HeaderValue::from_static(keys::content_type(key));
    crate::object::serve(state, key, cached, headers, content_type, cache_control).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(sequence: i64, ms: i64) -> SegmentRecord {
        SegmentRecord {
            live_stream_id: "ls".into(),
            rendition: "source".into(),
            sequence,
            duration_90k: ms * 90,
            size_bytes: 250_000,
            discontinuity: false,
            uri: format!("{sequence}.ts"),
            map_uri: None,
            gap: false,
            program_date_time_ms: None,
            created_at_ms: 0,
        }
    }

    #[test]
    fn media_playlist_is_a_finished_vod() {
        let mut second = seg(3, 2100);
        second.discontinuity = true;
        let body = media_playlist(&[seg(2, 2000), second], "?token=a.b");
        assert_eq!(
            body,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:2\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXTINF:2.000,\n2.ts?token=a.b\n\
             #EXT-X-DISCONTINUITY\n#EXTINF:2.100,\n3.ts?token=a.b\n#EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn fmp4_playlists_map_their_init_segment() {
        let mut a = seg(0, 1000);
        a.uri = "0.m4s".into();
        a.map_uri = Some("init.mp4".into());
        let mut b = a.clone();
        b.sequence = 1;
        b.uri = "1.m4s".into();
        let body = media_playlist(&[a, b], "");
        assert!(body.contains("#EXT-X-VERSION:7\n"), "{body}");
        assert_eq!(body.matches("#EXT-X-MAP:URI=\"init.mp4\"").count(), 1);
    }

    #[test]
    fn master_is_rewritten_to_the_clip() {
        let master = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
            #EXT-X-STREAM-INF:BANDWIDTH=3000000,CODECS=\"avc1.64001f,mp4a.40.2\"\nsource/vod.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=800000\nhttps://cdn.example/live/ls/360p/vod.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=400000\n240p/vod.m3u8\n";
        let out = rewrite_master(master, &["source", "360p"], "?token=t").unwrap();
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3000000,CODECS=\"avc1.64001f,mp4a.40.2\"\nsource/index.m3u8?token=t\n\
             #EXT-X-STREAM-INF:BANDWIDTH=800000\n360p/index.m3u8?token=t\n"
        );
        assert_eq!(rewrite_master(master, &["720p"], ""), None);
        let synthesized = synthesize_master(&[("source".into(), vec![seg(0, 2000)])], "");
        assert!(
            synthesized.contains(
                "#EXT-X-STREAM-INF:BANDWIDTH=1000000,NAME=\"source\"\nsource/index.m3u8\n"
            ),
            "{synthesized}"
        );
    }

    #[test]
    fn tokens_are_escaped() {
        let q = |t: &str| HashMap::from([("token".to_string(), t.to_string())]);
        assert_eq!(token_suffix(&q("ab.c-d_e")), "?token=ab.c-d_e");
        assert_eq!(token_suffix(&q("a b&c")), "?token=a%20b%26c");
        assert_eq!(token_suffix(&HashMap::new()), "");
    }
}
