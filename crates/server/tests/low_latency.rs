//! Low-Latency HLS end to end: a `low` channel publishes fMP4 parts; a
//! client following the playlist with blocking reloads (as hls.js and
//! AVPlayer do) receives every part in order, the parts of each segment add
//! up to the segment byte for byte, ffmpeg decodes init + parts, and each
//! part is listed within 50 ms of its last frame arriving at ingest (p95).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

/// `(msn, part)` of a part URI `{msn}.{part}.m4s`.
fn part_of(uri: &str) -> Option<(u64, u32)> {
    let (msn, part) = uri.strip_suffix(".m4s")?.split_once('.')?;
    Some((msn.parse().ok()?, part.parse().ok()?))
}

/// The value of `NAME="..."` or `NAME=...` in a tag line.
fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next()
    } else {
        rest.split(',').next()
    }
}

/// `(media sequence number, part index)`.
type PartId = (u64, u32);

/// Parts listed in a playlist, and the preload hint.
fn parts(playlist: &str) -> (Vec<PartId>, Option<PartId>) {
    let mut listed = Vec::new();
    let mut hint = None;
    for line in playlist.lines() {
        if line.starts_with("#EXT-X-PART:") {
            listed.push(part_of(attr(line, "URI").expect("URI")).expect("part URI"));
        } else if line.starts_with("#EXT-X-PRELOAD-HINT:") {
            hint = attr(line, "URI").and_then(part_of);
        }
    }
    (listed, hint)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread")]
async fn blocking_reload_client_receives_every_part_quickly() {
    let server = Server::start(Database::Sqlite).await;
    let ch = server.create_channel_with("lowlat", &["--latency", "low"]);
    let mut publisher = Publisher::ffmpeg(
        "h264_aac_720p30_bframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        12,
    );
    let media_url = wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(5)).await;
    let client = reqwest::Client::new();

    let (_, _, _, body) = get(&media_url).await;
    let first = String::from_utf8(body.to_vec()).unwrap();
    for tag in [
        "#EXT-X-VERSION:9",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES",
        "PART-HOLD-BACK=",
        "CAN-SKIP-UNTIL=",
        "#EXT-X-PART-INF:PART-TARGET=",
        "#EXT-X-MAP:URI=\"init.mp4\"",
        "#EXT-X-PRELOAD-HINT:TYPE=PART",
    ] {
        assert!(first.contains(tag), "missing {tag}:\n{first}");
    }
    let (_, mut next) = parts(&first);

    // Follow the live edge: ask for the hinted part, fetch what is new.
    let mut fetched: BTreeMap<(u64, u32), bytes::Bytes> = BTreeMap::new();
    let mut ages_ms = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last_playlist = first;
    while let Some((msn, part)) = next {
        assert!(Instant::now() < deadline, "stream did not end in time");
        let asked = Instant::now();
        let resp = client
            .get(format!("{media_url}?_HLS_msn={msn}&_HLS_part={part}"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let waited = asked.elapsed();
        assert_eq!(resp.status(), 200, "blocking reload for {msn}.{part}");
        let age = resp
            .headers()
            .get("x-aethex-edge-age-ms")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let text = resp.text().await.unwrap();
        let (listed, hint) = parts(&text);
        let segment_listed = playlist_segments(&text)
            .iter()
            .any(|(_, uri)| uri == &format!("{msn}.m4s"));
        if !text.contains("#EXT-X-ENDLIST") {
            // The hinted part may never come: if the segment ended after its
            // last part, the reload is answered by the segment (§6.2.5.2).
            assert!(
                listed.contains(&(msn, part)) || segment_listed,
                "neither part {msn}.{part} nor segment {msn} listed after blocking:\n{text}"
            );
            // A request that really waited, and was answered by the part it
            // asked for, measures how soon that part was listed.
            if listed.contains(&(msn, part))
                && waited > Duration::from_millis(20)
                && let Some(age) = age
            {
                ages_ms.push(age);
            }
        }
        for p in listed {
            if fetched.contains_key(&p) || p < fetched.keys().next().copied().unwrap_or(p) {
                continue;
            }
            let url = resolve(&media_url, &format!("{}.{}.m4s", p.0, p.1));
            let (status, ct, _, data) = get(&url).await;
            assert_eq!(status, 200, "{url}");
            assert_eq!(ct, "video/iso.segment");
            fetched.insert(p, data);
        }
        last_playlist = text;
        next = hint;
    }
    let (ok, stderr) = publisher.wait(Duration::from_secs(20));
    assert!(ok, "{stderr}");

    // Every part in order: consecutive indexes within a segment, segments consecutive.
    let keys: Vec<(u64, u32)> = fetched.keys().copied().collect();
    assert!(keys.len() > 15, "only {} parts", keys.len());
    for w in keys.windows(2) {
        let ((m0, p0), (m1, p1)) = (w[0], w[1]);
        assert!(
            (m1 == m0 && p1 == p0 + 1) || (m1 == m0 + 1 && p1 == 0),
            "part {m1}.{p1} follows {m0}.{p0}"
        );
    }

    // The parts of each complete segment are the segment, byte for byte.
    // (Once ended the parts are gone from the hot cache, so compare with
    // the stored segments.)
    let first_msn = keys[0].0 + u64::from(keys[0].1 != 0);
    let mut checked = 0;
    for (_, uri) in playlist_segments(&last_playlist) {
        let msn: u64 = uri.trim_end_matches(".m4s").parse().unwrap();
        if msn < first_msn {
            continue;
        }
        let (status, _, _, segment) = get(&resolve(&media_url, &uri)).await;
        assert_eq!(status, 200, "{uri}");
        let joined: Vec<u8> = fetched
            .range((msn, 0)..(msn + 1, 0))
            .flat_map(|(_, d)| d.to_vec())
            .collect();
        if joined.is_empty() {
            continue;
        }
        assert_eq!(joined.len(), segment.len(), "segment {msn}");
        assert!(
            joined == segment.to_vec(),
            "segment {msn} differs from its parts"
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} segments compared");

    // Once finalized, the stored live playlist (what a CDN or an origin
    // without the session serves) is a standard one: no parts, which exist
    // only in this origin's memory.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, _, master) = get(&ch.hls_url).await;
        if first_variant(&String::from_utf8_lossy(&master)).ends_with("/vod.m3u8") {
            break;
        }
        assert!(Instant::now() < deadline, "broadcast not finalized");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, _, _, stored) = get(&media_url).await;
    let stored = String::from_utf8_lossy(&stored);
    assert!(stored.contains("#EXT-X-ENDLIST"), "{stored}");
    assert!(!stored.contains("#EXT-X-PART"), "{stored}");

    // ffmpeg decodes init + every part received.
    let (status, _, _, init) = get(&resolve(&media_url, "init.mp4")).await;
    assert_eq!(status, 200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parts.mp4");
    let mut all = init.to_vec();
    for data in fetched.values() {
        all.extend_from_slice(data);
    }
    std::fs::write(&path, &all).unwrap();
    let errors = decode_errors(&path);
    assert!(errors.trim().is_empty(), "init + parts: {errors}");

    // Parts were listed within 50 ms of their last frame arriving (p95).
    ages_ms.sort_unstable();
    assert!(ages_ms.len() >= 10, "only {} measured parts", ages_ms.len());
    let p50 = percentile(&ages_ms, 0.5);
    let p95 = percentile(&ages_ms, 0.95);
    eprintln!(
        "LL-HLS part availability after last frame at ingest: {} parts, p50 {p50} ms, p95 {p95} ms, max {} ms",
        ages_ms.len(),
        ages_ms[ages_ms.len() - 1]
    );
    assert!(p95 <= 50, "p95 {p95} ms > 50 ms: {ages_ms:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn blocking_reload_errors_follow_the_spec() {
    let server = Server::start(Database::Sqlite).await;
    let ch = server.create_channel_with("lowerr", &["--latency", "low"]);
    let mut publisher = Publisher::ffmpeg(
        "h264_aac_360p30_nobframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        8,
    );
    let media_url = wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(5)).await;
    let (_, _, _, body) = get(&media_url).await;
    let text = String::from_utf8(body.to_vec()).unwrap();
    let msn = media_sequence(&text) + playlist_segments(&text).len() as u64;

    // More than two segments ahead: 400.
    let (status, ct, _, _) = get(&format!("{media_url}?_HLS_msn={}", msn + 5)).await;
    assert_eq!(status, 400);
    assert!(ct.starts_with("application/json"));
    // _HLS_part without _HLS_msn: 400.
    let (status, _, _, _) = get(&format!("{media_url}?_HLS_part=1")).await;
    assert_eq!(status, 400);
    // A delta update skips old segments once the playlist is long enough;
    // before that it is the full playlist. Either way it is a valid playlist.
    let (status, _, _, delta) = get(&format!("{media_url}?_HLS_skip=YES")).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&delta).starts_with("#EXTM3U"));
    // The next segment arrives within the block timeout.
    let started = Instant::now();
    let (status, _, _, body) = get(&format!("{media_url}?_HLS_msn={msn}")).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(6));
    let after = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        playlist_segments(&after)
            .iter()
            .any(|(_, uri)| uri == &format!("{msn}.m4s")),
        "segment {msn} not listed:\n{after}"
    );
    let (ok, stderr) = publisher.wait(Duration::from_secs(20));
    assert!(ok, "{stderr}");
}
