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
//!   stream, or the recording's poster (or its frame at `time`), in the
//!   URL's format, sized by `width`/`height`/`fit_mode` ([`image_request`];
//!   made by `live::reshape` / `live::frame_at`, a few at a time).
//!
//! Each playback id has its own policy: a signed id needs `?token=` signed
//! for that id (audience `v` for media, `t` for thumbnails). On the master
//! playlist, `max_resolution` and `min_resolution` (`480p`, `720p`, ...)
//! keep the variants within those heights (the nearest one if none is),
//! and `rendition_order=desc` lists the highest first ([`select_variants`]).
//! * `/{PLAYBACK_ID}/highest.mp4`, `/audio.m4a` (audience `v`),
//!   `/storyboard.jpg` and `/storyboard.vtt` (`s`), `/animated.gif` (`g`):
//!   files made from a recording (`live::asset_files`), for asset playback
//!   ids, once made.
//!
//! Other renditions (`high.mp4`, ...) would need re-encoding and answer
//! 404. See docs/mux-compat.md.
//!
//! These paths are not routes of their own (a playback id is any top-level
//! name), so the app's fallback tries them first and hands everything else
//! to the web UI ([`crate::web::fallback`]).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Uri};

use control::AssetFileName;

use crate::hls::asset::FileRequest;
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
    Thumbnail(&'a str, live::ImageFormat),
    /// A file made from a recording (static rendition, storyboard, GIF).
    File(&'a str, hls::asset::FileRequest),
    /// A Mux image or static file this server does not make.
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
            "thumbnail.jpg" => Some(Request::Thumbnail(id, live::ImageFormat::Jpeg)),
            "thumbnail.png" => Some(Request::Thumbnail(id, live::ImageFormat::Png)),
            "thumbnail.webp" => Some(Request::Thumbnail(id, live::ImageFormat::Webp)),
            "highest.mp4" => Some(Request::File(
                id,
                FileRequest::File(AssetFileName::HighestMp4),
            )),
            "audio.m4a" => Some(Request::File(
                id,
                FileRequest::File(AssetFileName::AudioM4a),
            )),
            "storyboard.jpg" => Some(Request::File(
                id,
                FileRequest::File(AssetFileName::Storyboard),
            )),
            "storyboard.vtt" => Some(Request::File(id, FileRequest::StoryboardIndex)),
            "animated.gif" => Some(Request::File(
                id,
                FileRequest::File(AssetFileName::AnimatedGif),
            )),
            "animated.webp" | "storyboard.png" | "storyboard.webp" | "capped-1080p.mp4"
            | "high.mp4" | "medium.mp4" | "low.mp4" => Some(Request::NotYet(id, file)),
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
        return crate::web::fallback(
            state.web_dir.as_deref().map(|p| p.as_path()),
            method,
            uri,
            headers,
        )
        .await;
    }
    let Some(request) = parse(uri.path()) else {
        return crate::web::fallback(
            state.web_dir.as_deref().map(|p| p.as_path()),
            method,
            uri,
            headers,
        )
        .await;
    };
    let token = query.get("token").map(String::as_str);
    let selection = match Selection::parse(&query) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let is_master = matches!(request, Request::Master(_));
    // A three-part path that names no playback id may be a page of the web
    // UI (its routes are client-side).
    let page_like = matches!(request, Request::AssetFile(..));
    match serve(&state, request, token, &query, &headers).await {
        Ok(response) if is_master && !selection.is_default() => {
            select_in_response(response, &selection).await
        }
        Ok(response) => response,
        Err(ApiError::NotFound {
            code: "unknown_playback_id",
            ..
        }) if page_like => {
            crate::web::fallback(
                state.web_dir.as_deref().map(|p| p.as_path()),
                method,
                uri,
                headers,
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

async fn serve(
    state: &AppState,
    request: Request<'_>,
    token: Option<&str>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let id = match &request {
        Request::Master(id)
        | Request::Thumbnail(id, _)
        | Request::File(id, _)
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
        (Request::Thumbnail(_, format), vod) => {
            let image = image_request(query, format)?;
            match vod {
                None => hls::live_thumbnail(state, &channel, token, &image).await,
                Some(vod) => hls::asset::poster(state, &channel, &vod, token, &image).await,
            }
        }
        (Request::AssetFile(_, rendition, file), Some(vod)) => {
            hls::asset::file(state, &channel, &vod, rendition, file, token, headers).await
        }
        (Request::AssetFile(..), None) => Err(ApiError::not_found(
            "not_found",
            "a live stream's media is under /hls/{playback_id}/",
        )),
        (Request::File(_, file), Some(vod)) => {
            hls::asset::made_file(state, &channel, &vod, file, token, headers).await
        }
        (Request::File(..), None) => Err(ApiError::not_found(
            "not_found",
            "static renditions, storyboards and GIFs are made from recordings: use an asset's playback id",
        )),
        (Request::NotYet(_, file), _) => Err(ApiError::not_found(
            "not_supported",
            format!("{file} is not served by this server yet (see docs/mux-compat.md)"),
        )),
    }
}

/// Mux's thumbnail parameters: `time` (seconds into a recording; ignored
/// for live streams, whose latest frame is shown), `width` and `height`
/// (1 to 3840 pixels), `fit_mode` (`preserve`, `stretch`, `crop`,
/// `smartcrop`, `pad`).
fn image_request(
    query: &HashMap<String, String>,
    format: live::ImageFormat,
) -> Result<hls::ImageRequest, ApiError> {
    let bad = |name: &str, v: &str, what: &str| {
        ApiError::bad_request("invalid_query", format!("{name} must be {what}, not {v:?}"))
    };
    let side = |name: &str| -> Result<Option<u32>, ApiError> {
        match query.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=live::IMAGE_MAX_SIDE).contains(n))
                .map(Some)
                .ok_or_else(|| bad(name, v, "a number of pixels from 1 to 3840")),
        }
    };
    let time_s = match query.get("time") {
        None => None,
        Some(v) => Some(
            v.parse::<f64>()
                .ok()
                .filter(|t| t.is_finite() && *t >= 0.0)
                .ok_or_else(|| bad("time", v, "a number of seconds"))?,
        ),
    };
    let fit = match query.get("fit_mode") {
        None => live::FitMode::default(),
        Some(v) => live::FitMode::parse(v)
            .ok_or_else(|| bad("fit_mode", v, "preserve, stretch, crop, smartcrop or pad"))?,
    };
    Ok(hls::ImageRequest {
        time_s,
        shape: live::ImageShape {
            width: side("width")?,
            height: side("height")?,
            fit,
        },
        format: Some(format),
    })
}

/// Mux's rendition selection on a master playlist.
#[derive(Debug, Default, PartialEq, Eq)]
struct Selection {
    /// Highest variant height kept.
    max_height: Option<u32>,
    /// Lowest variant height kept.
    min_height: Option<u32>,
    /// `rendition_order=desc`: highest first.
    descending: bool,
}

impl Selection {
    fn parse(query: &HashMap<String, String>) -> Result<Selection, ApiError> {
        let height = |name: &str| -> Result<Option<u32>, ApiError> {
            match query.get(name) {
                None => Ok(None),
                Some(v) => v
                    .strip_suffix('p')
                    .and_then(|h| h.parse().ok())
                    .filter(|h| (100..=8640).contains(h))
                    .map(Some)
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_query",
                            format!("{name} must be a height like 720p, not {v:?}"),
                        )
                    }),
            }
        };
        let descending = match query.get("rendition_order").map(String::as_str) {
            None | Some("default") | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("rendition_order must be desc or default, not {other:?}"),
                ));
            }
        };
        Ok(Selection {
            max_height: height("max_resolution")?,
            min_height: height("min_resolution")?,
            descending,
        })
    }

    fn is_default(&self) -> bool {
        *self == Selection::default()
    }
}

/// The master playlist of `response` with [`select_variants`] applied
/// (an error or an unreadable body passes as it is).
async fn select_in_response(response: Response, selection: &Selection) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return ApiError::Internal("master playlist too large".into()).into_response();
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let selected = select_variants(text, selection);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(selected))
}

/// Keeps the variants (`#EXT-X-STREAM-INF` + URI) of a master playlist
/// whose `RESOLUTION` height is within the selection, in ascending or
/// descending bandwidth order; other lines stay where they are (before
/// the variants). Variants without a resolution (audio only) are kept. If
/// no variant fits, the one nearest to the range is kept, as Mux does.
fn select_variants(master: &str, selection: &Selection) -> String {
    struct Variant<'a> {
        inf: &'a str,
        uri: &'a str,
        height: Option<u32>,
        bandwidth: u64,
    }
    let attr = |inf: &str, name: &str| -> Option<String> {
        let list = inf.split_once(':')?.1;
        let mut rest = list;
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=')?;
            let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"')?;
                (&quoted[..end], quoted[end + 1..].trim_start_matches(','))
            } else {
                match after.split_once(',') {
                    Some((v, t)) => (v, t),
                    None => (after, ""),
                }
            };
            if key.trim() == name {
                return Some(value.to_owned());
            }
            rest = tail;
        }
        None
    };
    let mut head = Vec::new();
    let mut variants = Vec::new();
    let mut lines = master.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("#EXT-X-STREAM-INF") {
            let Some(uri) = lines.by_ref().find(|l| !l.trim().is_empty()) else {
                break;
            };
            let height = attr(line, "RESOLUTION")
                .and_then(|r| r.split_once('x').and_then(|(_, h)| h.parse().ok()));
            let bandwidth = attr(line, "BANDWIDTH")
                .and_then(|b| b.parse().ok())
                .unwrap_or(0);
            variants.push(Variant {
                inf: line,
                uri,
                height,
                bandwidth,
            });
        } else {
            head.push(line);
        }
    }
    let fits = |v: &Variant| {
        v.height.is_none_or(|h| {
            selection.max_height.is_none_or(|m| h <= m)
                && selection.min_height.is_none_or(|m| h >= m)
        })
    };
    let mut kept: Vec<&Variant> = variants.iter().filter(|v| fits(v)).collect();
    if kept.is_empty() {
        // The nearest: the smallest above a max, or the largest below a min.
        let nearest = match selection.max_height {
            Some(_) => variants.iter().min_by_key(|v| v.height.unwrap_or(0)),
            None => variants.iter().max_by_key(|v| v.height.unwrap_or(0)),
        };
        kept.extend(nearest);
    }
    kept.sort_by_key(|v| v.bandwidth);
    if selection.descending {
        kept.reverse();
    }
    let mut out = String::with_capacity(master.len());
    for line in head {
        out.push_str(line);
        out.push('\n');
    }
    for v in kept {
        out.push_str(v.inf);
        out.push('\n');
        out.push_str(v.uri);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\"\nsource/index.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\"\n360p/index.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=1600000,RESOLUTION=854x480,CODECS=\"avc1.4d401e,mp4a.40.2\"\n480p/index.m3u8\n";

    fn uris(master: &str) -> Vec<&str> {
        master.lines().filter(|l| !l.starts_with('#')).collect()
    }

    fn sel(max: Option<u32>, min: Option<u32>, descending: bool) -> Selection {
        Selection {
            max_height: max,
            min_height: min,
            descending,
        }
    }

    #[test]
    fn selects_variants_like_mux() {
        let all = select_variants(MASTER, &sel(None, None, false));
        assert_eq!(
            uris(&all),
            ["360p/index.m3u8", "480p/index.m3u8", "source/index.m3u8"]
        );
        assert!(all.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"));
        let desc = select_variants(MASTER, &sel(None, None, true));
        assert_eq!(
            uris(&desc),
            ["source/index.m3u8", "480p/index.m3u8", "360p/index.m3u8"]
        );
        let capped = select_variants(MASTER, &sel(Some(480), None, false));
        assert_eq!(uris(&capped), ["360p/index.m3u8", "480p/index.m3u8"]);
        let floor = select_variants(MASTER, &sel(None, Some(720), false));
        assert_eq!(uris(&floor), ["source/index.m3u8"]);
        // Nothing fits: the nearest.
        let tiny = select_variants(MASTER, &sel(Some(240), None, false));
        assert_eq!(uris(&tiny), ["360p/index.m3u8"]);
        let huge = select_variants(MASTER, &sel(None, Some(1080), false));
        assert_eq!(uris(&huge), ["source/index.m3u8"]);
    }

    #[test]
    fn parses_selection_parameters() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        assert!(Selection::parse(&q(&[])).unwrap().is_default());
        assert_eq!(
            Selection::parse(&q(&[
                ("max_resolution", "720p"),
                ("rendition_order", "desc")
            ]))
            .unwrap(),
            sel(Some(720), None, true)
        );
        assert!(Selection::parse(&q(&[("max_resolution", "big")])).is_err());
        assert!(Selection::parse(&q(&[("rendition_order", "up")])).is_err());
    }

    #[test]
    fn parses_mux_paths() {
        assert_eq!(parse("/abc123.m3u8"), Some(Request::Master("abc123")));
        assert_eq!(parse("/abc.m3u8x"), None);
        assert_eq!(parse("/a-b.m3u8"), None);
        assert_eq!(parse("/login"), None);
        assert_eq!(parse("/"), None);
        assert_eq!(
            parse("/abc/thumbnail.webp"),
            Some(Request::Thumbnail("abc", live::ImageFormat::Webp))
        );
        assert_eq!(
            parse("/abc/storyboard.vtt"),
            Some(Request::File("abc", FileRequest::StoryboardIndex))
        );
        assert_eq!(
            parse("/abc/high.mp4"),
            Some(Request::NotYet("abc", "high.mp4"))
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
