//! The ABR ladder end to end, on both backends: renditions below the source
//! appear in the master playlist with attributes that match what ffprobe
//! sees, every segment decodes at its rendition's size, and all renditions
//! cut their segments at the same instants. When the publisher leaves,
//! nothing of the transcoder is left behind.
//!
//! The tests of this file run one at a time: a ladder takes most of the 2
//! cores CI has.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

/// Held for a whole test (an async mutex: the tests await while holding it).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// 1.5 frames at 30 fps, in seconds: boundary tolerance.
const FRAME_S: f64 = 1.0 / 30.0;

/// `ATTR=value` pairs of an `#EXT-X-STREAM-INF` line.
fn attributes(line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let rest = line.split_once(':').map_or("", |(_, r)| r);
    let mut chars = rest.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            value = chars.by_ref().take_while(|c| *c != '"').collect();
            chars.next_if_eq(&',');
        } else {
            value.extend(chars.by_ref().take_while(|c| *c != ','));
        }
        out.insert(key.trim().to_string(), value);
    }
    out
}

/// (attributes, uri) of every variant of a master playlist.
fn variants(master: &str) -> Vec<(BTreeMap<String, String>, String)> {
    let mut out = Vec::new();
    let mut lines = master.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("#EXT-X-STREAM-INF:") {
            let uri = lines
                .next()
                .expect("URI after EXT-X-STREAM-INF")
                .trim()
                .to_string();
            out.push((attributes(line), uri));
        }
    }
    out
}

/// Waits for the channel's broadcast to be finalized and returns the URL
/// of its recording's master (via the channel URL, which then points at it).
async fn finalized_master(server: &Server, ch: &ChannelInfo) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, _, body) = get(&ch.hls_url).await;
        let text = String::from_utf8_lossy(&body).into_owned();
        if status == 200 && first_variant(&text).ends_with("/vod.m3u8") {
            return (text, ch.hls_url.clone());
        }
        assert!(
            Instant::now() < deadline,
            "broadcast not finalized:\n{text}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Publishes `fixture` for `seconds`, waits for the end, and checks the
/// recording's renditions; returns their names.
async fn publish_and_check(
    server: &Server,
    ch: &ChannelInfo,
    fixture: &str,
    seconds: u32,
) -> Vec<String> {
    let mut publisher = Publisher::ffmpeg(
        fixture,
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        seconds,
    );
    let (ok, stderr) = publisher.wait(Duration::from_secs(u64::from(seconds) + 30));
    assert!(ok, "publisher failed: {stderr}");
    let (master, master_url) = finalized_master(server, ch).await;
    let dir = tempfile::tempdir().unwrap();
    let mut boundaries: Vec<(String, Vec<f64>)> = Vec::new();
    let mut names = Vec::new();
    for (attrs, uri) in variants(&master) {
        let name = uri
            .split('/')
            .nth(1)
            .expect("{lsid}/{rendition}/vod.m3u8")
            .to_string();
        for key in [
            "BANDWIDTH",
            "AVERAGE-BANDWIDTH",
            "RESOLUTION",
            "FRAME-RATE",
            "CODECS",
        ] {
            assert!(attrs.contains_key(key), "{name}: no {key} in {attrs:?}");
        }
        let (width, height) = attrs["RESOLUTION"]
            .split_once('x')
            .map(|(w, h)| (w.parse::<u32>().unwrap(), h.parse::<u32>().unwrap()))
            .unwrap();
        let codecs = &attrs["CODECS"];
        let avc1 = codecs
            .split(',')
            .find(|c| c.starts_with("avc1."))
            .expect("avc1 codec");
        let profile_idc = u8::from_str_radix(&avc1[5..7], 16).unwrap();
        let level_idc = u8::from_str_radix(&avc1[9..11], 16).unwrap();
        assert!(
            codecs.contains("mp4a.40.2"),
            "{name}: audio codec in {codecs}"
        );
        let bandwidth: u64 = attrs["BANDWIDTH"].parse().unwrap();
        let average: u64 = attrs["AVERAGE-BANDWIDTH"].parse().unwrap();
        assert!(
            average <= bandwidth && average > 100_000,
            "{name}: {average} / {bandwidth}"
        );

        let playlist_url = resolve(&master_url, &uri);
        let (status, _, _, body) = get(&playlist_url).await;
        assert_eq!(status, 200, "{playlist_url}");
        let playlist = String::from_utf8_lossy(&body).into_owned();
        let segments = playlist_segments(&playlist);
        assert!(segments.len() >= 4, "{name}: {playlist}");
        let mut starts = Vec::new();
        let mut total_bits = 0u64;
        let mut total_s = 0.0;
        for (i, (extinf, seg_uri)) in segments.iter().enumerate() {
            let (status, _, _, data) = get(&resolve(&playlist_url, seg_uri)).await;
            assert_eq!(status, 200, "{name}/{seg_uri}");
            total_bits += data.len() as u64 * 8;
            total_s += extinf;
            let path = dir.path().join(format!("{name}-{seg_uri}"));
            std::fs::write(&path, &data).unwrap();
            let errors = decode_errors(&path);
            assert!(errors.trim().is_empty(), "{name}/{seg_uri}: {errors}");
            let probe = ffprobe(
                &path,
                &[
                    "-select_streams",
                    "v:0",
                    "-show_entries",
                    "stream=width,height,profile,level",
                    "-of",
                    "default=nw=1",
                ],
            );
            assert!(
                probe.contains(&format!("width={width}")),
                "{name}/{seg_uri}: {probe}"
            );
            assert!(
                probe.contains(&format!("height={height}")),
                "{name}/{seg_uri}: {probe}"
            );
            assert!(
                probe.contains(&format!("level={level_idc}")),
                "{name}/{seg_uri}: level {level_idc} vs {probe}"
            );
            let profile = match profile_idc {
                66 => "Constrained Baseline",
                77 => "Main",
                100 => "High",
                other => panic!("unexpected profile_idc {other}"),
            };
            assert!(
                probe.contains(&format!("profile={profile}")),
                "{name}/{seg_uri}: {profile} vs {probe}"
            );
            let (first_pts, _) = video_pts_range(&path);
            if i == 0 {
                starts.push(first_pts as f64 / 90_000.0);
            }
            starts.push(first_pts as f64 / 90_000.0);
        }
        starts.remove(0);
        // The measured average matches the announced one.
        let measured = (total_bits as f64 / total_s) as u64;
        assert!(
            (measured as f64 - average as f64).abs() / average as f64 <= 0.05,
            "{name}: AVERAGE-BANDWIDTH {average} vs measured {measured}"
        );
        boundaries.push((name.clone(), starts));
        names.push(name);
    }
    // Every rendition starts its segments at the source's instants.
    let (source_name, source_starts) = &boundaries[0];
    assert_eq!(source_name, "source");
    for (name, starts) in &boundaries[1..] {
        assert_eq!(starts.len(), source_starts.len(), "{name}: segment count");
        for (i, (a, b)) in starts.iter().zip(source_starts).enumerate() {
            assert!(
                (a - b).abs() <= FRAME_S + 0.001,
                "{name}: segment {i} starts at {a} s, source at {b} s"
            );
        }
    }
    names
}

/// Threads of a process whose names GStreamer gives its streaming tasks
/// ("element:src") and ffmpeg children of it.
fn transcoder_leftovers(pid: u32) -> (Vec<String>, Vec<String>) {
    let mut threads = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let comm = comm.trim().to_string();
            if comm.contains(':')
                || comm.starts_with("gst")
                || comm.starts_with("ladder")
                || comm.contains("x264")
            {
                threads.push(comm);
            }
        }
    }
    let mut children = Vec::new();
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            let stat = std::fs::read_to_string(p.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let Some((_, rest)) = stat.rsplit_once(") ") else {
                continue;
            };
            let ppid = rest.split_whitespace().nth(1).unwrap_or("");
            if ppid == pid.to_string() {
                let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
                children.push(comm.trim().to_string());
            }
        }
    }
    (threads, children)
}

async fn ladder_end_to_end(config: &str) {
    let _serial = ONE_AT_A_TIME.lock().await;
    let server = Server::start_with_config(Database::Sqlite, config).await;
    let ch = server.create_channel("ladder");
    let names = publish_and_check(&server, &ch, "h264_aac_720p30_bframes.flv", 12).await;
    // 720p source: the 720p rung is not below it; 480p and 360p are.
    assert_eq!(names, ["source", "480p", "360p"]);
    // A thumbnail of the channel and a poster of the recording.
    let (status, ct, _, jpeg) =
        get(&server.url(&format!("/thumbnails/{}.jpg", ch.playback_id))).await;
    assert_eq!((status, ct.as_str()), (200, "image/jpeg"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("thumb.jpg");
    std::fs::write(&path, &jpeg).unwrap();
    let probe = ffprobe(
        &path,
        &["-show_entries", "stream=codec_name,width", "-of", "csv=p=0"],
    );
    assert_eq!(probe.trim(), "mjpeg,640", "thumbnail: {probe}");
    let db = control::Db::connect(&server.database_url()).await.unwrap();
    let vod = db.list_vods(&ch.channel_id).await.unwrap().remove(0);
    db.close().await;
    let (status, ct, _, _) = get(&server.url(&format!("/vod/{}/poster.jpg", vod.vod_id))).await;
    assert_eq!((status, ct.as_str()), (200, "image/jpeg"));
    // The publisher is gone: the transcoder is too (bounded wait for teardown).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (threads, children) = transcoder_leftovers(server.pid());
        if threads.is_empty() && children.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: threads {threads:?}, children {children:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gstreamer_ladder_end_to_end() {
    ladder_end_to_end("").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ffmpeg_ladder_end_to_end() {
    ladder_end_to_end("[transcode]\nbackend = \"ffmpeg\"\n").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn renditions_follow_the_source_size() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // A source above a ladder gets all of it; one at its bottom gets none.
    let config = r#"
[transcode.ladders]
default = [
  { name = "720p", width = 1280, height = 720, bitrate_kbps = 2800 },
  { name = "480p", width = 854, height = 480, bitrate_kbps = 1400 },
  { name = "360p", width = 640, height = 360, bitrate_kbps = 800 },
]
small = [
  { name = "270p", width = 480, height = 270, bitrate_kbps = 500 },
  { name = "180p", width = 320, height = 180, bitrate_kbps = 250 },
]
passthrough-only = []
"#;
    let server = Server::start_with_config(Database::Sqlite, config).await;
    let above = server.create_channel_with("above", &["--ladder", "small"]);
    let names = publish_and_check(&server, &above, "h264_aac_720p30_bframes.flv", 8).await;
    assert_eq!(names, ["source", "270p", "180p"]);
    let below = server.create_channel("below");
    let names = publish_and_check(&server, &below, "h264_aac_360p30_nobframes.flv", 8).await;
    assert_eq!(
        names,
        ["source"],
        "a 360p source has nothing below it in the default ladder"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_ladder_drops_its_lowest_rendition_not_the_stream() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // No encoder keeps within 1 ms of real time: after its 5 s warm-up the
    // ladder sheds renditions, lowest first, and the source goes on.
    let server =
        Server::start_with_config(Database::Sqlite, "[transcode]\nmax_lag_s = 0.001\n").await;
    let ch = server.create_channel("laggy");
    let mut publisher = Publisher::ffmpeg(
        "h264_aac_720p30_bframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        10,
    );
    let (ok, stderr) = publisher.wait(Duration::from_secs(40));
    assert!(ok, "{stderr}");
    let (master, _) = finalized_master(&server, &ch).await;
    let log = server.log();
    assert!(
        log.contains("transcoder is falling behind real time; dropping its lowest rendition"),
        "{log}"
    );
    assert!(
        log.contains("rendition=360p"),
        "the lowest goes first: {log}"
    );
    let names: Vec<String> = variants(&master)
        .into_iter()
        .map(|(_, uri)| uri.split('/').nth(1).unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        names.first().map(String::as_str),
        Some("source"),
        "{master}"
    );
    assert!(
        !names.contains(&"360p".to_string()),
        "a dropped rendition is not offered: {master}"
    );
}
