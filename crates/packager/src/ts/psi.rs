//! Program-specific information (ISO/IEC 13818-1 §2.4.4): the program
//! association table (§2.4.4.3) and program map table (§2.4.4.8) written at
//! the start of every segment, so each segment can be decoded on its own
//! (RFC 8216bis §3.2).
//!
//! One program (number 1) whose PMT is on [`PMT_PID`], with H.264 (stream
//! type 0x1B) on [`VIDEO_PID`] and ADTS AAC (0x0F) on [`AUDIO_PID`].

use super::crc::crc32_mpeg2;
use super::packet::{PACKET_LEN, SYNC_BYTE};

pub(crate) const PAT_PID: u16 = 0x0000;
pub(crate) const PMT_PID: u16 = 0x1000;
pub(crate) const VIDEO_PID: u16 = 0x0100;
pub(crate) const AUDIO_PID: u16 = 0x0101;

/// `stream_type` of H.264 video (Table 2-34).
pub(crate) const STREAM_TYPE_H264: u8 = 0x1B;
/// `stream_type` of AAC in ADTS (ISO/IEC 13818-7 audio).
pub(crate) const STREAM_TYPE_ADTS_AAC: u8 = 0x0F;

const PROGRAM_NUMBER: u16 = 1;
const TRANSPORT_STREAM_ID: u16 = 1;

/// A complete one-packet PSI section on `pid`, with continuity counter 0
/// (the caller patches byte 3). `body` is the section after `section_length`
/// up to, excluding, the CRC.
fn section_packet(pid: u16, table_id: u8, body: &[u8]) -> [u8; PACKET_LEN] {
    let mut p = [0xFFu8; PACKET_LEN];
    p[0] = SYNC_BYTE;
    p[1] = 0x40 | (pid >> 8) as u8; // payload_unit_start_indicator
    p[2] = pid as u8;
    p[3] = 0x10; // payload only, CC 0
    p[4] = 0; // pointer_field
    let section_length = body.len() + 4;
    let s = 5;
    p[s] = table_id;
    // section_syntax_indicator 1, '0', reserved '11', 12-bit length
    p[s + 1] = 0xB0 | (section_length >> 8) as u8;
    p[s + 2] = section_length as u8;
    p[s + 3..s + 3 + body.len()].copy_from_slice(body);
    let end = s + 3 + body.len();
    let crc = crc32_mpeg2(&p[s..end]);
    p[end..end + 4].copy_from_slice(&crc.to_be_bytes());
    p
}

/// The PAT packet: program 1 → [`PMT_PID`].
pub(crate) fn pat_packet() -> [u8; PACKET_LEN] {
    let [ts_hi, ts_lo] = TRANSPORT_STREAM_ID.to_be_bytes();
    let [pn_hi, pn_lo] = PROGRAM_NUMBER.to_be_bytes();
    let body = [
        ts_hi,
        ts_lo,
        0xC1, // reserved '11', version 0, current_next_indicator 1
        0,    // section_number
        0,    // last_section_number
        pn_hi,
        pn_lo,
        0xE0 | (PMT_PID >> 8) as u8, // reserved '111' + program_map_PID
        PMT_PID as u8,
    ];
    section_packet(PAT_PID, 0x00, &body)
}

/// The PMT packet for a program with the given elementary streams.
pub(crate) fn pmt_packet(has_video: bool, has_audio: bool) -> [u8; PACKET_LEN] {
    let pcr_pid = if has_video || !has_audio {
        VIDEO_PID
    } else {
        AUDIO_PID
    };
    let [pn_hi, pn_lo] = PROGRAM_NUMBER.to_be_bytes();
    let mut body = [0u8; 9 + 2 * 5];
    body[..9].copy_from_slice(&[
        pn_hi,
        pn_lo,
        0xC1, // reserved, version 0, current_next_indicator 1
        0,
        0,
        0xE0 | (pcr_pid >> 8) as u8, // reserved '111' + PCR_PID
        pcr_pid as u8,
        0xF0, // reserved '1111' + program_info_length 0
        0x00,
    ]);
    let mut len = 9;
    let streams = [
        (has_video, STREAM_TYPE_H264, VIDEO_PID),
        (has_audio, STREAM_TYPE_ADTS_AAC, AUDIO_PID),
    ];
    for (present, stream_type, pid) in streams {
        if present {
            body[len..len + 5].copy_from_slice(&[
                stream_type,
                0xE0 | (pid >> 8) as u8, // reserved '111' + elementary_PID
                pid as u8,
                0xF0, // reserved '1111' + ES_info_length 0
                0x00,
            ]);
            len += 5;
        }
    }
    section_packet(PMT_PID, 0x02, &body[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pat_matches_ffmpeg() {
        // ffmpeg -f mpegts writes the same PAT (transport_stream_id 1,
        // program 1 on PID 0x1000), CRC included.
        let p = pat_packet();
        assert_eq!(
            &p[..21],
            &[
                0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00,
                0x01, 0xf0, 0x00, 0x2a, 0xb1, 0x04, 0xb2
            ]
        );
        assert!(p[21..].iter().all(|b| *b == 0xff));
    }

    #[test]
    fn pmt_crc_and_layout() {
        let p = pmt_packet(true, true);
        let len = (usize::from(p[6] & 0x0f) << 8) | usize::from(p[7]);
        assert_eq!(len, 9 + 10 + 4);
        assert_eq!(crc32_mpeg2(&p[5..8 + len]), 0);
        assert_eq!(&p[13..15], &[0xe1, 0x00], "PCR on the video PID");
        assert_eq!(&p[17..22], &[0x1b, 0xe1, 0x00, 0xf0, 0x00]);
        assert_eq!(&p[22..27], &[0x0f, 0xe1, 0x01, 0xf0, 0x00]);

        let audio_only = pmt_packet(false, true);
        assert_eq!(&audio_only[13..15], &[0xe1, 0x01], "PCR on the audio PID");
        assert_eq!(&audio_only[17..22], &[0x0f, 0xe1, 0x01, 0xf0, 0x00]);
        let len = (usize::from(audio_only[6] & 0x0f) << 8) | usize::from(audio_only[7]);
        assert_eq!(crc32_mpeg2(&audio_only[5..8 + len]), 0);
    }
}
