//! The RTMP chunk stream reader (RTMP 1.0 specification §5.3): bytes in,
//! split anywhere; whole messages out.
//!
//! A chunk is a basic header (format and chunk stream id, 1–3 bytes), a
//! message header of 11, 7, 3 or 0 bytes depending on the format, an
//! extended timestamp (4 bytes) when the 24-bit timestamp field reads
//! 0xFFFFFF, and up to the peer's chunk size of payload. Headers of format
//! 1–3 leave out what is unchanged since the chunk stream's last header:
//!
//! | format | carries | timestamp |
//! | --- | --- | --- |
//! | 0 | timestamp, length, type, message stream | absolute |
//! | 1 | delta, length, type | last + delta |
//! | 2 | delta | last + delta |
//! | 3 | nothing | continuation: unchanged; new message: last + last delta |
//!
//! After a format 0 header the "last delta" is that header's timestamp
//! (§5.3.1.2.4). A format 3 chunk carries an extended timestamp too when
//! the chunk stream's last format 0–2 header had one: the rule that FMS,
//! librtmp, FFmpeg and GStreamer follow, stated in the errata of the
//! specification. Timestamps are 32-bit and wrap (§5.3.1.3).
//!
//! The reader follows Set Chunk Size (§5.4.1: 1 to 2^31 − 1; 0 or the high
//! bit set is refused) and Abort (§5.4.2) itself; they are not returned.
//! It refuses, with the byte offset in the connection's input:
//!
//! - a message longer than `max_message_bytes` (`rtmp.max_message_bytes`),
//!   as soon as its header arrives;
//! - more chunk streams with a message in progress than `max_chunk_streams`
//!   (idle chunk streams beyond it are forgotten, oldest first), and more
//!   bytes held in unfinished messages than two maximum-size messages;
//! - a format 1–3 header on a chunk stream that never had a format 0 one,
//!   and a format 0–2 header on a chunk stream whose message is unfinished.
//!
//! Memory follows what arrived, never what a header declares. Received
//! bytes are copied once, into a buffer the size of the read; a message
//! that fits one chunk is split out of it without another copy, longer
//! ones are assembled.

use bytes::{Buf, BytesMut};

use super::{Message, message_type};

/// The chunk size until the peer sends Set Chunk Size (§5.4.1).
pub(crate) const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size a peer may set (§5.4.1: 31 bits).
pub(crate) const MAX_CHUNK_SIZE: u32 = 0x7fff_ffff;
/// The 24-bit timestamp field value that announces an extended timestamp.
const EXTENDED: u32 = 0xff_ffff;

/// Bounds on what a peer may make the reader hold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkLimits {
    /// Longest message, in bytes.
    pub max_message_bytes: u32,
    /// Chunk streams with state at once (each with at most one message in
    /// progress).
    pub max_chunk_streams: usize,
}

/// Why the chunk stream cannot be read further: what was wrong and where
/// it starts in the connection's input. The connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// Byte offset in the connection's input (handshake included).
    pub offset: u64,
    pub context: String,
}

/// The last header seen on one chunk stream, and its unfinished message.
#[derive(Debug)]
struct ChunkStream {
    csid: u32,
    /// Timestamp of the current (or last) message, in milliseconds.
    timestamp_ms: u32,
    /// Delta applied to a new message started by a format 3 header.
    delta_ms: u32,
    length: u32,
    type_id: u8,
    message_stream_id: u32,
    /// The last format 0–2 header had an extended timestamp, so format 3
    /// headers carry one too.
    extended: bool,
    /// The unfinished message, if any.
    partial: Option<Partial>,
    /// When this chunk stream was last used (a count of chunks), to forget
    /// the idle one used longest ago.
    last_used: u64,
}

#[derive(Debug)]
struct Partial {
    payload: BytesMut,
    /// Offset of the message's first chunk in the connection's input.
    offset: u64,
}

impl Partial {
    fn remaining(&self, length: u32) -> u32 {
        let received = u32::try_from(self.payload.len()).unwrap_or(u32::MAX);
        length.saturating_sub(received)
    }
}

/// A parsed chunk header, not yet applied to the reader's state.
struct Header {
    csid: u32,
    /// Bytes of basic header, message header and extended timestamp.
    len: usize,
    /// Index of the chunk stream's state, if it has one.
    index: Option<usize>,
    /// What the chunk stream's state becomes.
    timestamp_ms: u32,
    delta_ms: u32,
    length: u32,
    type_id: u8,
    message_stream_id: u32,
    extended: bool,
    /// The chunk starts a message (rather than continuing one).
    starts_message: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct ChunkReader {
    limits: ChunkLimits,
    chunk_size: u32,
    /// Bytes received and not yet consumed.
    buffer: BytesMut,
    /// Offset of `buffer[0]` in the connection's input.
    offset: u64,
    streams: Vec<ChunkStream>,
    /// Bytes held by unfinished messages across chunk streams.
    held: usize,
    chunks: u64,
}

impl ChunkReader {
    /// A reader of a chunk stream that starts at byte `offset` of the
    /// connection's input (after the handshake).
    pub(crate) fn new(limits: ChunkLimits, offset: u64) -> Self {
        ChunkReader {
            limits,
            chunk_size: DEFAULT_CHUNK_SIZE,
            buffer: BytesMut::new(),
            offset,
            streams: Vec::new(),
            held: 0,
            chunks: 0,
        }
    }

    /// The peer's chunk size now.
    #[cfg(test)]
    pub(crate) fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Bytes received that are not part of a returned message yet.
    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len().saturating_add(self.held)
    }

    /// Appends received bytes; call [`ChunkReader::pull`] until it returns
    /// `Ok(None)` after each.
    pub(crate) fn push(&mut self, input: &[u8]) {
        if self.buffer.is_empty() {
            // A buffer the size of the read: payloads split out of it keep
            // it alive downstream, so it holds no more than they need
            // (BytesMut would otherwise grow its next buffer to the size of
            // its largest).
            self.buffer = BytesMut::with_capacity(input.len());
        }
        self.buffer.extend_from_slice(input);
    }

    /// The next whole message, or `Ok(None)` when more bytes are needed. An
    /// error is final: the connection must be closed.
    pub(crate) fn pull(&mut self) -> Result<Option<Message>, Invalid> {
        loop {
            let Some(header) = self.header()? else {
                return Ok(None);
            };
            let remaining = match header.index.and_then(|i| self.streams[i].partial.as_ref()) {
                Some(partial) if !header.starts_message => partial.remaining(header.length),
                _ => header.length,
            };
            let chunk_len = remaining.min(self.chunk_size) as usize;
            let Some(total) = header.len.checked_add(chunk_len) else {
                return Err(self.invalid(0, "chunk length overflows".into()));
            };
            if self.buffer.len() < total {
                return Ok(None);
            }
            if let Some(message) = self.consume(header, chunk_len)? {
                match message.type_id {
                    message_type::SET_CHUNK_SIZE => self.set_chunk_size(&message)?,
                    message_type::ABORT => self.abort(&message)?,
                    _ => return Ok(Some(message)),
                }
            }
        }
    }

    fn invalid(&self, at: usize, context: String) -> Invalid {
        Invalid {
            offset: self.offset.saturating_add(at as u64),
            context,
        }
    }

    /// Parses the chunk header at the start of the buffer without
    /// consuming it; `None` if it is incomplete. Checks what can be checked
    /// from the header alone, so that a refused message is refused before
    /// its payload arrives.
    fn header(&self) -> Result<Option<Header>, Invalid> {
        let b = &self.buffer[..];
        let Some(&first) = b.first() else {
            return Ok(None);
        };
        let format = first >> 6;
        let (csid, basic_len) = match first & 0x3f {
            // Two- and three-byte forms count from 64 (§5.3.1.1).
            0 => match b.get(1) {
                Some(&id) => (u32::from(id).saturating_add(64), 2),
                None => return Ok(None),
            },
            1 => match (b.get(1), b.get(2)) {
                (Some(&lo), Some(&hi)) => {
                    (u32::from_le_bytes([lo, hi, 0, 0]).saturating_add(64), 3)
                }
                _ => return Ok(None),
            },
            id => (u32::from(id), 1),
        };
        let message_len = [11, 7, 3, 0][usize::from(format)];
        let Some(h) = b.get(basic_len..basic_len + message_len) else {
            return Ok(None);
        };
        let index = self.streams.iter().position(|s| s.csid == csid);
        let previous = index.map(|i| &self.streams[i]);
        let unfinished = previous.and_then(|p| p.partial.as_ref().map(|m| m.remaining(p.length)));
        if let (true, Some(missing)) = (format < 3, unfinished) {
            return Err(self.invalid(
                0,
                format!(
                    "new message header (type {format}) on chunk stream {csid} with {missing} bytes of the last message missing"
                ),
            ));
        }
        let be24 = |i: usize| u32::from_be_bytes([0, h[i], h[i + 1], h[i + 2]]);
        let extended = match format {
            3 => previous.is_some_and(|p| p.extended),
            _ => be24(0) == EXTENDED,
        };
        let mut len = basic_len + message_len;
        // The timestamp or delta this header states, if any.
        let mut field = (format < 3).then(|| be24(0));
        if extended {
            let Some(e) = b.get(len..len + 4) else {
                return Ok(None);
            };
            len += 4;
            field = Some(u32::from_be_bytes([e[0], e[1], e[2], e[3]]));
        }
        let header = match (format, previous) {
            (0, _) => {
                let timestamp_ms = field.unwrap_or(0);
                Header {
                    csid,
                    len,
                    index,
                    timestamp_ms,
                    // A format 3 header after this one repeats its
                    // timestamp as the delta (§5.3.1.2.4).
                    delta_ms: timestamp_ms,
                    length: be24(3),
                    type_id: h[6],
                    message_stream_id: u32::from_le_bytes([h[7], h[8], h[9], h[10]]),
                    extended,
                    starts_message: true,
                }
            }
            (_, Some(p)) => {
                let starts_message = unfinished.is_none();
                // A format 3 header that starts a message repeats the last
                // delta; its extended timestamp, when present, restates it.
                let (timestamp_ms, delta_ms) = if starts_message {
                    let delta = field.unwrap_or(p.delta_ms);
                    (p.timestamp_ms.wrapping_add(delta), delta)
                } else {
                    (p.timestamp_ms, p.delta_ms)
                };
                let (length, type_id) = match format {
                    1 => (be24(3), h[6]),
                    _ => (p.length, p.type_id),
                };
                Header {
                    csid,
                    len,
                    index,
                    timestamp_ms,
                    delta_ms,
                    length,
                    type_id,
                    message_stream_id: p.message_stream_id,
                    extended,
                    starts_message,
                }
            }
            (_, None) => {
                return Err(self.invalid(
                    0,
                    format!(
                        "chunk header type {format} on chunk stream {csid}, which has no message yet"
                    ),
                ));
            }
        };
        if header.starts_message && header.length > self.limits.max_message_bytes {
            return Err(self.invalid(
                0,
                format!(
                    "RTMP message of {} bytes is larger than the maximum of {} (rtmp.max_message_bytes)",
                    header.length, self.limits.max_message_bytes
                ),
            ));
        }
        Ok(Some(header))
    }

    /// Applies a complete chunk (`header`, then `chunk_len` bytes of
    /// payload, all in the buffer) to the chunk stream's state; returns
    /// the message it completes, if any.
    fn consume(&mut self, header: Header, chunk_len: usize) -> Result<Option<Message>, Invalid> {
        let index = match header.index {
            Some(i) => i,
            None => self.new_stream(header.csid)?,
        };
        self.chunks = self.chunks.saturating_add(1);
        let chunk_offset = self.offset;
        self.buffer.advance(header.len);
        self.offset = self.offset.saturating_add(header.len as u64);
        let payload = self.buffer.split_to(chunk_len);
        self.offset = self.offset.saturating_add(chunk_len as u64);

        let stream = &mut self.streams[index];
        stream.timestamp_ms = header.timestamp_ms;
        stream.delta_ms = header.delta_ms;
        stream.length = header.length;
        stream.type_id = header.type_id;
        stream.message_stream_id = header.message_stream_id;
        stream.extended = header.extended;
        stream.last_used = self.chunks;

        let mut partial = match stream.partial.take() {
            Some(partial) => {
                self.held = self.held.saturating_sub(partial.payload.len());
                partial
            }
            None if chunk_len == header.length as usize => {
                // The whole message in one chunk: no copy.
                return Ok(Some(Message {
                    csid: header.csid,
                    message_stream_id: header.message_stream_id,
                    type_id: header.type_id,
                    timestamp_ms: header.timestamp_ms,
                    payload: payload.freeze(),
                    offset: chunk_offset,
                }));
            }
            None => Partial {
                // Grows with what arrives, not with the declared length.
                payload: BytesMut::with_capacity(chunk_len.saturating_mul(2)),
                offset: chunk_offset,
            },
        };
        partial.payload.extend_from_slice(&payload);
        if partial.payload.len() >= header.length as usize {
            return Ok(Some(Message {
                csid: header.csid,
                message_stream_id: header.message_stream_id,
                type_id: header.type_id,
                timestamp_ms: header.timestamp_ms,
                payload: partial.payload.freeze(),
                offset: partial.offset,
            }));
        }
        let held = self.held.saturating_add(partial.payload.len());
        let max_held = (self.limits.max_message_bytes as usize).saturating_mul(2);
        if held > max_held {
            return Err(Invalid {
                offset: chunk_offset,
                context: format!(
                    "unfinished RTMP messages hold more than {max_held} bytes (twice rtmp.max_message_bytes)"
                ),
            });
        }
        self.held = held;
        self.streams[index].partial = Some(partial);
        Ok(None)
    }

    /// Makes room for chunk stream `csid`'s state; returns its index.
    fn new_stream(&mut self, csid: u32) -> Result<usize, Invalid> {
        if self.streams.len() >= self.limits.max_chunk_streams {
            let idle = self
                .streams
                .iter()
                .enumerate()
                .filter(|(_, s)| s.partial.is_none())
                .min_by_key(|(_, s)| s.last_used)
                .map(|(i, _)| i);
            match idle {
                Some(i) => {
                    self.streams.swap_remove(i);
                }
                None => {
                    return Err(self.invalid(
                        0,
                        format!(
                            "more than {} RTMP chunk streams with a message in progress",
                            self.limits.max_chunk_streams
                        ),
                    ));
                }
            }
        }
        self.streams.push(ChunkStream {
            csid,
            timestamp_ms: 0,
            delta_ms: 0,
            length: 0,
            type_id: 0,
            message_stream_id: 0,
            extended: false,
            partial: None,
            last_used: 0,
        });
        Ok(self.streams.len() - 1)
    }

    /// Set Chunk Size (§5.4.1): applies to the chunks after it.
    fn set_chunk_size(&mut self, message: &Message) -> Result<(), Invalid> {
        let Some(size) = be32(&message.payload) else {
            return Err(Invalid {
                offset: message.offset,
                context: format!(
                    "Set Chunk Size message of {} bytes (4 expected)",
                    message.payload.len()
                ),
            });
        };
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(Invalid {
                offset: message.offset,
                context: format!("Set Chunk Size {size} is out of range (1 to 2^31 - 1)"),
            });
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Abort (§5.4.2): drops the unfinished message of a chunk stream.
    fn abort(&mut self, message: &Message) -> Result<(), Invalid> {
        let Some(csid) = be32(&message.payload) else {
            return Err(Invalid {
                offset: message.offset,
                context: format!(
                    "Abort message of {} bytes (4 expected)",
                    message.payload.len()
                ),
            });
        };
        if let Some(stream) = self.streams.iter_mut().find(|s| s.csid == csid)
            && let Some(partial) = stream.partial.take()
        {
            self.held = self.held.saturating_sub(partial.payload.len());
        }
        Ok(())
    }
}

/// The first four bytes as a big-endian number (protocol control messages
/// may carry more; only the first four count).
fn be32(payload: &[u8]) -> Option<u32> {
    let b = payload.get(..4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(format: u8, csid: u32) -> Vec<u8> {
        let f = format << 6;
        match csid {
            0..=63 => vec![f | csid as u8],
            64..=319 => vec![f, (csid - 64) as u8],
            _ => vec![f | 1, ((csid - 64) & 0xff) as u8, ((csid - 64) >> 8) as u8],
        }
    }

    /// The 3-byte timestamp field and, when it overflows, the extended one.
    fn timestamp(ts: u32) -> (Vec<u8>, Vec<u8>) {
        if ts >= EXTENDED {
            (vec![0xff; 3], ts.to_be_bytes().to_vec())
        } else {
            (ts.to_be_bytes()[1..].to_vec(), Vec::new())
        }
    }

    fn type0(csid: u32, ts: u32, len: u32, type_id: u8, msid: u32) -> Vec<u8> {
        let (field, ext) = timestamp(ts);
        let mut b = basic(0, csid);
        b.extend(field);
        b.extend(&len.to_be_bytes()[1..]);
        b.push(type_id);
        b.extend(msid.to_le_bytes());
        b.extend(ext);
        b
    }

    fn type1(csid: u32, delta: u32, len: u32, type_id: u8) -> Vec<u8> {
        let (field, ext) = timestamp(delta);
        let mut b = basic(1, csid);
        b.extend(field);
        b.extend(&len.to_be_bytes()[1..]);
        b.push(type_id);
        b.extend(ext);
        b
    }

    fn type2(csid: u32, delta: u32) -> Vec<u8> {
        let (field, ext) = timestamp(delta);
        let mut b = basic(2, csid);
        b.extend(field);
        b.extend(ext);
        b
    }

    fn type3(csid: u32) -> Vec<u8> {
        basic(3, csid)
    }

    fn payload(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    fn set_chunk_size(size: u32) -> Vec<u8> {
        let mut b = type0(2, 0, 4, message_type::SET_CHUNK_SIZE, 0);
        b.extend(size.to_be_bytes());
        b
    }

    fn limits() -> ChunkLimits {
        ChunkLimits {
            max_message_bytes: 1 << 20,
            max_chunk_streams: 8,
        }
    }

    type Got = Vec<(u32, u32, u8, u32, Vec<u8>)>;

    /// Reads `pieces` in order: the messages, and the error if any.
    fn read(pieces: &[&[u8]], limits: ChunkLimits) -> (Got, Option<Invalid>) {
        let mut r = ChunkReader::new(limits, 0);
        let mut got = Vec::new();
        for piece in pieces {
            r.push(piece);
            loop {
                match r.pull() {
                    Ok(Some(m)) => got.push((
                        m.csid,
                        m.message_stream_id,
                        m.type_id,
                        m.timestamp_ms,
                        m.payload.to_vec(),
                    )),
                    Ok(None) => break,
                    Err(e) => return (got, Some(e)),
                }
            }
        }
        (got, None)
    }

    fn read_all(bytes: &[u8]) -> Got {
        let (got, err) = read(&[bytes], limits());
        assert_eq!(err, None);
        got
    }

    /// The spec's examples (§5.3.2.1, §5.3.2.2), interleaved, with a chunk
    /// size change in the middle of a message, extended timestamps on
    /// formats 0, 1, 2 and 3, chunk stream ids of one, two and three
    /// bytes, an Abort and an empty message.
    fn everything() -> (Vec<u8>, Got) {
        let mut b = Vec::new();
        let mut want: Got = Vec::new();
        // §5.3.2.1: four 32-byte audio messages 20 ms apart on csid 3.
        let audio = payload(32, 1);
        b.extend(type0(3, 1000, 32, 8, 12_345));
        b.extend(&audio);
        // §5.3.2.2 starts: a 307-byte video message at chunk size 128,
        // interleaved with the audio.
        let video = payload(307, 2);
        b.extend(type0(4, 1000, 307, 9, 12_346));
        b.extend(&video[..128]);
        b.extend(type2(3, 20));
        b.extend(&audio);
        b.extend(type3(4));
        b.extend(&video[128..256]);
        b.extend(type3(3));
        b.extend(&audio);
        // The chunk size changes while the video message is unfinished.
        b.extend(set_chunk_size(4096));
        b.extend(type3(4));
        b.extend(&video[256..]);
        b.extend(type3(3));
        b.extend(&audio);
        for ts in [1000, 1020, 1040] {
            want.push((3, 12_345, 8, ts, audio.clone()));
            if ts == 1040 {
                want.push((4, 12_346, 9, 1000, video.clone()));
            }
        }
        want.push((3, 12_345, 8, 1060, audio.clone()));
        // A new message by format 3 after format 0 repeats the type 0
        // timestamp as its delta (§5.3.1.2.4).
        b.extend(type3(4));
        b.extend(&video);
        want.push((4, 12_346, 9, 2000, video.clone()));
        // Extended timestamps: format 0, then a format 3 continuation that
        // repeats it, at chunk size 4096 a 5000-byte message.
        let big = payload(5000, 3);
        b.extend(type0(70, 0x0100_0000, 5000, 9, 1));
        b.extend(&big[..4096]);
        b.extend(type3(70));
        b.extend(0x0100_0000u32.to_be_bytes());
        b.extend(&big[4096..]);
        want.push((70, 1, 9, 0x0100_0000, big.clone()));
        // Format 1 and 2 with extended deltas, format 3 repeating one.
        b.extend(type1(70, 0x0100_0000, 3, 8));
        b.extend([1, 2, 3]);
        want.push((70, 1, 8, 0x0200_0000, vec![1, 2, 3]));
        b.extend(type2(70, EXTENDED));
        b.extend([4, 5, 6]);
        want.push((70, 1, 8, 0x0200_0000 + EXTENDED, vec![4, 5, 6]));
        b.extend(type3(70));
        b.extend(EXTENDED.to_be_bytes());
        b.extend([7, 8, 9]);
        want.push((70, 1, 8, 0x0200_0000 + 2 * EXTENDED, vec![7, 8, 9]));
        // Timestamps wrap at 2^32.
        b.extend(type0(5, u32::MAX - 5, 1, 18, 1));
        b.push(0);
        b.extend(type2(5, 10));
        b.push(1);
        want.push((5, 1, 18, u32::MAX - 5, vec![0]));
        want.push((5, 1, 18, 4, vec![1]));
        // An aborted message on a three-byte csid, then a whole one there.
        b.extend(type0(1000, 7, 5000, 9, 1));
        b.extend(&big[..4096]);
        b.extend(type0(2, 0, 4, message_type::ABORT, 0));
        b.extend(1000u32.to_be_bytes());
        b.extend(type0(1000, 8, 2, 9, 1));
        b.extend([0xaa, 0xbb]);
        want.push((1000, 1, 9, 8, vec![0xaa, 0xbb]));
        // An empty message.
        b.extend(type0(3, 9, 0, 20, 0));
        want.push((3, 0, 20, 9, Vec::new()));
        (b, want)
    }

    #[test]
    fn reads_the_spec_examples_and_every_header_form() {
        let (bytes, want) = everything();
        assert_eq!(read_all(&bytes), want);
    }

    #[test]
    fn chunks_split_at_every_byte_position_read_the_same() {
        let (bytes, want) = everything();
        for at in 0..=bytes.len() {
            let (got, err) = read(&[&bytes[..at], &bytes[at..]], limits());
            assert_eq!(err, None, "split at {at}");
            assert_eq!(got, want, "split at {at}");
        }
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(read(&bytewise, limits()), (want, None));
    }

    #[test]
    fn single_chunk_messages_are_not_copied() {
        // Two messages pushed at once come out as slices of one buffer.
        let mut b = type0(3, 0, 4, 20, 0);
        b.extend([1, 2, 3, 4]);
        b.extend(type0(3, 0, 4, 20, 0));
        b.extend([5, 6, 7, 8]);
        let mut r = ChunkReader::new(limits(), 0);
        r.push(&b);
        let first = r.pull().unwrap().unwrap().payload;
        let second = r.pull().unwrap().unwrap().payload;
        let gap = second.as_ptr() as usize - first.as_ptr() as usize;
        assert_eq!(gap, 4 + 12, "the second payload follows in the same buffer");
    }

    #[test]
    fn refusals_say_what_and_where() {
        let pre = {
            let mut b = type0(3, 0, 2, 20, 0);
            b.extend([0, 0]);
            b
        };
        let at = pre.len() as u64;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (set_chunk_size(0), "Set Chunk Size 0 is out of range"),
            (
                set_chunk_size(0x8000_0000),
                "Set Chunk Size 2147483648 is out of range",
            ),
            (
                [type0(2, 0, 2, 1, 0), vec![0, 1]].concat(),
                "Set Chunk Size message of 2 bytes",
            ),
            (
                [type0(2, 0, 2, 2, 0), vec![0, 1]].concat(),
                "Abort message of 2 bytes",
            ),
            (
                type0(6, 0, (1 << 20) + 1, 9, 1),
                "RTMP message of 1048577 bytes is larger than the maximum of 1048576",
            ),
            (
                type1(7, 0, 1, 8),
                "chunk header type 1 on chunk stream 7, which has no message yet",
            ),
            (type2(7, 0), "chunk header type 2 on chunk stream 7"),
            (type3(300), "chunk header type 3 on chunk stream 300"),
            (
                [
                    type0(6, 0, 200, 9, 1),
                    payload(128, 0),
                    type0(6, 0, 1, 9, 1),
                ]
                .concat(),
                "new message header (type 0) on chunk stream 6 with 72 bytes of the last message missing",
            ),
        ];
        for (bytes, context) in cases {
            let input = [pre.clone(), bytes].concat();
            let (got, err) = read(&[&input], limits());
            let err = err.unwrap_or_else(|| panic!("{context}: accepted"));
            assert_eq!(got.len(), 1, "{context}");
            assert!(err.context.contains(context), "{context}: {}", err.context);
            let offset = if context.contains("missing") {
                at + 12 + 128
            } else {
                at
            };
            assert_eq!(err.offset, offset, "{context}");
        }
        // The largest chunk size is fine; so is the largest message.
        read_all(&set_chunk_size(MAX_CHUNK_SIZE));
        let (_, err) = read(&[&type0(6, 0, 1 << 20, 9, 1)], limits());
        assert_eq!(err, None);
    }

    #[test]
    fn an_oversized_message_is_refused_before_its_payload() {
        // Only the header arrives: refused at once, nothing allocated.
        let header = type0(6, 0, 0xff_ffff, 9, 0);
        let mut r = ChunkReader::new(limits(), 3073);
        r.push(&header);
        let err = r.pull().unwrap_err();
        assert_eq!(err.offset, 3073);
        assert!(err.context.contains("larger than the maximum"));
    }

    #[test]
    fn chunk_streams_are_bounded() {
        // Eight unfinished messages fill the table; a ninth is refused.
        let mut b = Vec::new();
        for csid in 3..11 {
            b.extend(type0(csid, 0, 200, 9, 1));
            b.extend(payload(128, 0));
        }
        let ninth = b.len() as u64;
        b.extend(type0(11, 0, 1, 9, 1));
        b.push(0);
        let (_, err) = read(&[&b], limits());
        let err = err.unwrap();
        assert_eq!(err.offset, ninth);
        assert!(
            err.context
                .contains("more than 8 RTMP chunk streams with a message in progress")
        );

        // Finished ones are forgotten, least recently used first.
        let mut b = Vec::new();
        for csid in 3..20 {
            b.extend(type0(csid, 0, 1, 9, 1));
            b.push(0);
        }
        b.extend(type3(19));
        b.push(1);
        assert_eq!(read_all(&b).len(), 18);
        b.extend(type3(3));
        b.push(2);
        let (_, err) = read(&[&b], limits());
        assert!(
            err.unwrap()
                .context
                .contains("chunk stream 3, which has no message yet")
        );
    }

    #[test]
    fn unfinished_messages_are_bounded_in_bytes() {
        // Three unfinished messages of the maximum size each: more than
        // two maximum messages held is refused.
        let limits = ChunkLimits {
            max_message_bytes: 4096,
            max_chunk_streams: 8,
        };
        let mut b = set_chunk_size(4000);
        for csid in 3..6 {
            b.extend(type0(csid, 0, 4096, 9, 1));
            b.extend(payload(4000, 0));
        }
        let (_, err) = read(&[&b], limits);
        assert!(err.unwrap().context.contains("hold more than 8192 bytes"));
        // Memory follows what arrived: a declared 1 MiB message with 128
        // bytes received holds 128 bytes (and some capacity).
        let mut r = ChunkReader::new(self::limits(), 0);
        r.push(&[type0(6, 0, 1 << 20, 9, 1), payload(128, 0)].concat());
        assert_eq!(r.pull(), Ok(None));
        assert_eq!(r.buffered(), 128);
    }
}
