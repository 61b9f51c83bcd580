//! `/system/v1/signing-keys` (and the deprecated `/video/v1/signing-keys`):
//! RSA keys for signed playback, the private key shown once as base64 of
//! its PEM, as Mux does; tokens signed with them by `mux.jwt.signPlaybackId`
//! (RS256, `kid` in the claims) play signed playback ids. And
//! `/video/v1/playback-ids/{id}`: what a playback id plays.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use control::{PlaybackObject, SigningAlgorithm, SigningKey};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Data, MuxErrorBody, PageNumberQuery, data, owner_id};
use crate::ApiError;
use crate::v1::Ctx;
use crate::v1::access;
use crate::v1::caller::Caller;
use crate::v1::extract::{ApiPath, ApiQuery};

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(get_key, delete_key))
        .routes(routes!(create_key_video, list_keys_video))
        .routes(routes!(get_key_video, delete_key_video))
        .routes(routes!(get_playback_id))
}

/// A signing key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MuxSigningKey {
    pub id: String,
    /// Unix seconds, as a string.
    pub created_at: String,
    /// Base64 of the PEM private key; only in the answer to create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
}

fn body(key: &SigningKey, private_key_pem: Option<&str>) -> MuxSigningKey {
    MuxSigningKey {
        id: key.signing_key_id.clone(),
        created_at: super::objects::unix_seconds(key.created_at_ms),
        private_key: private_key_pem
            .map(|pem| base64::engine::general_purpose::STANDARD.encode(pem.as_bytes())),
    }
}

async fn create(ctx: &Ctx, caller: &Caller) -> Result<MuxSigningKey, ApiError> {
    let owner = owner_id(caller)?;
    let created = ctx
        .db
        .create_signing_key(&owner, SigningAlgorithm::Rs256)
        .await?;
    Ok(body(&created.key, Some(&created.private_key_pem)))
}

async fn list(
    ctx: &Ctx,
    caller: &Caller,
    query: &PageNumberQuery,
) -> Result<Vec<MuxSigningKey>, ApiError> {
    let owner = owner_id(caller)?;
    let (limit, offset) = query.window()?;
    let keys = ctx
        .db
        .list_signing_keys_by_offset(&owner, limit, offset)
        .await?;
    Ok(keys.iter().map(|k| body(k, None)).collect())
}

async fn get(ctx: &Ctx, caller: &Caller, id: &str) -> Result<MuxSigningKey, ApiError> {
    let owner = owner_id(caller)?;
    let key = ctx.db.signing_key(&owner, id).await?;
    Ok(body(&key, None))
}

async fn delete(ctx: &Ctx, caller: &Caller, id: &str) -> Result<StatusCode, ApiError> {
    let owner = owner_id(caller)?;
    ctx.db.delete_signing_key(&owner, id).await?;
    crate::playback_auth::forget_signing_key(ctx, id);
    Ok(StatusCode::NO_CONTENT)
}

/// Create a signing key (RS256). The private key is in this answer only.
#[utoipa::path(post, path = "/system/v1/signing-keys", tag = "mux",
    responses(
        (status = 201, body = Data<MuxSigningKey>),
        (status = 401, body = MuxErrorBody),
    ))]
async fn create_key(
    State(ctx): State<Ctx>,
    caller: Caller,
) -> Result<(StatusCode, Json<Data<MuxSigningKey>>), ApiError> {
    Ok((StatusCode::CREATED, data(create(&ctx, &caller).await?)))
}

/// List the caller's signing keys, newest first, by page.
#[utoipa::path(get, path = "/system/v1/signing-keys", tag = "mux",
    params(PageNumberQuery),
    responses(
        (status = 200, body = Data<Vec<MuxSigningKey>>),
        (status = 401, body = MuxErrorBody),
    ))]
async fn list_keys(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageNumberQuery>,
) -> Result<Json<Data<Vec<MuxSigningKey>>>, ApiError> {
    Ok(data(list(&ctx, &caller, &query).await?))
}

/// Retrieve a signing key (without its private key).
#[utoipa::path(get, path = "/system/v1/signing-keys/{SIGNING_KEY_ID}", tag = "mux",
    params(("SIGNING_KEY_ID" = String, Path)),
    responses(
        (status = 200, body = Data<MuxSigningKey>),
        (status = 404, body = MuxErrorBody),
    ))]
async fn get_key(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Data<MuxSigningKey>>, ApiError> {
    Ok(data(get(&ctx, &caller, &id).await?))
}

/// Delete a signing key: its tokens stop working at once.
#[utoipa::path(delete, path = "/system/v1/signing-keys/{SIGNING_KEY_ID}", tag = "mux",
    params(("SIGNING_KEY_ID" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = MuxErrorBody),
    ))]
async fn delete_key(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    delete(&ctx, &caller, &id).await
}

/// Deprecated path of `POST /system/v1/signing-keys`.
#[utoipa::path(post, path = "/video/v1/signing-keys", tag = "mux",
    responses((status = 201, body = Data<MuxSigningKey>)))]
async fn create_key_video(
    State(ctx): State<Ctx>,
    caller: Caller,
) -> Result<(StatusCode, Json<Data<MuxSigningKey>>), ApiError> {
    Ok((StatusCode::CREATED, data(create(&ctx, &caller).await?)))
}

/// Deprecated path of `GET /system/v1/signing-keys`.
#[utoipa::path(get, path = "/video/v1/signing-keys", tag = "mux",
    params(PageNumberQuery),
    responses((status = 200, body = Data<Vec<MuxSigningKey>>)))]
async fn list_keys_video(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageNumberQuery>,
) -> Result<Json<Data<Vec<MuxSigningKey>>>, ApiError> {
    Ok(data(list(&ctx, &caller, &query).await?))
}

/// Deprecated path of `GET /system/v1/signing-keys/{id}`.
#[utoipa::path(get, path = "/video/v1/signing-keys/{SIGNING_KEY_ID}", tag = "mux",
    params(("SIGNING_KEY_ID" = String, Path)),
    responses((status = 200, body = Data<MuxSigningKey>), (status = 404, body = MuxErrorBody)))]
async fn get_key_video(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Data<MuxSigningKey>>, ApiError> {
    Ok(data(get(&ctx, &caller, &id).await?))
}

/// Deprecated path of `DELETE /system/v1/signing-keys/{id}`.
#[utoipa::path(delete, path = "/video/v1/signing-keys/{SIGNING_KEY_ID}", tag = "mux",
    params(("SIGNING_KEY_ID" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = MuxErrorBody)))]
async fn delete_key_video(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    delete(&ctx, &caller, &id).await
}

/// What a playback id plays.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PlaybackIdObject {
    /// `live_stream` or `asset`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// A playback id and what it plays.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MuxPlaybackIdLookup {
    pub id: String,
    pub policy: String,
    pub object: PlaybackIdObject,
}

/// Look a playback id up: its policy and the live stream or asset it
/// plays (the caller's own only).
#[utoipa::path(get, path = "/video/v1/playback-ids/{PLAYBACK_ID}", tag = "mux",
    params(("PLAYBACK_ID" = String, Path)),
    responses(
        (status = 200, body = Data<MuxPlaybackIdLookup>),
        (status = 404, body = MuxErrorBody),
    ))]
async fn get_playback_id(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(playback_id): ApiPath<String>,
) -> Result<Json<Data<MuxPlaybackIdLookup>>, ApiError> {
    caller.require()?;
    let not_found = || ApiError::not_found("not_found", "playback id not found");
    let resolved = ctx
        .db
        .resolve_playback_id(&playback_id)
        .await?
        .filter(|r| access::can_manage(&caller, &r.channel))
        .ok_or_else(not_found)?;
    let object = match &resolved.vod {
        Some(vod) => PlaybackObject::Asset(vod.vod_id.clone()),
        None => PlaybackObject::LiveStream(resolved.channel.channel_id.clone()),
    };
    // A channel's own id that was deleted on this surface is not listed.
    let listed = ctx.db.playback_ids_of(&object).await?;
    if !listed.iter().any(|r| r.playback_id == playback_id) {
        return Err(not_found());
    }
    let object = match object {
        PlaybackObject::Asset(id) => PlaybackIdObject {
            kind: "asset".into(),
            id,
        },
        PlaybackObject::LiveStream(id) => PlaybackIdObject {
            kind: "live_stream".into(),
            id,
        },
    };
    Ok(data(MuxPlaybackIdLookup {
        id: playback_id,
        policy: resolved.policy.as_str().to_owned(),
        object,
    }))
}
