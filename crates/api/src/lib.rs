//! HTTP for AeThex LIVE: the HLS origin (`/hls`, `/vod`) and `/healthz`.
//!
//! One module per resource exporting a `router()`; one HTTP-shaped
//! [`ApiError`] whose responses are `{"error":{"code","message"}}` JSON and
//! which logs server errors with the request id instead of echoing them.

mod chat;
mod clip_media;
mod config;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod hls;
mod log_text;
mod lookups;
mod mapped;
mod mux_playback;
mod object;
mod playback_auth;
mod state;
mod v1;
mod web;

use axum::Router;
use http::header::{HeaderName, HeaderValue};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use config::HttpConfig;
pub use error::ApiError;
pub(crate) use log_text::log_safe;
pub use state::AppState;
pub use v1::config::{ApiConfig, ApiOptions, CookieSecure, SignupRole, ViewerCount};
pub use v1::mux::webhook_body as mux_webhook_body;
pub use v1::openapi;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether the client address may be taken from `X-Forwarded-For`
/// (`[api] trust_forwarded_for`), for the routes outside `/api/v1`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ClientAddressPolicy {
    pub trust_forwarded_for: bool,
}

/// The client's address: the TCP peer's, or with `trust_forwarded_for` the
/// last `X-Forwarded-For` entry (what the proxy in front appended).
pub(crate) fn client_address(
    headers: &http::HeaderMap,
    peer: Option<std::net::IpAddr>,
    trust_forwarded_for: bool,
) -> Option<std::net::IpAddr> {
    if trust_forwarded_for
        && let Some(ip) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
            .next_back()
    {
        return Some(ip);
    }
    peer
}

/// The whole HTTP application.
pub fn router(mut state: AppState, options: ApiOptions) -> Router {
    state.web_dir = options.web_dir.clone().map(std::sync::Arc::new);
    let address_policy = ClientAddressPolicy {
        trust_forwarded_for: options.config.trust_forwarded_for,
    };
    let chat_max_connections = options.config.chat_max_connections;
    let chat_max_per_address = options.config.chat_max_connections_per_ip;
    let security_headers = SecurityHeaders::new(&options.media_origins);
    Router::new()
        .merge(health::router())
        .merge(v1::router(state.clone(), options))
        .merge(hls::router())
        .merge(clip_media::router())
        .merge(chat::router(
            state.clone(),
            chat_max_connections,
            chat_max_per_address,
        ))
        .fallback(mux_playback::fallback)
        .with_state(state)
        .layer(axum::Extension(address_policy))
        .layer(axum::middleware::from_fn_with_state(
            security_headers,
            add_security_headers,
        ))
        .layer(axum::middleware::from_fn(http_metrics))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &http::Request<_>| {
                let id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Headers every response carries. The web UI is a single-page app with
/// no inline script, so its Content-Security-Policy allows scripts from
/// this origin only; hls.js needs `blob:` for media (MSE) and its worker,
/// and media, images and playlists may also come from the store's public
/// URL (`[storage] public_base_url`), where stored master playlists point.
/// Nothing may frame the pages (`frame-ancestors 'none'`: clickjacking),
/// responses are never sniffed into another type, and no referrer leaves
/// for other sites (playback URLs carry tokens).
#[derive(Clone)]
struct SecurityHeaders {
    csp: HeaderValue,
}

impl SecurityHeaders {
    fn new(media_origins: &[String]) -> SecurityHeaders {
        let extra: String = media_origins
            .iter()
            .filter(|o| {
                // Only scheme://host[:port]: nothing that could end the
                // directive or the header.
                o.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".:/-[]".contains(&b))
            })
            .map(|o| format!(" {o}"))
            .collect();
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: blob:{extra}; media-src 'self' blob:{extra}; \
             connect-src 'self'{extra}; worker-src 'self' blob:; font-src 'self' data:; \
             object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
        );
        SecurityHeaders {
            csp: HeaderValue::from_str(&csp)
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
        }
    }
}

async fn add_security_headers(
    axum::extract::State(headers): axum::extract::State<SecurityHeaders>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use http::header;
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, headers.csp.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Requests by route (the route's template, e.g.
/// `/hls/{playback_id}/master.m3u8`, so the label set stays bounded),
/// method and status, and their latency (to the response's head; a
/// blocking LL-HLS reload counts its wait).
pub const HTTP_REQUESTS: &str = "aethex_http_requests_total";
pub const HTTP_REQUEST_SECONDS: &str = "aethex_http_request_duration_seconds";

/// Names and help texts of the HTTP series, for the exporter.
pub fn describe_metrics() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests by route, method and status");
    metrics::describe_histogram!(
        HTTP_REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "HTTP request latency by route and method"
    );
}

async fn http_metrics(
    matched: Option<axum::extract::MatchedPath>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = matched.map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_SECONDS, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// `Cache-Control` values used by the origin.
pub(crate) mod cache {
    use super::HeaderValue;
    /// Live playlists change every segment.
    pub const LIVE_PLAYLIST: HeaderValue = HeaderValue::from_static("no-cache");
    /// The channel's master after a broadcast ended: it changes when the
    /// channel goes live again.
    pub const ENDED_PLAYLIST: HeaderValue = HeaderValue::from_static("public, max-age=10");
    /// Playlists of an ended broadcast and of recordings never change.
    pub const VOD_PLAYLIST: HeaderValue = HeaderValue::from_static("public, max-age=3600");
    /// Segments are immutable once written.
    pub const SEGMENT: HeaderValue =
        HeaderValue::from_static("public, max-age=31536000, immutable");
}
