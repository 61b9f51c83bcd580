//! What a segmenter produces, independent of the container format: one media
//! segment (RFC 8216bis §3) with its timing, ready to be stored and listed in
//! a media playlist.

use bytes::Bytes;

use av::Time90k;

/// Container format of a [`Segment`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SegmentFormat {
    /// MPEG-2 transport stream (ISO/IEC 13818-1), RFC 8216bis §3.2.
    MpegTs,
}

impl SegmentFormat {
    /// File name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            SegmentFormat::MpegTs => "ts",
        }
    }

    /// HTTP `Content-Type` of a segment.
    pub fn content_type(self) -> &'static str {
        match self {
            SegmentFormat::MpegTs => "video/mp2t",
        }
    }
}

/// How a segmenter cuts segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmenterConfig {
    /// Minimum segment duration: a segment is cut at the first video keyframe
    /// at or after this much time (within half a frame) since the segment's
    /// start. Default 2 s. Segments run longer when keyframes are sparser.
    pub target_duration: Time90k,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        SegmenterConfig {
            target_duration: Time90k(2 * Time90k::HZ),
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
    /// frame). No audio frame in the segment is presented before it.
    pub presentation_start: Time90k,
    /// The next segment's `start` minus this one's; for the last segment of a
    /// stream, last DTS − `start` + one frame duration. What `EXTINF` says.
    pub duration: Time90k,
    /// The complete segment file.
    pub data: Bytes,
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
        self.data.len()
    }

    /// Average bit rate of the segment in bits per second, `None` for a
    /// zero-length duration.
    pub fn bitrate_bps(&self) -> Option<u64> {
        bitrate_bps(self.data.len(), self.duration)
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
    fn default_target_is_two_seconds() {
        assert_eq!(SegmenterConfig::default().target_duration, Time90k(180_000));
        assert_eq!(SegmentFormat::MpegTs.extension(), "ts");
    }
}
