//! What a segmenter produces, independent of the container format: the
//! initialization segment (fMP4), LL-HLS partial segments and media segments
//! (RFC 8216bis §3), each with its timing, ready to be stored and listed in a
//! media playlist.
//!
//! Bytes travel as lists of [`Bytes`]: box and packet headers the packager
//! wrote, followed by slices of the access units' own buffers (fMP4 sample
//! data is never copied). A list maps onto object_store's `PutPayload`
//! without concatenation; [`Segment::to_bytes`] concatenates when a caller
//! needs one buffer.

use bytes::{Bytes, BytesMut};

use av::Time90k;

/// Container format of a segment.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum SegmentFormat {
    /// MPEG-2 transport stream (ISO/IEC 13818-1), RFC 8216bis §3.2.
    #[default]
    MpegTs,
    /// Fragmented MP4 (ISO/IEC 14496-12 movie fragments; RFC 8216bis
    /// §3.3): an initialization segment (`EXT-X-MAP`) plus media segments of
    /// `styp` and `moof`+`mdat` chunks. Required for LL-HLS parts here.
    Fmp4,
}

impl SegmentFormat {
    /// File name extension of a media segment or part, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            SegmentFormat::MpegTs => "ts",
            SegmentFormat::Fmp4 => "m4s",
        }
    }

    /// HTTP `Content-Type` of a media segment or part.
    pub fn content_type(self) -> &'static str {
        match self {
            SegmentFormat::MpegTs => "video/mp2t",
            // RFC 8216bis §3.3 and Apple's HLS authoring spec serve fMP4
            // media segments as video/mp4 (audio-only ones may be audio/mp4;
            // players do not distinguish).
            SegmentFormat::Fmp4 => "video/mp4",
        }
    }

    /// HTTP `Content-Type` of the initialization segment (`init.mp4`);
    /// `None` for formats without one.
    pub fn init_content_type(self) -> Option<&'static str> {
        match self {
            SegmentFormat::MpegTs => None,
            SegmentFormat::Fmp4 => Some("video/mp4"),
        }
    }
}

/// How a segmenter cuts segments and parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmenterConfig {
    /// Minimum segment duration: a segment is cut at the first video keyframe
    /// at or after this much time (within half a frame) since the segment's
    /// start. Default 2 s. Segments run longer when keyframes are sparser.
    pub target_duration: Time90k,
    /// Container format. Default MPEG-TS.
    pub format: SegmentFormat,
    /// LL-HLS partial segment target (`EXT-X-PART-INF:PART-TARGET`), e.g.
    /// 200 ms; `None` (default) cuts no parts. fMP4 only: ignored for
    /// MPEG-TS. A part ends once its duration, counting an estimated
    /// duration for its last frame, is within half a frame of the target, so
    /// parts last the target ± half a frame; see [`crate::Segmenter`].
    pub part_target: Option<Time90k>,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        SegmenterConfig {
            target_duration: Time90k(2 * Time90k::HZ),
            format: SegmentFormat::MpegTs,
            part_target: None,
        }
    }
}

/// One finished media segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Media sequence number (RFC 8216bis §6.2.1), consecutive from the
    /// segmenter's `first_sequence`.
    pub sequence: u64,
    pub format: SegmentFormat,
    /// Decode time of the segment's first video keyframe; for audio-only
    /// streams, of its first audio frame. Source timeline (the timestamps of
    /// the access units, before any container offset).
    pub start: Time90k,
    /// Presentation time of the first keyframe (audio-only: of the first audio
    /// frame). The segment's audio may start up to the keyframe's
    /// composition delay earlier (see [`crate::Segmenter`]), except in the
    /// first segment, which drops audio presented before it.
    pub presentation_start: Time90k,
    /// The next segment's `start` minus this one's; for the last segment of a
    /// stream, last DTS − `start` + one frame duration (fMP4: or up to the
    /// end of the audio after the last picture, if later). What `EXTINF`
    /// says.
    pub duration: Time90k,
    /// The complete segment file, in order. MPEG-TS: buffers of packets of
    /// about 64 KiB (a keyframe's PES may make one larger). fMP4:
    /// headers (`styp`, `moof`, `mdat` header) and sample data slices; with
    /// parts, exactly the concatenation of the parts' `data`.
    pub data: Vec<Bytes>,
    /// True when the segment can be decoded without its predecessors (it starts
    /// with a keyframe, or the stream is audio-only).
    pub independent: bool,
    /// Video frames in the segment.
    pub video_frames: u32,
    /// Audio frames in the segment.
    pub audio_frames: u32,
}

impl Segment {
    /// Size of the segment file in bytes.
    pub fn size_bytes(&self) -> usize {
        size_bytes(&self.data)
    }

    /// Average bit rate of the segment in bits per second, `None` for a
    /// zero-length duration.
    pub fn bitrate_bps(&self) -> Option<u64> {
        bitrate_bps(self.size_bytes(), self.duration)
    }

    /// The segment file in one buffer (copies unless it is one already).
    pub fn to_bytes(&self) -> Bytes {
        concat(&self.data)
    }
}

/// One LL-HLS partial segment (RFC 8216bis §4.4.4.9, `EXT-X-PART`): a run of
/// consecutive `moof`+`mdat` data of its parent segment, emitted as soon as it
/// is complete, before the parent segment is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Media sequence number of the parent segment.
    pub segment_sequence: u64,
    /// Part index within the parent segment, from 0.
    pub index: u32,
    /// Duration (`EXT-X-PART:DURATION`). Parts tile their segment: each
    /// starts where the previous one ended, and a segment's last part ends
    /// at the next segment's start. A part closed before its successor's
    /// first frame arrived ends at its last frame's DTS plus the estimated
    /// frame duration.
    pub duration: Time90k,
    /// Starts with a video keyframe (audio-only: always), so a client can
    /// start decoding here (`INDEPENDENT=YES`).
    pub independent: bool,
    /// The part's bytes: `styp` first for part 0, then `moof`, `mdat` header
    /// and sample data slices.
    pub data: Vec<Bytes>,
}

impl Part {
    /// Size of the part in bytes.
    pub fn size_bytes(&self) -> usize {
        size_bytes(&self.data)
    }

    /// The part in one buffer (copies unless it is one already).
    pub fn to_bytes(&self) -> Bytes {
        concat(&self.data)
    }
}

/// What a segmenter emits, in order: for fMP4 the initialization segment
/// first, then for each media segment its parts (if configured) followed by
/// the segment itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The fMP4 initialization segment (`ftyp` + `moov`), for `EXT-X-MAP`.
    /// Emitted once, before anything else.
    Init(Bytes),
    Part(Part),
    Segment(Segment),
}

fn size_bytes(data: &[Bytes]) -> usize {
    data.iter().map(Bytes::len).sum()
}

fn concat(data: &[Bytes]) -> Bytes {
    match data {
        [] => Bytes::new(),
        [one] => one.clone(),
        many => {
            let mut out = BytesMut::with_capacity(size_bytes(many));
            for b in many {
                out.extend_from_slice(b);
            }
            out.freeze()
        }
    }
}

/// `bytes` over `duration`, in bits per second, rounded up.
pub(crate) fn bitrate_bps(bytes: usize, duration: Time90k) -> Option<u64> {
    if duration.0 <= 0 {
        return None;
    }
    let bits = bytes as u128 * 8 * Time90k::HZ as u128;
    let bps = bits.div_ceil(duration.0 as u128);
    Some(u64::try_from(bps).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrate_rounds_up() {
        assert_eq!(bitrate_bps(250_000, Time90k(180_000)), Some(1_000_000));
        assert_eq!(bitrate_bps(1, Time90k(90_000 * 3)), Some(3));
        assert_eq!(bitrate_bps(1000, Time90k::ZERO), None);
        assert_eq!(bitrate_bps(1000, Time90k(-5)), None);
    }

    #[test]
    fn defaults() {
        let c = SegmenterConfig::default();
        assert_eq!(c.target_duration, Time90k(180_000));
        assert_eq!((c.format, c.part_target), (SegmentFormat::MpegTs, None));
        assert_eq!(SegmentFormat::MpegTs.extension(), "ts");
        assert_eq!(SegmentFormat::Fmp4.extension(), "m4s");
        assert_eq!(SegmentFormat::Fmp4.init_content_type(), Some("video/mp4"));
    }

    #[test]
    fn lists_of_bytes() {
        let seg = Segment {
            sequence: 0,
            format: SegmentFormat::Fmp4,
            start: Time90k::ZERO,
            presentation_start: Time90k::ZERO,
            duration: Time90k(90_000),
            data: vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cde")],
            independent: true,
            video_frames: 0,
            audio_frames: 0,
        };
        assert_eq!(seg.size_bytes(), 5);
        assert_eq!(seg.to_bytes(), Bytes::from_static(b"abcde"));
        assert_eq!(seg.bitrate_bps(), Some(40));
    }
}
