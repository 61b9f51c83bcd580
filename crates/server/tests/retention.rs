//! A channel that does not record keeps only what players may still need:
//! segments that left the live window go after a grace period, and the
//! whole broadcast after it ended.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;

/// `.ts` files of a broadcast on the local store.
fn segment_files(server: &Server, live_stream_id: &str) -> Vec<String> {
    let dir: PathBuf = server
        .data_dir
        .path()
        .join("media/live")
        .join(live_stream_id)
        .join("source");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".ts"))
                .collect()
        })
        .unwrap_or_default();
    names.sort_by_key(|n| n.trim_end_matches(".ts").parse::<u64>().unwrap_or(0));
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn segments_of_unrecorded_channels_leave_with_the_window() {
    let server = Server::start_with_config(
        Database::Sqlite,
        "[hls]\nplaylist_window_segments = 3\nretention_grace_s = 1\n",
    )
    .await;
    let ch = server.create_channel_with("ephemeral", &["--no-record", "--reconnect-window", "0"]);
    let mut publisher = Publisher::ffmpeg(
        "h264_aac_360p30_nobframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        14,
    );
    let media_url = wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(10)).await;
    let live_stream_id = media_url
        .split('/')
        .rev()
        .nth(2)
        .expect("/hls/{pid}/{lsid}/source/index.m3u8")
        .to_string();

    // Mid-stream: the first segments are gone, the window's are there.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let files = segment_files(&server, &live_stream_id);
        if files.len() >= 3 && !files.contains(&"0.ts".to_string()) {
            let (_, _, _, body) = get(&media_url).await;
            for (_, uri) in playlist_segments(&String::from_utf8_lossy(&body)) {
                let (status, _, _, _) = get(&resolve(&media_url, &uri)).await;
                assert_eq!(status, 200, "{uri} is listed, so it must still be there");
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "old segments were not deleted: {files:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (ok, stderr) = publisher.wait(Duration::from_secs(30));
    assert!(ok, "{stderr}");

    // After the end and the grace period: nothing of the broadcast is left,
    // and no recording was made.
    let deadline = Instant::now() + Duration::from_secs(15);
    let dir = server
        .data_dir
        .path()
        .join("media/live")
        .join(&live_stream_id);
    while dir.exists() && std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0) > 0 {
        assert!(
            Instant::now() < deadline,
            "objects left: {:?}\n{}",
            segment_files(&server, &live_stream_id),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let db = control::Db::connect(&server.database_url()).await.unwrap();
    assert!(db.list_vods(&ch.channel_id).await.unwrap().is_empty());
    db.close().await;
}
