//! Webhooks end to end: a real ffmpeg publish against the real binary, and
//! a local receiver that records every request. The broadcast's events
//! arrive signed, with the documented body, and a receiver that fails
//! gets each event again until it answers 2xx, then never again.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use serde_json::Value;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    /// Unix milliseconds when it arrived.
    at_ms: i64,
    /// What the receiver answered.
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    fn event_id(&self) -> String {
        self.json()["id"].as_str().expect("id").to_owned()
    }
    fn event_type(&self) -> String {
        self.json()["type"].as_str().expect("type").to_owned()
    }
}

#[derive(Default)]
struct Receiver {
    /// Answer 500 to this many attempts of each event before a 200.
    failures_per_event: usize,
    log: Mutex<Vec<Received>>,
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn hook(State(rx): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at_ms = unix_ms();
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned));
    let mut log = rx.log.lock().unwrap();
    let earlier = log
        .iter()
        .filter(|r| {
            serde_json::from_slice::<Value>(&r.body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned))
                == id
        })
        .count();
    let status = if id.is_some() && earlier >= rx.failures_per_event {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    log.push(Received {
        headers,
        body,
        at_ms,
        answered: status.as_u16(),
    });
    status
}

/// A receiver on 127.0.0.1 at `/hook`.
async fn start_receiver(failures_per_event: usize) -> (SocketAddr, Arc<Receiver>) {
    let state = Arc::new(Receiver {
        failures_per_event,
        log: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, state)
}

/// The server, allowed to deliver to receivers on 127.0.0.1 (the outbound
/// policy refuses loopback by default; `tests/outbound.rs` checks that).
async fn start_server(db: Database) -> Server {
    Server::start_with_env(db, "", &[("AETHEX_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")]).await
}

/// Registers a webhook endpoint for the channel's owner (user `owner`)
/// through the HTTP API with a bearer token; returns (endpoint id, secret,
/// token).
async fn register(server: &Server, owner: &str, url: &str) -> (String, String, String) {
    let token = server.api_token(owner).await;
    let r = reqwest::Client::new()
        .post(server.url("/api/v1/webhooks"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(serde_json::json!({ "url": url }).to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(status, 201, "{body}");
    (
        body["webhook_endpoint"]["webhook_endpoint_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
        token,
    )
}

/// Waits (≤ `timeout`) until `done` holds for the receiver's log.
async fn wait_for(
    server: &Server,
    rx: &Receiver,
    timeout: Duration,
    what: &str,
    done: impl Fn(&[Received]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        {
            let log = rx.log.lock().unwrap();
            if done(&log) {
                return;
            }
            if Instant::now() >= deadline {
                let got: Vec<_> = log.iter().map(|r| (r.event_type(), r.answered)).collect();
                panic!(
                    "{what}: not within {timeout:?}; received {got:?}\n{}",
                    server.log()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn successes(log: &[Received]) -> Vec<Received> {
    log.iter().filter(|r| r.answered == 200).cloned().collect()
}

/// Checks what every request carries: the signature (with this secret
/// only), the headers, and the body's shape.
fn check_requests(log: &[Received], secret: &str, channel_id: &str) {
    let now_s = unix_ms() / 1000;
    for r in log {
        let signature = r
            .headers
            .get("x-aethex-signature")
            .expect("X-Aethex-Signature")
            .to_str()
            .unwrap();
        assert!(
            control::verify_webhook_signature(secret, signature, &r.body, now_s, 300),
            "bad signature {signature} on {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(!control::verify_webhook_signature(
            "whsec_someoneelse",
            signature,
            &r.body,
            now_s,
            300
        ));
        assert_eq!(r.headers["content-type"], "application/json");
        assert!(
            r.headers["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("AeThex-Webhooks/"),
            "{:?}",
            r.headers["user-agent"]
        );
        let body = r.json();
        assert!(body["id"].is_string(), "{body}");
        assert!(body["type"].is_string(), "{body}");
        assert!(body["created_at_ms"].as_i64().unwrap() > 1_700_000_000_000);
        assert_eq!(body["channel_id"], channel_id, "{body}");
        assert!(body["data"].is_object(), "{body}");
    }
}

/// The first successful receipt of each event type, in the order the
/// events were created.
fn by_type(log: &[Received]) -> HashMap<String, Value> {
    let mut map = HashMap::new();
    for r in successes(log) {
        let previous = map.insert(r.event_type(), r.json());
        assert!(
            previous.is_none(),
            "{} delivered successfully twice",
            r.event_type()
        );
    }
    map
}

async fn get_json(url: &str, token: &str) -> Value {
    let r = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

/// A publisher that drops (reconnect window 2 s) against a receiver that
/// fails every event twice: each of connected → active → disconnected →
/// idle → vod.ready is received three times (500, 500, 200), in order,
/// signed, and never again after its 200.
#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_broadcast_is_announced_and_failed_deliveries_are_retried() {
    let server = start_server(Database::Sqlite).await;
    let ch = server.create_channel_with("hooked", &["--reconnect-window", "2"]);
    let (addr, rx) = start_receiver(2).await;
    let (endpoint_id, secret, token) =
        register(&server, "hooked", &format!("http://{addr}/hook")).await;

    let url = format!("{}/{}", ch.rtmp_url, ch.stream_key);
    let mut publisher = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &url, 30);
    // Live: the first attempt of `active` arrived (and was refused).
    wait_for(
        &server,
        &rx,
        Duration::from_secs(20),
        "live_stream.active",
        |log| log.iter().any(|r| r.event_type() == "live_stream.active"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    publisher.kill();

    let types = [
        "vod.created",
        "live_stream.connected",
        "live_stream.active",
        "live_stream.disconnected",
        "live_stream.idle",
        "vod.ready",
    ];
    // Retries come 10 s, then 20 s after a failure: 30 s after each event,
    // plus polling.
    wait_for(
        &server,
        &rx,
        Duration::from_secs(90),
        "each event delivered after two failures",
        |log| by_type(log).len() == types.len(),
    )
    .await;
    // Nothing more comes for a delivered event.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = rx.log.lock().unwrap().clone();
    check_requests(&log, &secret, &ch.channel_id);

    let events = by_type(&log);
    let mut keys: Vec<_> = events.keys().cloned().collect();
    keys.sort();
    let mut expected: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(keys, expected, "exactly these events");
    // Three attempts per event: 500, 500, 200, and the same bytes each time.
    for event in events.values() {
        let id = event["id"].as_str().unwrap();
        let attempts: Vec<_> = log.iter().filter(|r| r.event_id() == id).collect();
        let answers: Vec<u16> = attempts.iter().map(|r| r.answered).collect();
        assert_eq!(answers, [500, 500, 200], "{}", event["type"]);
        assert!(attempts.iter().all(|r| r.body == attempts[0].body));
        // Backoff: the first retry ≥ 10 s after the first attempt, the
        // second ≥ 20 s after the first retry.
        let gap1 = attempts[1].at_ms - attempts[0].at_ms;
        let gap2 = attempts[2].at_ms - attempts[1].at_ms;
        assert!(
            (9_500..15_000).contains(&gap1),
            "{}: {gap1} ms",
            event["type"]
        );
        assert!(
            (19_500..26_000).contains(&gap2),
            "{}: {gap2} ms",
            event["type"]
        );
        // The first attempt follows the event promptly (polling: 1 s).
        let latency = attempts[0].at_ms - event["created_at_ms"].as_i64().unwrap();
        eprintln!(
            "{}: first attempt {latency} ms after the event",
            event["type"]
        );
        assert!((0..3_000).contains(&latency), "{latency} ms");
    }

    // In the order the broadcast went, about one live stream.
    let created: Vec<i64> = types
        .iter()
        .map(|t| events[*t]["created_at_ms"].as_i64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "{created:?}");
    let live_stream_id = events["live_stream.connected"]["data"]["live_stream_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (t, status) in [
        ("live_stream.connected", "connected"),
        ("live_stream.active", "active"),
        ("live_stream.disconnected", "disconnected"),
        ("live_stream.idle", "ended"),
    ] {
        let data = &events[t]["data"];
        assert_eq!(data["live_stream_id"], live_stream_id.as_str(), "{t}");
        assert_eq!(data["channel_id"], ch.channel_id.as_str(), "{t}");
        assert_eq!(data["playback_id"], ch.playback_id.as_str(), "{t}");
        assert_eq!(data["status"], status, "{t}: {data}");
        assert_eq!(
            data["playback_url"],
            format!("/hls/{}/master.m3u8", ch.playback_id),
            "{t}"
        );
    }
    let active = &events["live_stream.active"]["data"];
    assert!(active["active_at_ms"].is_i64(), "{active}");
    assert!(active["ingest"]["video_codec"].is_string(), "{active}");
    let idle = &events["live_stream.idle"]["data"];
    assert_eq!(idle["end_reason"], "reconnect window elapsed", "{idle}");
    let vod = &events["vod.ready"]["data"];
    let vod_id = vod["vod_id"].as_str().unwrap();
    assert_eq!(idle["vod_id"], vod_id);
    assert_eq!(vod["live_stream_id"], live_stream_id.as_str());
    assert_eq!(vod["status"], "ready");
    assert!(vod["duration_ms"].as_i64().unwrap() > 2_000, "{vod}");
    assert_eq!(vod["playback_url"], format!("/vod/{vod_id}/master.m3u8"));
    // The paths play on this server.
    let (status, _, _, _) = get(&server.url(vod["playback_url"].as_str().unwrap())).await;
    assert_eq!(status, 200);

    // The delivery log through the API: six delivered, three attempts
    // each, the last answer 200.
    let page = get_json(
        &server.url(&format!("/api/v1/webhooks/{endpoint_id}/deliveries")),
        &token,
    )
    .await;
    let deliveries = page["data"].as_array().unwrap();
    assert_eq!(deliveries.len(), types.len(), "{page}");
    for d in deliveries {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempt_count"], 3, "{d}");
        assert_eq!(d["last_status_code"], 200, "{d}");
    }
    // The secret never reaches the log.
    assert!(!server.log().contains(&secret));
}

/// A publisher that stops on purpose, against a receiver that accepts
/// everything (on PostgreSQL when available): connected → active → idle →
/// vod.ready, once each, no `disconnected`.
#[tokio::test(flavor = "multi_thread")]
async fn a_finished_broadcast_is_announced_once() {
    let db = Database::postgres().await.unwrap_or(Database::Sqlite);
    let server = start_server(db).await;
    let ch = server.create_channel("finished");
    let (addr, rx) = start_receiver(0).await;
    let (_, secret, _) = register(&server, "finished", &format!("http://{addr}/hook")).await;

    let url = format!("{}/{}", ch.rtmp_url, ch.stream_key);
    let mut publisher = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &url, 6);
    let (ok, stderr) = publisher.wait(Duration::from_secs(30));
    assert!(ok, "{stderr}");
    wait_for(&server, &rx, Duration::from_secs(30), "vod.ready", |log| {
        log.iter().any(|r| r.event_type() == "vod.ready")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut log = rx.log.lock().unwrap().clone();
    check_requests(&log, &secret, &ch.channel_id);
    // Events close together (idle, vod.ready) are sent at once and may
    // arrive in either order; they were created in this one.
    let expected = [
        "vod.created",
        "live_stream.connected",
        "live_stream.active",
        "live_stream.idle",
        "vod.ready",
    ];
    log.sort_by_key(|r| {
        let rank = expected.iter().position(|t| *t == r.event_type());
        (r.json()["created_at_ms"].as_i64(), rank)
    });
    let order: Vec<String> = log.iter().map(Received::event_type).collect();
    assert_eq!(order, expected, "{log:?}");
    assert!(log.iter().all(|r| r.answered == 200));
    let idle = &log[3].json()["data"];
    assert_eq!(idle["end_reason"], "publisher finished", "{idle}");
    for r in &log {
        let latency = r.at_ms - r.json()["created_at_ms"].as_i64().unwrap();
        eprintln!("{}: received {latency} ms after the event", r.event_type());
        assert!((0..3_000).contains(&latency), "{latency} ms");
    }
}

/// A server killed mid-broadcast: the next start finalizes the broadcast
/// and announces its end and its recording, once each.
#[tokio::test(flavor = "multi_thread")]
async fn crash_recovery_announces_the_end_and_the_recording() {
    let mut server = start_server(Database::Sqlite).await;
    let ch = server.create_channel("crashed");
    let (addr, rx) = start_receiver(0).await;
    let (_, secret, _) = register(&server, "crashed", &format!("http://{addr}/hook")).await;
    let url = format!("{}/{}", ch.rtmp_url, ch.stream_key);
    let mut publisher = Publisher::ffmpeg("h264_aac_360p30_nobframes.flv", &url, 20);
    wait_for(
        &server,
        &rx,
        Duration::from_secs(20),
        "live_stream.active",
        |log| log.iter().any(|r| r.event_type() == "live_stream.active"),
    )
    .await;
    // Let the server record the delivery and a few segments.
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.kill();
    publisher.kill();
    server.restart().await;
    wait_for(
        &server,
        &rx,
        Duration::from_secs(30),
        "vod.ready after the restart",
        |log| log.iter().any(|r| r.event_type() == "vod.ready"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = rx.log.lock().unwrap().clone();
    check_requests(&log, &secret, &ch.channel_id);
    let events = by_type(&log);
    let mut types: Vec<_> = events.keys().map(String::as_str).collect();
    types.sort();
    assert_eq!(
        types,
        [
            "live_stream.active",
            "live_stream.connected",
            "live_stream.idle",
            "vod.created",
            "vod.ready"
        ],
        "{log:?}"
    );
    assert_eq!(log.len(), 5, "one delivery each: {log:?}");
    let idle = &events["live_stream.idle"]["data"];
    assert_eq!(idle["end_reason"], "server restarted", "{idle}");
    assert_eq!(idle["status"], "ended");
    let vod = &events["vod.ready"]["data"];
    assert_eq!(vod["vod_id"], idle["vod_id"]);
    assert_eq!(vod["status"], "ready");
    assert!(vod["segment_count"].as_u64().unwrap() >= 1, "{vod}");
}
