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
}
