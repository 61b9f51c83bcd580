//! The OpenAPI 3.1 document of `/api/v1`, served at `GET /api/openapi.json`.
//!
//! Generated from the code: the operations come from each handler's
//! `#[utoipa::path]`, collected by the same `OpenApiRouter` calls that
//! mount them (see the module docs of `v1`), and the schemas from the
//! request and response types' `ToSchema`. This module adds what is not
//! per operation: the title, the tags, and the two security schemes.

use std::sync::Arc;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use http::{HeaderValue, header};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Tag};

use super::caller::{CSRF_HEADER, SESSION_COOKIE};

/// Name of the bearer-token security scheme in the document.
pub(crate) const BEARER: &str = "api_token";
/// Name of the session-cookie security scheme in the document.
pub(crate) const COOKIE: &str = "session_cookie";

/// The whole document (for tools that want it without a server).
pub fn openapi() -> OpenApi {
    super::api_router().into_openapi()
}

/// Title, tags and security schemes; the routers add paths and schemas.
pub(crate) fn base_document() -> OpenApi {
    let tags = [
        ("auth", "Logging in and out; the current user."),
        (
            "users",
            "Accounts (admins manage them; anyone may sign up).",
        ),
        ("api-tokens", "Bearer tokens acting as their user."),
        ("channels", "What creators stream to (Mux's live streams)."),
        ("live-streams", "One broadcast of a channel each."),
        ("vods", "Recordings of live streams."),
        (
            "clips",
            "Ranges of a recording or of a broadcast's DVR window.",
        ),
        ("signing-keys", "Keys for signed playback tokens."),
        (
            "follows",
            "Following channels, browse, and chat moderators (for the web app).",
        ),
        (
            "webhooks",
            "Endpoints notified of events, and their deliveries.",
        ),
    ];
    let mut csrf = String::from(
        "The session cookie set by POST /api/v1/auth/login. Writes (POST, PATCH, PUT, \
         DELETE) authenticated by it must also send the session's CSRF token in the ",
    );
    csrf.push_str(CSRF_HEADER.as_str());
    csrf.push_str(" header.");
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("AeThex LIVE API")
                .version("1")
                .description(Some(
                    "Control plane of AeThex LIVE: channels, live streams, recordings, clips, \
                     signed playback and webhooks, after Mux Video's API. Lists page with \
                     ?limit=&cursor=; errors are {\"error\": {\"code\", \"message\"}}.",
                )),
        )
        .tags(Some(tags.map(|(name, description)| {
            let mut tag = Tag::new(name);
            tag.description = Some(description.to_owned());
            tag
        })))
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    BEARER,
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .description(Some("An API token, aethex_ followed by 32 characters."))
                            .build(),
                    ),
                )
                .security_scheme(
                    COOKIE,
                    SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                        SESSION_COOKIE,
                        csrf.as_str(),
                    ))),
                )
                .build(),
        ))
        // Either credential, or none: many reads are open to anonymous
        // callers; each operation's 401/403 responses say when not.
        .security(Some([
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
            SecurityRequirement::new(COOKIE, Vec::<String>::new()),
            SecurityRequirement::default(),
        ]))
        .build()
}

/// `GET /api/openapi.json`, serialized once.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(document: OpenApi) -> Router<S> {
    let json: Arc<str> = match document.to_json() {
        Ok(json) => json.into(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize the OpenAPI document");
            "{}".into()
        }
    };
    Router::new().route(
        "/api/openapi.json",
        get(move || {
            let json = json.clone();
            async move {
                (
                    [
                        (
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        ),
                        (
                            header::ACCESS_CONTROL_ALLOW_ORIGIN,
                            HeaderValue::from_static("*"),
                        ),
                    ],
                    json.to_string(),
                )
                    .into_response()
            }
        }),
    )
}
