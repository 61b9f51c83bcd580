//! What the web app needs besides the resources: follows, the caller's
//! "following" list, browse, and a channel's chat moderators.
//!
//! * `PUT`/`DELETE /channels/{channel_id}/follow`: any logged-in user, on a
//!   channel they may see; idempotent, 204.
//! * `GET /me/following`: the channels the caller follows that they may
//!   still see, live ones first.
//! * `GET /browse?q=`: public channels broadcasting now (followed ones
//!   first for a logged-in caller), and recent ready VODs and clips of
//!   public channels; `q` searches titles and slugs, ignoring case.
//! * `PUT`/`DELETE /channels/{channel_id}/moderators/{user_id}`: the
//!   channel's owner or an admin names who moderates its chat.

use axum::Json;
use axum::extract::State;
use control::Channel;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use super::access;
use super::caller::Caller;
use super::channels::{Audience, ChannelBody, channel_body, load_bodies};
use super::clips::{ClipBody, clip_body};
use super::extract::{ApiPath, ApiQuery};
use super::schema::ErrorBody;
use super::vods::{VodBody, vod_body};
use crate::ApiError;

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(follow, unfollow))
        .routes(routes!(following))
        .routes(routes!(browse))
        .routes(routes!(add_moderator, remove_moderator))
}

/// Follow a channel (any logged-in user). Idempotent.
#[utoipa::path(put, path = "/channels/{channel_id}/follow", tag = "follows",
    params(("channel_id" = String, Path)),
    responses(
        (status = 204, description = "Following"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn follow(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = caller.require()?.user.user_id.clone();
    access::channel_to_read(&ctx, &caller, &channel_id).await?;
    ctx.db.follow_channel(&user_id, &channel_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop following a channel. Idempotent.
#[utoipa::path(delete, path = "/channels/{channel_id}/follow", tag = "follows",
    params(("channel_id" = String, Path)),
    responses(
        (status = 204, description = "Not following"),
        (status = 401, body = ErrorBody),
    ))]
async fn unfollow(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = caller.require()?.user.user_id.clone();
    // No visibility check: anyone may stop following anything, and a
    // channel that became private must not be stuck in the list.
    ctx.db.unfollow_channel(&user_id, &channel_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The channels the caller follows.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FollowingBody {
    /// Live channels first, then the most recently followed.
    pub data: Vec<ChannelBody>,
}

/// The channels the caller follows (up to 200), live ones first.
#[utoipa::path(get, path = "/me/following", tag = "follows",
    responses(
        (status = 200, body = FollowingBody),
        (status = 401, body = ErrorBody),
    ))]
async fn following(
    State(ctx): State<Ctx>,
    caller: Caller,
) -> Result<Json<FollowingBody>, ApiError> {
    let user_id = caller.require()?.user.user_id.clone();
    let followed = ctx
        .db
        .list_following(&user_id, control::BROWSE_LIMIT_MAX)
        .await?;
    let channels: Vec<Channel> = followed
        .into_iter()
        .map(|f| f.channel)
        .filter(|c| access::can_see_channel(&caller, c))
        .collect();
    // load_bodies keeps the order (live first, as listed).
    let data = load_bodies(&ctx, &caller, channels).await?;
    Ok(Json(FollowingBody { data }))
}

/// `GET /browse` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BrowseQuery {
    /// Search: channels whose title or slug, VODs and clips whose title or
    /// channel's title or slug contains this, ignoring case. At most 100
    /// characters.
    pub q: Option<String>,
    /// Items per list, 1 to 100. Default 24.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// A channel broadcasting now.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BrowseLiveBody {
    #[serde(flatten)]
    pub channel: ChannelBody,
    /// The broadcast on air.
    pub live_stream_id: String,
}

/// A recording, with its channel's slug and title.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BrowseVodBody {
    #[serde(flatten)]
    pub vod: VodBody,
    pub channel_slug: String,
    pub channel_title: String,
}

/// A clip, with its channel's slug and title.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BrowseClipBody {
    #[serde(flatten)]
    pub clip: ClipBody,
    pub channel_slug: String,
    pub channel_title: String,
}

/// What browse shows.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BrowseBody {
    /// Public channels broadcasting now: followed ones first (for a
    /// logged-in caller), then the most recently started.
    pub live: Vec<BrowseLiveBody>,
    /// Ready recordings of public channels, newest first.
    pub vods: Vec<BrowseVodBody>,
    /// Ready clips of public channels, newest first.
    pub clips: Vec<BrowseClipBody>,
}

/// Live channels, recent VODs and clips; anyone may browse. Only public
/// channels appear.
#[utoipa::path(get, path = "/browse", tag = "follows",
    params(BrowseQuery),
    responses(
        (status = 200, body = BrowseBody),
        (status = 400, description = "Bad limit", body = ErrorBody),
        (status = 422, description = "Search too long", body = ErrorBody),
    ))]
async fn browse(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(query): ApiQuery<BrowseQuery>,
) -> Result<Json<BrowseBody>, ApiError> {
    let limit = query.limit.unwrap_or(24);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be 1 to 100",
        ));
    }
    let q = query.q.as_deref();
    let live_channels = ctx
        .db
        .browse_live_channels(q, caller.user_id(), limit)
        .await?;
    let ids: Vec<String> = live_channels
        .iter()
        .map(|l| l.channel.channel_id.clone())
        .collect();
    let counts = ctx.db.follower_counts(&ids).await?;
    let mut live = Vec::with_capacity(live_channels.len());
    for item in live_channels {
        let current = ctx.db.live_stream(&item.live_stream_id).await?;
        let audience = Audience {
            follower_count: counts.get(&item.channel.channel_id).copied().unwrap_or(0),
            following: item.followed,
        };
        live.push(BrowseLiveBody {
            channel: channel_body(&ctx, &caller, item.channel, current.as_ref(), audience),
            live_stream_id: item.live_stream_id,
        });
    }

    let mut channels = std::collections::HashMap::<String, Channel>::new();
    let mut vods = Vec::new();
    for vod in ctx.db.browse_vods(q, limit).await? {
        let channel = channel_of(&ctx, &mut channels, &vod.channel_id).await?;
        vods.push(BrowseVodBody {
            channel_slug: channel.slug.clone(),
            channel_title: channel.title.clone(),
            vod: vod_body(&ctx, &caller, vod, &channel).await?,
        });
    }
    let mut clips = Vec::new();
    for clip in ctx.db.browse_clips(q, limit).await? {
        let channel = channel_of(&ctx, &mut channels, &clip.channel_id).await?;
        clips.push(BrowseClipBody {
            channel_slug: channel.slug.clone(),
            channel_title: channel.title.clone(),
            clip: clip_body(&ctx, &caller, clip, &channel).await?,
        });
    }
    Ok(Json(BrowseBody { live, vods, clips }))
}

/// A channel, loaded once per request.
async fn channel_of(
    ctx: &Ctx,
    cache: &mut std::collections::HashMap<String, Channel>,
    channel_id: &str,
) -> Result<Channel, ApiError> {
    if let Some(channel) = cache.get(channel_id) {
        return Ok(channel.clone());
    }
    let channel = ctx
        .db
        .channel(channel_id)
        .await?
        .ok_or(control::Error::NotFound { what: "channel" })?;
    cache.insert(channel_id.to_owned(), channel.clone());
    Ok(channel)
}

/// Make a user a moderator of the channel's chat (owner or admin).
/// Idempotent.
#[utoipa::path(put, path = "/channels/{channel_id}/moderators/{user_id}", tag = "follows",
    params(("channel_id" = String, Path), ("user_id" = String, Path)),
    responses(
        (status = 204, description = "A moderator"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such channel or user", body = ErrorBody),
    ))]
async fn add_moderator(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath((channel_id, user_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    access::channel_to_manage(&ctx, &caller, &channel_id).await?;
    ctx.db.add_channel_moderator(&channel_id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop a user moderating the channel's chat (owner or admin).
/// Idempotent.
#[utoipa::path(delete, path = "/channels/{channel_id}/moderators/{user_id}", tag = "follows",
    params(("channel_id" = String, Path), ("user_id" = String, Path)),
    responses(
        (status = 204, description = "Not a moderator"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn remove_moderator(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath((channel_id, user_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    access::channel_to_manage(&ctx, &caller, &channel_id).await?;
    ctx.db
        .remove_channel_moderator(&channel_id, &user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
