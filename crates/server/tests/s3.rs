//! Object storage on S3 (an s3s-fs server on loopback that checks SigV4),
//! end to end: live playback through the origin, recordings in the bucket
//! that a viewer can play from the bucket alone, consistency between
//! playlists and objects, a 20 s outage that loses nothing, and a hot cache
//! that keeps live viewers off the store.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use storage::testutil::{FaultProxy, ProxyMode, S3Server, TestBucket};

/// A server storing in a fresh bucket, reached through a fault proxy.
async fn s3_server(s3: &S3Server, extra: &str) -> (Server, TestBucket, FaultProxy) {
    let bucket = s3.fresh_bucket();
    let proxy = FaultProxy::start(s3.addr()).await.expect("proxy");
    let config = format!(
        "[storage]\nurl = \"{}\"\ns3_endpoint = \"{}\"\ns3_access_key_id = \"{}\"\n\
         s3_secret_access_key = \"{}\"\nretry_min_ms = 50\nretry_max_ms = 1000\n{extra}",
        bucket.url(""),
        proxy.endpoint(),
        s3.access_key,
        s3.secret_key,
    );
    let server = Server::start_with_config(Database::Sqlite, &config).await;
    (server, bucket, proxy)
}

/// Every object key in a bucket (s3s-fs keeps objects as files).
fn bucket_keys(bucket: &TestBucket) -> BTreeSet<String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&bucket.dir, &bucket.dir, &mut out);
    out
}

/// URIs a playlist refers to (variant and segment lines, EXT-X-MAP).
fn references(playlist: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in playlist.lines() {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            out.push(rest.split('"').next().unwrap_or_default().to_string());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            out.push(line.trim().to_string());
        }
    }
    out
}

/// `base_key`'s directory joined with a relative `uri`.
fn join_key(base_key: &str, uri: &str) -> String {
    match base_key.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{uri}"),
        None => uri.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_end_to_end_consistent_and_playable_from_the_bucket() {
    let Some(s3) = S3Server::from_env() else {
        return;
    };
    let (mut server, bucket, proxy) = s3_server(&s3, "").await;
    let ch = server.create_channel_with("s3live", &["--ladder", "passthrough-only"]);
    let mut publisher = Publisher::ffmpeg(
        "h264_aac_720p30_bframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        12,
    );
    let media_url = wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(10)).await;

    // 50 viewers on the live stream, through the origin, for a few seconds:
    // the store sees no GET for live segments (the hot cache serves them).
    proxy.clear();
    let mut viewers = Vec::new();
    for _ in 0..50 {
        let url = media_url.clone();
        viewers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut fetched = 0;
            let until = Instant::now() + Duration::from_secs(4);
            while Instant::now() < until {
                let playlist = client.get(&url).send().await.unwrap().text().await.unwrap();
                for (_, uri) in playlist_segments(&playlist).iter().rev().take(2) {
                    let resp = client.get(resolve(&url, uri)).send().await.unwrap();
                    assert_eq!(resp.status(), 200, "{uri}");
                    resp.bytes().await.unwrap();
                    fetched += 1;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            fetched
        }));
    }
    let mut fetched = 0;
    for v in viewers {
        fetched += v.await.unwrap();
    }
    assert!(fetched > 100, "viewers fetched {fetched} segments");
    let store_gets = proxy.count("GET", &format!("/{}/live/", bucket.name));
    assert_eq!(
        store_gets,
        0,
        "live viewers reached the store: {:?}",
        proxy.requests()
    );

    let (ok, stderr) = publisher.wait(Duration::from_secs(30));
    assert!(ok, "{stderr}");
    wait_for_endlist(&server, &media_url).await;

    // The recording becomes ready once the bucket has it all; it plays
    // through the origin.
    let vod = wait_for_ready_vod(&server, &ch.channel_id, Duration::from_secs(20)).await;
    let vod_url = server.url(&format!("/vod/{}/source/vod.m3u8", vod.vod_id));
    let (status, _, _, body) = get(&vod_url).await;
    assert_eq!(status, 200);
    let segments = playlist_segments(&String::from_utf8_lossy(&body));
    assert_eq!(segments.len(), vod.segment_count as usize);

    // Every playlist reference is in the bucket, and every media object in
    // the bucket is referenced by a playlist (images are not playlist media).
    let keys = bucket_keys(&bucket);
    let mut referenced = BTreeSet::new();
    for key in keys.iter().filter(|k| k.ends_with(".m3u8")) {
        let text = std::fs::read_to_string(bucket.dir.join(key)).unwrap();
        for uri in references(&text) {
            let target = join_key(key, &uri);
            assert!(
                keys.contains(&target),
                "{key} refers to {uri}, missing from the bucket"
            );
            referenced.insert(target);
        }
    }
    for key in &keys {
        let media = key.ends_with(".ts") || key.ends_with(".m4s") || key.ends_with(".mp4");
        let root = key.ends_with("/master.m3u8") || key.ends_with("/vod-master.m3u8");
        if (media || key.ends_with(".m3u8")) && !root {
            assert!(
                referenced.contains(key),
                "{key} is in the bucket but no playlist refers to it"
            );
        }
    }

    // With the origin stopped, a viewer plays the recording from the bucket's
    // public endpoint alone.
    let lsid = vod.live_stream_id.clone();
    server.stop();
    let Some(public_master) = bucket.public_url(&s3, &format!("live/{lsid}/vod-master.m3u8"))
    else {
        panic!("AETHEX_TEST_S3_PUBLIC_ENDPOINT is not set");
    };
    let resp = reqwest::get(&public_master).await.unwrap();
    assert_eq!(resp.status(), 200, "{public_master}");
    let master = resp.text().await.unwrap();
    let variant = resolve(&public_master, &first_variant(&master));
    let playlist = reqwest::get(&variant).await.unwrap().text().await.unwrap();
    for (_, uri) in playlist_segments(&playlist) {
        let resp = reqwest::get(resolve(&variant, &uri)).await.unwrap();
        assert_eq!(resp.status(), 200, "{uri} from the bucket");
    }
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-i",
            &public_master,
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg playing from the bucket: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Deleting the VOD deletes every object of its broadcast.
    let before = bucket_keys(&bucket)
        .iter()
        .filter(|k| k.starts_with(&format!("live/{lsid}/")))
        .count();
    assert!(before > 0);
    let out = server.aethex(&["vod", "delete", &vod.vod_id, "--json"]);
    assert!(
        out.status.success(),
        "vod delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["objects_deleted"], before, "{report}");
    let left: Vec<_> = bucket_keys(&bucket)
        .into_iter()
        .filter(|k| k.starts_with(&format!("live/{lsid}/")))
        .collect();
    assert!(left.is_empty(), "left after vod delete: {left:?}");
    let db = control::Db::connect(&server.database_url()).await.unwrap();
    assert!(db.vod(&vod.vod_id).await.unwrap().is_none());
    db.close().await;
    // Deleting it again is a clear error.
    let out = server.aethex(&["vod", "delete", &vod.vod_id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_outage_loses_nothing() {
    let Some(s3) = S3Server::from_env() else {
        return;
    };
    let (server, bucket, proxy) = s3_server(&s3, "").await;
    let ch = server.create_channel_with("outage", &["--ladder", "passthrough-only"]);
    let mut publisher = Publisher::ffmpeg(
        "h264_aac_720p30_bframes_60s.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        34,
    );
    let media_url = wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(10)).await;
    wait_for_segments(&server, &media_url, 3, Duration::from_secs(15)).await;
    // 20 s during which the store refuses every connection.
    let outage = proxy.outage(ProxyMode::Refuse, Duration::from_secs(20));

    // Whatever the live playlist lists is there, outage or not; meanwhile
    // segments wait in the spool.
    let spool = server.data_dir.path().join("spool");
    let mut most_spooled = 0;
    let mut checked: HashMap<String, bool> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, _, body) = get(&media_url).await;
        assert_eq!(status, 200);
        let text = String::from_utf8_lossy(&body).into_owned();
        for (_, uri) in playlist_segments(&text) {
            if checked.contains_key(&uri) {
                continue;
            }
            let (status, _, _, data) = get(&resolve(&media_url, &uri)).await;
            assert_eq!(status, 200, "{uri} is listed but missing");
            assert!(!data.is_empty());
            checked.insert(uri, true);
        }
        let spooled = std::fs::read_dir(&spool)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".obj"))
                    .count()
            })
            .unwrap_or(0);
        most_spooled = most_spooled.max(spooled);
        if text.contains("#EXT-X-ENDLIST") {
            break;
        }
        assert!(Instant::now() < deadline, "stream did not end");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    outage.await.unwrap();
    let (ok, stderr) = publisher.wait(Duration::from_secs(30));
    assert!(ok, "{stderr}");
    assert!(
        most_spooled >= 5,
        "the outage should have left segments waiting in the spool (at most {most_spooled} seen)"
    );

    // After the store came back: the recording is ready, lists every
    // segment in order without a gap, and every one is in the bucket.
    let vod = wait_for_ready_vod(&server, &ch.channel_id, Duration::from_secs(60)).await;
    let (_, _, _, body) = get(&server.url(&format!("/vod/{}/source/vod.m3u8", vod.vod_id))).await;
    let playlist = String::from_utf8(body.to_vec()).unwrap();
    assert!(!playlist.contains("#EXT-X-GAP"), "{playlist}");
    let segments = playlist_segments(&playlist);
    let total: f64 = segments.iter().map(|(d, _)| d).sum();
    assert!(total > 32.0, "{total} s recorded of 34 s published");
    let keys = bucket_keys(&bucket);
    for (i, (_, uri)) in segments.iter().enumerate() {
        assert_eq!(uri, &format!("{i}.ts"), "in order, no gap");
        let key = format!("live/{}/source/{uri}", vod.live_stream_id);
        assert!(keys.contains(&key), "{key} is not in the bucket");
    }
    assert!(
        checked.len() >= 10,
        "the live playlist listed {} segments",
        checked.len()
    );
}
