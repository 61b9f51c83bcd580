//! The live pipeline's Prometheus series (recorded through the `metrics`
//! facade; the binary exports them at `/metrics`). Per-broadcast series are
//! labelled with the channel's slug: stable across a channel's broadcasts,
//! bounded by the number of channels.

use std::time::Duration;

use crate::IngestReading;

pub const INGEST_BITRATE: &str = "aethex_ingest_bitrate_bps";
pub const INGEST_FPS: &str = "aethex_ingest_fps";
pub const INGEST_KEYFRAME_INTERVAL: &str = "aethex_ingest_keyframe_interval_seconds";
pub const SEGMENTS: &str = "aethex_segments_total";
pub const SEGMENT_AVAILABLE: &str = "aethex_segment_available_seconds";
pub const TRANSCODE_LAG: &str = "aethex_transcode_lag_seconds";
pub const RENDITIONS_DROPPED: &str = "aethex_transcode_renditions_dropped_total";
pub const LADDERS_REFUSED: &str = "aethex_transcode_ladders_refused_total";
pub const VIEWERS: &str = "aethex_viewers";
pub const LIVE_STREAMS: &str = "aethex_live_streams";

/// Names and help texts, for the exporter.
pub fn describe() {
    metrics::describe_gauge!(
        INGEST_BITRATE,
        metrics::Unit::BitsPerSecond,
        "Publisher's bitrate (audio + video payload) over the last 5 s of media"
    );
    metrics::describe_gauge!(INGEST_FPS, "Publisher's video frame rate");
    metrics::describe_gauge!(
        INGEST_KEYFRAME_INTERVAL,
        metrics::Unit::Seconds,
        "Time between the publisher's last two keyframes"
    );
    metrics::describe_counter!(SEGMENTS, "Media segments stored and listed, by rendition");
    metrics::describe_histogram!(
        SEGMENT_AVAILABLE,
        metrics::Unit::Seconds,
        "From the arrival of the frame that closed a segment (or part) to its listing in the live playlist"
    );
    metrics::describe_gauge!(
        TRANSCODE_LAG,
        metrics::Unit::Seconds,
        "How far the transcoding ladder is behind the source"
    );
    metrics::describe_counter!(
        RENDITIONS_DROPPED,
        "Renditions dropped because the transcoder fell behind real time"
    );
    metrics::describe_counter!(
        LADDERS_REFUSED,
        "Broadcasts published as source only because every ladder slot was busy"
    );
    metrics::describe_gauge!(
        VIEWERS,
        "Concurrent viewers (clients reloading the live playlist)"
    );
    metrics::describe_gauge!(LIVE_STREAMS, "Broadcasts in progress on this node");
}

pub(crate) fn ingest(channel: &str, reading: &IngestReading) {
    let labels = [("channel", channel.to_owned())];
    if let Some(bps) = reading.bitrate_bps {
        metrics::gauge!(INGEST_BITRATE, &labels).set(bps as f64);
    }
    if let Some(fps) = reading.fps {
        metrics::gauge!(INGEST_FPS, &labels).set(fps);
    }
    if let Some(ms) = reading.keyframe_interval_ms {
        metrics::gauge!(INGEST_KEYFRAME_INTERVAL, &labels).set(f64::from(ms) / 1000.0);
    }
}

pub(crate) fn segment(channel: &str, rendition: &str) {
    metrics::counter!(SEGMENTS, "channel" => channel.to_owned(), "rendition" => rendition.to_owned())
        .increment(1);
}

pub(crate) fn segment_available(channel: &str, latency: Duration) {
    metrics::histogram!(SEGMENT_AVAILABLE, "channel" => channel.to_owned())
        .record(latency.as_secs_f64());
}

pub(crate) fn transcode_lag(channel: &str, lag_s: f64) {
    metrics::gauge!(TRANSCODE_LAG, "channel" => channel.to_owned()).set(lag_s);
}

pub(crate) fn rendition_dropped(channel: &str, rendition: &str) {
    metrics::counter!(RENDITIONS_DROPPED, "channel" => channel.to_owned(), "rendition" => rendition.to_owned())
        .increment(1);
}

pub(crate) fn ladder_refused(channel: &str) {
    metrics::counter!(LADDERS_REFUSED, "channel" => channel.to_owned()).increment(1);
}

pub(crate) fn viewers(channel: &str, n: u32) {
    metrics::gauge!(VIEWERS, "channel" => channel.to_owned()).set(f64::from(n));
}

pub(crate) fn live_streams(delta: f64) {
    metrics::gauge!(LIVE_STREAMS).increment(delta);
}

/// A broadcast ended: its gauges go to zero (the exporter drops idle
/// series later).
pub(crate) fn ended(channel: &str) {
    for name in [INGEST_BITRATE, INGEST_FPS, TRANSCODE_LAG, VIEWERS] {
        metrics::gauge!(name, "channel" => channel.to_owned()).set(0.0);
    }
}
