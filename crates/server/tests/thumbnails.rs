//! Live thumbnails cost a keyframe decode each, so they are refreshed at
//! the busy interval only while someone asks for them, and at the idle
//! interval otherwise.

mod common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::*;

/// When the stored thumbnail was last replaced (the file store renames a
/// new file over it), if it exists.
fn written_at(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn thumbnails_refresh_often_only_while_someone_asks_for_them() {
    let server = Server::start_with_config(
        Database::Sqlite,
        "[transcode]\nthumbnail_interval_s = 2\nthumbnail_idle_interval_s = 600\n",
    )
    .await;
    let ch = server.create_channel_with("thumbs", &["--ladder", "passthrough-only"]);
    let url = format!("{}/{}", ch.rtmp_url, ch.stream_key);
    let mut publisher = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &url, 20);
    let media_url = wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(15)).await;
    // .../hls/{playback_id}/{live_stream_id}/{rendition}/index.m3u8
    let live_stream_id = media_url.rsplit('/').nth(2).unwrap().to_string();
    let path = server
        .data_dir
        .path()
        .join(format!("media/live/{live_stream_id}/thumbnail.jpg"));

    // The first thumbnail comes with the first keyframe.
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        if let Some(t) = written_at(&path) {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "no thumbnail at {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Nobody asks: not refreshed for the idle interval (600 s), though the
    // busy one (2 s) passed three times over.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        written_at(&path),
        Some(first),
        "refreshed while nobody asked"
    );

    // Someone asks (a browse page polling it): refreshed within a few
    // seconds (the busy interval, taken at the next keyframe).
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let (status, ct, _, _) =
            get(&server.url(&format!("/thumbnails/{}.jpg", ch.playback_id))).await;
        assert_eq!((status, ct.as_str()), (200, "image/jpeg"));
        if written_at(&path).is_some_and(|t| t > first) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not refreshed while asked for; {}",
            publisher.report()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
