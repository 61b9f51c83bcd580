//! Live packaging settings (the `[hls]` section of `aethex.toml`).

use serde::{Deserialize, Serialize};

/// HLS packaging settings for live streams. See `config/aethex.toml`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// Target segment duration in seconds. Segments are cut at the first
    /// keyframe at or after this duration, so the encoder's keyframe interval
    /// should divide it (OBS: "Keyframe Interval" 2 s).
    pub segment_duration_s: f64,
    /// Segments listed in a live media playlist (the sliding window).
    pub playlist_window_segments: usize,
    /// Low-latency channels: target duration of an LL-HLS partial segment,
    /// in seconds. Default 0.334 (ten frames at 30 fps, six parts per 2 s
    /// segment): `PART-HOLD-BACK` is three parts, 1.0 s, and hls.js plays
    /// 1.3 s behind the glass (0.5 s parts: 2.3 s; docs/PERFORMANCE.md,
    /// "LL-HLS glass to player").
    pub part_duration_s: f64,
    /// Low-latency channels: segments listed in the live playlist. Longer
    /// than the standard window so delta updates (`_HLS_skip=YES`) have
    /// something to skip: CAN-SKIP-UNTIL is 6 target durations.
    pub low_latency_window_segments: usize,
    /// Channels that do not record: seconds a segment stays in storage after
    /// it left the live window (players may still be fetching it); after a
    /// broadcast ends, how long its objects stay before they are deleted.
    pub retention_grace_s: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            segment_duration_s: 2.0,
            playlist_window_segments: 6,
            part_duration_s: 0.334,
            low_latency_window_segments: 12,
            retention_grace_s: 60,
        }
    }
}

impl LiveConfig {
    /// Checks values a TOML file or environment could get wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.5..=30.0).contains(&self.segment_duration_s) {
            return Err(format!(
                "hls.segment_duration_s must be between 0.5 and 30, not {}",
                self.segment_duration_s
            ));
        }
        if !(3..=100).contains(&self.playlist_window_segments) {
            return Err(format!(
                "hls.playlist_window_segments must be between 3 and 100, not {}",
                self.playlist_window_segments
            ));
        }
        if !(0.1..=2.0).contains(&self.part_duration_s)
            || self.part_duration_s > self.segment_duration_s / 2.0
        {
            return Err(format!(
                "hls.part_duration_s must be between 0.1 and 2 and at most half of \
                 segment_duration_s, not {}",
                self.part_duration_s
            ));
        }
        if !(7..=100).contains(&self.low_latency_window_segments) {
            return Err(format!(
                "hls.low_latency_window_segments must be between 7 and 100 (more than \
                 the 6 segments delta updates keep), not {}",
                self.low_latency_window_segments
            ));
        }
        if self.retention_grace_s > 86_400 {
            return Err(format!(
                "hls.retention_grace_s must be at most 86400, not {}",
                self.retention_grace_s
            ));
        }
        Ok(())
    }
}
