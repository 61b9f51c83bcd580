//! The outbound-address policy against the real binary: webhooks a
//! creator registers never reach the server's own network (loopback here)
//! unless the operator lists the receiver in `[outbound] allowed_hosts`;
//! failed deliveries record our own short reason, never the receiver's
//! answer; and one owner's hanging receivers do not hold back another
//! owner's delivery.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// What the receiver answers: an internal page an attacker would like to
/// read back through the delivery log.
const INTERNAL_PAGE: &str = "root:x:0:0 internal-secret-page";

/// A receiver on 127.0.0.1 that records every request's path and answers
/// 500 with [`INTERNAL_PAGE`].
async fn start_receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(uri.path().to_owned());
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_PAGE)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, log)
}

/// A receiver that accepts connections and reads requests but never
/// answers (a hung endpoint: each delivery to it takes the full request
/// timeout). Returns its port and how many connections it accepted.
async fn start_hanging_receiver() -> (u16, Arc<Mutex<usize>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(Mutex::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        // Bounded: the test's runtime ends it.
        while let Ok((mut socket, _)) = listener.accept().await {
            *count.lock().unwrap() += 1;
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 4096];
                let deadline = Instant::now() + Duration::from_secs(60);
                while Instant::now() < deadline {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    (port, accepted)
}

/// A creator (user and channel `slug`) and an API token of theirs.
async fn creator(server: &Server, slug: &str) -> (ChannelInfo, String) {
    let ch = server.create_channel(slug);
    (ch, server.api_token(slug).await)
}

/// Registers `url` as `token`'s webhook through the API.
async fn register(server: &Server, token: &str, url: &str) -> (u16, Value) {
    api_call(
        reqwest::Method::POST,
        &server.url("/api/v1/webhooks"),
        token,
        Some(json!({ "url": url })),
    )
    .await
}

/// Renames the channel: a `channel.updated` event for its owner.
async fn touch_channel(server: &Server, token: &str, channel_id: &str, title: &str) {
    let (status, body) = api_call(
        reqwest::Method::PATCH,
        &server.url(&format!("/api/v1/channels/{channel_id}")),
        token,
        Some(json!({ "title": title })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Waits (≤ 20 s) until every delivery to the endpoint has been attempted
/// and returns them.
async fn attempted_deliveries(server: &Server, token: &str, endpoint_id: &str) -> Vec<Value> {
    let url = server.url(&format!("/api/v1/webhooks/{endpoint_id}/deliveries"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, page) = api_call(reqwest::Method::GET, &url, token, None).await;
        assert_eq!(status, 200, "{page}");
        let deliveries = page["data"].as_array().cloned().unwrap_or_default();
        if !deliveries.is_empty()
            && deliveries
                .iter()
                .all(|d| d["attempt_count"].as_u64() >= Some(1) && !d["last_error"].is_null())
        {
            return deliveries;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries not attempted in 20 s: {page}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Default policy: loopback, private and link-local URLs are refused at
/// registration (422 naming `url`); an endpoint whose name later resolves
/// to loopback (DNS rebinding, here `localhost`) or whose literal address
/// got into the database some other way is refused at delivery, after
/// resolution, and the receiver on 127.0.0.1 never gets a request.
#[tokio::test(flavor = "multi_thread")]
async fn webhooks_never_reach_internal_addresses() {
    let server = Server::start(Database::Sqlite).await;
    let (ch, token) = creator(&server, "ssrf").await;
    let (port, received) = start_receiver().await;

    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://127.1:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/hook".to_owned(),
        "http://192.168.1.1/hook".to_owned(),
        "http://100.64.0.1/hook".to_owned(),
        "http://[fd00::1]/hook".to_owned(),
        "http://0.0.0.0/hook".to_owned(),
    ] {
        let (status, body) = register(&server, &token, &url).await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["error"]["field"], "url", "{url}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("outbound policy"), "{url}: {message}");
    }

    // A name passes registration; what it resolves to is checked at each
    // delivery. Point it at loopback afterwards, as a rebinding DNS would.
    let (status, body) = register(&server, &token, "http://hooks.example.com/hook").await;
    assert_eq!(status, 201, "{body}");
    let renamed = body["webhook_endpoint"]["webhook_endpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = control::Db::connect(&server.database_url()).await.unwrap();
    let owner = db.user_by_username("ssrf").await.unwrap().unwrap();
    db.update_webhook_endpoint(
        &owner.user_id,
        &renamed,
        control::WebhookEndpointUpdate {
            url: Some(format!("http://localhost:{port}/rebound")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // And a literal loopback URL written around the API (registered under
    // an older policy, say).
    let literal = db
        .create_webhook_endpoint(
            &owner.user_id,
            control::NewWebhookEndpoint {
                url: format!("http://127.0.0.1:{port}/literal"),
                event_types: vec![],
                format: Default::default(),
            },
        )
        .await
        .unwrap()
        .webhook_endpoint_id;
    db.close().await;

    touch_channel(&server, &token, &ch.channel_id, "an event").await;
    for endpoint in [&renamed, &literal] {
        let deliveries = attempted_deliveries(&server, &token, endpoint).await;
        for d in &deliveries {
            assert_eq!(
                d["last_error"], "refused by the outbound policy (a loopback address)",
                "{d}"
            );
            assert!(d["last_status_code"].is_null(), "{d}");
            assert_eq!(d["status"], "pending", "retried later: {d}");
        }
    }
    assert!(
        received.lock().unwrap().is_empty(),
        "the receiver on 127.0.0.1 got {:?}",
        received.lock().unwrap()
    );
    assert!(
        server.log().contains("webhook delivery attempt failed"),
        "{}",
        server.log()
    );
}

/// `allowed_hosts` lets a listed receiver through: registration and
/// delivery work, and the failed attempt records "HTTP 500", not what the
/// receiver answered.
#[tokio::test(flavor = "multi_thread")]
async fn allowed_hosts_let_a_listed_receiver_through_without_reading_it_back() {
    let server = Server::start_with_env(
        Database::Sqlite,
        "",
        &[("AETHEX_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")],
    )
    .await;
    let (ch, token) = creator(&server, "lan").await;
    let (port, received) = start_receiver().await;
    let (status, body) = register(&server, &token, &format!("http://127.0.0.1:{port}/hook")).await;
    assert_eq!(status, 201, "{body}");
    let endpoint = body["webhook_endpoint"]["webhook_endpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Other loopback addresses are still refused.
    let (status, body) = register(&server, &token, &format!("http://127.0.0.2:{port}/hook")).await;
    assert_eq!(status, 422, "{body}");

    touch_channel(&server, &token, &ch.channel_id, "an event").await;
    let deliveries = attempted_deliveries(&server, &token, &endpoint).await;
    assert_eq!(received.lock().unwrap().as_slice(), ["/hook"]);
    assert_eq!(deliveries[0]["last_status_code"], 500);
    assert_eq!(deliveries[0]["last_error"], "HTTP 500");
    let (_, page) = api_call(
        reqwest::Method::GET,
        &server.url(&format!("/api/v1/webhooks/{endpoint}/deliveries")),
        &token,
        None,
    )
    .await;
    assert!(!page.to_string().contains("internal-secret-page"), "{page}");
}

/// One owner with 20 endpoints that never answer and a burst of events
/// (60 deliveries, each holding its request for the 10 s timeout) does
/// not delay another owner's delivery: owners take turns and each has at
/// most `max_in_flight_per_owner` requests in flight.
#[tokio::test(flavor = "multi_thread")]
async fn hanging_receivers_of_one_owner_do_not_delay_another() {
    let server = Server::start_with_env(
        Database::Sqlite,
        "",
        &[("AETHEX_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")],
    )
    .await;
    let (flood_ch, flood_token) = creator(&server, "flooder").await;
    let (ch, token) = creator(&server, "bystander").await;
    let (hang_port, accepted) = start_hanging_receiver().await;
    let (port, received) = start_receiver().await;
    for i in 0..20 {
        let (status, body) = register(
            &server,
            &flood_token,
            &format!("http://127.0.0.1:{hang_port}/hook{i}"),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    // The cap: a 21st endpoint is refused.
    let (status, body) = register(
        &server,
        &flood_token,
        &format!("http://127.0.0.1:{hang_port}/hook20"),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "limit_reached", "{body}");
    let (status, body) = register(&server, &token, &format!("http://127.0.0.1:{port}/hook")).await;
    assert_eq!(status, 201, "{body}");

    for i in 0..3 {
        touch_channel(
            &server,
            &flood_token,
            &flood_ch.channel_id,
            &format!("flood {i}"),
        )
        .await;
    }
    // The flood is being sent (and hanging).
    let deadline = Instant::now() + Duration::from_secs(10);
    while *accepted.lock().unwrap() == 0 {
        assert!(
            Instant::now() < deadline,
            "no delivery reached the hanging receiver"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = Instant::now();
    touch_channel(&server, &token, &ch.channel_id, "one event").await;
    let deadline = sent + Duration::from_secs(8);
    while received.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the bystander's delivery did not arrive within 8 s while the flood hung\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let waited = sent.elapsed();
    eprintln!("bystander's delivery after {waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // Each owner's share: no more than 4 of the flood were in flight.
    let in_flight = *accepted.lock().unwrap();
    assert!(in_flight <= 4, "{in_flight} hanging requests at once");
}
