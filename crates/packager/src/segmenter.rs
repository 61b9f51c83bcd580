//! Where segments are cut, independent of the container format.
//!
//! RFC 8216bis §6.2.1 wants segments of about the target duration that start
//! with a keyframe (`EXT-X-INDEPENDENT-SEGMENTS`, §4.3.5.1). This module
//! decides which access unit goes into which segment and what each segment's
//! `EXTINF` duration is; a [`SegmentWriter`] (MPEG-TS now, fMP4 later) turns
//! the access units of one segment into bytes.
//!
//! Rules:
//! - Video streams are cut only at video keyframes, once the open segment has
//!   lasted the target duration (within half a frame, so a GOP of exactly the
//!   target length with millisecond jitter still cuts every GOP).
//!   Audio-only streams are cut at any audio frame.
//! - Everything before the first video keyframe is dropped.
//! - Audio follows the keyframe's *presentation* time, not its decode time:
//!   with B-frames a keyframe is presented a few frames after it is decoded,
//!   and the audio of that gap belongs to the previous segment. So when a
//!   segment is cut, the previous one stays open for audio with a PTS below the
//!   new keyframe's PTS (it "closes"), and is finished by the first audio frame
//!   at or past that PTS. That keeps every segment's audio and video spanning
//!   the same presentation interval, which is what players and `ffprobe`
//!   measure. Audio presented before the first keyframe is dropped.
//! - A segment's duration is the next segment's start DTS minus its own; the
//!   last one's is its last DTS minus its start plus one frame duration
//!   (estimated from recent DTS steps).

use std::collections::VecDeque;

use av::{AccessUnit, MediaInfo, Time90k, TrackKind};
use bytes::Bytes;

use crate::{Error, Result, Segment, SegmentFormat, SegmenterConfig};

/// Timestamps beyond ±2^53 ticks (3,000 years) are refused, so that no
/// difference of two accepted timestamps can overflow.
const MAX_ABS_TIMESTAMP: u64 = 1 << 53;

/// How long past a closing segment's boundary the video may run before the
/// segment is finished without waiting for more audio (audio stalled or
/// absent although declared). Bounds the extra latency of such segments.
const MAX_AUDIO_WAIT: Time90k = Time90k(Time90k::HZ);

/// Turns the access units of one segment into bytes of one container format.
pub(crate) trait SegmentWriter {
    /// Per-segment output state (e.g. a buffer of TS packets).
    type Open;

    const FORMAT: SegmentFormat;

    /// Checks `au` and prepares its payload for [`Self::write`]. An error here
    /// leaves the segmenter unchanged: the access unit is rejected.
    fn prepare(&mut self, au: &AccessUnit) -> Result<()>;

    /// Starts segment `sequence` (e.g. writes PAT and PMT).
    fn open(&mut self, sequence: u64) -> Self::Open;

    /// Appends the access unit last passed to [`Self::prepare`].
    fn write(&mut self, seg: &mut Self::Open, au: &AccessUnit);

    /// Completes the segment's bytes.
    fn close(&mut self, seg: Self::Open) -> Bytes;
}

/// A segment receiving access units.
struct OpenSegment<O> {
    sequence: u64,
    start: Time90k,
    presentation_start: Time90k,
    video_frames: u32,
    audio_frames: u32,
    out: O,
}

/// The previous segment, cut but still taking audio presented before
/// `boundary_pts` (the next segment's keyframe PTS).
struct ClosingSegment<O> {
    seg: OpenSegment<O>,
    duration: Time90k,
    boundary_pts: Time90k,
}

/// Estimates the frame duration from the last few DTS steps.
#[derive(Debug, Default)]
struct FrameClock {
    last_dts: Option<Time90k>,
    steps: [i64; Self::N],
    len: usize,
    next: usize,
}

impl FrameClock {
    const N: usize = 15;

    fn observe(&mut self, dts: Time90k) {
        if let Some(last) = self.last_dts {
            let step = (dts - last).0;
            if step > 0 {
                self.steps[self.next] = step;
                self.next = (self.next + 1) % Self::N;
                self.len = (self.len + 1).min(Self::N);
            }
        }
        self.last_dts = Some(dts);
    }

    /// Mean of the recent steps within half a step of their median: robust
    /// against a gap or a burst, yet exact for millisecond-rounded clocks
    /// whose steps alternate (33, 33, 34 ms at 30 fps).
    fn estimate(&self) -> Option<Time90k> {
        if self.len == 0 {
            return None;
        }
        let mut sorted = self.steps;
        let s = &mut sorted[..self.len];
        s.sort_unstable();
        let median = s[self.len / 2];
        let (lo, hi) = (median - median / 2, median + median / 2);
        let (sum, n) = s
            .iter()
            .filter(|d| (lo..=hi).contains(*d))
            .fold((0i64, 0i64), |(sum, n), d| (sum + d, n + 1));
        Some(Time90k((sum + n / 2) / n.max(1)))
    }
}

/// The format-independent segmenter; the public segmenters wrap it with their
/// [`SegmentWriter`].
pub(crate) struct Segmenter<W: SegmentWriter> {
    writer: W,
    config: SegmenterConfig,
    info: MediaInfo,
    next_sequence: u64,
    open: Option<OpenSegment<W::Open>>,
    closing: Option<ClosingSegment<W::Open>>,
    ready: VecDeque<Segment>,
    /// Last accepted DTS per track (video, audio).
    last_dts: [Option<Time90k>; 2],
    /// DTS steps of the track that decides cuts (video, else audio).
    clock: FrameClock,
    /// Before the first cut: audio presented before the first keyframe is dropped.
    audio_floor: Option<Time90k>,
    dropped: u64,
    finished: bool,
}

impl<W: SegmentWriter> Segmenter<W> {
    pub(crate) fn new(
        writer: W,
        info: MediaInfo,
        config: SegmenterConfig,
        first_sequence: u64,
    ) -> Self {
        Segmenter {
            writer,
            config,
            info,
            next_sequence: first_sequence,
            open: None,
            closing: None,
            ready: VecDeque::new(),
            last_dts: [None, None],
            clock: FrameClock::default(),
            audio_floor: None,
            dropped: 0,
            finished: false,
        }
    }

    pub(crate) fn media_info(&self) -> &MediaInfo {
        &self.info
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    pub(crate) fn frame_duration(&self) -> Option<Time90k> {
        self.clock
            .estimate()
            .or_else(|| self.nominal_frame_duration())
    }

    fn has_video(&self) -> bool {
        self.info.video.is_some()
    }

    fn has_audio(&self) -> bool {
        self.info.audio.is_some()
    }

    /// From the codec configuration, for a segment with a single frame.
    fn nominal_frame_duration(&self) -> Option<Time90k> {
        match (&self.info.video, &self.info.audio) {
            (Some(v), _) => v.fps.map(|fps| Time90k::from_secs_f64(1.0 / fps)),
            (None, Some(a)) if a.sample_rate > 0 => Some(Time90k(
                i64::from(av::AacConfig::SAMPLES_PER_FRAME) * Time90k::HZ
                    / i64::from(a.sample_rate),
            )),
            _ => None,
        }
    }

    pub(crate) fn push(&mut self, au: AccessUnit) -> Result<()> {
        if self.finished {
            return Err(Error::Finished);
        }
        let (declared, slot) = match au.track {
            TrackKind::Video => (self.has_video(), 0),
            TrackKind::Audio => (self.has_audio(), 1),
        };
        if !declared {
            return Err(Error::UndeclaredTrack { track: au.track });
        }
        if au.dts.0.unsigned_abs() > MAX_ABS_TIMESTAMP
            || au.pts.0.unsigned_abs() > MAX_ABS_TIMESTAMP
        {
            return Err(Error::TimestampOutOfRange {
                track: au.track,
                pts: au.pts,
                dts: au.dts,
            });
        }
        if let Some(previous) = self.last_dts[slot]
            && au.dts < previous
        {
            return Err(Error::NonMonotonicDts {
                track: au.track,
                previous,
                dts: au.dts,
                by: previous - au.dts,
            });
        }
        if au.track == TrackKind::Video && au.pts < au.dts {
            return Err(Error::PtsBeforeDts {
                pts: au.pts,
                dts: au.dts,
            });
        }
        self.writer.prepare(&au)?;

        // Accepted: from here on nothing fails.
        self.last_dts[slot] = Some(au.dts);
        let decides_cuts = au.track == TrackKind::Video || !self.has_video();
        if decides_cuts {
            self.clock.observe(au.dts);
        }
        match au.track {
            TrackKind::Video => self.push_video(&au),
            TrackKind::Audio if self.has_video() => self.push_audio(&au),
            TrackKind::Audio => self.push_audio_only(&au),
        }
        Ok(())
    }

    fn push_video(&mut self, au: &AccessUnit) {
        if self.open.is_none() && !au.keyframe {
            self.dropped += 1;
            return;
        }
        if self
            .closing
            .as_ref()
            .is_some_and(|c| au.dts >= c.boundary_pts + MAX_AUDIO_WAIT)
        {
            tracing::debug!(
                boundary_pts_90k = self.closing.as_ref().map_or(0, |c| c.boundary_pts.0),
                "no audio up to the segment boundary; finishing the segment without it"
            );
            self.finish_closing();
        }
        if au.keyframe && self.should_cut(au.dts) {
            self.cut(au.dts, au.pts);
        }
        if let Some(seg) = &mut self.open {
            self.writer.write(&mut seg.out, au);
            seg.video_frames += 1;
        }
    }

    fn push_audio(&mut self, au: &AccessUnit) {
        if self.open.is_none() {
            self.dropped += 1;
            return;
        }
        if let Some(floor) = self.audio_floor {
            if au.pts < floor {
                self.dropped += 1;
                return;
            }
            self.audio_floor = None;
        }
        if let Some(c) = &mut self.closing {
            if au.pts < c.boundary_pts {
                self.writer.write(&mut c.seg.out, au);
                c.seg.audio_frames += 1;
                return;
            }
            self.finish_closing();
        }
        if let Some(seg) = &mut self.open {
            self.writer.write(&mut seg.out, au);
            seg.audio_frames += 1;
        }
    }

    fn push_audio_only(&mut self, au: &AccessUnit) {
        if self.should_cut(au.dts) {
            self.cut(au.dts, au.pts);
        }
        if let Some(seg) = &mut self.open {
            self.writer.write(&mut seg.out, au);
            seg.audio_frames += 1;
        }
    }

    /// Whether a keyframe (or audio frame, audio-only) at `dts` starts a new
    /// segment.
    fn should_cut(&self, dts: Time90k) -> bool {
        let Some(seg) = &self.open else {
            return true;
        };
        let half_frame = Time90k(self.clock.estimate().map_or(0, |d| d.0 / 2));
        dts - seg.start + half_frame >= self.config.target_duration
    }

    /// Ends the open segment at `dts` and opens the next one there.
    fn cut(&mut self, dts: Time90k, pts: Time90k) {
        self.finish_closing();
        match self.open.take() {
            Some(seg) => {
                let duration = dts - seg.start;
                if self.has_video() && self.has_audio() {
                    self.closing = Some(ClosingSegment {
                        seg,
                        duration,
                        boundary_pts: pts,
                    });
                } else {
                    self.emit(seg, duration);
                }
                self.audio_floor = None;
            }
            None if self.has_video() => self.audio_floor = Some(pts),
            None => {}
        }
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        let out = self.writer.open(sequence);
        self.open = Some(OpenSegment {
            sequence,
            start: dts,
            presentation_start: pts,
            video_frames: 0,
            audio_frames: 0,
            out,
        });
    }

    fn finish_closing(&mut self) {
        if let Some(c) = self.closing.take() {
            self.emit(c.seg, c.duration);
        }
    }

    fn emit(&mut self, seg: OpenSegment<W::Open>, duration: Time90k) {
        let data = self.writer.close(seg.out);
        tracing::debug!(
            sequence = seg.sequence,
            start_90k = seg.start.0,
            duration_90k = duration.0,
            bytes = data.len(),
            video_frames = seg.video_frames,
            audio_frames = seg.audio_frames,
            "segment complete"
        );
        self.ready.push_back(Segment {
            sequence: seg.sequence,
            format: W::FORMAT,
            start: seg.start,
            presentation_start: seg.presentation_start,
            duration,
            data,
            independent: true,
            video_frames: seg.video_frames,
            audio_frames: seg.audio_frames,
        });
    }

    pub(crate) fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.finish_closing();
        if let Some(seg) = self.open.take() {
            let slot = if self.has_video() { 0 } else { 1 };
            let last = self.last_dts[slot].unwrap_or(seg.start);
            let frame = self.frame_duration().unwrap_or(Time90k::ZERO);
            let duration = last - seg.start + frame;
            self.emit(seg, duration);
        }
    }

    pub(crate) fn pull(&mut self) -> Option<Segment> {
        self.ready.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil;

    /// Records what went where, as `"<seq>:<V|A><dts>"` strings per segment.
    #[derive(Default)]
    struct LogWriter {
        reject_empty: bool,
    }

    impl SegmentWriter for LogWriter {
        type Open = Vec<u8>;
        const FORMAT: SegmentFormat = SegmentFormat::MpegTs;

        fn prepare(&mut self, au: &AccessUnit) -> Result<()> {
            if self.reject_empty && au.data.is_empty() {
                return Err(Error::EmptyAccessUnit {
                    track: au.track,
                    dts: au.dts,
                });
            }
            Ok(())
        }
        fn open(&mut self, _sequence: u64) -> Vec<u8> {
            Vec::new()
        }
        fn write(&mut self, seg: &mut Vec<u8>, au: &AccessUnit) {
            let t = if au.track == TrackKind::Video {
                'V'
            } else {
                'A'
            };
            seg.extend_from_slice(format!("{t}{} ", au.pts.0).as_bytes());
        }
        fn close(&mut self, seg: Vec<u8>) -> Bytes {
            Bytes::from(seg)
        }
    }

    fn video(dts: i64, pts: i64, keyframe: bool) -> AccessUnit {
        AccessUnit {
            track: TrackKind::Video,
            pts: Time90k(pts),
            dts: Time90k(dts),
            keyframe,
            data: Bytes::from_static(b"v"),
        }
    }

    fn audio(ts: i64) -> AccessUnit {
        AccessUnit {
            track: TrackKind::Audio,
            pts: Time90k(ts),
            dts: Time90k(ts),
            keyframe: true,
            data: Bytes::from_static(b"a"),
        }
    }

    fn segmenter(info: MediaInfo, target: i64) -> Segmenter<LogWriter> {
        let config = SegmenterConfig {
            target_duration: Time90k(target),
        };
        Segmenter::new(LogWriter { reject_empty: true }, info, config, 7)
    }

    fn drain(s: &mut Segmenter<LogWriter>) -> Vec<(u64, i64, i64, String)> {
        std::iter::from_fn(|| s.pull())
            .map(|seg| {
                let log = String::from_utf8_lossy(&seg.data).trim_end().to_owned();
                (seg.sequence, seg.start.0, seg.duration.0, log)
            })
            .collect()
    }

    #[test]
    fn audio_follows_keyframe_presentation_time() {
        let mut s = segmenter(testutil::media_info_av(), 300);
        // Video at 100-tick frames, keyframes every 3 frames, presented 100
        // ticks after decoding; audio every 100 ticks offset by 50.
        s.push(audio(-50)).unwrap(); // before the first keyframe: dropped
        for i in 0..9i64 {
            let dts = i * 100;
            s.push(video(dts, dts + 100, i % 3 == 0)).unwrap();
            s.push(audio(dts + 50)).unwrap();
        }
        s.finish();
        let segs = drain(&mut s);
        assert_eq!(
            segs,
            vec![
                // A50 is presented before the first keyframe (PTS 100): dropped.
                (7, 0, 300, "V100 V200 A150 V300 A250 A350".to_owned()),
                (8, 300, 300, "V400 V500 A450 V600 A550 A650".to_owned()),
                (9, 600, 300, "V700 V800 A750 V900 A850".to_owned()),
            ]
        );
        assert_eq!(s.dropped(), 2);
    }

    #[test]
    fn cuts_only_at_keyframes_after_target() {
        let mut s = segmenter(testutil::media_info_video(), 260);
        s.push(video(0, 0, false)).unwrap(); // dropped: no keyframe yet
        for (dts, key) in [
            (100, true),
            (200, false),
            (300, true),
            (400, true),
            (500, false),
        ] {
            s.push(video(dts, dts, key)).unwrap();
        }
        s.finish();
        let segs = drain(&mut s);
        // 300 is 200 after 100: below the target minus half a frame (210).
        // 400 is 300 after: cut. The last segment gets one frame (100) added.
        assert_eq!(
            segs,
            vec![
                (7, 100, 300, "V100 V200 V300".to_owned()),
                (8, 400, 200, "V400 V500".to_owned()),
            ]
        );
    }

    #[test]
    fn audio_only_cuts_on_duration() {
        let mut s = segmenter(testutil::media_info_audio(), 250);
        for ts in (0..5).map(|i| 1000 + i * 90) {
            s.push(audio(ts)).unwrap();
        }
        s.finish();
        let segs = drain(&mut s);
        assert_eq!(
            segs,
            vec![
                (7, 1000, 270, "A1000 A1090 A1180".to_owned()),
                (8, 1270, 180, "A1270 A1360".to_owned()),
            ]
        );
    }

    #[test]
    fn stalled_audio_does_not_hold_a_segment_forever() {
        let mut s = segmenter(testutil::media_info_av(), 90_000);
        // 30 fps, keyframes at frames 0 and 30 only; no audio ever arrives.
        for i in 0..60i64 {
            s.push(video(i * 3000, i * 3000, i % 30 == 0)).unwrap();
            assert!(s.pull().is_none(), "frame {i}");
        }
        // Segment 7 was cut at 90_000 and is released once the video is
        // MAX_AUDIO_WAIT past that boundary.
        s.push(video(180_000, 180_000, false)).unwrap();
        let seg = s.pull().unwrap();
        assert_eq!(
            (seg.sequence, seg.duration, seg.video_frames),
            (7, Time90k(90_000), 30)
        );
    }

    #[test]
    fn rejects_bad_input_without_changing_state() {
        let mut s = segmenter(testutil::media_info_video(), 300);
        s.push(video(1000, 1000, true)).unwrap();
        assert_eq!(
            s.push(audio(1000)),
            Err(Error::UndeclaredTrack {
                track: TrackKind::Audio
            })
        );
        assert_eq!(
            s.push(video(900, 900, false)),
            Err(Error::NonMonotonicDts {
                track: TrackKind::Video,
                previous: Time90k(1000),
                dts: Time90k(900),
                by: Time90k(100),
            })
        );
        assert!(matches!(
            s.push(video(1100, 1000, false)),
            Err(Error::PtsBeforeDts { .. })
        ));
        for (dts, pts) in [(i64::MAX, i64::MAX), (i64::MIN, 2000), (2000, i64::MIN)] {
            assert!(matches!(
                s.push(video(dts, pts, false)),
                Err(Error::TimestampOutOfRange { .. })
            ));
        }
        let mut empty = video(1100, 1100, false);
        empty.data = Bytes::new();
        assert!(matches!(s.push(empty), Err(Error::EmptyAccessUnit { .. })));
        // Equal DTS is allowed (non-decreasing).
        s.push(video(1000, 1050, false)).unwrap();
        s.finish();
        assert_eq!(s.push(video(2000, 2000, true)), Err(Error::Finished));
        let segs = drain(&mut s);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].3, "V1000 V1050");
    }

    #[test]
    fn frame_clock_ignores_outliers() {
        let mut c = FrameClock::default();
        assert_eq!(c.estimate(), None);
        for dts in [0, 3003, 6006, 9009, 30000, 33003, 36006, 39009] {
            c.observe(Time90k(dts));
        }
        assert_eq!(c.estimate(), Some(Time90k(3003)));
        // FLV milliseconds at 30 fps: 33, 33, 34 ms.
        let mut c = FrameClock::default();
        for i in 0..100 {
            c.observe(Time90k::from_millis(i * 1000 / 30));
        }
        assert_eq!(c.estimate(), Some(Time90k(3000)));
    }
}
