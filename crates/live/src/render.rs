//! Playlists of a broadcast as objects in storage, shared by the live actor
//! and crash recovery.

use av::MediaInfo;
use bytes::Bytes;
use control::IngestInfo;
use packager::{BandwidthMeter, MediaPlaylist, Variant, render_master};
use storage::{Media, keys};

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

/// One entry of a master playlist: a rendition's media playlist
/// `{name}/{media_playlist}` and what players choose by.
pub(crate) struct VariantInfo<'a> {
    pub name: &'a str,
    pub info: &'a MediaInfo,
    pub bandwidth: &'a BandwidthMeter,
    /// Frame rate when the rendition's SPS does not say.
    pub fallback_fps: Option<f64>,
    /// Bits per second to announce before anything was measured (a
    /// transcoded rendition's configured bitrate).
    pub estimated_bps: Option<u64>,
}

/// A master playlist over `variants`, each pointing at `{name}/{media_playlist}`.
pub(crate) fn master_playlist(variants: &[VariantInfo<'_>], media_playlist: &str) -> String {
    let variants: Vec<Variant> = variants
        .iter()
        .map(|v| {
            let video = v.info.video.as_ref();
            Variant {
                uri: format!("{}/{media_playlist}", v.name),
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

/// A stored master playlist with absolute variant URIs under
/// `public_base_url` (a CDN or public bucket), when one is configured.
pub(crate) fn public_master(
    master: &str,
    public_base_url: Option<&str>,
    live_stream_id: &str,
) -> String {
    let Some(base) = public_base_url else {
        return master.to_string();
    };
    let prefix = format!("{}/live/{live_stream_id}/", base.trim_end_matches('/'));
    let mut out = String::with_capacity(master.len() + 256);
    for line in master.lines() {
        if !line.starts_with('#') && !line.trim().is_empty() {
            out.push_str(&prefix);
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

/// Writes the playlists of an ended broadcast, each in its rendition's lane
/// (after that rendition's segments): the live window with EXT-X-ENDLIST
/// (for players following the live URL) and the recording (every segment);
/// then the live master and the recording's, in the source's lane. Returns
/// once they are durable; [`flush_broadcast`] waits for the store.
pub(crate) async fn store_final_playlists(
    media: &Media,
    live_stream_id: &str,
    renditions: &[FinalRendition<'_>],
    window_segments: usize,
    live_master: &str,
    public_base_url: Option<&str>,
) -> storage::Result<()> {
    let id = live_stream_id;
    for r in renditions {
        let lane = lane(id, r.name);
        media
            .put(
                &lane,
                &keys::media_playlist(id, r.name),
                vec![Bytes::from(r.playlist.render_live(window_segments))],
            )
            .await?;
        media
            .put(
                &lane,
                &keys::vod_media_playlist(id, r.name),
                vec![Bytes::from(r.playlist.render_vod())],
            )
            .await?;
    }
    let lane = lane(id, SOURCE_RENDITION);
    media
        .put(
            &lane,
            &keys::master_playlist(id),
            vec![Bytes::from(public_master(live_master, public_base_url, id))],
        )
        .await?;
    media
        .put(
            &lane,
            &keys::vod_master_playlist(id),
            vec![Bytes::from(public_master(
                &vod_master_from_live(live_master),
                public_base_url,
                id,
            ))],
        )
        .await
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
