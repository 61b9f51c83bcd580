//! Clips over stored segments, pure: a clip (DESIGN.md "Domain") is a time
//! range of a broadcast's segments. Every segment starts on a keyframe, so a
//! clip is snapped to segment boundaries ([`snap_clip_range`]) and its
//! playlist lists whole segments ([`clip_segments`]); times are media
//! milliseconds from the broadcast's first indexed segment, as in
//! [`Clip`].

use crate::{Clip, Db, Result, SegmentRecord, WebhookEventType};

/// Name of the passthrough rendition (the source, remuxed without
/// re-encoding).
pub const SOURCE_RENDITION: &str = "source";

/// 90 kHz ticks per millisecond.
const TICKS_PER_MS: i64 = 90;

/// The rendition a clip is snapped on and exported from: the source when
/// the broadcast has it, else the first by name.
pub fn clip_rendition(renditions: &[String]) -> Option<&str> {
    renditions
        .iter()
        .find(|r| r.as_str() == SOURCE_RENDITION)
        .or_else(|| renditions.first())
        .map(String::as_str)
}

/// Each segment with its start on the broadcast's timeline, in 90 kHz
/// ticks from the first indexed segment.
pub fn clip_timeline(segments: &[SegmentRecord]) -> impl Iterator<Item = (i64, &SegmentRecord)> {
    segments.iter().scan(0i64, |t, s| {
        let start = *t;
        *t = t.saturating_add(s.duration_90k);
        Some((start, s))
    })
}

fn ticks_to_ms(ticks: i64) -> i64 {
    (ticks + TICKS_PER_MS / 2) / TICKS_PER_MS
}

/// Total duration of `segments`, in milliseconds.
pub fn segments_duration_ms(segments: &[SegmentRecord]) -> i64 {
    ticks_to_ms(segments.iter().map(|s| s.duration_90k).sum())
}

/// `[start_ms, end_ms)` widened to the boundaries of the segments it
/// overlaps (segments start on keyframes): the range a clip really plays.
/// `None` when no segment overlaps it.
pub fn snap_clip_range(
    segments: &[SegmentRecord],
    start_ms: i64,
    end_ms: i64,
) -> Option<(i64, i64)> {
    let (start, end) = (start_ms * TICKS_PER_MS, end_ms * TICKS_PER_MS);
    let mut snapped: Option<(i64, i64)> = None;
    for (t, s) in clip_timeline(segments) {
        let seg_end = t + s.duration_90k;
        if seg_end > start && t < end {
            snapped = Some(match snapped {
                None => (t, seg_end),
                Some((first, _)) => (first, seg_end),
            });
        }
    }
    snapped.map(|(a, b)| (ticks_to_ms(a), ticks_to_ms(b)))
}

/// The segments a clip plays: those whose midpoint lies in
/// `[start_ms, end_ms)`. For a range snapped on this rendition that is
/// exactly the snapped segments; on another rendition of the same
/// broadcast (cut at the same keyframes) the same instants.
pub fn clip_segments(
    segments: &[SegmentRecord],
    start_ms: i64,
    end_ms: i64,
) -> Vec<&SegmentRecord> {
    let (start, end) = (start_ms * TICKS_PER_MS, end_ms * TICKS_PER_MS);
    clip_timeline(segments)
        .filter(|(t, s)| {
            let mid = t + s.duration_90k / 2;
            start <= mid && mid < end
        })
        .map(|(_, s)| s)
        .collect()
}

/// The `data` of a `clip.ready` webhook event: the clip as the API shows
/// it, without URLs (the API's `GET /api/v1/clips/{clip_id}` has them).
pub fn clip_event_data(clip: &Clip) -> serde_json::Value {
    serde_json::json!({
        "clip_id": clip.clip_id,
        "channel_id": clip.channel_id,
        "live_stream_id": clip.live_stream_id,
        "vod_id": clip.vod_id,
        "title": clip.title,
        "start_s": clip.start_ms as f64 / 1000.0,
        "end_s": clip.end_ms as f64 / 1000.0,
        "duration_s": clip.duration_ms() as f64 / 1000.0,
        "status": clip.status.as_str(),
        "export_status": clip.export_status.as_str(),
        "export_progress": clip.export_progress,
        "created_by_user_id": clip.created_by_user_id,
        "created_at_ms": clip.created_at_ms,
    })
}

impl Db {
    /// Enqueues `clip.ready` for a clip, to its channel owner's endpoints
    /// (nothing when the channel is gone).
    pub async fn enqueue_clip_ready(&self, clip: &Clip) -> Result<()> {
        let Some(channel) = self.channel(&clip.channel_id).await? else {
            return Ok(());
        };
        self.enqueue_webhook_event(
            WebhookEventType::ClipReady,
            &channel.owner_user_id,
            Some(&clip.channel_id),
            clip_event_data(clip),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(durations_ms: &[i64]) -> Vec<SegmentRecord> {
        durations_ms
            .iter()
            .enumerate()
            .map(|(i, d)| SegmentRecord {
                live_stream_id: "ls".into(),
                rendition: "source".into(),
                sequence: i as i64,
                duration_90k: d * 90,
                size_bytes: 1,
                discontinuity: false,
                uri: format!("{i}.ts"),
                map_uri: None,
                gap: false,
                program_date_time_ms: None,
                created_at_ms: 0,
            })
            .collect()
    }

    #[test]
    fn snaps_to_segment_boundaries() {
        let s = segs(&[2000, 2000, 2000, 2000, 2000, 2000]);
        assert_eq!(snap_clip_range(&s, 4000, 10_000), Some((4000, 10_000)));
        assert_eq!(snap_clip_range(&s, 4100, 9_900), Some((4000, 10_000)));
        assert_eq!(snap_clip_range(&s, 0, 1), Some((0, 2000)));
        assert_eq!(snap_clip_range(&s, 11_999, 12_000), Some((10_000, 12_000)));
        assert_eq!(snap_clip_range(&s, 12_000, 13_000), None);
        assert_eq!(snap_clip_range(&[], 0, 1000), None);
    }

    #[test]
    fn selects_segments_by_midpoint() {
        let s = segs(&[2000, 2000, 2000, 2000, 2000, 2000]);
        let seqs = |a, b| {
            clip_segments(&s, a, b)
                .iter()
                .map(|s| s.sequence)
                .collect::<Vec<_>>()
        };
        assert_eq!(seqs(4000, 10_000), vec![2, 3, 4]);
        // Another rendition cut a few ms off still yields the same ones.
        assert_eq!(seqs(3990, 10_010), vec![2, 3, 4]);
        assert_eq!(seqs(0, 12_000), vec![0, 1, 2, 3, 4, 5]);
        assert!(seqs(12_000, 14_000).is_empty());
        assert_eq!(segments_duration_ms(&s), 12_000);
    }

    #[test]
    fn prefers_the_source_rendition() {
        let r = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(clip_rendition(&r(&["360p", "source"])), Some("source"));
        assert_eq!(clip_rendition(&r(&["360p", "720p"])), Some("360p"));
        assert_eq!(clip_rendition(&[]), None);
    }
}
