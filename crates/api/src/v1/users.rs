//! `/users`: accounts. Admins list, read, change and delete any user and
//! create users of any role; anyone may sign up (unless `allow_signup` is
//! off), as `[api] signup_role` (creator by default) or as a viewer. Users read and change themselves at `/me`.

use axum::Json;
use axum::extract::State;
use control::{NewUser, Role, User, UserUpdate};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use super::caller::{Caller, client_ip};
use super::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use super::rate_limit::LimitKey;
use super::schema::{self, ErrorBody, PageBody};
use crate::ApiError;

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user, delete_user))
}

/// A user account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserBody {
    pub user_id: String,
    /// Lowercase, 3-32 of a-z, 0-9, '_' and '-'.
    pub username: String,
    pub email: Option<String>,
    #[schema(schema_with = schema::role)]
    pub role: Role,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

impl From<User> for UserBody {
    fn from(u: User) -> Self {
        UserBody {
            user_id: u.user_id,
            username: u.username,
            email: u.email,
            role: u.role,
            created_at_ms: u.created_at_ms,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUserRequest {
    pub username: String,
    /// At least 8 characters.
    pub password: String,
    pub email: Option<String>,
    /// Default: viewer when an admin creates the user, else the sign-up
    /// role (`[api] signup_role`, creator by default). Others than admins
    /// may ask only for the sign-up role or viewer.
    #[schema(schema_with = schema::role_nullable)]
    pub role: Option<Role>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateUserRequest {
    /// `""` removes it.
    pub email: Option<String>,
    /// Admins only.
    #[schema(schema_with = schema::role_nullable)]
    pub role: Option<Role>,
    /// Admins only (a reset); users change their own at
    /// `POST /me/password`. Ends the user's sessions and revokes their API
    /// tokens unless `keep_api_tokens` is true.
    pub password: Option<String>,
    pub keep_api_tokens: Option<bool>,
}

/// Create a user (admin), or sign up (anyone): as the configured sign-up
/// role (creator by default), or as a viewer.
#[utoipa::path(post, path = "/users", tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserBody),
        (status = 403, description = "Sign-up is off, or a non-admin asked for a role other than viewer or the sign-up role", body = ErrorBody),
        (status = 409, description = "Username or email taken", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this client (`[api] signup_max_per_ip`)",
            body = ErrorBody, headers(("retry-after" = u64))),
    ))]
async fn create_user(
    State(ctx): State<Ctx>,
    caller: Caller,
    parts: http::request::Parts,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    let signup_role = ctx.options().config.signup_role.role();
    let role = body.role.unwrap_or(if caller.is_admin() {
        Role::Viewer
    } else {
        signup_role
    });
    if !caller.is_admin() {
        if !ctx.options().config.allow_signup {
            return Err(ApiError::forbidden(
                "signup_disabled",
                "sign-up is off; ask an admin for an account",
            ));
        }
        if role != Role::Viewer && role != signup_role {
            return Err(ApiError::forbidden(
                "forbidden",
                format!("only admins may create {role}s; sign up as a {signup_role} or a viewer"),
            ));
        }
    }
    // Sign-ups per client address: each costs a password hash and makes an
    // account that can sign more things up. Counted whatever the outcome.
    if !caller.is_admin()
        && let Some(ip) = client_ip(&parts, ctx.options().config.trust_forwarded_for)
    {
        let now = std::time::Instant::now();
        ctx.signup_limiter()
            .reserve(vec![LimitKey::Ip(outbound::client_bucket(ip))], now)
            .map_err(|wait| {
                ApiError::too_many_requests(
                    "too_many_signups",
                    "too many sign-ups from this address; try again later",
                    wait.as_secs() + 1,
                )
            })?
            .failed(now);
    }
    let user = ctx
        .db
        .create_user(NewUser {
            username: body.username,
            email: body.email,
            password: body.password,
            role,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// List users (admin).
#[utoipa::path(get, path = "/users", tag = "users",
    params(PageQuery),
    responses(
        (status = 200, body = PageBody<UserBody>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ))]
async fn list_users(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<PageBody<UserBody>>, ApiError> {
    require_admin(&caller)?;
    let page = ctx.db.list_users(&page.request()?).await?;
    Ok(Json(PageBody::from_page(page, UserBody::from)))
}

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    caller.require()?;
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("forbidden", "only admins may do this"))
    }
}

fn user_not_found() -> ApiError {
    ApiError::not_found("not_found", "user not found")
}

/// Get a user (admin, or the user themself).
#[utoipa::path(get, path = "/users/{user_id}", tag = "users",
    params(("user_id" = String, Path)),
    responses(
        (status = 200, body = UserBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn get_user(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserBody>, ApiError> {
    caller.require()?;
    if !caller.is_or_admin(&user_id) {
        return Err(user_not_found());
    }
    let user = ctx.db.user(&user_id).await?.ok_or_else(user_not_found)?;
    Ok(Json(user.into()))
}

/// Change a user (admin: email, role, password; the user themself: email).
#[utoipa::path(patch, path = "/users/{user_id}", tag = "users",
    params(("user_id" = String, Path)),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A non-admin changing a role or password", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Email taken, or the last admin would go", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn update_user(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserBody>, ApiError> {
    caller.require()?;
    if !caller.is_or_admin(&user_id) {
        return Err(user_not_found());
    }
    if !caller.is_admin() && body.role.is_some() {
        return Err(ApiError::forbidden(
            "forbidden",
            "only admins may change roles",
        ));
    }
    if !caller.is_admin() && body.password.is_some() {
        return Err(ApiError::forbidden(
            "forbidden",
            "change your own password with POST /api/v1/me/password",
        ));
    }
    let user = ctx
        .db
        .update_user(
            &user_id,
            UserUpdate {
                email: body.email,
                role: body.role,
                password: body.password,
                keep_api_tokens: body.keep_api_tokens.unwrap_or(false),
            },
        )
        .await?;
    // A creator demoted to viewer stops streaming now, not at their next
    // reconnect (ingest refuses their next publish).
    if body.role == Some(Role::Viewer) {
        stop_broadcasts_of(&ctx, &user.user_id, live::EndReason::OwnerNotCreator).await?;
    }
    Ok(Json(user.into()))
}

/// Ends the broadcasts in progress on `user_id`'s channels.
async fn stop_broadcasts_of(
    ctx: &Ctx,
    user_id: &str,
    reason: live::EndReason,
) -> Result<(), ApiError> {
    let filter = control::ChannelFilter {
        owner_user_id: Some(user_id.to_owned()),
        ..control::ChannelFilter::default()
    };
    let mut page = control::PageRequest::first(control::PAGE_LIMIT_MAX);
    // Bounded: a user owns a bounded number of pages of channels.
    for _ in 0..1000 {
        let channels = ctx.db.list_channels(&filter, &page).await?;
        for channel in &channels.items {
            if let Some(current) =
                super::channels::current_live_stream(ctx, &channel.channel_id).await?
            {
                tracing::info!(channel_id = %channel.channel_id, %reason, "ending broadcast");
                super::live_streams::end_broadcast(ctx, &current, reason).await?;
            }
        }
        match channels.next_cursor {
            Some(cursor) => {
                page = control::PageRequest::new(Some(control::PAGE_LIMIT_MAX), Some(&cursor))?
            }
            None => break,
        }
    }
    Ok(())
}

/// Delete a user (admin). Their channels must be deleted first.
#[utoipa::path(delete, path = "/users/{user_id}", tag = "users",
    params(("user_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "They own channels, or are the last admin", body = ErrorBody),
    ))]
async fn delete_user(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    caller.require()?;
    if !caller.is_or_admin(&user_id) {
        return Err(user_not_found());
    }
    require_admin(&caller)?;
    ctx.db.delete_user(&user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
