//! Prometheus `/metrics` during a real publish: the stream's series are
//! there with plausible values (bitrate within 20% of the fixture's, 30
//! fps, 2 s keyframes), viewers are counted from playlist requests, RTMP
//! refusals are counted by reason, HTTP requests by route.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;

/// `name{labels} value` lines of a Prometheus text exposition, keyed by
/// `name{labels}` exactly as printed.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The value of the one series named `name` whose labels contain every
/// `key="value"` of `labels`.
fn value(samples: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .filter(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series.as_str(), ""));
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| *v)
        .next()
}

async fn scrape(url: &str) -> HashMap<String, f64> {
    let resp = reqwest::get(url).await.expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
    samples(&resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_during_a_live_publish() {
    let server = Server::start(Database::Sqlite).await;
    let ch = server.create_channel_with("metrics", &["--ladder", "passthrough-only"]);
    let metrics_url = server.url("/metrics");

    // A wrong key first: counted as refused_bad_key.
    let mut bad = Publisher::ffmpeg(
        "h264_aac_720p30_bframes.flv",
        &format!("{}/live_not_a_key", ch.rtmp_url),
        3,
    );
    let _ = bad.wait(Duration::from_secs(20));

    let _publisher = Publisher::ffmpeg(
        "h264_aac_720p30_bframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        16,
    );
    let media_url = wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(15)).await;

    // Two "players" reload the live playlist; their user agents differ.
    // The first also makes up X-Forwarded-For addresses: without
    // `trust_forwarded_for` those are not who it is, so it stays one viewer.
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut forged = 0;
    while Instant::now() < deadline {
        for ua in ["player-one", "player-two"] {
            let r = client
                .get(&media_url)
                .header("user-agent", ua)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        forged += 1;
        let r = client
            .get(&media_url)
            .header("user-agent", "player-one")
            .header("x-forwarded-for", format!("198.51.100.{forged}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let m = scrape(&metrics_url).await;
    let channel = [("channel", "metrics")];
    let bps = value(&m, "aethex_ingest_bitrate_bps", &channel).expect("bitrate series");
    // The fixture is 2.64 Mbit/s (ffprobe's format bit_rate).
    assert!(
        (2_110_000.0..3_170_000.0).contains(&bps),
        "ingest bitrate {bps}"
    );
    let fps = value(&m, "aethex_ingest_fps", &channel).expect("fps series");
    assert!((fps - 30.0).abs() < 1.0, "fps {fps}");
    let kf = value(&m, "aethex_ingest_keyframe_interval_seconds", &channel).expect("keyframes");
    assert!((kf - 2.0).abs() < 0.05, "keyframe interval {kf}");
    let segments = value(
        &m,
        "aethex_segments_total",
        &[("channel", "metrics"), ("rendition", "source")],
    )
    .expect("segments series");
    assert!(segments >= 3.0, "segments {segments}");
    let available = value(&m, "aethex_segment_available_seconds_count", &channel)
        .expect("segment-available histogram");
    assert!(available >= 3.0, "{available}");
    let available_sum =
        value(&m, "aethex_segment_available_seconds_sum", &channel).unwrap_or_default();
    eprintln!(
        "ingest {bps} bit/s, {fps:.2} fps, keyframes every {kf} s; {segments} segments, \
         mean segment-available latency {:.1} ms",
        available_sum / available * 1000.0
    );
    let viewers = value(&m, "aethex_viewers", &channel).expect("viewers series");
    assert_eq!(viewers, 2.0, "two distinct players");
    assert_eq!(value(&m, "aethex_live_streams", &[]), Some(1.0));
    assert_eq!(
        value(
            &m,
            "aethex_rtmp_connections_total",
            &[("outcome", "published")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "aethex_rtmp_connections_total",
            &[("outcome", "refused_bad_key")]
        ),
        Some(1.0)
    );
    let playlist_requests = value(
        &m,
        "aethex_http_requests_total",
        &[
            (
                "route",
                "/hls/{playback_id}/{live_stream_id}/{rendition}/{file}",
            ),
            ("status", "200"),
        ],
    )
    .expect("HTTP requests by route");
    assert!(playlist_requests >= 20.0, "{playlist_requests}");
    // Exported; on local disk it holds only thumbnails and init segments
    // (segments are served from the page cache), so it may be empty.
    assert!(value(&m, "aethex_hot_cache_bytes", &[]).is_some());

    // The API reports the viewers on the live stream too.
    let live_stream_id = media_url
        .split(&format!("/hls/{}/", ch.playback_id))
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("live stream id in the media URL")
        .to_owned();
    let login = client
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(
            serde_json::json!({"username": "metrics", "password": "correct horse battery"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("aethex_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_owned();
    for ua in ["player-one", "player-two"] {
        client
            .get(&media_url)
            .header("user-agent", ua)
            .send()
            .await
            .unwrap();
    }
    let body = client
        .get(server.url(&format!("/api/v1/live-streams/{live_stream_id}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let ls: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ls["current_viewers"], 2, "{ls}");
    // Live health for the dashboard: nothing dropped; late ones counted.
    assert_eq!(ls["dropped_segments"], 0, "{ls}");
    assert!(ls["late_segments"].is_u64(), "{ls}");
    assert_eq!(ls["ingest"]["keyframe_interval_ms"], 2000, "{ls}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_on_their_own_address() {
    let port = free_port();
    let server = Server::start_with_config(
        Database::Sqlite,
        &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .await;
    let m = scrape(&format!("http://127.0.0.1:{port}/metrics")).await;
    assert!(m.keys().any(|k| k.starts_with("aethex_")), "{m:?}");
    // Not on the public port.
    let (status, _, _, _) = get(&server.url("/metrics")).await;
    assert_eq!(status, 404);
}
