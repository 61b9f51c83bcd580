//! `/api-tokens`: the caller's bearer tokens. The secret is shown once, at
//! creation; a token acts as its user with that user's role.
//!
//! Also the rules shared by the three kinds of personal settings (API
//! tokens, signing keys, webhook endpoints), [`OwnerQuery`] and
//! [`acting_owner`]: each is its owner's, and admins may act on anyone's.
//! Everyone creates them for themselves only. An admin reads, changes and
//! deletes another user's item as that user, and lists another user's with
//! `?user_id=`; anyone else gets a 404 for another user's item (as for one
//! that does not exist, so ids do not leak) and a 403 for `?user_id=` naming
//! someone else.

use std::future::Future;

use axum::Json;
use axum::extract::State;
use control::{ApiToken, Role};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use super::caller::Caller;
use super::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use super::schema::{ErrorBody, PageBody};
use crate::ApiError;

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(create_api_token, list_api_tokens))
        .routes(routes!(delete_api_token))
}

/// `?user_id=` of the personal-settings lists (API tokens, signing keys,
/// webhook endpoints).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OwnerQuery {
    /// Whose items to list: admins may name any user (404 if there is no
    /// such user); anyone else only themselves (403 otherwise). Default:
    /// the caller.
    pub user_id: Option<String>,
}

impl OwnerQuery {
    /// The user whose items the caller lists: 401 when anonymous, 403 for a
    /// non-admin naming someone else, 404 for an admin naming nobody.
    pub(crate) async fn owner(&self, ctx: &Ctx, caller: &Caller) -> Result<String, ApiError> {
        let principal = caller.require()?;
        let me = &principal.user.user_id;
        match self.user_id.as_deref() {
            None => Ok(me.clone()),
            Some(user_id) if user_id == me => Ok(me.clone()),
            Some(_) if principal.user.role != Role::Admin => Err(ApiError::forbidden(
                "forbidden",
                "only admins may list another user's items",
            )),
            Some(user_id) => match ctx.db.user(user_id).await? {
                Some(user) => Ok(user.user_id),
                None => Err(ApiError::not_found("not_found", "user not found")),
            },
        }
    }
}

/// The user a read, change or delete of one personal item acts as: for an
/// admin, the item's owner (`owner_of` looks it up), else the caller, whose
/// owner-scoped query then finds nothing of anyone else's (a 404). 401
/// when anonymous.
pub(crate) async fn acting_owner<F, Fut>(caller: &Caller, owner_of: F) -> Result<String, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = control::Result<Option<String>>>,
{
    let principal = caller.require()?;
    if principal.user.role == Role::Admin
        && let Some(owner) = owner_of().await?
    {
        return Ok(owner);
    }
    Ok(principal.user.user_id.clone())
}

/// An API token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiTokenBody {
    pub api_token_id: String,
    pub name: String,
    /// The secret's first characters (`aethex_AbCd`), to tell tokens apart.
    pub secret_prefix: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds, to the minute.
    pub last_used_at_ms: Option<i64>,
}

impl From<ApiToken> for ApiTokenBody {
    fn from(t: ApiToken) -> Self {
        ApiTokenBody {
            api_token_id: t.api_token_id,
            name: t.name,
            secret_prefix: t.secret_prefix,
            created_at_ms: t.created_at_ms,
            last_used_at_ms: t.last_used_at_ms,
        }
    }
}

/// A new token and its secret, shown only now.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedApiTokenBody {
    pub api_token: ApiTokenBody,
    /// `Authorization: Bearer {secret}`. Not stored; keep it now.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateApiTokenRequest {
    /// 1-100 characters.
    pub name: String,
}

/// Create an API token acting as the caller.
#[utoipa::path(post, path = "/api-tokens", tag = "api-tokens",
    request_body = CreateApiTokenRequest,
    responses(
        (status = 201, body = CreatedApiTokenBody),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn create_api_token(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateApiTokenRequest>,
) -> Result<(StatusCode, Json<CreatedApiTokenBody>), ApiError> {
    let user_id = &caller.require()?.user.user_id;
    let created = ctx.db.create_api_token(user_id, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiTokenBody {
            api_token: created.token.into(),
            secret: created.secret,
        }),
    ))
}

/// List the caller's API tokens (admins: any user's, with `?user_id=`).
#[utoipa::path(get, path = "/api-tokens", tag = "api-tokens",
    params(PageQuery, OwnerQuery),
    responses(
        (status = 200, body = PageBody<ApiTokenBody>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`user_id` names someone else and the caller is not an admin", body = ErrorBody),
        (status = 404, description = "No user `user_id`", body = ErrorBody),
    ))]
async fn list_api_tokens(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(owner): ApiQuery<OwnerQuery>,
) -> Result<Json<PageBody<ApiTokenBody>>, ApiError> {
    let user_id = owner.owner(&ctx, &caller).await?;
    let page = ctx.db.list_api_tokens(&user_id, &page.request()?).await?;
    Ok(Json(PageBody::from_page(page, ApiTokenBody::from)))
}

/// Revoke one of the caller's API tokens (admins: anyone's); it stops
/// working at once.
#[utoipa::path(delete, path = "/api-tokens/{api_token_id}", tag = "api-tokens",
    params(("api_token_id" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn delete_api_token(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(api_token_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = acting_owner(&caller, || ctx.db.api_token_owner(&api_token_id)).await?;
    ctx.db.delete_api_token(&user_id, &api_token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
