//! Bad publishes are refused with a log line saying why, and cost the good
//! stream nothing: wrong key, unknown app, a second publisher on a live key,
//! an unsupported codec.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Media sequence + segment count of a live playlist, a measure of progress.
async fn progress(url: &str) -> usize {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    media_sequence(&text) as usize + playlist_segments(&text).len()
}

/// Waits (≤ 10 s) for `needle` in the server log.
async fn log_contains(server: &Server, needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if server.log().contains(needle) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_publishes_are_refused_and_the_good_stream_continues() {
    let server = Server::start(Database::Sqlite).await;
    let ch = server.create_channel("bob");
    let good_url = format!("{}/{}", ch.rtmp_url, ch.stream_key);
    let mut good = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &good_url, 16);
    let media_url = wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(5)).await;
    let before = progress(&media_url).await;

    // 1. A wrong stream key.
    let mut wrong = Publisher::ffmpeg(
        "h264_aac_360p30_nobframes.flv",
        &server.rtmp_url("not-a-real-key"),
        5,
    );
    let (ok, stderr) = wrong.wait(Duration::from_secs(15));
    assert!(!ok, "a wrong key must not publish: {stderr}");
    assert!(
        log_contains(&server, "publish refused: unknown stream key").await,
        "{}",
        server.log()
    );
    assert!(
        !server.log().contains("not-a-real-key"),
        "the key must not be logged"
    );

    // 2. An application other than `live`.
    let mut other_app = Publisher::ffmpeg(
        "h264_aac_360p30_nobframes.flv",
        &format!(
            "rtmp://127.0.0.1:{}/other/{}",
            server.rtmp_port, ch.stream_key
        ),
        5,
    );
    let (ok, _) = other_app.wait(Duration::from_secs(15));
    assert!(!ok, "an unknown app must be refused");
    assert!(
        log_contains(&server, "unknown RTMP app \"other\"").await,
        "{}",
        server.log()
    );

    // 3. A second publisher on the key that is live.
    let mut second = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &good_url, 5);
    let (ok, _) = second.wait(Duration::from_secs(15));
    assert!(!ok, "a second publisher on a live key must be refused");
    assert!(
        log_contains(&server, "publish refused: channel \"bob\" is already live").await,
        "{}",
        server.log()
    );

    // The good stream kept going through all of it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = progress(&media_url).await;
    while after <= before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = progress(&media_url).await;
    }
    assert!(after > before, "good stream stalled: {before} -> {after}");
    let (ok, stderr) = good.wait(Duration::from_secs(30));
    assert!(ok, "good publisher failed: {stderr}");
    assert!(
        !server.log().contains(&ch.stream_key),
        "the key must not be logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_codec_is_refused_by_name() {
    let server = Server::start(Database::Sqlite).await;
    let ch = server.create_channel("carol");
    let mut mp3 = Publisher::ffmpeg(
        "h264_mp3_360p30.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        5,
    );
    let (ok, _) = mp3.wait(Duration::from_secs(15));
    assert!(!ok, "MP3 audio must be refused");
    assert!(
        log_contains(&server, "refusing stream: unsupported audio codec MP3").await,
        "{}",
        server.log()
    );
    // The channel is free again afterwards: a good publish works.
    let mut good = Publisher::ffmpeg(
        "h264_aac_360p30_nobframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        4,
    );
    wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(8)).await;
    let (ok, stderr) = good.wait(Duration::from_secs(20));
    assert!(ok, "{stderr}");
}
