//! `/signing-keys`: the caller's keys for signed playback (Mux's signing
//! keys), and `POST /channels/{channel_id}/playback-tokens`, which mints a
//! short-lived token with the server's own key.
//!
//! A creator makes a key here, keeps the private key (shown once, never
//! stored) in their own backend and signs tokens there: a JWT naming the
//! key in `kid`, the playback id in `sub`, `aud` `v` (playlists and
//! segments) or `t` (thumbnails and posters), and an `exp` (see
//! `control::playback_token`). A key signs only for playback ids of its
//! owner's channels and their recordings and clips. Deleting a key makes
//! its tokens fail at once (on other nodes of a cluster within the origin's
//! verification cache time, `crate::playback_auth::VERIFIED_TTL`).
//!
//! # Who may mint playback tokens
//!
//! The mint route is for the web UI (and for owners who do not want to
//! sign tokens themselves). It answers:
//!
//! * the channel's owner and admins, for any of their channels, private
//!   ones included;
//! * any *logged-in* caller, for a channel that is not private (public or
//!   unlisted): such a channel is watchable by anyone with the link, and
//!   signing it only keeps its media URLs short-lived and off other sites,
//!   so the web UI's watch page needs a token for its logged-in users too;
//! * nobody else: anonymous callers get 401 (an open mint would make
//!   signing pointless), and a private channel is a 404 to whoever may not
//!   manage it, like every other route about it.
//!
//! A token for the channel's playback id also plays the channel's
//! recordings (`/vod/{vod_id}/...`).
//!
//! Keys are personal settings: admins may read, list (`?user_id=`) and
//! delete anyone's, everyone else only their own (see `super::api_tokens`).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use control::{
    MINTED_TOKEN_TTL_MAX, PlaybackAudience, Role, SigningAlgorithm, SigningKey, Visibility,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use super::access;
use super::api_tokens::{OwnerQuery, acting_owner};
use super::caller::Caller;
use super::extract::{ApiPath, ApiQuery, OptionalJson, PageQuery};
use super::schema::{self, ErrorBody, PageBody};
use super::urls;
use crate::ApiError;

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(create_signing_key, list_signing_keys))
        .routes(routes!(get_signing_key, delete_signing_key))
        .routes(routes!(create_playback_token))
}

/// A signing key, without its private key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SigningKeyBody {
    /// The JWT `kid` of tokens it signs.
    pub signing_key_id: String,
    #[schema(schema_with = schema::signing_algorithm)]
    pub algorithm: SigningAlgorithm,
    /// SubjectPublicKeyInfo PEM, to verify tokens elsewhere.
    pub public_key_pem: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

impl From<SigningKey> for SigningKeyBody {
    fn from(k: SigningKey) -> Self {
        SigningKeyBody {
            signing_key_id: k.signing_key_id,
            algorithm: k.algorithm,
            public_key_pem: k.public_key_pem,
            created_at_ms: k.created_at_ms,
        }
    }
}

/// A new key and its private key, shown only now.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedSigningKeyBody {
    pub signing_key: SigningKeyBody,
    /// PKCS#8 PEM (`BEGIN PRIVATE KEY`). Not stored: keep it now. (Mux's
    /// tooling takes the same PEM base64-encoded.)
    pub private_key_pem: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSigningKeyRequest {
    /// RS256 (RSA 2048, what Mux's keys are; the default) or ES256
    /// (ECDSA P-256: smaller keys and tokens).
    #[schema(schema_with = schema::signing_algorithm_nullable)]
    pub algorithm: Option<SigningAlgorithm>,
}

/// Creators and admins.
fn require_creator(caller: &Caller) -> Result<&str, ApiError> {
    let principal = caller.require()?;
    match principal.user.role {
        Role::Admin | Role::Creator => Ok(&principal.user.user_id),
        Role::Viewer => Err(ApiError::forbidden(
            "forbidden",
            "only creators and admins may create signing keys",
        )),
    }
}

/// Create a signing key; its private key is in this response only.
#[utoipa::path(post, path = "/signing-keys", tag = "signing-keys",
    request_body(content = CreateSigningKeyRequest, description = "Optional; {} or no body for RS256"),
    responses(
        (status = 201, body = CreatedSigningKeyBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn create_signing_key(
    State(ctx): State<Ctx>,
    caller: Caller,
    OptionalJson(body): OptionalJson<CreateSigningKeyRequest>,
) -> Result<(StatusCode, Json<CreatedSigningKeyBody>), ApiError> {
    let user_id = require_creator(&caller)?;
    let created = ctx
        .db
        .create_signing_key(user_id, body.algorithm.unwrap_or_default())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSigningKeyBody {
            signing_key: created.key.into(),
            private_key_pem: created.private_key_pem,
        }),
    ))
}

/// List the caller's signing keys (admins: any user's, with `?user_id=`).
#[utoipa::path(get, path = "/signing-keys", tag = "signing-keys",
    params(PageQuery, OwnerQuery),
    responses(
        (status = 200, body = PageBody<SigningKeyBody>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`user_id` names someone else and the caller is not an admin", body = ErrorBody),
        (status = 404, description = "No user `user_id`", body = ErrorBody),
    ))]
async fn list_signing_keys(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(owner): ApiQuery<OwnerQuery>,
) -> Result<Json<PageBody<SigningKeyBody>>, ApiError> {
    let user_id = owner.owner(&ctx, &caller).await?;
    let page = ctx.db.list_signing_keys(&user_id, &page.request()?).await?;
    Ok(Json(PageBody::from_page(page, SigningKeyBody::from)))
}

/// Get one of the caller's signing keys (404 for anyone else's; admins:
/// anyone's).
#[utoipa::path(get, path = "/signing-keys/{signing_key_id}", tag = "signing-keys",
    params(("signing_key_id" = String, Path)),
    responses(
        (status = 200, body = SigningKeyBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn get_signing_key(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(signing_key_id): ApiPath<String>,
) -> Result<Json<SigningKeyBody>, ApiError> {
    let user_id = acting_owner(&caller, || ctx.db.signing_key_owner(&signing_key_id)).await?;
    let key = ctx.db.signing_key(&user_id, &signing_key_id).await?;
    Ok(Json(key.into()))
}

/// Delete one of the caller's signing keys (admins: anyone's): tokens it
/// signed stop working.
#[utoipa::path(delete, path = "/signing-keys/{signing_key_id}", tag = "signing-keys",
    params(("signing_key_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn delete_signing_key(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(signing_key_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = acting_owner(&caller, || ctx.db.signing_key_owner(&signing_key_id)).await?;
    ctx.db.delete_signing_key(&user_id, &signing_key_id).await?;
    crate::playback_auth::forget_signing_key(&ctx, &signing_key_id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatePlaybackTokenRequest {
    /// Lifetime in seconds, 1 to 86400. Default: the server's
    /// `playback_token_ttl_s` (one hour unless configured).
    #[schema(minimum = 1, maximum = 86400)]
    pub ttl_s: Option<u64>,
    /// `v` (playlists and segments; the default) or `t` (thumbnails and
    /// posters).
    #[schema(schema_with = schema::playback_audience_nullable)]
    pub audience: Option<PlaybackAudience>,
}

/// A playback token and where to use it.
#[derive(Serialize, ToSchema)]
pub(crate) struct PlaybackTokenBody {
    /// Add as `?token=` to the channel's media URLs (and its recordings').
    pub token: String,
    #[schema(schema_with = schema::playback_audience)]
    pub audience: PlaybackAudience,
    /// Unix milliseconds; the token's `exp` is at this time or up to a
    /// second after it.
    pub expires_at_ms: i64,
    /// The channel's master playlist with the token (audience `v`).
    pub playback_url_with_token: Option<String>,
    /// The channel's thumbnail with the token (audience `t`).
    pub thumbnail_url_with_token: Option<String>,
}

/// Mint a short-lived playback token for a channel with the server's key.
///
/// The channel's owner and admins may mint for any of their channels; any
/// logged-in user may mint for a channel that is not private (for the web
/// UI's player).
#[utoipa::path(post, path = "/channels/{channel_id}/playback-tokens", tag = "channels",
    params(("channel_id" = String, Path)),
    request_body(content = CreatePlaybackTokenRequest, description = "Optional"),
    responses(
        (status = 201, body = PlaybackTokenBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn create_playback_token(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
    OptionalJson(body): OptionalJson<CreatePlaybackTokenRequest>,
) -> Result<(StatusCode, Json<PlaybackTokenBody>), ApiError> {
    let principal = caller.require()?;
    // 404 for a private channel the caller may not manage.
    let channel = access::channel_to_read(&ctx, &caller, &channel_id).await?;
    debug_assert!(
        channel.visibility != Visibility::Private || access::can_manage(&caller, &channel)
    );
    let max_s = MINTED_TOKEN_TTL_MAX.as_secs();
    let ttl_s = match body.ttl_s {
        Some(ttl_s) if (1..=max_s).contains(&ttl_s) => ttl_s,
        Some(_) => {
            return Err(ApiError::invalid(
                "ttl_s",
                format!("must be 1 to {max_s} seconds"),
            ));
        }
        None => ctx.options().config.playback_token_ttl_s.clamp(1, max_s),
    };
    let audience = body.audience.unwrap_or(PlaybackAudience::Video);
    // The token's exp is "now" (whole seconds) plus the lifetime, taken
    // inside the call: never earlier than this.
    let before_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let token = ctx
        .db
        .mint_playback_token_for(
            &channel.playback_id,
            audience,
            Duration::from_secs(ttl_s),
            Some(&principal.user.user_id),
        )
        .await?;
    let expires_at_ms = i64::try_from((before_s + ttl_s) * 1000).unwrap_or(i64::MAX);
    let with_token = |path: String| format!("{}?token={token}", ctx.url(&path));
    let (playback_url_with_token, thumbnail_url_with_token) = match audience {
        PlaybackAudience::Video => (
            Some(with_token(urls::channel_playback(&channel.playback_id))),
            None,
        ),
        PlaybackAudience::Thumbnail => (
            None,
            Some(with_token(urls::channel_thumbnail(&channel.playback_id))),
        ),
        // A channel's live output has no GIF or storyboard (recordings'
        // asset playback ids do).
        PlaybackAudience::Gif | PlaybackAudience::Storyboard => (None, None),
    };
    Ok((
        StatusCode::CREATED,
        Json(PlaybackTokenBody {
            token,
            audience,
            expires_at_ms,
            playback_url_with_token,
            thumbnail_url_with_token,
        }),
    ))
}
