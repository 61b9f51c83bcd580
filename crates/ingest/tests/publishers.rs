//! Real RTMP clients against `ingest::Connection` over loopback, without
//! `serve`: ffmpeg and GStreamer's rtmp2sink publish (media reaches the
//! demuxer, ffmpeg unpublishes), and ffmpeg *playing* checks our digest
//! handshake (when it reads a stream it verifies S1's digest and S2's
//! signature, and is then refused playback). Each test skips when its
//! program is missing and gives up after a bounded time.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use av::DemuxEvent;
use ingest::{Connection, Event, IngestConfig};

/// What the server side saw.
#[derive(Debug, Default)]
struct Seen {
    video_configs: usize,
    audio_configs: usize,
    units: usize,
    keys: Vec<String>,
    finished: bool,
    error: Option<String>,
}

fn installed(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        eprintln!("{program} is not installed: skipping");
    }
    found
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../av/testdata/ffmpeg_320x180_bframes_aac.flv")
}

/// Accepts one connection on `listener` (until `deadline`) and drives a
/// `Connection` with it, accepting publishes, until the client leaves,
/// unpublishes, the connection fails or the deadline passes.
fn serve_one(listener: &TcpListener, deadline: Instant) -> Seen {
    let mut seen = Seen::default();
    listener.set_nonblocking(true).unwrap();
    let mut socket: TcpStream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    seen.error = Some("no client connected".into());
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    socket.set_nonblocking(false).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut conn = Connection::with_id(&IngestConfig::default(), 7);
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < deadline && !seen.finished {
        let n = match socket.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => break,
        };
        if let Err(e) = conn.push(&buf[..n]) {
            seen.error = Some(e.to_string());
        }
        while let Some(event) = conn.poll_event() {
            match event {
                Event::PublishRequested {
                    request_id,
                    stream_key,
                } => {
                    seen.keys.push(stream_key);
                    conn.accept_publish(request_id).unwrap();
                }
                Event::Media(DemuxEvent::VideoConfig(_)) => seen.video_configs += 1,
                Event::Media(DemuxEvent::AudioConfig(_)) => seen.audio_configs += 1,
                Event::Media(DemuxEvent::Unit(_)) => seen.units += 1,
                Event::PublishFinished => seen.finished = true,
            }
        }
        for bytes in conn.take_outbound() {
            if socket.write_all(&bytes).is_err() {
                return seen;
            }
        }
        if seen.error.is_some() {
            break;
        }
    }
    seen
}

/// Runs `client` against a fresh listener; returns what the server saw,
/// the client's exit success and its stderr.
fn run(client: impl FnOnce(u16) -> Command, limit: Duration) -> (Seen, bool, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let deadline = Instant::now() + limit;
    let mut child: Child = client(port)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client starts");
    let seen = serve_one(&listener, deadline);
    // The client ends on its own once the server is done; else it is killed.
    let mut ok = false;
    while Instant::now() < deadline + Duration::from_secs(5) {
        if let Some(status) = child.try_wait().unwrap() {
            ok = status.success();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    (seen, ok, stderr)
}

#[test]
fn ffmpeg_publishes_and_unpublishes() {
    if !installed("ffmpeg") {
        return;
    }
    let (seen, ok, stderr) = run(
        |port| {
            let mut cmd = Command::new("ffmpeg");
            cmd.args([
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "warning",
                "-re",
                "-i",
            ])
            .arg(fixture())
            .args(["-c", "copy", "-f", "flv"])
            .arg(format!("rtmp://127.0.0.1:{port}/live/ffmpeg-key?x=1"));
            cmd
        },
        Duration::from_secs(20),
    );
    assert_eq!(seen.error, None, "{stderr}");
    assert_eq!(
        seen.keys,
        ["ffmpeg-key"],
        "the query is not part of the key"
    );
    assert_eq!((seen.video_configs, seen.audio_configs), (1, 1), "{seen:?}");
    // 2 s: 60 video frames and ~94 AAC frames.
    assert!(seen.units >= 140, "{seen:?}");
    assert!(seen.finished, "ffmpeg unpublishes: {seen:?}\n{stderr}");
    assert!(ok, "ffmpeg failed: {stderr}");
}

#[test]
fn gstreamer_rtmp2sink_publishes() {
    if !installed("gst-launch-1.0") {
        return;
    }
    let (seen, _, stderr) = run(
        |port| {
            let pipeline = format!(
                "filesrc location={} ! flvdemux name=d \
                 d.video ! queue ! h264parse ! flvmux name=m streamable=true \
                 ! rtmp2sink location=rtmp://127.0.0.1:{port}/live/gst-key \
                 d.audio ! queue ! aacparse ! m.",
                fixture().display()
            );
            let mut cmd = Command::new("gst-launch-1.0");
            cmd.arg("-q").args(pipeline.split_whitespace());
            cmd
        },
        Duration::from_secs(20),
    );
    assert_eq!(seen.error, None, "{stderr}");
    assert_eq!(seen.keys, ["gst-key"]);
    assert_eq!((seen.video_configs, seen.audio_configs), (1, 1), "{seen:?}");
    assert!(seen.units >= 140, "{seen:?}\n{stderr}");
}

#[test]
fn ffmpeg_checks_our_digest_handshake_when_playing() {
    if !installed("ffmpeg") {
        return;
    }
    let (seen, ok, stderr) = run(
        |port| {
            let mut cmd = Command::new("ffmpeg");
            cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
                .arg(format!("rtmp://127.0.0.1:{port}/live/anything"))
                .args(["-t", "1", "-f", "null", "-"]);
            cmd
        },
        Duration::from_secs(10),
    );
    assert!(!ok, "playback must be refused");
    assert!(
        !stderr.contains("validating failed") && !stderr.contains("Signature mismatch"),
        "ffmpeg refused our handshake: {stderr}"
    );
    assert!(
        stderr.contains("playback over RTMP is not supported"),
        "ffmpeg got past the handshake and connect to our refusal: {stderr}\n{seen:?}"
    );
}
