//! Fragmented MP4 segments for HLS (RFC 8216bis §3.3; ISO/IEC 14496-12
//! movie fragments, ISO/IEC 14496-15 for H.264, ISO/IEC 14496-3/-14 for AAC):
//! an initialization segment (`init`) and media segments made of a `styp`
//! and one `moof`+`mdat` fragment per LL-HLS part, or a single fragment per
//! segment without parts (`fragment`).
//!
//! Timeline: video decode times are the source DTS plus
//! [`crate::ts::TIMESTAMP_OFFSET`] (1.4 s, the MPEG-TS offset, so both
//! formats carry the same media timestamps; it also keeps the few negative
//! DTS an encoder's B-frame delay produces representable) in a 90 kHz
//! timescale, so they convert exactly; composition offsets are PTS − DTS.
//! Audio uses its sample rate as the timescale. Source audio timestamps are
//! usually millisecond-rounded (FLV), so converting each one would give
//! AAC frames of 1013 or 1059 samples; instead a frame continues exactly
//! 1024 samples after its predecessor when its own timestamp is within half
//! a frame of that, and resynchronizes to its timestamp (rounded to the
//! nearest sample) otherwise, so real gaps survive and rounding never drifts.
//!
//! Sample durations come from the next sample's decode time. The last video
//! sample of a fragment lasts what the segmenter says: the gap to the next
//! keyframe at a segment cut, else the estimated frame duration (a part is
//! emitted without waiting for the next frame; the next fragment's `tfdt`
//! then states the actual decode time, so an estimate off by a millisecond
//! of FLV jitter never accumulates). The last audio sample lasts 1024
//! samples.
//!
//! Sample data is zero-copy: the `mdat` of a fragment is its header followed
//! by the access units' `Bytes` (video in AVCC form with 4-byte lengths,
//! exactly as the `avcC` in the init segment declares; raw AAC frames).

mod fragment;
mod init;

use av::{AccessUnit, MediaInfo, Time90k, TrackKind};
use bytes::{Bytes, BytesMut};
use mp4_atom::TrunEntry;

use crate::segmenter::SegmentWriter;
use crate::{Error, Result, SegmentFormat, avcc};

use fragment::{NON_SYNC_SAMPLE, SYNC_SAMPLE, TrackRun};

/// Timescale of video tracks: the 90 kHz of [`Time90k`].
pub(crate) const VIDEO_TIMESCALE: u32 = 90_000;
/// `objectTypeIndication` of MPEG-4 audio (ISO/IEC 14496-1 Table 5).
pub(crate) const AUDIO_OBJECT_TYPE_AAC: u8 = 0x40;
/// Added to every source timestamp, as in MPEG-TS.
pub(crate) const TIMESTAMP_OFFSET: Time90k = crate::ts::TIMESTAMP_OFFSET;
const SAMPLES_PER_AAC_FRAME: u64 = av::AacConfig::SAMPLES_PER_FRAME as u64;

struct VideoSample {
    /// DTS + offset, 90 kHz; never negative (checked in `prepare`).
    decode_time: u64,
    /// PTS − DTS, 90 kHz; fits i32 (checked in `prepare`).
    composition_offset: i32,
    sync: bool,
    data: Bytes,
}

struct AudioSample {
    /// In samples of the track's rate.
    decode_time: u64,
    data: Bytes,
}

/// Output state of one fMP4 segment: the samples since the last fragment
/// and the bytes of the fragments so far.
pub(crate) struct Fmp4Segment {
    first_fragment: bool,
    video: Vec<VideoSample>,
    audio: Vec<AudioSample>,
    data: Vec<Bytes>,
}

pub(crate) struct Fmp4Writer {
    video_track: Option<u32>,
    /// Track id and sample rate.
    audio_track: Option<(u32, u32)>,
    init: Bytes,
    styp: Bytes,
    /// `mfhd` sequence number of the next fragment, from 1.
    next_fragment: u32,
    /// Decode time (samples) right after the last audio frame written.
    audio_next: Option<u64>,
    /// Capacity for the next fragment header buffer.
    header_hint: usize,
}

impl Fmp4Writer {
    pub(crate) fn new(info: &MediaInfo) -> Self {
        let video_track = info.video.as_ref().map(|_| 1);
        let audio_track = info
            .audio
            .as_ref()
            .map(|a| (if video_track.is_some() { 2 } else { 1 }, a.sample_rate));
        let init = init::init_segment(&init::InitTracks {
            video: video_track.zip(info.video.as_ref()),
            audio: audio_track.map(|(id, _)| id).zip(info.audio.as_ref()),
        });
        Fmp4Writer {
            video_track,
            audio_track,
            init,
            styp: fragment::styp(),
            next_fragment: 1,
            audio_next: None,
            header_hint: 512,
        }
    }

    /// The initialization segment.
    pub(crate) fn init_segment(&self) -> &Bytes {
        &self.init
    }

    /// `t` (source timeline) in samples at `rate`, rounded to nearest.
    fn to_samples(t: Time90k, rate: u32) -> u64 {
        let ticks = i128::from((t + TIMESTAMP_OFFSET).0.max(0));
        let hz = i128::from(Time90k::HZ);
        u64::try_from((ticks * i128::from(rate) + hz / 2) / hz).unwrap_or(u64::MAX)
    }

    /// Writes the pending samples as one fragment, appended to `seg.data`
    /// and returned.
    fn flush(&mut self, seg: &mut Fmp4Segment, last_video_duration: Time90k) -> Vec<Bytes> {
        if seg.video.is_empty() && seg.audio.is_empty() {
            return Vec::new();
        }
        let mut runs = Vec::with_capacity(2);
        let mut payload = Vec::with_capacity(seg.video.len() + seg.audio.len() + 1);
        if let (Some(track_id), Some(first)) = (self.video_track, seg.video.first()) {
            let last_duration = u32::try_from(last_video_duration.0.max(0)).unwrap_or(u32::MAX);
            let flags = |s: &VideoSample| if s.sync { SYNC_SAMPLE } else { NON_SYNC_SAMPLE };
            // Usually only the first sample can be a keyframe: then `tfhd`
            // says non-sync once and the first sample overrides it
            // (`first_sample_flags`), 4 bytes per sample saved.
            let first_only = seg.video[1..].iter().all(|s| !s.sync);
            let with_cts = seg.video.iter().any(|s| s.composition_offset != 0);
            let samples: Vec<TrunEntry> = seg
                .video
                .iter()
                .enumerate()
                .map(|(i, s)| TrunEntry {
                    duration: Some(seg.video.get(i + 1).map_or(last_duration, |next| {
                        u32::try_from(next.decode_time - s.decode_time).unwrap_or(u32::MAX)
                    })),
                    size: Some(s.data.len() as u32),
                    flags: match (first_only, i) {
                        (false, _) => Some(flags(s)),
                        (true, 0) if s.sync => Some(SYNC_SAMPLE),
                        (true, _) => None,
                    },
                    cts: with_cts.then_some(i64::from(s.composition_offset)),
                })
                .collect();
            runs.push(TrackRun {
                track_id,
                base_decode_time: first.decode_time,
                default_duration: None,
                default_flags: first_only.then_some(NON_SYNC_SAMPLE),
                samples,
                data_len: seg.video.iter().map(|s| s.data.len() as u64).sum(),
            });
        }
        if let (Some((track_id, _)), Some(first)) = (self.audio_track, seg.audio.first()) {
            let durations: Vec<u32> = seg
                .audio
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    seg.audio
                        .get(i + 1)
                        .map_or(SAMPLES_PER_AAC_FRAME, |next| {
                            next.decode_time - s.decode_time
                        })
                        .try_into()
                        .unwrap_or(u32::MAX)
                })
                .collect();
            // Continuous audio: every frame lasts 1024 samples, said once
            // in `tfhd`.
            let same = durations.iter().all(|d| *d == durations[0]);
            let samples: Vec<TrunEntry> = seg
                .audio
                .iter()
                .zip(&durations)
                .map(|(s, d)| TrunEntry {
                    duration: (!same).then_some(*d),
                    size: Some(s.data.len() as u32),
                    flags: None,
                    cts: None,
                })
                .collect();
            runs.push(TrackRun {
                track_id,
                base_decode_time: first.decode_time,
                default_duration: same.then_some(durations[0]),
                default_flags: Some(SYNC_SAMPLE),
                samples,
                data_len: seg.audio.iter().map(|s| s.data.len() as u64).sum(),
            });
        }
        let mut header = BytesMut::with_capacity(self.header_hint + self.styp.len());
        if seg.first_fragment {
            header.extend_from_slice(&self.styp);
            seg.first_fragment = false;
        }
        let sequence = self.next_fragment;
        self.next_fragment = self.next_fragment.wrapping_add(1).max(1);
        fragment::write_fragment_header(&mut header, sequence, runs);
        self.header_hint = self.header_hint.max(header.len());
        payload.push(header.freeze());
        payload.extend(seg.video.drain(..).map(|s| s.data));
        payload.extend(seg.audio.drain(..).map(|s| s.data));
        seg.data.extend(payload.iter().cloned());
        payload
    }
}

impl SegmentWriter for Fmp4Writer {
    type Open = Fmp4Segment;
    const FORMAT: SegmentFormat = SegmentFormat::Fmp4;
    const SUPPORTS_PARTS: bool = true;

    fn init(&self) -> Option<Bytes> {
        Some(self.init.clone())
    }

    fn prepare(&mut self, au: &AccessUnit) -> Result<()> {
        let out_of_range = || Error::TimestampOutOfRange {
            track: au.track,
            pts: au.pts,
            dts: au.dts,
        };
        // Decode times are unsigned: the offset absorbs the first 1.4 s
        // before zero, and nothing earlier can be written.
        if (au.dts + TIMESTAMP_OFFSET).0 < 0 {
            return Err(out_of_range());
        }
        if u32::try_from(au.data.len()).is_err() {
            return Err(Error::SampleTooLarge {
                track: au.track,
                len: au.data.len(),
                dts: au.dts,
            });
        }
        match au.track {
            TrackKind::Video => {
                if i32::try_from((au.pts - au.dts).0).is_err() {
                    return Err(out_of_range());
                }
                avcc::check(au)
            }
            TrackKind::Audio if au.data.is_empty() => Err(Error::EmptyAccessUnit {
                track: au.track,
                dts: au.dts,
            }),
            TrackKind::Audio => Ok(()),
        }
    }

    fn open(&mut self, _sequence: u64) -> Fmp4Segment {
        Fmp4Segment {
            first_fragment: true,
            video: Vec::with_capacity(64),
            audio: Vec::with_capacity(96),
            data: Vec::with_capacity(256),
        }
    }

    fn write(&mut self, seg: &mut Fmp4Segment, au: &AccessUnit) {
        match au.track {
            TrackKind::Video => seg.video.push(VideoSample {
                decode_time: (au.dts + TIMESTAMP_OFFSET).0.max(0) as u64,
                composition_offset: i32::try_from((au.pts - au.dts).0).unwrap_or(0),
                sync: au.keyframe,
                data: au.data.clone(),
            }),
            TrackKind::Audio => {
                let Some((_, rate)) = self.audio_track else {
                    return;
                };
                let stamped = Self::to_samples(au.dts, rate);
                let half_frame = SAMPLES_PER_AAC_FRAME / 2;
                let decode_time = match self.audio_next {
                    Some(next) if stamped.abs_diff(next) <= half_frame => next,
                    // A gap or an overlap: follow the timestamp, but never
                    // go back before the previous frame.
                    Some(next) => stamped.max(next.saturating_sub(SAMPLES_PER_AAC_FRAME)),
                    None => stamped,
                };
                self.audio_next = Some(decode_time.saturating_add(SAMPLES_PER_AAC_FRAME));
                seg.audio.push(AudioSample {
                    decode_time,
                    data: au.data.clone(),
                });
            }
        }
    }

    fn end_part(&mut self, seg: &mut Fmp4Segment, last_video_duration: Time90k) -> Vec<Bytes> {
        self.flush(seg, last_video_duration)
    }

    fn close(&mut self, mut seg: Fmp4Segment, last_video_duration: Time90k) -> Vec<Bytes> {
        self.flush(&mut seg, last_video_duration);
        seg.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, fmp4 as reader};
    use crate::ts::crc32_mpeg2;
    use crate::{Output, Part, Segment, SegmentFormat, Segmenter, SegmenterConfig};

    /// Bumped whenever the bytes of an fMP4 segment change on purpose,
    /// together with the pinned checksums below.
    const FORMAT_VERSION: u32 = 1;

    struct Packaged {
        init: Bytes,
        parts: Vec<Part>,
        segments: Vec<Segment>,
    }

    fn package(
        info: MediaInfo,
        units: &[AccessUnit],
        target_ms: i64,
        part_ms: Option<i64>,
    ) -> Packaged {
        let config = SegmenterConfig {
            target_duration: Time90k::from_millis(target_ms),
            format: SegmentFormat::Fmp4,
            part_target: part_ms.map(Time90k::from_millis),
        };
        let mut s = Segmenter::new(info, config, 0);
        let mut outputs = Vec::new();
        for au in units {
            s.push(au.clone()).unwrap();
            outputs.extend(std::iter::from_fn(|| s.pull()));
        }
        s.finish();
        outputs.extend(std::iter::from_fn(|| s.pull()));
        let mut p = Packaged {
            init: Bytes::new(),
            parts: Vec::new(),
            segments: Vec::new(),
        };
        for (i, o) in outputs.into_iter().enumerate() {
            match o {
                Output::Init(b) => {
                    assert_eq!(i, 0, "init first");
                    p.init = b;
                }
                Output::Part(part) => p.parts.push(part),
                Output::Segment(seg) => p.segments.push(seg),
            }
        }
        p
    }

    /// What the reader finds in a segment: the samples per track id.
    fn samples(data: &[u8]) -> (reader::MediaSegment, Vec<(u32, reader::Sample)>) {
        let parsed = reader::parse_segment(data).unwrap_or_else(|e| panic!("{e}"));
        let all = parsed
            .fragments
            .iter()
            .flat_map(|f| f.tracks.iter())
            .flat_map(|t| t.samples.iter().map(|s| (t.track_id, s.clone())))
            .collect();
        (parsed, all)
    }

    /// Checks the init segment and every segment and part against the input.
    fn check_stream(info: &MediaInfo, units: &[AccessUnit], p: &Packaged) {
        let init = reader::parse_init(&p.init).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(init.major_brand, "iso6");
        let video_id = info.video.as_ref().map(|_| 1);
        let audio_id = info
            .audio
            .as_ref()
            .map(|_| if video_id.is_some() { 2 } else { 1 });
        let mut want_tracks = Vec::new();
        if let (Some(v), Some(id)) = (&info.video, video_id) {
            let t = &init.tracks[0];
            assert_eq!(
                (t.track_id, t.handler.as_str(), t.codec.as_str()),
                (id, "vide", "avc1")
            );
            assert_eq!(
                (t.timescale, u32::from(t.width), u32::from(t.height)),
                (90_000, v.width, v.height)
            );
            assert_eq!(t.avcc, v.avcc, "the stream's avcC, unchanged");
            want_tracks.push(id);
        }
        if let (Some(a), Some(id)) = (&info.audio, audio_id) {
            let t = init.tracks.last().unwrap();
            assert_eq!(
                (t.track_id, t.handler.as_str(), t.codec.as_str()),
                (id, "soun", "mp4a")
            );
            assert_eq!(
                (t.timescale, u32::from(t.sample_rate)),
                (a.sample_rate, a.sample_rate)
            );
            assert_eq!((t.asc.as_slice(), t.object_type), (&a.asc[..], 0x40));
            assert_eq!(t.channels, u16::from(a.channels));
            want_tracks.push(id);
        }
        assert_eq!(init.trex, want_tracks);

        // Parts concatenate to their segment, styp only at the start.
        for seg in &p.segments {
            let parts: Vec<_> = p
                .parts
                .iter()
                .filter(|x| x.segment_sequence == seg.sequence)
                .collect();
            if !p.parts.is_empty() {
                assert!(!parts.is_empty(), "segment {} has parts", seg.sequence);
                let joined: Vec<u8> = parts.iter().flat_map(|x| x.to_bytes().to_vec()).collect();
                assert_eq!(joined, seg.to_bytes().to_vec(), "segment {}", seg.sequence);
                assert!(
                    parts[0].independent,
                    "a segment's first part starts with a keyframe"
                );
                for (i, part) in parts.iter().enumerate() {
                    assert_eq!(part.index as usize, i);
                    let parsed =
                        reader::parse_segment(&part.to_bytes()).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(parsed.styp.is_some(), i == 0);
                    assert_eq!(parsed.fragments.len(), 1, "one fragment per part");
                }
                let sum = parts.iter().fold(Time90k::ZERO, |a, x| a + x.duration);
                assert!(
                    (sum - seg.duration).0.abs() <= 90 * parts.len() as i64,
                    "{sum:?} vs {:?}",
                    seg.duration
                );
            }
        }

        // Every kept input unit comes out once, in order, with its bytes and
        // timestamps; fragments are numbered 1, 2, 3, ... across segments.
        let first_key = units
            .iter()
            .find(|u| u.track == TrackKind::Video && u.keyframe);
        let kept = |u: &&AccessUnit| match (u.track, first_key) {
            (TrackKind::Video, Some(k)) => u.dts >= k.dts,
            (TrackKind::Audio, Some(k)) => u.pts >= k.pts,
            (_, None) => true,
        };
        let mut out_video = Vec::new();
        let mut out_audio = Vec::new();
        let mut fragment_sequence = 0;
        for seg in &p.segments {
            let (parsed, all) = samples(&seg.to_bytes());
            let styp = parsed.styp.as_ref().expect("styp");
            assert_eq!(
                (styp.0.as_str(), styp.1.as_slice()),
                ("msdh", &["msdh".to_owned()][..])
            );
            for f in &parsed.fragments {
                fragment_sequence += 1;
                assert_eq!(f.sequence, fragment_sequence);
            }
            let first_video = all.iter().find(|(id, _)| Some(*id) == video_id);
            if let Some((_, first)) = first_video {
                assert!(
                    first.is_sync(),
                    "segment {} starts with a keyframe",
                    seg.sequence
                );
                assert_eq!(first.decode_time as i64, (seg.start + TIMESTAMP_OFFSET).0);
            }
            assert_eq!(
                all.iter().filter(|(id, _)| Some(*id) == video_id).count(),
                seg.video_frames as usize
            );
            assert_eq!(
                all.iter().filter(|(id, _)| Some(*id) == audio_id).count(),
                seg.audio_frames as usize
            );
            for (id, s) in all {
                if Some(id) == video_id {
                    out_video.push(s);
                } else {
                    out_audio.push(s);
                }
            }
        }
        let in_video: Vec<_> = units
            .iter()
            .filter(|u| u.track == TrackKind::Video)
            .filter(kept)
            .collect();
        let in_audio: Vec<_> = units
            .iter()
            .filter(|u| u.track == TrackKind::Audio)
            .filter(kept)
            .collect();
        assert_eq!(out_video.len(), in_video.len());
        assert_eq!(out_audio.len(), in_audio.len());
        for (i, (au, s)) in in_video.iter().zip(&out_video).enumerate() {
            assert_eq!(s.data, au.data.to_vec());
            assert_eq!(s.decode_time as i64, (au.dts + TIMESTAMP_OFFSET).0);
            assert_eq!(i64::from(s.composition_offset), (au.pts - au.dts).0);
            assert_eq!(s.is_sync(), au.keyframe);
            if let Some(next) = in_video.get(i + 1) {
                // Exact at segment cuts and inside fragments; estimated (FLV
                // millisecond jitter) at part ends.
                let actual = (next.dts - au.dts).0;
                assert!(
                    (i64::from(s.duration) - actual).abs() <= 90,
                    "video {i}: {} vs {actual}",
                    s.duration
                );
            }
        }
        if let Some(a) = &info.audio {
            let mut expected = None;
            for (au, s) in in_audio.iter().zip(&out_audio) {
                assert_eq!(s.data, au.data.to_vec());
                assert!(s.is_sync());
                assert_eq!(s.duration, 1024);
                // Continuous, and never more than half a frame from the
                // source timestamp.
                let stamped = Fmp4Writer::to_samples(au.dts, a.sample_rate);
                assert!(
                    s.decode_time.abs_diff(stamped) <= 512,
                    "{} vs {stamped}",
                    s.decode_time
                );
                if let Some(e) = expected {
                    assert_eq!(s.decode_time, e);
                }
                expected = Some(s.decode_time + 1024);
            }
        }
    }

    #[test]
    fn fixture_320x180_structure() {
        let (info, units) = testutil::demux_fixture(testutil::FLV_320X180_BFRAMES_AAC);
        for part in [None, Some(200), Some(333), Some(1000)] {
            let p = package(info.clone(), &units, 1000, part);
            let durations: Vec<_> = p.segments.iter().map(|s| s.duration).collect();
            // GOP 30 at 30 fps; the last segment ends with its audio, 72 ms
            // after the last picture.
            assert_eq!(
                durations,
                [Time90k(90_000), Time90k(96_510)],
                "parts {part:?}"
            );
            check_stream(&info, &units, &p);
        }
    }

    #[test]
    fn fixture_2997fps_structure() {
        let (info, units) = testutil::demux_fixture(testutil::FLV_192X108_2997FPS_BFRAMES_AAC44K);
        for part in [None, Some(200), Some(500)] {
            let p = package(info.clone(), &units, 2000, part);
            let durations: Vec<_> = p.segments.iter().map(|s| s.duration.as_millis()).collect();
            assert_eq!(durations, [2002, 2002, 2077], "parts {part:?}");
            check_stream(&info, &units, &p);
        }
        // 200 ms parts at 29.97 fps: six frames (200.2 ms), ten per segment;
        // the stream ends with a part of the audio after the last picture.
        let p = package(info, &units, 2000, Some(200));
        let per_segment: Vec<_> = p
            .segments
            .iter()
            .map(|s| {
                p.parts
                    .iter()
                    .filter(|x| x.segment_sequence == s.sequence)
                    .count()
            })
            .collect();
        assert_eq!(per_segment, [10, 10, 11]);
        let (last, video_parts) = p.parts.split_last().unwrap();
        for part in video_parts {
            assert!((part.duration.0 - 18_018).abs() <= 3_003 / 2, "{part:?}");
        }
        assert!(!last.independent && last.duration < Time90k::from_millis(100));
    }

    /// LL-HLS live edge: a part comes out of the very `push` that brought
    /// its last video frame, never one frame later.
    #[test]
    fn parts_are_emitted_with_their_last_frame() {
        let (info, units) = testutil::demux_fixture(testutil::FLV_192X108_2997FPS_BFRAMES_AAC44K);
        // 2.002 s segments of 29.97 fps frames: 10, 6 and 4 parts each.
        for (part_ms, parts) in [(200, 30), (333, 18), (500, 12)] {
            let config = SegmenterConfig {
                target_duration: Time90k::from_millis(2000),
                format: SegmentFormat::Fmp4,
                part_target: Some(Time90k::from_millis(part_ms)),
            };
            let mut s = Segmenter::new(info.clone(), config, 0);
            let (mut on_time, mut at_cut) = (0, 0);
            for au in &units {
                s.push(au.clone()).unwrap();
                while let Some(o) = s.pull() {
                    let Output::Part(part) = o else { continue };
                    let (parsed, all) = samples(&part.to_bytes());
                    assert_eq!(parsed.fragments.len(), 1);
                    let last_video = all.iter().rfind(|(id, _)| *id == 1).unwrap();
                    if au.track == TrackKind::Video
                        && last_video.1.decode_time as i64 == (au.dts + TIMESTAMP_OFFSET).0
                    {
                        on_time += 1;
                    } else {
                        // Only a segment cut may end a part late: the
                        // keyframe that starts the next segment.
                        assert!(au.keyframe && au.track == TrackKind::Video, "{part:?}");
                        at_cut += 1;
                    }
                }
            }
            assert_eq!((on_time, at_cut), (parts, 0), "{part_ms} ms");
        }
    }

    #[test]
    fn video_only_and_audio_only() {
        let (info, units) = testutil::demux_fixture(testutil::FLV_192X108_2997FPS_BFRAMES_AAC44K);
        for track in [TrackKind::Video, TrackKind::Audio] {
            let info = match track {
                TrackKind::Video => MediaInfo {
                    audio: None,
                    ..info.clone()
                },
                TrackKind::Audio => MediaInfo {
                    video: None,
                    ..info.clone()
                },
            };
            let units: Vec<_> = units.iter().filter(|u| u.track == track).cloned().collect();
            let p = package(info.clone(), &units, 1000, Some(250));
            assert!(
                p.segments.len() >= 5,
                "{track:?}: {} segments",
                p.segments.len()
            );
            check_stream(&info, &units, &p);
            if track == TrackKind::Audio {
                assert!(p.parts.iter().all(|x| x.independent));
            }
        }
    }

    #[test]
    fn audio_clock_follows_gaps_not_jitter() {
        let info = testutil::media_info_audio();
        let mut w = Fmp4Writer::new(&info);
        let mut seg = w.open(0);
        // 48 kHz: 1024 samples are 21.333 ms; FLV rounds to 21 or 22 ms.
        let mut push = |ms: i64, seg: &mut Fmp4Segment| {
            let au = AccessUnit {
                track: TrackKind::Audio,
                pts: Time90k::from_millis(ms),
                dts: Time90k::from_millis(ms),
                keyframe: true,
                data: Bytes::from_static(b"aac"),
            };
            w.write(seg, &au);
        };
        for ms in [0, 21, 43, 64, 85, 500, 521] {
            push(ms, &mut seg);
        }
        let times: Vec<u64> = seg.audio.iter().map(|s| s.decode_time - 67_200).collect();
        assert_eq!(times, [0, 1024, 2048, 3072, 4096, 24_000, 25_024]);
    }

    #[test]
    fn rejects_what_mp4_cannot_carry() {
        let info = testutil::media_info_av();
        let mut s = Segmenter::new(
            info,
            SegmenterConfig {
                format: SegmentFormat::Fmp4,
                ..SegmenterConfig::default()
            },
            0,
        );
        let au = |track, dts: i64, pts: i64, data: &'static [u8]| AccessUnit {
            track,
            pts: Time90k(pts),
            dts: Time90k(dts),
            keyframe: true,
            data: Bytes::from_static(data),
        };
        let idr = &[0, 0, 0, 2, 0x65, 0x88][..];
        // Before the 1.4 s offset: no unsigned decode time.
        assert!(matches!(
            s.push(au(TrackKind::Video, -126_001, 0, idr)),
            Err(Error::TimestampOutOfRange { .. })
        ));
        s.push(au(TrackKind::Video, -126_000, -126_000, idr))
            .unwrap();
        // A composition offset beyond i32.
        assert!(matches!(
            s.push(au(TrackKind::Video, 0, 1 << 32, idr)),
            Err(Error::TimestampOutOfRange { .. })
        ));
        assert!(matches!(
            s.push(au(TrackKind::Video, 0, 0, &[0, 0, 0, 9, 0x65])),
            Err(Error::MalformedVideo { .. })
        ));
        assert!(matches!(
            s.push(au(TrackKind::Audio, 0, 0, b"")),
            Err(Error::EmptyAccessUnit { .. })
        ));
    }

    #[test]
    fn garbage_never_panics() {
        // A tiny deterministic PRNG (xorshift) for arbitrary access units.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let info = testutil::media_info_av();
        let config = SegmenterConfig {
            format: SegmentFormat::Fmp4,
            part_target: Some(Time90k::from_millis(200)),
            ..SegmenterConfig::default()
        };
        let mut s = Segmenter::new(info, config, 0);
        let (mut accepted, mut rejected) = (0, 0);
        let mut outputs = Vec::new();
        let mut dts = 0i64;
        for _ in 0..5_000 {
            let r = next();
            let len = (r % 64) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if r & 0x100 != 0 && len >= 5 {
                data[..4].copy_from_slice(&(len as u32 - 4).to_be_bytes());
                data[4] = if r & 0x200 != 0 { 0x65 } else { 0x41 };
            }
            dts += (next() % 6_000) as i64 - 500;
            let track = if r & 0x400 != 0 {
                TrackKind::Video
            } else {
                TrackKind::Audio
            };
            let au = AccessUnit {
                track,
                pts: Time90k(dts + (next() % 9_000) as i64 - 1_000),
                dts: Time90k(if r & 0xF000 == 0 { next() as i64 } else { dts }),
                keyframe: r & 0x800 != 0,
                data: Bytes::from(data),
            };
            match s.push(au) {
                Ok(()) => accepted += 1,
                Err(_) => rejected += 1,
            }
            outputs.extend(std::iter::from_fn(|| s.pull()));
        }
        s.finish();
        outputs.extend(std::iter::from_fn(|| s.pull()));
        assert!(
            accepted > 1_000 && rejected > 100,
            "{accepted} accepted, {rejected} rejected"
        );
        let (mut parts, mut segments) = (0, 0);
        for o in &outputs {
            match o {
                Output::Init(b) => {
                    reader::parse_init(b).unwrap();
                }
                Output::Part(p) => {
                    parts += 1;
                    reader::parse_segment(&p.to_bytes())
                        .unwrap_or_else(|e| panic!("part {}.{}: {e}", p.segment_sequence, p.index));
                }
                Output::Segment(seg) => {
                    segments += 1;
                    reader::parse_segment(&seg.to_bytes())
                        .unwrap_or_else(|e| panic!("{}: {e}", seg.sequence));
                }
            }
        }
        assert!(
            segments > 10 && parts > segments,
            "{segments} segments, {parts} parts"
        );
    }

    #[test]
    fn zero_copy_payloads() {
        let (info, units) = testutil::demux_fixture(testutil::FLV_320X180_BFRAMES_AAC);
        let p = package(info, &units, 1000, Some(200));
        // Every payload Bytes of a part points into the fixture's buffer.
        let fixture = testutil::FLV_320X180_BFRAMES_AAC.as_ptr_range();
        let part = &p.parts[1];
        assert!(part.data.len() > 2);
        for b in &part.data[1..] {
            assert!(
                fixture.contains(&b.as_ptr()),
                "sample data is a slice of the input"
            );
        }
        assert!(
            !fixture.contains(&part.data[0].as_ptr()),
            "the header is ours"
        );
    }

    #[test]
    fn golden_checksums() {
        // CRC-32/MPEG-2 of the init segment and of each segment of the
        // 320x180 fixture at 1 s, without and with 250 ms parts. A change here
        // is a change of the bytes we serve: bump FORMAT_VERSION and check
        // the new output with ffprobe (tests/ffprobe.rs) before re-pinning.
        let (info, units) = testutil::demux_fixture(testutil::FLV_320X180_BFRAMES_AAC);
        let sums = |data: &Bytes| (data.len(), crc32_mpeg2(data));
        let whole = package(info.clone(), &units, 1000, None);
        let parted = package(info, &units, 1000, Some(250));
        assert_eq!(whole.init, parted.init);
        let got = (
            sums(&whole.init),
            whole
                .segments
                .iter()
                .map(|s| sums(&s.to_bytes()))
                .collect::<Vec<_>>(),
            parted
                .segments
                .iter()
                .map(|s| sums(&s.to_bytes()))
                .collect::<Vec<_>>(),
        );
        assert_eq!(FORMAT_VERSION, 1);
        assert_eq!(got, (GOLDEN_INIT, GOLDEN.to_vec(), GOLDEN_PARTS.to_vec()));
    }

    /// (bytes, CRC) checked with ffprobe at FORMAT_VERSION 1.
    const GOLDEN_INIT: (usize, u32) = (1_167, 0x6e15_8160);
    const GOLDEN: [(usize, u32); 2] = [(35_626, 0x34bd_118a), (45_536, 0x77ff_f893)];
    const GOLDEN_PARTS: [(usize, u32); 2] = [(36_314, 0x56e6_6c6f), (46_224, 0x406f_4a87)];
}
