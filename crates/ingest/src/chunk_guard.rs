//! A bounds check on the RTMP chunk stream, run over every byte before the
//! session parser (rml_rtmp) sees it.
//!
//! rml_rtmp trusts the peer: it buffers a message of any declared length
//! (up to 16 MiB) on any of 65,599 chunk streams, and takes any chunk size
//! it is told. A hostile client could make it hold gigabytes, or spin on a
//! chunk size of 0. The guard follows the chunk framing (RTMP 1.0 §5.3:
//! basic header, message header of type 0–3, extended timestamp, payload
//! split at the peer's chunk size) without copying payloads, and refuses:
//!
//! - a message longer than the configured maximum (`rtmp.max_message_bytes`);
//! - more chunk streams with a message in progress than the maximum;
//! - a Set Chunk Size of 0 or with the high bit set (§5.4.1: 1 to 2^31 − 1);
//! - a type 2/3 chunk header on a chunk stream that never had a type 0/1
//!   one (its length would be unknown).
//!
//! Sans-IO; bytes can arrive split anywhere.

use std::collections::HashMap;

use crate::{Error, Result};

/// The peer's chunk size until it sends Set Chunk Size (§5.4.1).
const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Protocol control message types the guard must follow.
const SET_CHUNK_SIZE: u8 = 1;
const ABORT: u8 = 2;

#[derive(Debug, Clone, Copy, Default)]
struct ChunkStream {
    /// Length and type of the current (or last) message.
    length: u32,
    type_id: u8,
    /// Bytes of the current message still to come; 0 between messages.
    remaining: u32,
    /// The last type 0/1/2 header had an extended timestamp (then type 3
    /// headers carry one too).
    extended_timestamp: bool,
}

#[derive(Debug)]
enum Step {
    /// Collecting a chunk header (basic + message header + extended
    /// timestamp) in `header`.
    Header,
    /// Skipping `left` payload bytes of chunk stream `csid`.
    Payload { csid: u32, left: u32 },
}

/// See the module documentation.
#[derive(Debug)]
pub struct ChunkGuard {
    max_message: u32,
    max_streams: usize,
    chunk_size: u32,
    streams: HashMap<u32, ChunkStream>,
    step: Step,
    header: Vec<u8>,
    /// Payload of a protocol control message being followed (Set Chunk
    /// Size, Abort: 4 bytes).
    control: Vec<u8>,
}

impl ChunkGuard {
    pub fn new(max_message: u32, max_streams: usize) -> Self {
        ChunkGuard {
            max_message,
            max_streams,
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
            step: Step::Header,
            header: Vec::with_capacity(18),
            control: Vec::with_capacity(4),
        }
    }

    /// Follows `input`; an error names the violation (the connection must
    /// then be closed).
    pub fn push(&mut self, mut input: &[u8]) -> Result<()> {
        while !input.is_empty() {
            match self.step {
                Step::Header => {
                    self.header.push(input[0]);
                    input = &input[1..];
                    if let Some(header_len) = self.header_complete()? {
                        debug_assert_eq!(header_len, self.header.len());
                        self.start_chunk()?;
                    }
                }
                Step::Payload { csid, left } => {
                    let n = (left as usize).min(input.len());
                    let stream = self.streams.get(&csid).copied().unwrap_or_default();
                    if matches!(stream.type_id, SET_CHUNK_SIZE | ABORT) && self.control.len() < 4 {
                        let take = n.min(4 - self.control.len());
                        self.control.extend_from_slice(&input[..take]);
                    }
                    input = &input[n..];
                    let left = left - n as u32;
                    if left > 0 {
                        self.step = Step::Payload { csid, left };
                        continue;
                    }
                    self.step = Step::Header;
                    self.header.clear();
                    let stream = self.streams.get(&csid).copied().unwrap_or_default();
                    if stream.remaining == 0 {
                        self.message_done(stream.type_id)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The whole header's length once `header` holds it, else `None`.
    fn header_complete(&self) -> Result<Option<usize>> {
        let h = &self.header;
        let basic = match h[0] & 0x3f {
            0 => 2,
            1 => 3,
            _ => 1,
        };
        if h.len() < basic {
            return Ok(None);
        }
        let fmt = h[0] >> 6;
        let message = [11, 7, 3, 0][fmt as usize];
        if h.len() < basic + message {
            return Ok(None);
        }
        let extended = if fmt < 3 {
            let ts = &h[basic..basic + 3];
            ts == [0xff, 0xff, 0xff]
        } else {
            let csid = Self::csid(h);
            self.streams
                .get(&csid)
                .is_some_and(|s| s.extended_timestamp)
        };
        let total = basic + message + if extended { 4 } else { 0 };
        Ok((h.len() >= total).then_some(total))
    }

    fn csid(h: &[u8]) -> u32 {
        match h[0] & 0x3f {
            0 => 64 + u32::from(h[1]),
            1 => 64 + u32::from(h[1]) + 256 * u32::from(h[2]),
            id => u32::from(id),
        }
    }

    /// A complete chunk header is in `header`: update the chunk stream and
    /// move on to its payload.
    fn start_chunk(&mut self) -> Result<()> {
        let h = &self.header;
        let csid = Self::csid(h);
        let basic = match h[0] & 0x3f {
            0 => 2,
            1 => 3,
            _ => 1,
        };
        let fmt = h[0] >> 6;
        let known = self.streams.contains_key(&csid);
        if !known && self.streams.len() >= self.max_streams {
            return Err(Error::Protocol(format!(
                "more than {} RTMP chunk streams",
                self.max_streams
            )));
        }
        let mut stream = self.streams.get(&csid).copied().unwrap_or_default();
        let mut new_message = false;
        if fmt < 3 {
            stream.extended_timestamp = h[basic..basic + 3] == [0xff, 0xff, 0xff];
        }
        match fmt {
            0 | 1 => {
                let length = u32::from_be_bytes([0, h[basic + 3], h[basic + 4], h[basic + 5]]);
                if stream.remaining > 0 {
                    return Err(Error::Protocol(format!(
                        "new message header on chunk stream {csid} with {} bytes of the last one missing",
                        stream.remaining
                    )));
                }
                if length > self.max_message {
                    return Err(Error::Protocol(format!(
                        "RTMP message of {length} bytes is larger than the maximum of {} (rtmp.max_message_bytes)",
                        self.max_message
                    )));
                }
                stream.length = length;
                stream.type_id = h[basic + 6];
                stream.remaining = length;
                new_message = true;
            }
            _ => {
                if !known {
                    return Err(Error::Protocol(format!(
                        "chunk header type {fmt} on chunk stream {csid}, which has no message yet"
                    )));
                }
                if stream.remaining == 0 {
                    // The next message, with the last one's length and type.
                    stream.remaining = stream.length;
                    new_message = true;
                }
            }
        }
        let chunk = stream.remaining.min(self.chunk_size);
        stream.remaining -= chunk;
        self.streams.insert(csid, stream);
        if new_message {
            self.control.clear();
        }
        if chunk == 0 {
            // An empty message: nothing follows its header.
            self.header.clear();
            self.message_done(stream.type_id)?;
        } else {
            self.step = Step::Payload { csid, left: chunk };
        }
        // Streams between messages are forgotten once many exist, so the
        // map stays bounded by the streams with a message in progress.
        if self.streams.len() > self.max_streams / 2 {
            self.streams
                .retain(|&id, s| s.remaining > 0 || id == csid || id == 2);
        }
        Ok(())
    }

    /// A whole message of `type_id` was followed.
    fn message_done(&mut self, type_id: u8) -> Result<()> {
        match type_id {
            SET_CHUNK_SIZE if self.control.len() == 4 => {
                let size = u32::from_be_bytes([
                    self.control[0],
                    self.control[1],
                    self.control[2],
                    self.control[3],
                ]);
                if size == 0 || size > 0x7fff_ffff {
                    return Err(Error::Protocol(format!(
                        "Set Chunk Size {size} is out of range (1 to 2^31 - 1)"
                    )));
                }
                self.chunk_size = size;
            }
            SET_CHUNK_SIZE => {
                return Err(Error::Protocol(
                    "Set Chunk Size message shorter than 4 bytes".into(),
                ));
            }
            ABORT if self.control.len() == 4 => {
                let csid = u32::from_be_bytes([
                    self.control[0],
                    self.control[1],
                    self.control[2],
                    self.control[3],
                ]);
                if let Some(s) = self.streams.get_mut(&csid) {
                    s.remaining = 0;
                }
            }
            _ => {}
        }
        self.control.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A type 0 chunk header on `csid` (< 64) for a message of `len` bytes.
    fn type0(csid: u8, len: u32, type_id: u8) -> Vec<u8> {
        let l = len.to_be_bytes();
        vec![csid & 0x3f, 0, 0, 0, l[1], l[2], l[3], type_id, 1, 0, 0, 0]
    }

    fn guard() -> ChunkGuard {
        ChunkGuard::new(1 << 20, 16)
    }

    #[test]
    fn follows_messages_split_into_chunks_anywhere() {
        // A 300-byte video message at the default chunk size: 128 + 128 +
        // 44, continued with type 3 headers; then Set Chunk Size 4096 and a
        // 5000-byte message in two chunks.
        let mut bytes = type0(6, 300, 9);
        bytes.extend(vec![0u8; 128]);
        bytes.push(0xc6);
        bytes.extend(vec![0u8; 128]);
        bytes.push(0xc6);
        bytes.extend(vec![0u8; 44]);
        bytes.extend(type0(2, 4, SET_CHUNK_SIZE));
        bytes.extend(4096u32.to_be_bytes());
        bytes.extend(type0(6, 5000, 9));
        bytes.extend(vec![0u8; 4096]);
        bytes.push(0xc6);
        bytes.extend(vec![0u8; 904]);
        for split in [1, 7, 100, bytes.len()] {
            let mut g = guard();
            for piece in bytes.chunks(split) {
                g.push(piece).unwrap();
            }
            assert_eq!(g.chunk_size, 4096);
            assert!(matches!(g.step, Step::Header), "split {split}");
        }
    }

    #[test]
    fn refuses_chunk_sizes_out_of_range() {
        for size in [0u32, 0x8000_0000, u32::MAX] {
            let mut bytes = type0(2, 4, SET_CHUNK_SIZE);
            bytes.extend(size.to_be_bytes());
            let err = guard().push(&bytes).unwrap_err().to_string();
            assert!(err.contains("Set Chunk Size"), "{size}: {err}");
        }
        let mut bytes = type0(2, 4, SET_CHUNK_SIZE);
        bytes.extend(0x7fff_ffffu32.to_be_bytes());
        guard().push(&bytes).unwrap();
    }

    #[test]
    fn refuses_messages_over_the_maximum() {
        let err = guard()
            .push(&type0(6, (1 << 20) + 1, 9))
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than the maximum"), "{err}");
        guard().push(&type0(6, 1 << 20, 9)).unwrap();
    }

    #[test]
    fn refuses_too_many_chunk_streams_and_headerless_streams() {
        let mut g = guard();
        // 16 streams each with a message in progress (first chunk only).
        let mut err = None;
        for csid in 3..40u8 {
            let mut bytes = type0(csid, 1000, 9);
            bytes.extend(vec![0u8; 128]);
            if let Err(e) = g.push(&bytes) {
                err = Some(e.to_string());
                break;
            }
        }
        assert!(err.unwrap().contains("chunk streams"));
        let err = guard().push(&[0xc7]).unwrap_err().to_string();
        assert!(err.contains("no message yet"), "{err}");
    }

    #[test]
    fn extended_timestamps_are_followed() {
        // Type 0 with timestamp 0xffffff: 4 more header bytes; the type 3
        // continuation carries them too.
        let mut bytes = vec![6, 0xff, 0xff, 0xff, 0, 0, 200, 9, 1, 0, 0, 0];
        bytes.extend([0, 0, 1, 0]);
        bytes.extend(vec![0u8; 128]);
        bytes.extend([0xc6, 0, 0, 1, 0]);
        bytes.extend(vec![0u8; 72]);
        let mut g = guard();
        g.push(&bytes).unwrap();
        assert!(matches!(g.step, Step::Header));
    }
}
