//! [`Ladder`]: one source stream's video in, its scaled renditions out, on
//! either backend.
//!
//! Keyframe alignment, the property the rest of the system relies on: every
//! rendition has a keyframe (IDR) at exactly each source keyframe's
//! presentation time, and no other, so the packagers of all renditions cut
//! segments at the same instants as the source passthrough and a player can
//! switch renditions at any segment boundary. Each backend documents how it
//! does it (`gst_ladder`, `ffmpeg_ladder`).

use std::sync::Arc;

use av::{AccessUnit, H264Config, Time90k, TrackKind};
use tokio::sync::mpsc;

use crate::ffmpeg_ladder::FfmpegLadder;
use crate::gst_ladder::GstLadder;
use crate::output::Progress;
use crate::{Backend, Error, Result, Rung, TranscodeConfig};

/// What a ladder produces, in order per rung.
#[derive(Clone, Debug, PartialEq)]
pub enum LadderEvent {
    /// Rung `rung`'s codec configuration, before its first unit and again
    /// whenever it changes (a new configuration needs a new segmenter).
    Config { rung: usize, config: H264Config },
    /// One encoded frame of rung `rung`, in decode order, AVCC with 4-byte
    /// lengths, with the timestamps of the source frame it was made from.
    Unit { rung: usize, unit: AccessUnit },
    /// The ladder failed (the message names the element or encoder); only
    /// `Finished` follows.
    Error(String),
    /// The last event: everything was flushed after [`Ladder::finish`], or
    /// the ladder failed. Encoder threads and processes are gone by then.
    Finished,
}

enum Inner {
    Gst(GstLadder),
    Ffmpeg(FfmpegLadder),
}

/// Encodes the renditions of one source stream. See the module docs.
///
/// Feed it with [`Ladder::push`] and drain the receiver [`Ladder::start`]
/// returned. The receiver is bounded: when the consumer falls behind, the
/// encoder threads wait (backpressure), and [`Ladder::lag`] grows. Dropping
/// the `Ladder` tears everything down (pipeline to NULL and its threads
/// joined, or the FFmpeg child killed and reaped) even if the consumer has
/// stopped reading.
pub struct Ladder {
    inner: Inner,
    rungs: Vec<Rung>,
    progress: Arc<Progress>,
    /// A source keyframe has been pushed (everything before it is dropped).
    started: bool,
    finished: bool,
}

impl Ladder {
    /// Starts a ladder for a source stream with configuration `source`,
    /// encoding `rungs` (usually [`crate::select_rungs`]'s choice); events
    /// arrive on the returned receiver. A change of source configuration
    /// needs a new ladder. Fails when `rungs` is empty or invalid, or when
    /// the backend lacks an element or encoder (the error names it).
    pub fn start(
        config: &TranscodeConfig,
        source: &H264Config,
        rungs: Vec<Rung>,
    ) -> Result<(Ladder, mpsc::Receiver<LadderEvent>)> {
        if rungs.is_empty() {
            return Err(Error::config("rungs", "a ladder needs at least one rung"));
        }
        for (i, rung) in rungs.iter().enumerate() {
            rung.validate(&format!("rungs[{i}]"))?;
        }
        config.x264_tunes()?;
        let progress = Progress::new(rungs.len());
        let (inner, rx) = match config.backend {
            Backend::Gstreamer => {
                let (l, rx) = GstLadder::start(config, source, &rungs, progress.clone())?;
                (Inner::Gst(l), rx)
            }
            Backend::Ffmpeg => {
                let (l, rx) = FfmpegLadder::start(config, source, &rungs, progress.clone())?;
                (Inner::Ffmpeg(l), rx)
            }
        };
        tracing::debug!(
            backend = ?config.backend,
            rungs = ?rungs.iter().map(|r| &r.name).collect::<Vec<_>>(),
            "ladder started"
        );
        Ok((
            Ladder {
                inner,
                rungs,
                progress,
                started: false,
                finished: false,
            },
            rx,
        ))
    }

    /// Feeds one source video access unit (AVCC with 4-byte lengths, as
    /// `av` produces them). Does not wait for the encoders: the unit is
    /// queued. Units before the first keyframe are ignored, as the packager
    /// ignores them. Errors after [`Self::finish`] or a failure.
    pub fn push(&mut self, unit: &AccessUnit) -> Result<()> {
        if self.finished {
            return Err(Error::Finished);
        }
        if unit.track != TrackKind::Video {
            return Err(Error::Input("audio access unit pushed to a video ladder".into()));
        }
        if unit.data.len() < 5 {
            return Err(Error::Input(format!(
                "video access unit of {} bytes at {:?}",
                unit.data.len(),
                unit.pts
            )));
        }
        if !self.started {
            if !unit.keyframe {
                return Ok(());
            }
            self.started = true;
        }
        let result = match &mut self.inner {
            Inner::Gst(l) => l.push(unit),
            Inner::Ffmpeg(l) => l.push(unit),
        };
        if let Err(Error::Finished) = result {
            self.finished = true;
        }
        result?;
        self.progress.pushed(unit.pts);
        Ok(())
    }

    /// Stops rendition `rung`: no more events for it, and its encoder stops
    /// working (GStreamer; FFmpeg keeps encoding it and its output is
    /// discarded). For a lagging ladder, drop the lowest renditions first.
    pub fn drop_rung(&mut self, rung: usize) {
        if rung >= self.rungs.len() || self.progress.is_dropped(rung) {
            return;
        }
        tracing::info!(rendition = %self.rungs[rung].name, "dropping rendition");
        self.progress.drop_rung(rung);
        match &mut self.inner {
            Inner::Gst(l) => l.drop_rung(rung),
            Inner::Ffmpeg(l) => l.drop_rung(rung),
        }
    }

    /// End of stream: the encoders flush, then [`LadderEvent::Finished`]
    /// arrives. Further pushes fail. Idempotent.
    pub fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        match &mut self.inner {
            Inner::Gst(l) => l.finish(),
            Inner::Ffmpeg(l) => l.finish(),
        }
    }

    /// How far the ladder is behind its input: the newest source
    /// presentation time pushed minus the newest one out of the slowest
    /// rendition still encoded. Includes the encoder's own latency (about a
    /// frame with `zerolatency`) and time spent waiting for the consumer.
    /// Compare with [`TranscodeConfig::max_lag_s`] and drop rungs.
    pub fn lag(&self) -> Time90k {
        self.progress.lag()
    }

    /// The rungs this ladder encodes, by index.
    pub fn rungs(&self) -> &[Rung] {
        &self.rungs
    }

    /// Whether rung `rung` has been dropped.
    pub fn is_dropped(&self, rung: usize) -> bool {
        self.progress.is_dropped(rung)
    }
}

/// Source timestamps in 90 kHz ticks ↔ the backends' clocks, which start
/// near zero and cannot go negative.
///
/// The first source DTS maps to [`Timeline::MARGIN`], so B-frame DTS before
/// the first PTS and small backward steps stay positive; outputs map back
/// exactly, so renditions keep the source's timestamps.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Timeline {
    /// The source tick that maps to zero.
    origin: i64,
}

impl Timeline {
    /// One hour, in ticks.
    pub(crate) const MARGIN: i64 = 3600 * Time90k::HZ;

    pub(crate) fn new(first_dts: Time90k) -> Self {
        Timeline {
            origin: first_dts.0.saturating_sub(Self::MARGIN),
        }
    }

    fn rebased(&self, t: Time90k, what: &str) -> Result<u64> {
        u64::try_from(t.0.saturating_sub(self.origin)).map_err(|_| {
            Error::Input(format!(
                "{what} {t:?} is more than an hour before the stream's first DTS"
            ))
        })
    }

    /// Nanoseconds on the pipeline's clock (rounded to the nearest).
    pub(crate) fn to_ns(self, t: Time90k, what: &str) -> Result<u64> {
        let ticks = self.rebased(t, what)?;
        Ok(((u128::from(ticks) * 1_000_000_000 + 45_000) / 90_000) as u64)
    }

    pub(crate) fn from_ns(self, ns: u64) -> Time90k {
        let ticks = (u128::from(ns) * 90_000 + 500_000_000) / 1_000_000_000;
        Time90k(self.origin + ticks as i64)
    }

    /// Milliseconds (FLV), rounded to the nearest.
    pub(crate) fn to_ms(self, t: Time90k, what: &str) -> Result<u64> {
        Ok((self.rebased(t, what)? + 45) / 90)
    }

    pub(crate) fn from_ms(self, ms: i64) -> Time90k {
        Time90k(self.origin + ms * 90)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_round_trips() {
        for first in [-5_000_000, -1, 0, 1, 3003, 8_100_000_000] {
            let tl = Timeline::new(Time90k(first));
            for t in [first - 90_000, first, first + 1, first + 3003, first + 9_000_001] {
                let ns = tl.to_ns(Time90k(t), "pts").unwrap();
                assert_eq!(tl.from_ns(ns), Time90k(t));
                let ms = tl.to_ms(Time90k(t), "pts").unwrap();
                assert!((tl.from_ms(ms as i64).0 - t).abs() <= 45);
            }
            assert!(tl.to_ns(Time90k(first - Timeline::MARGIN - 1), "pts").is_err());
        }
    }
}
