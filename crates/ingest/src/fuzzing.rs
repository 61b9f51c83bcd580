//! Entry point of the `rtmp_session` fuzz target in `fuzz/` (and of the
//! replay of its committed corpus in this crate's tests), plus the generator
//! of its seed inputs. Not part of the API.

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;

use crate::{Connection, Event, IngestConfig};

/// Completes a real RTMP handshake with `server` (an rml_rtmp client), so
/// fuzz inputs start at the chunk stream. Returns the bytes the server sent
/// after its handshake (for a client session to read), or `None` if the
/// server refused it (it never does for a well-formed client).
fn handshake(server: &mut Connection) -> Option<Vec<u8>> {
    let mut client = Handshake::new(PeerType::Client);
    let mut to_server = client.generate_outbound_p0_and_p1().ok()?;
    for _ in 0..4 {
        server.push(&to_server).ok()?;
        let from_server: Vec<u8> = server.take_outbound().concat();
        match client.process_bytes(&from_server).ok()? {
            HandshakeProcessResult::InProgress { response_bytes } => to_server = response_bytes,
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                server.push(&response_bytes).ok()?;
                return server.is_established().then_some(remaining_bytes);
            }
        }
    }
    None
}

/// `rtmp_session`: the bytes a client sends after the handshake, through the
/// whole ingest protocol core: chunk guard, rml_rtmp's chunk and AMF0
/// parsing and session, and the FLV tag demuxer. Every publish request is
/// accepted so that media reaches the demuxer.
///
/// The first input byte sets how the rest is split into reads
/// (`(b + 1) * 16` bytes each), as TCP would split it; the rest is the
/// client's chunk stream. Returns how many media events came out (for the
/// corpus tests: a seed must reach the demuxer).
pub fn rtmp_session(data: &[u8]) -> usize {
    let mut media = 0;
    let Some((&split, stream)) = data.split_first() else {
        return media;
    };
    let mut server = Connection::new(&IngestConfig::default());
    if handshake(&mut server).is_none() {
        panic!("a well-formed handshake must complete");
    }
    let read_size = (usize::from(split) + 1) * 16;
    for read in stream.chunks(read_size) {
        if server.push(read).is_err() {
            // The connection is closed: nothing more is read from it.
            assert!(
                server.push(b"x").is_err(),
                "a failed connection stays closed"
            );
            return media;
        }
        drop(server.take_outbound());
        while let Some(event) = server.poll_event() {
            match event {
                Event::PublishRequested { request_id, .. } => {
                    if server.accept_publish(request_id).is_err() {
                        return media;
                    }
                }
                Event::Media(_) => media += 1,
                Event::PublishFinished => {}
            }
        }
    }
    media
}

/// A seed for `rtmp_session`: what ffmpeg-like client sends after the
/// handshake to connect to `live`, publish `key`, send the FLV tags
/// `(is_video, timestamp_ms, body)` and unpublish, produced by an rml_rtmp
/// client talking to a real [`Connection`]. Prefixed with the read-size
/// byte. `None` if the exchange fails.
pub fn publish_seed(key: &str, tags: &[(bool, u32, Bytes)], read_size_byte: u8) -> Option<Vec<u8>> {
    let mut server = Connection::new(&IngestConfig::default());
    let leftover = handshake(&mut server)?;
    let (mut client, results) = ClientSession::new(ClientSessionConfig::new()).ok()?;
    let mut seed = vec![read_size_byte];
    let mut exchange = |client: &mut ClientSession,
                        server: &mut Connection,
                        results: Vec<ClientSessionResult>|
     -> Option<()> {
        let mut pending = results;
        for _ in 0..16 {
            if pending.is_empty() {
                return Some(());
            }
            for result in std::mem::take(&mut pending) {
                if let ClientSessionResult::OutboundResponse(packet) = result {
                    seed.extend_from_slice(&packet.bytes);
                    server.push(&packet.bytes).ok()?;
                }
            }
            while let Some(event) = server.poll_event() {
                if let Event::PublishRequested { request_id, .. } = event {
                    server.accept_publish(request_id).ok()?;
                }
            }
            for bytes in server.take_outbound() {
                pending.extend(client.handle_input(&bytes).ok()?);
            }
        }
        None
    };
    exchange(&mut client, &mut server, results)?;
    let results = client.handle_input(&leftover).ok()?;
    exchange(&mut client, &mut server, results)?;
    let request = client.request_connection("live".to_string()).ok()?;
    exchange(&mut client, &mut server, vec![request])?;
    let request = client
        .request_publishing(key.to_string(), PublishRequestType::Live)
        .ok()?;
    exchange(&mut client, &mut server, vec![request])?;
    for (is_video, timestamp_ms, body) in tags {
        let timestamp = RtmpTimestamp::new(*timestamp_ms);
        let packet = if *is_video {
            client.publish_video_data(body.clone(), timestamp, false)
        } else {
            client.publish_audio_data(body.clone(), timestamp, false)
        }
        .ok()?;
        exchange(&mut client, &mut server, vec![packet])?;
    }
    let results = client.stop_publishing().ok()?;
    exchange(&mut client, &mut server, results)?;
    Some(seed)
}
