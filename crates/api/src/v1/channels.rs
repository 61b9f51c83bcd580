//! `/channels`: channels (Mux's `live_stream`), what a creator streams to.
//!
//! * Creators and admins create channels (viewers get 403); the caller owns
//!   the channel unless an admin names another creator or admin in
//!   `owner_user_id`. The stream key is returned by the create and
//!   `reset-stream-key` responses only; the channel body never carries it.
//! * Owners and admins read everything and change their channels; everyone
//!   else (anonymous callers included) reads channels that are not private
//!   (a private one is 404 to them) and lists public ones only.
//! * Settings changes (PATCH, `reset-stream-key`, `disable`, `enable`)
//!   enqueue a `channel.updated` webhook event for the owner carrying the
//!   channel body. Latency mode, segment format, ladder, recording and
//!   reconnect window apply from the next broadcast; a broadcast in
//!   progress keeps the settings it started with.
//! * The body also carries what the web app shows: category, follower
//!   count, whether the caller follows it, whether it is live (a broadcast
//!   receiving media) and its current viewers, and the chat settings (slow
//!   mode for everyone, blocked words for its owner and admins).
//!   `GET /channels/by-slug/{slug}` finds a channel by its slug.
//! * `disable` refuses further publishes (ingest checks `enabled` on every
//!   publish) and ends a broadcast in progress at once, without a
//!   reconnect window.

use axum::Json;
use axum::extract::State;
use control::{
    Channel, ChannelFilter, ChannelStatus, ChannelUpdate, LatencyMode, LiveStream,
    LiveStreamStatus, NewChannel, PlaybackPolicy, Role, SegmentFormat, Visibility,
    WebhookEventType,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Ctx;
use super::access;
use super::caller::Caller;
use super::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use super::live_streams::end_broadcast;
use super::schema::{self, ErrorBody, PageBody};
use super::urls;
use crate::ApiError;

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(create_channel, list_channels))
        .routes(routes!(get_channel, update_channel, delete_channel))
        .routes(routes!(get_channel_by_slug))
        .routes(routes!(reset_stream_key))
        .routes(routes!(disable_channel))
        .routes(routes!(enable_channel))
        .routes(routes!(rotate_playback_id))
        .routes(routes!(revoke_playback_tokens))
}

/// 403 for a suspended channel when the caller is not an admin.
fn refuse_if_suspended(caller: &Caller, channel: &Channel, what: &str) -> Result<(), ApiError> {
    if channel.suspended && !caller.is_admin() {
        return Err(ApiError::forbidden(
            "channel_suspended",
            format!("an administrator suspended this channel; only an administrator can {what}"),
        ));
    }
    Ok(())
}

/// A channel. Never carries the stream key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelBody {
    pub channel_id: String,
    pub owner_user_id: String,
    /// Lowercase, 3-40 of a-z, 0-9 and '-'; unique.
    pub slug: String,
    pub title: String,
    /// Broadcast state: idle, or the status of the broadcast in progress.
    #[schema(schema_with = schema::channel_status)]
    pub status: ChannelStatus,
    /// A disabled channel refuses publishers (its owner's switch).
    pub enabled: bool,
    /// Suspended by an administrator: refuses publishers and stream key
    /// resets until an administrator enables it again.
    pub suspended: bool,
    /// Playback tokens issued before this instant (unix milliseconds) are
    /// refused (`revoke-playback-tokens`, `rotate-playback-id`, becoming
    /// private or signed); `null`: none revoked.
    pub playback_tokens_not_before_ms: Option<i64>,
    #[schema(schema_with = schema::latency_mode)]
    pub latency_mode: LatencyMode,
    /// How long a dropped publisher may come back and continue the same
    /// live stream, in seconds (0-1800).
    pub reconnect_window_s: u32,
    /// Transcoding ladder preset.
    pub ladder: String,
    /// Record each broadcast as a VOD.
    pub record: bool,
    #[schema(schema_with = schema::visibility)]
    pub visibility: Visibility,
    /// Signed: playback URLs need a token. Always signed while private.
    #[schema(schema_with = schema::playback_policy)]
    pub playback_policy: PlaybackPolicy,
    #[schema(schema_with = schema::segment_format)]
    pub segment_format: SegmentFormat,
    pub playback_id: String,
    /// The live HLS master playlist.
    pub playback_url: String,
    /// A recent frame of the broadcast in progress (JPEG).
    pub thumbnail_url: String,
    /// The broadcast in progress (connected, active or in its reconnect
    /// window), if any.
    pub current_live_stream_id: Option<String>,
    /// Free text shown on browse; empty when unset.
    pub category: String,
    /// How many users follow the channel.
    pub follower_count: u64,
    /// Whether the caller follows it (false when anonymous).
    pub following: bool,
    /// A broadcast is receiving media (status active).
    pub live: bool,
    /// Concurrent viewers of the broadcast in progress; 0 when not live.
    pub current_viewers: u32,
    /// Chat slow mode: non-moderators post at most once per this many
    /// seconds; 0 is off.
    pub chat_slow_mode_s: u32,
    /// Words refused in chat (whole words, ignoring case). Only for the
    /// channel's owner and admins; absent for everyone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_blocked_words: Option<Vec<String>>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
}

/// What a channel body says about the caller and the channel's audience.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Audience {
    pub follower_count: u64,
    pub following: bool,
}

pub(crate) fn channel_body(
    ctx: &Ctx,
    caller: &Caller,
    c: Channel,
    current: Option<&LiveStream>,
    audience: Audience,
) -> ChannelBody {
    let live = current.is_some_and(|ls| ls.status == LiveStreamStatus::Active);
    let current_viewers = match current {
        Some(ls) if live => ctx.current_viewers(&ls.live_stream_id),
        _ => 0,
    };
    let chat_blocked_words = access::can_manage(caller, &c).then(|| c.chat_blocked_words.clone());
    let status = match current.map(|ls| ls.status) {
        None | Some(LiveStreamStatus::Ended) => ChannelStatus::Idle,
        Some(LiveStreamStatus::Connected) => ChannelStatus::Connected,
        Some(LiveStreamStatus::Active) => ChannelStatus::Active,
        Some(LiveStreamStatus::Disconnected) => ChannelStatus::Disconnected,
    };
    ChannelBody {
        playback_url: ctx.url(&urls::channel_playback(&c.playback_id)),
        thumbnail_url: ctx.url(&urls::channel_thumbnail(&c.playback_id)),
        current_live_stream_id: current
            .filter(|ls| ls.status != LiveStreamStatus::Ended)
            .map(|ls| ls.live_stream_id.clone()),
        status,
        channel_id: c.channel_id,
        owner_user_id: c.owner_user_id,
        slug: c.slug,
        title: c.title,
        enabled: c.enabled,
        suspended: c.suspended,
        playback_tokens_not_before_ms: c.playback_tokens_not_before_ms,
        latency_mode: c.latency_mode,
        reconnect_window_s: c.reconnect_window_s,
        ladder: c.ladder,
        record: c.record,
        visibility: c.visibility,
        playback_policy: c.playback_policy,
        segment_format: c.segment_format,
        playback_id: c.playback_id,
        category: c.category,
        follower_count: audience.follower_count,
        following: audience.following,
        live,
        current_viewers,
        chat_slow_mode_s: c.chat_slow_mode_s,
        chat_blocked_words,
        created_at_ms: c.created_at_ms,
        updated_at_ms: c.updated_at_ms,
    }
}

/// The channel's broadcast in progress, if any. (At most one live stream
/// of a channel is unfinished, and it is the newest.)
pub(crate) async fn current_live_stream(
    ctx: &Ctx,
    channel_id: &str,
) -> Result<Option<LiveStream>, ApiError> {
    Ok(ctx
        .db
        .latest_live_stream(channel_id)
        .await?
        .filter(|ls| ls.status != LiveStreamStatus::Ended))
}

/// The body of a channel, with its broadcast state and audience.
pub(crate) async fn load_body(
    ctx: &Ctx,
    caller: &Caller,
    channel: Channel,
) -> Result<ChannelBody, ApiError> {
    let current = current_live_stream(ctx, &channel.channel_id).await?;
    let follower_count = ctx.db.follower_count(&channel.channel_id).await?;
    let following = match caller.user_id() {
        Some(user_id) => ctx.db.is_following(user_id, &channel.channel_id).await?,
        None => false,
    };
    let audience = Audience {
        follower_count,
        following,
    };
    Ok(channel_body(
        ctx,
        caller,
        channel,
        current.as_ref(),
        audience,
    ))
}

/// Bodies of several channels (a list page), with a few batched queries
/// for their broadcast states and audiences.
pub(crate) async fn load_bodies(
    ctx: &Ctx,
    caller: &Caller,
    channels: Vec<Channel>,
) -> Result<Vec<ChannelBody>, ApiError> {
    let ids: Vec<String> = channels.iter().map(|c| c.channel_id.clone()).collect();
    let statuses = ctx.db.channel_statuses(&ids).await?;
    let counts = ctx.db.follower_counts(&ids).await?;
    let followed = match caller.user_id() {
        Some(user_id) => ctx.db.followed_among(user_id, &ids).await?,
        None => Default::default(),
    };
    let mut data = Vec::with_capacity(channels.len());
    for channel in channels {
        // Only channels with a broadcast in progress need a lookup.
        let current = if statuses.contains_key(&channel.channel_id) {
            current_live_stream(ctx, &channel.channel_id).await?
        } else {
            None
        };
        let audience = Audience {
            follower_count: counts.get(&channel.channel_id).copied().unwrap_or(0),
            following: followed.contains(&channel.channel_id),
        };
        data.push(channel_body(
            ctx,
            caller,
            channel,
            current.as_ref(),
            audience,
        ));
    }
    Ok(data)
}

/// Enqueues `channel.updated` for the channel's owner; a failure is logged,
/// not returned (the change itself succeeded).
async fn channel_updated(ctx: &Ctx, body: &ChannelBody) {
    channel_event(ctx, WebhookEventType::ChannelUpdated, body).await;
}

/// Enqueues a `channel.*` event (data: the channel's body) for the
/// channel's owner; a failure is logged, not returned (the change itself
/// succeeded).
pub(crate) async fn channel_event(ctx: &Ctx, event_type: WebhookEventType, body: &ChannelBody) {
    let data = match serde_json::to_value(body) {
        Ok(data) => data,
        Err(e) => {
            tracing::warn!(error = %e, channel_id = %body.channel_id, %event_type, "could not serialize a channel event");
            return;
        }
    };
    if let Err(e) = ctx
        .db
        .enqueue_webhook_event(
            event_type,
            &body.owner_user_id,
            Some(&body.channel_id),
            data,
        )
        .await
    {
        tracing::warn!(error = %e, channel_id = %body.channel_id, %event_type, "could not enqueue a channel event");
    }
}

/// A channel and its stream key, shown only now.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelWithKeyBody {
    pub channel: ChannelBody,
    /// The stream key ("Stream Key" in OBS). Not stored; keep it now.
    pub stream_key: String,
    /// The RTMP server URL ("Server" in OBS), when the server knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtmp_url: Option<String>,
}

/// Settings of a channel; absent or `null` fields are left as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateChannelRequest {
    /// 1-200 characters.
    pub title: Option<String>,
    #[schema(schema_with = schema::latency_mode_nullable)]
    pub latency_mode: Option<String>,
    /// 0-1800 seconds.
    #[schema(minimum = 0, maximum = 1800)]
    pub reconnect_window_s: Option<i64>,
    /// A configured ladder preset.
    pub ladder: Option<String>,
    pub record: Option<bool>,
    /// Private also makes playback signed.
    #[schema(schema_with = schema::visibility_nullable)]
    pub visibility: Option<String>,
    /// Public is refused for a private channel.
    #[schema(schema_with = schema::playback_policy_nullable)]
    pub playback_policy: Option<String>,
    #[schema(schema_with = schema::segment_format_nullable)]
    pub segment_format: Option<String>,
    /// At most 50 characters; `""` clears it.
    pub category: Option<String>,
    /// Chat slow mode, 0-3600 seconds (0 is off).
    #[schema(minimum = 0, maximum = 3600)]
    pub chat_slow_mode_s: Option<i64>,
    /// Replaces the blocked words (each 1-50 characters; stored
    /// lowercase, deduplicated; at most 200).
    pub chat_blocked_words: Option<Vec<String>>,
}

/// A new channel. Settings left out take their defaults: standard
/// latency, TS segments (fMP4 for low latency), the "default" ladder,
/// recording on, public, a 60 s reconnect window.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateChannelRequest {
    /// 3-40 of a-z, 0-9 and '-' (lowercased); unique.
    pub slug: String,
    /// 1-200 characters; default: the slug.
    pub title: Option<String>,
    /// Admins only: create the channel for this creator or admin.
    pub owner_user_id: Option<String>,
    #[schema(schema_with = schema::latency_mode_nullable)]
    pub latency_mode: Option<String>,
    /// 0-1800 seconds.
    #[schema(minimum = 0, maximum = 1800)]
    pub reconnect_window_s: Option<i64>,
    /// A configured ladder preset.
    pub ladder: Option<String>,
    pub record: Option<bool>,
    #[schema(schema_with = schema::visibility_nullable)]
    pub visibility: Option<String>,
    #[schema(schema_with = schema::playback_policy_nullable)]
    pub playback_policy: Option<String>,
    #[schema(schema_with = schema::segment_format_nullable)]
    pub segment_format: Option<String>,
    /// At most 50 characters.
    pub category: Option<String>,
}

/// Parses an enum field; 422 naming the field when it is not one of the
/// values.
fn parse_enum<T>(value: Option<String>) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr<Err = control::Error>,
{
    Ok(value.map(|v| v.parse::<T>()).transpose()?)
}

/// The settings of a create or update request, validated: enums, the
/// reconnect window, the ladder against the configured presets, and the
/// private-is-signed rule (so that a create cannot fail half-way).
fn parse_update(ctx: &Ctx, req: UpdateChannelRequest) -> Result<ChannelUpdate, ApiError> {
    let reconnect_window_s = req
        .reconnect_window_s
        .map(|s| {
            u32::try_from(s)
                .ok()
                .filter(|s| *s <= control::RECONNECT_WINDOW_MAX_S)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "reconnect_window_s",
                        format!(
                            "must be 0 to {} seconds, got {s}",
                            control::RECONNECT_WINDOW_MAX_S
                        ),
                    )
                })
        })
        .transpose()?;
    if let Some(ladder) = &req.ladder {
        control::validate_ladder_name(ladder)?;
        if let Some(ladders) = &ctx.options().ladders
            && !ladders.contains(ladder)
        {
            let mut known = ladders.clone();
            known.sort();
            return Err(ApiError::invalid(
                "ladder",
                format!(
                    "{ladder:?} is not a configured ladder preset; configured: {}",
                    known.join(", ")
                ),
            ));
        }
    }
    if let Some(category) = &req.category {
        let len = category.trim().chars().count();
        if len > control::CATEGORY_MAX_CHARS || category.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "category",
                format!(
                    "must be at most {} characters without control characters",
                    control::CATEGORY_MAX_CHARS
                ),
            ));
        }
    }
    let chat_slow_mode_s = req
        .chat_slow_mode_s
        .map(|s| {
            u32::try_from(s)
                .ok()
                .filter(|s| *s <= control::CHAT_SLOW_MODE_MAX_S)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "chat_slow_mode_s",
                        format!(
                            "must be 0 to {} seconds, got {s}",
                            control::CHAT_SLOW_MODE_MAX_S
                        ),
                    )
                })
        })
        .transpose()?;
    let chat_blocked_words = req
        .chat_blocked_words
        .as_deref()
        .map(control::normalize_blocked_words)
        .transpose()?;
    let update = ChannelUpdate {
        category: req.category,
        chat_slow_mode_s,
        chat_blocked_words,
        title: req.title,
        latency_mode: parse_enum(req.latency_mode)?,
        segment_format: parse_enum(req.segment_format)?,
        ladder: req.ladder,
        enabled: None,
        suspended: None,
        record: req.record,
        visibility: parse_enum(req.visibility)?,
        playback_policy: parse_enum(req.playback_policy)?,
        reconnect_window_s,
        ..ChannelUpdate::default()
    };
    if update.visibility == Some(Visibility::Private)
        && update.playback_policy == Some(PlaybackPolicy::Public)
    {
        return Err(ApiError::invalid(
            "playback_policy",
            "a private channel's playback is always signed",
        ));
    }
    Ok(update)
}

/// Who owns a new channel: the caller, or (admins only) the named user,
/// who must be a creator or admin.
pub(crate) async fn new_owner(
    ctx: &Ctx,
    caller: &Caller,
    owner_user_id: Option<String>,
) -> Result<String, ApiError> {
    let principal = caller.require()?;
    if principal.user.role == Role::Viewer {
        return Err(ApiError::forbidden(
            "forbidden",
            "viewers cannot create channels; ask an admin to make you a creator",
        ));
    }
    let Some(owner) = owner_user_id.filter(|o| *o != principal.user.user_id) else {
        return Ok(principal.user.user_id.clone());
    };
    if !caller.is_admin() {
        return Err(ApiError::forbidden(
            "forbidden",
            "only admins may create channels for other users",
        ));
    }
    match ctx.db.user(&owner).await? {
        None => Err(ApiError::invalid("owner_user_id", "no such user")),
        Some(u) if u.role == Role::Viewer => Err(ApiError::invalid(
            "owner_user_id",
            "a channel's owner must be a creator or an admin",
        )),
        Some(u) => Ok(u.user_id),
    }
}

/// Create a channel (creators and admins). The response carries the
/// stream key: it is not shown again (reset it to get a new one).
#[utoipa::path(post, path = "/channels", tag = "channels",
    request_body = CreateChannelRequest,
    responses(
        (status = 201, description = "Created", body = ChannelWithKeyBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A viewer, or a non-admin naming another owner", body = ErrorBody),
        (status = 409, description = "Slug taken", body = ErrorBody),
        (status = 422, description = "Invalid field (`error.field` names it)", body = ErrorBody),
    ))]
async fn create_channel(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateChannelRequest>,
) -> Result<(StatusCode, Json<ChannelWithKeyBody>), ApiError> {
    let owner_user_id = new_owner(&ctx, &caller, body.owner_user_id).await?;
    let mut update = parse_update(
        &ctx,
        UpdateChannelRequest {
            title: None,
            latency_mode: body.latency_mode,
            reconnect_window_s: body.reconnect_window_s,
            ladder: body.ladder,
            record: body.record,
            visibility: body.visibility,
            playback_policy: body.playback_policy,
            segment_format: body.segment_format,
            category: body.category,
            chat_slow_mode_s: None,
            chat_blocked_words: None,
        },
    )?;
    let created = ctx
        .db
        .create_channel(NewChannel {
            owner_user_id,
            slug: body.slug,
            title: body.title.unwrap_or_default(),
            latency_mode: update.latency_mode.take().unwrap_or(LatencyMode::Standard),
            segment_format: update.segment_format.take(),
            ladder: update.ladder.take(),
        })
        .await?;
    let mut channel = created.channel;
    if update != ChannelUpdate::default() {
        match ctx.db.update_channel(&channel.channel_id, update).await {
            Ok(updated) => channel = updated,
            Err(e) => {
                // Settings were validated above; should the update fail
                // anyway, do not leave a channel the caller did not ask for.
                if let Err(delete) = ctx.db.delete_channel(&channel.channel_id).await {
                    tracing::warn!(error = %delete, channel_id = %channel.channel_id,
                        "could not remove a channel whose settings failed");
                }
                return Err(e.into());
            }
        }
    }
    let body = channel_body(&ctx, &caller, channel, None, Audience::default());
    channel_event(&ctx, WebhookEventType::ChannelCreated, &body).await;
    Ok((
        StatusCode::CREATED,
        Json(ChannelWithKeyBody {
            channel: body,
            stream_key: created.stream_key,
            rtmp_url: ctx.options().rtmp_url.clone(),
        }),
    ))
}

/// `GET /channels` filters, and the page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChannelListQuery {
    /// Items per page, 1 to 100. Default 25.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page; leave out for the first page.
    pub cursor: Option<String>,
    /// `me`, or a user id: only that user's channels. All of them for
    /// their owner and admins, the public ones for everyone else.
    pub owner: Option<String>,
    /// public, unlisted or private. Only owners (`owner=me`) and admins
    /// see unlisted and private channels in lists.
    pub visibility: Option<String>,
    /// true: only channels broadcasting now (status active).
    pub live: Option<bool>,
}

/// List channels, newest first. Admins see every channel, owners all of
/// theirs (`?owner=me`); everyone else sees public channels only (unlisted
/// ones are reachable by id, private ones by their owner).
#[utoipa::path(get, path = "/channels", tag = "channels",
    params(ChannelListQuery),
    responses(
        (status = 200, body = PageBody<ChannelBody>),
        (status = 400, description = "Bad limit, cursor or filter", body = ErrorBody),
        (status = 401, description = "`owner=me` without credentials", body = ErrorBody),
    ))]
async fn list_channels(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ChannelListQuery>,
) -> Result<Json<PageBody<ChannelBody>>, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request()?;
    let owner_user_id = match query.owner.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("me") => Some(caller.require()?.user.user_id.clone()),
        Some(id) => Some(id.to_owned()),
    };
    let visibility = query
        .visibility
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<Visibility>().map_err(|e| {
                ApiError::bad_request("invalid_query", format!("invalid visibility: {e}"))
            })
        })
        .transpose()?;
    let sees_all = caller.is_admin()
        || owner_user_id
            .as_deref()
            .is_some_and(|o| caller.user_id() == Some(o));
    let visibility = match visibility {
        v if sees_all => v,
        None | Some(Visibility::Public) => Some(Visibility::Public),
        // Others' unlisted and private channels are never listed.
        Some(_) => {
            return Ok(Json(PageBody {
                data: Vec::new(),
                next_cursor: None,
            }));
        }
    };
    let filter = ChannelFilter {
        owner_user_id,
        visibility,
        live_now: query.live.unwrap_or(false),
    };
    let page = ctx.db.list_channels(&filter, &page).await?;
    let data = load_bodies(&ctx, &caller, page.items).await?;
    Ok(Json(PageBody {
        data,
        next_cursor: page.next_cursor,
    }))
}

/// Get a channel. Private channels are 404 to all but their owner and
/// admins.
#[utoipa::path(get, path = "/channels/{channel_id}", tag = "channels",
    params(("channel_id" = String, Path)),
    responses(
        (status = 200, body = ChannelBody),
        (status = 404, body = ErrorBody),
    ))]
async fn get_channel(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
) -> Result<Json<ChannelBody>, ApiError> {
    let channel = access::channel_to_read(&ctx, &caller, &channel_id).await?;
    Ok(Json(load_body(&ctx, &caller, channel).await?))
}

/// Get a channel by its slug (ignoring case). Private channels are 404 to
/// all but their owner and admins.
#[utoipa::path(get, path = "/channels/by-slug/{slug}", tag = "channels",
    params(("slug" = String, Path)),
    responses(
        (status = 200, body = ChannelBody),
        (status = 404, body = ErrorBody),
    ))]
async fn get_channel_by_slug(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<ChannelBody>, ApiError> {
    let channel = ctx
        .db
        .channel_by_slug(&slug)
        .await?
        .filter(|c| access::can_see_channel(&caller, c))
        .ok_or_else(|| ApiError::not_found("not_found", "channel not found"))?;
    Ok(Json(load_body(&ctx, &caller, channel).await?))
}

/// Change a channel's settings (owner or admin). Latency mode, segment
/// format, ladder, recording and reconnect window apply from the next
/// broadcast. Enqueues `channel.updated` when anything was asked to change.
#[utoipa::path(patch, path = "/channels/{channel_id}", tag = "channels",
    params(("channel_id" = String, Path)),
    request_body = UpdateChannelRequest,
    responses(
        (status = 200, body = ChannelBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not its owner or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Invalid field (`error.field` names it)", body = ErrorBody),
    ))]
async fn update_channel(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateChannelRequest>,
) -> Result<Json<ChannelBody>, ApiError> {
    let channel = access::channel_to_manage(&ctx, &caller, &channel_id).await?;
    let update = parse_update(&ctx, body)?;
    if update == ChannelUpdate::default() {
        return Ok(Json(load_body(&ctx, &caller, channel).await?));
    }
    let channel = ctx.db.update_channel(&channel_id, update).await?;
    let body = load_body(&ctx, &caller, channel).await?;
    channel_updated(&ctx, &body).await;
    Ok(Json(body))
}

/// Delete a channel with its live streams, VODs and clips, rows and media
/// (owner or admin). 409 while a broadcast is in progress: complete it (or
/// disable the channel) first.
#[utoipa::path(delete, path = "/channels/{channel_id}", tag = "channels",
    params(("channel_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A broadcast is in progress", body = ErrorBody),
    ))]
async fn delete_channel(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let channel = access::channel_to_manage(&ctx, &caller, &channel_id).await?;
    let body = load_body(&ctx, &caller, channel).await?;
    match ctx.live.delete_channel(&channel_id).await {
        Ok(_) => {
            channel_event(&ctx, WebhookEventType::ChannelDeleted, &body).await;
            Ok(StatusCode::NO_CONTENT)
        }
        Err(live::Error::Busy(_)) => Err(ApiError::conflict(
            "broadcast_in_progress",
            "the channel has a broadcast in progress; end it first",
        )),
        Err(live::Error::Control(e)) => Err(e.into()),
        // The rows are gone; `aethex storage sweep --delete` removes the
        // objects left behind (live already logged which).
        Err(live::Error::Storage(e)) => {
            tracing::warn!(error = %e, %channel_id, "channel deleted; some of its objects remain");
            channel_event(&ctx, WebhookEventType::ChannelDeleted, &body).await;
            Ok(StatusCode::NO_CONTENT)
        }
    }
}

/// Replace the channel's stream key (owner or admin). The old key stops
/// working at once (a broadcast in progress continues); the new one is
/// shown only in this response.
#[utoipa::path(post, path = "/channels/{channel_id}/reset-stream-key", tag = "channels",
    params(("channel_id" = String, Path)),
    responses(
        (status = 200, body = ChannelWithKeyBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not its owner or an admin, or suspended (admins only)", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn reset_stream_key(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
) -> Result<Json<ChannelWithKeyBody>, ApiError> {
    let channel = access::channel_to_manage(&ctx, &caller, &channel_id).await?;
    refuse_if_suspended(&caller, &channel, "reset its stream key")?;
    let stream_key = ctx.db.reset_stream_key(&channel_id).await?;
    let channel = ctx
        .db
        .channel(&channel_id)
        .await?
        .ok_or(control::Error::NotFound { what: "channel" })?;
    let body = load_body(&ctx, &caller, channel).await?;
    channel_updated(&ctx, &body).await;
    Ok(Json(ChannelWithKeyBody {
        channel: body,
        stream_key,
        rtmp_url: ctx.options().rtmp_url.clone(),
    }))
}

/// Disable a channel (owner or admin): publishes are refused, and a
/// broadcast in progress ends now, without a reconnect window. Idempotent.
/// An administrator's disable is a suspension: the owner cannot enable the
/// channel (or reset its stream key) again; only an administrator can.
#[utoipa::path(post, path = "/channels/{channel_id}/disable", tag = "channels",
    params(("channel_id" = String, Path)),
    responses(
        (status = 200, body = ChannelBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn disable_channel(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
) -> Result<Json<ChannelBody>, ApiError> {
    let before = access::channel_to_manage(&ctx, &caller, &channel_id).await?;
    let update = if caller.is_admin() {
        ChannelUpdate {
            suspended: Some(true),
            ..ChannelUpdate::default()
        }
    } else {
        ChannelUpdate {
            enabled: Some(false),
            ..ChannelUpdate::default()
        }
    };
    let channel = ctx.db.update_channel(&channel_id, update).await?;
    if caller.is_admin() && !before.suspended {
        tracing::info!(%channel_id, admin = ?caller.user_id(), "channel suspended");
    }
    // Ingest refuses the channel from now on; cut what is on air.
    if let Some(current) = current_live_stream(&ctx, &channel_id).await? {
        end_broadcast(&ctx, &current, live::EndReason::ChannelDisabled).await?;
    }
    let body = load_body(&ctx, &caller, channel).await?;
    if before.accepts_publishers() {
        channel_updated(&ctx, &body).await;
        channel_event(&ctx, WebhookEventType::ChannelDisabled, &body).await;
    }
    Ok(Json(body))
}

/// Enable a channel (owner or admin): it accepts publishes again.
/// Idempotent. An administrator's enable also lifts a suspension; a
/// suspended channel's owner gets 403.
#[utoipa::path(post, path = "/channels/{channel_id}/enable", tag = "channels",
    params(("channel_id" = String, Path)),
    responses(
        (status = 200, body = ChannelBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not its owner or an admin, or suspended (admins only)", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn enable_channel(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
) -> Result<Json<ChannelBody>, ApiError> {
    let before = access::channel_to_manage(&ctx, &caller, &channel_id).await?;
    refuse_if_suspended(&caller, &before, "enable it")?;
    let channel = ctx
        .db
        .update_channel(
            &channel_id,
            ChannelUpdate {
                enabled: Some(true),
                suspended: caller.is_admin().then_some(false),
                ..ChannelUpdate::default()
            },
        )
        .await?;
    let body = load_body(&ctx, &caller, channel).await?;
    if !before.accepts_publishers() {
        channel_updated(&ctx, &body).await;
        channel_event(&ctx, WebhookEventType::ChannelEnabled, &body).await;
    }
    Ok(Json(body))
}

/// Give the channel a new playback id (owner or admin). The old id stops
/// playing at once, and every playback token issued so far is revoked
/// (signed channels' viewers need new tokens, for the new id). Share the
/// new `playback_url`.
#[utoipa::path(post, path = "/channels/{channel_id}/rotate-playback-id", tag = "channels",
    params(("channel_id" = String, Path)),
    responses(
        (status = 200, body = ChannelBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn rotate_playback_id(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
) -> Result<Json<ChannelBody>, ApiError> {
    access::channel_to_manage(&ctx, &caller, &channel_id).await?;
    let channel = ctx.db.rotate_playback_id(&channel_id).await?;
    let body = load_body(&ctx, &caller, channel).await?;
    channel_updated(&ctx, &body).await;
    Ok(Json(body))
}

/// Revoke the channel's playback tokens (owner or admin): tokens issued
/// before now stop working at once, on every node, whoever signed them
/// (tokens without an `iat` claim too). The playback id stays.
#[utoipa::path(post, path = "/channels/{channel_id}/revoke-playback-tokens", tag = "channels",
    params(("channel_id" = String, Path)),
    responses(
        (status = 200, body = ChannelBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn revoke_playback_tokens(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(channel_id): ApiPath<String>,
) -> Result<Json<ChannelBody>, ApiError> {
    access::channel_to_manage(&ctx, &caller, &channel_id).await?;
    let channel = ctx.db.revoke_playback_tokens(&channel_id).await?;
    let body = load_body(&ctx, &caller, channel).await?;
    channel_updated(&ctx, &body).await;
    Ok(Json(body))
}
