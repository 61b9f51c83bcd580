//! The reconnect window: a publisher that drops and comes back in time
//! continues the same broadcast (after an EXT-X-DISCONTINUITY, with
//! timestamps that keep increasing); one that does not come back ends it,
//! once; a publisher that stops on purpose ends it at once.

mod common;

use std::time::{Duration, Instant};

use common::*;

async fn live_streams(server: &Server, channel_id: &str) -> Vec<control::LiveStream> {
    let db = control::Db::connect(&server.database_url()).await.unwrap();
    let list = db
        .list_live_streams(channel_id, &control::PageRequest::first(10))
        .await
        .unwrap()
        .items;
    db.close().await;
    list
}

async fn wait_for_status(server: &Server, channel_id: &str, status: control::LiveStreamStatus) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list = live_streams(server, channel_id).await;
        if list.first().is_some_and(|ls| ls.status == status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {status:?} live stream: {list:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_that_comes_back_continues_the_broadcast() {
    let server = Server::start(Database::Sqlite).await;
    let ch = server.create_channel_with("comeback", &["--reconnect-window", "10"]);
    let url = format!("{}/{}", ch.rtmp_url, ch.stream_key);
    let mut first = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &url, 20);
    let media_url = wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(10)).await;
    wait_for_segments(&server, &media_url, 3, Duration::from_secs(15)).await;
    first.kill();
    wait_for_status(
        &server,
        &ch.channel_id,
        control::LiveStreamStatus::Disconnected,
    )
    .await;
    // Viewers keep the playlist (no ENDLIST) while the window runs.
    let (status, _, _, body) = get(&media_url).await;
    assert_eq!(status, 200);
    assert!(!String::from_utf8_lossy(&body).contains("#EXT-X-ENDLIST"));

    let mut second = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &url, 6);
    wait_for_status(&server, &ch.channel_id, control::LiveStreamStatus::Active).await;
    let (ok, stderr) = second.wait(Duration::from_secs(30));
    assert!(ok, "{stderr}");
    let finished = wait_for_endlist(&server, &media_url).await;
    assert!(finished.contains("#EXT-X-ENDLIST"));

    // One broadcast, ended once, whose recording has both parts.
    let list = live_streams(&server, &ch.channel_id).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].status, control::LiveStreamStatus::Ended);
    assert_eq!(list[0].end_reason.as_deref(), Some("publisher finished"));
    let vod = wait_for_ready_vod(&server, &ch.channel_id, Duration::from_secs(10)).await;
    let vod_url = server.url(&format!("/vod/{}/source/vod.m3u8", vod.vod_id));
    let (_, _, _, body) = get(&vod_url).await;
    let playlist = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(
        playlist.matches("#EXT-X-DISCONTINUITY\n").count(),
        1,
        "{playlist}"
    );
    let segments = playlist_segments(&playlist);
    let total: f64 = segments.iter().map(|(d, _)| d).sum();
    assert!(total > 9.0, "both publishers' media: {total} s\n{playlist}");
    // Sequence numbers consecutive and video timestamps increasing across
    // the reconnect, so players do not stall.
    for (i, (_, uri)) in segments.iter().enumerate() {
        assert_eq!(uri, &format!("{i}.ts"));
    }
    let dir = tempfile::tempdir().unwrap();
    check_segments_decode_in_order(&vod_url, &segments, dir.path()).await;

    // After the end, a new publish is a new broadcast.
    let mut third = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &url, 3);
    let (ok, stderr) = third.wait(Duration::from_secs(20));
    assert!(ok, "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while live_streams(&server, &ch.channel_id).await.len() < 2 {
        assert!(Instant::now() < deadline, "no second broadcast");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_that_does_not_come_back_ends_the_broadcast_after_the_window() {
    let server = Server::start(Database::Sqlite).await;
    let ch = server.create_channel_with("gone", &["--reconnect-window", "3"]);
    let url = format!("{}/{}", ch.rtmp_url, ch.stream_key);
    let mut publisher = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &url, 20);
    let media_url = wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(10)).await;
    wait_for_segments(&server, &media_url, 2, Duration::from_secs(15)).await;
    let dropped = Instant::now();
    publisher.kill();
    wait_for_status(
        &server,
        &ch.channel_id,
        control::LiveStreamStatus::Disconnected,
    )
    .await;
    wait_for_endlist(&server, &media_url).await;
    let waited = dropped.elapsed();
    assert!(
        waited >= Duration::from_secs(3),
        "ended after {waited:?}, before the window"
    );
    wait_for_status(&server, &ch.channel_id, control::LiveStreamStatus::Ended).await;
    let list = live_streams(&server, &ch.channel_id).await;
    assert_eq!(
        list[0].end_reason.as_deref(),
        Some("reconnect window elapsed")
    );
}
