//! FLV container and tag bodies (Adobe FLV spec v10.1 annex E, plus the
//! Enhanced RTMP v2 extended headers for codec FourCCs).
//!
//! RTMP carries FLV *tag bodies* in its audio and video messages; FLV files
//! add a file header and tag headers around the same bodies. Both paths share
//! [`parse_video`] and [`parse_audio`].

use bytes::Bytes;

use crate::{Error, Result};

/// Length of the FLV file header plus the first `PreviousTagSize0` field.
pub const FILE_PREAMBLE_LEN: usize = 13;
/// Length of an FLV tag header.
pub const TAG_HEADER_LEN: usize = 11;

/// What a tag carries (FLV `TagType`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TagKind {
    Audio,
    Video,
    /// AMF0 script data (`onMetaData`).
    Script,
}

/// One tag of an FLV file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub kind: TagKind,
    /// Decode timestamp in milliseconds (24 bits + 8 extension bits).
    pub timestamp_ms: u32,
    /// The tag body, a slice of the file.
    pub body: Bytes,
}

/// Reads the tags of an FLV file held in memory.
pub struct FileReader {
    data: Bytes,
    pos: usize,
    failed: bool,
}

impl FileReader {
    /// Checks the FLV signature and positions the reader at the first tag.
    pub fn new(data: Bytes) -> Result<Self> {
        const WHAT: &str = "FLV file header";
        Error::need(WHAT, FILE_PREAMBLE_LEN, data.len())?;
        if &data[..3] != b"FLV" {
            return Err(Error::invalid(WHAT, "missing FLV signature"));
        }
        let data_offset = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
        if data_offset < 9 || data_offset + 4 > data.len() {
            return Err(Error::invalid(WHAT, format!("data offset {data_offset}")));
        }
        Ok(FileReader {
            data,
            pos: data_offset + 4,
            failed: false,
        })
    }

    /// Byte offset of the next tag, for progress reporting.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl Iterator for FileReader {
    type Item = Result<Tag>;

    fn next(&mut self) -> Option<Result<Tag>> {
        const WHAT: &str = "FLV tag";
        loop {
            if self.failed || self.pos >= self.data.len() {
                return None;
            }
            let rest = &self.data[self.pos..];
            if rest.len() < TAG_HEADER_LEN {
                // A file cut mid-header (a recording that was interrupted): stop cleanly.
                return None;
            }
            let size = u32::from_be_bytes([0, rest[1], rest[2], rest[3]]) as usize;
            let ts = u32::from_be_bytes([rest[7], rest[4], rest[5], rest[6]]);
            let start = self.pos + TAG_HEADER_LEN;
            if start + size > self.data.len() {
                return None;
            }
            self.pos = start + size + 4;
            let kind = match rest[0] & 0x1f {
                8 => TagKind::Audio,
                9 => TagKind::Video,
                18 => TagKind::Script,
                other => {
                    if rest[0] & 0x20 != 0 {
                        self.failed = true;
                        return Some(Err(Error::invalid(WHAT, "encrypted FLV tags")));
                    }
                    // Unknown tag types are skipped, as the spec allows.
                    let _ = other;
                    continue;
                }
            };
            return Some(Ok(Tag {
                kind,
                timestamp_ms: ts,
                body: self.data.slice(start..start + size),
            }));
        }
    }
}

/// A parsed video tag body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VideoTag {
    /// AVCDecoderConfigurationRecord.
    AvcSequenceHeader(Bytes),
    /// One access unit of length-prefixed NAL units.
    AvcFrame {
        keyframe: bool,
        /// PTS − DTS in milliseconds (signed 24 bits on the wire).
        composition_time_ms: i32,
        data: Bytes,
    },
    AvcEndOfSequence,
    /// A tag that carries no picture (video info/command frames, metadata):
    /// ignored.
    Ignored,
}

/// A parsed audio tag body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AudioTag {
    /// AudioSpecificConfig.
    AacSequenceHeader(Bytes),
    /// One raw AAC frame.
    AacFrame(Bytes),
    /// A tag with no audio frame (Enhanced RTMP sequence end, metadata).
    Ignored,
}

fn fourcc_name(fourcc: &[u8]) -> String {
    let printable = String::from_utf8_lossy(fourcc).into_owned();
    let name = match fourcc {
        b"hvc1" => "HEVC",
        b"av01" => "AV1",
        b"vp09" => "VP9",
        b"vp08" => "VP8",
        b"Opus" => "Opus",
        b"fLaC" => "FLAC",
        b"ac-3" => "AC-3",
        b"ec-3" => "E-AC-3",
        b".mp3" => "MP3",
        _ => return format!("FourCC {printable:?}"),
    };
    format!("{name} ({printable})")
}

/// Parses an FLV video tag body (legacy or Enhanced RTMP).
pub fn parse_video(body: &Bytes) -> Result<VideoTag> {
    const WHAT: &str = "FLV video tag";
    Error::need(WHAT, 1, body.len())?;
    let b0 = body[0];
    if b0 & 0x80 != 0 {
        // Enhanced RTMP: IsExHeader | FrameType(3) | PacketType(4) | FourCC.
        Error::need(WHAT, 5, body.len())?;
        let frame_type = (b0 >> 4) & 0x07;
        let packet_type = b0 & 0x0f;
        let fourcc = &body[1..5];
        if fourcc != b"avc1" {
            return Err(Error::UnsupportedVideoCodec(fourcc_name(fourcc)));
        }
        if frame_type == 5 {
            return Ok(VideoTag::Ignored);
        }
        return match packet_type {
            0 => Ok(VideoTag::AvcSequenceHeader(body.slice(5..))),
            1 => {
                Error::need(WHAT, 8, body.len())?;
                Ok(VideoTag::AvcFrame {
                    keyframe: frame_type == 1,
                    composition_time_ms: si24(&body[5..8]),
                    data: body.slice(8..),
                })
            }
            2 => Ok(VideoTag::AvcEndOfSequence),
            3 => Ok(VideoTag::AvcFrame {
                keyframe: frame_type == 1,
                composition_time_ms: 0,
                data: body.slice(5..),
            }),
            4 => Ok(VideoTag::Ignored),
            other => Err(Error::invalid(
                WHAT,
                format!("Enhanced RTMP video packet type {other} is not supported"),
            )),
        };
    }
    let frame_type = b0 >> 4;
    let codec_id = b0 & 0x0f;
    if codec_id != 7 {
        let name = match codec_id {
            2 => "Sorenson H.263".to_string(),
            3 => "Screen Video".to_string(),
            4 => "On2 VP6".to_string(),
            5 => "On2 VP6 with alpha".to_string(),
            6 => "Screen Video v2".to_string(),
            12 => "HEVC (FLV codec id 12)".to_string(),
            13 => "AV1 (FLV codec id 13)".to_string(),
            other => format!("FLV video codec id {other}"),
        };
        return Err(Error::UnsupportedVideoCodec(name));
    }
    if frame_type == 5 {
        return Ok(VideoTag::Ignored);
    }
    Error::need(WHAT, 5, body.len())?;
    match body[1] {
        0 => Ok(VideoTag::AvcSequenceHeader(body.slice(5..))),
        1 => Ok(VideoTag::AvcFrame {
            keyframe: frame_type == 1,
            composition_time_ms: si24(&body[2..5]),
            data: body.slice(5..),
        }),
        2 => Ok(VideoTag::AvcEndOfSequence),
        other => Err(Error::invalid(WHAT, format!("AVCPacketType {other}"))),
    }
}

/// Parses an FLV audio tag body (legacy or Enhanced RTMP v2).
pub fn parse_audio(body: &Bytes) -> Result<AudioTag> {
    const WHAT: &str = "FLV audio tag";
    Error::need(WHAT, 1, body.len())?;
    let format = body[0] >> 4;
    if format == 9 {
        // Enhanced RTMP v2: SoundFormat 9 | AudioPacketType(4) | FourCC.
        Error::need(WHAT, 5, body.len())?;
        let fourcc = &body[1..5];
        if fourcc != b"mp4a" {
            return Err(Error::UnsupportedAudioCodec(fourcc_name(fourcc)));
        }
        return match body[0] & 0x0f {
            0 => Ok(AudioTag::AacSequenceHeader(body.slice(5..))),
            1 => Ok(AudioTag::AacFrame(body.slice(5..))),
            2 | 4 => Ok(AudioTag::Ignored),
            other => Err(Error::invalid(
                WHAT,
                format!("Enhanced RTMP audio packet type {other} is not supported"),
            )),
        };
    }
    if format != 10 {
        let name = match format {
            0 => "Linear PCM",
            1 => "ADPCM",
            2 => "MP3",
            3 => "Linear PCM (little-endian)",
            4..=6 => "Nellymoser",
            7 => "G.711 A-law",
            8 => "G.711 mu-law",
            11 => "Speex",
            14 => "MP3 8 kHz",
            _ => "device-specific audio",
        };
        return Err(Error::UnsupportedAudioCodec(name.to_string()));
    }
    Error::need(WHAT, 2, body.len())?;
    match body[1] {
        0 => Ok(AudioTag::AacSequenceHeader(body.slice(2..))),
        1 => Ok(AudioTag::AacFrame(body.slice(2..))),
        other => Err(Error::invalid(WHAT, format!("AACPacketType {other}"))),
    }
}

/// Signed 24-bit big-endian integer.
fn si24(b: &[u8]) -> i32 {
    ((i32::from(b[0]) << 24) | (i32::from(b[1]) << 16) | (i32::from(b[2]) << 8)) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composition_time_is_signed() {
        assert_eq!(si24(&[0x00, 0x00, 0x43]), 67);
        assert_eq!(si24(&[0xff, 0xff, 0xdf]), -33);
    }

    #[test]
    fn names_unsupported_codecs() {
        let e = parse_video(&Bytes::from_static(&[0x1c, 0, 0, 0, 0])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported video codec HEVC (FLV codec id 12) (only H.264/AVC is supported)"
        );
        let e = parse_video(&Bytes::from_static(b"\x90hvc1")).unwrap_err();
        assert!(e.to_string().contains("HEVC (hvc1)"), "{e}");
        let e = parse_audio(&Bytes::from_static(&[0x2f, 0xff])).unwrap_err();
        assert!(e.to_string().contains("MP3"), "{e}");
        let e = parse_audio(&Bytes::from_static(b"\x90Opus")).unwrap_err();
        assert!(e.to_string().contains("Opus"), "{e}");
    }

    #[test]
    fn parses_avc_frames() {
        let body = Bytes::from_static(&[0x17, 1, 0, 0, 0x43, 0, 0, 0, 1, 0x65]);
        assert_eq!(
            parse_video(&body).unwrap(),
            VideoTag::AvcFrame {
                keyframe: true,
                composition_time_ms: 67,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x65])
            }
        );
        assert!(parse_video(&Bytes::from_static(&[0x17, 1])).is_err());
        assert!(parse_video(&Bytes::new()).is_err());
    }

    #[test]
    fn file_reader_rejects_non_flv() {
        assert!(FileReader::new(Bytes::from_static(b"not an flv file at all")).is_err());
    }
}
