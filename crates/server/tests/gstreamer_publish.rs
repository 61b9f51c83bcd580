//! A second, independent RTMP client: GStreamer's rtmp2sink publishes, and
//! the stream plays and becomes a VOD like ffmpeg's.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn gstreamer_rtmp2sink_publishes() {
    let server = Server::start(Database::Sqlite).await;
    // rtmp2sink closes the connection without an RTMP unpublish, which is
    // what a dropped publisher looks like: no reconnect window here.
    let ch = server.create_channel_with("dave", &["--reconnect-window", "0"]);
    let mut gst = Publisher::gstreamer(
        "h264_360p30_video_only.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        false,
    );
    let master = wait_for_200(&ch.hls_url, Duration::from_secs(6))
        .await
        .unwrap_or_else(|| panic!("no master playlist; log:\n{}", server.log()));
    let master = String::from_utf8_lossy(&master).into_owned();
    assert!(master.contains("RESOLUTION=640x360"), "{master}");
    // Video only: the codec list has no audio.
    assert!(master.contains("CODECS=\"avc1."), "{master}");
    assert!(!master.contains("mp4a"), "{master}");

    let (ok, stderr) = gst.wait(Duration::from_secs(30));
    assert!(ok, "gst-launch failed: {stderr}");

    let media_url = server.url(&format!(
        "/hls/{}/{}",
        ch.playback_id,
        first_variant(&master)
    ));
    let finished = wait_for_endlist(&server, &media_url).await;
    assert!(!playlist_segments(&finished).is_empty());
    // The channel URL switches to the whole recording once the broadcast
    // is finalized (just after the live playlist got EXT-X-ENDLIST).
    let deadline = Instant::now() + Duration::from_secs(10);
    let vod_url = loop {
        let (_, _, _, master) = get(&ch.hls_url).await;
        let variant = first_variant(&String::from_utf8_lossy(&master));
        if variant.ends_with("/source/vod.m3u8") {
            break server.url(&format!("/hls/{}/{variant}", ch.playback_id));
        }
        assert!(
            Instant::now() < deadline,
            "master still points at {variant}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (status, _, _, body) = get(&vod_url).await;
    assert_eq!(status, 200);
    let segments = playlist_segments(&String::from_utf8_lossy(&body));
    let total: f64 = segments.iter().map(|(d, _)| d).sum();
    assert!((9.0..=10.5).contains(&total), "{total} s of a 10 s fixture");
    let dir = tempfile::tempdir().unwrap();
    for (_, uri) in &segments {
        let (status, _, _, body) = get(&resolve(&vod_url, uri)).await;
        assert_eq!(status, 200, "{uri}");
        let path = dir.path().join(uri);
        std::fs::write(&path, &body).unwrap();
        let errors = decode_errors(&path);
        assert!(errors.trim().is_empty(), "{uri}: {errors}");
    }
}
