//! `/video/v1/assets`: Mux's assets, which are our recordings (VODs). Every
//! recording of a live stream is an asset: `preparing` with `is_live` while
//! recording, then `ready` (or `errored`). Assets cannot be created from a
//! URL or an upload here (this server records live streams only).

use axum::Json;
use axum::extract::State;
use control::{AssetFileName, PageRequest, PlaybackObject, VodFilter, WebhookEventType};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::live_streams::CreatePlaybackIdRequest;
use super::objects::{
    MuxAsset, MuxPlaybackId, MuxStaticRendition, asset as render, static_rendition,
    static_rendition_name,
};
use super::{
    Data, MuxErrorBody, add_playback_id, asset_to_manage, data, invalid, listed_playback_id,
    owner_id,
};
use crate::ApiError;
use crate::v1::Ctx;
use crate::v1::caller::Caller;
use crate::v1::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(list_assets, create_asset))
        .routes(routes!(get_asset, delete_asset))
        .routes(routes!(create_playback_id))
        .routes(routes!(get_playback_id, delete_playback_id))
        .routes(routes!(create_static_rendition))
        .routes(routes!(delete_static_rendition))
        .routes(routes!(update_mp4_support))
}

/// `POST /video/v1/assets/{id}/static-renditions`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateStaticRenditionRequest {
    /// `highest` (the source rendition as MP4) or `audio-only` (M4A).
    pub resolution: String,
}

/// Records a static rendition event (data names the file).
async fn rendition_event(
    ctx: &Ctx,
    vod: &control::Vod,
    channel: &control::Channel,
    event_type: WebhookEventType,
    name: AssetFileName,
) {
    let data = serde_json::json!({
        "vod_id": vod.vod_id,
        "live_stream_id": vod.live_stream_id,
        "channel_id": vod.channel_id,
        "name": name.as_str(),
    });
    if let Err(e) = ctx
        .db
        .enqueue_webhook_event(
            event_type,
            &channel.owner_user_id,
            Some(&channel.channel_id),
            data,
        )
        .await
    {
        tracing::warn!(error = %e, %event_type, "could not enqueue a static rendition event");
    }
}

/// Asks for files of a recording; announces new static renditions.
async fn request_files(
    ctx: &Ctx,
    vod: &control::Vod,
    channel: &control::Channel,
    names: &[AssetFileName],
) -> Result<Vec<control::AssetFile>, ApiError> {
    let before = ctx.db.asset_files(&vod.vod_id).await?;
    let files = ctx.db.request_asset_files(&vod.vod_id, names).await?;
    for name in names {
        if !before.iter().any(|f| f.name == *name) {
            rendition_event(
                ctx,
                vod,
                channel,
                WebhookEventType::StaticRenditionCreated,
                *name,
            )
            .await;
        }
    }
    ctx.live.wake_asset_file_maker();
    Ok(files)
}

/// Removes files of a recording (rows and objects); announces them.
async fn remove_files(
    ctx: &Ctx,
    vod: &control::Vod,
    channel: &control::Channel,
    names: &[AssetFileName],
) -> Result<usize, ApiError> {
    let mut removed = 0;
    for name in names {
        match ctx.db.delete_asset_file(&vod.vod_id, *name).await {
            Ok(()) => {
                removed += 1;
                let key = storage::keys::asset_file(&vod.live_stream_id, name.as_str());
                if let Err(e) = ctx.media.delete(&key).await {
                    tracing::warn!(error = %e, %key, "static rendition deleted; its object remains (`aethex storage sweep` finds it)");
                }
                rendition_event(
                    ctx,
                    vod,
                    channel,
                    WebhookEventType::StaticRenditionDeleted,
                    *name,
                )
                .await;
            }
            Err(control::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(removed)
}

/// Ask for a static rendition of an asset: made once the recording is
/// ready (`preparing` until then), then served at
/// `/{PLAYBACK_ID}/highest.mp4` or `/{PLAYBACK_ID}/audio.m4a`.
#[utoipa::path(post, path = "/video/v1/assets/{ASSET_ID}/static-renditions", tag = "mux",
    params(("ASSET_ID" = String, Path)),
    request_body = CreateStaticRenditionRequest,
    responses(
        (status = 201, body = Data<MuxStaticRendition>),
        (status = 400, body = MuxErrorBody),
        (status = 404, body = MuxErrorBody),
    ))]
async fn create_static_rendition(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateStaticRenditionRequest>,
) -> Result<(StatusCode, Json<Data<MuxStaticRendition>>), ApiError> {
    let (vod, channel) = asset_to_manage(&ctx, &caller, &id).await?;
    let name = static_rendition_name(&body.resolution).ok_or_else(|| {
        invalid(format!(
            "resolution must be highest or audio-only, not {:?} (other resolutions would need re-encoding)",
            body.resolution
        ))
    })?;
    let files = request_files(&ctx, &vod, &channel, &[name]).await?;
    let file = files
        .iter()
        .find(|f| f.name == name)
        .and_then(static_rendition)
        .ok_or_else(|| ApiError::Internal("the requested file is not listed".into()))?;
    Ok((StatusCode::CREATED, data(file)))
}

/// Delete a static rendition of an asset (its file too).
#[utoipa::path(delete, path = "/video/v1/assets/{ASSET_ID}/static-renditions/{STATIC_RENDITION_ID}", tag = "mux",
    params(("ASSET_ID" = String, Path), ("STATIC_RENDITION_ID" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = MuxErrorBody),
    ))]
async fn delete_static_rendition(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath((id, rendition_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (vod, channel) = asset_to_manage(&ctx, &caller, &id).await?;
    let not_found = || ApiError::not_found("not_found", "static rendition not found");
    let name = static_rendition_name(&rendition_id).ok_or_else(not_found)?;
    if remove_files(&ctx, &vod, &channel, &[name]).await? == 0 {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /video/v1/assets/{id}/mp4-support`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct Mp4SupportRequest {
    /// `none`, `standard`, `capped-1080p`, `audio-only` or
    /// `audio-only,capped-1080p`.
    pub mp4_support: String,
}

/// Set an asset's MP4 support (Mux's older form of static renditions):
/// `standard` and `capped-1080p` make `highest.mp4` (the source is never
/// re-encoded, so no cap applies), `audio-only` makes `audio.m4a`, `none`
/// removes both.
#[utoipa::path(put, path = "/video/v1/assets/{ASSET_ID}/mp4-support", tag = "mux",
    params(("ASSET_ID" = String, Path)),
    request_body = Mp4SupportRequest,
    responses(
        (status = 200, body = Data<MuxAsset>),
        (status = 400, body = MuxErrorBody),
        (status = 404, body = MuxErrorBody),
    ))]
async fn update_mp4_support(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Mp4SupportRequest>,
) -> Result<Json<Data<MuxAsset>>, ApiError> {
    let (vod, channel) = asset_to_manage(&ctx, &caller, &id).await?;
    let (keep, drop): (&[AssetFileName], &[AssetFileName]) = match body.mp4_support.as_str() {
        "none" => (&[], &[AssetFileName::HighestMp4, AssetFileName::AudioM4a]),
        "standard" | "capped-1080p" => (&[AssetFileName::HighestMp4], &[AssetFileName::AudioM4a]),
        "audio-only" => (&[AssetFileName::AudioM4a], &[AssetFileName::HighestMp4]),
        "audio-only,capped-1080p" => (&[AssetFileName::HighestMp4, AssetFileName::AudioM4a], &[]),
        other => {
            return Err(invalid(format!(
                "mp4_support {other:?} is not one of Mux's values"
            )));
        }
    };
    remove_files(&ctx, &vod, &channel, drop).await?;
    if !keep.is_empty() {
        request_files(&ctx, &vod, &channel, keep).await?;
    }
    Ok(data(render(&ctx.db, &vod, Some(&channel)).await?))
}

/// `GET /video/v1/assets` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListAssetsQuery {
    /// Items per page, 1 to 100. Default 25.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only the recordings of this live stream.
    pub live_stream_id: Option<String>,
    /// Not supported (assets are not uploaded here): no asset matches.
    pub upload_id: Option<String>,
}

/// A page of assets.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AssetPage {
    pub data: Vec<MuxAsset>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// List the caller's assets, newest first, by cursor.
#[utoipa::path(get, path = "/video/v1/assets", tag = "mux",
    params(ListAssetsQuery),
    responses(
        (status = 200, body = AssetPage),
        (status = 400, body = MuxErrorBody),
        (status = 401, body = MuxErrorBody),
    ))]
async fn list_assets(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListAssetsQuery>,
) -> Result<Json<AssetPage>, ApiError> {
    let owner = owner_id(&caller)?;
    let page = PageRequest::new(query.limit, query.cursor.as_deref())
        .map_err(|e| invalid(e.to_string()))?;
    if query.upload_id.is_some() {
        return Ok(Json(AssetPage {
            data: Vec::new(),
            next_cursor: None,
        }));
    }
    let filter = VodFilter {
        channel_id: query.live_stream_id.clone(),
        owner_user_id: Some(owner),
        ..VodFilter::default()
    };
    let page = ctx.db.list_vods_page(&filter, &page).await?;
    let mut out = Vec::with_capacity(page.items.len());
    for vod in &page.items {
        let channel = ctx.db.channel(&vod.channel_id).await?;
        out.push(render(&ctx.db, vod, channel.as_ref()).await?);
    }
    Ok(Json(AssetPage {
        data: out,
        next_cursor: page.next_cursor,
    }))
}

/// Refused: assets come from recording live streams here; uploads and
/// URL ingest are not supported.
#[utoipa::path(post, path = "/video/v1/assets", tag = "mux",
    responses((status = 400, body = MuxErrorBody)))]
async fn create_asset(caller: Caller) -> Result<StatusCode, ApiError> {
    caller.require()?;
    Err(invalid(
        "creating assets from a URL or an upload is not supported by this server; every recording of a live stream is an asset",
    ))
}

/// Retrieve an asset.
#[utoipa::path(get, path = "/video/v1/assets/{ASSET_ID}", tag = "mux",
    params(("ASSET_ID" = String, Path)),
    responses(
        (status = 200, body = Data<MuxAsset>),
        (status = 404, body = MuxErrorBody),
    ))]
async fn get_asset(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Data<MuxAsset>>, ApiError> {
    let (vod, channel) = asset_to_manage(&ctx, &caller, &id).await?;
    Ok(data(render(&ctx.db, &vod, Some(&channel)).await?))
}

/// Delete an asset (a finished recording; 400 while it is recording).
#[utoipa::path(delete, path = "/video/v1/assets/{ASSET_ID}", tag = "mux",
    params(("ASSET_ID" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, body = MuxErrorBody),
        (status = 404, body = MuxErrorBody),
    ))]
async fn delete_asset(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let (vod, channel) = asset_to_manage(&ctx, &caller, &id).await?;
    let data_before = serde_json::json!({
        "vod_id": vod.vod_id,
        "live_stream_id": vod.live_stream_id,
        "channel_id": vod.channel_id,
        "status": vod.status.as_str(),
    });
    match ctx.live.delete_vod(&id).await {
        Ok(_) => {}
        Err(live::Error::Busy(_)) => {
            return Err(invalid(
                "the asset is still recording; complete the live stream first",
            ));
        }
        Err(live::Error::Control(control::Error::InvalidTransition { .. })) => {
            return Err(invalid(
                "the asset is still recording; complete the live stream first",
            ));
        }
        Err(live::Error::Control(e)) => return Err(e.into()),
        Err(live::Error::Storage(e)) => {
            tracing::warn!(error = %e, vod_id = %id, "asset deleted; some of its objects remain");
        }
    }
    if let Err(e) = ctx
        .db
        .enqueue_webhook_event(
            WebhookEventType::VodDeleted,
            &channel.owner_user_id,
            Some(&channel.channel_id),
            data_before,
        )
        .await
    {
        tracing::warn!(error = %e, vod_id = %id, "could not enqueue vod.deleted");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Add a playback id to an asset.
#[utoipa::path(post, path = "/video/v1/assets/{ASSET_ID}/playback-ids", tag = "mux",
    params(("ASSET_ID" = String, Path)),
    request_body = CreatePlaybackIdRequest,
    responses(
        (status = 201, body = Data<MuxPlaybackId>),
        (status = 400, body = MuxErrorBody),
        (status = 404, body = MuxErrorBody),
    ))]
async fn create_playback_id(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<Option<CreatePlaybackIdRequest>>,
) -> Result<(StatusCode, Json<Data<MuxPlaybackId>>), ApiError> {
    asset_to_manage(&ctx, &caller, &id).await?;
    let added = add_playback_id(&ctx, PlaybackObject::Asset(id), body).await?;
    Ok((StatusCode::CREATED, data(added)))
}

/// One playback id of an asset.
#[utoipa::path(get, path = "/video/v1/assets/{ASSET_ID}/playback-ids/{PLAYBACK_ID}", tag = "mux",
    params(("ASSET_ID" = String, Path), ("PLAYBACK_ID" = String, Path)),
    responses(
        (status = 200, body = Data<MuxPlaybackId>),
        (status = 404, body = MuxErrorBody),
    ))]
async fn get_playback_id(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath((id, playback_id)): ApiPath<(String, String)>,
) -> Result<Json<Data<MuxPlaybackId>>, ApiError> {
    asset_to_manage(&ctx, &caller, &id).await?;
    let found = listed_playback_id(&ctx, PlaybackObject::Asset(id), &playback_id).await?;
    Ok(data(found))
}

/// Delete a playback id of an asset.
#[utoipa::path(delete, path = "/video/v1/assets/{ASSET_ID}/playback-ids/{PLAYBACK_ID}", tag = "mux",
    params(("ASSET_ID" = String, Path), ("PLAYBACK_ID" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = MuxErrorBody),
    ))]
async fn delete_playback_id(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath((id, playback_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    asset_to_manage(&ctx, &caller, &id).await?;
    ctx.db
        .delete_playback_id(&PlaybackObject::Asset(id), &playback_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
