//! The MPEG-TS [`SegmentWriter`]: access units → PES → 188-byte packets in
//! a few buffers of about [`CHUNK_BYTES`] per segment, with PAT/PMT first
//! (ISO/IEC 13818-1 §2.4; HLS profile of RFC 8216bis §3.2).
//!
//! Memory: a live server holds the open segment of every stream. One buffer
//! grown by doubling would hold up to twice a segment (and copy it on every
//! growth); buffers of a fixed size hold the segment plus at most one
//! buffer's slack, never copy, and come back through
//! [`SegmentWriter::recycle`] for the next segment.
//!
//! Timing: every PTS/DTS is the source timestamp plus [`TIMESTAMP_OFFSET`]
//! (1.4 s, as ffmpeg does) so that the PCR, which runs a little ahead of the
//! data ([`PCR_LEAD`]), stays positive from the first frame; all three wrap
//! modulo 2^33. The PCR travels in the first packet of every PES on the PCR
//! PID (video if present, else audio), and in PCR-only packets when that PID
//! goes quiet for [`PCR_REFRESH`] while the other one keeps writing.

use av::{AacConfig, AccessUnit, H264Config, MediaInfo, Time90k, TrackKind};
use bytes::{BufMut, Bytes, BytesMut};

use super::packet::{self, Continuity, PACKET_LEN, StartFlags};
use super::pes::{self, MAX_HEADER_LEN, STREAM_ID_AUDIO, STREAM_ID_VIDEO, wrap_33};
use super::{es, psi};
use crate::segmenter::SegmentWriter;
use crate::{Error, Result, SegmentFormat};

/// Added to every timestamp written (90 kHz ticks).
pub(crate) const TIMESTAMP_OFFSET: Time90k = Time90k(126_000);
/// How far the PCR is set below the DTS of the PES it arrives with: the
/// decoder model's "arrival" precedes decoding (90 kHz ticks, 100 ms).
pub(crate) const PCR_LEAD: i64 = 9_000;
/// Longest PCR gap (70 ms) tolerated before a PCR-only packet is inserted;
/// with audio frames of at most ~23 ms this keeps PCRs within the 100 ms of
/// §2.7.2.
const PCR_REFRESH: i64 = 6_300;
/// Bytes per segment buffer: 348 packets, just under 64 KiB. A PES larger
/// than that (a keyframe) gets a buffer of its own size.
pub(crate) const CHUNK_BYTES: usize = 348 * PACKET_LEN;
/// Spare buffers kept for the next segments (6 MB of media at most).
const MAX_SPARE_CHUNKS: usize = 96;

/// Output state of one TS segment.
pub(crate) struct TsSegmentBuf {
    /// The buffer being written.
    buf: BytesMut,
    /// Full buffers before it, in order.
    full: Vec<Bytes>,
    /// Last PCR written into this segment, offset applied, not wrapped.
    last_pcr: Option<i64>,
    /// The PCR PID's continuity counter after its last packet in this
    /// segment. A PCR-only packet repeats it.
    pcr_cc: Continuity,
}

pub(crate) struct TsWriter {
    video: Option<H264Config>,
    audio: Option<AacConfig>,
    pcr_pid: u16,
    pat: [u8; PACKET_LEN],
    pmt: [u8; PACKET_LEN],
    cc_pat: Continuity,
    cc_pmt: Continuity,
    cc_video: Continuity,
    cc_audio: Continuity,
    /// The elementary stream payload of the access unit last prepared.
    scratch: Vec<u8>,
    /// Buffers of finished segments handed back by the caller, for the
    /// next ones.
    spare: Vec<BytesMut>,
}

impl TsWriter {
    pub(crate) fn new(info: &MediaInfo) -> Self {
        let has_video = info.video.is_some();
        let has_audio = info.audio.is_some();
        TsWriter {
            video: info.video.clone(),
            audio: info.audio.clone(),
            pcr_pid: if has_video || !has_audio {
                psi::VIDEO_PID
            } else {
                psi::AUDIO_PID
            },
            pat: psi::pat_packet(),
            pmt: psi::pmt_packet(has_video, has_audio),
            cc_pat: Continuity::default(),
            cc_pmt: Continuity::default(),
            cc_video: Continuity::default(),
            cc_audio: Continuity::default(),
            scratch: Vec::with_capacity(64 * 1024),
            spare: Vec::new(),
        }
    }

    /// An empty buffer with room for `at_least` bytes: a spare one if there
    /// is one.
    fn chunk(&mut self, at_least: usize) -> BytesMut {
        let mut buf = self
            .spare
            .pop()
            .unwrap_or_else(|| BytesMut::with_capacity(CHUNK_BYTES.max(at_least)));
        buf.clear();
        buf.reserve(at_least);
        buf
    }

    /// Makes room for `bytes` more in `seg`: starts a new buffer when the
    /// current one would pass [`CHUNK_BYTES`]. Buffer boundaries depend only
    /// on the data written, never on the capacity of recycled buffers.
    fn room(&mut self, seg: &mut TsSegmentBuf, bytes: usize) {
        if !seg.buf.is_empty() && seg.buf.len() + bytes > CHUNK_BYTES {
            let next = self.chunk(bytes);
            seg.full
                .push(std::mem::replace(&mut seg.buf, next).freeze());
        }
    }
}

/// Writes a cached PSI packet with the next continuity counter of its PID.
fn put_psi(out: &mut BytesMut, packet: &[u8; PACKET_LEN], cc: &mut Continuity) {
    out.put_slice(&packet[..3]);
    out.put_u8((packet[3] & 0xF0) | cc.advance());
    out.put_slice(&packet[4..]);
}

impl SegmentWriter for TsWriter {
    type Open = TsSegmentBuf;
    const FORMAT: SegmentFormat = SegmentFormat::MpegTs;
    const SUPPORTS_PARTS: bool = false;

    fn init(&self) -> Option<Bytes> {
        None
    }

    fn prepare(&mut self, au: &AccessUnit) -> Result<()> {
        let undeclared = || Error::UndeclaredTrack { track: au.track };
        match au.track {
            TrackKind::Video => {
                let config = self.video.as_ref().ok_or_else(undeclared)?;
                es::h264_annex_b(au, config, &mut self.scratch)
            }
            TrackKind::Audio => {
                let config = self.audio.as_ref().ok_or_else(undeclared)?;
                es::aac_adts(au, config, &mut self.scratch)
            }
        }
    }

    fn open(&mut self, _sequence: u64) -> TsSegmentBuf {
        let mut buf = self.chunk(2 * PACKET_LEN);
        put_psi(&mut buf, &self.pat, &mut self.cc_pat);
        put_psi(&mut buf, &self.pmt, &mut self.cc_pmt);
        TsSegmentBuf {
            buf,
            full: Vec::new(),
            last_pcr: None,
            pcr_cc: Continuity::default(),
        }
    }

    fn write(&mut self, seg: &mut TsSegmentBuf, au: &AccessUnit) {
        let (pid, stream_id, bounded) = match au.track {
            TrackKind::Video => (psi::VIDEO_PID, STREAM_ID_VIDEO, false),
            TrackKind::Audio => (psi::AUDIO_PID, STREAM_ID_AUDIO, true),
        };
        let dts = au.dts.0 + TIMESTAMP_OFFSET.0;
        // Audio frames are presented when decoded: PTS only.
        let pts = match au.track {
            TrackKind::Video => au.pts.0 + TIMESTAMP_OFFSET.0,
            TrackKind::Audio => dts,
        };
        // The PES (header ≤ 19 bytes, 184 bytes per packet) and a possible
        // PCR-only packet.
        let pes_bytes = (MAX_HEADER_LEN + self.scratch.len()).div_ceil(184) * PACKET_LEN;
        self.room(seg, pes_bytes + 2 * PACKET_LEN);
        let target_pcr = dts - PCR_LEAD;
        let mut flags = StartFlags {
            random_access: au.keyframe,
            pcr_90k: None,
        };
        if pid == self.pcr_pid {
            // Never let the PCR step back within a segment (interleaving
            // jitter between tracks).
            let pcr = seg.last_pcr.map_or(target_pcr, |last| target_pcr.max(last));
            flags.pcr_90k = Some(wrap_33(pcr));
            seg.last_pcr = Some(pcr);
        } else if let Some(last) = seg.last_pcr
            && target_pcr - last >= PCR_REFRESH
        {
            packet::write_pcr_only(&mut seg.buf, self.pcr_pid, seg.pcr_cc, wrap_33(target_pcr));
            seg.last_pcr = Some(target_pcr);
        }
        let mut header = [0u8; MAX_HEADER_LEN];
        let header_len = pes::write_header(
            &mut header,
            stream_id,
            wrap_33(pts),
            wrap_33(dts),
            bounded.then_some(self.scratch.len()),
        );
        let cc = match au.track {
            TrackKind::Video => &mut self.cc_video,
            TrackKind::Audio => &mut self.cc_audio,
        };
        packet::write_pes(
            &mut seg.buf,
            pid,
            cc,
            flags,
            &header[..header_len],
            &self.scratch,
        );
        if pid == self.pcr_pid {
            seg.pcr_cc = *cc;
        }
    }

    fn end_part(&mut self, _seg: &mut TsSegmentBuf, _last_video_duration: Time90k) -> Vec<Bytes> {
        // Never called: SUPPORTS_PARTS is false.
        Vec::new()
    }

    fn close(&mut self, seg: TsSegmentBuf, _last_video_duration: Time90k) -> Vec<Bytes> {
        let mut data = seg.full;
        data.push(seg.buf.freeze());
        data
    }

    fn recycle(&mut self, data: Vec<Bytes>) {
        // Only buffers nobody else holds come back (`try_into_mut`).
        for buf in data {
            if self.spare.len() >= MAX_SPARE_CHUNKS {
                break;
            }
            if let Ok(buf) = buf.try_into_mut() {
                self.spare.push(buf);
            }
        }
    }
}
