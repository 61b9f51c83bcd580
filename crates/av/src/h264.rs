//! H.264 decoder configuration (ISO/IEC 14496-15 §5.3.3.1
//! `AVCDecoderConfigurationRecord`) and AVCC NAL unit iteration.
//!
//! The SPS is parsed with `h264-reader` for resolution and frame rate; the
//! record itself is split here so SPS/PPS stay zero-copy `Bytes` slices of the
//! sequence header they arrived in.

use bytes::Bytes;
use h264_reader::nal::sps::SeqParameterSet;
use h264_reader::rbsp::{BitReader, ByteReader};

use crate::{Error, Result};

/// NAL unit types (ITU-T H.264 Table 7-1) the packagers care about.
pub mod nal_type {
    pub const NON_IDR: u8 = 1;
    pub const IDR: u8 = 5;
    pub const SEI: u8 = 6;
    pub const SPS: u8 = 7;
    pub const PPS: u8 = 8;
    pub const AUD: u8 = 9;
}

/// An H.264 stream's decoder configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct H264Config {
    /// The raw `AVCDecoderConfigurationRecord` (the `avcC` box body).
    pub avcc: Bytes,
    /// Sequence parameter sets, NAL header included, no emulation prevention removed.
    pub sps: Vec<Bytes>,
    /// Picture parameter sets, as `sps`.
    pub pps: Vec<Bytes>,
    /// `profile_idc` from the first SPS.
    pub profile_idc: u8,
    /// The constraint-set flags byte from the first SPS.
    pub constraint_flags: u8,
    /// `level_idc` from the first SPS (e.g. 31 for level 3.1).
    pub level_idc: u8,
    /// Bytes in each NAL length prefix of the source (1, 2 or 4).
    pub nal_length_size: u8,
    /// Displayed width in pixels (after cropping).
    pub width: u32,
    /// Displayed height in pixels (after cropping).
    pub height: u32,
    /// Frame rate from the SPS VUI timing info, when the encoder wrote it.
    pub fps: Option<f64>,
}

impl H264Config {
    /// Parses an `AVCDecoderConfigurationRecord` (the body of an FLV AVC
    /// sequence header, or of an MP4 `avcC` box).
    pub fn from_avcc(avcc: Bytes) -> Result<Self> {
        const WHAT: &str = "AVCDecoderConfigurationRecord";
        Error::need(WHAT, 6, avcc.len())?;
        if avcc[0] != 1 {
            return Err(Error::invalid(
                WHAT,
                format!("configurationVersion {}", avcc[0]),
            ));
        }
        let nal_length_size = (avcc[4] & 0x03) + 1;
        if nal_length_size == 3 {
            return Err(Error::invalid(WHAT, "NAL length size 3"));
        }
        let mut pos = 5;
        let read_sets = |count: usize, pos: &mut usize| -> Result<Vec<Bytes>> {
            let mut sets = Vec::with_capacity(count);
            for _ in 0..count {
                Error::need(WHAT, *pos + 2, avcc.len())?;
                let len = u16::from_be_bytes([avcc[*pos], avcc[*pos + 1]]) as usize;
                *pos += 2;
                Error::need(WHAT, *pos + len, avcc.len())?;
                if len == 0 {
                    return Err(Error::invalid(WHAT, "empty parameter set"));
                }
                sets.push(avcc.slice(*pos..*pos + len));
                *pos += len;
            }
            Ok(sets)
        };
        let num_sps = (avcc[5] & 0x1f) as usize;
        pos += 1;
        let sps = read_sets(num_sps, &mut pos)?;
        Error::need(WHAT, pos + 1, avcc.len())?;
        let num_pps = avcc[pos] as usize;
        pos += 1;
        let pps = read_sets(num_pps, &mut pos)?;
        let first = sps
            .first()
            .ok_or_else(|| Error::invalid(WHAT, "no SPS"))?
            .clone();
        if pps.is_empty() {
            return Err(Error::invalid(WHAT, "no PPS"));
        }
        Self::from_parameter_sets(avcc, &first, sps, pps, nal_length_size)
    }

    fn from_parameter_sets(
        avcc: Bytes,
        first_sps: &Bytes,
        sps: Vec<Bytes>,
        pps: Vec<Bytes>,
        nal_length_size: u8,
    ) -> Result<Self> {
        const WHAT: &str = "H.264 SPS";
        Error::need(WHAT, 4, first_sps.len())?;
        if first_sps[0] & 0x1f != nal_type::SPS {
            return Err(Error::invalid(
                WHAT,
                format!("NAL type {} where an SPS was expected", first_sps[0] & 0x1f),
            ));
        }
        let parsed = SeqParameterSet::from_bits(BitReader::new(ByteReader::skipping_h264_header(
            &first_sps[..],
        )))
        .map_err(|e| Error::invalid(WHAT, format!("{e:?}")))?;
        let (width, height) = parsed
            .pixel_dimensions()
            .map_err(|e| Error::invalid(WHAT, format!("{e:?}")))?;
        if width == 0 || height == 0 || width > 16384 || height > 16384 {
            return Err(Error::invalid(
                WHAT,
                format!("picture size {width}x{height}"),
            ));
        }
        let fps = parsed
            .fps()
            .filter(|f| f.is_finite() && *f > 0.0 && *f <= 1000.0);
        Ok(H264Config {
            profile_idc: first_sps[1],
            constraint_flags: first_sps[2],
            level_idc: first_sps[3],
            avcc,
            sps,
            pps,
            nal_length_size,
            width,
            height,
            fps,
        })
    }

    /// RFC 6381 codec string, `avc1.PPCCLL`.
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile_idc, self.constraint_flags, self.level_idc
        )
    }
}

/// Iterates the NAL units of an AVCC payload with 4-byte length prefixes (the
/// form of [`crate::AccessUnit::data`]). Stops at the first malformed length.
pub struct NalIter<'a> {
    data: &'a Bytes,
    pos: usize,
}

impl<'a> NalIter<'a> {
    pub fn new(data: &'a Bytes) -> Self {
        NalIter { data, pos: 0 }
    }
}

impl Iterator for NalIter<'_> {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let rest = self.data.len() - self.pos;
        if rest < 4 {
            return None;
        }
        let p = self.pos;
        let len = u32::from_be_bytes([
            self.data[p],
            self.data[p + 1],
            self.data[p + 2],
            self.data[p + 3],
        ]) as usize;
        if len == 0 || len > rest - 4 {
            return None;
        }
        self.pos = p + 4 + len;
        Some(self.data.slice(p + 4..p + 4 + len))
    }
}

/// Checks that `data` is a sequence of NAL units with `length_size`-byte
/// prefixes that exactly fills it, and returns it with 4-byte prefixes
/// (zero-copy when the source already uses 4).
pub(crate) fn normalize_avcc(data: Bytes, length_size: u8) -> Result<Bytes> {
    const WHAT: &str = "AVC NAL unit lengths";
    let ls = length_size as usize;
    let mut pos = 0;
    let mut count = 0usize;
    while pos < data.len() {
        Error::need(WHAT, pos + ls, data.len())?;
        let len = data[pos..pos + ls]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        pos += ls;
        if len == 0 || len > data.len() - pos {
            return Err(Error::invalid(
                WHAT,
                format!(
                    "NAL unit of {len} bytes at offset {pos} overruns a {} byte frame",
                    data.len()
                ),
            ));
        }
        pos += len;
        count += 1;
    }
    if count == 0 {
        return Err(Error::invalid(WHAT, "frame without NAL units"));
    }
    if ls == 4 {
        return Ok(data);
    }
    let mut out = Vec::with_capacity(data.len() + count * (4 - ls));
    let mut pos = 0;
    while pos < data.len() {
        let len = data[pos..pos + ls]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        pos += ls;
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(&data[pos..pos + len]);
        pos += len;
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The avcC of `testdata/ffmpeg_320x180_bframes_aac.flv` (x264 High, level 1.3).
    fn fixture_avcc() -> Bytes {
        let flv = Bytes::from_static(include_bytes!("../testdata/ffmpeg_320x180_bframes_aac.flv"));
        for tag in crate::flv::FileReader::new(flv).unwrap() {
            let tag = tag.unwrap();
            if tag.kind == crate::flv::TagKind::Video
                && let crate::flv::VideoTag::AvcSequenceHeader(avcc) =
                    crate::flv::parse_video(&tag.body).unwrap()
            {
                return avcc;
            }
        }
        panic!("fixture has no AVC sequence header");
    }

    #[test]
    fn parses_avcc() {
        let c = H264Config::from_avcc(fixture_avcc()).unwrap();
        assert_eq!((c.width, c.height), (320, 180));
        assert_eq!(c.codec_string(), "avc1.64000d");
        assert_eq!(c.nal_length_size, 4);
        assert_eq!(c.sps.len(), 1);
        assert_eq!(c.pps.len(), 1);
        assert_eq!(c.fps, Some(30.0));
    }

    #[test]
    fn rejects_truncated_avcc() {
        // The last 4 bytes are the optional High-profile extension
        // (chroma format, bit depths); every shorter prefix is incomplete.
        let avcc = fixture_avcc();
        assert_eq!(avcc.len(), 45);
        for n in 0..41 {
            assert!(
                H264Config::from_avcc(avcc.slice(..n)).is_err(),
                "prefix of {n} bytes"
            );
        }
    }

    #[test]
    fn normalizes_two_byte_lengths() {
        let src = Bytes::from_static(&[0, 2, 0x65, 0xaa, 0, 1, 0x06]);
        let out = normalize_avcc(src, 2).unwrap();
        assert_eq!(&out[..], &[0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 1, 0x06]);
        let nals: Vec<_> = NalIter::new(&out).collect();
        assert_eq!(nals.len(), 2);
        assert_eq!(&nals[0][..], &[0x65, 0xaa]);
    }

    #[test]
    fn rejects_overrunning_nal() {
        let src = Bytes::from_static(&[0, 0, 0, 9, 0x65, 0xaa]);
        assert!(normalize_avcc(src, 4).is_err());
        assert!(normalize_avcc(Bytes::new(), 4).is_err());
    }
}
