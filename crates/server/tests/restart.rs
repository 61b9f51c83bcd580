//! Stopping the server mid-broadcast loses nothing: SIGTERM finishes the
//! broadcast and exits 0; after `kill -9`, the next start finalizes it from
//! the segment index.

mod common;

use std::time::Duration;

use common::*;

/// The ready VOD of the channel's only broadcast, with its segment URIs
/// checked to exist and decode.
async fn assert_vod_complete(server: &Server, channel_id: &str, min_segments: usize) {
    let db = control::Db::connect(&server.database_url()).await.unwrap();
    let vods = db.list_vods(channel_id).await.unwrap();
    assert_eq!(vods.len(), 1, "{vods:?}");
    let vod = &vods[0];
    assert_eq!(vod.status, control::VodStatus::Ready, "{vod:?}");
    let ls = db.live_stream(&vod.live_stream_id).await.unwrap().unwrap();
    assert_eq!(ls.status, control::LiveStreamStatus::Ended);
    db.close().await;

    let vod_url = server.url(&format!("/vod/{}/source/vod.m3u8", vod.vod_id));
    let (status, _, _, body) = get(&vod_url).await;
    assert_eq!(status, 200);
    let playlist = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        playlist.trim_end().ends_with("#EXT-X-ENDLIST"),
        "{playlist}"
    );
    let segments = playlist_segments(&playlist);
    assert!(segments.len() >= min_segments, "{playlist}");
    assert_eq!(segments.len(), vod.segment_count as usize);
    let dir = tempfile::tempdir().unwrap();
    for (i, (_, uri)) in segments.iter().enumerate() {
        assert_eq!(
            uri,
            &format!("{i}.ts"),
            "segments listed in order without gaps"
        );
        let (status, _, _, body) = get(&resolve(&vod_url, uri)).await;
        assert_eq!(status, 200, "{uri} is listed but not stored");
        let path = dir.path().join(uri);
        std::fs::write(&path, &body).unwrap();
        let errors = decode_errors(&path);
        assert!(errors.trim().is_empty(), "{uri}: {errors}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_broadcast_and_exits_cleanly() {
    let mut server = Server::start(Database::Sqlite).await;
    let ch = server.create_channel("erin");
    let _publisher = Publisher::ffmpeg(
        "h264_aac_360p30_nobframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        20,
    );
    let media_url = wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(5)).await;
    wait_for_segments(&server, &media_url, 3, Duration::from_secs(15)).await;
    let status = server.stop();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        server.log()
    );
    let log = server.log();
    assert!(log.contains("broadcast ended"), "{log}");
    assert!(log.contains("stopped"), "{log}");

    server.restart().await;
    // ~6-7 s were published: 3 segments of 2 s plus the partial last one.
    assert_vod_complete(&server, &ch.channel_id, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_then_restart_finalizes_the_broadcast() {
    let mut server = Server::start(Database::Sqlite).await;
    let ch = server.create_channel("frank");
    let mut publisher = Publisher::ffmpeg(
        "h264_aac_360p30_nobframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        20,
    );
    let first_media_url =
        wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(5)).await;
    wait_for_segments(&server, &first_media_url, 3, Duration::from_secs(15)).await;
    server.kill();
    let (ok, _) = publisher.wait(Duration::from_secs(10));
    assert!(!ok, "the publisher must notice the server died");

    server.restart().await;
    assert!(
        server
            .log()
            .contains("finalized a broadcast left unfinished by a previous run"),
        "{}",
        server.log()
    );
    assert_vod_complete(&server, &ch.channel_id, 2).await;

    // The channel can go live again.
    let mut again = Publisher::ffmpeg(
        "h264_aac_360p30_nobframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        3,
    );
    // After recovery the old broadcast's live playlist is finished.
    let (status, _, _, body) = get(&first_media_url).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("#EXT-X-ENDLIST"));
    // The channel URL switches from the recording to the new broadcast.
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    loop {
        let (status, _, _, body) = get(&ch.hls_url).await;
        let master = String::from_utf8_lossy(&body).into_owned();
        if status == 200 && first_variant(&master).ends_with("/source/index.m3u8") {
            assert_ne!(
                server.url(&format!(
                    "/hls/{}/{}",
                    ch.playback_id,
                    first_variant(&master)
                )),
                first_media_url
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "new broadcast not served:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, stderr) = again.wait(Duration::from_secs(20));
    assert!(ok, "{stderr}");
}
