//! The sans-IO core of one RTMP connection: handshake, session (rml_rtmp),
//! and FLV tag bodies → [`av::DemuxEvent`]s.
//!
//! Feed received bytes to [`Connection::push`], then drain
//! [`Connection::take_outbound`] (bytes to write, in order) and
//! [`Connection::poll_event`]. Publish requests are answered with
//! [`Connection::accept_publish`] or [`Connection::reject_publish`] once the
//! caller has asked its authorizer.

use std::collections::VecDeque;

use av::{DemuxEvent, FlvDemuxer};
use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};

use crate::chunk_guard::ChunkGuard;
use crate::{Error, IngestConfig, Result};

/// Chunk streams a publisher may have messages in progress on at once (OBS
/// and ffmpeg use about five).
const MAX_CHUNK_STREAMS: usize = 64;

/// Something the connection's owner has to act on.
#[derive(PartialEq)]
pub enum Event {
    /// The client asked to publish on `stream_key` in the configured app.
    /// Answer with `accept_publish` or `reject_publish`.
    PublishRequested { request_id: u32, stream_key: String },
    /// Media of the accepted publish.
    Media(DemuxEvent),
    /// The client ended its publish (`FCUnpublish`/`deleteStream`).
    PublishFinished,
}

impl std::fmt::Debug for Event {
    /// Never prints the stream key: it is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::PublishRequested { request_id, .. } => f
                .debug_struct("PublishRequested")
                .field("request_id", request_id)
                .field("stream_key", &"<redacted>")
                .finish(),
            Event::Media(m) => f.debug_tuple("Media").field(m).finish(),
            Event::PublishFinished => f.write_str("PublishFinished"),
        }
    }
}

enum State {
    Handshaking(Box<Handshake>),
    Session(Box<ServerSession>),
    Closed,
}

/// Publishing progress of a connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum PublishState {
    None,
    /// `publish` received, answer pending. rml_rtmp drops media sent on a
    /// stream before its publish is accepted, so an encoder must wait for
    /// `NetStream.Publish.Start` (OBS, ffmpeg and GStreamer do).
    Requested,
    Accepted,
}

/// One RTMP connection's protocol state.
pub struct Connection {
    apps: Vec<String>,
    session_config: ServerSessionConfig,
    state: State,
    outbound: Vec<Bytes>,
    events: VecDeque<Event>,
    /// Where the connection is in publishing.
    publish: PublishState,
    demux: FlvDemuxer,
    bytes_received: u64,
    /// Bounds on the chunk stream, checked before rml_rtmp parses it.
    guard: ChunkGuard,
    /// Message type ids already logged as unknown (a 256-bit set).
    unknown_types: [u64; 4],
}

impl Connection {
    pub fn new(config: &IngestConfig) -> Self {
        let mut session_config = ServerSessionConfig::new();
        session_config.chunk_size = config.chunk_size;
        Connection {
            apps: config.apps(),
            session_config,
            state: State::Handshaking(Box::new(Handshake::new(PeerType::Server))),
            outbound: Vec::new(),
            events: VecDeque::new(),
            publish: PublishState::None,
            demux: FlvDemuxer::new(),
            bytes_received: 0,
            guard: ChunkGuard::new(config.max_message_bytes, MAX_CHUNK_STREAMS),
            unknown_types: [0; 4],
        }
    }

    /// True once the handshake completed.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Session(_))
    }

    /// True once a publish was accepted.
    pub fn is_publishing(&self) -> bool {
        self.publish == PublishState::Accepted
    }

    /// Total bytes consumed so far (for error context and stats).
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Consumes bytes read from the socket. On error the connection is
    /// unusable and must be closed; events queued before the error remain
    /// available.
    pub fn push(&mut self, input: &[u8]) -> Result<()> {
        let offset = self.bytes_received;
        self.bytes_received += input.len() as u64;
        // rml_rtmp 0.8 can panic on some malformed input (e.g. an AMF0 data
        // message holding only "@setDataFrame" indexes past its end). Such a
        // panic must cost only this connection: it becomes a protocol error
        // and the connection is closed. Our own state is not reused after.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.push_inner(input)))
                .unwrap_or_else(|_| {
                    Err(Error::Protocol(
                        "malformed RTMP message (parser panicked)".into(),
                    ))
                });
        if result.is_err() {
            self.state = State::Closed;
        }
        result.map_err(|e| match e {
            Error::Protocol(msg) => {
                Error::Protocol(format!("{msg} (in bytes from offset {offset})"))
            }
            other => other,
        })
    }

    fn push_inner(&mut self, input: &[u8]) -> Result<()> {
        match &mut self.state {
            State::Closed => Err(Error::Protocol("connection already closed".into())),
            State::Handshaking(hs) => {
                let result = hs
                    .process_bytes(input)
                    .map_err(|e| Error::Handshake(e.to_string()))?;
                match result {
                    HandshakeProcessResult::InProgress { response_bytes } => {
                        self.send(response_bytes);
                        Ok(())
                    }
                    HandshakeProcessResult::Completed {
                        response_bytes,
                        remaining_bytes,
                    } => {
                        self.send(response_bytes);
                        let (session, results) = ServerSession::new(self.session_config.clone())
                            .map_err(|e| Error::Protocol(e.to_string()))?;
                        self.state = State::Session(Box::new(session));
                        self.handle_results(results)?;
                        if !remaining_bytes.is_empty() {
                            self.push_inner(&remaining_bytes)?;
                        }
                        Ok(())
                    }
                }
            }
            State::Session(session) => {
                self.guard.push(input)?;
                let results = session
                    .handle_input(input)
                    .map_err(|e| Error::Protocol(e.to_string()))?;
                self.handle_results(results)
            }
        }
    }

    /// Accepts the publish request `request_id`.
    pub fn accept_publish(&mut self, request_id: u32) -> Result<()> {
        let results = self
            .session()?
            .accept_request(request_id)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        self.publish = PublishState::Accepted;
        self.handle_results(results)
    }

    /// Refuses the publish request `request_id`, telling the client why in a
    /// `NetStream.Publish.*` status. The caller closes the connection after
    /// writing the outbound bytes.
    pub fn reject_publish(&mut self, request_id: u32, code: &str, description: &str) -> Result<()> {
        let results = self
            .session()?
            .reject_request(request_id, code, description)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        self.handle_results(results)
    }

    /// Bytes to write to the socket, in order.
    pub fn take_outbound(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.outbound)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn session(&mut self) -> Result<&mut ServerSession> {
        match &mut self.state {
            State::Session(s) => Ok(s),
            _ => Err(Error::Protocol("no RTMP session".into())),
        }
    }

    fn send(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.outbound.push(Bytes::from(bytes));
        }
    }

    fn handle_results(&mut self, results: Vec<ServerSessionResult>) -> Result<()> {
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => self.send(packet.bytes),
                ServerSessionResult::RaisedEvent(event) => self.handle_event(event)?,
                ServerSessionResult::UnhandleableMessageReceived(payload) => {
                    // RTMP peers ignore message types they do not know; said
                    // once per type and connection so it cannot flood the log.
                    let (word, bit) = (usize::from(payload.type_id / 64), payload.type_id % 64);
                    if self.unknown_types[word] & (1 << bit) == 0 {
                        self.unknown_types[word] |= 1 << bit;
                        tracing::info!(
                            type_id = payload.type_id,
                            "ignoring RTMP messages of unknown type {}",
                            payload.type_id
                        );
                    }
                }
            }
        }
        Ok(())
    }

    fn handle_event(&mut self, event: ServerSessionEvent) -> Result<()> {
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                if !self.apps.iter().any(|a| a == app_name.trim_matches('/')) {
                    let results = self
                        .session()?
                        .reject_request(
                            request_id,
                            "NetConnection.Connect.Rejected",
                            &format!("unknown application {app_name:?}"),
                        )
                        .map_err(|e| Error::Protocol(e.to_string()))?;
                    self.handle_results(results)?;
                    return Err(Error::UnknownApp(app_name));
                }
                let results = self
                    .session()?
                    .accept_request(request_id)
                    .map_err(|e| Error::Protocol(e.to_string()))?;
                self.handle_results(results)
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                stream_key,
                ..
            } => {
                if self.publish != PublishState::None {
                    return Err(Error::Protocol(
                        "second publish on a connection that is already publishing".into(),
                    ));
                }
                self.publish = PublishState::Requested;
                // Some encoders append query parameters to the key; they are not part of it.
                let key = stream_key.split('?').next().unwrap_or_default().to_string();
                self.events.push_back(Event::PublishRequested {
                    request_id,
                    stream_key: key,
                });
                Ok(())
            }
            ServerSessionEvent::PublishStreamFinished { .. } => {
                if std::mem::replace(&mut self.publish, PublishState::None) != PublishState::None {
                    self.events.push_back(Event::PublishFinished);
                }
                Ok(())
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                if self.publish != PublishState::None
                    && let Some(ev) = self.demux.push_video(timestamp.value, data)?
                {
                    self.events.push_back(Event::Media(ev));
                }
                Ok(())
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                if self.publish != PublishState::None
                    && let Some(ev) = self.demux.push_audio(timestamp.value, data)?
                {
                    self.events.push_back(Event::Media(ev));
                }
                Ok(())
            }
            ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
                // This server ingests only; viewers use HLS.
                let results = self
                    .session()?
                    .reject_request(
                        request_id,
                        "NetStream.Play.Failed",
                        "playback over RTMP is not supported; use HLS",
                    )
                    .map_err(|e| Error::Protocol(e.to_string()))?;
                self.handle_results(results)
            }
            // rml_rtmp 0.8 never raises ReleaseStreamRequested (releaseStream
            // arrives as an unhandled command, which needs no answer).
            ServerSessionEvent::ReleaseStreamRequested { .. }
            | ServerSessionEvent::StreamMetadataChanged { .. }
            | ServerSessionEvent::ClientChunkSizeChanged { .. }
            | ServerSessionEvent::UnhandleableAmf0Command { .. }
            | ServerSessionEvent::PlayStreamFinished { .. }
            | ServerSessionEvent::AcknowledgementReceived { .. }
            | ServerSessionEvent::PingResponseReceived { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rml_rtmp::sessions::{
        ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
        PublishRequestType,
    };
    use rml_rtmp::time::RtmpTimestamp;

    /// An rml_rtmp client wired to a server `Connection` in memory.
    struct Pair {
        client: ClientSession,
        server: Connection,
        client_events: Vec<ClientSessionEvent>,
        server_events: Vec<Event>,
    }

    impl Pair {
        /// Handshakes and connects to `app`.
        fn connect(app: &str) -> Result<Pair> {
            let mut server = Connection::new(&IngestConfig::default());
            let mut hs = Handshake::new(PeerType::Client);
            let mut to_server = hs.generate_outbound_p0_and_p1().unwrap();
            let mut leftover = Vec::new();
            for _ in 0..4 {
                server.push(&to_server)?;
                let from_server: Vec<u8> = server
                    .take_outbound()
                    .iter()
                    .flat_map(|b| b.to_vec())
                    .collect();
                match hs.process_bytes(&from_server).unwrap() {
                    HandshakeProcessResult::InProgress { response_bytes } => {
                        to_server = response_bytes
                    }
                    HandshakeProcessResult::Completed {
                        response_bytes,
                        remaining_bytes,
                    } => {
                        server.push(&response_bytes)?;
                        leftover = remaining_bytes;
                        break;
                    }
                }
            }
            assert!(server.is_established());
            let (client, results) = ClientSession::new(ClientSessionConfig::new()).unwrap();
            let mut pair = Pair {
                client,
                server,
                client_events: Vec::new(),
                server_events: Vec::new(),
            };
            pair.exchange(results)?;
            let results = pair.client.handle_input(&leftover).unwrap();
            pair.exchange(results)?;
            let r = pair.client.request_connection(app.to_string()).unwrap();
            pair.exchange(vec![r])?;
            Ok(pair)
        }

        /// Sends client packets to the server and server output back, until quiet.
        fn exchange(&mut self, results: Vec<ClientSessionResult>) -> Result<()> {
            let mut pending = results;
            for _ in 0..16 {
                if pending.is_empty() {
                    return Ok(());
                }
                for r in std::mem::take(&mut pending) {
                    match r {
                        ClientSessionResult::OutboundResponse(p) => self.server.push(&p.bytes)?,
                        ClientSessionResult::RaisedEvent(e) => self.client_events.push(e),
                        _ => {}
                    }
                }
                while let Some(e) = self.server.poll_event() {
                    self.server_events.push(e);
                }
                for b in self.server.take_outbound() {
                    pending.extend(self.client.handle_input(&b).unwrap());
                }
            }
            panic!("client and server kept talking");
        }
    }

    #[test]
    fn publish_flow_produces_media() {
        let mut p = Pair::connect("live").unwrap();
        assert!(
            p.client_events
                .contains(&ClientSessionEvent::ConnectionRequestAccepted)
        );
        let r = p
            .client
            .request_publishing("secret-key?x=1".into(), PublishRequestType::Live)
            .unwrap();
        p.exchange(vec![r]).unwrap();
        let Some(Event::PublishRequested {
            request_id,
            stream_key,
        }) = p.server_events.pop()
        else {
            panic!("{:?}", p.server_events)
        };
        assert_eq!(stream_key, "secret-key");
        p.server.accept_publish(request_id).unwrap();
        let back: Vec<_> = p.server.take_outbound();
        for b in back {
            let results = p.client.handle_input(&b).unwrap();
            p.exchange(results).unwrap();
        }
        assert!(
            p.client_events
                .contains(&ClientSessionEvent::PublishRequestAccepted)
        );

        let asc = bytes::Bytes::from_static(&[0xaf, 0x00, 0x11, 0x90]);
        let r = p
            .client
            .publish_audio_data(asc, RtmpTimestamp::new(0), false)
            .unwrap();
        p.exchange(vec![r]).unwrap();
        let frame = bytes::Bytes::from_static(&[0xaf, 0x01, 0x21, 0x00, 0x49]);
        let r = p
            .client
            .publish_audio_data(frame, RtmpTimestamp::new(21), false)
            .unwrap();
        p.exchange(vec![r]).unwrap();
        assert!(matches!(
            p.server_events[0],
            Event::Media(DemuxEvent::AudioConfig(_))
        ));
        let Event::Media(DemuxEvent::Unit(au)) = &p.server_events[1] else {
            panic!("{:?}", p.server_events)
        };
        assert_eq!(au.dts, av::Time90k::from_millis(21));

        let r = p.client.stop_publishing().unwrap();
        p.exchange(r).unwrap();
        assert_eq!(p.server_events.last(), Some(&Event::PublishFinished));
    }

    #[test]
    fn unknown_app_is_refused() {
        let err = Pair::connect("other").err().expect("must be refused");
        assert!(
            matches!(err, Error::UnknownApp(ref a) if a == "other"),
            "{err}"
        );
    }

    #[test]
    fn unsupported_codec_is_named() {
        let mut p = Pair::connect("live").unwrap();
        let r = p
            .client
            .request_publishing("k".into(), PublishRequestType::Live)
            .unwrap();
        p.exchange(vec![r]).unwrap();
        let Some(Event::PublishRequested { request_id, .. }) = p.server_events.pop() else {
            panic!()
        };
        p.server.accept_publish(request_id).unwrap();
        for b in p.server.take_outbound() {
            let results = p.client.handle_input(&b).unwrap();
            p.exchange(results).unwrap();
        }
        let mp3 = bytes::Bytes::from_static(&[0x2f, 0xff, 0xfb]);
        let r = p
            .client
            .publish_audio_data(mp3, RtmpTimestamp::new(0), false)
            .unwrap();
        let ClientSessionResult::OutboundResponse(packet) = r else {
            panic!()
        };
        let err = p.server.push(&packet.bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported audio codec MP3 (only AAC is supported)"
        );
    }

    #[test]
    fn parser_panic_costs_only_the_connection() {
        // rml_rtmp 0.8 indexes past the end of an AMF0 data message that
        // holds only "@setDataFrame"; that must be a protocol error here.
        let mut p = Pair::connect("live").unwrap();
        let message = rml_rtmp::messages::RtmpMessage::Amf0Data {
            values: vec![rml_amf0::Amf0Value::Utf8String("@setDataFrame".into())],
        };
        let payload = message
            .into_message_payload(RtmpTimestamp::new(0), 1)
            .unwrap();
        let mut serializer = rml_rtmp::chunk_io::ChunkSerializer::new();
        let packet = serializer.serialize(&payload, true, false).unwrap();
        let err = p.server.push(&packet.bytes).unwrap_err();
        assert!(err.to_string().contains("parser panicked"), "{err}");
        assert!(p.server.push(&[0]).is_err(), "the connection stays closed");
    }

    #[test]
    fn handshake_garbage_is_an_error() {
        let mut c = Connection::new(&IngestConfig::default());
        let err = c.push(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_err();
        assert!(matches!(err, Error::Handshake(_)), "{err}");
        // The connection stays closed.
        assert!(c.push(&[3]).is_err());
    }
}
