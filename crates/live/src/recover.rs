//! Crash recovery: broadcasts a previous process left unfinished.
//!
//! A killed process leaves live streams that never ended and VODs still
//! `recording`. Their segments are known from the segment index, which lists
//! only segments the store confirmed, so the finished playlists can be
//! rebuilt exactly: in order, ending with EXT-X-ENDLIST.

use av::Time90k;
use control::{LiveStream, LiveStreamStatus, WebhookEventType};
use packager::{BandwidthMeter, MediaPlaylist, SegmentEntry};
use storage::keys;
use tracing::{Instrument, error, info, info_span, warn};

use crate::render::{
    FinalRendition, SOURCE_RENDITION, broadcast_key, final_playlists, flush_broadcast, lane,
    public_prefix, source_master,
};

/// How long recovery waits for a broadcast's uploads before leaving its
/// recording for the next start.
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
use crate::session::Inner;
use crate::webhook_events::Announcer;
use crate::{Live, Result};

impl Live {
    /// Finalizes broadcasts that a previous process left unfinished (killed
    /// or crashed): their playlists are rebuilt from the segment index, the
    /// live streams end and their VODs become ready. One broadcast's failure
    /// does not stop the others. Returns how many were finalized.
    ///
    /// Run at startup, before accepting publishers. With several ingest
    /// nodes on one PostgreSQL database this would also end other nodes'
    /// broadcasts; ownership of live streams by node comes with scale-out.
    pub async fn recover(&self) -> Result<usize> {
        let inner = &self.inner;
        let mut broadcasts: Vec<LiveStream> = inner.db.unfinished_live_streams().await?;
        for vod in inner.db.unfinished_vods_of_ended_streams().await? {
            if let Some(ls) = inner.db.live_stream(&vod.live_stream_id).await? {
                broadcasts.push(ls);
            }
        }
        let mut recovered = 0;
        for ls in broadcasts {
            if inner.registry.get(&ls.channel_id).is_some() {
                continue;
            }
            let span = info_span!("recover", live_stream = %ls.live_stream_id);
            match recover_one(inner, &ls).instrument(span.clone()).await {
                Ok(segments) => {
                    info!(parent: &span, segments, "finalized a broadcast left unfinished by a previous run");
                    recovered += 1;
                }
                Err(e) => {
                    error!(parent: &span, error = %e, "could not finalize a broadcast left by a previous run")
                }
            }
        }
        Ok(recovered)
    }
}

/// The finished playlists of a broadcast, rebuilt from its segment index:
/// per rendition (the source first) the segments in order, ending with
/// EXT-X-ENDLIST. A rendition's playlist stops at the first hole in its
/// index (what is listed must be playable in order); renditions with no
/// segment are left out. The one function that decides what a crashed
/// broadcast's recording holds.
pub(crate) fn rebuild(
    target: Time90k,
    mut renditions: Vec<(String, Vec<control::SegmentRecord>)>,
) -> Vec<(String, MediaPlaylist, Vec<control::SegmentRecord>)> {
    // The source first: it decides the VOD's totals.
    renditions.sort_by_key(|(n, _)| n != SOURCE_RENDITION);
    let mut playlists = Vec::new();
    for (name, segments) in renditions {
        let mut playlist = MediaPlaylist::new(target);
        for s in &segments {
            let entry = SegmentEntry {
                sequence: s.sequence as u64,
                duration: Time90k(s.duration_90k),
                uri: s.uri.clone(),
                discontinuity: s.discontinuity,
                gap: s.gap,
                program_date_time_ms: s.program_date_time_ms,
                map_uri: s.map_uri.clone(),
            };
            if let Err(e) = playlist.push(entry) {
                warn!(rendition = %name, error = %e, "segment index is not contiguous; the recording ends at the gap");
                break;
            }
        }
        playlist.end();
        if playlist.segments().len() > 0 {
            playlists.push((name, playlist, segments));
        }
    }
    playlists
}

async fn recover_one(inner: &Inner, ls: &LiveStream) -> Result<usize> {
    let id = &ls.live_stream_id;
    let target = Time90k::from_secs_f64(inner.config.segment_duration_s);
    let mut rows = Vec::new();
    for name in inner.db.segment_renditions(id).await? {
        let segments = inner.db.segments(id, &name).await?;
        rows.push((name, segments));
    }
    let playlists = rebuild(target, rows);
    let source = playlists
        .iter()
        .find(|(name, _, _)| name == SOURCE_RENDITION)
        .map(|(_, p, _)| (p.segments().len(), p.total_duration()));
    let stored = if playlists.is_empty() {
        Ok(false)
    } else {
        // The live master the broadcast last wrote lists every rendition;
        // without one, rebuild a source-only master from the live stream row.
        let live_master = match inner.media.get(&keys::master_playlist(id)).await {
            Ok(Some(m)) => String::from_utf8_lossy(&m).into_owned(),
            _ => {
                let mut bandwidth = BandwidthMeter::default();
                if let Some((_, _, segments)) =
                    playlists.iter().find(|(n, _, _)| n == SOURCE_RENDITION)
                {
                    for s in segments.iter().filter(|s| !s.gap) {
                        bandwidth.record(s.size_bytes as usize, Time90k(s.duration_90k));
                    }
                }
                source_master(&ls.ingest, &bandwidth, keys::MEDIA_PLAYLIST)
            }
        };
        let finals: Vec<FinalRendition<'_>> = playlists
            .iter()
            .map(|(name, playlist, _)| FinalRendition { name, playlist })
            .collect();
        // The live window the broadcast used (longer on low-latency channels).
        let low_latency = matches!(
            inner.db.channel(&ls.channel_id).await,
            Ok(Some(c)) if c.latency_mode == control::LatencyMode::Low
        );
        let window = if low_latency {
            inner.config.low_latency_window_segments
        } else {
            inner.config.playlist_window_segments
        };
        let prefix = public_prefix(inner.public_base_url.as_deref(), id);
        let mut stored = Ok(());
        for (lane_name, path, body) in
            final_playlists(&finals, window, &live_master, prefix.as_deref())
        {
            let key = broadcast_key(id, &path);
            stored = inner
                .media
                .put(&lane(id, &lane_name), &key, vec![body])
                .await;
            if stored.is_err() {
                break;
            }
        }
        // The recording is ready once the store has every object (spooled
        // uploads of the previous run included).
        let names: Vec<&str> = finals.iter().map(|f| f.name).collect();
        match stored {
            Ok(()) => Ok(flush_broadcast(&inner.media, id, &names, FLUSH_TIMEOUT).await),
            Err(e) => Err(e),
        }
    };
    // End the live stream whatever happened, so the channel can go live again.
    let ended = inner
        .db
        .end_live_stream(id, crate::EndReason::ServerRestarted.as_str())
        .await?;
    // Webhooks: the broadcast's end, unless it had ended before this run
    // (only its recording was left to finish), and the recording's
    // readiness below.
    let announce = match inner.db.channel(&ls.channel_id).await {
        Ok(Some(channel)) => Some(Announcer::new(inner.db.clone(), &channel)),
        Ok(None) => None,
        Err(e) => {
            warn!(error = %e, "could not read the channel; webhook events of this broadcast are not sent");
            None
        }
    };
    let vod = inner.db.vod_by_live_stream(id).await?;
    if let Some(announce) = &announce
        && ls.status != LiveStreamStatus::Ended
    {
        let vod_id = vod.as_ref().map(|v| v.vod_id.as_str());
        announce
            .live_stream_as(WebhookEventType::LiveStreamIdle, &ended, vod_id)
            .await;
    }
    let stored = stored?;
    if let Some(vod) = vod {
        match source {
            // Not all in the store yet: the VOD stays `recording`; the next
            // start finishes it (the spool keeps uploading meanwhile).
            Some(_) if !stored => {
                warn!(
                    "uploads of this broadcast are still pending; its recording stays unfinished for now"
                );
            }
            Some((count, duration)) => {
                let vod = inner
                    .db
                    .finish_vod(
                        &vod.vod_id,
                        duration.as_millis(),
                        u32::try_from(count).unwrap_or(u32::MAX),
                    )
                    .await?;
                if let Some(announce) = &announce {
                    announce.vod_ready(&vod).await;
                }
                crate::asset_files::request_new_recording_files(&inner.db, &inner.asset_wake, &vod)
                    .await;
            }
            _ => {
                inner.db.fail_vod(&vod.vod_id).await?;
            }
        }
    }
    Ok(source.map_or(0, |(count, _)| count))
}
