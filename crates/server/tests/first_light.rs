//! First light: a creator publishes RTMP, a viewer plays HLS seconds later,
//! and the broadcast becomes a VOD. Runs on SQLite (the embedded default)
//! and PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// One frame at 30 fps, in seconds and 90 kHz ticks.
const FRAME_S: f64 = 1.0 / 30.0;
const FRAME_90K: i64 = 3000;

#[tokio::test(flavor = "multi_thread")]
async fn first_light_sqlite() {
    first_light(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn first_light_postgres() {
    let Some(db) = Database::postgres().await else {
        return;
    };
    first_light(db).await;
}

async fn first_light(db: Database) {
    // A 3-segment live window, so the window visibly slides within the test.
    let server = Server::start_with_config(db, "[hls]\nplaylist_window_segments = 3\n").await;
    let ch = server.create_channel("alice");
    assert_eq!(
        ch.rtmp_url,
        format!("rtmp://127.0.0.1:{}/live", server.rtmp_port)
    );
    assert_eq!(
        ch.hls_url,
        server.url(&format!("/hls/{}/master.m3u8", ch.playback_id))
    );

    // Nothing broadcast yet: a JSON 404.
    let (status, ct, _, body) = get(&ch.hls_url).await;
    assert_eq!(status, 404);
    assert!(ct.starts_with("application/json"), "{ct}");
    let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(err["error"]["code"], "not_live", "{err}");

    // Publish 13 s of the 720p30 B-frame fixture the way OBS would.
    let mut publisher = Publisher::ffmpeg(
        "h264_aac_720p30_bframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        13,
    );

    // The master playlist appears within 4 s of publish start: of the
    // moment the publisher connects (how long ffmpeg takes to start is not
    // the server's doing; on a loaded 2-core CI machine it varies).
    let master = wait_for_200(&ch.hls_url, Duration::from_secs(12))
        .await
        .unwrap_or_else(|| {
            panic!(
                "no master playlist 12 s after starting the publisher; {}\nserver log:\n{}",
                publisher.report(),
                server.log()
            )
        });
    let seen = std::time::SystemTime::now();
    let since_spawn = publisher.started.elapsed();
    let connected = server
        .log_time("RTMP connection opened")
        .expect("the server logged the publisher's connection");
    let master_after = seen.duration_since(connected).unwrap_or_default();
    assert!(
        master_after <= Duration::from_secs(4),
        "master playlist {master_after:?} after the publisher connected; log:\n{}",
        server.log()
    );
    let master = String::from_utf8(master.to_vec()).unwrap();
    assert!(master.starts_with("#EXTM3U"), "{master}");
    assert!(master.contains("RESOLUTION=1280x720"), "{master}");
    assert!(
        master.contains("CODECS=\"avc1.64001f,mp4a.40.2\""),
        "{master}"
    );
    let bandwidth: u64 = master
        .split("BANDWIDTH=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .expect("BANDWIDTH");
    // The fixture is ~2.7 Mbit/s of media; TS overhead adds a few percent.
    assert!(
        (2_000_000..5_000_000).contains(&bandwidth),
        "BANDWIDTH={bandwidth}"
    );
    eprintln!(
        "master playlist available {master_after:?} after the publisher connected \
         ({since_spawn:?} after it was started)"
    );

    // The variant lives in the broadcast's own directory.
    let variant = first_variant(&master);
    let (live_stream_id, rest) = variant.split_once('/').expect("{live_stream_id}/...");
    assert_eq!(rest, "source/index.m3u8");
    let media_url = server.url(&format!("/hls/{}/{variant}", ch.playback_id));

    // The live media playlist: correct headers, a sliding window.
    let resp = reqwest::get(&media_url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    let live = resp.text().await.unwrap();
    assert!(live.contains("#EXT-X-TARGETDURATION:2"), "{live}");
    assert!(!live.contains("#EXT-X-ENDLIST"), "{live}");
    let first = &playlist_segments(&live)[0].1;
    let resp = reqwest::Client::new()
        .get(resolve(&media_url, first))
        .header("origin", "http://example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "video/mp2t");
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");

    // Mid-stream the window slides: the media sequence advances (a fourth
    // segment, ~6 s on; polled, bounded, so a loaded machine is not a
    // failure).
    let deadline = Instant::now() + Duration::from_secs(20);
    let later = loop {
        let later = reqwest::get(&media_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if media_sequence(&later) > media_sequence(&live) || Instant::now() > deadline {
            break later;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        media_sequence(&later) > media_sequence(&live),
        "playlist did not slide:\n{live}\n---\n{later}"
    );
    // By now the publisher's measured stats are on the live stream's row:
    // the fixture is ~2.7 Mbit/s of media with a keyframe every 2 s.
    {
        let db = control::Db::connect(&server.database_url()).await.unwrap();
        let ls = db
            .live_stream(live_stream_id)
            .await
            .unwrap()
            .expect("live stream");
        db.close().await;
        let bps = ls
            .stats
            .ingest_bitrate_bps
            .expect("ingest bitrate recorded") as f64;
        assert!(
            // Within 20% of the fixture's 2.64 Mbit/s (ffprobe).
            (2_110_000.0..3_170_000.0).contains(&bps),
            "ingest bitrate {bps}"
        );
        assert_eq!(ls.stats.keyframe_interval_ms, Some(2000), "{:?}", ls.stats);
        eprintln!("ingest bitrate measured: {bps} bit/s");
    }
    assert_eq!(playlist_segments(&later).len(), 3, "window of 3: {later}");

    let (ok, stderr) = publisher.wait(Duration::from_secs(30));
    assert!(ok, "ffmpeg publisher failed: {stderr}");

    // The broadcast ends: players following the live playlist get
    // EXT-X-ENDLIST, and the media sequence never goes back.
    let finished = wait_for_endlist(&server, &media_url).await;
    assert!(
        media_sequence(&finished) >= media_sequence(&later),
        "{finished}"
    );

    // The VOD becomes ready in the database.
    let db = control::Db::connect(&server.database_url()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let vod = loop {
        let vods = db.list_vods(&ch.channel_id).await.unwrap();
        assert_eq!(vods.len(), 1, "{vods:?}");
        if vods[0].status == control::VodStatus::Ready {
            break vods[0].clone();
        }
        assert!(Instant::now() < deadline, "VOD not ready: {vods:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(vod.live_stream_id, live_stream_id);
    let live_stream = db.live_stream(&vod.live_stream_id).await.unwrap().unwrap();
    assert_eq!(live_stream.status, control::LiveStreamStatus::Ended);
    db.close().await;

    // The channel URL now points at the recording.
    let (status, _, _, ended_master) = get(&ch.hls_url).await;
    assert_eq!(status, 200);
    assert_eq!(
        first_variant(&String::from_utf8_lossy(&ended_master)),
        format!("{live_stream_id}/source/vod.m3u8")
    );

    let (status, _, _, vod_master) =
        get(&server.url(&format!("/vod/{}/master.m3u8", vod.vod_id))).await;
    assert_eq!(status, 200);
    assert_eq!(
        first_variant(&String::from_utf8_lossy(&vod_master)),
        "source/vod.m3u8"
    );
    let vod_url = server.url(&format!("/vod/{}/source/vod.m3u8", vod.vod_id));
    let (status, _, cc, vod_playlist) = get(&vod_url).await;
    assert_eq!(status, 200);
    assert_eq!(cc, "public, max-age=3600");
    let vod_playlist = String::from_utf8(vod_playlist.to_vec()).unwrap();
    assert!(
        vod_playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD"),
        "{vod_playlist}"
    );
    assert!(
        vod_playlist.trim_end().ends_with("#EXT-X-ENDLIST"),
        "{vod_playlist}"
    );
    let segments = playlist_segments(&vod_playlist);
    assert_eq!(segments[0].1, "0.ts");
    assert!(
        segments.ends_with(&playlist_segments(&finished)),
        "the finished live window is the end of the recording"
    );
    assert_eq!(segments.len(), vod.segment_count as usize);
    let total: f64 = segments.iter().map(|(d, _)| d).sum();
    assert!(
        (12.0..=13.5).contains(&total),
        "VOD duration {total} s for 13 s published"
    );
    assert!((vod.duration_ms as f64 / 1000.0 - total).abs() < 0.01);

    // Every segment decodes; its video lasts its EXTINF within a frame;
    // video PTS continues across segment boundaries.
    let dir = tempfile::tempdir().unwrap();
    let mut previous_max_pts: Option<i64> = None;
    for (i, (extinf, uri)) in segments.iter().enumerate() {
        let (status, _, _, body) = get(&resolve(&vod_url, uri)).await;
        assert_eq!(status, 200, "segment {uri}");
        let path = dir.path().join(uri);
        std::fs::write(&path, &body).unwrap();
        let errors = decode_errors(&path);
        assert!(
            errors.trim().is_empty(),
            "segment {uri} does not decode cleanly:\n{errors}"
        );
        // Audio goes into the segment open when it arrives, so it may start
        // up to the composition delay before the video: the video lasts
        // EXTINF. The last segment lasts (by decode time) to the end of its
        // trailing audio; ffprobe's format duration also counts the last
        // picture's composition delay (two frames with these B-frames).
        let (min_pts, max_pts) = video_pts_range(&path);
        if i + 1 == segments.len() {
            let probed: f64 = ffprobe(
                &path,
                &["-show_entries", "format=duration", "-of", "csv=p=0"],
            )
            .trim()
            .parse()
            .expect("ffprobe duration");
            assert!(
                probed >= extinf - FRAME_S - 0.001 && probed <= extinf + 3.0 * FRAME_S + 0.001,
                "last segment {i} ({uri}): EXTINF {extinf} vs ffprobe {probed}"
            );
        } else {
            let video = (max_pts - min_pts) as f64 / 90_000.0 + FRAME_S;
            assert!(
                (video - extinf).abs() <= FRAME_S + 0.001,
                "segment {i} ({uri}): EXTINF {extinf} vs its video {video}"
            );
        }
        if let Some(prev) = previous_max_pts {
            let gap = min_pts - prev;
            assert!(
                (FRAME_90K - 100..=FRAME_90K + 100).contains(&gap),
                "video PTS jumps by {gap} ticks between segment {} and {i}",
                i - 1
            );
        }
        previous_max_pts = Some(max_pts);
    }
}
