//! MPEG-2 transport stream segments (ISO/IEC 13818-1) for HLS, as RFC 8216bis
//! §3.2 profiles them: every segment starts with a PAT and a PMT and then a
//! video keyframe, so it decodes on its own; H.264 in Annex B form with an
//! access unit delimiter per frame and SPS/PPS before each IDR (§2.14); AAC
//! in ADTS (stream type 0x0F); continuity counters that continue from segment
//! to segment, so the concatenation of all segments is one valid stream.
//!
//! Layout: `psi` (PAT/PMT + `crc`), `pes` (PES headers and timestamps),
//! `packet` (188-byte packets, adaptation fields, PCR), `es` (elementary
//! stream framing), `writer` (all of it for one segment).

mod crc;
mod es;
mod packet;
mod pes;
mod psi;
mod writer;

use av::{AccessUnit, MediaInfo, Time90k};

use crate::segmenter::Core;
use crate::{Output, Result, Segment, SegmentFormat, SegmenterConfig};

pub(crate) use crc::crc32_mpeg2;
pub(crate) use pes::decode_timestamp;
#[cfg(test)]
pub(crate) use writer::CHUNK_BYTES;
pub(crate) use writer::{TIMESTAMP_OFFSET, TsWriter};

/// Access units in, MPEG-TS [`Segment`]s out: [`crate::Segmenter`] fixed to
/// [`SegmentFormat::MpegTs`], pulling only segments (TS has neither an
/// initialization segment nor parts).
///
/// Push access units in decode order (tracks interleaved as they arrive),
/// pull finished segments after each push, and call [`Self::finish`] at the
/// end of the stream to close the last one. A change of codec configuration
/// needs a new segmenter (and an `EXT-X-DISCONTINUITY` in the playlist).
///
/// Where segments are cut:
/// - at the first video keyframe once the open segment lasted
///   [`SegmenterConfig::target_duration`] (within half a frame); audio-only
///   streams at any audio frame;
/// - audio goes into the segment open when it arrives, so a segment is
///   complete when the keyframe that cuts it arrives (its audio may start up
///   to that keyframe's composition delay before its first picture; the last
///   segment lasts to the end of the audio after its last picture);
/// - everything before the first video keyframe is dropped.
///
/// ```
/// use packager::{SegmenterConfig, TsSegmenter, testutil};
///
/// let (info, units) = testutil::demux_fixture(testutil::FLV_320X180_BFRAMES_AAC);
/// let mut segmenter = TsSegmenter::new(info, SegmenterConfig::default(), 0);
/// let mut segments = Vec::new();
/// for au in units {
///     segmenter.push(au)?;
///     segments.extend(std::iter::from_fn(|| segmenter.pull()));
/// }
/// segmenter.finish();
/// segments.extend(std::iter::from_fn(|| segmenter.pull()));
/// assert_eq!(segments.len(), 1);
/// // 2 s of video, and the audio after the last picture.
/// assert_eq!(segments[0].duration.as_millis(), 2072);
/// # Ok::<(), packager::Error>(())
/// ```
pub struct TsSegmenter {
    inner: Core<writer::TsWriter>,
}

impl TsSegmenter {
    /// A segmenter for a stream with the tracks `info` declares; the first
    /// segment gets media sequence number `first_sequence`. `config.format`
    /// and `config.part_target` are ignored.
    pub fn new(info: MediaInfo, config: SegmenterConfig, first_sequence: u64) -> Self {
        TsSegmenter {
            inner: new_core(info, config, first_sequence),
        }
    }

    /// Adds one access unit. On error the access unit is dropped and the
    /// segmenter is unchanged, so the caller may log and carry on.
    pub fn push(&mut self, au: AccessUnit) -> Result<()> {
        self.inner.push(au)
    }

    /// End of stream: closes the open segment. Later pushes fail.
    pub fn finish(&mut self) {
        self.inner.finish()
    }

    /// The next finished segment, in sequence order; call until `None`.
    pub fn pull(&mut self) -> Option<Segment> {
        loop {
            match self.inner.pull()? {
                Output::Segment(seg) => return Some(seg),
                // TS emits neither.
                Output::Init(_) | Output::Part(_) => {}
            }
        }
    }

    pub fn media_info(&self) -> &MediaInfo {
        self.inner.media_info()
    }

    /// Access units dropped because they came before the first video
    /// keyframe (or were presented before it).
    pub fn dropped_before_keyframe(&self) -> u64 {
        self.inner.dropped()
    }

    /// The current frame duration estimate: mean of recent DTS steps of the
    /// video (audio-only: audio) track, else from the codec configuration.
    pub fn frame_duration(&self) -> Option<Time90k> {
        self.inner.frame_duration()
    }
}

/// The format-independent segmenter over the TS writer.
pub(crate) fn new_core(
    info: MediaInfo,
    config: SegmenterConfig,
    first_sequence: u64,
) -> Core<writer::TsWriter> {
    let writer = writer::TsWriter::new(&info);
    let config = SegmenterConfig {
        format: SegmentFormat::MpegTs,
        part_target: None,
        ..config
    };
    Core::new(writer, info, config, first_sequence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, ts};
    use av::TrackKind;
    use bytes::Bytes;
    use std::collections::HashMap;

    /// Bumped whenever the bytes of a segment change on purpose, together
    /// with the pinned checksums below.
    const FORMAT_VERSION: u32 = 2;

    fn segment_all(info: MediaInfo, units: Vec<AccessUnit>, target: Time90k) -> Vec<Segment> {
        let mut s = TsSegmenter::new(
            info,
            SegmenterConfig {
                target_duration: target,
                ..SegmenterConfig::default()
            },
            0,
        );
        let mut out = Vec::new();
        for au in units {
            s.push(au).unwrap();
            out.extend(std::iter::from_fn(|| s.pull()));
        }
        s.finish();
        out.extend(std::iter::from_fn(|| s.pull()));
        out
    }

    fn offset(t: Time90k) -> u64 {
        pes::wrap_33(t.0 + TIMESTAMP_OFFSET.0)
    }

    /// `later - earlier` on the 33-bit clock.
    fn ticks_between(earlier: u64, later: u64) -> u64 {
        pes::wrap_33(later as i64 - earlier as i64)
    }

    /// Checks the structure of every segment and that the elementary streams
    /// come out exactly as they went in.
    fn check_stream(info: &MediaInfo, units: &[AccessUnit], segments: &[Segment]) {
        let mut cc = ts::ContinuityState::new();
        let mut video_pes = Vec::new();
        let mut audio_pes = Vec::new();
        for (n, seg) in segments.iter().enumerate() {
            let parsed = ts::parse_segment(&seg.to_bytes(), &mut cc)
                .unwrap_or_else(|e| panic!("segment {}: {e}", seg.sequence));
            assert_eq!(seg.sequence, n as u64);
            let mut want_streams = Vec::new();
            if info.video.is_some() {
                want_streams.push((0x1b, 0x100));
            }
            if info.audio.is_some() {
                want_streams.push((0x0f, 0x101));
            }
            assert_eq!(parsed.streams, want_streams);
            let video: Vec<_> = parsed.pes.iter().filter(|p| p.pid == 0x100).collect();
            let audio: Vec<_> = parsed.pes.iter().filter(|p| p.pid == 0x101).collect();
            assert_eq!(video.len(), seg.video_frames as usize);
            assert_eq!(audio.len(), seg.audio_frames as usize);
            if let Some(first) = video.first() {
                assert!(
                    first.random_access && first.pcr.is_some(),
                    "segment {n} starts with a keyframe"
                );
                assert_eq!(first.dts, offset(seg.start));
                assert_eq!(first.pts, offset(seg.presentation_start));
                // No audio decoded before the keyframe (audio goes where it
                // arrives, by decode time: it may be presented before the
                // keyframe's picture, by at most its composition delay).
                assert!(
                    audio
                        .iter()
                        .all(|a| ticks_between(first.dts, a.pts) < 1 << 32)
                );
            }
            for v in &video {
                assert_eq!(v.stream_id, 0xe0);
                assert_eq!(&v.payload[..6], &[0, 0, 0, 1, 9, 0xf0], "AUD first");
                assert_eq!(v.has_dts, v.pts != v.dts);
                let pcr = v.pcr.expect("PCR on every video PES");
                assert!(
                    (1..=9_000).contains(&ticks_between(pcr, v.dts)),
                    "PCR {pcr} DTS {}",
                    v.dts
                );
            }
            for a in &audio {
                assert_eq!(a.stream_id, 0xc0);
                assert_eq!(&a.payload[..2], &[0xff, 0xf1], "ADTS sync");
                assert!(!a.has_dts);
            }
            // PCR never goes back and is never more than 100 ms apart.
            for w in parsed.pcrs.windows(2) {
                assert!(ticks_between(w[0].1, w[1].1) <= 9_000, "PCRs {w:?}");
            }
            video_pes.extend(video.into_iter().cloned());
            audio_pes.extend(audio.into_iter().cloned());
        }

        // Every input unit from the first keyframe's presentation on comes out
        // once, in order, with its timestamps and payload.
        let first_key = units
            .iter()
            .find(|u| u.track == TrackKind::Video && u.keyframe);
        let kept = |u: &&AccessUnit| match (u.track, first_key) {
            (TrackKind::Video, Some(k)) => u.dts >= k.dts,
            (TrackKind::Audio, Some(k)) => u.pts >= k.pts,
            (_, None) => true,
        };
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
        assert_eq!(video_pes.len(), in_video.len());
        assert_eq!(audio_pes.len(), in_audio.len());
        for (au, pes) in in_video.iter().zip(&video_pes) {
            assert_eq!((pes.pts, pes.dts), (offset(au.pts), offset(au.dts)));
            assert_eq!(pes.random_access, au.keyframe);
            // Annex B back to NAL units: the input's, after the AUD and any
            // inserted parameter sets.
            let body = &pes.payload[6..];
            let input: Vec<u8> = av::NalIter::new(&au.data)
                .flat_map(|n| [&[0u8, 0, 0, 1][..], &n[..]].concat())
                .collect();
            assert!(
                body.ends_with(&input),
                "payload ends with the input NAL units"
            );
        }
        for (au, pes) in in_audio.iter().zip(&audio_pes) {
            assert_eq!(pes.pts, offset(au.pts));
            assert_eq!(&pes.payload[7..], &au.data[..]);
        }
    }

    #[test]
    fn fixture_320x180_structure() {
        let (info, units) = testutil::demux_fixture(testutil::FLV_320X180_BFRAMES_AAC);
        let segments = segment_all(info.clone(), units.clone(), Time90k(90_000));
        // GOP 30 at 30 fps: two 1 s segments. The last one lasts to the end
        // of the audio that came after its last picture (1967 ms + 3000
        // ticks for the video).
        let durations: Vec<_> = segments.iter().map(|s| s.duration).collect();
        assert_eq!(durations, [Time90k(90_000), Time90k(96_510)]);
        check_stream(&info, &units, &segments);
    }

    #[test]
    fn fixture_2997fps_structure() {
        let (info, units) = testutil::demux_fixture(testutil::FLV_192X108_2997FPS_BFRAMES_AAC44K);
        let segments = segment_all(info.clone(), units.clone(), Time90k(2 * 90_000));
        // Keyframes every 1.001 s: 2.002 s segments (FLV milliseconds); the
        // last one to the end of its trailing audio.
        let durations: Vec<_> = segments.iter().map(|s| s.duration.as_millis()).collect();
        assert_eq!(durations, [2002, 2002, 2077]);
        check_stream(&info, &units, &segments);
    }

    #[test]
    fn timestamps_wrap_at_33_bits() {
        // Shift the fixture so the written timestamps cross 2^33 in the
        // middle of the first segment.
        let (info, mut units) = testutil::demux_fixture(testutil::FLV_320X180_BFRAMES_AAC);
        let shift = pes::TIMESTAMP_MODULUS - TIMESTAMP_OFFSET.0 - 45_000;
        for u in &mut units {
            u.pts += Time90k(shift);
            u.dts += Time90k(shift);
        }
        let segments = segment_all(info.clone(), units.clone(), Time90k(90_000));
        assert_eq!(segments.len(), 2);
        check_stream(&info, &units, &segments);
        let parsed = ts::parse_segment(&segments[0].to_bytes(), &mut HashMap::new()).unwrap();
        let pts: Vec<u64> = parsed
            .pes
            .iter()
            .filter(|p| p.pid == 0x100)
            .map(|p| p.pts)
            .collect();
        assert!(pts.iter().any(|p| *p < 90_000) && pts.iter().any(|p| *p > (1 << 33) - 90_000));
    }

    #[test]
    fn garbage_never_panics() {
        // A tiny deterministic PRNG (xorshift) for arbitrary access units.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let info = testutil::media_info_av();
        let mut s = TsSegmenter::new(info, SegmenterConfig::default(), 0);
        let (mut accepted, mut rejected) = (0, 0);
        let mut dts = 0i64;
        for _ in 0..5_000 {
            let r = next();
            let len = (r % 64) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if r & 0x100 != 0 && len >= 5 {
                // Often a well-formed NAL unit, so that frames get through.
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
        }
        s.finish();
        let segments: Vec<_> = std::iter::from_fn(|| s.pull()).collect();
        assert!(
            accepted > 1_000 && rejected > 100,
            "{accepted} accepted, {rejected} rejected"
        );
        assert!(segments.len() > 10);
        let mut cc = ts::ContinuityState::new();
        for seg in &segments {
            ts::parse_segment(&seg.to_bytes(), &mut cc)
                .unwrap_or_else(|e| panic!("{}: {e}", seg.sequence));
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
            let segments = segment_all(info.clone(), units.clone(), Time90k(90_000));
            assert!(
                segments.len() >= 5,
                "{track:?}: {} segments",
                segments.len()
            );
            check_stream(&info, &units, &segments);
            let parsed = ts::parse_segment(&segments[0].to_bytes(), &mut HashMap::new()).unwrap();
            let pcr_pid = if track == TrackKind::Video {
                0x100
            } else {
                0x101
            };
            assert_eq!(parsed.pcr_pid, pcr_pid);
        }
    }

    #[test]
    fn pcr_only_packets_fill_video_gaps() {
        // 2 fps video with 48 kHz audio: the audio PES must bring PCRs.
        let info = testutil::media_info_av();
        let (_, units) = testutil::demux_fixture(testutil::FLV_320X180_BFRAMES_AAC);
        let video: Vec<_> = units
            .iter()
            .filter(|u| u.track == TrackKind::Video)
            .collect();
        let mut merged: Vec<AccessUnit> = Vec::new();
        for (i, v) in video.iter().take(4).enumerate() {
            let mut v = (*v).clone();
            v.dts = Time90k(i as i64 * 45_000);
            v.pts = v.dts;
            v.keyframe = i == 0;
            if i == 0 {
                v.data = video[0].data.clone();
            }
            merged.push(v);
        }
        for a in units
            .iter()
            .filter(|u| u.track == TrackKind::Audio)
            .take(80)
        {
            merged.push(a.clone());
        }
        merged.sort_by_key(|u| u.dts);
        let segments = segment_all(info, merged, Time90k(10 * 90_000));
        let parsed = ts::parse_segment(&segments[0].to_bytes(), &mut HashMap::new()).unwrap();
        assert!(parsed.pcrs.len() > 15, "{} PCRs", parsed.pcrs.len());
        for w in parsed.pcrs.windows(2) {
            assert!(w[1].1 - w[0].1 <= 9_000, "{w:?}");
        }
    }

    #[test]
    fn golden_checksums() {
        // CRC-32/MPEG-2 of each segment of the 320x180 fixture at 1 s. A
        // change here is a change of the bytes we serve: bump FORMAT_VERSION
        // and check the new output with ffprobe before re-pinning.
        let (info, units) = testutil::demux_fixture(testutil::FLV_320X180_BFRAMES_AAC);
        let segments = segment_all(info, units, Time90k(90_000));
        let sums: Vec<_> = segments
            .iter()
            .map(|s| (s.size_bytes(), crc32_mpeg2(&s.to_bytes())))
            .collect();
        assert_eq!(FORMAT_VERSION, 2);
        assert_eq!(sums, GOLDEN);
    }

    /// (bytes, CRC) per segment, checked with ffprobe at FORMAT_VERSION 2
    /// (2: audio goes into the segment open when it arrives).
    const GOLDEN: [(usize, u32); 2] = [(46_436, 0x2a77_959a), (58_656, 0x005b_c6b1)];
}
