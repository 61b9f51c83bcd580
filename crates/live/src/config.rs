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
    /// Times a segment write is attempted before the segment is given up
    /// (and the playlist continues after an EXT-X-DISCONTINUITY).
    pub store_attempts: u32,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            segment_duration_s: 2.0,
            playlist_window_segments: 6,
            store_attempts: 5,
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
        if self.store_attempts == 0 {
            return Err("hls.store_attempts must be at least 1".into());
        }
        Ok(())
    }
}
