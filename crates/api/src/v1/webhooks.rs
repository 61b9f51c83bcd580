//! `/webhooks`: the caller's webhook endpoints (Mux's model) and their
//! delivery logs. Creators and admins register endpoints; each receives
//! the events about its owner's channels (`live_stream.*`, `vod.ready`,
//! ...) as signed POSTs (see `control::webhook_signature`), retried with
//! exponential backoff for 24 hours.
//!
//! Endpoints are personal settings: `control` scopes every query by owner,
//! so another user's endpoint is a 404, except to admins, who may read,
//! list (`?user_id=`), change, rotate and delete anyone's and read their
//! delivery logs (see `super::api_tokens`). The signing
//! secret is shown when the endpoint is created and when it is rotated,
//! and never in reads or lists.

use axum::Json;
use axum::extract::State;
use control::{
    Role, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEndpointUpdate,
    WebhookEventType, WebhookFormat,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use super::api_tokens::{OwnerQuery, acting_owner};
use super::caller::Caller;
use super::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use super::schema::{self, ErrorBody, PageBody};
use crate::ApiError;

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_webhook_secret))
        .routes(routes!(list_webhook_deliveries))
}

/// A webhook endpoint, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookEndpointBody {
    pub webhook_endpoint_id: String,
    /// Where events are POSTed: `http://` or `https://`, normalized.
    pub url: String,
    /// The event types delivered; empty means every type.
    #[schema(schema_with = schema::webhook_event_types)]
    pub event_types: Vec<WebhookEventType>,
    /// A disabled endpoint gets no new deliveries; its pending ones wait
    /// until it is enabled again.
    pub enabled: bool,
    /// `native` (this server's body, `X-Aethex-Signature`) or `mux` (Mux's
    /// body, event names and `mux-signature`, for receivers written for
    /// Mux: `mux.webhooks.unwrap` accepts them).
    #[schema(schema_with = schema::webhook_format)]
    pub format: WebhookFormat,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
}

impl From<WebhookEndpoint> for WebhookEndpointBody {
    fn from(e: WebhookEndpoint) -> Self {
        WebhookEndpointBody {
            webhook_endpoint_id: e.webhook_endpoint_id,
            url: e.url,
            event_types: e.event_types,
            enabled: e.enabled,
            format: e.format,
            created_at_ms: e.created_at_ms,
            updated_at_ms: e.updated_at_ms,
        }
    }
}

/// An endpoint and its signing secret, shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookEndpointWithSecretBody {
    pub webhook_endpoint: WebhookEndpointBody,
    /// `whsec_...`: the HMAC-SHA256 key of the `X-Aethex-Signature` header
    /// (`t={unix seconds},v1={hex HMAC of "{t}.{body}"}`). Keep it now.
    pub secret: String,
}

impl From<WebhookEndpoint> for WebhookEndpointWithSecretBody {
    fn from(mut e: WebhookEndpoint) -> Self {
        let secret = std::mem::take(&mut e.secret);
        WebhookEndpointWithSecretBody {
            webhook_endpoint: e.into(),
            secret,
        }
    }
}

/// One event sent (or being sent) to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookDeliveryBody {
    pub webhook_delivery_id: String,
    /// The event's `id` in the request body; receivers deduplicate on it.
    pub webhook_event_id: String,
    pub webhook_endpoint_id: String,
    /// `pending` (due at `next_attempt_at_ms`, or being sent), `delivered`
    /// (the endpoint answered 2xx) or `failed` (retries gave up, 24 hours
    /// after the event).
    #[schema(schema_with = schema::webhook_delivery_status)]
    pub status: WebhookDeliveryStatus,
    /// Attempts started so far.
    pub attempt_count: u32,
    /// Unix milliseconds when a pending delivery is next tried; `null`
    /// once delivered or failed.
    pub next_attempt_at_ms: Option<i64>,
    /// HTTP status of the last attempt; `null` if it got no response.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub delivered_at_ms: Option<i64>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
}

impl From<WebhookDelivery> for WebhookDeliveryBody {
    fn from(d: WebhookDelivery) -> Self {
        WebhookDeliveryBody {
            webhook_delivery_id: d.webhook_delivery_id,
            webhook_event_id: d.webhook_event_id,
            webhook_endpoint_id: d.webhook_endpoint_id,
            status: d.status,
            attempt_count: d.attempt_count,
            next_attempt_at_ms: (d.status == WebhookDeliveryStatus::Pending)
                .then_some(d.next_attempt_at_ms),
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            delivered_at_ms: d.delivered_at_ms,
            created_at_ms: d.created_at_ms,
            updated_at_ms: d.updated_at_ms,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWebhookRequest {
    /// `http://` or `https://` with a host, no user name or password, no
    /// `#fragment`; at most 2048 bytes.
    pub url: String,
    /// The event types to deliver; absent or empty: every type.
    #[schema(schema_with = schema::webhook_event_types_nullable)]
    pub event_types: Option<Vec<WebhookEventType>>,
    /// `native` (default) or `mux`.
    #[schema(schema_with = schema::webhook_format_nullable)]
    pub format: Option<WebhookFormat>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateWebhookRequest {
    pub url: Option<String>,
    /// `[]`: every type.
    #[schema(schema_with = schema::webhook_event_types_nullable)]
    pub event_types: Option<Vec<WebhookEventType>>,
    pub enabled: Option<bool>,
    /// `native` or `mux`.
    #[schema(schema_with = schema::webhook_format_nullable)]
    pub format: Option<WebhookFormat>,
}

/// Refuses a URL whose host the outbound policy would never connect to: a
/// literal loopback, private, link-local, ... address, or `localhost`
/// (422, `field` = "url"). Names are only checked when a delivery resolves
/// them, since what they resolve to can change.
pub(crate) fn check_destination(ctx: &Ctx, url: &str) -> Result<(), ApiError> {
    // A URL that does not parse is left to control's validation, which
    // says what is wrong with it.
    let Ok(parsed) = url::Url::parse(url.trim()) else {
        return Ok(());
    };
    match ctx.options().outbound.check_url(&parsed) {
        Ok(()) => Ok(()),
        Err(refused) => Err(ApiError::invalid(
            "url",
            format!("{refused}; ask the operator to list the receiver in [outbound] allowed_hosts"),
        )),
    }
}

fn require_creator(caller: &Caller) -> Result<&str, ApiError> {
    let principal = caller.require()?;
    if principal.user.role == Role::Viewer {
        return Err(ApiError::forbidden(
            "forbidden",
            "only creators and admins may register webhooks",
        ));
    }
    Ok(&principal.user.user_id)
}

/// Register a webhook endpoint (creators and admins). The response holds
/// its signing secret, shown only now (and after a rotation).
#[utoipa::path(post, path = "/webhooks", tag = "webhooks",
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created", body = WebhookEndpointWithSecretBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Viewers may not register webhooks", body = ErrorBody),
        (status = 409, description = "The user has `[webhooks] max_endpoints_per_user` endpoints already", body = ErrorBody),
        (status = 422, description = "Invalid field (`url`, `event_types`); a URL naming a loopback, private or link-local address or `localhost` is refused unless the operator allows it", body = ErrorBody),
    ))]
async fn create_webhook(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateWebhookRequest>,
) -> Result<(StatusCode, Json<WebhookEndpointWithSecretBody>), ApiError> {
    let user_id = require_creator(&caller)?;
    check_destination(&ctx, &body.url)?;
    let endpoint = ctx
        .db
        .create_webhook_endpoint_capped(
            user_id,
            control::NewWebhookEndpoint {
                url: body.url,
                event_types: body.event_types.unwrap_or_default(),
                format: body.format.unwrap_or_default(),
            },
            ctx.options().webhooks.max_endpoints_per_user,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(endpoint.into())))
}

/// List the caller's webhook endpoints, newest first (admins: any user's,
/// with `?user_id=`).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    params(PageQuery, OwnerQuery),
    responses(
        (status = 200, body = PageBody<WebhookEndpointBody>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`user_id` names someone else and the caller is not an admin", body = ErrorBody),
        (status = 404, description = "No user `user_id`", body = ErrorBody),
    ))]
async fn list_webhooks(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(owner): ApiQuery<OwnerQuery>,
) -> Result<Json<PageBody<WebhookEndpointBody>>, ApiError> {
    let user_id = owner.owner(&ctx, &caller).await?;
    let page = ctx
        .db
        .list_webhook_endpoints(&user_id, &page.request()?)
        .await?;
    Ok(Json(PageBody::from_page(page, WebhookEndpointBody::from)))
}

/// Get one of the caller's webhook endpoints (admins: anyone's), without
/// its secret.
#[utoipa::path(get, path = "/webhooks/{webhook_endpoint_id}", tag = "webhooks",
    params(("webhook_endpoint_id" = String, Path)),
    responses(
        (status = 200, body = WebhookEndpointBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn get_webhook(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(webhook_endpoint_id): ApiPath<String>,
) -> Result<Json<WebhookEndpointBody>, ApiError> {
    let user_id = &acting_owner(&caller, || {
        ctx.db.webhook_endpoint_owner(&webhook_endpoint_id)
    })
    .await?;
    let endpoint = ctx
        .db
        .webhook_endpoint(user_id, &webhook_endpoint_id)
        .await?;
    Ok(Json(endpoint.into()))
}

/// Change one of the caller's webhook endpoints (admins: anyone's): its
/// URL, event types, or whether it is enabled.
#[utoipa::path(patch, path = "/webhooks/{webhook_endpoint_id}", tag = "webhooks",
    params(("webhook_endpoint_id" = String, Path)),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, body = WebhookEndpointBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn update_webhook(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(webhook_endpoint_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateWebhookRequest>,
) -> Result<Json<WebhookEndpointBody>, ApiError> {
    let user_id = &acting_owner(&caller, || {
        ctx.db.webhook_endpoint_owner(&webhook_endpoint_id)
    })
    .await?;
    if let Some(url) = &body.url {
        check_destination(&ctx, url)?;
    }
    let endpoint = ctx
        .db
        .update_webhook_endpoint(
            user_id,
            &webhook_endpoint_id,
            WebhookEndpointUpdate {
                url: body.url,
                event_types: body.event_types,
                enabled: body.enabled,
                format: body.format,
            },
        )
        .await?;
    Ok(Json(endpoint.into()))
}

/// Delete one of the caller's webhook endpoints (admins: anyone's) and its
/// delivery log;
/// pending deliveries to it are dropped.
#[utoipa::path(delete, path = "/webhooks/{webhook_endpoint_id}", tag = "webhooks",
    params(("webhook_endpoint_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn delete_webhook(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(webhook_endpoint_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = &acting_owner(&caller, || {
        ctx.db.webhook_endpoint_owner(&webhook_endpoint_id)
    })
    .await?;
    ctx.db
        .delete_webhook_endpoint(user_id, &webhook_endpoint_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace an endpoint's signing secret with a new one, shown only in this
/// response. Deliveries sent from now on are signed with it, retries of
/// earlier events included.
#[utoipa::path(post, path = "/webhooks/{webhook_endpoint_id}/rotate-secret", tag = "webhooks",
    params(("webhook_endpoint_id" = String, Path)),
    responses(
        (status = 200, body = WebhookEndpointWithSecretBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn rotate_webhook_secret(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(webhook_endpoint_id): ApiPath<String>,
) -> Result<Json<WebhookEndpointWithSecretBody>, ApiError> {
    let user_id = &acting_owner(&caller, || {
        ctx.db.webhook_endpoint_owner(&webhook_endpoint_id)
    })
    .await?;
    let endpoint = ctx
        .db
        .rotate_webhook_secret(user_id, &webhook_endpoint_id)
        .await?;
    Ok(Json(endpoint.into()))
}

/// The delivery log of one of the caller's endpoints (admins: anyone's),
/// newest first: each
/// event sent to it, with its status, attempts, last response and next
/// attempt.
#[utoipa::path(get, path = "/webhooks/{webhook_endpoint_id}/deliveries", tag = "webhooks",
    params(("webhook_endpoint_id" = String, Path), PageQuery),
    responses(
        (status = 200, body = PageBody<WebhookDeliveryBody>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn list_webhook_deliveries(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(webhook_endpoint_id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<PageBody<WebhookDeliveryBody>>, ApiError> {
    let user_id = &acting_owner(&caller, || {
        ctx.db.webhook_endpoint_owner(&webhook_endpoint_id)
    })
    .await?;
    let page = ctx
        .db
        .list_deliveries(user_id, &webhook_endpoint_id, &page.request()?)
        .await?;
    Ok(Json(PageBody::from_page(page, WebhookDeliveryBody::from)))
}
