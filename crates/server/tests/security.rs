//! Attacks on a default install, against the real binary: floods that
//! would make the server hash passwords or hold media in memory without
//! bound, and what a default install exposes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// The server's resident memory and its peak so far, in KiB
/// (`VmRSS`, `VmHWM` of /proc/PID/status).
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `n` logins at once as `username` with a wrong password; the statuses.
async fn wrong_logins(server: &Server, username: &str, n: usize) -> Vec<u16> {
    let client = reqwest::Client::new();
    let url = server.url("/api/v1/auth/login");
    let body = json!({"username": username, "password": "not the password"}).to_string();
    let requests = (0..n).map(|_| {
        let request = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .timeout(Duration::from_secs(60))
            .send();
        async move { request.await.map(|r| r.status().as_u16()).unwrap_or(0) }
    });
    futures::future::join_all(requests).await
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// 200 wrong-password logins for one user at once: at most the limit (10)
/// are verified (401), the rest are refused before any hashing (429), and
/// the server's memory grows by at most a few argon2 buffers (19 MiB each)
/// rather than by one per request.
#[tokio::test(flavor = "multi_thread")]
async fn a_login_flood_hashes_at_most_the_limit() {
    let server = Server::start(Database::Sqlite).await;
    server.create_channel("victim");
    let (_, peak_before) = memory_kib(server.pid());
    let started = Instant::now();
    let statuses = wrong_logins(&server, "victim", 200).await;
    eprintln!("200 logins in {:?}", started.elapsed());
    let (_, peak_after) = memory_kib(server.pid());
    let verified = count(&statuses, 401);
    let refused = count(&statuses, 429);
    assert_eq!(verified + refused, 200, "{statuses:?}");
    assert!(
        (1..=10).contains(&verified),
        "{verified} verified: {statuses:?}"
    );
    let growth_mib = peak_after.saturating_sub(peak_before) / 1024;
    eprintln!("peak RSS grew by {growth_mib} MiB");
    assert!(growth_mib < 150, "peak RSS grew by {growth_mib} MiB");
    // The user can log in again once the window passes; meanwhile 429.
    let statuses = wrong_logins(&server, "victim", 1).await;
    assert_eq!(statuses, [429]);
}

/// With the limits out of the way, hashes still run at most
/// `max_concurrent_hashes` at once: 40 logins at once with 2 permits keep
/// the peak within a few buffers. Logins that waited longer than 10 s for
/// their turn get 429 (busy) instead of piling up.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_hashes_are_bounded() {
    let server = Server::start_with_env(
        Database::Sqlite,
        "",
        &[
            ("AETHEX_PASSWORD_MAX_CONCURRENT_HASHES", "2"),
            ("AETHEX_API_LOGIN_MAX_FAILURES_PER_USERNAME", "1000"),
            ("AETHEX_API_LOGIN_MAX_FAILURES_PER_IP", "1000"),
        ],
    )
    .await;
    server.create_channel("busy");
    let (_, peak_before) = memory_kib(server.pid());
    let statuses = wrong_logins(&server, "busy", 40).await;
    let (_, peak_after) = memory_kib(server.pid());
    assert_eq!(
        count(&statuses, 401) + count(&statuses, 429),
        40,
        "{statuses:?}"
    );
    assert!(count(&statuses, 401) >= 4, "{statuses:?}");
    let growth_mib = peak_after.saturating_sub(peak_before) / 1024;
    eprintln!("peak RSS grew by {growth_mib} MiB with 2 hashes at a time");
    assert!(growth_mib < 80, "peak RSS grew by {growth_mib} MiB");
}

/// Sign-ups are limited per client address (5 per hour by default).
#[tokio::test(flavor = "multi_thread")]
async fn sign_ups_are_limited_per_address() {
    let server = Server::start(Database::Sqlite).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..7 {
        let r = client
            .post(server.url("/api/v1/users"))
            .header("content-type", "application/json")
            .body(
                json!({"username": format!("newcomer{i}"), "password": "correct horse battery"})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        if status == 429 {
            assert_eq!(body["error"]["code"], "too_many_signups", "{body}");
            assert!(retry_after.is_some(), "Retry-After");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 429, 429]);

    // A failed login's username reaches the log escaped and cut short: no
    // forged lines, no megabytes of one field.
    let forged = format!(
        "evil\n2026-01-01T00:00:00Z  INFO forged: admin logged in{}",
        "x".repeat(5000)
    );
    let r = client
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(json!({"username": forged, "password": "whatever1"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("failed login") {
        assert!(Instant::now() < deadline, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = server.log();
    let line = log.lines().find(|l| l.contains("failed login")).unwrap();
    assert!(line.contains("evil\\n2026"), "{line}");
    assert!(line.contains("…(+"), "{line}");
    assert!(line.len() < 400, "{} bytes: {line}", line.len());
    assert!(!log.lines().any(|l| l.starts_with("2026-01-01")), "{log}");
}

/// A real broadcast, its recording and an exported clip, made through the
/// API; returns the clip's id and the creator's token.
async fn exported_clip(server: &Server, slug: &str) -> (String, String) {
    let ch = server.create_channel(slug);
    let token = server.api_token(slug).await;
    let mut publisher = Publisher::ffmpeg(
        "h264_aac_360p30_nobframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        6,
    );
    let (ok, stderr) = publisher.wait(Duration::from_secs(30));
    assert!(ok, "{stderr}");
    let vod = wait_for_ready_vod(server, &ch.channel_id, Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let r = client
        .post(server.url("/api/v1/clips"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(json!({"vod_id": vod.vod_id, "start_s": 0, "end_s": 4, "export": "mp4"}).to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let clip: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(status, 201, "{clip}");
    let clip_id = clip["clip_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = client
            .get(server.url(&format!("/api/v1/clips/{clip_id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let clip: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        if clip["export_status"] == "ready" {
            break;
        }
        assert_ne!(clip["export_status"], "failed", "{clip}");
        assert!(
            Instant::now() < deadline,
            "export not ready in 60 s: {clip}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    (clip_id, token)
}

/// The exported MP4 is streamed from storage: 50 slow readers of a 100 MB
/// clip at once keep the server's memory within 50 MiB of where it was
/// (it used to read the whole object into memory per request), and what
/// they read is the stored bytes, whole or by range.
#[tokio::test(flavor = "multi_thread")]
async fn clip_downloads_stream_from_storage() {
    let server = Server::start(Database::Sqlite).await;
    let (clip_id, _) = exported_clip(&server, "streamer").await;
    let url = server.url(&format!("/clips/{clip_id}.mp4"));

    // The export is a real MP4 (stored from ffmpeg's file in parts).
    let (status, content_type, _, mp4) = get(&url).await;
    assert_eq!((status, content_type.as_str()), (200, "video/mp4"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    std::fs::write(&path, &mp4).unwrap();
    let duration: f64 = ffprobe(
        &path,
        &["-show_entries", "format=duration", "-of", "csv=p=0"],
    )
    .trim()
    .parse()
    .unwrap();
    assert!((3.0..7.0).contains(&duration), "{duration}");

    // Replace it with 100 MB (the store is the data directory).
    let stored = server
        .data_dir
        .path()
        .join("media")
        .join("clips")
        .join(format!("{clip_id}.mp4"));
    assert!(stored.is_file(), "{}", stored.display());
    let big: Vec<u8> = (0..100u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&stored, &big).unwrap();

    // A range is served from the middle without the rest.
    let r = reqwest::Client::new()
        .get(&url)
        .header("range", "bytes=50000000-50000099")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 50000000-50000099/{}", big.len())
    );
    assert_eq!(&r.bytes().await.unwrap()[..], &big[50_000_000..50_000_100]);

    let (rss_before, _) = memory_kib(server.pid());
    let readers = (0..50).map(|_| {
        let url = url.clone();
        async move {
            use futures::StreamExt;
            let r = reqwest::get(&url).await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.content_length(), Some(100 << 20));
            let mut body = r.bytes_stream();
            let mut read = 0usize;
            // A slow player: ~64 KiB every 50 ms for 4 s, then gone.
            let until = Instant::now() + Duration::from_secs(4);
            while Instant::now() < until {
                match body.next().await {
                    Some(Ok(chunk)) => read += chunk.len(),
                    _ => break,
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            read
        }
    });
    let sampler = async {
        let mut peak = 0;
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            peak = peak.max(memory_kib(server.pid()).0);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    };
    let (read, peak) = tokio::join!(futures::future::join_all(readers), sampler);
    let growth_mib = peak.saturating_sub(rss_before) / 1024;
    eprintln!(
        "50 readers read {} MiB in all; server RSS {} MiB before, peak growth {growth_mib} MiB",
        read.iter().sum::<usize>() >> 20,
        rss_before / 1024
    );
    assert!(read.iter().all(|n| *n > 0), "every reader got bytes");
    assert!(growth_mib < 50, "RSS grew by {growth_mib} MiB");
}

/// A user through the CLI, and an API token of theirs.
async fn user_with_token(server: &Server, username: &str, role: &str) -> String {
    let out = server.aethex(&[
        "user",
        "create",
        "--username",
        username,
        "--password",
        "correct horse battery",
        "--role",
        role,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.api_token(username).await
}

/// Waits (≤ 20 s) for a server log line containing `needle`.
async fn wait_for_log(server: &Server, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no log line with {needle:?} in 20 s:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A creator demoted to viewer stops streaming at once and cannot publish
/// again; a channel an admin suspended refuses its publisher, with a log
/// line saying why.
#[tokio::test(flavor = "multi_thread")]
async fn demoted_and_suspended_creators_cannot_publish() {
    let server = Server::start(Database::Sqlite).await;
    let ch = server.create_channel("streamer");
    let admin = user_with_token(&server, "root", "admin").await;
    let db = control::Db::connect(&server.database_url()).await.unwrap();
    let owner = db.user_by_username("streamer").await.unwrap().unwrap();
    db.close().await;
    let url = format!("{}/{}", ch.rtmp_url, ch.stream_key);
    let mut publisher = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &url, 30);
    wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(15)).await;

    let (status, body) = api_call(
        reqwest::Method::PATCH,
        &server.url(&format!("/api/v1/users/{}", owner.user_id)),
        &admin,
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The broadcast ends now, and the publisher is let go (its stream
    // had 25 s to go).
    let deadline = Instant::now() + Duration::from_secs(15);
    while publisher.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "publisher still connected 15 s after the demotion: {}",
            publisher.report()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut again = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &url, 5);
    let (ok, _) = again.wait(Duration::from_secs(20));
    assert!(!ok, "a viewer's channel published");
    wait_for_log(&server, "may not publish (their account is a viewer)").await;

    // Creator again, but suspended by the admin.
    let (status, body) = api_call(
        reqwest::Method::PATCH,
        &server.url(&format!("/api/v1/users/{}", owner.user_id)),
        &admin,
        Some(json!({"role": "creator"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api_call(
        reqwest::Method::POST,
        &server.url(&format!("/api/v1/channels/{}/disable", ch.channel_id)),
        &admin,
        Some(json!({})),
    )
    .await;
    assert_eq!((status, &body["suspended"]), (200, &json!(true)), "{body}");
    let mut suspended = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &url, 5);
    let (ok, _) = suspended.wait(Duration::from_secs(20));
    assert!(!ok, "a suspended channel published");
    wait_for_log(&server, "is suspended by an administrator").await;
}

/// RTMP connections are capped per address (here 2): the next one is
/// closed at once, before any handshake, with a log line; when one
/// closes, a new one is taken again.
#[tokio::test(flavor = "multi_thread")]
async fn rtmp_connections_are_capped_per_address() {
    use tokio::io::AsyncReadExt;
    let server = Server::start_with_env(
        Database::Sqlite,
        "",
        &[("AETHEX_RTMP_MAX_CONNECTIONS_PER_IP", "2")],
    )
    .await;
    let addr = format!("127.0.0.1:{}", server.rtmp_port);
    let first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _second = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // Give the server a moment to count them (accepts are in order).
    wait_for_log(&server, "RTMP connection opened").await;
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("closed well before the 10 s handshake timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    wait_for_log(&server, "RTMP connection refused").await;
    assert!(
        server.log().contains("(rtmp.max_connections_per_ip)"),
        "{}",
        server.log()
    );
    drop(first);
    // A place is free again: a new connection is held open (waiting for
    // its handshake).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut fourth = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let held = tokio::time::timeout(Duration::from_millis(500), fourth.read(&mut buf)).await;
        if held.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "no place freed after a close");
    }
}
