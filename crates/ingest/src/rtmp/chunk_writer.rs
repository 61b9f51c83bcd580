//! The RTMP chunk stream writer (RTMP 1.0 specification §5.3): messages
//! in, chunks out at our own chunk size.
//!
//! Every message starts with a format 0 header (what the server sends is a
//! handful of small control and command messages, where header compression
//! saves nothing) and continues with format 3 headers, which repeat the
//! extended timestamp when the message has one (the rule readers follow,
//! see `chunk_reader`). Chunk size changes are written as a Set Chunk Size
//! message at the old size and apply to the chunks after it.

use bytes::{BufMut, Bytes, BytesMut};

use super::chunk_reader::{DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE};
use super::message_type;

/// Chunk stream of protocol control and user control messages (§5.4, §6.2).
pub(crate) const CONTROL_CSID: u32 = 2;
/// Chunk stream the server's command messages go on.
pub(crate) const COMMAND_CSID: u32 = 3;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    chunk_size: u32,
    out: BytesMut,
}

impl Default for ChunkWriter {
    fn default() -> Self {
        ChunkWriter {
            chunk_size: DEFAULT_CHUNK_SIZE,
            out: BytesMut::new(),
        }
    }
}

impl ChunkWriter {
    /// Writes Set Chunk Size (§5.4.1) and uses `size` (clamped to 1 ..=
    /// 2^31 − 1) from the next message on.
    pub(crate) fn set_chunk_size(&mut self, size: u32) {
        let size = size.clamp(1, MAX_CHUNK_SIZE);
        self.write(
            CONTROL_CSID,
            0,
            message_type::SET_CHUNK_SIZE,
            0,
            &size.to_be_bytes(),
        );
        self.chunk_size = size;
    }

    /// Writes one message as chunks. `csid` must be 2 ..= 65,599 (ours are
    /// constants); a payload over 2^24 − 1 bytes, which no RTMP message may
    /// have, is cut there.
    pub(crate) fn write(
        &mut self,
        csid: u32,
        message_stream_id: u32,
        type_id: u8,
        timestamp_ms: u32,
        payload: &[u8],
    ) {
        let payload = &payload[..payload.len().min(0xff_ffff)];
        let length = u32::try_from(payload.len()).unwrap_or(0xff_ffff);
        let extended = timestamp_ms >= 0xff_ffff;
        self.basic_header(0, csid);
        self.out.put_uint(u64::from(timestamp_ms.min(0xff_ffff)), 3);
        self.out.put_uint(u64::from(length), 3);
        self.out.put_u8(type_id);
        self.out.put_u32_le(message_stream_id);
        if extended {
            self.out.put_u32(timestamp_ms);
        }
        let mut chunks = payload.chunks(self.chunk_size as usize);
        if let Some(first) = chunks.next() {
            self.out.put_slice(first);
        }
        for chunk in chunks {
            self.basic_header(3, csid);
            if extended {
                self.out.put_u32(timestamp_ms);
            }
            self.out.put_slice(chunk);
        }
    }

    /// Everything written since the last call, if anything.
    pub(crate) fn take(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    fn basic_header(&mut self, format: u8, csid: u32) {
        let format = format << 6;
        match csid {
            2..=63 => self.out.put_u8(format | csid as u8),
            64..=319 => {
                self.out.put_u8(format);
                self.out.put_u8((csid - 64) as u8);
            }
            _ => {
                let id = csid.clamp(320, 65_599) - 64;
                self.out.put_u8(format | 1);
                self.out.put_u16_le(id as u16);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::chunk_reader::{ChunkLimits, ChunkReader};

    fn reader() -> ChunkReader {
        ChunkReader::new(
            ChunkLimits {
                max_message_bytes: 1 << 20,
                max_chunk_streams: 8,
            },
            0,
        )
    }

    #[test]
    fn the_reader_reads_what_the_writer_writes() {
        let mut w = ChunkWriter::default();
        let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        // At 128 bytes, then at 4096, on one-, two- and three-byte csids,
        // with plain and extended timestamps.
        w.write(COMMAND_CSID, 0, message_type::AMF0_COMMAND, 0, &big[..300]);
        w.set_chunk_size(4096);
        w.write(100, 1, message_type::VIDEO, 0x0100_0000, &big);
        w.write(1000, 1, message_type::AUDIO, 33, &big[..5]);
        w.write(4, 1, message_type::AUDIO, 34, &[]);
        let bytes = w.take().unwrap();
        assert!(w.take().is_none());
        let mut r = reader();
        r.push(&bytes);
        let mut got = Vec::new();
        while let Some(m) = r.pull().unwrap() {
            got.push((
                m.csid,
                m.message_stream_id,
                m.type_id,
                m.timestamp_ms,
                m.payload,
            ));
        }
        assert_eq!(r.chunk_size(), 4096);
        assert_eq!(
            got,
            vec![
                (3, 0, 20, 0, Bytes::copy_from_slice(&big[..300])),
                (100, 1, 9, 0x0100_0000, Bytes::from(big.clone())),
                (1000, 1, 8, 33, Bytes::copy_from_slice(&big[..5])),
                (4, 1, 8, 34, Bytes::new()),
            ]
        );
    }

    #[test]
    fn writes_the_spec_bytes() {
        let mut w = ChunkWriter::default();
        w.write(
            CONTROL_CSID,
            0,
            message_type::WINDOW_ACK_SIZE,
            0,
            &2_500_000u32.to_be_bytes(),
        );
        assert_eq!(
            &w.take().unwrap()[..],
            &[2, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0x00, 0x26, 0x25, 0xa0]
        );
        // A 200-byte message at 128: the second chunk has a one-byte
        // format 3 header; with an extended timestamp it repeats it.
        w.write(5, 1, 9, 0x0123_4567, &[7u8; 200]);
        let b = w.take().unwrap();
        assert_eq!(
            &b[..16],
            &[
                5, 0xff, 0xff, 0xff, 0, 0, 200, 9, 1, 0, 0, 0, 1, 0x23, 0x45, 0x67
            ]
        );
        assert_eq!(&b[16 + 128..16 + 128 + 5], &[0xc5, 1, 0x23, 0x45, 0x67]);
        assert_eq!(b.len(), 16 + 128 + 5 + 72);
    }
}
