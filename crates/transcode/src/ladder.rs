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

pub use av::LadderEvent;

enum Inner {
    Gst(GstLadder),
    Ffmpeg(Box<FfmpegLadder>),
}

/// Encodes the renditions of one source stream. See the module docs.
///
/// Feed it with [`Ladder::push`] and drain the receiver [`Ladder::start`]
/// returned. The receiver is bounded: when the consumer falls behind, the
/// encoder threads wait (backpressure), and [`Ladder::lag`] grows. `push`
/// itself never waits: input queues without bound, so the caller keeps
/// [`Ladder::lag`] in check — a live caller by dropping renditions, a file
/// remuxer by receiving events until the lag is small again. Dropping the
/// `Ladder` tears everything down (pipeline to NULL and its threads joined,
/// or the FFmpeg child killed and reaped) even if the consumer has stopped
/// reading.
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// use transcode::{Ladder, LadderEvent, TranscodeConfig, select_rungs};
///
/// # fn live(source: av::H264Config, units: Vec<av::AccessUnit>) -> transcode::Result<()> {
/// let config = TranscodeConfig::default();
/// let rungs = select_rungs(config.ladder("default").unwrap(), &source, None);
/// let (mut ladder, mut events) = Ladder::start(&config, &source, rungs)?;
/// let max_lag = av::Time90k::from_secs_f64(config.max_lag_s);
/// let mut last_drop = Instant::now();
/// for unit in &units {
///     ladder.push(unit)?;
///     // Too slow: drop the lowest rendition still encoded, then give the
///     // ladder time to catch up before dropping another.
///     let cooldown = Duration::from_secs_f64(config.max_lag_s);
///     if ladder.lag() > max_lag && last_drop.elapsed() > cooldown {
///         let encoded = (0..ladder.rungs().len()).filter(|&r| !ladder.is_dropped(r));
///         if let Some(lowest) = encoded.last() {
///             ladder.drop_rung(lowest);
///             last_drop = Instant::now();
///         }
///     }
///     while let Ok(event) = events.try_recv() {
///         // Config / Unit: to rendition `rung`'s segmenter (with the source audio).
///     }
/// }
/// ladder.finish();
/// while let Some(event) = events.blocking_recv() {
///     if event == LadderEvent::Finished {
///         break;
///     }
/// }
/// # Ok(())
/// # }
/// ```
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
        config.validate()?;
        if rungs.is_empty() {
            return Err(Error::config("rungs", "a ladder needs at least one rung"));
        }
        for (i, rung) in rungs.iter().enumerate() {
            rung.validate(&format!("rungs[{i}]"))?;
            if rungs[..i].iter().any(|r| r.name == rung.name) {
                return Err(Error::config(
                    format!("rungs[{i}].name"),
                    format!("{:?} is used twice", rung.name),
                ));
            }
        }
        let progress = Progress::new(rungs.len());
        let (inner, rx) = match config.backend {
            Backend::Gstreamer => {
                let (l, rx) = GstLadder::start(config, source, &rungs, progress.clone())?;
                (Inner::Gst(l), rx)
            }
            Backend::Ffmpeg => {
                let (l, rx) = FfmpegLadder::start(config, source, &rungs, progress.clone())?;
                (Inner::Ffmpeg(Box::new(l)), rx)
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
            return Err(Error::Input(
                "audio access unit pushed to a video ladder".into(),
            ));
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

    /// Back from nanoseconds (negative ones too), rounded to the nearest tick.
    pub(crate) fn time_of_ns(self, ns: i64) -> Time90k {
        let ticks = (i128::from(ns) * 90_000 + 500_000_000).div_euclid(1_000_000_000);
        Time90k(self.origin + ticks as i64)
    }

    /// Milliseconds (FLV), rounded to the nearest.
    pub(crate) fn to_ms(self, t: Time90k, what: &str) -> Result<u64> {
        Ok((self.rebased(t, what)? + 45) / 90)
    }

    pub(crate) fn time_of_ms(self, ms: i64) -> Time90k {
        Time90k(self.origin + ms * 90)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladders_move_between_threads() {
        fn is_send<T: Send>() {}
        is_send::<Ladder>();
        is_send::<LadderEvent>();
        is_send::<Error>();
    }

    #[test]
    fn timeline_round_trips() {
        for first in [-5_000_000, -1, 0, 1, 3003, 8_100_000_000] {
            let tl = Timeline::new(Time90k(first));
            for t in [
                first - 90_000,
                first,
                first + 1,
                first + 3003,
                first + 9_000_001,
            ] {
                let ns = tl.to_ns(Time90k(t), "pts").unwrap();
                assert_eq!(tl.time_of_ns(ns as i64), Time90k(t));
                let ms = tl.to_ms(Time90k(t), "pts").unwrap();
                assert!((tl.time_of_ms(ms as i64).0 - t).abs() <= 45);
            }
            assert!(
                tl.to_ns(Time90k(first - Timeline::MARGIN - 1), "pts")
                    .is_err()
            );
        }
    }
}
