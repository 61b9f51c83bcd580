//! Mux's objects as this server describes its own: a live stream is a
//! channel, an asset is a recording (VOD), a playback id is one of
//! `control`'s. Shapes follow `@mux/mux-node` 15's types (the SDKs are the
//! spec): `created_at` is a string of unix seconds, optional fields are
//! left out rather than `null` (the Python SDK's models check enums and
//! treat a present `null` as a value).

use control::{
    AssetFile, AssetFileName, AssetFileStatus, Channel, Db, LatencyMode, LiveStream,
    LiveStreamStatus, PlaybackIdRecord, PlaybackObject, PlaybackPolicy, SimulcastTarget, Vod,
    VodStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Unix milliseconds as Mux's `created_at`: a string of unix seconds.
pub(crate) fn unix_seconds(ms: i64) -> String {
    (ms.div_euclid(1000)).to_string()
}

/// `{id, policy}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct MuxPlaybackId {
    pub id: String,
    /// `public` or `signed`.
    pub policy: String,
}

impl From<&PlaybackIdRecord> for MuxPlaybackId {
    fn from(r: &PlaybackIdRecord) -> Self {
        MuxPlaybackId {
            id: r.playback_id.clone(),
            policy: r.policy.as_str().to_owned(),
        }
    }
}

/// A simulcast target.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MuxSimulcastTarget {
    pub id: String,
    /// `idle` until restreaming is implemented (a later issue).
    pub status: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<String>,
}

impl From<SimulcastTarget> for MuxSimulcastTarget {
    fn from(t: SimulcastTarget) -> Self {
        MuxSimulcastTarget {
            id: t.simulcast_target_id,
            status: "idle".to_owned(),
            url: t.url,
            stream_key: t.stream_key,
            passthrough: (!t.passthrough.is_empty()).then_some(t.passthrough),
        }
    }
}

/// A live stream (one of our channels).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MuxLiveStream {
    pub id: String,
    /// Unix seconds, as a string.
    pub created_at: String,
    /// `idle`, `active` (a broadcast in progress, including its reconnect
    /// window) or `disabled`.
    pub status: String,
    /// The RTMP stream key; always shown, as Mux does. Empty for a key
    /// made before keys were stored sealed (reset it to read it).
    pub stream_key: String,
    /// `low`, `reduced` or `standard` (as requested; `reduced` runs as our
    /// standard mode).
    pub latency_mode: String,
    /// Seconds; stored and reported.
    pub max_continuous_duration: u64,
    /// Seconds (0 to 1800).
    pub reconnect_window: f64,
    pub playback_ids: Vec<MuxPlaybackId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_asset_id: Option<String>,
    pub recent_asset_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_ingest_protocol: Option<String>,
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_asset_settings: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<String>,
    pub audio_only: bool,
    pub test: bool,
    pub simulcast_targets: Vec<MuxSimulcastTarget>,
    pub embedded_subtitles: Vec<Value>,
    pub use_slate_for_standard_latency: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect_slate_url: Option<String>,
    pub low_latency: bool,
    pub reduced_latency: bool,
}

/// The Mux-only settings kept with a channel (`channel.mux_settings`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct MuxSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<String>,
    pub test: bool,
    pub audio_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_continuous_duration: Option<u64>,
    /// As requested: `reduced` runs as `standard`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_asset_settings: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect_slate_url: Option<String>,
    pub use_slate_for_standard_latency: bool,
}

impl MuxSettings {
    pub(crate) fn of(channel: &Channel) -> MuxSettings {
        serde_json::from_str(&channel.mux_settings).unwrap_or_default()
    }
}

/// Mux's default `max_continuous_duration`: 12 hours.
pub(crate) const MAX_CONTINUOUS_DEFAULT_S: u64 = 43_200;

/// Mux's status of a channel, given its latest broadcast.
pub(crate) fn live_stream_status(channel: &Channel, current: Option<&LiveStream>) -> &'static str {
    if !channel.accepts_publishers() {
        "disabled"
    } else if current.is_some_and(|ls| ls.status != LiveStreamStatus::Ended) {
        "active"
    } else {
        "idle"
    }
}

/// A channel as Mux's live stream, read fresh from the database.
pub(crate) async fn live_stream(db: &Db, channel: &Channel) -> control::Result<MuxLiveStream> {
    let latest = db.latest_live_stream(&channel.channel_id).await?;
    let current = latest
        .as_ref()
        .filter(|ls| ls.status != LiveStreamStatus::Ended);
    let vods = db.list_vods(&channel.channel_id).await?;
    let active_asset_id = match current {
        Some(ls) => vods
            .iter()
            .find(|v| v.live_stream_id == ls.live_stream_id)
            .map(|v| v.vod_id.clone()),
        None => None,
    };
    let mut recent: Vec<&Vod> = vods.iter().collect();
    recent.sort_by_key(|v| (v.created_at_ms, v.vod_id.clone()));
    let recent_asset_ids = recent
        .iter()
        .rev()
        .take(10)
        .rev()
        .map(|v| v.vod_id.clone())
        .collect();
    let playback_ids = db
        .playback_ids_of(&PlaybackObject::LiveStream(channel.channel_id.clone()))
        .await?
        .iter()
        .map(MuxPlaybackId::from)
        .collect();
    let simulcast_targets = db
        .list_simulcast_targets(&channel.channel_id)
        .await?
        .into_iter()
        .map(MuxSimulcastTarget::from)
        .collect();
    let settings = MuxSettings::of(channel);
    let latency_mode = settings.latency_mode.clone().unwrap_or_else(|| {
        match channel.latency_mode {
            LatencyMode::Low => "low",
            LatencyMode::Standard => "standard",
        }
        .to_owned()
    });
    Ok(MuxLiveStream {
        id: channel.channel_id.clone(),
        created_at: unix_seconds(channel.created_at_ms),
        status: live_stream_status(channel, current).to_owned(),
        stream_key: db
            .stream_key_of(&channel.channel_id)
            .await?
            .unwrap_or_default(),
        low_latency: latency_mode == "low",
        reduced_latency: latency_mode == "reduced",
        latency_mode,
        max_continuous_duration: settings
            .max_continuous_duration
            .unwrap_or(MAX_CONTINUOUS_DEFAULT_S),
        reconnect_window: f64::from(channel.reconnect_window_s),
        playback_ids,
        active_asset_id,
        recent_asset_ids,
        active_ingest_protocol: current.map(|_| "rtmp".to_owned()),
        new_asset_settings: new_asset_settings(channel, &settings),
        passthrough: settings.passthrough.clone(),
        audio_only: settings.audio_only,
        test: settings.test,
        simulcast_targets,
        embedded_subtitles: Vec::new(),
        use_slate_for_standard_latency: settings.use_slate_for_standard_latency,
        reconnect_slate_url: settings.reconnect_slate_url.clone(),
    })
}

/// `new_asset_settings` as reported: what was asked, with the playback
/// policies the recordings really get.
fn new_asset_settings(channel: &Channel, settings: &MuxSettings) -> Option<Value> {
    if channel.new_asset_playback_policies.is_empty() && settings.new_asset_settings.is_none() {
        return None;
    }
    let mut out = settings
        .new_asset_settings
        .clone()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let policies: Vec<&str> = channel
        .new_asset_playback_policies
        .iter()
        .map(|p| p.as_str())
        .collect();
    out["playback_policies"] = json!(policies);
    if let Some(map) = out.as_object_mut() {
        map.remove("playback_policy");
    }
    Some(out)
}

/// A track of an asset.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MuxTrack {
    pub id: String,
    /// `video` or `audio`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_frame_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_channels: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
}

/// A recording's time span (Mux's `recording_times`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MuxRecordingTime {
    /// RFC 3339.
    pub started_at: String,
    /// Seconds.
    pub duration: f64,
    /// `content`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// An asset (one of our recordings).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MuxAsset {
    pub id: String,
    /// Unix seconds, as a string.
    pub created_at: String,
    /// `preparing` while recording, then `ready` or `errored`.
    pub status: String,
    /// True while its broadcast is in progress.
    pub is_live: bool,
    /// The live stream (channel) it recorded.
    pub live_stream_id: String,
    /// Seconds; for a recording in progress, what is recorded so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_stored_resolution: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution_tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_stored_frame_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    pub playback_ids: Vec<MuxPlaybackId>,
    pub tracks: Vec<MuxTrack>,
    pub recording_times: Vec<MuxRecordingTime>,
    /// `live_rtmp`.
    pub ingest_type: String,
    pub encoding_tier: String,
    pub video_quality: String,
    pub master_access: String,
    pub max_resolution_tier: String,
    pub mp4_support: String,
    pub test: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub static_renditions: Option<MuxStaticRenditions>,
    #[schema(value_type = Object)]
    pub progress: Value,
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Value>,
}

/// A static rendition (`highest.mp4`, `audio.m4a`) of an asset.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MuxStaticRendition {
    /// `highest` or `audio-only` (unique within its asset).
    pub id: String,
    /// `highest.mp4` or `audio.m4a`.
    pub name: String,
    /// `mp4` or `m4a`.
    pub ext: String,
    /// `highest` or `audio-only`.
    pub resolution: String,
    /// `standard`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `preparing`, `ready`, `skipped` or `errored`.
    pub status: String,
    /// Bytes, as a string (Mux's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filesize: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution_tier: Option<String>,
}

/// An asset's static renditions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MuxStaticRenditions {
    /// `preparing` while any is, else `ready` (or `errored`).
    pub status: String,
    pub files: Vec<MuxStaticRendition>,
}

/// The Mux id (and resolution) of a static rendition file.
pub(crate) fn static_rendition_id(name: AssetFileName) -> Option<&'static str> {
    match name {
        AssetFileName::HighestMp4 => Some("highest"),
        AssetFileName::AudioM4a => Some("audio-only"),
        _ => None,
    }
}

/// The file a Mux static rendition id or resolution names.
pub(crate) fn static_rendition_name(id: &str) -> Option<AssetFileName> {
    match id {
        "highest" | "highest.mp4" => Some(AssetFileName::HighestMp4),
        "audio-only" | "audio.m4a" => Some(AssetFileName::AudioM4a),
        _ => None,
    }
}

pub(crate) fn static_rendition(file: &AssetFile) -> Option<MuxStaticRendition> {
    let id = static_rendition_id(file.name)?;
    let audio = file.name == AssetFileName::AudioM4a;
    Some(MuxStaticRendition {
        id: id.to_owned(),
        name: file.name.as_str().to_owned(),
        ext: if audio { "m4a" } else { "mp4" }.to_owned(),
        resolution: id.to_owned(),
        kind: "standard".to_owned(),
        status: file.status.as_str().to_owned(),
        filesize: file.size_bytes.map(|s| s.to_string()),
        width: file.width,
        height: file.height,
        resolution_tier: if audio {
            Some("audio-only".to_owned())
        } else {
            file.height.and_then(|h| match h {
                0..=719 => None,
                720..=1079 => Some("720p".to_owned()),
                1080..=1439 => Some("1080p".to_owned()),
                1440..=2159 => Some("1440p".to_owned()),
                _ => Some("2160p".to_owned()),
            })
        },
    })
}

fn static_renditions(files: &[AssetFile]) -> Option<MuxStaticRenditions> {
    let files: Vec<&AssetFile> = files
        .iter()
        .filter(|f| static_rendition_id(f.name).is_some())
        .collect();
    if files.is_empty() {
        return None;
    }
    let status = if files.iter().any(|f| f.status == AssetFileStatus::Preparing) {
        "preparing"
    } else if files.iter().all(|f| f.status == AssetFileStatus::Errored) {
        "errored"
    } else {
        "ready"
    };
    Some(MuxStaticRenditions {
        status: status.to_owned(),
        files: files.into_iter().filter_map(static_rendition).collect(),
    })
}

/// Mux's resolution names, from the stored height.
fn resolution(height: u32) -> (&'static str, &'static str) {
    match height {
        0..=576 => ("SD", "720p"),
        577..=720 => ("HD", "720p"),
        721..=1080 => ("FHD", "1080p"),
        1081..=1440 => ("UHD", "1440p"),
        _ => ("UHD", "2160p"),
    }
}

fn aspect_ratio(width: u32, height: u32) -> Option<String> {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    if width == 0 || height == 0 {
        return None;
    }
    let g = gcd(width, height);
    Some(format!("{}:{}", width / g, height / g))
}

/// RFC 3339 with milliseconds (webhook `created_at`).
pub(crate) fn rfc3339_millis(ms: i64) -> String {
    let whole = rfc3339(ms);
    format!(
        "{}.{:03}Z",
        whole.trim_end_matches('Z'),
        ms.rem_euclid(1000)
    )
}

fn rfc3339(ms: i64) -> String {
    // Days from the civil algorithm (Howard Hinnant's), UTC.
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// A recording as Mux's asset, read fresh from the database.
pub(crate) async fn asset(
    db: &Db,
    vod: &Vod,
    channel: Option<&Channel>,
) -> control::Result<MuxAsset> {
    let live_stream = db.live_stream(&vod.live_stream_id).await?;
    let settings = channel.map(MuxSettings::of).unwrap_or_default();
    let playback_ids = db
        .playback_ids_of(&PlaybackObject::Asset(vod.vod_id.clone()))
        .await?
        .iter()
        .map(MuxPlaybackId::from)
        .collect();
    let (status, progress) = match vod.status {
        VodStatus::Recording => ("preparing", json!({"state": "live", "progress": -1})),
        VodStatus::Ready => ("ready", json!({"state": "completed", "progress": 100})),
        VodStatus::Failed => ("errored", json!({"state": "errored", "progress": -1})),
    };
    let duration_ms = match (&vod.status, &live_stream) {
        (VodStatus::Recording, Some(ls)) => ls
            .active_at_ms
            .map(|a| (control_now_ms() - a).max(0))
            .unwrap_or(0),
        _ => vod.duration_ms,
    };
    let duration = (vod.status != VodStatus::Failed).then_some(duration_ms as f64 / 1000.0);
    let ingest = live_stream.as_ref().map(|ls| &ls.ingest);
    let width = ingest.and_then(|i| i.width).unwrap_or(0);
    let height = ingest.and_then(|i| i.height).unwrap_or(0);
    let fps = ingest.and_then(|i| i.fps);
    let mut tracks = Vec::new();
    if let Some(i) = ingest {
        if i.video_codec.is_some() {
            tracks.push(MuxTrack {
                id: format!("{}-video", vod.vod_id),
                kind: "video".to_owned(),
                max_width: i.width,
                max_height: i.height,
                max_frame_rate: i.fps,
                max_channels: None,
                duration,
            });
        }
        if i.audio_codec.is_some() {
            tracks.push(MuxTrack {
                id: format!("{}-audio", vod.vod_id),
                kind: "audio".to_owned(),
                max_width: None,
                max_height: None,
                max_frame_rate: None,
                max_channels: Some(2),
                duration,
            });
        }
    }
    let recording_times = live_stream
        .as_ref()
        .map(|ls| MuxRecordingTime {
            started_at: rfc3339(ls.active_at_ms.unwrap_or(ls.started_at_ms)),
            duration: duration_ms as f64 / 1000.0,
            kind: "content".to_owned(),
        })
        .into_iter()
        .collect();
    let (max_stored, tier) = if height > 0 {
        let (s, t) = resolution(height);
        (Some(s.to_owned()), Some(t.to_owned()))
    } else {
        (None, None)
    };
    let files = db.asset_files(&vod.vod_id).await?;
    // What the files asked for amount to, in Mux's older terms.
    let has = |n: AssetFileName| files.iter().any(|f| f.name == n);
    let mp4_support = match (has(AssetFileName::HighestMp4), has(AssetFileName::AudioM4a)) {
        (true, true) => "audio-only,capped-1080p",
        (true, false) => "standard",
        (false, true) => "audio-only",
        (false, false) => "none",
    }
    .to_owned();
    Ok(MuxAsset {
        id: vod.vod_id.clone(),
        created_at: unix_seconds(vod.created_at_ms),
        status: status.to_owned(),
        is_live: vod.status == VodStatus::Recording,
        live_stream_id: vod.channel_id.clone(),
        duration,
        max_stored_resolution: max_stored,
        resolution_tier: tier,
        max_stored_frame_rate: fps,
        aspect_ratio: aspect_ratio(width, height),
        playback_ids,
        tracks,
        recording_times,
        ingest_type: "live_rtmp".to_owned(),
        encoding_tier: "baseline".to_owned(),
        video_quality: "basic".to_owned(),
        master_access: "none".to_owned(),
        max_resolution_tier: "1080p".to_owned(),
        mp4_support,
        test: settings.test,
        passthrough: settings
            .new_asset_settings
            .as_ref()
            .and_then(|s| s.get("passthrough"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        static_renditions: static_renditions(&files),
        progress,
        errors: (vod.status == VodStatus::Failed).then(
            || json!({"type": "invalid_input", "messages": ["the broadcast recorded no media"]}),
        ),
    })
}

fn control_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Mux's policy name list → policies; `None` on an unknown one.
pub(crate) fn parse_policies(values: &[String]) -> Option<Vec<PlaybackPolicy>> {
    values.iter().map(|v| v.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_and_shapes() {
        assert_eq!(unix_seconds(1_700_000_000_999), "1700000000");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_199_000), "2024-02-29T23:59:59Z");
        assert_eq!(aspect_ratio(1280, 720).as_deref(), Some("16:9"));
        assert_eq!(aspect_ratio(0, 720), None);
        assert_eq!(resolution(720), ("HD", "720p"));
        assert_eq!(resolution(1080), ("FHD", "1080p"));
    }
}
