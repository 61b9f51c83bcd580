//! Transport stream packets (ISO/IEC 13818-1 §2.4.3.2–§2.4.3.5): splitting a
//! PES packet into 188-byte packets with continuity counters, the adaptation
//! field with PCR and random_access_indicator on the first packet, and
//! adaptation-field stuffing to fill the last one.
//!
//! Everything is written straight into the segment's `BytesMut`, reserved once
//! per PES: no allocation per packet.

use bytes::{BufMut, BytesMut};

pub(crate) const PACKET_LEN: usize = 188;
pub(crate) const SYNC_BYTE: u8 = 0x47;
/// Payload bytes after the 4-byte header.
const BODY_LEN: usize = PACKET_LEN - 4;

/// The 4-bit `continuity_counter` of one PID, incremented for every packet
/// that carries payload (§2.4.3.3). Lives in the muxer, so it continues
/// across segments as the concatenated stream requires.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Continuity(u8);

impl Continuity {
    /// The counter value for the next payload-carrying packet; advances it.
    pub(crate) fn advance(&mut self) -> u8 {
        let cc = self.0;
        self.0 = (self.0 + 1) & 0x0F;
        cc
    }

    /// The counter of the last payload-carrying packet, repeated by packets
    /// without payload.
    fn last(self) -> u8 {
        self.0.wrapping_sub(1) & 0x0F
    }
}

/// What goes into the adaptation field of a PES's first packet.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StartFlags {
    /// `random_access_indicator`: the PES starts at an access point.
    pub random_access: bool,
    /// PCR base in 90 kHz ticks, already wrapped to 33 bits.
    pub pcr_90k: Option<u64>,
}

impl StartFlags {
    /// Bytes the adaptation field needs for these flags (length byte included),
    /// 0 when no adaptation field is needed.
    fn len(self) -> usize {
        match (self.random_access, self.pcr_90k) {
            (_, Some(_)) => 2 + 6,
            (true, None) => 2,
            (false, None) => 0,
        }
    }
}

fn put_header(
    out: &mut BytesMut,
    pid: u16,
    unit_start: bool,
    adaptation: bool,
    payload: bool,
    cc: u8,
) {
    let afc = match (adaptation, payload) {
        (false, _) => 0b01,
        (true, true) => 0b11,
        (true, false) => 0b10,
    };
    out.put_u8(SYNC_BYTE);
    out.put_u8(((unit_start as u8) << 6) | ((pid >> 8) as u8 & 0x1F));
    out.put_u8(pid as u8);
    out.put_u8((afc << 4) | cc);
}

/// Writes an adaptation field of exactly `total` bytes (length byte included,
/// `total >= 1`, and `total >= flags.len()`), stuffed with 0xFF.
fn put_adaptation_field(out: &mut BytesMut, total: usize, flags: StartFlags) {
    out.put_u8((total - 1) as u8); // adaptation_field_length
    if total == 1 {
        return; // one byte of stuffing: a zero-length adaptation field
    }
    let mut flag_byte = 0u8;
    if flags.random_access {
        flag_byte |= 0x40;
    }
    if flags.pcr_90k.is_some() {
        flag_byte |= 0x10;
    }
    out.put_u8(flag_byte);
    let mut used = 2;
    if let Some(base) = flags.pcr_90k {
        out.put_slice(&encode_pcr(base));
        used += 6;
    }
    out.put_bytes(0xFF, total - used);
}

/// `program_clock_reference_base` (33 bits, 90 kHz), 6 reserved bits and the
/// 9-bit 27 MHz extension, which we leave 0.
pub(crate) fn encode_pcr(base: u64) -> [u8; 6] {
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        (((base & 1) as u8) << 7) | 0x7E,
        0,
    ]
}

/// Number of packets a PES of `len` bytes takes when its first packet carries
/// an adaptation field of `first_af` bytes.
fn packet_count(len: usize, first_af: usize) -> usize {
    let first = BODY_LEN - first_af;
    if len <= first {
        1
    } else {
        1 + (len - first).div_ceil(BODY_LEN)
    }
}

/// Splits one PES packet (`header` followed by `payload`) into TS packets on
/// `pid`. `header` must fit the first packet (PES headers are at most 19
/// bytes here).
pub(crate) fn write_pes(
    out: &mut BytesMut,
    pid: u16,
    cc: &mut Continuity,
    flags: StartFlags,
    header: &[u8],
    payload: &[u8],
) {
    let total = header.len() + payload.len();
    out.reserve(packet_count(total, flags.len()) * PACKET_LEN);
    let mut sent = 0; // bytes of header + payload written so far
    let mut first = true;
    while first || sent < total {
        let start_flags = if first { flags } else { StartFlags::default() };
        let min_af = start_flags.len();
        let chunk = (total - sent).min(BODY_LEN - min_af);
        // Adaptation field for the flags plus stuffing to fill the packet.
        let af = BODY_LEN - chunk;
        put_header(out, pid, first, af > 0, true, cc.advance());
        if af > 0 {
            put_adaptation_field(out, af, start_flags);
        }
        let mut left = chunk;
        if first {
            out.put_slice(header);
            left -= header.len();
        }
        let from = sent.saturating_sub(header.len());
        out.put_slice(&payload[from..from + left]);
        sent += chunk;
        first = false;
    }
}

/// A packet on `pid` with only an adaptation field carrying a PCR (keeps PCRs
/// within 100 ms, §2.7.2, while the PCR PID has no PES to carry one). Does not
/// advance the continuity counter.
pub(crate) fn write_pcr_only(out: &mut BytesMut, pid: u16, cc: Continuity, pcr_90k: u64) {
    put_header(out, pid, false, true, false, cc.last());
    put_adaptation_field(
        out,
        BODY_LEN,
        StartFlags {
            random_access: false,
            pcr_90k: Some(pcr_90k),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(out: &BytesMut) -> Vec<&[u8]> {
        assert_eq!(out.len() % PACKET_LEN, 0);
        out.chunks(PACKET_LEN).collect()
    }

    #[test]
    fn pcr_encoding_round_trips() {
        for base in [0u64, 1, 126_000, (1 << 33) - 1, 0x1_2345_6789] {
            let b = encode_pcr(base);
            let decoded = (u64::from(b[0]) << 25)
                | (u64::from(b[1]) << 17)
                | (u64::from(b[2]) << 9)
                | (u64::from(b[3]) << 1)
                | (u64::from(b[4]) >> 7);
            assert_eq!(decoded, base);
            assert_eq!(b[4] & 0x7e, 0x7e, "reserved bits set");
        }
    }

    #[test]
    fn every_payload_length_fills_whole_packets() {
        let payload = vec![0xABu8; 3 * BODY_LEN + 10];
        let header = [0u8, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5, 1, 2, 3, 4, 5];
        for flags in [
            StartFlags::default(),
            StartFlags {
                random_access: true,
                pcr_90k: None,
            },
            StartFlags {
                random_access: true,
                pcr_90k: Some(12345),
            },
        ] {
            for len in 0..payload.len() {
                let mut out = BytesMut::new();
                let mut cc = Continuity(14);
                write_pes(&mut out, 0x100, &mut cc, flags, &header, &payload[..len]);
                let pkts = packets(&out);
                assert_eq!(pkts.len(), packet_count(header.len() + len, flags.len()));
                let mut body = Vec::new();
                for (i, p) in pkts.iter().enumerate() {
                    assert_eq!(p[0], SYNC_BYTE);
                    assert_eq!(p[1] & 0x40 != 0, i == 0, "PUSI only on the first packet");
                    assert_eq!(u16::from(p[1] & 0x1f) << 8 | u16::from(p[2]), 0x100);
                    assert_eq!(p[3] & 0x0f, ((14 + i) % 16) as u8, "continuity counter");
                    let mut pos = 4;
                    if p[3] & 0x20 != 0 {
                        let af_len = usize::from(p[4]);
                        if i == 0 && flags.len() > 0 {
                            assert_eq!(p[5] & 0x40 != 0, flags.random_access);
                            assert_eq!(p[5] & 0x10 != 0, flags.pcr_90k.is_some());
                        }
                        pos += 1 + af_len;
                    }
                    body.extend_from_slice(&p[pos..]);
                }
                assert_eq!(&body[..header.len()], &header);
                assert_eq!(&body[header.len()..], &payload[..len]);
                assert_eq!(cc, Continuity(((14 + pkts.len()) % 16) as u8));
            }
        }
    }

    #[test]
    fn pcr_only_packet_repeats_the_counter() {
        let mut out = BytesMut::new();
        let mut cc = Continuity::default();
        write_pes(
            &mut out,
            0x101,
            &mut cc,
            StartFlags::default(),
            &[1, 2, 3],
            &[],
        );
        write_pcr_only(&mut out, 0x101, cc, 90_000);
        let pkts = packets(&out);
        assert_eq!(pkts[0][3], 0x30, "adaptation + payload, CC 0");
        assert_eq!(pkts[1][3], 0x20, "adaptation only, CC 0 repeated");
        assert_eq!(pkts[1][4], 183);
        assert_eq!(pkts[1][5], 0x10);
        assert_eq!(cc, Continuity(1));
    }
}
