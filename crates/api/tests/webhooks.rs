//! Webhook endpoints and their delivery logs through `/api/v1/webhooks`,
//! on SQLite and PostgreSQL.

mod common;

use common::*;
use control::WebhookEventType;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_crud_and_the_secret_shown_once() {
    for app in TestApp::all().await {
        let b = app.backend;
        let alice = app.creator("alice").await;

        // Create: 201 with the secret, which signs deliveries.
        let r = app
            .post(
                "/api/v1/webhooks",
                &alice.auth(),
                json!({
                    "url": " https://Hooks.Example.com/aethex?x=1 ",
                    "event_types": ["vod.ready", "live_stream.active", "vod.ready"],
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{b:?}: {}", r.text);
        let secret = r.json["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"), "{secret}");
        let endpoint = &r.json["webhook_endpoint"];
        let id = endpoint["webhook_endpoint_id"].as_str().unwrap().to_owned();
        assert_eq!(endpoint["url"], "https://hooks.example.com/aethex?x=1");
        // Deduplicated, in declaration order.
        assert_eq!(
            endpoint["event_types"],
            json!(["live_stream.active", "vod.ready"])
        );
        assert_eq!(endpoint["enabled"], true);
        assert!(endpoint.get("secret").is_none());
        // The same secret is what control signs with.
        let stored = app.db.webhook_endpoint(alice.id(), &id).await.unwrap();
        assert_eq!(stored.secret, secret);

        // Get, list: never the secret.
        let r = app
            .get(&format!("/api/v1/webhooks/{id}"), &alice.auth())
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["webhook_endpoint_id"], id.as_str());
        assert!(!r.text.contains(&secret), "{}", r.text);
        assert!(r.json.get("secret").is_none());
        let r = app.get("/api/v1/webhooks", &alice.auth()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
        assert_eq!(r.json["data"][0]["webhook_endpoint_id"], id.as_str());
        assert!(r.json["next_cursor"].is_null());
        assert!(!r.text.contains(&secret), "{}", r.text);

        // Patch: URL, types (empty = every type), enabled; not the secret.
        let r = app
            .patch(
                &format!("/api/v1/webhooks/{id}"),
                &alice.auth(),
                json!({"url": "http://hooks.example.net:9/hook", "event_types": [], "enabled": false}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["url"], "http://hooks.example.net:9/hook");
        assert_eq!(r.json["event_types"], json!([]));
        assert_eq!(r.json["enabled"], false);
        assert!(!r.text.contains(&secret));
        let r = app
            .patch(
                &format!("/api/v1/webhooks/{id}"),
                &alice.auth(),
                json!({"enabled": true}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["enabled"], true);
        assert_eq!(
            r.json["url"], "http://hooks.example.net:9/hook",
            "unchanged"
        );

        // Rotate: a new secret, shown in the response, used from now on.
        let r = app
            .post(
                &format!("/api/v1/webhooks/{id}/rotate-secret"),
                &alice.auth(),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let rotated = r.json["secret"].as_str().unwrap().to_owned();
        assert!(rotated.starts_with("whsec_"));
        assert_ne!(rotated, secret);
        assert_eq!(
            r.json["webhook_endpoint"]["webhook_endpoint_id"],
            id.as_str()
        );
        let stored = app.db.webhook_endpoint(alice.id(), &id).await.unwrap();
        assert_eq!(stored.secret, rotated);

        // Pages: limit and cursor.
        for n in 0..2 {
            let r = app
                .post(
                    "/api/v1/webhooks",
                    &alice.auth(),
                    json!({"url": format!("https://example.com/{n}")}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            assert_eq!(r.json["webhook_endpoint"]["event_types"], json!([]));
        }
        let r = app.get("/api/v1/webhooks?limit=2", &alice.auth()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["data"].as_array().unwrap().len(), 2);
        let cursor = r.json["next_cursor"].as_str().unwrap().to_owned();
        let r = app
            .get(
                &format!("/api/v1/webhooks?limit=2&cursor={cursor}"),
                &alice.auth(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
        assert_eq!(
            r.json["data"][0]["webhook_endpoint_id"],
            id.as_str(),
            "oldest last"
        );
        let r = app.get("/api/v1/webhooks?limit=0", &alice.auth()).await;
        assert_eq!(r.status, 400, "{}", r.text);

        // Delete: 204, then 404.
        let r = app
            .delete(&format!("/api/v1/webhooks/{id}"), &alice.auth())
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        let r = app
            .get(&format!("/api/v1/webhooks/{id}"), &alice.auth())
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
        assert_eq!(r.code(), "not_found");
        let r = app
            .delete(&format!("/api/v1/webhooks/{id}"), &alice.auth())
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_owner_sees_and_changes_an_endpoint() {
    for app in TestApp::all().await {
        let b = app.backend;
        let alice = app.creator("alice").await;
        let bob = app.creator("bob").await;
        let admin = app.admin("root").await;
        let viewer = app.viewer("vic").await;

        let r = app
            .post(
                "/api/v1/webhooks",
                &alice.auth(),
                json!({"url": "https://example.com/a"}),
            )
            .await;
        assert_eq!(r.status, 201, "{b:?}: {}", r.text);
        let id = r.json["webhook_endpoint"]["webhook_endpoint_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let one = format!("/api/v1/webhooks/{id}");
        let rotate = format!("/api/v1/webhooks/{id}/rotate-secret");
        let deliveries = format!("/api/v1/webhooks/{id}/deliveries");

        // Anonymous: 401 on everything, before any lookup.
        for r in [
            app.get("/api/v1/webhooks", &Auth::None).await,
            app.post(
                "/api/v1/webhooks",
                &Auth::None,
                json!({"url": "https://example.com/x"}),
            )
            .await,
            app.get(&one, &Auth::None).await,
            app.patch(&one, &Auth::None, json!({"enabled": false}))
                .await,
            app.delete(&one, &Auth::None).await,
            app.post(&rotate, &Auth::None, json!({})).await,
            app.get(&deliveries, &Auth::None).await,
        ] {
            assert_eq!(r.status, 401, "{b:?}: {}", r.text);
            assert_eq!(r.code(), "unauthenticated");
        }

        // Viewers may not register endpoints.
        let r = app
            .post(
                "/api/v1/webhooks",
                &viewer.auth(),
                json!({"url": "https://example.com/v"}),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(r.code(), "forbidden");
        // Admins may (their own).
        let r = app
            .post(
                "/api/v1/webhooks",
                &admin.auth(),
                json!({"url": "https://example.com/root"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);

        // Someone else's endpoint is a 404 for every operation (personal
        // settings; admins may act on it, see authorization.rs), and
        // nothing changes.
        for who in [&bob, &viewer] {
            for r in [
                app.get(&one, &who.auth()).await,
                app.patch(&one, &who.auth(), json!({"url": "https://evil.example/"}))
                    .await,
                app.delete(&one, &who.auth()).await,
                app.post(&rotate, &who.auth(), json!({})).await,
                app.get(&deliveries, &who.auth()).await,
            ] {
                assert_eq!(r.status, 404, "{b:?} {}: {}", who.user.username, r.text);
                assert_eq!(r.code(), "not_found");
            }
            let r = app.get("/api/v1/webhooks", &who.auth()).await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert!(!r.text.contains(&id), "{}", r.text);
        }
        let stored = app.db.webhook_endpoint(alice.id(), &id).await.unwrap();
        assert_eq!(stored.url, "https://example.com/a");
        assert!(stored.enabled);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_input_is_a_422_naming_the_field() {
    for app in TestApp::all().await {
        let b = app.backend;
        let alice = app.creator("alice").await;
        for url in [
            "not a url",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "",
        ] {
            let r = app
                .post("/api/v1/webhooks", &alice.auth(), json!({ "url": url }))
                .await;
            assert_eq!(r.status, 422, "{b:?} {url:?}: {}", r.text);
            assert_eq!(r.code(), "invalid_field", "{}", r.text);
            assert_eq!(r.json["error"]["field"], "url", "{}", r.text);
        }
        // An unknown event type, a missing URL, an unknown field: 422.
        for body in [
            json!({"url": "https://example.com/", "event_types": ["video.asset.ready"]}),
            json!({"event_types": []}),
            json!({"url": "https://example.com/", "secret": "whsec_mine"}),
        ] {
            let r = app.post("/api/v1/webhooks", &alice.auth(), body).await;
            assert_eq!(r.status, 422, "{b:?}: {}", r.text);
        }
        let r = app
            .post(
                "/api/v1/webhooks",
                &alice.auth(),
                json!({"url": "https://example.com/"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.json["webhook_endpoint"]["webhook_endpoint_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = app
            .patch(
                &format!("/api/v1/webhooks/{id}"),
                &alice.auth(),
                json!({"url": "javascript:alert(1)"}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json["error"]["field"], "url");
        let stored = app.db.webhook_endpoint(alice.id(), &id).await.unwrap();
        assert_eq!(stored.url, "https://example.com/", "unchanged");
        // No endpoint was created by the failed requests.
        let r = app.get("/api/v1/webhooks", &alice.auth()).await;
        assert_eq!(r.json["data"].as_array().unwrap().len(), 1, "{}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_delivery_log_shows_attempts_and_outcomes() {
    for app in TestApp::all().await {
        let b = app.backend;
        let alice = app.creator("alice").await;
        let r = app
            .post(
                "/api/v1/webhooks",
                &alice.auth(),
                json!({"url": "https://example.com/hook", "event_types": ["vod.ready", "live_stream.idle"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{b:?}: {}", r.text);
        let id = r.json["webhook_endpoint"]["webhook_endpoint_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let deliveries = format!("/api/v1/webhooks/{id}/deliveries");
        let r = app.get(&deliveries, &alice.auth()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["data"], json!([]));

        // Three events: one this endpoint does not want.
        let (idle, _) = app
            .db
            .enqueue_webhook_event(
                WebhookEventType::LiveStreamIdle,
                alice.id(),
                None,
                json!({"live_stream_id": "ls1"}),
            )
            .await
            .unwrap();
        // Apart in time, so that "newest first" is well defined.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        app.db
            .enqueue_webhook_event(
                WebhookEventType::LiveStreamActive,
                alice.id(),
                None,
                json!({}),
            )
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let (ready, _) = app
            .db
            .enqueue_webhook_event(WebhookEventType::VodReady, alice.id(), None, json!({}))
            .await
            .unwrap();

        // The dispatcher's moves: claim both; the first fails with a 503,
        // the second is delivered.
        let now = unix_ms();
        let due = app.db.claim_due_deliveries(now, 10, 60_000).await.unwrap();
        assert_eq!(due.len(), 2, "{due:?}");
        for d in &due {
            if d.event.webhook_event_id == idle.webhook_event_id {
                app.db
                    .delivery_failed(
                        &d.delivery.webhook_delivery_id,
                        Some(503),
                        "HTTP 503 Service Unavailable",
                        now,
                    )
                    .await
                    .unwrap();
            } else {
                app.db
                    .delivery_succeeded(&d.delivery.webhook_delivery_id, 204)
                    .await
                    .unwrap();
            }
        }

        let r = app.get(&deliveries, &alice.auth()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let data = r.json["data"].as_array().unwrap();
        assert_eq!(data.len(), 2, "{}", r.text);
        let find = |event_id: &str| {
            data.iter()
                .find(|d| d["webhook_event_id"] == event_id)
                .unwrap_or_else(|| panic!("no delivery of {event_id}: {}", r.text))
        };
        let failed = find(&idle.webhook_event_id);
        assert_eq!(failed["status"], "pending");
        assert_eq!(failed["attempt_count"], 1);
        assert_eq!(failed["last_status_code"], 503);
        assert_eq!(failed["last_error"], "HTTP 503 Service Unavailable");
        assert_eq!(failed["webhook_endpoint_id"], id.as_str());
        // The first retry: 10 s after the failure.
        assert_eq!(failed["next_attempt_at_ms"], now + 10_000);
        assert!(failed["delivered_at_ms"].is_null());
        let delivered = find(&ready.webhook_event_id);
        assert_eq!(delivered["status"], "delivered");
        assert_eq!(delivered["attempt_count"], 1);
        assert_eq!(delivered["last_status_code"], 204);
        assert!(delivered["last_error"].is_null());
        assert!(delivered["next_attempt_at_ms"].is_null());
        assert!(delivered["delivered_at_ms"].as_i64().unwrap() >= now);

        // Paged, newest first.
        let r = app
            .get(&format!("{deliveries}?limit=1"), &alice.auth())
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
        assert_eq!(
            r.json["data"][0]["webhook_event_id"],
            ready.webhook_event_id.as_str()
        );
        let cursor = r.json["next_cursor"].as_str().unwrap().to_owned();
        let r = app
            .get(
                &format!("{deliveries}?limit=1&cursor={cursor}"),
                &alice.auth(),
            )
            .await;
        assert_eq!(
            r.json["data"][0]["webhook_event_id"],
            idle.webhook_event_id.as_str(),
            "{}",
            r.text
        );

        // Deleting the endpoint drops its log.
        let r = app
            .delete(&format!("/api/v1/webhooks/{id}"), &alice.auth())
            .await;
        assert_eq!(r.status, 204);
        let r = app.get(&deliveries, &alice.auth()).await;
        assert_eq!(r.status, 404, "{}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_the_webhook_routes() {
    let app = TestApp::sqlite().await;
    let r = app.get("/api/openapi.json", &Auth::None).await;
    assert_eq!(r.status, 200);
    let paths = &r.json["paths"];
    for (path, methods) in [
        ("/api/v1/webhooks", &["get", "post"][..]),
        (
            "/api/v1/webhooks/{webhook_endpoint_id}",
            &["get", "patch", "delete"],
        ),
        (
            "/api/v1/webhooks/{webhook_endpoint_id}/rotate-secret",
            &["post"],
        ),
        (
            "/api/v1/webhooks/{webhook_endpoint_id}/deliveries",
            &["get"],
        ),
    ] {
        for m in methods {
            assert!(paths[path][m].is_object(), "{m} {path} not documented");
        }
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
