//! A scriptable RTMP client made of our own chunk writer, chunk reader and
//! AMF0 encoder, talking to a [`Connection`] in memory: the seed generator
//! of the fuzz targets and the session tests use it to send what encoders
//! send, and what no encoder would.

use crate::rtmp::Message;
use crate::rtmp::amf0::{self, Value};
use crate::rtmp::chunk_reader::{ChunkLimits, ChunkReader};
use crate::rtmp::chunk_writer::ChunkWriter;
use crate::rtmp::handshake::PACKET_LEN;
use crate::rtmp::message::{Command, WriteMessages};
use crate::{Connection, Event, Result};

/// Completes a plain RTMP handshake with `server` (C1 of `fill` bytes, C2
/// echoing S1). Returns what the server sent after its handshake (the
/// start of the chunk stream a client reads), or `None` if it refused.
pub(crate) fn handshake(server: &mut Connection, fill: u8) -> Option<Vec<u8>> {
    let mut c0c1 = vec![3u8];
    c0c1.resize(1 + PACKET_LEN, fill);
    server.push(&c0c1).ok()?;
    let s0s1s2: Vec<u8> = server.take_outbound().concat();
    server.push(s0s1s2.get(1..1 + PACKET_LEN)?).ok()?;
    server
        .is_established()
        .then(|| server.take_outbound().concat())
}

pub(crate) fn string(s: &str) -> Value {
    Value::String(s.into())
}

/// See the module documentation.
pub(crate) struct TestClient {
    pub writer: ChunkWriter,
    /// Reads what the server sends.
    pub reader: ChunkReader,
    /// The server's events, in order (publish requests are answered by the
    /// test, or accepted at once with `accept_publishes`).
    pub events: Vec<Event>,
    pub accept_publishes: bool,
    /// Everything sent after the handshake.
    pub sent: Vec<u8>,
}

impl TestClient {
    /// A client that completed a plain handshake with `server`.
    pub(crate) fn handshaken(server: &mut Connection) -> Option<TestClient> {
        let after_handshake = handshake(server, 7)?;
        let limits = ChunkLimits {
            max_message_bytes: 1 << 24,
            max_chunk_streams: 64,
        };
        let mut reader = ChunkReader::new(limits, 0);
        reader.push(&after_handshake);
        Some(TestClient {
            writer: ChunkWriter::default(),
            reader,
            events: Vec::new(),
            accept_publishes: false,
            sent: Vec::new(),
        })
    }

    /// Writes a command message (on chunk stream 3).
    pub(crate) fn command(&mut self, stream: u32, name: &str, transaction: f64, values: &[Value]) {
        self.writer.command(stream, name, transaction, values);
    }

    /// Sends what was written; collects the server's events and output.
    pub(crate) fn send(&mut self, server: &mut Connection) -> Result<()> {
        let result = match self.writer.take() {
            Some(bytes) => {
                self.sent.extend_from_slice(&bytes);
                server.push(&bytes)
            }
            None => Ok(()),
        };
        while let Some(event) = server.poll_event() {
            if let (true, Event::PublishRequested { request_id, .. }) =
                (self.accept_publishes, &event)
            {
                server.accept_publish(*request_id)?;
            }
            self.events.push(event);
        }
        for bytes in server.take_outbound() {
            self.reader.push(&bytes);
        }
        result
    }

    /// The messages the server sent since the last call (up to anything
    /// the reader cannot read).
    pub(crate) fn messages(&mut self) -> Vec<Message> {
        std::iter::from_fn(|| self.reader.pull().ok().flatten()).collect()
    }

    /// The command messages among [`TestClient::messages`].
    pub(crate) fn commands(&mut self) -> Vec<Command> {
        self.messages()
            .iter()
            .filter(|m| m.type_id == crate::rtmp::message_type::AMF0_COMMAND)
            .filter_map(|m| Command::parse(&m.payload).ok())
            .collect()
    }

    /// `connect` to `live` as ffmpeg does (transaction 1); the answers.
    pub(crate) fn connect(&mut self, server: &mut Connection) -> Result<Vec<Command>> {
        let object = amf0::object([
            ("app", string("live")),
            ("type", string("nonprivate")),
            ("flashVer", string("FMLE/3.0 (compatible; FMSc/1.0)")),
            ("tcUrl", string("rtmp://127.0.0.1/live")),
            ("objectEncoding", Value::Number(3.0)),
        ]);
        self.command(0, "connect", 1.0, &[object]);
        self.send(server)?;
        Ok(self.commands())
    }

    /// `releaseStream`, `FCPublish`, `createStream` (transactions 2–4),
    /// then `publish` of `key` on the created stream (transaction 5), as
    /// ffmpeg does. Returns the message stream id.
    pub(crate) fn publish(&mut self, server: &mut Connection, key: &str) -> Result<Option<u32>> {
        self.command(0, "releaseStream", 2.0, &[Value::Null, string(key)]);
        self.command(0, "FCPublish", 3.0, &[Value::Null, string(key)]);
        self.command(0, "createStream", 4.0, &[Value::Null]);
        self.send(server)?;
        let created = self
            .commands()
            .into_iter()
            .find(|c| c.name == "_result" && c.transaction_id == 4.0);
        let Some(stream) = created.and_then(|c| c.stream_id_argument()) else {
            return Ok(None);
        };
        let values = [Value::Null, string(key), string("live")];
        self.command(stream, "publish", 5.0, &values);
        self.send(server)?;
        Ok(Some(stream))
    }
}
