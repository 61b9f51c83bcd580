//! The clip export worker (`server/src/clip_export.rs`) in the real binary:
//! a clip of a recording becomes an MP4 that ffprobe reads, with progress
//! that only grows.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_clip_of_a_recording_is_exported_to_mp4() {
    let server = Server::start(Database::Sqlite).await;
    let channel = server.create_channel("clipper");
    let mut publisher = Publisher::ffmpeg(
        "h264_aac_720p30_bframes.flv",
        &server.rtmp_url(&channel.stream_key),
        12,
    );
    let (finished, report) = publisher.wait(Duration::from_secs(40));
    assert!(finished, "the publisher did not finish: {report}");
    let vod = wait_for_ready_vod(&server, &channel.channel_id, Duration::from_secs(30)).await;
    let token = server.api_token("clipper").await;

    let (status, clip) = api_call(
        reqwest::Method::POST,
        &server.url("/api/v1/clips"),
        &token,
        Some(serde_json::json!({"vod_id": vod.vod_id, "start_s": 2, "end_s": 8, "export": "mp4"})),
    )
    .await;
    assert_eq!(status, 201, "{clip}");
    let clip_id = clip["clip_id"].as_str().unwrap().to_owned();

    // The worker is woken by the request; progress only grows.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut progress = Vec::new();
    let clip = loop {
        let (status, clip) = api_call(
            reqwest::Method::GET,
            &server.url(&format!("/api/v1/clips/{clip_id}")),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 200, "{clip}");
        progress.push(clip["export_progress"].as_u64().unwrap());
        match clip["export_status"].as_str().unwrap() {
            "ready" => break clip,
            "failed" => panic!("export failed: {clip}\nlog:\n{}", server.log()),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "export not done: {clip}\nlog:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(clip["export_progress"], 100);
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");

    let (status, content_type, _, mp4) = get(&server.url(&format!("/clips/{clip_id}.mp4"))).await;
    assert_eq!((status, content_type.as_str()), (200, "video/mp4"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    std::fs::write(&file, &mp4).unwrap();
    let duration: f64 = ffprobe(
        &file,
        &["-show_entries", "format=duration", "-of", "csv=p=0"],
    )
    .trim()
    .parse()
    .unwrap();
    // Snapped to whole 2 s segments around seconds 2 to 8.
    assert!((duration - 6.0).abs() <= 2.0, "MP4 of {duration} s");
    assert_eq!(decode_errors(&file), "", "the MP4 decodes cleanly");
    assert!(server.log().contains("clip exported"), "{}", server.log());
}
