//! Playlists of a broadcast as objects in storage, shared by the live actor
//! and crash recovery.

use std::time::Duration;

use av::MediaInfo;
use bytes::Bytes;
use control::IngestInfo;
use packager::{BandwidthMeter, MediaPlaylist, Variant, render_master};
use storage::{Store, keys};
use tracing::warn;

/// Name of the passthrough rendition (the source, remuxed without re-encoding).
pub const SOURCE_RENDITION: &str = "source";

/// What the live stream row records of the stream's codecs.
pub(crate) fn ingest_info(info: &MediaInfo) -> IngestInfo {
    let video = info.video.as_ref();
    IngestInfo {
        video_codec: video.map(|v| v.codec_string()),
        audio_codec: info.audio.as_ref().map(|a| a.codec_string()),
        width: video.map(|v| v.width),
        height: video.map(|v| v.height),
        fps: video.and_then(|v| v.fps),
    }
}

/// The master playlist of the passthrough rendition, pointing at
/// `source/{media_playlist}`.
pub(crate) fn source_master(
    ingest: &IngestInfo,
    bandwidth: &BandwidthMeter,
    media_playlist: &str,
) -> String {
    let codecs: Vec<&str> = [ingest.video_codec.as_deref(), ingest.audio_codec.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    render_master(&[Variant {
        uri: format!("{SOURCE_RENDITION}/{media_playlist}"),
        bandwidth_bps: bandwidth.peak_bps().unwrap_or(0),
        average_bandwidth_bps: bandwidth.average_bps(),
        resolution: ingest.width.zip(ingest.height),
        frame_rate: ingest.fps,
        codecs: codecs.join(","),
        name: SOURCE_RENDITION.to_string(),
    }])
}

/// Writes an object, retrying with exponential backoff (100 ms doubling to
/// 5 s) up to `attempts` times.
pub(crate) async fn put_with_retry(
    store: &Store,
    attempts: u32,
    key: &str,
    body: Bytes,
) -> storage::Result<()> {
    let attempts = attempts.max(1);
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match store.put(key, [body.clone()]).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= attempts => return Err(e),
            Err(e) => {
                warn!(error = %e, key, attempt, "storage write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
        }
    }
}

/// Writes the playlists of an ended broadcast: the live window with
/// EXT-X-ENDLIST (for players following the live URL), then the recording
/// (every segment) and its master. `playlist` must be ended and non-empty.
pub(crate) async fn store_final_playlists(
    store: &Store,
    attempts: u32,
    live_stream_id: &str,
    playlist: &MediaPlaylist,
    window_segments: usize,
    ingest: &IngestInfo,
    bandwidth: &BandwidthMeter,
) -> storage::Result<()> {
    let id = live_stream_id;
    let objects = [
        (
            keys::media_playlist(id, SOURCE_RENDITION),
            playlist.render_live(window_segments),
        ),
        (
            keys::master_playlist(id),
            source_master(ingest, bandwidth, keys::MEDIA_PLAYLIST),
        ),
        (
            keys::vod_media_playlist(id, SOURCE_RENDITION),
            playlist.render_vod(),
        ),
        (
            keys::vod_master_playlist(id),
            source_master(ingest, bandwidth, keys::VOD_PLAYLIST),
        ),
    ];
    for (key, body) in objects {
        put_with_retry(store, attempts, &key, Bytes::from(body)).await?;
    }
    Ok(())
}
