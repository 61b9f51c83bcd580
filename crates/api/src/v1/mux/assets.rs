//! `/video/v1/assets`: Mux's assets, which are our recordings (VODs). Every
//! recording of a live stream is an asset: `preparing` with `is_live` while
//! recording, then `ready` (or `errored`). Assets cannot be created from a
//! URL or an upload here (this server records live streams only).

use axum::Json;
use axum::extract::State;
use control::{PageRequest, PlaybackObject, VodFilter, WebhookEventType};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::live_streams::{CreatePlaybackIdRequest, limit_as_invalid, policy_of};
use super::objects::{MuxAsset, MuxPlaybackId, asset as render};
use super::{Data, MuxErrorBody, asset_to_manage, data, invalid, owner_id};
use crate::ApiError;
use crate::v1::Ctx;
use crate::v1::caller::Caller;
use crate::v1::extract::{ApiPath, ApiQuery, OptionalJson};

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(list_assets, create_asset))
        .routes(routes!(get_asset, delete_asset))
        .routes(routes!(create_playback_id))
        .routes(routes!(get_playback_id, delete_playback_id))
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
    let policy = policy_of(body)?;
    let record = ctx
        .db
        .add_playback_id(&PlaybackObject::Asset(id), policy)
        .await
        .map_err(limit_as_invalid)?;
    Ok((StatusCode::CREATED, data(MuxPlaybackId::from(&record))))
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
    let ids = ctx.db.playback_ids_of(&PlaybackObject::Asset(id)).await?;
    let found = ids
        .iter()
        .find(|r| r.playback_id == playback_id)
        .ok_or_else(|| ApiError::not_found("not_found", "playback id not found"))?;
    Ok(data(MuxPlaybackId::from(found)))
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
