//! What a broadcast needs of a transcoder, as a trait: the server plugs in
//! the GStreamer/ffmpeg one (`transcode`); `live` itself links no media
//! framework, so the crates that only read live state (the HTTP API) do not
//! either.

use std::time::Duration;

use av::{AccessUnit, H264Config, LadderEvent, Time90k};
use bytes::Bytes;
use tokio::sync::mpsc;

/// Settings the broadcasts read from the transcoder's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscodeSettings {
    /// Ladders that may run at once on this node.
    pub max_ladders: usize,
    /// Thumbnail interval while someone looks at the stream (zero: none).
    pub thumbnail_interval: Duration,
    /// Thumbnail interval otherwise.
    pub thumbnail_idle_interval: Duration,
    /// The lowest rung is dropped when the ladder lags more than this.
    pub max_lag: Duration,
}

/// A running ladder.
pub trait LadderControl: Send {
    /// A source video unit to encode.
    fn push(&mut self, unit: &AccessUnit) -> Result<(), String>;
    /// How far the encoders are behind the source.
    fn lag(&self) -> Time90k;
    /// Stops encoding rung `rung`.
    fn drop_rung(&mut self, rung: usize);
    /// No more input: deliver what is left, then [`LadderEvent::Finished`].
    fn finish(&mut self);
}

/// A ladder that started: its control, its output, and its rungs (names
/// and configured video bitrates in kbit/s).
pub struct StartedLadder {
    pub ladder: Box<dyn LadderControl>,
    pub events: mpsc::Receiver<LadderEvent>,
    pub rungs: Vec<(String, u32)>,
}

/// See the module documentation.
pub trait Transcoder: Send + Sync + 'static {
    fn settings(&self) -> TranscodeSettings;
    /// Starts the rungs of ladder preset `preset` that suit `source`; `None`
    /// when there is nothing to encode or it cannot start (the
    /// implementation logs why).
    fn start_ladder(&self, preset: &str, source: &H264Config) -> Option<StartedLadder>;
    /// A JPEG of a keyframe, `width` pixels wide. Blocking: called on a
    /// blocking thread.
    fn thumbnail(
        &self,
        config: &H264Config,
        unit: &AccessUnit,
        width: u32,
    ) -> Result<Bytes, String>;
}

/// No transcoding: broadcasts publish their source only and make no
/// thumbnails (tools that only read or delete, and tests of the HTTP API).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTranscoder;

impl Transcoder for NoTranscoder {
    fn settings(&self) -> TranscodeSettings {
        TranscodeSettings {
            max_ladders: 0,
            thumbnail_interval: Duration::ZERO,
            thumbnail_idle_interval: Duration::ZERO,
            max_lag: Duration::from_secs(2),
        }
    }

    fn start_ladder(&self, _preset: &str, _source: &H264Config) -> Option<StartedLadder> {
        None
    }

    fn thumbnail(&self, _: &H264Config, _: &AccessUnit, _: u32) -> Result<Bytes, String> {
        Err("no transcoder".into())
    }
}
