//! The sans-IO core of one RTMP connection: our RTMP session
//! ([`crate::rtmp::session`]) with this server's policy on top (which apps,
//! one publish per connection, no playback), and FLV tag bodies →
//! [`av::DemuxEvent`]s.
//!
//! Feed received bytes to [`Connection::push`], then drain
//! [`Connection::take_outbound`] (bytes to write, in order) and
//! [`Connection::poll_event`]. Publish requests are answered with
//! [`Connection::accept_publish`] or [`Connection::reject_publish`] once the
//! caller has asked its authorizer.

use std::collections::VecDeque;

use av::{DemuxEvent, FlvDemuxer};
use bytes::Bytes;

use crate::rtmp::amf0::Value;
use crate::rtmp::chunk_reader::ChunkLimits;
use crate::rtmp::session::{MediaKind, Session, SessionConfig, SessionEvent};
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
    /// The client ended its publish (`deleteStream`/`closeStream`).
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

/// Publishing progress of a connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum PublishState {
    None,
    /// `publish` received, answer pending. Media sent on a stream before
    /// its publish is accepted is dropped, so an encoder must wait for
    /// `NetStream.Publish.Start` (OBS, ffmpeg and GStreamer do).
    Requested,
    Accepted,
}

/// One RTMP connection's protocol state.
pub struct Connection {
    apps: Vec<String>,
    session: Session,
    events: VecDeque<Event>,
    /// Where the connection is in publishing.
    publish: PublishState,
    demux: FlvDemuxer,
    bytes_received: u64,
    /// Set by the first error; nothing is read after it.
    failed: bool,
    /// Message type ids already logged as unknown (a 256-bit set).
    unknown_types: [u64; 4],
}

impl Connection {
    pub fn new(config: &IngestConfig) -> Self {
        Connection::with_id(config, 0)
    }

    /// A connection whose errors name it `connection` (the number in its
    /// log span).
    pub fn with_id(config: &IngestConfig, connection: u64) -> Self {
        let session = Session::new(SessionConfig {
            connection,
            chunk_size: config.chunk_size,
            limits: ChunkLimits {
                max_message_bytes: config.max_message_bytes,
                max_chunk_streams: MAX_CHUNK_STREAMS,
            },
        });
        Connection {
            apps: config.apps(),
            session,
            events: VecDeque::new(),
            publish: PublishState::None,
            demux: FlvDemuxer::new(),
            bytes_received: 0,
            failed: false,
            unknown_types: [0; 4],
        }
    }

    /// True once the handshake completed.
    pub fn is_established(&self) -> bool {
        self.session.is_established()
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
        self.bytes_received = self.bytes_received.saturating_add(input.len() as u64);
        let result = self.push_inner(input);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn push_inner(&mut self, input: &[u8]) -> Result<()> {
        self.check_usable()?;
        self.session.push(input)?;
        while let Some(event) = self.session.poll()? {
            self.handle(event)?;
        }
        Ok(())
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return Err(Error::Invalid {
                connection: self.session.connection(),
                offset: self.bytes_received,
                context: "connection already closed after an error".into(),
            });
        }
        Ok(())
    }

    /// Accepts the publish request `request_id`.
    pub fn accept_publish(&mut self, request_id: u32) -> Result<()> {
        self.check_usable()?;
        self.session.accept_publish(request_id)?;
        self.publish = PublishState::Accepted;
        Ok(())
    }

    /// Refuses the publish request `request_id`, telling the client why in a
    /// `NetStream.Publish.*` status. The caller closes the connection after
    /// writing the outbound bytes.
    pub fn reject_publish(&mut self, request_id: u32, code: &str, description: &str) -> Result<()> {
        self.check_usable()?;
        self.session.reject_publish(request_id, code, description)
    }

    /// Bytes to write to the socket, in order.
    pub fn take_outbound(&mut self) -> Vec<Bytes> {
        self.session.take_outbound()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn handle(&mut self, event: SessionEvent) -> Result<()> {
        match event {
            SessionEvent::Connect { app } => {
                if !self.apps.contains(&app) {
                    self.session.reject_connect(
                        "NetConnection.Connect.Rejected",
                        &format!("unknown application {app:?}"),
                    )?;
                    return Err(Error::UnknownApp(app));
                }
                let encoder = self
                    .session
                    .connect_request()
                    .and_then(|c| c.property("flashVer"))
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                tracing::info!(%app, %encoder, "RTMP client connected to app {app:?}");
                // Capabilities negotiated in `connect` (Enhanced RTMP's
                // `fourCcList`, `capsEx`) are answered here.
                self.session.accept_connect(Vec::new())
            }
            SessionEvent::PublishRequested {
                request_id,
                stream_key,
            } => {
                if self.publish != PublishState::None {
                    return Err(Error::Invalid {
                        connection: self.session.connection(),
                        offset: self.bytes_received,
                        context: "second publish on a connection that is already publishing".into(),
                    });
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
            SessionEvent::PublishFinished => {
                if std::mem::replace(&mut self.publish, PublishState::None) != PublishState::None {
                    self.events.push_back(Event::PublishFinished);
                }
                Ok(())
            }
            SessionEvent::Media {
                kind,
                timestamp_ms,
                body,
            } => {
                if self.publish == PublishState::None {
                    return Ok(());
                }
                let event = match kind {
                    MediaKind::Video => self.demux.push_video(timestamp_ms, body)?,
                    MediaKind::Audio => self.demux.push_audio(timestamp_ms, body)?,
                };
                if let Some(event) = event {
                    self.events.push_back(Event::Media(event));
                }
                Ok(())
            }
            SessionEvent::PlayRequested { message_stream_id } => {
                // This server ingests only; viewers use HLS.
                self.session.reject_play(
                    message_stream_id,
                    "NetStream.Play.Failed",
                    "playback over RTMP is not supported; use HLS",
                );
                Ok(())
            }
            SessionEvent::Ignored { type_id } => {
                // RTMP peers ignore message types they do not know; said
                // once per type and connection so it cannot flood the log.
                let (word, bit) = (usize::from(type_id / 64), type_id % 64);
                if self.unknown_types[word] & (1 << bit) == 0 {
                    self.unknown_types[word] |= 1 << bit;
                    tracing::info!(type_id, "ignoring RTMP messages of unknown type {type_id}");
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::Message;
    use crate::rtmp::amf0;
    use crate::testutil::string;
    use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
    use rml_rtmp::sessions::{
        ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
        PublishRequestType,
    };
    use rml_rtmp::time::RtmpTimestamp;

    /// An rml_rtmp client (an independent implementation) wired to a
    /// server `Connection` in memory.
    struct Pair {
        client: ClientSession,
        server: Connection,
        client_events: Vec<ClientSessionEvent>,
        server_events: Vec<Event>,
    }

    impl Pair {
        /// Handshakes (rml_rtmp's client sends a digest C1) and connects
        /// to `app`.
        fn connect(app: &str) -> Result<Pair> {
            let mut server = Connection::new(&IngestConfig::default());
            let mut hs = Handshake::new(PeerType::Client);
            let mut to_server = hs.generate_outbound_p0_and_p1().unwrap();
            let mut leftover = Vec::new();
            for _ in 0..4 {
                server.push(&to_server)?;
                let from_server: Vec<u8> = server.take_outbound().concat();
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
            let mut pending = pair.client.handle_input(&leftover).unwrap();
            for b in pair.server.take_outbound() {
                pending.extend(pair.client.handle_input(&b).unwrap());
            }
            pair.exchange(pending)?;
            let r = pair.client.request_connection(app.to_string()).unwrap();
            pair.exchange(vec![r])?;
            Ok(pair)
        }

        /// Sends client packets to the server and server output back, until quiet.
        fn exchange(&mut self, results: Vec<ClientSessionResult>) -> Result<()> {
            let mut pending = results;
            for _ in 0..16 {
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
                if pending.is_empty() {
                    return Ok(());
                }
            }
            panic!("client and server kept talking");
        }

        /// Requests publishing `key`; returns the request id.
        fn request_publish(&mut self, key: &str) -> u32 {
            let r = self
                .client
                .request_publishing(key.into(), PublishRequestType::Live)
                .unwrap();
            self.exchange(vec![r]).unwrap();
            match self.server_events.pop() {
                Some(Event::PublishRequested { request_id, .. }) => request_id,
                other => panic!("{other:?}"),
            }
        }

        fn accept(&mut self, request_id: u32) {
            self.server.accept_publish(request_id).unwrap();
            self.exchange(Vec::new()).unwrap();
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
        assert!(!p.server.is_publishing());
        p.accept(request_id);
        assert!(p.server.is_publishing());
        assert!(
            p.client_events
                .contains(&ClientSessionEvent::PublishRequestAccepted)
        );

        let asc = Bytes::from_static(&[0xaf, 0x00, 0x11, 0x90]);
        let r = p
            .client
            .publish_audio_data(asc, RtmpTimestamp::new(0), false)
            .unwrap();
        p.exchange(vec![r]).unwrap();
        let frame = Bytes::from_static(&[0xaf, 0x01, 0x21, 0x00, 0x49]);
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
        let request_id = p.request_publish("k");
        p.accept(request_id);
        let mp3 = Bytes::from_static(&[0x2f, 0xff, 0xfb]);
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
        assert!(p.server.push(&[0]).is_err(), "the connection stays closed");
    }

    #[test]
    fn handshake_garbage_is_an_error() {
        let mut c = Connection::with_id(&IngestConfig::default(), 4);
        let err = c.push(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Handshake {
                    connection: 4,
                    offset: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("HTTP"), "{err}");
        // The connection stays closed.
        assert!(c.push(&[3]).is_err());
    }

    #[test]
    fn debug_output_never_shows_the_stream_key() {
        let event = Event::PublishRequested {
            request_id: 1,
            stream_key: "sk-secret".into(),
        };
        assert!(!format!("{event:?}").contains("sk-secret"));
        let m = Message {
            csid: 3,
            message_stream_id: 1,
            type_id: 20,
            timestamp_ms: 0,
            payload: Bytes::from(amf0::encode_all(&[string("publish"), string("sk-secret")])),
            offset: 0,
        };
        assert!(!format!("{m:?}").contains("sk-secret"));
    }
}
