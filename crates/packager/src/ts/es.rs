//! Elementary stream payloads as MPEG-TS carries them.
//!
//! - H.264 (ISO/IEC 13818-1 §2.14, ITU-T H.264 Annex B): AVCC length prefixes
//!   become 4-byte start codes; every access unit starts with an access unit
//!   delimiter (§2.14.1 requires one), and IDR access units carry SPS and PPS
//!   in-band so each segment decodes on its own.
//! - AAC (ISO/IEC 14496-3 §1.A.2): every raw frame gets a 7-byte ADTS header.

use av::{AacConfig, AccessUnit, H264Config, nal_type};

use crate::avcc::nal_ranges;
use crate::{Error, Result};

const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// An access unit delimiter with `primary_pic_type` 7 (any slice type), as
/// ffmpeg and x264 write it.
const AUD: [u8; 6] = [0, 0, 0, 1, nal_type::AUD, 0xF0];

/// Largest raw AAC frame an ADTS header can describe (13-bit frame length
/// including the 7-byte header).
pub(crate) const MAX_AAC_FRAME: usize = 0x1FFF - 7;

/// Writes `au` (AVCC) as an Annex B access unit into `out` (cleared first).
pub(crate) fn h264_annex_b(au: &AccessUnit, config: &H264Config, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    if au.data.is_empty() {
        return Err(Error::EmptyAccessUnit {
            track: au.track,
            dts: au.dts,
        });
    }
    let (mut has_sps, mut has_pps, mut has_idr) = (false, false, false);
    for range in nal_ranges(au) {
        let (start, _) = range?;
        match au.data[start] & 0x1F {
            nal_type::SPS => has_sps = true,
            nal_type::PPS => has_pps = true,
            nal_type::IDR => has_idr = true,
            _ => {}
        }
    }
    out.reserve(au.data.len() + AUD.len() + if has_idr { 64 } else { 0 });
    // Our own delimiter first; any the encoder wrote are dropped below, so
    // there is exactly one and it is the first NAL unit (H.264 §7.4.1.2.3).
    out.extend_from_slice(&AUD);
    if has_idr {
        let sets = (!has_sps)
            .then_some(&config.sps)
            .into_iter()
            .chain((!has_pps).then_some(&config.pps))
            .flatten();
        for set in sets {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(set);
        }
    }
    for (start, len) in nal_ranges(au).flatten() {
        let nal = &au.data[start..start + len];
        if nal[0] & 0x1F == nal_type::AUD {
            continue;
        }
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nal);
    }
    Ok(())
}

/// Writes `au` (one raw AAC frame) with its ADTS header into `out` (cleared
/// first).
pub(crate) fn aac_adts(au: &AccessUnit, config: &AacConfig, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    if au.data.is_empty() {
        return Err(Error::EmptyAccessUnit {
            track: au.track,
            dts: au.dts,
        });
    }
    if au.data.len() > MAX_AAC_FRAME {
        return Err(Error::AudioFrameTooLarge {
            len: au.data.len(),
            max: MAX_AAC_FRAME,
            dts: au.dts,
        });
    }
    out.extend_from_slice(&config.adts_header(au.data.len()));
    out.extend_from_slice(&au.data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil;
    use av::{Time90k, TrackKind};
    use bytes::Bytes;

    fn video_au(nals: &[&[u8]]) -> AccessUnit {
        let mut data = Vec::new();
        for n in nals {
            data.extend_from_slice(&(n.len() as u32).to_be_bytes());
            data.extend_from_slice(n);
        }
        AccessUnit {
            track: TrackKind::Video,
            pts: Time90k(0),
            dts: Time90k(0),
            keyframe: true,
            data: Bytes::from(data),
        }
    }

    #[test]
    fn idr_gets_aud_and_parameter_sets() {
        let info = testutil::media_info_av();
        let config = info.video.as_ref().unwrap();
        let mut out = Vec::new();
        h264_annex_b(
            &video_au(&[&[0x06, 0xaa], &[0x65, 0x88, 0x80]]),
            config,
            &mut out,
        )
        .unwrap();
        let mut want = AUD.to_vec();
        for set in config.sps.iter().chain(&config.pps) {
            want.extend_from_slice(&START_CODE);
            want.extend_from_slice(set);
        }
        want.extend_from_slice(&[0, 0, 0, 1, 0x06, 0xaa, 0, 0, 0, 1, 0x65, 0x88, 0x80]);
        assert_eq!(out, want);
    }

    #[test]
    fn keeps_in_band_parameter_sets_and_replaces_aud() {
        let info = testutil::media_info_av();
        let config = info.video.as_ref().unwrap();
        let mut out = Vec::new();
        let au = video_au(&[&[0x09, 0x10], &[0x67, 1, 2], &[0x68, 3], &[0x65, 0x88]]);
        h264_annex_b(&au, config, &mut out).unwrap();
        assert_eq!(
            out,
            [
                &AUD[..],
                &[
                    0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 0x88
                ]
            ]
            .concat()
        );
        // A non-IDR frame gets only the delimiter.
        h264_annex_b(&video_au(&[&[0x41, 0x9a]]), config, &mut out).unwrap();
        assert_eq!(out, [&AUD[..], &[0, 0, 0, 1, 0x41, 0x9a]].concat());
    }

    #[test]
    fn rejects_malformed_avcc() {
        let info = testutil::media_info_av();
        let config = info.video.as_ref().unwrap();
        let mut out = Vec::new();
        for data in [
            &[0, 0, 0, 5, 0x65][..], // overruns
            &[0, 0, 0, 0],           // zero length
            &[0, 0, 0, 1, 0x65, 0],  // trailing bytes
            &[],                     // empty
        ] {
            let mut au = video_au(&[]);
            au.data = Bytes::copy_from_slice(data);
            assert!(h264_annex_b(&au, config, &mut out).is_err(), "{data:?}");
        }
    }

    #[test]
    fn adts_framing() {
        let info = testutil::media_info_av();
        let config = info.audio.as_ref().unwrap();
        let mut out = Vec::new();
        let mut au = AccessUnit {
            track: TrackKind::Audio,
            pts: Time90k(0),
            dts: Time90k(0),
            keyframe: true,
            data: Bytes::from_static(&[0x21, 0x10, 0x05]),
        };
        aac_adts(&au, config, &mut out).unwrap();
        assert_eq!(out.len(), 10);
        assert_eq!(&out[..7], &config.adts_header(3));
        assert_eq!(&out[7..], &[0x21, 0x10, 0x05]);
        au.data = Bytes::from(vec![0u8; MAX_AAC_FRAME + 1]);
        assert!(matches!(
            aac_adts(&au, config, &mut out),
            Err(Error::AudioFrameTooLarge { .. })
        ));
    }
}
