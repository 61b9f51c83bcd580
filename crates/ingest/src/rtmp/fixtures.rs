//! Captured publishes read back (see `testdata/README.md`): ffmpeg and
//! GStreamer's rtmp2sink publishing `av`'s 320x180 fixture, handshake
//! included, as our server answered them.

use av::DemuxEvent;
use av::flv::{FileReader, TagKind};
use bytes::Bytes;

use super::chunk_reader::{ChunkLimits, ChunkReader};
use super::handshake::{DigestScheme, PACKET_LEN, client_digest};
use super::message::Command;
use super::{Message, message_type};
use crate::{Connection, Event, IngestConfig};

const FFMPEG: &[u8] = include_bytes!("testdata/ffmpeg_publish_320x180.bin");
const GSTREAMER: &[u8] = include_bytes!("testdata/gstreamer_publish_320x180.bin");
/// What both published.
const SOURCE: &[u8] = include_bytes!("../../../av/testdata/ffmpeg_320x180_bframes_aac.flv");
/// C0, C1 and C2.
const HANDSHAKE_LEN: usize = 1 + 2 * PACKET_LEN;

/// (csid, message stream, type, timestamp, payload) of each message.
type Summary = Vec<(u32, u32, u8, u32, Bytes)>;

fn read(pieces: impl IntoIterator<Item = impl AsRef<[u8]>>) -> Vec<Message> {
    let limits = ChunkLimits {
        max_message_bytes: 8 << 20,
        max_chunk_streams: 64,
    };
    let mut reader = ChunkReader::new(limits, HANDSHAKE_LEN as u64);
    let mut out = Vec::new();
    for piece in pieces {
        reader.push(piece.as_ref());
        while let Some(m) = reader.pull().unwrap() {
            out.push(m);
        }
    }
    out
}

fn summary(messages: Vec<Message>) -> Summary {
    messages
        .into_iter()
        .map(|m| {
            (
                m.csid,
                m.message_stream_id,
                m.type_id,
                m.timestamp_ms,
                m.payload,
            )
        })
        .collect()
}

fn commands(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.type_id == message_type::AMF0_COMMAND)
        .map(|m| Command::parse(&m.payload).unwrap().name)
        .collect()
}

#[test]
fn encoders_send_the_commands_we_answer() {
    let ffmpeg = read([&FFMPEG[HANDSHAKE_LEN..]]);
    assert_eq!(
        commands(&ffmpeg),
        [
            "connect",
            "_checkbw",
            "releaseStream",
            "FCPublish",
            "createStream",
            "publish",
            "FCUnpublish",
            "deleteStream"
        ]
    );
    let gstreamer = read([&GSTREAMER[HANDSHAKE_LEN..]]);
    assert_eq!(
        commands(&gstreamer),
        [
            "connect",
            "releaseStream",
            "FCPublish",
            "createStream",
            "publish",
            "FCUnpublish",
            "deleteStream"
        ]
    );
    // ffmpeg's C1 carries a digest (so the digest handshake is what
    // ffmpeg gets); GStreamer's is plain.
    let c1 =
        |capture: &[u8]| -> [u8; PACKET_LEN] { capture[1..1 + PACKET_LEN].try_into().unwrap() };
    assert_eq!(
        client_digest(&c1(FFMPEG)).map(|d| d.0),
        Some(DigestScheme::At8)
    );
    assert_eq!(client_digest(&c1(GSTREAMER)), None);
}

#[test]
fn ffmpeg_sends_the_flv_tags_it_was_given() {
    // `-c copy`: each audio/video message is the source file's tag body,
    // at its timestamp, in order.
    let sent: Vec<(u8, u32, Bytes)> = read([&FFMPEG[HANDSHAKE_LEN..]])
        .into_iter()
        .filter(|m| matches!(m.type_id, message_type::AUDIO | message_type::VIDEO))
        .map(|m| (m.type_id, m.timestamp_ms, m.payload))
        .collect();
    let source: Vec<(u8, u32, Bytes)> = FileReader::new(Bytes::from_static(SOURCE))
        .unwrap()
        .map(|t| t.unwrap())
        .filter(|t| t.kind != TagKind::Script)
        .map(|t| {
            let type_id = match t.kind {
                TagKind::Audio => message_type::AUDIO,
                _ => message_type::VIDEO,
            };
            (type_id, t.timestamp_ms, t.body)
        })
        .collect();
    assert_eq!(sent.len(), source.len());
    assert!(sent == source, "the media differs from the source file");
}

#[test]
fn captures_read_the_same_however_they_are_split() {
    for capture in [FFMPEG, GSTREAMER] {
        let stream = &capture[HANDSHAKE_LEN..];
        let whole = summary(read([stream]));
        for size in [1, 2, 3, 7, 127, 128, 129, 1000, 4096, 4097, 65536] {
            assert!(
                summary(read(stream.chunks(size))) == whole,
                "reads of {size}"
            );
        }
        // Every two-piece split of the start (connect to the first frames).
        let head = &stream[..6000];
        let whole = summary(read([head]));
        for at in 0..=head.len() {
            let split = summary(read([&head[..at], &head[at..]]));
            assert!(split == whole, "split at {at}");
        }
    }
}

/// What a `Connection` made of a capture read in pieces of `size`.
#[derive(Debug, Default, PartialEq)]
struct Outcome {
    keys: Vec<String>,
    video_configs: usize,
    audio_configs: usize,
    units: usize,
    finished: bool,
}

/// Where the message after `publish` starts in `capture`: the encoder
/// waited for our answer there.
fn after_publish(capture: &[u8]) -> usize {
    let messages = read([&capture[HANDSHAKE_LEN..]]);
    let publish = messages
        .iter()
        .position(|m| {
            m.type_id == message_type::AMF0_COMMAND
                && Command::parse(&m.payload).is_ok_and(|c| c.name == "publish")
        })
        .unwrap();
    messages[publish + 1].offset as usize
}

fn replay(capture: &[u8], size: usize) -> Outcome {
    let mut conn = Connection::new(&IngestConfig::default());
    let mut outcome = Outcome::default();
    // Reads never span the wait for NetStream.Publish.Start: media read
    // with the `publish` it followed would come before the answer, and
    // be dropped.
    let (before, after) = capture.split_at(after_publish(capture));
    for piece in before.chunks(size).chain(after.chunks(size)) {
        conn.push(piece).unwrap();
        drop(conn.take_outbound());
        while let Some(event) = conn.poll_event() {
            match event {
                Event::PublishRequested {
                    request_id,
                    stream_key,
                } => {
                    outcome.keys.push(stream_key);
                    conn.accept_publish(request_id).unwrap();
                }
                Event::Media(DemuxEvent::VideoConfig(_)) => outcome.video_configs += 1,
                Event::Media(DemuxEvent::AudioConfig(_)) => outcome.audio_configs += 1,
                Event::Media(DemuxEvent::Unit(_)) => outcome.units += 1,
                Event::PublishFinished => outcome.finished = true,
            }
        }
    }
    outcome
}

#[test]
fn captures_replay_through_a_connection() {
    // The media is 62 video frames and 93 AAC frames. ffmpeg unpublishes
    // with deleteStream(1); GStreamer 1.22 names the stream key in
    // deleteStream instead of the stream id, which is not an unpublish.
    for (capture, finished) in [(FFMPEG, true), (GSTREAMER, false)] {
        let want = Outcome {
            keys: vec!["fixture-key".into()],
            video_configs: 1,
            audio_configs: 1,
            units: 155,
            finished,
        };
        for size in [1, 100, 1400, 65536] {
            assert_eq!(replay(capture, size), want, "reads of {size}");
        }
    }
}
