//! AAC `AudioSpecificConfig` (ISO/IEC 14496-3 §1.6.2.1) and the ADTS header
//! (ISO/IEC 14496-3 §1.A.2) that MPEG-TS carries AAC in.

use bytes::Bytes;

use crate::{Error, Result};

/// Sampling frequencies by `samplingFrequencyIndex`.
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// An AAC stream's decoder configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AacConfig {
    /// The raw AudioSpecificConfig (the FLV AAC sequence header body; the
    /// `esds` DecoderSpecificInfo in MP4).
    pub asc: Bytes,
    /// Audio object type of the core coder (2 = AAC-LC). For HE-AAC signalled
    /// explicitly (object type 5 or 29) this is the underlying type.
    pub object_type: u8,
    /// The object type as signalled first in the ASC (5 for HE-AAC, 29 for
    /// HE-AACv2), used for the RFC 6381 codec string.
    pub signalled_object_type: u8,
    /// Index into the standard sampling-frequency table, of the core coder.
    pub sample_rate_index: u8,
    /// Core sampling frequency in Hz.
    pub sample_rate: u32,
    /// `channelConfiguration` (1 = mono, 2 = stereo, ...; 0 = defined in-band).
    pub channels: u8,
}

impl AacConfig {
    /// Samples per AAC frame (AAC-LC; 960-sample frames are not used by RTMP encoders).
    pub const SAMPLES_PER_FRAME: u32 = 1024;

    pub fn from_asc(asc: Bytes) -> Result<Self> {
        const WHAT: &str = "AAC AudioSpecificConfig";
        let truncated = || Error::Truncated {
            what: WHAT,
            need: 2,
            have: asc.len(),
        };
        let mut r = Bits::new(&asc);
        let signalled = r.audio_object_type().ok_or_else(truncated)?;
        let (sample_rate_index, sample_rate) = r.frequency().ok_or_else(truncated)??;
        let channels = r.read(4).ok_or_else(truncated)? as u8;
        let mut object_type = signalled;
        if signalled == 5 || signalled == 29 {
            // Explicit SBR/PS signalling (§1.6.5.2): the extension rate, then
            // the core object type. The core runs at the first rate read.
            let _extension_rate = r.frequency().ok_or_else(truncated)??;
            object_type = r.audio_object_type().ok_or_else(truncated)?;
        }
        match object_type {
            1..=4 => {}
            0 => return Err(Error::invalid(WHAT, "audio object type 0")),
            other => {
                return Err(Error::UnsupportedAudioCodec(format!(
                    "AAC audio object type {other}"
                )));
            }
        }
        if channels > 7 {
            return Err(Error::invalid(
                WHAT,
                format!("channel configuration {channels}"),
            ));
        }
        Ok(AacConfig {
            asc,
            object_type,
            signalled_object_type: signalled,
            sample_rate_index,
            sample_rate,
            channels,
        })
    }

    /// RFC 6381 codec string, e.g. `mp4a.40.2` for AAC-LC.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.signalled_object_type)
    }

    /// The 7-byte ADTS header (no CRC) for a raw frame of `payload_len` bytes.
    pub fn adts_header(&self, payload_len: usize) -> [u8; 7] {
        let frame_len = (payload_len + 7) as u32; // 13 bits; AAC frames are far below 8 KiB
        let profile = self.object_type - 1; // 2 bits: 0 Main, 1 LC, 2 SSR, 3 LTP
        let sfi = self.sample_rate_index;
        let ch = self.channels;
        [
            0xff,
            0xf1, // MPEG-4, layer 0, no CRC
            (profile << 6) | (sfi << 2) | (ch >> 2),
            ((ch & 3) << 6) | ((frame_len >> 11) as u8 & 0x03),
            (frame_len >> 3) as u8,
            (((frame_len & 7) as u8) << 5) | 0x1f, // buffer fullness 0x7ff (VBR)
            0xfc,
        ]
    }
}

/// A minimal MSB-first bit reader over a byte slice.
struct Bits<'a> {
    data: &'a [u8],
    bit: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, bit: 0 }
    }

    /// `GetAudioObjectType()` of §1.6.2.1.1: 5 bits, 31 escapes to 32 + 6 bits.
    fn audio_object_type(&mut self) -> Option<u8> {
        match self.read(5)? as u8 {
            31 => Some(32 + self.read(6)? as u8),
            aot => Some(aot),
        }
    }

    /// `samplingFrequencyIndex` with its 24-bit escape, as (table index, Hz).
    /// An explicit rate must be one of the table's, because ADTS needs an index.
    fn frequency(&mut self) -> Option<Result<(u8, u32)>> {
        const WHAT: &str = "AAC AudioSpecificConfig";
        let idx = self.read(4)? as u8;
        if idx == 15 {
            let hz = self.read(24)?;
            Some(match SAMPLE_RATES.iter().position(|r| *r == hz) {
                Some(i) => Ok((i as u8, hz)),
                None => Err(Error::invalid(WHAT, format!("sampling rate {hz} Hz"))),
            })
        } else {
            Some(match SAMPLE_RATES.get(idx as usize) {
                Some(hz) => Ok((idx, *hz)),
                None => Err(Error::invalid(
                    WHAT,
                    format!("sampling frequency index {idx}"),
                )),
            })
        }
    }

    fn read(&mut self, n: usize) -> Option<u32> {
        if self.bit + n > self.data.len() * 8 {
            return None;
        }
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self.data[self.bit / 8];
            v = (v << 1) | ((byte >> (7 - self.bit % 8)) & 1) as u32;
            self.bit += 1;
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lc_stereo_48k() {
        let c = AacConfig::from_asc(Bytes::from_static(&[0x11, 0x90])).unwrap();
        assert_eq!(c.object_type, 2);
        assert_eq!(c.sample_rate, 48000);
        assert_eq!(c.sample_rate_index, 3);
        assert_eq!(c.channels, 2);
        assert_eq!(c.codec_string(), "mp4a.40.2");
    }

    #[test]
    fn parses_he_aac_explicit() {
        // AOT 5, 24 kHz core (idx 6), stereo, extension 48 kHz (idx 3), core AOT 2.
        // 00101 0110 0010 0011 00010 -> 0x2b 0x11 0x88 0x00
        let c = AacConfig::from_asc(Bytes::from_static(&[0x2b, 0x11, 0x88, 0x00])).unwrap();
        assert_eq!(c.signalled_object_type, 5);
        assert_eq!(c.object_type, 2);
        assert_eq!(c.sample_rate, 24000);
        assert_eq!(c.codec_string(), "mp4a.40.5");
    }

    #[test]
    fn adts_header_matches_ffmpeg() {
        // ffmpeg -c:a aac -ar 48000 -ac 2 -f adts: first header of a 371-byte frame.
        let c = AacConfig::from_asc(Bytes::from_static(&[0x11, 0x90])).unwrap();
        let h = c.adts_header(364);
        assert_eq!(h, [0xff, 0xf1, 0x4c, 0x80, 0x2e, 0x7f, 0xfc]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(AacConfig::from_asc(Bytes::new()).is_err());
        assert!(AacConfig::from_asc(Bytes::from_static(&[0x10])).is_err());
        // sampling index 13 is reserved
        assert!(AacConfig::from_asc(Bytes::from_static(&[0x16, 0x90])).is_err());
    }
}
