//! PES packet headers (ISO/IEC 13818-1 §2.4.3.6–§2.4.3.7) with PTS and DTS,
//! and the 33-bit wrapping of the 90 kHz system clock.

/// `stream_id` of the first MPEG video stream (H.264 uses it, §2.4.3.7).
pub(crate) const STREAM_ID_VIDEO: u8 = 0xE0;
/// `stream_id` of the first MPEG audio stream (AAC uses it).
pub(crate) const STREAM_ID_AUDIO: u8 = 0xC0;

/// PTS, DTS and PCR are 33-bit counters of the 90 kHz clock.
pub(crate) const TIMESTAMP_MODULUS: i64 = 1 << 33;

/// Longest PES header we write: 9 fixed bytes + PTS + DTS.
pub(crate) const MAX_HEADER_LEN: usize = 9 + 5 + 5;

/// Wraps a 90 kHz time to the 33 bits PTS/DTS/PCR carry.
pub(crate) fn wrap_33(t: i64) -> u64 {
    t.rem_euclid(TIMESTAMP_MODULUS) as u64
}

/// A 5-byte PTS or DTS field with its 4-bit `prefix` ('0010' PTS only,
/// '0011' PTS followed by DTS, '0001' DTS) and marker bits.
pub(crate) fn encode_timestamp(prefix: u8, ts: u64) -> [u8; 5] {
    [
        (prefix << 4) | (((ts >> 30) & 0x07) as u8) << 1 | 1,
        (ts >> 22) as u8,
        ((((ts >> 15) & 0x7F) as u8) << 1) | 1,
        (ts >> 7) as u8,
        (((ts & 0x7F) as u8) << 1) | 1,
    ]
}

/// Inverse of [`encode_timestamp`]: the 33-bit value (marker bits ignored).
pub(crate) fn decode_timestamp(b: &[u8; 5]) -> u64 {
    (u64::from(b[0] >> 1) & 0x07) << 30
        | u64::from(b[1]) << 22
        | u64::from(b[2] >> 1) << 15
        | u64::from(b[3]) << 7
        | u64::from(b[4] >> 1)
}

/// Writes a PES header into `buf` and returns its length.
///
/// `pts`/`dts` are already offset and wrapped; the DTS is written only when
/// it differs from the PTS (§2.4.3.7: PTS_DTS_flags '11' vs '10').
/// `payload_len` is `Some` for a bounded `PES_packet_length` (audio) and
/// `None` for 0, "unbounded", which only video streams may use; a payload too
/// long for the 16-bit field is written unbounded too.
pub(crate) fn write_header(
    buf: &mut [u8; MAX_HEADER_LEN],
    stream_id: u8,
    pts: u64,
    dts: u64,
    payload_len: Option<usize>,
) -> usize {
    let with_dts = dts != pts;
    let header_data_len = if with_dts { 10 } else { 5 };
    let len = 9 + header_data_len;
    let packet_len = payload_len
        .map(|p| p + 3 + header_data_len)
        .filter(|l| *l <= usize::from(u16::MAX))
        .unwrap_or(0) as u16;
    buf[..3].copy_from_slice(&[0, 0, 1]);
    buf[3] = stream_id;
    buf[4..6].copy_from_slice(&packet_len.to_be_bytes());
    // '10', not scrambled, no priority, data_alignment_indicator (every PES
    // starts with an access unit: AUD or ADTS sync word), no copyright.
    buf[6] = 0x84;
    buf[7] = if with_dts { 0xC0 } else { 0x80 };
    buf[8] = header_data_len as u8;
    if with_dts {
        buf[9..14].copy_from_slice(&encode_timestamp(0b0011, pts));
        buf[14..19].copy_from_slice(&encode_timestamp(0b0001, dts));
    } else {
        buf[9..14].copy_from_slice(&encode_timestamp(0b0010, pts));
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for ts in [
            0u64,
            1,
            0x7F,
            0x80,
            0x7FFF,
            0x8000,
            126_000,
            (1 << 32) + 5,
            (1 << 33) - 1,
        ] {
            for prefix in [0b0010, 0b0011, 0b0001] {
                let b = encode_timestamp(prefix, ts);
                assert_eq!(decode_timestamp(&b), ts, "{ts:#x}");
                assert_eq!(b[0] >> 4, prefix);
                assert_eq!(b[0] & 1, 1);
                assert_eq!(b[2] & 1, 1);
                assert_eq!(b[4] & 1, 1);
            }
        }
    }

    #[test]
    fn wraps_to_33_bits() {
        assert_eq!(wrap_33(0), 0);
        assert_eq!(wrap_33(TIMESTAMP_MODULUS + 7), 7);
        assert_eq!(wrap_33(-1), (1 << 33) - 1);
    }

    #[test]
    fn header_bytes() {
        // PTS 1.4 s + 2 frames, DTS 1.4 s: the timestamp bytes are those of
        // ffmpeg's first video PES of a B-frame stream (ffmpeg leaves
        // data_alignment_indicator off: 0x80 where we write 0x84).
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = write_header(&mut buf, STREAM_ID_VIDEO, 132_000, 126_000, None);
        assert_eq!(n, 19);
        assert_eq!(
            &buf[..n],
            &[
                0x00, 0x00, 0x01, 0xe0, 0x00, 0x00, 0x84, 0xc0, 0x0a, 0x31, 0x00, 0x09, 0x07, 0x41,
                0x11, 0x00, 0x07, 0xd8, 0x61
            ]
        );
        // Audio: bounded length, PTS only.
        let n = write_header(&mut buf, STREAM_ID_AUDIO, 126_000, 126_000, Some(100));
        assert_eq!(n, 14);
        assert_eq!(&buf[4..6], &[0, 108]);
        assert_eq!(buf[7], 0x80);
        // Too long for the 16-bit field: unbounded.
        write_header(&mut buf, STREAM_ID_AUDIO, 0, 0, Some(70_000));
        assert_eq!(&buf[4..6], &[0, 0]);
    }
}
