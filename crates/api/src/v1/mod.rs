//! `/api/v1`: the control-plane REST API (after Mux's), JSON in and out,
//! and its OpenAPI document at `/api/openapi.json`.
//!
//! * One module per resource, each exporting `router()`: an
//!   [`OpenApiRouter`] built with `utoipa_axum::routes!`, which mounts a
//!   handler and adds its `#[utoipa::path]` to the document in the same
//!   call. Nothing under `/api/v1` is mounted any other way, so the
//!   document lists every route (the tests check that each documented
//!   operation is served, too).
//! * Authentication and CSRF: [`caller`]; who may do what: [`access`].
//! * Lists take `?limit=&cursor=` and answer `{"data": [...],
//!   "next_cursor": ...}` ([`schema::PageBody`]), newest first.
//! * Errors are [`crate::ApiError`]s: `{"error": {"code", "message"}}`
//!   with 400 (malformed request), 401 (not authenticated), 403 (not
//!   allowed, or a missing CSRF token), 404 (not found, or not yours to
//!   see), 409 (taken, busy, in use, wrong state), 415, 422 (a field fails
//!   validation; `error.field` names it) or 429 (too many failed logins;
//!   `Retry-After`).

pub(crate) mod access;
mod api_tokens;
mod auth;
pub(crate) mod caller;
pub(crate) mod channels;
mod clips;
pub(crate) mod config;
pub(crate) mod extract;
pub(crate) mod live_streams;
pub(crate) mod mux;
mod openapi;
mod rate_limit;
mod schema;
mod signing_keys;
mod social;
mod urls;
mod users;
mod vods;
pub(crate) mod webhooks;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use config::ApiOptions;
use rate_limit::LoginLimiter;

pub use openapi::openapi;

/// What `/api/v1` handlers get: the shared [`AppState`] and the API's own.
#[derive(Clone)]
pub(crate) struct Ctx {
    app: AppState,
    api: Arc<Shared>,
}

pub(crate) struct Shared {
    pub options: ApiOptions,
    pub login_limiter: Arc<LoginLimiter>,
    /// Sign-ups per client IP (keys are [`rate_limit::LimitKey::Ip`]).
    pub signup_limiter: Arc<LoginLimiter>,
}

impl Deref for Ctx {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.app
    }
}

impl Ctx {
    pub(crate) fn options(&self) -> &ApiOptions {
        &self.api.options
    }

    pub(crate) fn login_limiter(&self) -> &Arc<LoginLimiter> {
        &self.api.login_limiter
    }

    pub(crate) fn signup_limiter(&self) -> &Arc<LoginLimiter> {
        &self.api.signup_limiter
    }

    /// Current viewers of a live stream (0 until a counter is plugged in).
    pub(crate) fn current_viewers(&self, live_stream_id: &str) -> u32 {
        self.api
            .options
            .viewers
            .as_ref()
            .map_or(0, |v| v.current_viewers(live_stream_id))
    }

    /// A path on this server, prefixed with the public URL if one is set.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api.options.public_url)
    }
}

/// Every `/api/v1` route with its documentation, before state is attached.
pub(crate) fn api_router() -> OpenApiRouter<Ctx> {
    let v1 = OpenApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(api_tokens::router())
        .merge(channels::router())
        .merge(live_streams::router())
        .merge(vods::router())
        .merge(clips::router())
        .merge(signing_keys::router())
        .merge(webhooks::router())
        .merge(social::router());
    OpenApiRouter::with_openapi(openapi::base_document())
        .nest("/api/v1", v1)
        .merge(mux::router().layer(axum::middleware::from_fn(mux::mux_errors)))
}

/// `/api/v1/...` and `GET /api/openapi.json`, ready to merge into the app.
pub(crate) fn router(app: AppState, options: ApiOptions) -> Router<AppState> {
    let config = &options.config;
    let login_limiter = Arc::new(LoginLimiter::new(
        config.login_max_failures_per_username,
        config.login_max_failures_per_ip,
        Duration::from_secs(config.login_failure_window_s),
    ));
    let signup_limiter = Arc::new(LoginLimiter::new(
        1,
        config.signup_max_per_ip,
        Duration::from_secs(config.signup_window_s),
    ));
    let ctx = Ctx {
        app,
        api: Arc::new(Shared {
            options,
            login_limiter,
            signup_limiter,
        }),
    };
    let (router, document) = api_router().split_for_parts();
    router.merge(openapi::router(document)).with_state(ctx)
}
