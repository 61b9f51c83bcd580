//! A small, strict MPEG-TS reader (ISO/IEC 13818-1) for checking what the
//! muxer wrote: packet framing, continuity counters across segments, PSI
//! CRCs, PES headers, PCRs. Reports the first problem as a `String`.

use std::collections::HashMap;

use crate::ts::{crc32_mpeg2, decode_timestamp};

pub const PACKET_LEN: usize = 188;

/// One reassembled PES packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pes {
    pub pid: u16,
    pub stream_id: u8,
    /// 33-bit PTS as written.
    pub pts: u64,
    /// 33-bit DTS as written; equal to `pts` when the header has none.
    pub dts: u64,
    pub has_dts: bool,
    /// `random_access_indicator` of the first packet.
    pub random_access: bool,
    /// PCR base in the first packet's adaptation field.
    pub pcr: Option<u64>,
    /// Elementary stream bytes.
    pub payload: Vec<u8>,
}

/// What one segment contains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// `(stream_type, elementary_PID)` from the PMT, in order.
    pub streams: Vec<(u8, u16)>,
    pub pcr_pid: u16,
    pub pes: Vec<Pes>,
    /// Every PCR base in packet order, with the packet index.
    pub pcrs: Vec<(usize, u64)>,
}

/// Continuity counters per PID, carried from one segment to the next.
pub type ContinuityState = HashMap<u16, u8>;

/// Parses a PSI section starting at the pointer field; checks the CRC.
fn section(payload: &[u8], want_table: u8) -> Result<&[u8], String> {
    let pointer = *payload.first().ok_or("empty PSI payload")? as usize;
    let s = payload.get(1 + pointer..).ok_or("pointer_field overruns")?;
    if s.len() < 3 || s[0] != want_table {
        return Err(format!("table_id {:?}, want {want_table}", s.first()));
    }
    let len = (usize::from(s[1] & 0x0F) << 8) | usize::from(s[2]);
    let sec = s.get(..3 + len).ok_or("section overruns the packet")?;
    if crc32_mpeg2(sec) != 0 {
        return Err(format!("bad CRC in table {want_table}"));
    }
    // Body after the 5 bytes of extension header, without the CRC.
    sec.get(8..3 + len - 4)
        .ok_or_else(|| "short section".to_owned())
}

fn timestamp(b: &[u8]) -> u64 {
    let mut field = [0u8; 5];
    field.copy_from_slice(&b[..5]);
    decode_timestamp(&field)
}

fn finish_pes(
    pid: u16,
    buf: Vec<u8>,
    random_access: bool,
    pcr: Option<u64>,
    out: &mut Vec<Pes>,
) -> Result<(), String> {
    if buf.len() < 9 || buf[..3] != [0, 0, 1] {
        return Err(format!("PID {pid:#x}: PES without start code"));
    }
    let stream_id = buf[3];
    let packet_len = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    if packet_len != 0 && packet_len != buf.len() - 6 {
        return Err(format!(
            "PID {pid:#x}: PES_packet_length {packet_len}, have {}",
            buf.len() - 6
        ));
    }
    if buf[6] & 0xC0 != 0x80 {
        return Err(format!("PID {pid:#x}: bad PES header marker"));
    }
    let flags = buf[7] >> 6;
    let header_len = usize::from(buf[8]);
    let h = buf.get(9..9 + header_len).ok_or("PES header overruns")?;
    let (pts, dts, has_dts) = match flags {
        0b10 if h.len() >= 5 && h[0] >> 4 == 0b0010 => {
            (timestamp(&h[..5]), timestamp(&h[..5]), false)
        }
        0b11 if h.len() >= 10 && h[0] >> 4 == 0b0011 && h[5] >> 4 == 0b0001 => {
            (timestamp(&h[..5]), timestamp(&h[5..10]), true)
        }
        _ => return Err(format!("PID {pid:#x}: PES without valid PTS")),
    };
    out.push(Pes {
        pid,
        stream_id,
        pts,
        dts,
        has_dts,
        random_access,
        pcr,
        payload: buf[9 + header_len..].to_vec(),
    });
    Ok(())
}

/// Parses one segment. `cc` carries continuity counters across segments
/// (start with an empty map).
pub fn parse_segment(data: &[u8], cc: &mut ContinuityState) -> Result<Segment, String> {
    if data.is_empty() || !data.len().is_multiple_of(PACKET_LEN) {
        return Err(format!(
            "{} bytes is not a whole number of packets",
            data.len()
        ));
    }
    let mut seg = Segment::default();
    let mut pmt_pid = None;
    // PID -> (buffer, random_access, pcr)
    let mut open: HashMap<u16, (Vec<u8>, bool, Option<u64>)> = HashMap::new();
    for (i, p) in data.chunks(PACKET_LEN).enumerate() {
        if p[0] != 0x47 {
            return Err(format!("packet {i}: sync byte {:#x}", p[0]));
        }
        if p[1] & 0x80 != 0 {
            return Err(format!("packet {i}: transport_error_indicator"));
        }
        let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
        let unit_start = p[1] & 0x40 != 0;
        let afc = (p[3] >> 4) & 3;
        let counter = p[3] & 0x0F;
        let has_payload = afc & 1 != 0;
        if afc == 0 {
            return Err(format!("packet {i}: adaptation_field_control 0"));
        }
        match cc.get(&pid) {
            Some(&last) => {
                let want = if has_payload { (last + 1) & 0x0F } else { last };
                if counter != want {
                    return Err(format!(
                        "packet {i} PID {pid:#x}: CC {counter}, want {want}"
                    ));
                }
            }
            None if !has_payload => {
                return Err(format!("packet {i}: PID {pid:#x} starts without payload"));
            }
            None => {}
        }
        cc.insert(pid, counter);
        let mut pos = 4;
        let (mut random_access, mut pcr) = (false, None);
        if afc & 2 != 0 {
            let len = usize::from(p[4]);
            if 5 + len > PACKET_LEN || (has_payload && len > 182) || (!has_payload && len != 183) {
                return Err(format!("packet {i}: adaptation_field_length {len}"));
            }
            if len > 0 {
                let flags = p[5];
                random_access = flags & 0x40 != 0;
                if flags & 0x10 != 0 {
                    if len < 7 {
                        return Err(format!("packet {i}: PCR flag in a short adaptation field"));
                    }
                    let b = &p[6..12];
                    let base = (u64::from(b[0]) << 25)
                        | (u64::from(b[1]) << 17)
                        | (u64::from(b[2]) << 9)
                        | (u64::from(b[3]) << 1)
                        | (u64::from(b[4]) >> 7);
                    pcr = Some(base);
                    seg.pcrs.push((i, base));
                }
                let used = 1 + if flags & 0x10 != 0 { 6 } else { 0 };
                if p[5 + used..5 + len].iter().any(|b| *b != 0xFF) {
                    return Err(format!("packet {i}: stuffing bytes other than 0xFF"));
                }
            }
            pos = 5 + len;
        }
        if !has_payload {
            continue;
        }
        let payload = &p[pos..];
        if i == 0 {
            if pid != 0 || !unit_start {
                return Err("the segment does not start with a PAT".into());
            }
            let body = section(payload, 0x00)?;
            if body.len() != 4 {
                return Err(format!("PAT with {} bytes of programs", body.len()));
            }
            pmt_pid = Some((u16::from(body[2] & 0x1F) << 8) | u16::from(body[3]));
            continue;
        }
        if i == 1 {
            if Some(pid) != pmt_pid || !unit_start {
                return Err("the PAT is not followed by the PMT".into());
            }
            let body = section(payload, 0x02)?;
            seg.pcr_pid = (u16::from(body[0] & 0x1F) << 8) | u16::from(body[1]);
            let info_len = (usize::from(body[2] & 0x0F) << 8) | usize::from(body[3]);
            let mut es = &body[4 + info_len..];
            while es.len() >= 5 {
                let es_pid = (u16::from(es[1] & 0x1F) << 8) | u16::from(es[2]);
                seg.streams.push((es[0], es_pid));
                let es_info = (usize::from(es[3] & 0x0F) << 8) | usize::from(es[4]);
                es = &es[5 + es_info..];
            }
            continue;
        }
        if pid == 0 || Some(pid) == pmt_pid {
            return Err(format!("packet {i}: PSI repeated mid-segment"));
        }
        if !seg.streams.iter().any(|(_, p)| *p == pid) {
            return Err(format!("packet {i}: PID {pid:#x} not in the PMT"));
        }
        if unit_start {
            if let Some((buf, ra, pc)) = open.remove(&pid) {
                finish_pes(pid, buf, ra, pc, &mut seg.pes)?;
            }
            open.insert(pid, (payload.to_vec(), random_access, pcr));
        } else {
            let (buf, _, _) = open.get_mut(&pid).ok_or_else(|| {
                format!("packet {i}: PID {pid:#x} continues a PES it never started")
            })?;
            buf.extend_from_slice(payload);
        }
    }
    // Segments end with complete PES packets (video PES are unbounded, so
    // the end of the segment ends them).
    let mut rest: Vec<_> = open.into_iter().collect();
    rest.sort_by_key(|(pid, _)| *pid);
    for (pid, (buf, ra, pc)) in rest {
        finish_pes(pid, buf, ra, pc, &mut seg.pes)?;
    }
    Ok(seg)
}
