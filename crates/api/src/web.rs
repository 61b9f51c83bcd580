//! The web UI: the single-page app built from `web/` (`npm run build` writes
//! `web/dist`), embedded in the binary with rust-embed (debug builds read
//! the same files from disk at run time). The server's `web_dir` (env
//! `AETHEX_WEB_DIR`, passed in as [`crate::ApiOptions::web_dir`]) serves
//! another build directory instead, for UI development.
//!
//! This is the application's fallback: `/assets/*` are the hashed bundles
//! (cached for a year), a file at the top of the build (`/favicon.svg`) is
//! served as such, and any other GET that is not an API or media route gets
//! `index.html` (not cached) so the client router takes over. API and media
//! paths keep their JSON 404.

use std::borrow::Cow;
use std::path::Path;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

use crate::ApiError;

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/dist"]
struct Dist;

/// Path prefixes that belong to the API and the media origin: never the UI.
const RESERVED: &[&str] = &[
    "/api",
    "/hls",
    "/vod",
    "/clips",
    "/thumbnails",
    "/ws",
    "/metrics",
    "/healthz",
];

const ASSET_CACHE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const PAGE_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// The router's fallback: the UI, or the JSON 404 for everything else.
pub(crate) async fn fallback(
    web_dir: Option<&Path>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    if is_reserved(path) || (method != Method::GET && method != Method::HEAD) {
        return not_found();
    }
    if let Some(rel) = path.strip_prefix("/assets/") {
        return match load(web_dir, &format!("assets/{rel}")).await {
            Some(bytes) => file_response(rel, bytes, ASSET_CACHE),
            None => not_found(),
        };
    }
    // A file at the top of the build (favicon, robots.txt, ...).
    let top = path.trim_start_matches('/');
    if !top.is_empty()
        && !top.contains('/')
        && top.contains('.')
        && let Some(bytes) = load(web_dir, top).await
    {
        return file_response(top, bytes, PAGE_CACHE);
    }
    if !accepts_html(&headers) {
        return not_found();
    }
    match load(web_dir, "index.html").await {
        Some(bytes) => file_response("index.html", bytes, PAGE_CACHE),
        None => not_found(),
    }
}

fn not_found() -> Response {
    ApiError::not_found("not_found", "no such resource").into_response()
}

fn is_reserved(path: &str) -> bool {
    RESERVED.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('.'))
    })
}

/// Browsers navigating send `text/html`; a request without `Accept` (curl)
/// gets the page too. Only a client that asks for something else (an API
/// client wanting JSON) gets the JSON 404.
fn accepts_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    accept.contains("text/html") || accept.contains("*/*")
}

/// A file of the build by its relative path, from `web_dir` or the
/// embedded build.
async fn load(web_dir: Option<&Path>, rel: &str) -> Option<Cow<'static, [u8]>> {
    if rel
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == ".." || part.contains('\\'))
    {
        return None;
    }
    match web_dir {
        Some(dir) => tokio::fs::read(dir.join(rel)).await.ok().map(Cow::Owned),
        None => Dist::get(rel).map(|file| file.data),
    }
}

fn file_response(name: &str, bytes: Cow<'static, [u8]>, cache: HeaderValue) -> Response {
    let mut response = (StatusCode::OK, Body::from(bytes)).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    headers.insert(CACHE_CONTROL, cache);
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map_or("", |(_, ext)| ext);
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_paths_keep_json_404() {
        for path in [
            "/api",
            "/api/v1/nope",
            "/hls/x/master.m3u8",
            "/vod/x",
            "/clips/x.mp4",
            "/thumbnails/x.jpg",
            "/ws/chat/x",
            "/metrics",
            "/healthz",
        ] {
            assert!(is_reserved(path), "{path}");
        }
        for path in [
            "/",
            "/c/demo",
            "/dashboard",
            "/apiary",
            "/watch/clip/x",
            "/hlsx",
        ] {
            assert!(!is_reserved(path), "{path}");
        }
    }

    #[test]
    fn types_and_traversal() {
        assert_eq!(
            content_type("assets/index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(rt.block_on(load(None, "../Cargo.toml")).is_none());
        assert!(rt.block_on(load(None, "assets/../../x")).is_none());
        assert!(rt.block_on(load(None, "index.html")).is_some());
        // A build directory of one's own, with the same refusals.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<p>dev build</p>").unwrap();
        let got = rt.block_on(load(Some(dir.path()), "index.html")).unwrap();
        assert_eq!(&*got, b"<p>dev build</p>");
        assert!(rt.block_on(load(Some(dir.path()), "../x")).is_none());
    }
}
