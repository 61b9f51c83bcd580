//! `/video/v1/live-streams`: Mux's live streams, which are our channels.

use axum::Json;
use axum::extract::State;
use control::{
    ChannelUpdate, LatencyMode, NewChannel, NewSimulcastTarget, PlaybackObject, PlaybackPolicy,
    RECONNECT_WINDOW_MAX_S, WebhookEventType,
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::objects::{
    MAX_CONTINUOUS_DEFAULT_S, MuxLiveStream, MuxPlaybackId, MuxSettings, MuxSimulcastTarget,
    live_stream as render, parse_policies,
};
use super::{
    Data, EmptyData, MuxErrorBody, PageNumberQuery, add_playback_id, channel_to_manage, data,
    empty_data, invalid, listed_playback_id, owner_id,
};
use crate::ApiError;
use crate::v1::Ctx;
use crate::v1::caller::Caller;
use crate::v1::channels::{channel_event, current_live_stream, load_body, new_owner};
use crate::v1::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use crate::v1::live_streams::end_broadcast;

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(create_live_stream, list_live_streams))
        .routes(routes!(
            get_live_stream,
            update_live_stream,
            delete_live_stream
        ))
        .routes(routes!(reset_stream_key))
        .routes(routes!(complete))
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(create_playback_id))
        .routes(routes!(get_playback_id, delete_playback_id))
        .routes(routes!(
            set_new_asset_static_renditions,
            delete_new_asset_static_renditions
        ))
        .routes(routes!(create_simulcast_target))
        .routes(routes!(get_simulcast_target, delete_simulcast_target))
}

/// Policies as Mux clients send them: `playback_policy` (a string or a
/// list, older clients) or `playback_policies`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    #[default]
    #[serde(skip)]
    None,
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
            OneOrMany::None => Vec::new(),
        }
    }
}

fn policies(a: &Option<OneOrMany>, b: &Option<OneOrMany>) -> Result<Vec<PlaybackPolicy>, ApiError> {
    let mut all = Vec::new();
    for p in [a, b].into_iter().flatten() {
        all.extend(p.list());
    }
    if all.iter().any(|p| p == "drm") {
        return Err(invalid(
            "playback policy drm is not supported by this server (no DRM license service)",
        ));
    }
    let mut out: Vec<PlaybackPolicy> = Vec::new();
    for p in parse_policies(&all)
        .ok_or_else(|| invalid("playback_policies must be a list of \"public\" or \"signed\""))?
    {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Mux's `new_asset_settings` (the parts this server reads; the rest is
/// kept and echoed).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct NewAssetSettings {
    #[schema(value_type = Option<Vec<String>>)]
    pub playback_policy: Option<OneOrMany>,
    #[schema(value_type = Option<Vec<String>>)]
    pub playback_policies: Option<OneOrMany>,
    pub mp4_support: Option<String>,
    pub passthrough: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub static_renditions: Option<Vec<Value>>,
}

/// A simulcast target in a request.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SimulcastTargetRequest {
    /// `rtmp://` or `rtmps://`.
    pub url: String,
    pub stream_key: Option<String>,
    pub passthrough: Option<String>,
}

/// `POST /video/v1/live-streams`. Unknown fields are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct CreateLiveStreamRequest {
    #[schema(value_type = Option<Vec<String>>)]
    pub playback_policy: Option<OneOrMany>,
    #[schema(value_type = Option<Vec<String>>)]
    pub playback_policies: Option<OneOrMany>,
    pub new_asset_settings: Option<NewAssetSettings>,
    /// Seconds, 0 to 1800. Default 60.
    pub reconnect_window: Option<f64>,
    /// `low`, `reduced` or `standard` (default).
    pub latency_mode: Option<String>,
    pub reduced_latency: Option<bool>,
    pub low_latency: Option<bool>,
    pub passthrough: Option<String>,
    pub test: Option<bool>,
    /// Seconds, 60 to 43200.
    pub max_continuous_duration: Option<u64>,
    pub audio_only: Option<bool>,
    pub reconnect_slate_url: Option<String>,
    pub use_slate_for_standard_latency: Option<bool>,
    pub simulcast_targets: Option<Vec<SimulcastTargetRequest>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub embedded_subtitles: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub generated_subtitles: Option<Vec<Value>>,
}

/// `PATCH /video/v1/live-streams/{id}`. Unknown fields are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct UpdateLiveStreamRequest {
    pub latency_mode: Option<String>,
    pub reconnect_window: Option<f64>,
    pub max_continuous_duration: Option<u64>,
    pub passthrough: Option<String>,
    pub reconnect_slate_url: Option<String>,
    pub use_slate_for_standard_latency: Option<bool>,
    pub new_asset_settings: Option<NewAssetSettings>,
}

const PASSTHROUGH_MAX: usize = 255;

fn latency(mode: &str) -> Result<LatencyMode, ApiError> {
    match mode {
        "low" => Ok(LatencyMode::Low),
        "reduced" | "standard" => Ok(LatencyMode::Standard),
        other => Err(invalid(format!(
            "latency_mode must be low, reduced or standard, not {other:?}"
        ))),
    }
}

fn reconnect_window(value: f64) -> Result<u32, ApiError> {
    if !(0.0..=f64::from(RECONNECT_WINDOW_MAX_S)).contains(&value) {
        return Err(invalid(format!(
            "reconnect_window must be between 0 and {RECONNECT_WINDOW_MAX_S} seconds"
        )));
    }
    Ok(value.ceil() as u32)
}

fn max_duration(value: u64) -> Result<u64, ApiError> {
    if !(60..=MAX_CONTINUOUS_DEFAULT_S).contains(&value) {
        return Err(invalid(
            "max_continuous_duration must be between 60 and 43200 seconds",
        ));
    }
    Ok(value)
}

fn passthrough(value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(p) if p.len() > PASSTHROUGH_MAX => Err(invalid(format!(
            "passthrough must be at most {PASSTHROUGH_MAX} bytes"
        ))),
        other => Ok(other),
    }
}

/// What `new_asset_settings` changes: the recordings' playback policies
/// and the echoed settings.
fn apply_new_asset_settings(
    settings: &mut MuxSettings,
    update: &mut ChannelUpdate,
    new: NewAssetSettings,
) -> Result<(), ApiError> {
    let policies = policies(&new.playback_policy, &new.playback_policies)?;
    if let Some(mp4) = &new.mp4_support
        && !matches!(
            mp4.as_str(),
            "none" | "standard" | "capped-1080p" | "audio-only" | "audio-only,capped-1080p"
        )
    {
        return Err(invalid(format!(
            "mp4_support {mp4:?} is not one of Mux's values"
        )));
    }
    let mut echo = serde_json::Map::new();
    if let Some(mp4) = new.mp4_support {
        echo.insert("mp4_support".into(), mp4.into());
    }
    if let Some(p) = passthrough(new.passthrough)? {
        echo.insert("passthrough".into(), p.into());
    }
    if let Some(s) = new.static_renditions {
        echo.insert("static_renditions".into(), Value::Array(s));
    }
    settings.new_asset_settings = Some(Value::Object(echo));
    update.new_asset_playback_policies = Some(policies);
    Ok(())
}

fn settings_text(settings: &MuxSettings) -> Result<String, ApiError> {
    serde_json::to_string(settings).map_err(|e| ApiError::Internal(e.to_string()))
}

async fn respond(ctx: &Ctx, channel: &control::Channel) -> Result<MuxLiveStream, ApiError> {
    Ok(render(&ctx.db, channel).await?)
}

/// Refuses a simulcast target the outbound-address policy would never
/// connect to (loopback, private, link-local, `localhost`, ...), as webhook
/// URLs are, so that restreaming cannot be pointed at internal services.
fn check_target(ctx: &Ctx, url: &str) -> Result<(), ApiError> {
    // `rtmp://` is not a scheme the URL standard knows, so its host is
    // opaque text (an IP literal would not be read as an address): judge
    // the same authority as an `http://` URL.
    let url = url.trim();
    let as_http = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("rtmp") => format!("http://{rest}"),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("rtmps") => format!("https://{rest}"),
        _ => url.to_owned(),
    };
    crate::v1::webhooks::check_destination(ctx, &as_http).map_err(|e| invalid(e.to_string()))
}

/// A fresh slug for a live stream made here (Mux's have no slug).
fn new_slug() -> String {
    // UUIDv7's last 62 bits are random.
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("live-{}", &id[id.len() - 14..])
}

/// Create a live stream (Mux's `POST /video/v1/live-streams`): a channel
/// owned by the caller, with Mux's reconnect semantics. Answers 201 with
/// the live stream, its stream key and playback ids.
#[utoipa::path(post, path = "/video/v1/live-streams", tag = "mux",
    request_body = CreateLiveStreamRequest,
    responses(
        (status = 201, body = Data<MuxLiveStream>),
        (status = 400, body = MuxErrorBody),
        (status = 401, body = MuxErrorBody),
        (status = 403, body = MuxErrorBody),
    ))]
async fn create_live_stream(
    State(ctx): State<Ctx>,
    caller: Caller,
    OptionalJson(body): OptionalJson<Option<CreateLiveStreamRequest>>,
) -> Result<(StatusCode, Json<Data<MuxLiveStream>>), ApiError> {
    let body = body.unwrap_or_default();
    let owner_user_id = new_owner(&ctx, &caller, None).await?;
    // Validate everything before creating anything.
    let live_policies = policies(&body.playback_policy, &body.playback_policies)?;
    let mode = match (&body.latency_mode, body.low_latency, body.reduced_latency) {
        (Some(m), _, _) => m.clone(),
        (None, Some(true), _) => "low".to_owned(),
        (None, _, Some(true)) => "reduced".to_owned(),
        _ => "standard".to_owned(),
    };
    let latency_mode = latency(&mode)?;
    let mut settings = MuxSettings {
        passthrough: passthrough(body.passthrough)?,
        test: body.test.unwrap_or(false),
        audio_only: body.audio_only.unwrap_or(false),
        max_continuous_duration: body.max_continuous_duration.map(max_duration).transpose()?,
        latency_mode: Some(mode),
        new_asset_settings: None,
        reconnect_slate_url: body.reconnect_slate_url,
        use_slate_for_standard_latency: body.use_slate_for_standard_latency.unwrap_or(false),
    };
    let mut update = ChannelUpdate {
        reconnect_window_s: Some(reconnect_window(body.reconnect_window.unwrap_or(60.0))?),
        reconnect_after_unpublish: Some(true),
        ..ChannelUpdate::default()
    };
    if let Some(new) = body.new_asset_settings {
        apply_new_asset_settings(&mut settings, &mut update, new)?;
    }
    let subtitles = body
        .embedded_subtitles
        .iter()
        .chain(&body.generated_subtitles);
    if subtitles.flatten().next().is_some() {
        return Err(invalid(
            "embedded_subtitles and generated_subtitles are not supported by this server",
        ));
    }
    let targets = body.simulcast_targets.unwrap_or_default();
    for t in &targets {
        check_target(&ctx, &t.url)?;
    }
    if targets.len() as u32 > control::SIMULCAST_TARGETS_MAX {
        return Err(invalid(format!(
            "at most {} simulcast targets",
            control::SIMULCAST_TARGETS_MAX
        )));
    }
    // The channel's own playback id is the first policy's; a second
    // policy gets a further id. No policy: the own id is not listed, and
    // it is signed so that nothing plays without a token.
    let (own_policy, listed) = match live_policies.first() {
        Some(p) => (*p, true),
        None => (PlaybackPolicy::Signed, false),
    };
    update.playback_policy = Some(own_policy);
    update.playback_id_listed = Some(listed);
    update.mux_settings = Some(settings_text(&settings)?);
    let title = settings
        .passthrough
        .clone()
        .filter(|p| {
            !p.trim().is_empty() && p.chars().count() <= 200 && !p.chars().any(char::is_control)
        })
        .unwrap_or_else(|| "Live stream".to_owned());
    let mut created = None;
    for _ in 0..3 {
        match ctx
            .db
            .create_channel(NewChannel {
                owner_user_id: owner_user_id.clone(),
                slug: new_slug(),
                title: title.clone(),
                latency_mode,
                segment_format: None,
                ladder: None,
            })
            .await
        {
            Ok(c) => {
                created = Some(c);
                break;
            }
            Err(control::Error::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let created = created.ok_or_else(|| ApiError::Internal("no free slug".into()))?;
    let channel_id = created.channel.channel_id.clone();
    let result = async {
        let channel = ctx.db.update_channel(&channel_id, update).await?;
        for extra in live_policies.iter().skip(1) {
            ctx.db
                .add_playback_id(&PlaybackObject::LiveStream(channel_id.clone()), *extra)
                .await?;
        }
        for t in targets {
            ctx.db
                .create_simulcast_target(
                    &channel_id,
                    NewSimulcastTarget {
                        url: t.url,
                        stream_key: t.stream_key,
                        passthrough: t.passthrough.unwrap_or_default(),
                    },
                )
                .await?;
        }
        Ok::<_, control::Error>(channel)
    }
    .await;
    let channel = match result {
        Ok(channel) => channel,
        Err(e) => {
            if let Err(delete) = ctx.db.delete_channel(&channel_id).await {
                tracing::warn!(error = %delete, %channel_id, "could not remove a live stream whose settings failed");
            }
            return Err(match e {
                control::Error::Invalid { field, message } => invalid(format!("{field} {message}")),
                e => e.into(),
            });
        }
    };
    let body = load_body(&ctx, &caller, channel.clone()).await?;
    channel_event(&ctx, WebhookEventType::ChannelCreated, &body).await;
    Ok((StatusCode::CREATED, data(respond(&ctx, &channel).await?)))
}

/// `GET /video/v1/live-streams` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListLiveStreamsQuery {
    /// Items per page, 1 to 100. Default 25.
    pub limit: Option<u32>,
    /// Page number from 1.
    pub page: Option<u32>,
    /// `idle`, `active` or `disabled`.
    pub status: Option<String>,
    /// Only the live stream with this stream key.
    pub stream_key: Option<String>,
}

/// List the caller's live streams, newest first, by page (an empty page
/// past the end).
#[utoipa::path(get, path = "/video/v1/live-streams", tag = "mux",
    params(ListLiveStreamsQuery),
    responses(
        (status = 200, body = Data<Vec<MuxLiveStream>>),
        (status = 400, body = MuxErrorBody),
        (status = 401, body = MuxErrorBody),
    ))]
async fn list_live_streams(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListLiveStreamsQuery>,
) -> Result<Json<Data<Vec<MuxLiveStream>>>, ApiError> {
    let owner = owner_id(&caller)?;
    let (limit, offset) = PageNumberQuery {
        limit: query.limit,
        page: query.page,
    }
    .window()?;
    if let Some(s) = &query.status
        && !matches!(s.as_str(), "idle" | "active" | "disabled")
    {
        return Err(invalid("status must be idle, active or disabled"));
    }
    let channels = match &query.stream_key {
        Some(key) => {
            let found = ctx
                .db
                .channel_by_stream_key(key)
                .await?
                .filter(|c| c.owner_user_id == owner);
            let mut out = Vec::new();
            if let Some(c) = found
                && offset == 0
            {
                let current = current_live_stream(&ctx, &c.channel_id).await?;
                let status = super::objects::live_stream_status(&c, current.as_ref());
                if query.status.as_deref().is_none_or(|s| s == status) {
                    out.push(c);
                }
            }
            out
        }
        None => {
            ctx.db
                .list_channels_by_offset(&owner, query.status.as_deref(), limit, offset)
                .await?
        }
    };
    let mut out = Vec::with_capacity(channels.len());
    for c in &channels {
        out.push(respond(&ctx, c).await?);
    }
    Ok(data(out))
}

/// Retrieve a live stream.
#[utoipa::path(get, path = "/video/v1/live-streams/{LIVE_STREAM_ID}", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path)),
    responses(
        (status = 200, body = Data<MuxLiveStream>),
        (status = 401, body = MuxErrorBody),
        (status = 404, body = MuxErrorBody),
    ))]
async fn get_live_stream(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Data<MuxLiveStream>>, ApiError> {
    let channel = channel_to_manage(&ctx, &caller, &id).await?;
    Ok(data(respond(&ctx, &channel).await?))
}

/// Update a live stream's settings.
#[utoipa::path(patch, path = "/video/v1/live-streams/{LIVE_STREAM_ID}", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path)),
    request_body = UpdateLiveStreamRequest,
    responses(
        (status = 200, body = Data<MuxLiveStream>),
        (status = 400, body = MuxErrorBody),
        (status = 404, body = MuxErrorBody),
    ))]
async fn update_live_stream(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<Option<UpdateLiveStreamRequest>>,
) -> Result<Json<Data<MuxLiveStream>>, ApiError> {
    let channel = channel_to_manage(&ctx, &caller, &id).await?;
    let body = body.unwrap_or_default();
    let mut settings = MuxSettings::of(&channel);
    let mut update = ChannelUpdate::default();
    if let Some(mode) = body.latency_mode {
        update.latency_mode = Some(latency(&mode)?);
        settings.latency_mode = Some(mode);
    }
    if let Some(w) = body.reconnect_window {
        update.reconnect_window_s = Some(reconnect_window(w)?);
    }
    if let Some(d) = body.max_continuous_duration {
        settings.max_continuous_duration = Some(max_duration(d)?);
    }
    if body.passthrough.is_some() {
        settings.passthrough = passthrough(body.passthrough)?;
    }
    if body.reconnect_slate_url.is_some() {
        settings.reconnect_slate_url = body.reconnect_slate_url;
    }
    if let Some(s) = body.use_slate_for_standard_latency {
        settings.use_slate_for_standard_latency = s;
    }
    if let Some(new) = body.new_asset_settings {
        apply_new_asset_settings(&mut settings, &mut update, new)?;
    }
    update.mux_settings = Some(settings_text(&settings)?);
    let channel = ctx.db.update_channel(&id, update).await?;
    let native = load_body(&ctx, &caller, channel.clone()).await?;
    channel_event(&ctx, WebhookEventType::ChannelUpdated, &native).await;
    Ok(data(respond(&ctx, &channel).await?))
}

/// Delete a live stream. A broadcast in progress is ended first; its
/// recordings (assets) stay until deleted.
#[utoipa::path(delete, path = "/video/v1/live-streams/{LIVE_STREAM_ID}", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = MuxErrorBody),
    ))]
async fn delete_live_stream(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let channel = channel_to_manage(&ctx, &caller, &id).await?;
    if let Some(current) = current_live_stream(&ctx, &id).await? {
        end_broadcast(&ctx, &current, live::EndReason::LiveStreamDeleted).await?;
    }
    let native = load_body(&ctx, &caller, channel).await?;
    match ctx.live.delete_channel(&id).await {
        Ok(_) => {}
        Err(live::Error::Busy(_)) => {
            return Err(ApiError::conflict(
                "broadcast_in_progress",
                "the live stream is still ending; try again",
            ));
        }
        Err(live::Error::Control(e)) => return Err(e.into()),
        Err(live::Error::Storage(e)) => {
            tracing::warn!(error = %e, channel_id = %id, "live stream deleted; some of its objects remain");
        }
    }
    channel_event(&ctx, WebhookEventType::ChannelDeleted, &native).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the stream key; the old one stops working at once.
#[utoipa::path(post, path = "/video/v1/live-streams/{LIVE_STREAM_ID}/reset-stream-key", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path)),
    responses(
        (status = 201, body = Data<MuxLiveStream>),
        (status = 403, body = MuxErrorBody),
        (status = 404, body = MuxErrorBody),
    ))]
async fn reset_stream_key(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<Data<MuxLiveStream>>), ApiError> {
    let channel = channel_to_manage(&ctx, &caller, &id).await?;
    if channel.suspended && !caller.is_admin() {
        return Err(ApiError::forbidden(
            "suspended",
            "the live stream is suspended by an administrator",
        ));
    }
    ctx.db.reset_stream_key(&id).await?;
    let channel = channel_to_manage(&ctx, &caller, &id).await?;
    let native = load_body(&ctx, &caller, channel.clone()).await?;
    channel_event(&ctx, WebhookEventType::ChannelUpdated, &native).await;
    Ok((StatusCode::CREATED, data(respond(&ctx, &channel).await?)))
}

/// End the broadcast in progress now, without waiting for the reconnect
/// window; the stream becomes idle (its recording is finished).
#[utoipa::path(put, path = "/video/v1/live-streams/{LIVE_STREAM_ID}/complete", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path)),
    responses(
        (status = 200, body = EmptyData),
        (status = 404, body = MuxErrorBody),
    ))]
async fn complete(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EmptyData>, ApiError> {
    channel_to_manage(&ctx, &caller, &id).await?;
    if let Some(current) = current_live_stream(&ctx, &id).await? {
        end_broadcast(&ctx, &current, live::EndReason::Requested).await?;
    }
    Ok(empty_data())
}

/// Refuse publishers from now on; a broadcast in progress ends at once.
#[utoipa::path(put, path = "/video/v1/live-streams/{LIVE_STREAM_ID}/disable", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path)),
    responses(
        (status = 200, body = EmptyData),
        (status = 404, body = MuxErrorBody),
    ))]
async fn disable(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EmptyData>, ApiError> {
    let before = channel_to_manage(&ctx, &caller, &id).await?;
    let channel = ctx
        .db
        .update_channel(
            &id,
            ChannelUpdate {
                enabled: Some(false),
                ..ChannelUpdate::default()
            },
        )
        .await?;
    if let Some(current) = current_live_stream(&ctx, &id).await? {
        end_broadcast(&ctx, &current, live::EndReason::ChannelDisabled).await?;
    }
    if before.enabled {
        let native = load_body(&ctx, &caller, channel).await?;
        channel_event(&ctx, WebhookEventType::ChannelDisabled, &native).await;
    }
    Ok(empty_data())
}

/// Accept publishers again. A stream suspended by an administrator stays
/// refused (403) until an administrator enables it.
#[utoipa::path(put, path = "/video/v1/live-streams/{LIVE_STREAM_ID}/enable", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path)),
    responses(
        (status = 200, body = EmptyData),
        (status = 403, body = MuxErrorBody),
        (status = 404, body = MuxErrorBody),
    ))]
async fn enable(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EmptyData>, ApiError> {
    let before = channel_to_manage(&ctx, &caller, &id).await?;
    if before.suspended && !caller.is_admin() {
        return Err(ApiError::forbidden(
            "suspended",
            "the live stream is suspended by an administrator",
        ));
    }
    let channel = ctx
        .db
        .update_channel(
            &id,
            ChannelUpdate {
                enabled: Some(true),
                suspended: caller.is_admin().then_some(false),
                ..ChannelUpdate::default()
            },
        )
        .await?;
    if !before.accepts_publishers() {
        let native = load_body(&ctx, &caller, channel).await?;
        channel_event(&ctx, WebhookEventType::ChannelEnabled, &native).await;
    }
    Ok(empty_data())
}

/// `POST …/playback-ids`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct CreatePlaybackIdRequest {
    /// `public` (default) or `signed`.
    pub policy: Option<String>,
}

pub(crate) fn policy_of(
    request: Option<CreatePlaybackIdRequest>,
) -> Result<PlaybackPolicy, ApiError> {
    match request.and_then(|r| r.policy).as_deref() {
        None | Some("public") => Ok(PlaybackPolicy::Public),
        Some("signed") => Ok(PlaybackPolicy::Signed),
        Some("drm") => Err(invalid(
            "playback policy drm is not supported by this server (no DRM license service)",
        )),
        Some(other) => Err(invalid(format!(
            "policy must be public or signed, not {other:?}"
        ))),
    }
}

/// Add a playback id to a live stream.
#[utoipa::path(post, path = "/video/v1/live-streams/{LIVE_STREAM_ID}/playback-ids", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path)),
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
    channel_to_manage(&ctx, &caller, &id).await?;
    let added = add_playback_id(&ctx, PlaybackObject::LiveStream(id), body).await?;
    Ok((StatusCode::CREATED, data(added)))
}

pub(crate) fn limit_as_invalid(e: control::Error) -> ApiError {
    match e {
        control::Error::LimitReached { what, limit } => {
            invalid(format!("at most {limit} {what} per object"))
        }
        control::Error::Invalid { field, message } => invalid(format!("{field} {message}")),
        e => e.into(),
    }
}

/// One playback id of a live stream.
#[utoipa::path(get, path = "/video/v1/live-streams/{LIVE_STREAM_ID}/playback-ids/{PLAYBACK_ID}", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path), ("PLAYBACK_ID" = String, Path)),
    responses(
        (status = 200, body = Data<MuxPlaybackId>),
        (status = 404, body = MuxErrorBody),
    ))]
async fn get_playback_id(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath((id, playback_id)): ApiPath<(String, String)>,
) -> Result<Json<Data<MuxPlaybackId>>, ApiError> {
    channel_to_manage(&ctx, &caller, &id).await?;
    let found = listed_playback_id(&ctx, PlaybackObject::LiveStream(id), &playback_id).await?;
    Ok(data(found))
}

/// Delete a playback id of a live stream: it stops playing at once.
#[utoipa::path(delete, path = "/video/v1/live-streams/{LIVE_STREAM_ID}/playback-ids/{PLAYBACK_ID}", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path), ("PLAYBACK_ID" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = MuxErrorBody),
    ))]
async fn delete_playback_id(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath((id, playback_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    channel_to_manage(&ctx, &caller, &id).await?;
    ctx.db
        .delete_playback_id(&PlaybackObject::LiveStream(id), &playback_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a simulcast target (stored and reported with status `idle`; the
/// restreaming itself comes with a later release).
#[utoipa::path(post, path = "/video/v1/live-streams/{LIVE_STREAM_ID}/simulcast-targets", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path)),
    request_body = SimulcastTargetRequest,
    responses(
        (status = 201, body = Data<MuxSimulcastTarget>),
        (status = 400, body = MuxErrorBody),
        (status = 404, body = MuxErrorBody),
    ))]
async fn create_simulcast_target(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SimulcastTargetRequest>,
) -> Result<(StatusCode, Json<Data<MuxSimulcastTarget>>), ApiError> {
    channel_to_manage(&ctx, &caller, &id).await?;
    check_target(&ctx, &body.url)?;
    let target = ctx
        .db
        .create_simulcast_target(
            &id,
            NewSimulcastTarget {
                url: body.url,
                stream_key: body.stream_key,
                passthrough: body.passthrough.unwrap_or_default(),
            },
        )
        .await
        .map_err(limit_as_invalid)?;
    Ok((StatusCode::CREATED, data(MuxSimulcastTarget::from(target))))
}

/// One simulcast target.
#[utoipa::path(get, path = "/video/v1/live-streams/{LIVE_STREAM_ID}/simulcast-targets/{SIMULCAST_TARGET_ID}", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path), ("SIMULCAST_TARGET_ID" = String, Path)),
    responses(
        (status = 200, body = Data<MuxSimulcastTarget>),
        (status = 404, body = MuxErrorBody),
    ))]
async fn get_simulcast_target(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath((id, target_id)): ApiPath<(String, String)>,
) -> Result<Json<Data<MuxSimulcastTarget>>, ApiError> {
    channel_to_manage(&ctx, &caller, &id).await?;
    let target = ctx.db.simulcast_target(&id, &target_id).await?;
    Ok(data(MuxSimulcastTarget::from(target)))
}

/// Delete a simulcast target.
#[utoipa::path(delete, path = "/video/v1/live-streams/{LIVE_STREAM_ID}/simulcast-targets/{SIMULCAST_TARGET_ID}", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path), ("SIMULCAST_TARGET_ID" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = MuxErrorBody),
    ))]
async fn delete_simulcast_target(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath((id, target_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    channel_to_manage(&ctx, &caller, &id).await?;
    ctx.db.delete_simulcast_target(&id, &target_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT …/new-asset-settings/static-renditions`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct StaticRenditionsRequest {
    /// `[{"resolution": "highest"}, {"resolution": "audio-only"}]`.
    #[schema(value_type = Vec<Object>)]
    pub static_renditions: Vec<Value>,
}

/// Set the static renditions every new recording of the live stream gets
/// (`highest` and/or `audio-only`).
#[utoipa::path(put, path = "/video/v1/live-streams/{LIVE_STREAM_ID}/new-asset-settings/static-renditions", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path)),
    request_body = StaticRenditionsRequest,
    responses(
        (status = 200, body = Data<MuxLiveStream>),
        (status = 400, body = MuxErrorBody),
        (status = 404, body = MuxErrorBody),
    ))]
async fn set_new_asset_static_renditions(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<StaticRenditionsRequest>,
) -> Result<Json<Data<MuxLiveStream>>, ApiError> {
    let channel = channel_to_manage(&ctx, &caller, &id).await?;
    for r in &body.static_renditions {
        let resolution = r["resolution"].as_str().unwrap_or_default();
        if super::objects::static_rendition_name(resolution).is_none() {
            return Err(invalid(format!(
                "static rendition resolution must be highest or audio-only, not {resolution:?}"
            )));
        }
    }
    let mut settings = MuxSettings::of(&channel);
    let mut new = settings
        .new_asset_settings
        .take()
        .filter(Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    new["static_renditions"] = Value::Array(body.static_renditions);
    settings.new_asset_settings = Some(new);
    let channel = ctx
        .db
        .update_channel(
            &id,
            ChannelUpdate {
                mux_settings: Some(settings_text(&settings)?),
                ..ChannelUpdate::default()
            },
        )
        .await?;
    Ok(data(respond(&ctx, &channel).await?))
}

/// Stop making static renditions for new recordings of the live stream.
#[utoipa::path(delete, path = "/video/v1/live-streams/{LIVE_STREAM_ID}/new-asset-settings/static-renditions", tag = "mux",
    params(("LIVE_STREAM_ID" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, body = MuxErrorBody),
    ))]
async fn delete_new_asset_static_renditions(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let channel = channel_to_manage(&ctx, &caller, &id).await?;
    let mut settings = MuxSettings::of(&channel);
    if let Some(new) = settings
        .new_asset_settings
        .as_mut()
        .and_then(Value::as_object_mut)
    {
        new.remove("static_renditions");
        new.remove("mp4_support");
    }
    ctx.db
        .update_channel(
            &id,
            ChannelUpdate {
                mux_settings: Some(settings_text(&settings)?),
                ..ChannelUpdate::default()
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
