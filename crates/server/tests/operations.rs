//! Operating it: `aethex config check`, JSON logs, and no secret (password,
//! stream key, API token, playback token) in any log line of an
//! end-to-end run.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// `aethex` with no `AETHEX_*` variable from the caller's environment.
fn aethex() -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("AETHEX_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn config_check_validates_and_redacts() {
    let out = aethex()
        .args(["config", "check"])
        .arg(repo_file("config/aethex.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("[storage]"), "{printed}");
    // The outbound-address policy is explained where it is set.
    for needle in [
        "[outbound]",
        "allow_private_networks = false",
        "allowed_hosts = []",
        "AETHEX_OUTBOUND_ALLOW_PRIVATE_NETWORKS",
        "AETHEX_OUTBOUND_ALLOWED_HOSTS",
        "link-local",
    ] {
        assert!(printed.contains(needle), "{needle}: {printed}");
    }

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[hls]\nsegment_duration = 2\n").unwrap();
    let out = aethex()
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("segment_duration"), "{err}");

    let secret = dir.path().join("secret.toml");
    std::fs::write(
        &secret,
        "database_url = \"postgres://aethex:pg-pass-123@db/aethex\"\n\
         [storage]\nurl = \"s3://bucket\"\ns3_access_key_id = \"AKIDEXAMPLE\"\ns3_secret_access_key = \"s3-secret-456\"\n",
    )
    .unwrap();
    let out = aethex()
        .args(["config", "check"])
        .arg(&secret)
        .env("AETHEX_HLS_SEGMENT_DURATION_S", "4")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("pg-pass-123"), "{printed}");
    assert!(!printed.contains("s3-secret-456"), "{printed}");
    assert!(printed.contains("segment_duration_s = 4.0"), "{printed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secrets_in_logs() {
    // Debug level, JSON lines: the most a log shipper would see.
    let server = Server::start_with_env(
        Database::Sqlite,
        "",
        &[("AETHEX_LOG", "debug"), ("AETHEX_LOG_FORMAT", "json")],
    )
    .await;
    let password = "correct horse battery";
    let ch = server.create_channel_with("secrets", &["--ladder", "passthrough-only"]);
    let mut cli_output = String::new();
    let out = server.aethex(&["channel", "reset-key", "--slug", "secrets", "--json"]);
    cli_output.push_str(&String::from_utf8_lossy(&out.stderr));
    let new_key = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();

    // A publish with the old key (refused) and one with the new key.
    let mut refused = Publisher::ffmpeg(
        "h264_aac_720p30_bframes.flv",
        &format!("{}/{}", ch.rtmp_url, ch.stream_key),
        2,
    );
    let _ = refused.wait(Duration::from_secs(20));
    let mut publisher = Publisher::ffmpeg(
        "h264_aac_720p30_bframes.flv",
        &format!("{}/{new_key}", ch.rtmp_url),
        6,
    );
    wait_for_media_url(&server, &ch.playback_id, Duration::from_secs(15)).await;

    // Log in with the password, make an API token, use it, make a signing
    // key and a playback token.
    let client = reqwest::Client::new();
    let login = client
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(serde_json::json!({"username": "secrets", "password": password}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let session = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("aethex_session="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let login: serde_json::Value = serde_json::from_slice(&login.bytes().await.unwrap()).unwrap();
    let csrf = login["csrf_token"].as_str().unwrap().to_owned();
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(server.url(path))
            .header("cookie", &session)
            .header("x-csrf-token", &csrf)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let token: serde_json::Value = serde_json::from_slice(
        &post("/api/v1/api-tokens", serde_json::json!({"name": "ci"}))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let api_token = token["secret"].as_str().expect("token secret").to_owned();
    let me = client
        .get(server.url("/api/v1/me"))
        .header("authorization", format!("Bearer {api_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let bad = client
        .get(server.url("/api/v1/me"))
        .header("authorization", format!("Bearer {api_token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let minted: serde_json::Value = serde_json::from_slice(
        &post(
            &format!("/api/v1/channels/{}/playback-tokens", ch.channel_id),
            serde_json::json!({}),
        )
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap(),
    )
    .unwrap();
    let playback_token = minted["token"].as_str().expect("playback token").to_owned();
    let master = client
        .get(server.url(&format!(
            "/hls/{}/master.m3u8?token={playback_token}",
            ch.playback_id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(master.status(), 200);
    let (ok, _) = publisher.wait(Duration::from_secs(30));
    assert!(ok);

    let log = server.log();
    // The log is JSON lines.
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 20, "{log}");
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
    let everything = format!("{log}\n{cli_output}");
    // The search can find things: what is not secret is there.
    assert!(
        everything.contains("\"secrets\""),
        "channel slug in the logs"
    );
    assert!(
        everything.contains("bad_key"),
        "the refused publish is logged"
    );
    for (what, secret) in [
        ("password", password),
        ("old stream key", ch.stream_key.as_str()),
        ("stream key", new_key.as_str()),
        ("API token", api_token.as_str()),
        (
            "session cookie",
            session.trim_start_matches("aethex_session="),
        ),
        ("CSRF token", csrf.as_str()),
        ("playback token", playback_token.as_str()),
    ] {
        assert!(
            !everything.contains(secret),
            "the {what} appears in the logs:\n{}",
            everything
                .lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
