//! `/api-tokens`: the caller's bearer tokens. The secret is shown once, at
//! creation; a token acts as its user with that user's role.

use axum::Json;
use axum::extract::State;
use control::ApiToken;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
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

/// List the caller's API tokens.
#[utoipa::path(get, path = "/api-tokens", tag = "api-tokens",
    params(PageQuery),
    responses(
        (status = 200, body = PageBody<ApiTokenBody>),
        (status = 401, body = ErrorBody),
    ))]
async fn list_api_tokens(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<PageBody<ApiTokenBody>>, ApiError> {
    let user_id = &caller.require()?.user.user_id;
    let page = ctx.db.list_api_tokens(user_id, &page.request()?).await?;
    Ok(Json(PageBody::from_page(page, ApiTokenBody::from)))
}

/// Revoke one of the caller's API tokens; it stops working at once.
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
    let user_id = &caller.require()?.user.user_id;
    ctx.db.delete_api_token(user_id, &api_token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
