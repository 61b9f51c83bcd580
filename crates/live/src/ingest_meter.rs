//! What the publisher is sending, measured from the access units as they
//! arrive: bitrate and frame rate over a sliding window of media time, and
//! the interval between keyframes. Pure; the session feeds it and reports
//! its readings to the control plane (and metrics) every few seconds.

use std::collections::VecDeque;

use av::{AccessUnit, Time90k, TrackKind};

/// Media time the bitrate and frame rate are averaged over.
const WINDOW: Time90k = Time90k(5 * 90_000);

/// Readings of an [`IngestMeter`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IngestReading {
    /// Audio and video payload, in bits per second; `None` until a second
    /// of media has arrived.
    pub bitrate_bps: Option<u64>,
    /// Video frames per second; `None` until a second of video arrived.
    pub fps: Option<f64>,
    /// Time between the last two keyframes, in milliseconds.
    pub keyframe_interval_ms: Option<u32>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct IngestMeter {
    /// (decode time, payload bytes, is video) of the units in the window.
    units: VecDeque<(Time90k, usize, bool)>,
    window_bytes: usize,
    window_frames: usize,
    /// The latest decode time seen (tracks interleave, slightly out of
    /// order).
    newest: Option<Time90k>,
    last_keyframe: Option<Time90k>,
    keyframe_interval: Option<Time90k>,
}

impl IngestMeter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one access unit (timestamps as received, before any rebase:
    /// a reconnect restarts the measurements, see [`IngestMeter::reset`]).
    pub fn push(&mut self, au: &AccessUnit) {
        let video = au.track == TrackKind::Video;
        if video && au.keyframe {
            if let Some(last) = self.last_keyframe
                && au.dts > last
            {
                self.keyframe_interval = Some(au.dts - last);
            }
            self.last_keyframe = Some(au.dts);
        }
        self.units.push_back((au.dts, au.data.len(), video));
        self.window_bytes += au.data.len();
        self.window_frames += usize::from(video);
        let newest = self.newest.map_or(au.dts, |n| n.max(au.dts));
        self.newest = Some(newest);
        while let Some(&(dts, bytes, video)) = self.units.front() {
            if newest - dts <= WINDOW {
                break;
            }
            self.units.pop_front();
            self.window_bytes -= bytes;
            self.window_frames -= usize::from(video);
        }
    }

    /// Forgets everything (a new publisher session with its own clock).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    pub fn reading(&self) -> IngestReading {
        let span = match (self.units.front(), self.newest) {
            (Some(first), Some(newest)) => (newest - first.0).as_secs_f64(),
            _ => 0.0,
        };
        let enough = span >= 1.0;
        IngestReading {
            bitrate_bps: enough.then(|| (self.window_bytes as f64 * 8.0 / span).round() as u64),
            fps: (enough && self.window_frames > 1).then(|| (self.window_frames - 1) as f64 / span),
            keyframe_interval_ms: self
                .keyframe_interval
                .map(|t| (t.as_secs_f64() * 1000.0).round() as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn unit(track: TrackKind, dts_ms: i64, bytes: usize, keyframe: bool) -> AccessUnit {
        let t = Time90k::from_millis(dts_ms);
        AccessUnit {
            track,
            pts: t,
            dts: t,
            keyframe,
            data: Bytes::from(vec![0u8; bytes]),
        }
    }

    #[test]
    fn measures_a_30_fps_2_s_gop_stream() {
        let mut m = IngestMeter::new();
        assert_eq!(m.reading(), IngestReading::default());
        // 10 s of 30 fps video, 10 000 bytes a frame, a keyframe every 60
        // frames; AAC frames of 400 bytes every 21.333 ms.
        // Interleaved in decode order, as RTMP sends them.
        let mut units: Vec<AccessUnit> = (0..300)
            .map(|i| unit(TrackKind::Video, i * 1000 / 30, 10_000, i % 60 == 0))
            .chain((0..469).map(|i| unit(TrackKind::Audio, i * 64 / 3, 400, true)))
            .collect();
        units.sort_by_key(|u| u.dts);
        for u in &units {
            m.push(u);
        }
        let r = m.reading();
        let fps = r.fps.unwrap();
        assert!((fps - 30.0).abs() < 0.5, "{fps}");
        // 10 000 B × 30/s × 8 = 2.4 Mbit/s video + 400 B × 46.875/s × 8 =
        // 150 kbit/s audio.
        let bps = r.bitrate_bps.unwrap() as f64;
        assert!((bps - 2_550_000.0).abs() / 2_550_000.0 < 0.03, "{bps}");
        assert_eq!(r.keyframe_interval_ms, Some(2000));
    }

    #[test]
    fn the_window_slides_and_reset_forgets() {
        let mut m = IngestMeter::new();
        // 20 s at 1 Mbit/s, then 10 s at 4 Mbit/s: the reading follows.
        for i in 0..600 {
            m.push(&unit(TrackKind::Video, i * 1000 / 30, 4_167, false));
        }
        for i in 600..900 {
            m.push(&unit(TrackKind::Video, i * 1000 / 30, 16_667, false));
        }
        let bps = m.reading().bitrate_bps.unwrap() as f64;
        assert!((bps - 4_000_000.0).abs() / 4_000_000.0 < 0.05, "{bps}");
        assert_eq!(m.reading().keyframe_interval_ms, None);
        m.reset();
        assert_eq!(m.reading(), IngestReading::default());
    }
}
