//! Playlists of a broadcast as objects in storage, shared by the live actor
//! and crash recovery.

use std::sync::Arc;

use av::MediaInfo;
use bytes::Bytes;
use control::IngestInfo;
use packager::{BandwidthMeter, MediaPlaylist, Variant, render_master};
use storage::{Media, keys};

/// Name of the passthrough rendition (the source, remuxed without re-encoding).
pub use control::SOURCE_RENDITION;

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

/// One entry of a master playlist: a rendition's media playlist
/// `{name}/{media_playlist}` and what players choose by.
pub(crate) struct VariantInfo<'a> {
    /// `NAME` (empty: none).
    pub name: &'a str,
    /// Directory of its media playlist: `{name}/`, or empty.
    pub dir: &'a str,
    pub info: &'a MediaInfo,
    pub bandwidth: &'a BandwidthMeter,
    /// Frame rate when the rendition's SPS does not say.
    pub fallback_fps: Option<f64>,
    /// Bits per second to announce before anything was measured (a
    /// transcoded rendition's configured bitrate).
    pub estimated_bps: Option<u64>,
}

/// A master playlist over `variants`, each pointing at `{dir}{media_playlist}`.
pub(crate) fn master_playlist(variants: &[VariantInfo<'_>], media_playlist: &str) -> String {
    let variants: Vec<Variant> = variants
        .iter()
        .map(|v| {
            let video = v.info.video.as_ref();
            Variant {
                uri: format!("{}{media_playlist}", v.dir),
                bandwidth_bps: v.bandwidth.peak_bps().or(v.estimated_bps).unwrap_or(0),
                average_bandwidth_bps: v.bandwidth.average_bps(),
                resolution: video.map(|c| (c.width, c.height)),
                frame_rate: video.and_then(|c| c.fps).or(v.fallback_fps),
                codecs: v.info.codecs(),
                name: v.name.to_string(),
            }
        })
        .collect();
    render_master(&variants)
}

/// A source-only master from what the live stream row recorded (crash
/// recovery without a stored master).
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

/// The recording's master from the live one: every variant URI
/// `{name}/index.m3u8` becomes `{name}/vod.m3u8`.
pub(crate) fn vod_master_from_live(live_master: &str) -> String {
    let live_suffix = format!("/{}", keys::MEDIA_PLAYLIST);
    let vod_suffix = format!("/{}", keys::VOD_PLAYLIST);
    let mut out = String::with_capacity(live_master.len());
    for line in live_master.lines() {
        if !line.starts_with('#') && line.ends_with(&live_suffix) {
            out.push_str(&line[..line.len() - live_suffix.len()]);
            out.push_str(&vod_suffix);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// The upload lane of a rendition: its segments and playlists reach the
/// store one at a time, in order, so a playlist never lands before the
/// segments it lists. Master playlists use the source's lane.
pub(crate) fn lane(live_stream_id: &str, rendition: &str) -> String {
    format!("live/{live_stream_id}/{rendition}")
}

/// Where a broadcast's stored master playlists point their variants: under
/// `public_base_url` (a CDN or public bucket), when one is configured.
pub(crate) fn public_prefix(public_base_url: Option<&str>, live_stream_id: &str) -> Option<String> {
    public_base_url.map(|base| format!("{}/live/{live_stream_id}/", base.trim_end_matches('/')))
}

/// A stored master playlist with its variant URIs under `prefix`, when
/// there is one.
pub(crate) fn public_master(master: &str, prefix: Option<&str>) -> String {
    let Some(prefix) = prefix else {
        return master.to_string();
    };
    let mut out = String::with_capacity(master.len() + 256);
    for line in master.lines() {
        if !line.starts_with('#') && !line.trim().is_empty() {
            out.push_str(prefix);
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The finished playlists of one rendition of an ended broadcast.
pub(crate) struct FinalRendition<'a> {
    pub name: &'a str,
    /// Ended and non-empty.
    pub playlist: &'a MediaPlaylist,
}

/// An object to store: its upload lane (a rendition name), its path under
/// the broadcast, its bytes.
pub(crate) type FinalObject = (Arc<str>, String, Bytes);

/// The playlists of an ended broadcast, in storing order: per rendition (in
/// its lane, after its segments) the live window with EXT-X-ENDLIST (for
/// players following the live URL) and the recording (every segment); then
/// the live master and the recording's, in the source's lane.
pub(crate) fn final_playlists(
    renditions: &[FinalRendition<'_>],
    window_segments: usize,
    live_master: &str,
    prefix: Option<&str>,
) -> Vec<FinalObject> {
    let mut objects = Vec::new();
    for r in renditions {
        let lane: Arc<str> = Arc::from(r.name);
        objects.push((
            lane.clone(),
            format!("{}/{}", r.name, keys::MEDIA_PLAYLIST),
            Bytes::from(r.playlist.render_live(window_segments)),
        ));
        objects.push((
            lane,
            format!("{}/{}", r.name, keys::VOD_PLAYLIST),
            Bytes::from(r.playlist.render_vod()),
        ));
    }
    let lane: Arc<str> = Arc::from(SOURCE_RENDITION);
    objects.push((
        lane.clone(),
        MASTER_PLAYLIST.to_string(),
        Bytes::from(public_master(live_master, prefix)),
    ));
    objects.push((
        lane,
        VOD_MASTER_PLAYLIST.to_string(),
        Bytes::from(public_master(&vod_master_from_live(live_master), prefix)),
    ));
    objects
}

/// Path of the live master playlist under its broadcast.
pub(crate) const MASTER_PLAYLIST: &str = "master.m3u8";
/// Path of the recording's master playlist under its broadcast.
pub(crate) const VOD_MASTER_PLAYLIST: &str = "vod-master.m3u8";

/// The storage key of a path under a broadcast.
pub(crate) fn broadcast_key(live_stream_id: &str, path: &str) -> String {
    format!("{}/{path}", keys::live_stream_prefix(live_stream_id))
}

/// Waits until every object of a broadcast's renditions is confirmed by the
/// store, at most `timeout` (local disk: at once).
pub(crate) async fn flush_broadcast(
    media: &Media,
    live_stream_id: &str,
    renditions: &[&str],
    timeout: std::time::Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    for r in renditions {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !media.flush(&lane(live_stream_id, r), left).await {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vod_master_points_at_recordings() {
        let live = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nsource/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\n480p/index.m3u8\n";
        assert_eq!(
            vod_master_from_live(live),
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nsource/vod.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\n480p/vod.m3u8\n"
        );
    }
}
