//! Where segments and LL-HLS parts are cut, independent of the container
//! format.
//!
//! RFC 8216bis §6.2.1 wants segments of about the target duration that start
//! with a keyframe (`EXT-X-INDEPENDENT-SEGMENTS`, §4.3.5.1), and §4.4.4.9
//! wants partial segments of at most about the part target. This module
//! decides which access unit goes into which segment and part and what their
//! durations are; a [`SegmentWriter`] (MPEG-TS or fMP4) turns the access units
//! into bytes.
//!
//! Segments:
//! - Video streams are cut only at video keyframes, once the open segment has
//!   lasted the target duration (within half a frame, so a GOP of exactly the
//!   target length with millisecond jitter still cuts every GOP).
//!   Audio-only streams are cut at any audio frame.
//! - Everything before the first video keyframe is dropped, and so is audio
//!   presented before it.
//! - A segment's duration is the next segment's start DTS minus its own; the
//!   last one's is its last DTS minus its start plus one frame duration
//!   (estimated from recent DTS steps), or up to the end of the audio that
//!   arrived after the last picture, if that is later.
//!
//! Audio at a segment boundary goes into the segment (and part) that is
//! open when it arrives, in both formats: a segment is complete the moment
//! the keyframe that cuts it arrives, and nothing waits for audio. With
//! B-frames a keyframe is presented a few frames after it is decoded, so a
//! segment's audio starts up to that composition delay before its first
//! picture and ends as much before its last. Each MPEG-TS PES and each fMP4
//! `traf` carries its own timestamps, so players (MSE, AVPlayer) splice the
//! tracks by time; nginx-rtmp and ffmpeg's HLS muxer cut the same way.
//! Waiting instead for the audio presented before the keyframe (this
//! segmenter did, for MPEG-TS, until issue 17) held every segment back by
//! that delay, ~70–100 ms at 30 fps: most of the latency between the
//! publisher and the playlist. Audio that arrives after a part was closed
//! and before the next video frame is held and written with that frame
//! (into the next segment if the frame is a cut), so no part is ever
//! audio-only while the video flows.
//!
//! Parts (fMP4 only), when a part target is configured:
//! - A part ends right after the video frame (audio-only: audio frame) with
//!   which its duration — counting the estimated frame duration for that last
//!   frame — reaches the part target within half a frame. It is emitted then,
//!   without waiting for the next frame: the LL-HLS live edge wants a part
//!   listed within tens of milliseconds of its last frame arriving.
//! - A segment boundary always ends the open part (that last part may be
//!   short, which §4.4.4.9 allows). Only then does a part wait for a frame
//!   that is not its own: nothing tells that a frame is a segment's last
//!   before the next keyframe arrives. A part target that divides the
//!   segment target (200 ms or 500 ms for 2 s) closes every last part on
//!   time as well.
//! - Parts tile their segment: each starts where the previous one ended.
//! - Held audio older than [`MAX_AUDIO_WAIT`] (the video stalled) is written
//!   as a part of its own, so the playlist keeps moving.

use std::collections::VecDeque;

use av::{AccessUnit, MediaInfo, Time90k, TrackKind};
use bytes::Bytes;

use super::clock::FrameClock;
use crate::{Error, Output, Part, Result, Segment, SegmentFormat, SegmenterConfig};

/// Timestamps beyond ±2^53 ticks (3,000 years) are refused, so that no
/// difference of two accepted timestamps can overflow.
pub(crate) const MAX_ABS_TIMESTAMP: u64 = 1 << 53;

/// How much audio may be held for a video frame that does not come (the
/// video stalled) before it is written as a part of its own. Bounds the
/// extra latency of such parts.
pub(crate) const MAX_AUDIO_WAIT: Time90k = Time90k(Time90k::HZ);

/// Turns the access units of one segment into bytes of one container format.
pub(crate) trait SegmentWriter {
    /// Per-segment output state (e.g. a buffer of TS packets).
    type Open;

    const FORMAT: SegmentFormat;
    /// Whether [`Self::end_part`] may be called.
    const SUPPORTS_PARTS: bool;

    /// The initialization segment, emitted before everything else.
    fn init(&self) -> Option<Bytes>;

    /// Checks `au` and prepares its payload for [`Self::write`]. An error here
    /// leaves the segmenter unchanged: the access unit is rejected.
    fn prepare(&mut self, au: &AccessUnit) -> Result<()>;

    /// Starts segment `sequence` (e.g. writes PAT and PMT).
    fn open(&mut self, sequence: u64) -> Self::Open;

    /// Appends the access unit last passed to [`Self::prepare`].
    fn write(&mut self, seg: &mut Self::Open, au: &AccessUnit);

    /// Ends the current part: the bytes of everything written since the last
    /// part. `last_video_duration` is what the last video frame written lasts.
    fn end_part(&mut self, seg: &mut Self::Open, last_video_duration: Time90k) -> Vec<Bytes>;

    /// Completes the segment's bytes (with parts: the concatenation of all
    /// parts, the last of which already ended).
    fn close(&mut self, seg: Self::Open, last_video_duration: Time90k) -> Vec<Bytes>;

    /// Takes back the bytes of a segment the caller is done with, to reuse
    /// its memory. Writers that build segments from slices of the access
    /// units have nothing to reuse.
    fn recycle(&mut self, _data: Vec<Bytes>) {}
}

/// The part receiving access units.
#[derive(Debug)]
struct OpenPart {
    index: u32,
    /// Where the previous part ended (the segment start for part 0).
    start: Time90k,
    /// Whether the part's first video frame is a keyframe; `None` before it.
    first_video_keyframe: Option<bool>,
    /// Access units written into the part.
    units: u32,
}

impl OpenPart {
    fn new(index: u32, start: Time90k) -> Self {
        OpenPart {
            index,
            start,
            first_video_keyframe: None,
            units: 0,
        }
    }
}

/// A segment receiving access units.
struct OpenSegment<O> {
    sequence: u64,
    start: Time90k,
    presentation_start: Time90k,
    video_frames: u32,
    audio_frames: u32,
    /// DTS of the last video frame written, for its duration at a cut.
    last_video_dts: Option<Time90k>,
    /// DTS of the last frame of the track that decides cuts.
    last_cut_dts: Time90k,
    /// Where the audio written after the last video frame ends; at the end
    /// of the stream such trailing audio extends the last segment.
    trailing_audio_end: Option<Time90k>,
    part: OpenPart,
    out: O,
}

impl<O> OpenSegment<O> {
    fn wrote_audio(&mut self, au: &AccessUnit, audio_frame: Time90k) {
        self.audio_frames += 1;
        self.part.units += 1;
        let end = au.dts + audio_frame;
        self.trailing_audio_end = Some(self.trailing_audio_end.map_or(end, |e| e.max(end)));
    }

    fn wrote_video(&mut self, au: &AccessUnit) {
        self.video_frames += 1;
        self.part.units += 1;
        self.part.first_video_keyframe.get_or_insert(au.keyframe);
        self.last_video_dts = Some(au.dts);
        self.last_cut_dts = au.dts;
        self.trailing_audio_end = None;
    }
}

/// The format-independent segmenter; the public segmenters wrap it with their
/// [`SegmentWriter`].
pub(crate) struct Core<W: SegmentWriter> {
    writer: W,
    config: SegmenterConfig,
    /// The configured part target, if the writer supports parts.
    part_target: Option<Time90k>,
    info: MediaInfo,
    next_sequence: u64,
    open: Option<OpenSegment<W::Open>>,
    /// Audio waiting for the next video frame.
    held_audio: Vec<AccessUnit>,
    ready: VecDeque<Output>,
    /// Last accepted DTS per track (video, audio).
    last_dts: [Option<Time90k>; 2],
    /// DTS steps of the track that decides cuts (video, else audio).
    clock: FrameClock,
    /// Before the first cut: audio presented before the first keyframe is dropped.
    audio_floor: Option<Time90k>,
    dropped: u64,
    finished: bool,
}

impl<W: SegmentWriter> Core<W> {
    pub(crate) fn new(
        writer: W,
        info: MediaInfo,
        config: SegmenterConfig,
        first_sequence: u64,
    ) -> Self {
        let part_target = config.part_target.filter(|t| t.0 > 0);
        if part_target.is_some() && !W::SUPPORTS_PARTS {
            tracing::warn!(
                format = ?W::FORMAT,
                "LL-HLS parts need fMP4; cutting segments without parts"
            );
        }
        let mut ready = VecDeque::new();
        if let Some(init) = writer.init() {
            ready.push_back(Output::Init(init));
        }
        Core {
            writer,
            config,
            part_target: part_target.filter(|_| W::SUPPORTS_PARTS),
            info,
            next_sequence: first_sequence,
            open: None,
            held_audio: Vec::new(),
            ready,
            last_dts: [None, None],
            clock: FrameClock::default(),
            audio_floor: None,
            dropped: 0,
            finished: false,
        }
    }

    pub(crate) fn recycle(&mut self, data: Vec<Bytes>) {
        self.writer.recycle(data);
    }

    pub(crate) fn writer(&self) -> &W {
        &self.writer
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
            (Some(v), _) => v
                .fps
                .filter(|fps| fps.is_finite() && *fps > 0.0)
                .map(|fps| Time90k::from_secs_f64(1.0 / fps)),
            (None, Some(_)) => self.audio_frame_duration(),
            _ => None,
        }
    }

    /// One AAC frame (1024 samples), rounded to the nearest tick.
    fn audio_frame_duration(&self) -> Option<Time90k> {
        let rate = i64::from(self.info.audio.as_ref()?.sample_rate);
        (rate > 0).then(|| {
            let samples = i64::from(av::AacConfig::SAMPLES_PER_FRAME);
            Time90k((samples * Time90k::HZ + rate / 2) / rate)
        })
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
            TrackKind::Video => self.push_video(au),
            TrackKind::Audio if self.has_video() => self.push_audio(au),
            TrackKind::Audio => self.push_audio_only(au),
        }
        Ok(())
    }

    fn push_video(&mut self, au: AccessUnit) {
        if self.open.is_none() && !au.keyframe {
            self.dropped += 1;
            return;
        }
        if au.keyframe && self.should_cut(au.dts) {
            self.cut(au.dts, au.pts);
        }
        let held = std::mem::take(&mut self.held_audio);
        let audio_frame = self.audio_frame_duration().unwrap_or(Time90k::ZERO);
        if let Some(seg) = &mut self.open {
            for a in &held {
                self.writer.write(&mut seg.out, a);
                seg.wrote_audio(a, audio_frame);
            }
            self.writer.write(&mut seg.out, &au);
            seg.wrote_video(&au);
        }
        // Keep the allocation.
        self.held_audio = held;
        self.held_audio.clear();
        self.maybe_end_part(au.dts);
    }

    fn push_audio(&mut self, au: AccessUnit) {
        let audio_frame = self.audio_frame_duration().unwrap_or(Time90k::ZERO);
        let Some(seg) = &mut self.open else {
            self.dropped += 1;
            return;
        };
        if let Some(floor) = self.audio_floor {
            if au.pts < floor {
                self.dropped += 1;
                return;
            }
            self.audio_floor = None;
        }
        if seg.part.first_video_keyframe.is_none() {
            self.held_audio.push(au);
            self.end_stalled_part();
        } else {
            self.writer.write(&mut seg.out, &au);
            seg.wrote_audio(&au, audio_frame);
        }
    }

    fn push_audio_only(&mut self, au: AccessUnit) {
        if self.should_cut(au.dts) {
            self.cut(au.dts, au.pts);
        }
        if let Some(seg) = &mut self.open {
            self.writer.write(&mut seg.out, &au);
            seg.audio_frames += 1;
            seg.part.units += 1;
            seg.part.first_video_keyframe.get_or_insert(true);
            seg.last_cut_dts = au.dts;
        }
        self.maybe_end_part(au.dts);
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

    /// Ends the open part after a frame of the cut track at `dts`, if it
    /// reached the part target.
    fn maybe_end_part(&mut self, dts: Time90k) {
        let Some(target) = self.part_target else {
            return;
        };
        let frame = self.frame_duration().unwrap_or(Time90k::ZERO);
        let Some(seg) = &mut self.open else {
            return;
        };
        let end = dts + frame;
        if end - seg.part.start + Time90k(frame.0 / 2) >= target {
            let has_video = self.info.video.is_some();
            end_part(
                &mut self.writer,
                &mut self.ready,
                seg,
                end,
                frame,
                has_video,
            );
        }
    }

    /// Writes held audio as a part of its own once it spans
    /// [`MAX_AUDIO_WAIT`]: the video stalled.
    fn end_stalled_part(&mut self) {
        let (Some(first), Some(last)) = (self.held_audio.first(), self.held_audio.last()) else {
            return;
        };
        if self.part_target.is_none() || last.dts - first.dts < MAX_AUDIO_WAIT {
            return;
        }
        tracing::debug!(
            held_audio_frames = self.held_audio.len(),
            "no video for a second; ending an audio-only part"
        );
        let audio_frame = self.audio_frame_duration().unwrap_or(Time90k::ZERO);
        let end = last.dts + audio_frame;
        let frame = self.frame_duration().unwrap_or(Time90k::ZERO);
        let has_video = self.has_video();
        let held = std::mem::take(&mut self.held_audio);
        if let Some(seg) = &mut self.open {
            for a in &held {
                self.writer.write(&mut seg.out, a);
                seg.wrote_audio(a, audio_frame);
            }
            let end = end.max(seg.part.start);
            end_part(
                &mut self.writer,
                &mut self.ready,
                seg,
                end,
                frame,
                has_video,
            );
        }
    }

    /// Ends the open segment at `dts` and opens the next one there.
    fn cut(&mut self, dts: Time90k, pts: Time90k) {
        let frame = self.frame_duration().unwrap_or(Time90k::ZERO);
        let has_video = self.has_video();
        match self.open.take() {
            Some(mut seg) => {
                let duration = dts - seg.start;
                let last_video_duration = seg.last_video_dts.map_or(frame, |last| dts - last);
                if self.part_target.is_some() {
                    end_part(
                        &mut self.writer,
                        &mut self.ready,
                        &mut seg,
                        dts,
                        last_video_duration,
                        has_video,
                    );
                }
                self.emit(seg, duration, last_video_duration);
                self.audio_floor = None;
            }
            None if has_video => self.audio_floor = Some(pts),
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
            last_video_dts: None,
            last_cut_dts: dts,
            trailing_audio_end: None,
            part: OpenPart::new(0, dts),
            out,
        });
    }

    fn emit(&mut self, seg: OpenSegment<W::Open>, duration: Time90k, last_video_duration: Time90k) {
        let data = self.writer.close(seg.out, last_video_duration);
        let segment = Segment {
            sequence: seg.sequence,
            format: W::FORMAT,
            start: seg.start,
            presentation_start: seg.presentation_start,
            duration,
            data,
            independent: true,
            video_frames: seg.video_frames,
            audio_frames: seg.audio_frames,
        };
        tracing::debug!(
            sequence = segment.sequence,
            start_90k = segment.start.0,
            duration_90k = segment.duration.0,
            bytes = segment.size_bytes(),
            video_frames = segment.video_frames,
            audio_frames = segment.audio_frames,
            "segment complete"
        );
        self.ready.push_back(Output::Segment(segment));
    }

    pub(crate) fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let frame = self.frame_duration().unwrap_or(Time90k::ZERO);
        let audio_frame = self.audio_frame_duration().unwrap_or(Time90k::ZERO);
        let has_video = self.has_video();
        let held = std::mem::take(&mut self.held_audio);
        if let Some(mut seg) = self.open.take() {
            for a in &held {
                self.writer.write(&mut seg.out, a);
                seg.wrote_audio(a, audio_frame);
            }
            let mut end = seg.last_cut_dts + frame;
            // Audio that came after the last picture ends the stream.
            if let Some(audio_end) = seg.trailing_audio_end {
                end = end.max(audio_end);
            }
            if self.part_target.is_some() {
                end_part(
                    &mut self.writer,
                    &mut self.ready,
                    &mut seg,
                    end,
                    frame,
                    has_video,
                );
            }
            let duration = end - seg.start;
            self.emit(seg, duration, frame);
        }
    }

    pub(crate) fn pull(&mut self) -> Option<Output> {
        self.ready.pop_front()
    }
}

/// Ends `seg`'s open part at `end` (if anything was written into it) and
/// queues it; the next part starts at `end`.
fn end_part<W: SegmentWriter>(
    writer: &mut W,
    ready: &mut VecDeque<Output>,
    seg: &mut OpenSegment<W::Open>,
    end: Time90k,
    last_video_duration: Time90k,
    has_video: bool,
) {
    if seg.part.units == 0 {
        return;
    }
    let data = writer.end_part(&mut seg.out, last_video_duration);
    let part = &seg.part;
    let part = Part {
        segment_sequence: seg.sequence,
        index: part.index,
        duration: Time90k((end - part.start).0.max(0)),
        // Audio-only parts of a stream with video (stalls, the stream's
        // end) carry no picture to start from.
        independent: part.first_video_keyframe.unwrap_or(false) || !has_video,
        data,
    };
    tracing::trace!(
        sequence = part.segment_sequence,
        part = part.index,
        duration_90k = part.duration.0,
        bytes = part.size_bytes(),
        "part complete"
    );
    ready.push_back(Output::Part(part));
    seg.part = OpenPart::new(seg.part.index + 1, end);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil;

    /// Records what went where, as `"<V|A><pts>"` strings per segment; a part
    /// boundary shows as `|`.
    struct LogWriter<const PARTS: bool> {
        reject_empty: bool,
    }

    #[derive(Default)]
    struct LogSegment {
        parts: Vec<Bytes>,
        current: String,
    }

    impl<const PARTS: bool> SegmentWriter for LogWriter<PARTS> {
        type Open = LogSegment;
        const FORMAT: SegmentFormat = SegmentFormat::MpegTs;
        const SUPPORTS_PARTS: bool = PARTS;

        fn init(&self) -> Option<Bytes> {
            None
        }
        fn prepare(&mut self, au: &AccessUnit) -> Result<()> {
            if self.reject_empty && au.data.is_empty() {
                return Err(Error::EmptyAccessUnit {
                    track: au.track,
                    dts: au.dts,
                });
            }
            Ok(())
        }
        fn open(&mut self, _sequence: u64) -> LogSegment {
            LogSegment::default()
        }
        fn write(&mut self, seg: &mut LogSegment, au: &AccessUnit) {
            let t = if au.track == TrackKind::Video {
                'V'
            } else {
                'A'
            };
            seg.current.push_str(&format!("{t}{} ", au.pts.0));
        }
        fn end_part(&mut self, seg: &mut LogSegment, _last: Time90k) -> Vec<Bytes> {
            let part = Bytes::from(std::mem::take(&mut seg.current).trim_end().to_owned());
            seg.parts.push(part.clone());
            vec![part]
        }
        fn close(&mut self, mut seg: LogSegment, last: Time90k) -> Vec<Bytes> {
            if !seg.current.is_empty() {
                self.end_part(&mut seg, last);
            }
            seg.parts
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

    fn segmenter<const P: bool>(
        info: MediaInfo,
        target: i64,
        part_target: Option<i64>,
    ) -> Core<LogWriter<P>> {
        let config = SegmenterConfig {
            target_duration: Time90k(target),
            part_target: part_target.map(Time90k),
            ..SegmenterConfig::default()
        };
        Core::new(LogWriter { reject_empty: true }, info, config, 7)
    }

    fn log(data: &[Bytes]) -> String {
        data.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// `(sequence, start, duration, log)` per segment.
    fn drain<W: SegmentWriter>(s: &mut Core<W>) -> Vec<(u64, i64, i64, String)> {
        std::iter::from_fn(|| s.pull())
            .filter_map(|o| match o {
                Output::Segment(seg) => {
                    Some((seg.sequence, seg.start.0, seg.duration.0, log(&seg.data)))
                }
                _ => None,
            })
            .collect()
    }

    /// Every output in order: `P<seq>.<index> <duration> <I?> <log>` and
    /// `S<seq> <duration>`.
    fn drain_all<W: SegmentWriter>(s: &mut Core<W>) -> Vec<String> {
        std::iter::from_fn(|| s.pull())
            .map(|o| match o {
                Output::Init(_) => "init".to_owned(),
                Output::Part(p) => format!(
                    "P{}.{} {}{}: {}",
                    p.segment_sequence,
                    p.index,
                    p.duration.0,
                    if p.independent { " I" } else { "" },
                    log(&p.data)
                ),
                Output::Segment(s) => format!("S{} {}", s.sequence, s.duration.0),
            })
            .collect()
    }

    #[test]
    fn audio_on_arrival_without_parts() {
        let mut s = segmenter::<true>(testutil::media_info_av(), 300, None);
        for i in 0..9i64 {
            let dts = i * 100;
            s.push(video(dts, dts + 100, i % 3 == 0)).unwrap();
            s.push(audio(dts + 50)).unwrap();
        }
        s.finish();
        assert_eq!(
            drain(&mut s),
            vec![
                (7, 0, 300, "V100 V200 A150 V300 A250".to_owned()),
                (8, 300, 300, "V400 A350 V500 A450 V600 A550".to_owned()),
                // A850 trails the last picture: at 48 kHz (1920 ticks) it
                // ends at 2770, and so does the stream.
                (9, 600, 2170, "V700 A650 V800 A750 V900 A850".to_owned()),
            ]
        );
    }

    /// `info` without a frame rate, so that the first frame of these
    /// synthetic 100-tick streams gets no nominal duration.
    fn without_fps(mut info: MediaInfo) -> MediaInfo {
        if let Some(v) = &mut info.video {
            v.fps = None;
        }
        info
    }

    #[test]
    fn parts_close_on_the_frame_that_completes_them() {
        // 100-tick frames, keyframes every 6, segments of 600, parts of 200;
        // audio arrives 50 ticks before each video frame.
        let info = without_fps(testutil::media_info_av());
        let mut s = segmenter::<true>(info, 600, Some(200));
        let mut out = Vec::new();
        for i in 0..12i64 {
            let dts = i * 100;
            s.push(audio(dts - 50)).unwrap();
            assert!(s.pull().is_none(), "audio never completes a part");
            s.push(video(dts, dts + 100, i % 6 == 0)).unwrap();
            out.push(format!("after V{}: {:?}", dts + 100, drain_all(&mut s)));
        }
        s.finish();
        out.push(format!("finish: {:?}", drain_all(&mut s)));
        // A part fresh from its predecessor holds the audio that arrives
        // before its first video frame. A-50 comes before the first keyframe
        // and A50 is presented before it (PTS 100): both dropped.
        assert_eq!(
            out.join("\n"),
            r#"after V100: []
after V200: ["P7.0 200 I: V100 V200"]
after V300: []
after V400: ["P7.1 200: A150 V300 A250 V400"]
after V500: []
after V600: ["P7.2 200: A350 V500 A450 V600"]
after V700: ["S7 600"]
after V800: ["P8.0 200 I: A550 V700 A650 V800"]
after V900: []
after V1000: ["P8.1 200: A750 V900 A850 V1000"]
after V1100: []
after V1200: ["P8.2 200: A950 V1100 A1050 V1200"]
finish: ["S8 600"]"#
        );
    }

    #[test]
    fn trailing_audio_ends_the_stream_in_a_part() {
        let info = without_fps(testutil::media_info_av());
        let mut s = segmenter::<true>(info, 600, Some(200));
        s.push(video(0, 0, true)).unwrap();
        s.push(video(100, 100, false)).unwrap();
        s.push(audio(150)).unwrap();
        s.finish();
        // The audio (1920 ticks at 48 kHz) outlasts the video.
        assert_eq!(
            drain_all(&mut s),
            ["P7.0 200 I: V0 V100", "P7.1 1870: A150", "S7 2070"]
        );
    }

    #[test]
    fn a_cut_ends_the_open_part() {
        // Parts of 250 at 100-tick frames: 200 is within half a frame.
        let info = without_fps(testutil::media_info_video());
        let mut s = segmenter::<true>(info, 500, Some(250));
        for i in 0..8i64 {
            s.push(video(i * 100, i * 100, i % 5 == 0)).unwrap();
        }
        s.finish();
        assert_eq!(
            drain_all(&mut s),
            [
                "P7.0 200 I: V0 V100",
                "P7.1 200: V200 V300",
                "P7.2 100: V400",
                "S7 500",
                "P8.0 200 I: V500 V600",
                "P8.1 100: V700",
                "S8 300",
            ]
        );
    }

    #[test]
    fn audio_only_parts() {
        // 48 kHz: 1920 ticks per frame, two frames per part.
        let mut s = segmenter::<true>(testutil::media_info_audio(), 7680, Some(3840));
        for i in 0..6i64 {
            s.push(audio(i * 1920)).unwrap();
        }
        s.finish();
        assert_eq!(
            drain_all(&mut s),
            [
                "P7.0 3840 I: A0 A1920",
                "P7.1 3840 I: A3840 A5760",
                "S7 7680",
                "P8.0 3840 I: A7680 A9600",
                "S8 3840",
            ]
        );
    }

    #[test]
    fn stalled_video_does_not_hold_audio_forever() {
        let mut s = segmenter::<true>(testutil::media_info_av(), 90_000, Some(18_000));
        // 30 fps for 6 frames (one part), then only audio at 48 kHz-ish steps.
        for i in 0..6i64 {
            s.push(video(i * 3000, i * 3000, i == 0)).unwrap();
        }
        assert_eq!(drain_all(&mut s).len(), 1);
        let mut n = 0;
        while s.pull().is_none() && n < 100 {
            s.push(audio(18_000 + n * 1920)).unwrap();
            n += 1;
        }
        // Released once the held audio spans a second: 47 frames.
        assert_eq!(n, 48);
    }

    #[test]
    fn cuts_only_at_keyframes_after_target() {
        let mut s = segmenter::<false>(testutil::media_info_video(), 260, None);
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
        let mut s = segmenter::<false>(testutil::media_info_audio(), 250, None);
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
    fn a_segment_is_complete_when_its_cutting_keyframe_arrives() {
        let mut s = segmenter::<false>(testutil::media_info_av(), 90_000, None);
        // 30 fps with B-frames (presented 2 frames late), keyframes every 30
        // frames; audio arrives by decode time, so the audio presented
        // before a keyframe arrives after it.
        for i in 0..30i64 {
            s.push(video(i * 3000, i * 3000 + 6000, i % 30 == 0))
                .unwrap();
            s.push(audio(i * 3000)).unwrap();
            assert!(s.pull().is_none(), "frame {i}");
        }
        // The keyframe at 90_000 releases segment 7 at once, without
        // waiting for the audio presented before its picture (96_000).
        s.push(video(90_000, 96_000, true)).unwrap();
        let Some(Output::Segment(seg)) = s.pull() else {
            panic!("segment 7")
        };
        assert_eq!(
            (
                seg.sequence,
                seg.duration,
                seg.video_frames,
                seg.audio_frames
            ),
            (7, Time90k(90_000), 30, 28),
            "audio presented before the first picture (PTS 6000) is dropped"
        );
    }

    #[test]
    fn parts_are_ignored_without_writer_support() {
        let mut s = segmenter::<false>(testutil::media_info_video(), 300, Some(100));
        for i in 0..4i64 {
            s.push(video(i * 100, i * 100, i % 3 == 0)).unwrap();
        }
        s.finish();
        assert_eq!(drain_all(&mut s), ["S7 300", "S8 100"]);
    }

    #[test]
    fn rejects_bad_input_without_changing_state() {
        let mut s = segmenter::<false>(testutil::media_info_video(), 300, None);
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
}
