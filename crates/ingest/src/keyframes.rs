//! When the next video keyframe is due: batched reads pause for it.
//!
//! A publishing connection reads media in batches of `media_batch_ms`
//! (`crate::server`): one wakeup per batch instead of one per frame, most
//! of the CPU saved at N = 100. But a segment is complete only when the
//! keyframe that starts the next one is read, and a batch wait in front of
//! that keyframe is latency every viewer sees. Encoders send keyframes at a
//! fixed interval (OBS's keyframe interval, ffmpeg's `-g`), so the next one
//! is due one interval after the last: around then the connection reads
//! as bytes arrive, and the keyframe is read the moment it is in.

use av::{DemuxEvent, Time90k, TrackKind};

/// Keyframe timing of one publisher's video, from its access units.
#[derive(Debug, Default)]
pub(crate) struct KeyframeClock {
    last_keyframe: Option<Time90k>,
    /// The last interval between two keyframes.
    interval: Option<Time90k>,
    last_video: Option<Time90k>,
}

impl KeyframeClock {
    pub(crate) fn observe(&mut self, event: &DemuxEvent) {
        let DemuxEvent::Unit(unit) = event else {
            return;
        };
        if unit.track != TrackKind::Video {
            return;
        }
        self.last_video = Some(unit.dts);
        if unit.keyframe {
            if let Some(previous) = self.last_keyframe
                && unit.dts > previous
            {
                self.interval = Some(unit.dts - previous);
            }
            self.last_keyframe = Some(unit.dts);
        }
    }

    /// Whether the video read so far reaches to within `lookahead` of when
    /// the next keyframe is due. False until two keyframes were seen (no
    /// interval yet); true again after an overdue keyframe until it comes
    /// (an encoder that stalled, or one with an irregular interval, gets
    /// unbatched reads until its next keyframe).
    pub(crate) fn due_within(&self, lookahead: Time90k) -> bool {
        match (self.last_keyframe, self.interval, self.last_video) {
            (Some(keyframe), Some(interval), Some(video)) => {
                video + lookahead >= keyframe + interval
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use av::AccessUnit;
    use bytes::Bytes;

    fn unit(track: TrackKind, ms: i64, keyframe: bool) -> DemuxEvent {
        DemuxEvent::Unit(AccessUnit {
            track,
            pts: Time90k::from_millis(ms),
            dts: Time90k::from_millis(ms),
            keyframe,
            data: Bytes::new(),
        })
    }

    #[test]
    fn due_shortly_before_each_keyframe() {
        let mut k = KeyframeClock::default();
        let lookahead = Time90k::from_millis(100);
        // 30 fps, a keyframe every 2 s.
        for f in 0..60 {
            k.observe(&unit(TrackKind::Video, f * 1000 / 30, f == 0));
            assert!(
                !k.due_within(lookahead),
                "no interval before the second keyframe"
            );
        }
        k.observe(&unit(TrackKind::Video, 2000, true));
        for f in 61..120 {
            let ms = f * 1000 / 30;
            k.observe(&unit(TrackKind::Video, ms, false));
            k.observe(&unit(TrackKind::Audio, ms + 5, true));
            assert_eq!(
                k.due_within(lookahead),
                ms + 100 >= 4000,
                "frame {f} at {ms} ms"
            );
        }
        // Overdue: still due until the keyframe comes.
        k.observe(&unit(TrackKind::Video, 4100, false));
        assert!(k.due_within(lookahead));
        k.observe(&unit(TrackKind::Video, 4133, true));
        assert!(!k.due_within(lookahead));
    }
}
