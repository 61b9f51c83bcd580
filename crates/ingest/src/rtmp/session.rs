//! The server side of one RTMP connection (RTMP 1.0 specification §7.2),
//! sans-IO: bytes in through [`Session::push`], [`SessionEvent`]s out of
//! [`Session::poll`], bytes to send from [`Session::take_outbound`].
//!
//! After the handshake the server sends, as rml_rtmp's server session did
//! and encoders are used to: Set Chunk Size (`rtmp.chunk_size`), Window
//! Acknowledgement Size (1 GiB), User Control StreamBegin 0, Set Peer
//! Bandwidth (2.5 MB, dynamic) and `onBWDone`. Then, per command (§7.2.1,
//! §7.2.2):
//!
//! - `connect` → [`SessionEvent::Connect`]; the owner answers with
//!   [`Session::accept_connect`] (`_result` with `fmsVer`, `capabilities`
//!   and `NetConnection.Connect.Success`) or [`Session::reject_connect`].
//!   The command object is kept ([`Session::connect_request`]) and the
//!   owner may add properties to the `_result` (Enhanced RTMP echoes its
//!   `fourCcList`/`capsEx` there).
//! - `createStream` → `_result` with a new message stream id.
//! - `publish` on a created stream → [`SessionEvent::PublishRequested`];
//!   answered with StreamBegin and `onStatus NetStream.Publish.Start`, or
//!   `_error` with the owner's status code.
//! - `deleteStream`/`closeStream` of the publishing stream →
//!   [`SessionEvent::PublishFinished`].
//! - `play` → [`SessionEvent::PlayRequested`] (this server refuses it).
//! - `releaseStream`, `FCPublish`, `FCUnpublish`, `_checkbw` and other
//!   commands need no answer and get none.
//!
//! Audio (8) and video (9) messages of the accepted publish come out as
//! [`SessionEvent::Media`] (FLV tag bodies); before the answer they are
//! dropped, as encoders wait for `NetStream.Publish.Start`. Data messages
//! (`@setDataFrame`/`onMetaData`) are tolerated and ignored. Pings are
//! answered, and the client's bytes are acknowledged each time its window
//! (Window Acknowledgement Size) fills. Other message types come out as
//! [`SessionEvent::Ignored`].

use bytes::Bytes;

use super::amf0::Value;
use super::chunk_reader::{ChunkLimits, ChunkReader};
use super::chunk_writer::ChunkWriter;
use super::handshake::Handshake;
use super::message::{self, Command, UserControl, WriteMessages};
use super::{Message, message_type};
use crate::Error;

/// Window Acknowledgement Size we announce (the client acknowledges our
/// few bytes every GiB, i.e. never).
const WINDOW_ACK_SIZE: u32 = 1 << 30;
/// Set Peer Bandwidth we announce.
const PEER_BANDWIDTH: u32 = 2_500_000;
/// Largest command message we decode (commands are a few hundred bytes).
const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// Message streams a connection may create (encoders create one).
const MAX_MESSAGE_STREAMS: usize = 8;
/// `fmsVer` in the answer to `connect`.
const FMS_VERSION: &str = "FMS/3,0,1,1233";

/// Settings of a session.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionConfig {
    /// Process-unique connection number, for error context.
    pub connection: u64,
    /// Our outgoing chunk size.
    pub chunk_size: u32,
    pub limits: ChunkLimits,
}

/// Something the session's owner acts on.
pub(crate) enum SessionEvent {
    /// `connect` to `app` (slashes around it removed): answer with
    /// [`Session::accept_connect`] or [`Session::reject_connect`] before
    /// polling again.
    Connect { app: String },
    /// `publish` of `stream_key` (as sent): answer with
    /// [`Session::accept_publish`] or [`Session::reject_publish`].
    PublishRequested { request_id: u32, stream_key: String },
    /// The publishing (or publish-requested) stream was deleted or closed.
    PublishFinished,
    /// `play` on `message_stream_id`.
    PlayRequested { message_stream_id: u32 },
    /// Media of the accepted publish: an FLV audio or video tag body.
    Media {
        kind: MediaKind,
        timestamp_ms: u32,
        body: Bytes,
    },
    /// A message of a type the session does not handle.
    Ignored { type_id: u8 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MediaKind {
    Audio,
    Video,
}

/// The `connect` command as received.
pub(crate) struct ConnectRequest {
    pub transaction_id: f64,
    /// The application, without surrounding slashes.
    pub app: String,
    /// The command object's properties as sent (`app`, `flashVer`,
    /// `tcUrl`, `fourCcList`, …). Can hold secrets (a `tcUrl` with a
    /// query): never logged whole.
    pub properties: Vec<(String, Value)>,
    /// Set once answered.
    answered: bool,
}

impl ConnectRequest {
    pub(crate) fn property(&self, name: &str) -> Option<&Value> {
        self.properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// What a created message stream is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamState {
    Created,
    PublishRequested { request_id: u32 },
    Publishing,
}

enum Phase {
    Handshake(Box<Handshake>),
    Chunks(ChunkReader),
    Closed,
}

/// See the module documentation.
pub(crate) struct Session {
    config: SessionConfig,
    phase: Phase,
    writer: ChunkWriter,
    outbound: Vec<Bytes>,
    /// Bytes pushed, handshake included.
    input_bytes: u64,
    /// Bytes of the chunk stream pushed (what acknowledgements count).
    chunk_bytes: u64,
    /// The client's Window Acknowledgement Size, 0 until it sends one.
    ack_window: u32,
    /// `chunk_bytes` when we last acknowledged.
    acked: u64,
    connect: Option<ConnectRequest>,
    connected: bool,
    /// Created message streams by id.
    streams: Vec<(u32, StreamState)>,
    next_stream_id: u32,
    next_request_id: u32,
}

impl Session {
    pub(crate) fn new(config: SessionConfig) -> Self {
        Session {
            config,
            phase: Phase::Handshake(Box::default()),
            writer: ChunkWriter::default(),
            outbound: Vec::new(),
            input_bytes: 0,
            chunk_bytes: 0,
            ack_window: 0,
            acked: 0,
            connect: None,
            connected: false,
            streams: Vec::new(),
            next_stream_id: 1,
            next_request_id: 0,
        }
    }

    /// True once the handshake completed.
    pub(crate) fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Chunks(_))
    }

    /// The connection's number, for error context.
    pub(crate) fn connection(&self) -> u64 {
        self.config.connection
    }

    /// The `connect` command, once received.
    pub(crate) fn connect_request(&self) -> Option<&ConnectRequest> {
        self.connect.as_ref()
    }

    fn invalid(&self, offset: u64, context: impl Into<String>) -> Error {
        Error::Invalid {
            connection: self.config.connection,
            offset,
            context: context.into(),
        }
    }

    /// Consumes received bytes; then [`Session::poll`] until `None`.
    pub(crate) fn push(&mut self, input: &[u8]) -> Result<(), Error> {
        let start = self.input_bytes;
        self.input_bytes = start.saturating_add(input.len() as u64);
        let rest = match &mut self.phase {
            Phase::Closed => return Err(self.invalid(start, "connection already closed")),
            Phase::Chunks(reader) => {
                reader.push(input);
                input
            }
            Phase::Handshake(handshake) => {
                let mut out = Vec::new();
                let done = handshake.push(input, &mut out, &mut |b| {
                    // Unpredictability is not needed here; zeros if the
                    // system's generator fails.
                    let _ = aws_lc_rs::rand::fill(b);
                });
                if !out.is_empty() {
                    self.outbound.push(Bytes::from(out));
                }
                let used = match done {
                    Ok(None) => return Ok(()),
                    Ok(Some(used)) => used,
                    Err(e) => {
                        self.phase = Phase::Closed;
                        return Err(Error::Handshake {
                            connection: self.config.connection,
                            offset: start.saturating_add(e.offset),
                            context: e.context,
                        });
                    }
                };
                let offset = start.saturating_add(used as u64);
                let mut reader = ChunkReader::new(self.config.limits, offset);
                reader.push(&input[used..]);
                self.phase = Phase::Chunks(reader);
                self.writer.set_chunk_size(self.config.chunk_size);
                self.writer.window_ack_size(WINDOW_ACK_SIZE);
                self.writer.stream_begin(0);
                self.writer.set_peer_bandwidth(PEER_BANDWIDTH);
                self.writer
                    .command(0, "onBWDone", 0.0, &[Value::Null, Value::Number(8192.0)]);
                &input[used..]
            }
        };
        self.chunk_bytes = self.chunk_bytes.saturating_add(rest.len() as u64);
        if self.ack_window > 0
            && self.chunk_bytes.saturating_sub(self.acked) >= u64::from(self.ack_window)
        {
            // The sequence number is the byte count so far, modulo 2^32.
            self.writer.acknowledgement(self.chunk_bytes as u32);
            self.acked = self.chunk_bytes;
        }
        Ok(())
    }

    /// The next event of the bytes pushed so far, `None` when they hold no
    /// more. An error is final: the connection must be closed.
    pub(crate) fn poll(&mut self) -> Result<Option<SessionEvent>, Error> {
        loop {
            let Phase::Chunks(reader) = &mut self.phase else {
                return Ok(None);
            };
            let pulled = reader.pull();
            let result = match pulled {
                Ok(None) => return Ok(None),
                Ok(Some(message)) => self.handle(message),
                Err(invalid) => Err(self.invalid(invalid.offset, invalid.context)),
            };
            match result {
                Ok(None) => continue,
                Ok(Some(event)) => return Ok(Some(event)),
                Err(e) => {
                    self.phase = Phase::Closed;
                    return Err(e);
                }
            }
        }
    }

    /// Bytes to send, in order.
    pub(crate) fn take_outbound(&mut self) -> Vec<Bytes> {
        if let Some(bytes) = self.writer.take() {
            self.outbound.push(bytes);
        }
        std::mem::take(&mut self.outbound)
    }

    fn handle(&mut self, m: Message) -> Result<Option<SessionEvent>, Error> {
        match m.type_id {
            message_type::AUDIO | message_type::VIDEO => {
                let publishing = self
                    .stream(m.message_stream_id)
                    .is_some_and(|s| s == StreamState::Publishing);
                if !publishing {
                    return Ok(None);
                }
                let kind = match m.type_id {
                    message_type::AUDIO => MediaKind::Audio,
                    _ => MediaKind::Video,
                };
                Ok(Some(SessionEvent::Media {
                    kind,
                    timestamp_ms: m.timestamp_ms,
                    body: m.payload,
                }))
            }
            message_type::AMF0_COMMAND | message_type::AMF3_COMMAND => {
                if m.payload.len() > MAX_COMMAND_BYTES {
                    let what = format!(
                        "command message of {} bytes (at most {MAX_COMMAND_BYTES})",
                        m.payload.len()
                    );
                    return Err(self.invalid(m.offset, what));
                }
                // An AMF3 command starts with a format byte, then AMF0.
                let amf0 = match m.type_id {
                    message_type::AMF3_COMMAND => m.payload.get(1..).unwrap_or_default(),
                    _ => &m.payload[..],
                };
                match Command::parse(amf0) {
                    Ok(command) => self.command(&m, command),
                    Err(what) => Err(self.invalid(m.offset, what)),
                }
            }
            message_type::AMF0_DATA | message_type::AMF3_DATA => Ok(None),
            message_type::USER_CONTROL => match UserControl::parse(&m.payload) {
                Ok(UserControl::PingRequest(timestamp)) => {
                    self.writer.ping_response(timestamp);
                    Ok(None)
                }
                Ok(UserControl::Other) => Ok(None),
                Err(what) => Err(self.invalid(m.offset, what)),
            },
            message_type::WINDOW_ACK_SIZE => {
                match message::control_value("Window Acknowledgement Size", &m.payload) {
                    Ok(size) => {
                        self.ack_window = size;
                        Ok(None)
                    }
                    Err(what) => Err(self.invalid(m.offset, what)),
                }
            }
            message_type::ACKNOWLEDGEMENT | message_type::SET_PEER_BANDWIDTH => Ok(None),
            type_id => Ok(Some(SessionEvent::Ignored { type_id })),
        }
    }

    fn stream(&self, id: u32) -> Option<StreamState> {
        self.streams.iter().find(|(i, _)| *i == id).map(|(_, s)| *s)
    }

    fn set_stream(&mut self, id: u32, state: StreamState) {
        if let Some(entry) = self.streams.iter_mut().find(|(i, _)| *i == id) {
            entry.1 = state;
        }
    }

    fn command(&mut self, m: &Message, c: Command) -> Result<Option<SessionEvent>, Error> {
        tracing::debug!(command = %c.name, stream = m.message_stream_id, "RTMP command");
        let needs_connect = matches!(c.name.as_str(), "createStream" | "publish" | "play");
        if needs_connect && !self.connected {
            return Err(self.invalid(m.offset, format!("{} before connect", c.name)));
        }
        match c.name.as_str() {
            "connect" => {
                if self.connect.is_some() {
                    return Err(self.invalid(m.offset, "second connect on one connection"));
                }
                let Some(properties) = c.command_object.properties() else {
                    return Err(self.invalid(m.offset, "connect without a command object"));
                };
                let Some(app) = c.command_object.get("app").and_then(Value::as_str) else {
                    return Err(self.invalid(m.offset, "connect without an app name"));
                };
                let app = app.trim_matches('/').to_string();
                self.connect = Some(ConnectRequest {
                    transaction_id: c.transaction_id,
                    app: app.clone(),
                    properties: properties.to_vec(),
                    answered: false,
                });
                Ok(Some(SessionEvent::Connect { app }))
            }
            "createStream" => {
                if self.streams.len() >= MAX_MESSAGE_STREAMS {
                    let what = format!("more than {MAX_MESSAGE_STREAMS} createStream");
                    return Err(self.invalid(m.offset, what));
                }
                let id = self.next_stream_id;
                self.next_stream_id = id.saturating_add(1);
                self.streams.push((id, StreamState::Created));
                let values = [Value::Null, Value::Number(f64::from(id))];
                self.writer.command(0, "_result", c.transaction_id, &values);
                Ok(None)
            }
            "publish" => {
                let id = m.message_stream_id;
                match self.stream(id) {
                    Some(StreamState::Created) => {}
                    Some(_) => {
                        let what = "second publish on a connection that is already publishing";
                        return Err(self.invalid(m.offset, what));
                    }
                    None => {
                        let what = format!(
                            "publish on message stream {id}, which createStream did not create"
                        );
                        return Err(self.invalid(m.offset, what));
                    }
                }
                let Some(key) = c.string_argument(0) else {
                    return Err(self.invalid(m.offset, "publish without a stream name"));
                };
                let stream_key = key.to_string();
                let request_id = self.next_request_id;
                self.next_request_id = request_id.wrapping_add(1);
                self.set_stream(id, StreamState::PublishRequested { request_id });
                Ok(Some(SessionEvent::PublishRequested {
                    request_id,
                    stream_key,
                }))
            }
            "deleteStream" | "closeStream" => {
                let id = c.stream_id_argument().unwrap_or(m.message_stream_id);
                let Some(state) = self.stream(id) else {
                    return Ok(None);
                };
                if c.name == "deleteStream" {
                    self.streams.retain(|(i, _)| *i != id);
                } else {
                    self.set_stream(id, StreamState::Created);
                }
                Ok((state != StreamState::Created).then_some(SessionEvent::PublishFinished))
            }
            "play" => Ok(Some(SessionEvent::PlayRequested {
                message_stream_id: m.message_stream_id,
            })),
            _ => Ok(None),
        }
    }

    fn pending_connect(&mut self) -> Result<&mut ConnectRequest, Error> {
        let offset = self.input_bytes;
        match self.connect.as_mut() {
            Some(c) if !c.answered => {
                c.answered = true;
                Ok(c)
            }
            _ => Err(Error::Invalid {
                connection: self.config.connection,
                offset,
                context: "no connect request to answer".into(),
            }),
        }
    }

    /// Accepts `connect`: `_result` with the properties encoders expect,
    /// then `extra` (negotiated capabilities) in the command object.
    pub(crate) fn accept_connect(&mut self, extra: Vec<(String, Value)>) -> Result<(), Error> {
        let request = self.pending_connect()?;
        let transaction_id = request.transaction_id;
        let description = format!("Successfully connected on app: {}", request.app);
        let object_encoding = request
            .property("objectEncoding")
            .and_then(Value::as_number)
            .unwrap_or(0.0);
        let mut properties = vec![
            ("fmsVer".to_string(), Value::String(FMS_VERSION.into())),
            ("capabilities".to_string(), Value::Number(31.0)),
        ];
        properties.extend(extra);
        let mut info = message::status("status", "NetConnection.Connect.Success", &description);
        info.push(("objectEncoding".into(), Value::Number(object_encoding)));
        let values = [Value::Object(properties), Value::Object(info)];
        self.writer.command(0, "_result", transaction_id, &values);
        self.connected = true;
        Ok(())
    }

    /// Refuses `connect` with `_error` (`code`, `description`).
    pub(crate) fn reject_connect(&mut self, code: &str, description: &str) -> Result<(), Error> {
        let transaction_id = self.pending_connect()?.transaction_id;
        let info = Value::Object(message::status("error", code, description));
        self.writer
            .command(0, "_error", transaction_id, &[Value::Null, info]);
        Ok(())
    }

    /// The stream whose publish request is `request_id`.
    fn requested(&self, request_id: u32) -> Result<u32, Error> {
        let wanted = StreamState::PublishRequested { request_id };
        self.streams
            .iter()
            .find(|(_, s)| *s == wanted)
            .map(|(id, _)| *id)
            .ok_or_else(|| {
                let what = format!("no publish request {request_id} is pending");
                self.invalid(self.input_bytes, what)
            })
    }

    /// Accepts publish request `request_id`: StreamBegin and
    /// `onStatus NetStream.Publish.Start`; media flows from now on.
    pub(crate) fn accept_publish(&mut self, request_id: u32) -> Result<(), Error> {
        let id = self.requested(request_id)?;
        self.set_stream(id, StreamState::Publishing);
        self.writer.stream_begin(id);
        let info = message::status("status", "NetStream.Publish.Start", "Publishing started.");
        self.writer
            .command(id, "onStatus", 0.0, &[Value::Null, Value::Object(info)]);
        Ok(())
    }

    /// Refuses publish request `request_id` with `_error` (`code`,
    /// `description`) on its stream.
    pub(crate) fn reject_publish(
        &mut self,
        request_id: u32,
        code: &str,
        description: &str,
    ) -> Result<(), Error> {
        let id = self.requested(request_id)?;
        self.set_stream(id, StreamState::Created);
        self.error_status(id, code, description);
        Ok(())
    }

    /// Refuses `play` on `message_stream_id` with `_error`.
    pub(crate) fn reject_play(&mut self, message_stream_id: u32, code: &str, description: &str) {
        self.error_status(message_stream_id, code, description);
    }

    fn error_status(&mut self, message_stream_id: u32, code: &str, description: &str) {
        let info = Value::Object(message::status("error", code, description));
        self.writer
            .command(message_stream_id, "_error", 0.0, &[Value::Null, info]);
    }
}

#[cfg(test)]
mod tests;
