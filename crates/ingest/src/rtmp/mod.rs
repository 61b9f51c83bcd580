//! Our own RTMP layer, bottom to top, all sans-IO (RTMP 1.0 specification,
//! Adobe, December 2012):
//!
//! - [`handshake`]: C0/C1/C2 ↔ S0/S1/S2 (§5.2), plain and digest (FP9).
//! - [`chunk_reader`]: chunks in, whole [`Message`]s out (§5.3, §5.4).
//! - [`chunk_writer`]: the server's messages out as chunks.
//! - [`amf0`]: the value encoding of commands (AMF0 specification).
//! - [`message`]: protocol control, user control and command messages
//!   (§5.4, §6.2, §7.2) parsed and built.
//! - [`session`]: the server side of one connection (§7.2.1, §7.2.2):
//!   connect, createStream, publish, deleteStream, acknowledgements; media
//!   and requests out as [`session::SessionEvent`]s.

pub(crate) mod amf0;
pub(crate) mod chunk_reader;
pub(crate) mod chunk_writer;
pub(crate) mod handshake;
pub(crate) mod message;
pub(crate) mod session;

use bytes::Bytes;

/// One whole RTMP message, as reassembled from its chunks.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// Chunk stream it arrived on.
    pub csid: u32,
    /// Message stream (0 for the connection, else from `createStream`).
    pub message_stream_id: u32,
    /// Message type id (see [`message_type`]).
    pub type_id: u8,
    /// Timestamp in milliseconds, extended and delta-decoded (wraps at
    /// 2^32).
    pub timestamp_ms: u32,
    pub payload: Bytes,
    /// Offset of the message's first chunk header in the connection's
    /// input (handshake included), for error context.
    pub offset: u64,
}

impl std::fmt::Debug for Message {
    /// Without the payload, which can hold a stream key (`publish`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("csid", &self.csid)
            .field("message_stream_id", &self.message_stream_id)
            .field("type_id", &self.type_id)
            .field("timestamp_ms", &self.timestamp_ms)
            .field("len", &self.payload.len())
            .field("offset", &self.offset)
            .finish()
    }
}

/// Message type ids (§5.4, §7.1).
pub(crate) mod message_type {
    pub const SET_CHUNK_SIZE: u8 = 1;
    pub const ABORT: u8 = 2;
    pub const ACKNOWLEDGEMENT: u8 = 3;
    pub const USER_CONTROL: u8 = 4;
    pub const WINDOW_ACK_SIZE: u8 = 5;
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    pub const AUDIO: u8 = 8;
    pub const VIDEO: u8 = 9;
    pub const AMF3_DATA: u8 = 15;
    pub const AMF3_COMMAND: u8 = 17;
    pub const AMF0_DATA: u8 = 18;
    pub const AMF0_COMMAND: u8 = 20;
}

#[cfg(test)]
mod fixtures;
