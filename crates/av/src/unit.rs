//! Access units: one coded video frame or one coded audio frame.

use bytes::Bytes;

use crate::{AacConfig, H264Config, Time90k};

/// Which elementary stream an access unit belongs to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TrackKind {
    Video,
    Audio,
}

/// One coded frame, as it travels from ingest through the packagers to storage.
///
/// The payload is a `Bytes` slice of the buffer it arrived in; nothing on the
/// way copies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessUnit {
    pub track: TrackKind,
    /// Presentation time. For video with B-frames, `pts >= dts`.
    pub pts: Time90k,
    /// Decode time; non-decreasing within a track.
    pub dts: Time90k,
    /// True for a video frame a decoder can start from (IDR), and for every
    /// audio frame.
    pub keyframe: bool,
    /// Video: H.264 NAL units in AVCC form, each prefixed with a 4-byte
    /// big-endian length (the demuxer normalizes other length sizes).
    /// Audio: one raw AAC frame, without ADTS header.
    pub data: Bytes,
}

/// What a stream carries, known once the sequence headers have arrived.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MediaInfo {
    pub video: Option<H264Config>,
    pub audio: Option<AacConfig>,
}

impl MediaInfo {
    /// RFC 6381 codec list for an HLS `CODECS` attribute, e.g.
    /// `avc1.64001f,mp4a.40.2`.
    pub fn codecs(&self) -> String {
        let mut out = Vec::with_capacity(2);
        if let Some(v) = &self.video {
            out.push(v.codec_string());
        }
        if let Some(a) = &self.audio {
            out.push(a.codec_string());
        }
        out.join(",")
    }
}
