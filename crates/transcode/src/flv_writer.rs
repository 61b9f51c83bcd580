//! A minimal FLV writer (Adobe FLV spec v10.1 annex E) for feeding FFmpeg:
//! the file header and AVC video tags, nothing else. The reading side is
//! `av::flv`.

use av::H264Config;

use crate::gst_elements::avcc_with_4_byte_lengths;
use crate::{Error, Result};

/// FLV header for a video-only file, plus `PreviousTagSize0`.
pub(crate) const FILE_HEADER: [u8; 13] = [
    b'F', b'L', b'V', 1,    // signature, version
    0x01, // TypeFlags: video only
    0, 0, 0, 9, // DataOffset
    0, 0, 0, 0, // PreviousTagSize0
];

/// Bytes of tag header plus AVC video tag header before the payload.
pub(crate) const VIDEO_PREFIX_LEN: usize = 11 + 5;

/// The tag header and `AVCVIDEOPACKET` header of one video tag whose
/// payload (`payload_len` bytes) follows; the caller writes the payload and
/// then [`previous_tag_size`].
pub(crate) fn video_tag_prefix(
    timestamp_ms: u64,
    keyframe: bool,
    avc_packet_type: u8,
    composition_time_ms: i64,
    payload_len: usize,
) -> Result<[u8; VIDEO_PREFIX_LEN]> {
    let data_size = 5 + payload_len;
    if data_size > 0x00ff_ffff {
        return Err(Error::Input(format!(
            "video frame of {payload_len} bytes is too large for FLV"
        )));
    }
    if !(-(1 << 23)..(1 << 23)).contains(&composition_time_ms) {
        return Err(Error::Input(format!(
            "composition offset of {composition_time_ms} ms does not fit FLV"
        )));
    }
    let ts = u32::try_from(timestamp_ms)
        .map_err(|_| Error::Input(format!("timestamp of {timestamp_ms} ms does not fit FLV")))?;
    let size = (data_size as u32).to_be_bytes();
    let ts_bytes = ts.to_be_bytes();
    let cts = (composition_time_ms as i32).to_be_bytes();
    Ok([
        9, // TagType video
        size[1],
        size[2],
        size[3],
        ts_bytes[1],
        ts_bytes[2],
        ts_bytes[3],
        ts_bytes[0], // TimestampExtended
        0,
        0,
        0,                                  // StreamID
        if keyframe { 0x17 } else { 0x27 }, // FrameType | CodecID 7 (AVC)
        avc_packet_type,
        cts[1],
        cts[2],
        cts[3],
    ])
}

/// `PreviousTagSize` after a video tag with a `payload_len`-byte payload.
pub(crate) fn previous_tag_size(payload_len: usize) -> [u8; 4] {
    ((VIDEO_PREFIX_LEN + payload_len) as u32).to_be_bytes()
}

/// The AVC sequence header tag for `source`, complete.
pub(crate) fn sequence_header(source: &H264Config) -> Result<Vec<u8>> {
    let avcc = avcc_with_4_byte_lengths(source)?;
    let mut tag = Vec::with_capacity(VIDEO_PREFIX_LEN + avcc.len() + 4);
    tag.extend_from_slice(&video_tag_prefix(0, true, 0, 0, avcc.len())?);
    tag.extend_from_slice(&avcc);
    tag.extend_from_slice(&previous_tag_size(avcc.len()));
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use av::flv::FileReader;
    use av::{DemuxEvent, FlvDemuxer, Time90k};
    use bytes::Bytes;

    #[test]
    fn round_trips_through_av() {
        let (info, units) =
            packager::testutil::demux_fixture(packager::testutil::FLV_320X180_BFRAMES_AAC);
        let source = info.video.unwrap();
        let mut file = FILE_HEADER.to_vec();
        file.extend(sequence_header(&source).unwrap());
        let video: Vec<_> = units
            .into_iter()
            .filter(|u| u.track == av::TrackKind::Video)
            .collect();
        for u in &video {
            let ms = (u.dts.0 / 90) as u64 + 0x0100_0000; // exercises the extension byte
            let cts = (u.pts.0 - u.dts.0) / 90;
            file.extend(video_tag_prefix(ms, u.keyframe, 1, cts, u.data.len()).unwrap());
            file.extend_from_slice(&u.data);
            file.extend(previous_tag_size(u.data.len()));
        }
        let mut demuxer = FlvDemuxer::new();
        let mut out = Vec::new();
        for tag in FileReader::new(Bytes::from(file)).unwrap() {
            let tag = tag.unwrap();
            match demuxer.push(tag.kind, tag.timestamp_ms, tag.body).unwrap() {
                Some(DemuxEvent::VideoConfig(c)) => assert_eq!(c, source),
                Some(DemuxEvent::Unit(u)) => out.push(u),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(out.len(), video.len());
        let shift = Time90k(0x0100_0000 * 90);
        for (a, b) in out.iter().zip(&video) {
            assert_eq!((a.pts, a.dts), (b.pts + shift, b.dts + shift));
            assert_eq!((a.keyframe, &a.data), (b.keyframe, &b.data));
        }
    }

    #[test]
    fn rejects_what_flv_cannot_carry() {
        assert!(video_tag_prefix(0, true, 1, 0, 1 << 24).is_err());
        assert!(video_tag_prefix(0, true, 1, 1 << 23, 10).is_err());
        assert!(video_tag_prefix(1 << 32, true, 1, 0, 10).is_err());
        assert!(video_tag_prefix(0, true, 1, -(1 << 23), 10).is_ok());
    }
}
