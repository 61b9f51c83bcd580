//! Hostile media from a publisher that got past the stream key: unknown
//! RTMP message types, FLV video tags whose NAL lengths run past their end,
//! an H.264 configuration with a broken SPS, timestamps that jump by hours
//! forwards and back, and audio-only and video-only streams. Each is
//! handled with a log line that says what happened and costs only its own
//! connection: a real publisher streaming at the same time is untouched.

mod common;

use std::time::{Duration, Instant};

use av::flv::{FileReader, TagKind};
use bytes::Bytes;
use common::*;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An RTMP publisher driven by the test (rml_rtmp's client session over a
/// real socket), so it can send what no encoder would.
struct ScriptedPublisher {
    socket: TcpStream,
    session: ClientSession,
}

impl ScriptedPublisher {
    /// Handshakes, connects to `live` and publishes `key`; waits (≤ 5 s)
    /// for `NetStream.Publish.Start`, as encoders do.
    async fn publish(port: u16, key: &str) -> ScriptedPublisher {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut handshake = Handshake::new(PeerType::Client);
        socket
            .write_all(&handshake.generate_outbound_p0_and_p1().unwrap())
            .await
            .unwrap();
        let mut buf = vec![0u8; 8192];
        let leftover = loop {
            let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
                .await
                .expect("handshake answer within 5 s")
                .unwrap();
            assert!(n > 0, "server closed during the handshake");
            match handshake.process_bytes(&buf[..n]).unwrap() {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    socket.write_all(&response_bytes).await.unwrap();
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    socket.write_all(&response_bytes).await.unwrap();
                    break remaining_bytes;
                }
            }
        };
        let (session, results) = ClientSession::new(ClientSessionConfig::new()).unwrap();
        let mut publisher = ScriptedPublisher { socket, session };
        publisher.send_results(results).await;
        let results = publisher.session.handle_input(&leftover).unwrap();
        publisher.send_results(results).await;
        let request = publisher
            .session
            .request_connection("live".to_string())
            .unwrap();
        publisher.send_results(vec![request]).await;
        publisher
            .until(|e| matches!(e, ClientSessionEvent::ConnectionRequestAccepted))
            .await;
        let request = publisher
            .session
            .request_publishing(key.to_string(), PublishRequestType::Live)
            .unwrap();
        publisher.send_results(vec![request]).await;
        publisher
            .until(|e| matches!(e, ClientSessionEvent::PublishRequestAccepted))
            .await;
        publisher
    }

    async fn send_results(&mut self, results: Vec<ClientSessionResult>) {
        for result in results {
            if let ClientSessionResult::OutboundResponse(packet) = result {
                self.socket.write_all(&packet.bytes).await.unwrap();
            }
        }
    }

    /// Reads from the server until the session raises an event matching
    /// `done` (≤ 5 s).
    async fn until(&mut self, done: impl Fn(&ClientSessionEvent) -> bool) {
        let mut buf = vec![0u8; 8192];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let n = tokio::time::timeout_at(deadline, self.socket.read(&mut buf))
                .await
                .expect("the server answered within 5 s")
                .unwrap();
            assert!(n > 0, "the server closed the connection");
            let results = self.session.handle_input(&buf[..n]).unwrap();
            let mut found = false;
            for result in results {
                match result {
                    ClientSessionResult::OutboundResponse(packet) => {
                        self.socket.write_all(&packet.bytes).await.unwrap();
                    }
                    ClientSessionResult::RaisedEvent(event) => found |= done(&event),
                    ClientSessionResult::UnhandleableMessageReceived(_) => {}
                }
            }
            if found {
                return;
            }
        }
    }

    /// Sends one FLV tag body as an RTMP audio or video message. Errors
    /// once the server closed the connection.
    async fn tag(&mut self, kind: TagKind, timestamp_ms: u32, body: Bytes) -> std::io::Result<()> {
        let timestamp = RtmpTimestamp::new(timestamp_ms);
        let packet = match kind {
            TagKind::Video => self.session.publish_video_data(body, timestamp, false),
            TagKind::Audio => self.session.publish_audio_data(body, timestamp, false),
            TagKind::Script => return Ok(()),
        }
        .unwrap();
        let ClientSessionResult::OutboundResponse(packet) = packet else {
            panic!("publishing media produces a packet");
        };
        self.socket.write_all(&packet.bytes).await
    }

    /// Writes raw bytes (a hand-made chunk) to the socket.
    async fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.socket.write_all(bytes).await
    }

    /// Ends the publish (`FCUnpublish`, `deleteStream`) and closes.
    async fn finish(mut self) {
        let results = self.session.stop_publishing().unwrap();
        self.send_results(results).await;
        let _ = self.socket.shutdown().await;
    }

    /// True if the server closes the connection within `timeout`.
    async fn closed_within(&mut self, timeout: Duration) -> bool {
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }
}

/// The tags of a fixture (sequence headers first, then media in order).
fn fixture_tags(name: &str) -> Vec<(TagKind, u32, Bytes)> {
    let data = std::fs::read(fixture(name)).unwrap();
    FileReader::new(Bytes::from(data))
        .unwrap()
        .map(|t| t.unwrap())
        .filter(|t| t.kind != TagKind::Script)
        .map(|t| (t.kind, t.timestamp_ms, t.body))
        .collect()
}

/// A one-message chunk (type 0 header, chunk stream `csid`, message
/// stream id 1) holding `payload` of message type `type_id`; `payload` must
/// fit the default 128-byte chunk size.
fn raw_message(csid: u8, type_id: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() <= 128);
    let len = (payload.len() as u32).to_be_bytes();
    let mut out = vec![csid, 0, 0, 0, len[1], len[2], len[3], type_id, 1, 0, 0, 0];
    out.extend_from_slice(payload);
    out
}

/// Bytes of the server log written since `from`.
fn log_since(server: &Server, from: usize) -> String {
    let log = server.log();
    log[from.min(log.len())..].to_string()
}

/// Waits (≤ 5 s) for a log line containing `needle` after `from`.
async fn wait_for_log(server: &Server, from: usize, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let new = log_since(server, from);
        if let Some(line) = new.lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needle:?}; new log:\n{new}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the channel's recording to be ready and returns its source
/// media playlist URL.
async fn ready_vod_url(server: &Server, channel_id: &str) -> String {
    let vod = wait_for_ready_vod(server, channel_id, Duration::from_secs(20)).await;
    server.url(&format!("/vod/{}/source/vod.m3u8", vod.vod_id))
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_media_costs_only_its_own_connection() {
    let server = Server::start(Database::Sqlite).await;
    let port = server.rtmp_port;
    let steady = server.create_channel_with("steady", &["--ladder", "passthrough-only"]);
    let _steady_publisher = Publisher::ffmpeg(
        "h264_aac_720p30_bframes_60s.flv",
        &format!("{}/{}", steady.rtmp_url, steady.stream_key),
        40,
    );
    let steady_url =
        wait_for_media_url(&server, &steady.playback_id, Duration::from_secs(15)).await;
    let (_, _, _, body) = get(&steady_url).await;
    let steady_before = media_sequence(&String::from_utf8_lossy(&body));
    let tags = fixture_tags("h264_aac_360p30_nobframes.flv");
    let headers: Vec<_> = tags.iter().take_while(|t| t.1 == 0).cloned().collect();
    assert!(
        headers.len() >= 2,
        "sequence headers first: {}",
        headers.len()
    );

    // 1. A video tag whose NAL unit length runs far past its end.
    let ch = server.create_channel_with("bad-nal", &["--ladder", "passthrough-only"]);
    let from = server.log().len();
    let mut p = ScriptedPublisher::publish(port, &ch.stream_key).await;
    for (kind, ts, body) in tags.iter().take(40) {
        p.tag(*kind, *ts, body.clone()).await.unwrap();
    }
    let bad = Bytes::from_static(&[0x27, 0x01, 0, 0, 0, 0xff, 0xff, 0xff, 0xf0, 0x41, 0x9a]);
    let _ = p.tag(TagKind::Video, 2000, bad).await;
    assert!(
        p.closed_within(Duration::from_secs(5)).await,
        "impossible NAL length: connection kept open"
    );
    let line = wait_for_log(&server, from, "closing RTMP connection").await;
    assert!(line.contains("AVC NAL unit lengths"), "{line}");

    // 2. An AVC sequence header whose SPS is garbage.
    let ch = server.create_channel_with("bad-sps", &["--ladder", "passthrough-only"]);
    let from = server.log().len();
    let mut p = ScriptedPublisher::publish(port, &ch.stream_key).await;
    let mut avcc = vec![
        0x17, 0x00, 0, 0, 0, 1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x08,
    ];
    avcc.extend_from_slice(&[0x67, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    avcc.extend_from_slice(&[0x01, 0x00, 0x04, 0x68, 0xee, 0x3c, 0x80]);
    let _ = p.tag(TagKind::Video, 0, Bytes::from(avcc)).await;
    assert!(
        p.closed_within(Duration::from_secs(5)).await,
        "bad SPS: connection kept open"
    );
    let line = wait_for_log(&server, from, "closing RTMP connection").await;
    assert!(line.contains("H.264 SPS"), "{line}");

    // 3. Unknown message types in the middle of a publish, and timestamps
    //    that jump an hour forward, then back by an hour and a half. The
    //    connection stays up, the types are named once in the log, and the
    //    recording's timeline runs on: every segment lasts what its media
    //    lasts, and presentation times only increase.
    let ch = server.create_channel_with("jumpy", &["--ladder", "passthrough-only"]);
    let from = server.log().len();
    let mut p = ScriptedPublisher::publish(port, &ch.stream_key).await;
    let started = Instant::now();
    let media_end = tags.last().unwrap().1.min(9_000);
    for (i, (kind, ts, body)) in tags.iter().enumerate() {
        if *ts > media_end {
            break;
        }
        // The clock starts at 10,000 s, jumps +1 h at 3 s of media, then
        // -1.5 h at 6 s.
        let shifted = match *ts {
            t if t < 3_000 => 10_000_000 + t,
            t if t < 6_000 => 10_000_000 + t + 3_600_000,
            t => 10_000_000 + t - 1_800_000,
        };
        // Paced at twice real time: fast, but a live stream still.
        let due = Duration::from_millis(u64::from(*ts) / 2);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        p.tag(*kind, shifted, body.clone()).await.unwrap();
        if i == 20 {
            p.raw(&raw_message(10, 0x7f, b"what is this"))
                .await
                .unwrap();
            p.raw(&raw_message(11, 0x30, &[0u8; 64])).await.unwrap();
            p.raw(&raw_message(10, 0x7f, b"again")).await.unwrap();
        }
    }
    let line = wait_for_log(&server, from, "unknown type 127").await;
    assert!(line.contains("ignoring RTMP messages"), "{line}");
    wait_for_log(&server, from, "unknown type 48").await;
    assert_eq!(
        log_since(&server, from).matches("unknown type 127").count(),
        1,
        "an unknown type is logged once per connection"
    );
    wait_for_log(&server, from, "publisher timestamps jumped").await;
    assert!(
        !p.closed_within(Duration::from_millis(300)).await,
        "the connection was closed"
    );
    p.finish().await;
    let vod_url = ready_vod_url(&server, &ch.channel_id).await;
    let (_, _, _, body) = get(&vod_url).await;
    let playlist = String::from_utf8_lossy(&body).into_owned();
    let segments = playlist_segments(&playlist);
    let total: f64 = segments.iter().map(|(d, _)| d).sum();
    let expected = f64::from(media_end) / 1000.0;
    assert!(
        (total - expected).abs() < 2.5,
        "recording lasts {total} s for {expected} s of media:\n{playlist}"
    );
    assert!(
        segments.iter().all(|(d, _)| *d <= 4.5),
        "a segment spans a jump:\n{playlist}"
    );
    let dir = tempfile::tempdir().unwrap();
    let ranges = check_segments_decode_in_order(&vod_url, &segments, dir.path()).await;
    for ((_, uri), (min, max)) in segments.iter().zip(ranges) {
        assert!(max - min < 5 * 90_000, "{uri} spans {min}..{max}");
    }

    // 4. Audio-only and video-only publishers (ffmpeg) are packaged and
    //    decode with the one track they have.
    for (slug, args, stream_type) in [
        ("audio-only", "-vn", "audio"),
        ("video-only", "-an", "video"),
    ] {
        let ch = server.create_channel_with(slug, &["--ladder", "passthrough-only"]);
        let url = format!("{}/{}", ch.rtmp_url, ch.stream_key);
        let mut publisher =
            Publisher::ffmpeg_args("h264_aac_360p30_nobframes.flv", &url, 8, &[args]);
        let media_url = wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(15)).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        let segment = loop {
            let (_, _, _, body) = get(&media_url).await;
            let playlist = String::from_utf8_lossy(&body).into_owned();
            if let Some((_, uri)) = playlist_segments(&playlist).first() {
                break uri.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{slug}: no segment listed:\n{playlist}\n{}",
                publisher.report()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let (status, _, _, data) = get(&resolve(&media_url, &segment)).await;
        assert_eq!(status, 200, "{slug}: {segment}");
        let path = dir.path().join(format!("{slug}-{segment}"));
        std::fs::write(&path, &data).unwrap();
        let types = ffprobe(
            &path,
            &["-show_entries", "stream=codec_type", "-of", "csv=p=0"],
        );
        // MPEG-TS lists its streams under the program too: compare the set.
        let mut types: Vec<&str> = types
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types, [stream_type], "{slug}: streams in {segment}");
        let errors = decode_errors(&path);
        assert!(errors.trim().is_empty(), "{slug} {segment}: {errors}");
        let (ok, stderr) = publisher.wait(Duration::from_secs(30));
        assert!(ok, "{slug}: {stderr}");
    }

    // The steady publisher never noticed.
    let (_, _, _, body) = get(&steady_url).await;
    let later = String::from_utf8_lossy(&body).into_owned();
    assert!(!later.contains("#EXT-X-ENDLIST"), "{later}");
    assert!(
        media_sequence(&later) > steady_before,
        "the steady stream stopped moving:\n{later}"
    );
    assert!(
        !server.log().contains("panicked"),
        "something panicked:\n{}",
        server.log()
    );
}
