//! Playback URLs in Mux's form, on the HTTP port, so that Mux Player's
//! `custom-domain` (`stream.{domain}` and `image.{domain}` pointed at this
//! server) and players given `https://stream.mux.com/{PLAYBACK_ID}.m3u8`
//! URLs with the host replaced work unchanged:
//!
//! * `/{PLAYBACK_ID}.m3u8[?token=]`: a live stream's playback id plays its
//!   current (or last) broadcast, its variants served by the HLS origin
//!   under `/hls/{PLAYBACK_ID}/`; an asset's plays the recording, under
//!   `/{PLAYBACK_ID}/{rendition}/`.
//! * `/{PLAYBACK_ID}/thumbnail.{jpg,png,webp}`: a recent frame of the live
//!   stream, or the recording's poster. Always JPEG bytes (labelled as
//!   such); browsers show them whatever the URL's extension.
//!
//! Each playback id has its own policy: a signed id needs `?token=` signed
//! for that id (audience `v` for media, `t` for thumbnails). Not served
//! yet (404 with a message saying so): `animated.gif`, `storyboard.vtt`,
//! static renditions (`highest.mp4`, `audio.m4a`); the rendition-selection
//! parameters (`max_resolution`, `min_resolution`, `rendition_order`) and
//! thumbnail parameters (`time`, `width`, `height`, `fit_mode`) are
//! accepted and ignored. See docs/mux-compat.md.
//!
//! These paths are not routes of their own (a playback id is any top-level
//! name), so the app's fallback tries them first and hands everything else
//! to the web UI ([`crate::web::fallback`]).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Uri};

use crate::hls::{self, as_seen_through};
use crate::{ApiError, AppState};

/// Longest playback id looked up.
const PLAYBACK_ID_MAX_LEN: usize = 64;

fn is_playback_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= PLAYBACK_ID_MAX_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// What a Mux-form path asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request<'a> {
    Master(&'a str),
    Thumbnail(&'a str),
    /// A Mux image or static file this server does not make yet.
    NotYet(&'a str, &'a str),
    AssetFile(&'a str, &'a str, &'a str),
}

fn parse(path: &str) -> Option<Request<'_>> {
    let rest = path.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [file] => file
            .strip_suffix(".m3u8")
            .filter(|id| is_playback_id(id))
            .map(Request::Master),
        [id, file] if is_playback_id(id) => match *file {
            "thumbnail.jpg" | "thumbnail.png" | "thumbnail.webp" => Some(Request::Thumbnail(id)),
            "animated.gif" | "animated.webp" | "storyboard.vtt" | "storyboard.jpg"
            | "storyboard.png" | "storyboard.webp" | "highest.mp4" | "audio.m4a"
            | "capped-1080p.mp4" | "high.mp4" | "medium.mp4" | "low.mp4" => {
                Some(Request::NotYet(id, file))
            }
            _ => None,
        },
        [id, rendition, file] if is_playback_id(id) && *id != "assets" => {
            Some(Request::AssetFile(id, rendition, file))
        }
        _ => None,
    }
}

/// The app's fallback: Mux-form playback, else the web UI.
pub(crate) async fn fallback(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return crate::web::fallback(method, uri, headers).await;
    }
    let Some(request) = parse(uri.path()) else {
        return crate::web::fallback(method, uri, headers).await;
    };
    let token = query.get("token").map(String::as_str);
    // A three-part path that names no playback id may be a page of the web
    // UI (its routes are client-side).
    let page_like = matches!(request, Request::AssetFile(..));
    match serve(&state, request, token, &headers).await {
        Ok(response) => response,
        Err(ApiError::NotFound {
            code: "unknown_playback_id",
            ..
        }) if page_like => crate::web::fallback(method, uri, headers).await,
        Err(e) => e.into_response(),
    }
}

async fn serve(
    state: &AppState,
    request: Request<'_>,
    token: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let id = match &request {
        Request::Master(id)
        | Request::Thumbnail(id)
        | Request::NotYet(id, _)
        | Request::AssetFile(id, _, _) => *id,
    };
    let resolved = state
        .db
        .resolve_playback_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_playback_id", "no such playback id"))?;
    let channel = as_seen_through(resolved.channel, id, resolved.policy);
    match (request, resolved.vod) {
        (Request::Master(_), None) => {
            hls::live_master(state, &channel, token, &format!("hls/{id}/")).await
        }
        (Request::Master(_), Some(vod)) => hls::asset::master(state, &channel, &vod, token).await,
        (Request::Thumbnail(_), None) => hls::live_thumbnail(state, &channel, token).await,
        (Request::Thumbnail(_), Some(vod)) => {
            hls::asset::poster(state, &channel, &vod, token).await
        }
        (Request::AssetFile(_, rendition, file), Some(vod)) => {
            hls::asset::file(state, &channel, &vod, rendition, file, token, headers).await
        }
        (Request::AssetFile(..), None) => Err(ApiError::not_found(
            "not_found",
            "a live stream's media is under /hls/{playback_id}/",
        )),
        (Request::NotYet(_, file), _) => Err(ApiError::not_found(
            "not_supported",
            format!("{file} is not served by this server yet (see docs/mux-compat.md)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mux_paths() {
        assert_eq!(parse("/abc123.m3u8"), Some(Request::Master("abc123")));
        assert_eq!(parse("/abc.m3u8x"), None);
        assert_eq!(parse("/a-b.m3u8"), None);
        assert_eq!(parse("/login"), None);
        assert_eq!(parse("/"), None);
        assert_eq!(
            parse("/abc/thumbnail.webp"),
            Some(Request::Thumbnail("abc"))
        );
        assert_eq!(
            parse("/abc/storyboard.vtt"),
            Some(Request::NotYet("abc", "storyboard.vtt"))
        );
        assert_eq!(parse("/abc/whatever"), None);
        assert_eq!(
            parse("/abc/source/index.m3u8"),
            Some(Request::AssetFile("abc", "source", "index.m3u8"))
        );
        assert_eq!(parse("/assets/x/y.js"), None);
        assert_eq!(parse(&format!("/{}.m3u8", "a".repeat(65))), None);
    }
}
