//! The transcoder broadcasts use: `transcode`'s ladders (GStreamer, or
//! ffmpeg for hardware encoders) and thumbnails, behind `live::Transcoder`.

use std::time::Duration;

use av::{AccessUnit, H264Config, Time90k};
use bytes::Bytes;
use live::{LadderControl, StartedLadder, TranscodeSettings, Transcoder};
use tracing::{error, info, warn};
use transcode::{Ladder, TranscodeConfig};

/// See the module documentation.
pub struct MediaTranscoder {
    config: TranscodeConfig,
}

impl MediaTranscoder {
    pub fn new(config: TranscodeConfig) -> MediaTranscoder {
        MediaTranscoder { config }
    }
}

struct RunningLadder(Ladder);

impl LadderControl for RunningLadder {
    fn push(&mut self, unit: &AccessUnit) -> Result<(), String> {
        self.0.push(unit).map_err(|e| e.to_string())
    }

    fn lag(&self) -> Time90k {
        self.0.lag()
    }

    fn drop_rung(&mut self, rung: usize) {
        self.0.drop_rung(rung);
    }

    fn finish(&mut self) {
        self.0.finish();
    }
}

impl Transcoder for MediaTranscoder {
    fn settings(&self) -> TranscodeSettings {
        TranscodeSettings {
            max_ladders: self.config.effective_max_ladders(),
            thumbnail_interval: Duration::from_secs(self.config.thumbnail_interval_s),
            thumbnail_idle_interval: Duration::from_secs(self.config.thumbnail_idle_interval_s),
            max_lag: Duration::from_secs_f64(self.config.max_lag_s.max(0.0)),
        }
    }

    fn start_ladder(&self, preset: &str, source: &H264Config) -> Option<StartedLadder> {
        let Some(rungs) = self.config.ladder(preset) else {
            warn!(preset, "unknown ladder preset; publishing the source only");
            return None;
        };
        let rungs = transcode::select_rungs(rungs, source, None);
        if rungs.is_empty() {
            info!(
                preset,
                "no rung of the ladder is below the source; publishing the source only"
            );
            return None;
        }
        let (ladder, events) = match Ladder::start(&self.config, source, rungs.clone()) {
            Ok(x) => x,
            Err(e) => {
                error!(error = %e, "cannot start the transcoder; publishing the source only");
                return None;
            }
        };
        info!(
            backend = ?self.config.backend,
            renditions = ?rungs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            "transcoding"
        );
        Some(StartedLadder {
            ladder: Box::new(RunningLadder(ladder)),
            events,
            rungs: rungs
                .into_iter()
                .map(|r| (r.name, r.bitrate_kbps))
                .collect(),
        })
    }

    fn thumbnail(
        &self,
        config: &H264Config,
        unit: &AccessUnit,
        width: u32,
    ) -> Result<Bytes, String> {
        transcode::thumbnail(config, unit, width).map_err(|e| e.to_string())
    }
}
