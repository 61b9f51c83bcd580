//! Who may see and change what.
//!
//! * Admins may do everything.
//! * A channel's owner manages it and everything under it (stream key,
//!   live streams, VODs, clips of it, playback tokens).
//! * Everyone else, logged in or not, may *see* a channel that is not
//!   private (public channels are listed; unlisted ones only by id), its
//!   live streams, and its VODs and clips once ready. A clip's creator may
//!   also see, rename, export and delete it.
//! * Personal settings (API tokens, signing keys, webhooks) are their
//!   owner's; `control` scopes those queries by owner, and an admin acting
//!   on someone else's acts as its owner (`api_tokens::acting_owner`).
//!
//! A caller who may not see a resource gets the same 404 as for one that
//! does not exist, so ids of private things do not leak; one who may see
//! it but not change it gets 403; an anonymous caller trying to change
//! anything gets 401 before any lookup.

use control::{Channel, Clip, ClipStatus, LiveStream, Visibility, Vod, VodStatus};

use super::Ctx;
use super::caller::Caller;
use crate::ApiError;

fn not_found(what: &str) -> ApiError {
    ApiError::not_found("not_found", format!("{what} not found"))
}

fn forbidden(what: &str) -> ApiError {
    ApiError::forbidden(
        "forbidden",
        format!("only its owner or an admin may change this {what}"),
    )
}

/// Owner or admin.
pub(crate) fn can_manage(caller: &Caller, channel: &Channel) -> bool {
    caller.is_or_admin(&channel.owner_user_id)
}

/// Not private, or owner or admin.
pub(crate) fn can_see_channel(caller: &Caller, channel: &Channel) -> bool {
    channel.visibility != Visibility::Private || can_manage(caller, channel)
}

pub(crate) fn can_see_vod(caller: &Caller, channel: &Channel, vod: &Vod) -> bool {
    can_manage(caller, channel)
        || (channel.visibility != Visibility::Private && vod.status == VodStatus::Ready)
}

pub(crate) fn can_change_clip(caller: &Caller, channel: &Channel, clip: &Clip) -> bool {
    can_manage(caller, channel)
        || (caller.user_id().is_some() && clip.created_by_user_id.as_deref() == caller.user_id())
}

pub(crate) fn can_see_clip(caller: &Caller, channel: &Channel, clip: &Clip) -> bool {
    can_change_clip(caller, channel, clip)
        || (channel.visibility != Visibility::Private && clip.status == ClipStatus::Ready)
}

/// Why an access check on a loaded resource failed: 404 when the caller
/// may not even see it, else 403.
fn denied(visible: bool, what: &str) -> ApiError {
    if visible {
        forbidden(what)
    } else {
        not_found(what)
    }
}

async fn load_channel(ctx: &Ctx, channel_id: &str) -> Result<Channel, ApiError> {
    ctx.db
        .channel(channel_id)
        .await?
        .ok_or_else(|| not_found("channel"))
}

/// A channel the caller may see.
pub(crate) async fn channel_to_read(
    ctx: &Ctx,
    caller: &Caller,
    channel_id: &str,
) -> Result<Channel, ApiError> {
    let channel = load_channel(ctx, channel_id).await?;
    if can_see_channel(caller, &channel) {
        Ok(channel)
    } else {
        Err(not_found("channel"))
    }
}

/// A channel the caller may manage.
pub(crate) async fn channel_to_manage(
    ctx: &Ctx,
    caller: &Caller,
    channel_id: &str,
) -> Result<Channel, ApiError> {
    caller.require()?;
    let channel = load_channel(ctx, channel_id).await?;
    if can_manage(caller, &channel) {
        Ok(channel)
    } else {
        Err(denied(can_see_channel(caller, &channel), "channel"))
    }
}

/// A live stream the caller may see, with its channel.
pub(crate) async fn live_stream_to_read(
    ctx: &Ctx,
    caller: &Caller,
    live_stream_id: &str,
) -> Result<(LiveStream, Channel), ApiError> {
    let live_stream = ctx
        .db
        .live_stream(live_stream_id)
        .await?
        .ok_or_else(|| not_found("live stream"))?;
    let channel = load_channel(ctx, &live_stream.channel_id).await?;
    if can_see_channel(caller, &channel) {
        Ok((live_stream, channel))
    } else {
        Err(not_found("live stream"))
    }
}

/// A live stream whose channel the caller may manage.
pub(crate) async fn live_stream_to_manage(
    ctx: &Ctx,
    caller: &Caller,
    live_stream_id: &str,
) -> Result<(LiveStream, Channel), ApiError> {
    caller.require()?;
    let live_stream = ctx
        .db
        .live_stream(live_stream_id)
        .await?
        .ok_or_else(|| not_found("live stream"))?;
    let channel = load_channel(ctx, &live_stream.channel_id).await?;
    if can_manage(caller, &channel) {
        Ok((live_stream, channel))
    } else {
        Err(denied(can_see_channel(caller, &channel), "live stream"))
    }
}

async fn load_vod(ctx: &Ctx, vod_id: &str) -> Result<(Vod, Channel), ApiError> {
    let vod = ctx.db.vod(vod_id).await?.ok_or_else(|| not_found("VOD"))?;
    let channel = load_channel(ctx, &vod.channel_id).await?;
    Ok((vod, channel))
}

/// A VOD the caller may see, with its channel.
pub(crate) async fn vod_to_read(
    ctx: &Ctx,
    caller: &Caller,
    vod_id: &str,
) -> Result<(Vod, Channel), ApiError> {
    let (vod, channel) = load_vod(ctx, vod_id).await?;
    if can_see_vod(caller, &channel, &vod) {
        Ok((vod, channel))
    } else {
        Err(not_found("VOD"))
    }
}

/// A VOD whose channel the caller may manage.
pub(crate) async fn vod_to_manage(
    ctx: &Ctx,
    caller: &Caller,
    vod_id: &str,
) -> Result<(Vod, Channel), ApiError> {
    caller.require()?;
    let (vod, channel) = load_vod(ctx, vod_id).await?;
    if can_manage(caller, &channel) {
        Ok((vod, channel))
    } else {
        Err(denied(can_see_vod(caller, &channel, &vod), "VOD"))
    }
}

async fn load_clip(ctx: &Ctx, clip_id: &str) -> Result<(Clip, Channel), ApiError> {
    let clip = ctx
        .db
        .clip(clip_id)
        .await?
        .ok_or_else(|| not_found("clip"))?;
    let channel = load_channel(ctx, &clip.channel_id).await?;
    Ok((clip, channel))
}

/// A clip the caller may see, with its channel.
pub(crate) async fn clip_to_read(
    ctx: &Ctx,
    caller: &Caller,
    clip_id: &str,
) -> Result<(Clip, Channel), ApiError> {
    let (clip, channel) = load_clip(ctx, clip_id).await?;
    if can_see_clip(caller, &channel, &clip) {
        Ok((clip, channel))
    } else {
        Err(not_found("clip"))
    }
}

/// A clip the caller may change: its channel's owner, an admin, or its
/// creator.
pub(crate) async fn clip_to_change(
    ctx: &Ctx,
    caller: &Caller,
    clip_id: &str,
) -> Result<(Clip, Channel), ApiError> {
    caller.require()?;
    let (clip, channel) = load_clip(ctx, clip_id).await?;
    if can_change_clip(caller, &channel, &clip) {
        Ok((clip, channel))
    } else {
        Err(denied(can_see_clip(caller, &channel, &clip), "clip"))
    }
}
