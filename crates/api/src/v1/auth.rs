//! `/auth/login`, `/auth/logout` and `/me`: web UI sessions and the
//! current user. See [`super::caller`] for the cookies and CSRF, and
//! [`super::rate_limit`] for the login limit.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use control::UserUpdate;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use super::caller::{Caller, Credential, SESSION_COOKIE, client_ip, cookie, session_cookies};
use super::extract::ApiJson;
use super::rate_limit::{LimitKey, Reservation};
use super::schema::ErrorBody;
use super::users::UserBody;
use crate::ApiError;

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me, update_me))
        .routes(routes!(change_password))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// A new session. The cookies carry it; the CSRF token must be echoed in
/// `X-CSRF-Token` on cookie-authenticated writes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionBody {
    pub user: UserBody,
    pub csrf_token: String,
    /// Unix milliseconds.
    pub expires_at_ms: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateMeRequest {
    /// `""` removes it.
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 8 characters.
    pub new_password: String,
    /// Keep your API tokens. Default false: changing the password revokes
    /// them (and ends every session), locking out whoever knew the old one.
    pub keep_api_tokens: Option<bool>,
}

/// A password change: the user, and with a cookie session the new session
/// that replaces the ended ones.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PasswordChangedBody {
    pub user: UserBody,
    /// Set when the request came with a session cookie: a new session
    /// (new cookies), since changing the password ends every session.
    pub csrf_token: Option<String>,
}

fn limit_keys(parts: &Parts, ctx: &Ctx, username: &str) -> Vec<LimitKey> {
    let mut keys = vec![LimitKey::Username(username.trim().to_ascii_lowercase())];
    if let Some(ip) = client_ip(parts, ctx.options().config.trust_forwarded_for) {
        keys.push(LimitKey::Ip(outbound::client_bucket(ip)));
    }
    keys
}

/// Reserves a login attempt (before hashing), or 429.
fn reserve_attempt(ctx: &Ctx, keys: Vec<LimitKey>) -> Result<Reservation, ApiError> {
    ctx.login_limiter()
        .reserve(keys, Instant::now())
        .map_err(|wait| {
            ApiError::too_many_requests(
                "too_many_attempts",
                "too many failed logins; try again later",
                wait.as_secs() + 1,
            )
        })
}

/// A new session for `user`, as the response: JSON body and cookies.
async fn start_session(
    ctx: &Ctx,
    parts: &Parts,
    user: control::User,
) -> Result<(HeaderMap, SessionBody), ApiError> {
    let ttl = ctx.options().config.session_ttl();
    let created = ctx.db.create_session(&user.user_id, ttl).await?;
    let mut headers = HeaderMap::new();
    for value in session_cookies(
        parts,
        ctx.options().config.cookie_secure,
        Some((&created.token, &created.csrf_token, ttl.as_secs())),
    ) {
        headers.append(header::SET_COOKIE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok((
        headers,
        SessionBody {
            user: user.into(),
            csrf_token: created.csrf_token,
            expires_at_ms: created.session.expires_at_ms,
        },
    ))
}

/// Log in: sets the session cookies and returns the CSRF token.
///
/// No CSRF token is needed here (there is no session yet). A cookie of an
/// earlier session sent along is logged out.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    security(()),
    responses(
        (status = 200, body = SessionBody,
            headers(("set-cookie" = String, description = "aethex_session (HttpOnly) and aethex_csrf"))),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 429, description = "Too many failed logins for this username or client",
            body = ErrorBody, headers(("retry-after" = u64))),
    ))]
async fn login(
    State(ctx): State<Ctx>,
    parts: Parts,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let keys = limit_keys(&parts, &ctx, &body.username);
    let attempt = reserve_attempt(&ctx, keys)?;
    let Some(user) = ctx
        .db
        .verify_password(&body.username, &body.password)
        .await?
    else {
        attempt.failed(Instant::now());
        tracing::info!(username = %crate::log_safe(body.username.trim()), "failed login");
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "wrong username or password",
        ));
    };
    attempt.succeeded();
    if let Some(old) = cookie(&parts.headers, SESSION_COOKIE) {
        ctx.db.delete_session(old).await?;
    }
    let (headers, body) = start_session(&ctx, &parts, user).await?;
    Ok((headers, Json(body)).into_response())
}

/// Log out: ends the cookie's session and expires the cookies. Also fine
/// without a session.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Logged out",
            headers(("set-cookie" = String, description = "The expired cookies"))),
        (status = 403, description = "Cookie session without its CSRF token", body = ErrorBody),
    ))]
async fn logout(
    State(ctx): State<Ctx>,
    caller: Caller,
    parts: Parts,
) -> Result<Response, ApiError> {
    if let Some(Credential::Session(_)) = caller.0.as_ref().map(|p| &p.credential)
        && let Some(token) = cookie(&parts.headers, SESSION_COOKIE)
    {
        ctx.db.delete_session(token).await?;
    }
    let mut headers = HeaderMap::new();
    for value in session_cookies(&parts, ctx.options().config.cookie_secure, None) {
        headers.append(header::SET_COOKIE, value);
    }
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

/// The current user.
#[utoipa::path(get, path = "/me", tag = "auth",
    responses(
        (status = 200, body = UserBody),
        (status = 401, body = ErrorBody),
    ))]
async fn me(caller: Caller) -> Result<Json<UserBody>, ApiError> {
    Ok(Json(caller.require()?.user.clone().into()))
}

/// Change the current user's email.
#[utoipa::path(patch, path = "/me", tag = "auth",
    request_body = UpdateMeRequest,
    responses(
        (status = 200, body = UserBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "Email taken", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn update_me(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(body): ApiJson<UpdateMeRequest>,
) -> Result<Json<UserBody>, ApiError> {
    let principal = caller.require()?;
    let user = ctx
        .db
        .update_user(
            &principal.user.user_id,
            UserUpdate {
                email: body.email,
                ..UserUpdate::default()
            },
        )
        .await?;
    Ok(Json(user.into()))
}

/// Change the current user's password. Ends all their sessions (a cookie
/// caller gets a new one: new cookies and CSRF token) and revokes their API
/// tokens unless `keep_api_tokens` (a token caller's own token included).
/// Wrong current passwords count against the login limit.
#[utoipa::path(post, path = "/me/password", tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, body = PasswordChangedBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Wrong current password", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn change_password(
    State(ctx): State<Ctx>,
    caller: Caller,
    parts: Parts,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<Response, ApiError> {
    let principal = caller.require()?;
    let username = principal.user.username.clone();
    let keys = limit_keys(&parts, &ctx, &username);
    let attempt = reserve_attempt(&ctx, keys)?;
    if ctx
        .db
        .verify_password(&username, &body.current_password)
        .await?
        .is_none()
    {
        attempt.failed(Instant::now());
        return Err(ApiError::forbidden(
            "wrong_password",
            "the current password is wrong",
        ));
    }
    attempt.succeeded();
    let user = ctx
        .db
        .update_user(
            &principal.user.user_id,
            UserUpdate {
                password: Some(body.new_password),
                keep_api_tokens: body.keep_api_tokens.unwrap_or(false),
                ..UserUpdate::default()
            },
        )
        .await?;
    match principal.credential {
        Credential::Session(_) => {
            let (headers, session) = start_session(&ctx, &parts, user).await?;
            let body = PasswordChangedBody {
                user: session.user,
                csrf_token: Some(session.csrf_token),
            };
            Ok((headers, Json(body)).into_response())
        }
        Credential::Token(_) => Ok(Json(PasswordChangedBody {
            user: user.into(),
            csrf_token: None,
        })
        .into_response()),
    }
}
