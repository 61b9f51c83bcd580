//! Entry points of the `rtmp_session` and `rtmp_chunks` fuzz targets in
//! `fuzz/` (and of the replay of their committed corpus in this crate's
//! tests), plus the generator of `rtmp_session`'s seed inputs. Not part of
//! the API.
//!
//! Both targets read the same input: the first byte sets how the rest is
//! split into reads (`(b + 1) * 16` bytes each), as TCP would split it;
//! the rest is what a client sends after the handshake.

use bytes::Bytes;

use crate::rtmp::amf0::{self, Value};
use crate::rtmp::chunk_reader::{ChunkLimits, ChunkReader, Invalid};
use crate::rtmp::message_type;
use crate::testutil::{TestClient, string};
use crate::{Connection, Event, IngestConfig};

fn read_size(split: u8) -> usize {
    (usize::from(split) + 1) * 16
}

/// `rtmp_session`: the bytes a client sends after the handshake, through the
/// whole ingest protocol core: chunk reader, AMF0 commands, session, and the
/// FLV tag demuxer. Every publish request is accepted so that media reaches
/// the demuxer. Returns how many media events came out (for the corpus
/// tests: a seed must reach the demuxer).
pub fn rtmp_session(data: &[u8]) -> usize {
    let mut media = 0;
    let Some((&split, stream)) = data.split_first() else {
        return media;
    };
    let mut server = Connection::new(&IngestConfig::default());
    if crate::testutil::handshake(&mut server, 0).is_none() {
        panic!("a well-formed handshake must complete");
    }
    for read in stream.chunks(read_size(split)) {
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

/// What a reader made of a chunk stream: its messages (csid, message
/// stream, type, timestamp, payload) and the error it stopped at.
type Reading = (Vec<(u32, u32, u8, u32, Bytes)>, Option<Invalid>);

fn read_chunks(pieces: impl Iterator<Item = impl AsRef<[u8]>>, total: usize) -> Reading {
    let limits = ChunkLimits {
        max_message_bytes: IngestConfig::default().max_message_bytes,
        max_chunk_streams: 64,
    };
    let mut reader = ChunkReader::new(limits, 0);
    let mut messages = Vec::new();
    for piece in pieces {
        reader.push(piece.as_ref());
        loop {
            match reader.pull() {
                Ok(Some(m)) => {
                    assert!(m.payload.len() <= limits.max_message_bytes as usize);
                    assert!((m.offset as usize) < total, "offset inside the input");
                    messages.push((
                        m.csid,
                        m.message_stream_id,
                        m.type_id,
                        m.timestamp_ms,
                        m.payload,
                    ));
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(e.offset as usize <= total, "offset inside the input");
                    return (messages, Some(e));
                }
            }
        }
        assert!(reader.buffered() <= total, "holds only what it was given");
    }
    (messages, None)
}

/// `rtmp_chunks`: the chunk reader alone. The input is read once whole and
/// once split into reads; both must give the same messages and stop at the
/// same error (a reader that depends on how bytes arrive is wrong).
/// Returns how many messages came out.
pub fn rtmp_chunks(data: &[u8]) -> usize {
    let Some((&split, stream)) = data.split_first() else {
        return 0;
    };
    let whole = read_chunks(std::iter::once(stream), stream.len());
    let split = read_chunks(stream.chunks(read_size(split)), stream.len());
    assert_eq!(whole, split, "the split of the input changed what was read");
    whole.0.len()
}

/// A seed for `rtmp_session`: what an ffmpeg-like client sends after the
/// handshake to connect to `live`, publish `key`, send `@setDataFrame`,
/// the FLV tags `(is_video, timestamp_ms, body)` and unpublish, produced by
/// a client of our chunk writer and AMF0 encoder talking to a real
/// [`Connection`] (whose answers it reads). Prefixed with the read-size
/// byte. `None` if the exchange fails.
pub fn publish_seed(key: &str, tags: &[(bool, u32, Bytes)], read_size_byte: u8) -> Option<Vec<u8>> {
    let mut server = Connection::new(&IngestConfig::default());
    let mut client = TestClient::handshaken(&mut server)?;
    client.accept_publishes = true;
    client.writer.set_chunk_size(4096);
    let answers = client.connect(&mut server).ok()?;
    answers
        .iter()
        .find(|c| c.name == "_result" && c.transaction_id == 1.0)?;
    let stream = client.publish(&mut server, key).ok()??;
    client.commands().iter().find(|c| {
        c.name == "onStatus"
            && c.arguments.first().and_then(|i| i.get("code"))
                == Some(&string("NetStream.Publish.Start"))
    })?;
    let metadata = amf0::encode_all(&[
        string("@setDataFrame"),
        string("onMetaData"),
        Value::EcmaArray(vec![("duration".into(), Value::Number(0.0))]),
    ]);
    client
        .writer
        .write(4, stream, message_type::AMF0_DATA, 0, &metadata);
    for (is_video, timestamp_ms, body) in tags {
        let (csid, type_id) = match is_video {
            true => (6, message_type::VIDEO),
            false => (4, message_type::AUDIO),
        };
        client
            .writer
            .write(csid, stream, type_id, *timestamp_ms, body);
        client.send(&mut server).ok()?;
    }
    client.command(0, "FCUnpublish", 6.0, &[Value::Null, string(key)]);
    let id = Value::Number(f64::from(stream));
    client.command(0, "deleteStream", 7.0, &[Value::Null, id]);
    client.send(&mut server).ok()?;
    client
        .events
        .contains(&Event::PublishFinished)
        .then_some(())?;
    let mut seed = vec![read_size_byte];
    seed.extend_from_slice(&client.sent);
    Some(seed)
}
