//! Channels and live streams through `/api/v1`, on SQLite and PostgreSQL:
//! CRUD, who may do what, validation, pagination, stream keys,
//! enable/disable and ending broadcasts.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use control::{IngestInfo, NewWebhookEndpoint, WebhookEventType};
use serde_json::{Value, json};

const RTMP_URL: &str = "rtmp://live.example/live";
const PUBLIC_URL: &str = "https://tv.example";
const VIEWERS: u32 = 7;

fn options() -> api::ApiOptions {
    api::ApiOptions {
        ladders: Some(vec!["default".into(), "sports".into()]),
        rtmp_url: Some(RTMP_URL.into()),
        public_url: PUBLIC_URL.into(),
        viewers: Some(Arc::new(|_: &str| VIEWERS)),
        ..Default::default()
    }
}

/// Both backends (PostgreSQL when configured), with [`options`].
async fn apps() -> Vec<TestApp> {
    let mut apps = vec![
        TestApp::with(Backend::Sqlite, options())
            .await
            .expect("sqlite"),
    ];
    if let Some(pg) = TestApp::with(Backend::Postgres, options()).await {
        apps.push(pg);
    }
    apps
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Asserts a status; error statuses must carry a JSON error code.
#[track_caller]
fn check(r: &Resp, status: u16, what: &str) {
    assert_eq!(r.status.as_u16(), status, "{what}: {}", r.text);
    if status >= 400 {
        assert!(!r.code().is_empty(), "{what}: not a JSON error: {}", r.text);
    }
}

/// Creates a channel as `owner` and returns (channel_id, stream_key).
async fn create(app: &TestApp, owner: &Client, body: Value) -> (String, String) {
    let r = app.post("/api/v1/channels", &owner.auth(), body).await;
    check(&r, 201, "create");
    (
        r.json["channel"]["channel_id"].as_str().unwrap().to_owned(),
        r.json["stream_key"].as_str().unwrap().to_owned(),
    )
}

/// Waits until the live crate has forgotten the channel's last session.
async fn wait_session_gone(app: &TestApp, channel_id: &str) {
    for _ in 0..200 {
        if app.state.live.registry().get(channel_id).is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the session of {channel_id} did not go away");
}

#[tokio::test(flavor = "multi_thread")]
async fn crud_round_trip() {
    for app in apps().await {
        let alice = app.creator("alice").await;
        let hook = app
            .db
            .create_webhook_endpoint(
                alice.id(),
                NewWebhookEndpoint {
                    url: "https://hooks.example/aethex".into(),
                    event_types: vec![WebhookEventType::ChannelUpdated],
                    format: Default::default(),
                },
            )
            .await
            .unwrap();

        // Create: the key and the OBS server URL, once.
        let r = app
            .post(
                "/api/v1/channels",
                &alice.auth(),
                json!({"slug": "Alice-Live", "title": "Alice streams", "ladder": "sports",
                       "reconnect_window_s": 30, "record": false}),
            )
            .await;
        check(&r, 201, "create");
        let key = r.json["stream_key"].as_str().unwrap().to_owned();
        assert!(key.starts_with(control::STREAM_KEY_PREFIX), "{key}");
        assert_eq!(r.json["rtmp_url"], RTMP_URL);
        let c = &r.json["channel"];
        let id = c["channel_id"].as_str().unwrap().to_owned();
        let playback_id = c["playback_id"].as_str().unwrap();
        assert_eq!(c["owner_user_id"], alice.id());
        assert_eq!(c["slug"], "alice-live");
        assert_eq!(c["title"], "Alice streams");
        assert_eq!(c["status"], "idle");
        assert_eq!(c["enabled"], true);
        assert_eq!(c["latency_mode"], "standard");
        assert_eq!(c["segment_format"], "ts");
        assert_eq!(c["ladder"], "sports");
        assert_eq!(c["reconnect_window_s"], 30);
        assert_eq!(c["record"], false);
        assert_eq!(c["visibility"], "public");
        assert_eq!(c["playback_policy"], "public");
        assert_eq!(
            c["playback_url"],
            format!("{PUBLIC_URL}/hls/{playback_id}/master.m3u8")
        );
        assert_eq!(
            c["thumbnail_url"],
            format!("{PUBLIC_URL}/thumbnails/{playback_id}.jpg")
        );
        assert!(c["current_live_stream_id"].is_null());
        assert!(c.get("stream_key").is_none());

        // Read: never the key.
        let r = app
            .get(&format!("/api/v1/channels/{id}"), &alice.auth())
            .await;
        check(&r, 200, "get");
        assert_eq!(r.json["channel_id"], id);
        assert_eq!(r.json["title"], "Alice streams");
        assert!(!r.text.contains(&key), "{}", r.text);
        let r = app.get("/api/v1/channels?owner=me", &alice.auth()).await;
        check(&r, 200, "list");
        assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
        assert!(!r.text.contains(&key));

        // Creating enqueued no event; an empty PATCH changes nothing.
        let r = app
            .patch(&format!("/api/v1/channels/{id}"), &alice.auth(), json!({}))
            .await;
        check(&r, 200, "empty patch");
        let due = app
            .db
            .claim_due_deliveries(now_ms() + 1000, 100, 60_000)
            .await
            .unwrap();
        assert!(due.is_empty(), "{due:?}");

        // Update every setting.
        let r = app
            .patch(
                &format!("/api/v1/channels/{id}"),
                &alice.auth(),
                json!({"title": "  New title ", "latency_mode": "low", "segment_format": "fmp4",
                       "reconnect_window_s": 0, "ladder": "default", "record": true,
                       "visibility": "private"}),
            )
            .await;
        check(&r, 200, "patch");
        assert_eq!(r.json["title"], "New title");
        assert_eq!(r.json["latency_mode"], "low");
        assert_eq!(r.json["segment_format"], "fmp4");
        assert_eq!(r.json["reconnect_window_s"], 0);
        assert_eq!(r.json["ladder"], "default");
        assert_eq!(r.json["record"], true);
        assert_eq!(r.json["visibility"], "private");
        assert_eq!(
            r.json["playback_policy"], "signed",
            "private derives signed"
        );
        assert!(
            r.json["updated_at_ms"].as_i64() >= c["updated_at_ms"].as_i64(),
            "{}",
            r.text
        );
        // Opening it up again keeps it signed until asked otherwise.
        let r = app
            .patch(
                &format!("/api/v1/channels/{id}"),
                &alice.auth(),
                json!({"visibility": "unlisted", "playback_policy": "public"}),
            )
            .await;
        check(&r, 200, "patch");
        assert_eq!(r.json["visibility"], "unlisted");
        assert_eq!(r.json["playback_policy"], "public");
        let r = app
            .get(&format!("/api/v1/channels/{id}"), &Auth::None)
            .await;
        check(&r, 200, "get");
        assert_eq!(r.json["title"], "New title");
        assert_eq!(r.json["visibility"], "unlisted");

        // Each change enqueued channel.updated with the channel body.
        let due = app
            .db
            .claim_due_deliveries(now_ms() + 1000, 100, 60_000)
            .await
            .unwrap();
        assert_eq!(due.len(), 2, "{due:?}");
        let mut events: Vec<_> = due.iter().map(|d| &d.event).collect();
        events.sort_by_key(|e| (e.created_at_ms, e.webhook_event_id.clone()));
        for e in &events {
            assert_eq!(e.event_type, WebhookEventType::ChannelUpdated);
            assert_eq!(e.channel_id.as_deref(), Some(id.as_str()));
            assert_eq!(e.data["channel_id"], id);
            assert!(e.data.get("stream_key").is_none());
        }
        assert_eq!(events[0].data["visibility"], "private");
        assert_eq!(events[1].data["visibility"], "unlisted");
        assert!(
            due.iter()
                .all(|d| d.endpoint.webhook_endpoint_id == hook.webhook_endpoint_id)
        );

        // Delete: gone, rows and all.
        let r = app
            .delete(&format!("/api/v1/channels/{id}"), &alice.auth())
            .await;
        check(&r, 204, "delete");
        let r = app
            .get(&format!("/api/v1/channels/{id}"), &alice.auth())
            .await;
        check(&r, 404, "get deleted");
        assert_eq!(r.code(), "not_found");
        assert!(app.db.channel(&id).await.unwrap().is_none());
        assert!(app.db.channel_by_stream_key(&key).await.unwrap().is_none());
        let r = app
            .delete(&format!("/api/v1/channels/{id}"), &alice.auth())
            .await;
        check(&r, 404, "delete again");

        // Created private: signed at once; rtmp_url left out when unknown
        // is covered by the default options below.
        let r = app
            .post(
                "/api/v1/channels",
                &alice.auth(),
                json!({"slug": "secret-one", "visibility": "private", "latency_mode": "low"}),
            )
            .await;
        check(&r, 201, "create private");
        assert_eq!(r.json["channel"]["title"], "secret-one");
        assert_eq!(r.json["channel"]["playback_policy"], "signed");
        assert_eq!(r.json["channel"]["segment_format"], "fmp4");
    }

    // Without configured URLs: relative playback URLs, no rtmp_url.
    let app = TestApp::sqlite().await;
    let bob = app.creator("bob").await;
    let r = app
        .post("/api/v1/channels", &bob.auth(), json!({"slug": "bob"}))
        .await;
    check(&r, 201, "create");
    assert!(r.json.get("rtmp_url").is_none(), "{}", r.text);
    let playback_id = r.json["channel"]["playback_id"].as_str().unwrap();
    assert_eq!(
        r.json["channel"]["playback_url"],
        format!("/hls/{playback_id}/master.m3u8")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_errors_name_the_field() {
    for app in apps().await {
        let alice = app.creator("alice").await;
        let viewer = app.viewer("vera").await;
        let admin = app.admin("root").await;
        let (id, _) = create(&app, &alice, json!({"slug": "taken"})).await;

        for (body, field) in [
            (json!({"slug": "ab"}), "slug"),
            (json!({"slug": "no_underscores"}), "slug"),
            (json!({"slug": "-dash"}), "slug"),
            (json!({"slug": "okay", "title": "x".repeat(201)}), "title"),
            (json!({"slug": "okay", "title": "a\nb"}), "title"),
            (
                json!({"slug": "okay", "latency_mode": "ultra"}),
                "latency_mode",
            ),
            (
                json!({"slug": "okay", "segment_format": "mkv"}),
                "segment_format",
            ),
            (
                json!({"slug": "okay", "visibility": "secret"}),
                "visibility",
            ),
            (
                json!({"slug": "okay", "playback_policy": "drm"}),
                "playback_policy",
            ),
            (
                json!({"slug": "okay", "reconnect_window_s": 1801}),
                "reconnect_window_s",
            ),
            (
                json!({"slug": "okay", "reconnect_window_s": -1}),
                "reconnect_window_s",
            ),
            (json!({"slug": "okay", "ladder": "ultra-hd"}), "ladder"),
            (json!({"slug": "okay", "ladder": "Not A Name"}), "ladder"),
            (
                json!({"slug": "okay", "visibility": "private", "playback_policy": "public"}),
                "playback_policy",
            ),
        ] {
            let r = app
                .post("/api/v1/channels", &alice.auth(), body.clone())
                .await;
            check(&r, 422, &format!("create {body}"));
            assert_eq!(r.json["error"]["field"], field, "{body}: {}", r.text);
            assert_eq!(r.code(), "invalid_field");
        }
        // None of those created a channel.
        let r = app.get("/api/v1/channels?owner=me", &alice.auth()).await;
        assert_eq!(r.json["data"].as_array().unwrap().len(), 1, "{}", r.text);

        // Admin naming an owner who cannot own channels.
        for owner in [viewer.id(), "no-such-user"] {
            let r = app
                .post(
                    "/api/v1/channels",
                    &admin.auth(),
                    json!({"slug": "for-someone", "owner_user_id": owner}),
                )
                .await;
            check(&r, 422, "owner");
            assert_eq!(r.json["error"]["field"], "owner_user_id");
        }

        // Update: the same rules.
        for (body, field) in [
            (json!({"title": ""}), "title"),
            (json!({"latency_mode": "fast"}), "latency_mode"),
            (json!({"reconnect_window_s": 99999}), "reconnect_window_s"),
            (json!({"ladder": "4k"}), "ladder"),
            (json!({"visibility": "hidden"}), "visibility"),
            (json!({"segment_format": "webm"}), "segment_format"),
            (
                json!({"visibility": "private", "playback_policy": "public"}),
                "playback_policy",
            ),
        ] {
            let r = app
                .patch(
                    &format!("/api/v1/channels/{id}"),
                    &alice.auth(),
                    body.clone(),
                )
                .await;
            check(&r, 422, &format!("patch {body}"));
            assert_eq!(r.json["error"]["field"], field, "{body}: {}", r.text);
        }
        // A private channel refuses public playback (the stored state).
        let r = app
            .patch(
                &format!("/api/v1/channels/{id}"),
                &alice.auth(),
                json!({"visibility": "private"}),
            )
            .await;
        check(&r, 200, "private");
        let r = app
            .patch(
                &format!("/api/v1/channels/{id}"),
                &alice.auth(),
                json!({"playback_policy": "public"}),
            )
            .await;
        check(&r, 422, "public playback on private");
        assert_eq!(r.json["error"]["field"], "playback_policy");

        // Unknown fields, wrong types: 422 without a field; a taken slug
        // (in any case): 409; bad JSON: 400.
        let r = app
            .patch(
                &format!("/api/v1/channels/{id}"),
                &alice.auth(),
                json!({"stream_key": "mine"}),
            )
            .await;
        check(&r, 422, "unknown field");
        let r = app
            .patch(
                &format!("/api/v1/channels/{id}"),
                &alice.auth(),
                json!({"record": "yes"}),
            )
            .await;
        check(&r, 422, "wrong type");
        let r = app
            .post("/api/v1/channels", &alice.auth(), json!({"slug": "TAKEN"}))
            .await;
        check(&r, 409, "slug taken");
        assert_eq!(r.code(), "already_taken");
        let r = app
            .send(
                http::Request::post("/api/v1/channels")
                    .header("authorization", format!("Bearer {}", alice.token))
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from("{not json"))
                    .unwrap(),
            )
            .await;
        check(&r, 400, "bad json");

        // List filters.
        for query in [
            "limit=0",
            "limit=101",
            "cursor=%%%",
            "visibility=secret",
            "live=maybe",
        ] {
            let r = app
                .get(&format!("/api/v1/channels?{query}"), &alice.auth())
                .await;
            check(&r, 400, query);
        }
        let r = app
            .get(
                &format!("/api/v1/channels/{id}/live-streams?limit=0"),
                &alice.auth(),
            )
            .await;
        check(&r, 400, "live streams limit");
    }
}

/// What a caller should get for one action on a channel of Alice's.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anonymous,
    Viewer,
    OtherCreator,
    Owner,
    Admin,
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_matrix() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;
        let bob = app.creator("bob").await;
        let vera = app.viewer("vera").await;
        let root = app.admin("root").await;

        // Create: anonymous 401, viewers 403, creators and admins 201;
        // only admins name another owner.
        let r = app
            .post("/api/v1/channels", &Auth::None, json!({"slug": "anon"}))
            .await;
        check(&r, 401, "anonymous create");
        let r = app
            .post("/api/v1/channels", &vera.auth(), json!({"slug": "vera"}))
            .await;
        check(&r, 403, "viewer create");
        let r = app
            .post(
                "/api/v1/channels",
                &bob.auth(),
                json!({"slug": "for-alice", "owner_user_id": alice.id()}),
            )
            .await;
        check(&r, 403, "creator creating for another");
        let r = app
            .post(
                "/api/v1/channels",
                &root.auth(),
                json!({"slug": "by-admin", "owner_user_id": alice.id()}),
            )
            .await;
        check(&r, 201, "admin creating for alice");
        assert_eq!(r.json["channel"]["owner_user_id"], alice.id());
        let by_admin = r.json["channel"]["channel_id"].as_str().unwrap().to_owned();
        let r = app
            .post(
                "/api/v1/channels",
                &bob.auth(),
                json!({"slug": "bobs", "owner_user_id": bob.id()}),
            )
            .await;
        check(&r, 201, "creator naming themself");
        let bobs = r.json["channel"]["channel_id"].as_str().unwrap().to_owned();

        // Cookie-authenticated writes need the CSRF token.
        let (session, csrf) = app.login("alice").await;
        let r = app
            .post(
                "/api/v1/channels",
                &Auth::Cookie {
                    session: session.clone(),
                    csrf: None,
                },
                json!({"slug": "cookie"}),
            )
            .await;
        check(&r, 403, "cookie without csrf");
        let r = app
            .post(
                "/api/v1/channels",
                &Auth::Cookie {
                    session,
                    csrf: Some(csrf),
                },
                json!({"slug": "cookie"}),
            )
            .await;
        check(&r, 201, "cookie with csrf");
        let cookie = r.json["channel"]["channel_id"].as_str().unwrap().to_owned();

        let (public, _) = create(&app, &alice, json!({"slug": "pub"})).await;
        let (unlisted, _) = create(
            &app,
            &alice,
            json!({"slug": "unl", "visibility": "unlisted"}),
        )
        .await;
        let (private, _) = create(
            &app,
            &alice,
            json!({"slug": "priv", "visibility": "private"}),
        )
        .await;
        let mut alice_ids: HashSet<String> = [&by_admin, &cookie, &public, &unlisted, &private]
            .into_iter()
            .cloned()
            .collect();

        let callers = [
            (Who::Anonymous, Auth::None),
            (Who::Viewer, vera.auth()),
            (Who::OtherCreator, bob.auth()),
            (Who::Owner, alice.auth()),
            (Who::Admin, root.auth()),
        ];
        for (who, auth) in &callers {
            let who = *who;
            let manager = matches!(who, Who::Owner | Who::Admin);
            for (channel, is_private) in [(&public, false), (&unlisted, false), (&private, true)] {
                let what = format!(
                    "{who:?} on {}",
                    if is_private { "private" } else { "visible" }
                );
                // Read: everyone but private-to-others.
                let read = if manager || !is_private { 200 } else { 404 };
                let r = app.get(&format!("/api/v1/channels/{channel}"), auth).await;
                check(&r, read, &format!("{what}: read"));
                if read == 200 {
                    assert_eq!(r.json["channel_id"], *channel);
                }
                let r = app
                    .get(&format!("/api/v1/channels/{channel}/live-streams"), auth)
                    .await;
                check(&r, read, &format!("{what}: live streams"));

                // Changes: 401 anonymous; 404 when they cannot see it, 403
                // when they can; 200 for owner and admin.
                let change = match who {
                    Who::Anonymous => 401,
                    _ if manager => 200,
                    _ if is_private => 404,
                    _ => 403,
                };
                let r = app
                    .patch(
                        &format!("/api/v1/channels/{channel}"),
                        auth,
                        json!({"title": format!("by {who:?}")}),
                    )
                    .await;
                check(&r, change, &format!("{what}: update"));
                let r = app
                    .post(
                        &format!("/api/v1/channels/{channel}/reset-stream-key"),
                        auth,
                        json!({}),
                    )
                    .await;
                check(&r, change, &format!("{what}: reset key"));
                if change == 200 {
                    assert!(r.json["stream_key"].is_string());
                } else {
                    assert!(r.json.get("stream_key").is_none());
                }
                let r = app
                    .post(
                        &format!("/api/v1/channels/{channel}/disable"),
                        auth,
                        json!({}),
                    )
                    .await;
                check(&r, change, &format!("{what}: disable"));
                let r = app
                    .post(
                        &format!("/api/v1/channels/{channel}/enable"),
                        auth,
                        json!({}),
                    )
                    .await;
                check(&r, change, &format!("{what}: enable"));
                // Managers' deletes are tried after the matrix, which
                // still needs these channels.
                if !manager {
                    let r = app
                        .delete(&format!("/api/v1/channels/{channel}"), auth)
                        .await;
                    check(&r, change, &format!("{what}: delete"));
                }
            }
            // The channel still exists after every refused change.
            for channel in [&public, &unlisted, &private] {
                assert!(app.db.channel(channel).await.unwrap().is_some());
            }
        }
        // Last writer was the admin.
        let c = app.db.channel(&private).await.unwrap().unwrap();
        assert_eq!(c.title, "by Admin");
        assert!(c.enabled);

        // Lists: others see Alice's public channels only; Alice and admins
        // see all of hers.
        let ids = |r: &Resp| -> HashSet<String> {
            r.json["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["channel_id"].as_str().unwrap().to_owned())
                .collect()
        };
        let alice_public: HashSet<String> =
            [&by_admin, &cookie, &public].into_iter().cloned().collect();
        let everyone_public: HashSet<String> =
            alice_public.iter().cloned().chain([bobs.clone()]).collect();
        for (who, auth) in &callers {
            let r = app.get("/api/v1/channels", auth).await;
            check(&r, 200, &format!("{who:?}: list"));
            let expected = if *who == Who::Admin {
                alice_ids.iter().cloned().chain([bobs.clone()]).collect()
            } else {
                everyone_public.clone()
            };
            assert_eq!(ids(&r), expected, "{who:?}: list");
            let r = app
                .get(&format!("/api/v1/channels?owner={}", alice.id()), auth)
                .await;
            check(&r, 200, &format!("{who:?}: list alice's"));
            let expected = if matches!(who, Who::Owner | Who::Admin) {
                alice_ids.clone()
            } else {
                alice_public.clone()
            };
            assert_eq!(ids(&r), expected, "{who:?}: list alice's");
            for visibility in ["unlisted", "private"] {
                let r = app
                    .get(
                        &format!(
                            "/api/v1/channels?owner={}&visibility={visibility}",
                            alice.id()
                        ),
                        auth,
                    )
                    .await;
                check(&r, 200, &format!("{who:?}: list {visibility}"));
                let expected: HashSet<String> = if matches!(who, Who::Owner | Who::Admin) {
                    [if visibility == "private" {
                        &private
                    } else {
                        &unlisted
                    }]
                    .into_iter()
                    .cloned()
                    .collect()
                } else {
                    HashSet::new()
                };
                assert_eq!(ids(&r), expected, "{who:?}: list {visibility}");
            }
        }
        let r = app.get("/api/v1/channels?owner=me", &alice.auth()).await;
        assert_eq!(ids(&r), alice_ids);
        let r = app.get("/api/v1/channels?owner=me", &bob.auth()).await;
        assert_eq!(ids(&r), HashSet::from([bobs.clone()]));
        let r = app.get("/api/v1/channels?owner=me", &Auth::None).await;
        check(&r, 401, "anonymous owner=me");
        let r = app
            .get("/api/v1/channels?visibility=private", &bob.auth())
            .await;
        check(&r, 200, "bob lists private");
        assert!(ids(&r).is_empty());

        // Deletes by owner and admin.
        let r = app
            .delete(&format!("/api/v1/channels/{private}"), &alice.auth())
            .await;
        check(&r, 204, "owner deletes");
        alice_ids.remove(&private);
        let r = app
            .delete(&format!("/api/v1/channels/{unlisted}"), &root.auth())
            .await;
        check(&r, 204, "admin deletes");
        alice_ids.remove(&unlisted);
        let r = app.get("/api/v1/channels?owner=me", &alice.auth()).await;
        assert_eq!(ids(&r), alice_ids);

        // Unknown ids: 404 for reads and for changes by anyone logged in.
        for (who, auth) in &callers {
            let r = app.get("/api/v1/channels/nope", auth).await;
            check(&r, 404, &format!("{who:?}: unknown"));
            let r = app
                .patch("/api/v1/channels/nope", auth, json!({"title": "x"}))
                .await;
            check(
                &r,
                if *who == Who::Anonymous { 401 } else { 404 },
                &format!("{who:?}: unknown patch"),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pagination_visits_every_channel_once() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;
        let bob = app.creator("bob").await;
        let mut created = Vec::new();
        for i in 0..7 {
            let (id, _) = create(&app, &alice, json!({"slug": format!("chan-{i}")})).await;
            created.push(id);
        }
        // Someone else's channel must not show up under owner=me.
        create(&app, &bob, json!({"slug": "bob-chan"})).await;

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/channels?owner=me&limit=2&cursor={c}"),
                None => "/api/v1/channels?owner=me&limit=2".to_owned(),
            };
            let r = app.get(&path, &alice.auth()).await;
            check(&r, 200, "page");
            let data = r.json["data"].as_array().unwrap();
            assert!(data.len() <= 2, "{}", r.text);
            seen.extend(
                data.iter()
                    .map(|c| c["channel_id"].as_str().unwrap().to_owned()),
            );
            pages += 1;
            assert!(pages <= 10, "runaway pagination");
            match r.json["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 4);
        // Newest first, each exactly once.
        let mut expected = created.clone();
        expected.reverse();
        assert_eq!(seen, expected);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_stream_key_replaces_the_key() {
    for app in apps().await {
        let alice = app.creator("alice").await;
        let (id, old_key) = create(&app, &alice, json!({"slug": "keys"})).await;
        app.db
            .create_webhook_endpoint(
                alice.id(),
                NewWebhookEndpoint {
                    url: "https://hooks.example/aethex".into(),
                    event_types: vec![WebhookEventType::ChannelUpdated],
                    format: Default::default(),
                },
            )
            .await
            .unwrap();
        let found = app.db.channel_by_stream_key(&old_key).await.unwrap();
        assert_eq!(found.map(|c| c.channel_id), Some(id.clone()));

        let r = app
            .post(
                &format!("/api/v1/channels/{id}/reset-stream-key"),
                &alice.auth(),
                json!({}),
            )
            .await;
        check(&r, 200, "reset");
        let new_key = r.json["stream_key"].as_str().unwrap().to_owned();
        assert_ne!(new_key, old_key);
        assert!(new_key.starts_with(control::STREAM_KEY_PREFIX));
        assert_eq!(r.json["rtmp_url"], RTMP_URL);
        assert_eq!(r.json["channel"]["channel_id"], id);

        assert!(
            app.db
                .channel_by_stream_key(&old_key)
                .await
                .unwrap()
                .is_none(),
            "the old key still authorizes"
        );
        let found = app.db.channel_by_stream_key(&new_key).await.unwrap();
        assert_eq!(found.map(|c| c.channel_id), Some(id.clone()));

        // The key shows nowhere else, not even in the webhook event.
        let r = app
            .get(&format!("/api/v1/channels/{id}"), &alice.auth())
            .await;
        assert!(!r.text.contains(&new_key));
        let due = app
            .db
            .claim_due_deliveries(now_ms() + 1000, 100, 60_000)
            .await
            .unwrap();
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(due[0].event.event_type, WebhookEventType::ChannelUpdated);
        assert!(!due[0].event.data.to_string().contains(&new_key));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn disable_refuses_publish_and_cuts_the_broadcast() {
    for app in apps().await {
        let alice = app.creator("alice").await;
        let (id, key) = create(&app, &alice, json!({"slug": "onair"})).await;
        app.db
            .create_webhook_endpoint(
                alice.id(),
                NewWebhookEndpoint {
                    url: "https://hooks.example/aethex".into(),
                    event_types: vec![],
                    format: Default::default(),
                },
            )
            .await
            .unwrap();

        // Go live (what ingest does after authorizing the key).
        let channel = app.db.channel_by_stream_key(&key).await.unwrap().unwrap();
        assert!(channel.enabled);
        let publish = app.live.start(&channel, 8).await.expect("start");
        let live_stream_id = publish.live_stream_id.clone();
        let r = app
            .get(&format!("/api/v1/channels/{id}"), &Auth::None)
            .await;
        check(&r, 200, "get live channel");
        assert_eq!(r.json["status"], "connected");
        assert_eq!(r.json["current_live_stream_id"], live_stream_id);
        let r = app.get("/api/v1/channels", &Auth::None).await;
        assert_eq!(r.json["data"][0]["current_live_stream_id"], live_stream_id);
        assert_eq!(r.json["data"][0]["status"], "connected");
        // Live now = active only.
        let r = app.get("/api/v1/channels?live=true", &Auth::None).await;
        assert_eq!(r.json["data"].as_array().unwrap().len(), 0, "{}", r.text);
        app.db
            .set_live_stream_active(&live_stream_id, IngestInfo::default())
            .await
            .unwrap();
        let r = app.get("/api/v1/channels?live=true", &Auth::None).await;
        assert_eq!(r.json["data"][0]["channel_id"], id, "{}", r.text);
        assert_eq!(r.json["data"][0]["status"], "active");

        // Deleting a live channel: 409.
        let r = app
            .delete(&format!("/api/v1/channels/{id}"), &alice.auth())
            .await;
        check(&r, 409, "delete while live");
        assert_eq!(r.code(), "broadcast_in_progress");

        // Disable: the broadcast ends now, and ingest sees the channel
        // disabled (it refuses publishers of disabled channels).
        let r = app
            .post(
                &format!("/api/v1/channels/{id}/disable"),
                &alice.auth(),
                json!({}),
            )
            .await;
        check(&r, 200, "disable");
        assert_eq!(r.json["enabled"], false);
        assert_eq!(r.json["status"], "idle");
        assert!(r.json["current_live_stream_id"].is_null());
        let ls = app.db.live_stream(&live_stream_id).await.unwrap().unwrap();
        assert_eq!(ls.status, control::LiveStreamStatus::Ended);
        assert!(ls.end_reason.is_some());
        let channel = app.db.channel_by_stream_key(&key).await.unwrap().unwrap();
        assert!(!channel.enabled);
        let r = app
            .get(
                &format!("/api/v1/live-streams/{live_stream_id}"),
                &Auth::None,
            )
            .await;
        check(&r, 200, "ended live stream");
        assert_eq!(r.json["status"], "ended");
        assert_eq!(r.json["current_viewers"], 0);
        drop(publish);

        // Disabling again: still 200, still disabled.
        let r = app
            .post(
                &format!("/api/v1/channels/{id}/disable"),
                &alice.auth(),
                json!({}),
            )
            .await;
        check(&r, 200, "disable again");
        assert_eq!(r.json["enabled"], false);

        // Enable: publishers are accepted again.
        let r = app
            .post(
                &format!("/api/v1/channels/{id}/enable"),
                &alice.auth(),
                json!({}),
            )
            .await;
        check(&r, 200, "enable");
        assert_eq!(r.json["enabled"], true);
        let channel = app.db.channel_by_stream_key(&key).await.unwrap().unwrap();
        assert!(channel.enabled);

        // channel.updated for the two changes (not for the repeated
        // disable).
        let mut updates: Vec<_> = app
            .db
            .claim_due_deliveries(now_ms() + 1000, 100, 60_000)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.event)
            .filter(|e| e.event_type == WebhookEventType::ChannelUpdated)
            .collect();
        updates.sort_by_key(|e| (e.created_at_ms, e.webhook_event_id.clone()));
        let enabled: Vec<&Value> = updates.iter().map(|e| &e.data["enabled"]).collect();
        assert_eq!(enabled, [&json!(false), &json!(true)]);
        assert_eq!(updates[0].data["status"], "idle", "sent after the cut");

        // Now idle: it can be deleted.
        wait_session_gone(&app, &id).await;
        let r = app
            .delete(&format!("/api/v1/channels/{id}"), &alice.auth())
            .await;
        check(&r, 204, "delete after the broadcast");
        assert!(app.db.live_stream(&live_stream_id).await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn live_streams_stats_and_complete() {
    for app in apps().await {
        let alice = app.creator("alice").await;
        let bob = app.creator("bob").await;
        let root = app.admin("root").await;
        let (id, _) = create(&app, &alice, json!({"slug": "broadcasts"})).await;
        let channel = app.db.channel(&id).await.unwrap().unwrap();

        let r = app
            .get(&format!("/api/v1/channels/{id}/live-streams"), &Auth::None)
            .await;
        check(&r, 200, "no broadcasts yet");
        assert_eq!(r.json["data"], json!([]));

        // A broadcast with media and stats.
        let first = app.live.start(&channel, 8).await.expect("start");
        let first_id = first.live_stream_id.clone();
        app.db
            .set_live_stream_active(
                &first_id,
                IngestInfo {
                    video_codec: Some("avc1.64001f".into()),
                    audio_codec: Some("mp4a.40.2".into()),
                    width: Some(1280),
                    height: Some(720),
                    fps: Some(30.0),
                },
            )
            .await
            .unwrap();
        app.db
            .update_live_stream_stats(&first_id, Some(3_000_000), Some(2000), 42)
            .await
            .unwrap();
        let r = app
            .get(&format!("/api/v1/live-streams/{first_id}"), &Auth::None)
            .await;
        check(&r, 200, "get live stream");
        assert_eq!(r.json["channel_id"], id);
        assert_eq!(r.json["status"], "active");
        assert!(r.json["started_at_ms"].as_i64().unwrap() > 0);
        assert!(
            r.json["active_at_ms"].as_i64().unwrap() >= r.json["started_at_ms"].as_i64().unwrap()
        );
        assert!(r.json["ended_at_ms"].is_null());
        let ingest = &r.json["ingest"];
        assert_eq!(ingest["video_codec"], "avc1.64001f");
        assert_eq!(ingest["audio_codec"], "mp4a.40.2");
        assert_eq!(ingest["width"], 1280);
        assert_eq!(ingest["height"], 720);
        assert_eq!(ingest["fps"], 30.0);
        assert_eq!(ingest["bitrate_bps"], 3_000_000);
        assert_eq!(ingest["keyframe_interval_ms"], 2000);
        assert_eq!(r.json["current_viewers"], VIEWERS);
        assert_eq!(r.json["peak_viewers"], 42);

        // Complete: anonymous 401, another creator 403, unknown 404.
        let complete = |ls: &str| format!("/api/v1/live-streams/{ls}/complete");
        let r = app.post(&complete(&first_id), &Auth::None, json!({})).await;
        check(&r, 401, "anonymous complete");
        let r = app.post(&complete(&first_id), &bob.auth(), json!({})).await;
        check(&r, 403, "other creator complete");
        let r = app.post(&complete("nope"), &alice.auth(), json!({})).await;
        check(&r, 404, "unknown complete");
        let r = app
            .get(&format!("/api/v1/live-streams/{first_id}"), &Auth::None)
            .await;
        assert_eq!(r.json["status"], "active", "refusals changed nothing");

        // The owner ends it now; a second complete is 409.
        let r = app
            .post(&complete(&first_id), &alice.auth(), json!({}))
            .await;
        check(&r, 200, "complete");
        assert_eq!(r.json["status"], "ended");
        assert!(r.json["ended_at_ms"].as_i64().is_some());
        assert_eq!(r.json["end_reason"], "ended by request");
        assert_eq!(r.json["current_viewers"], 0);
        let r = app
            .post(&complete(&first_id), &alice.auth(), json!({}))
            .await;
        check(&r, 409, "complete twice");
        assert_eq!(r.code(), "already_ended");
        drop(first);
        let r = app
            .get(&format!("/api/v1/channels/{id}"), &Auth::None)
            .await;
        assert_eq!(r.json["status"], "idle");
        assert_eq!(r.json["enabled"], true, "complete does not disable");

        // A second broadcast, ended by an admin.
        wait_session_gone(&app, &id).await;
        let second = app.live.start(&channel, 8).await.expect("restart");
        let second_id = second.live_stream_id.clone();
        assert_ne!(second_id, first_id);
        let r = app
            .post(&complete(&second_id), &root.auth(), json!({}))
            .await;
        check(&r, 200, "admin complete");
        drop(second);

        // Both listed, newest first; paged.
        let r = app
            .get(&format!("/api/v1/channels/{id}/live-streams"), &Auth::None)
            .await;
        check(&r, 200, "list");
        let listed: Vec<&str> = r.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ls| ls["live_stream_id"].as_str().unwrap())
            .collect();
        assert_eq!(listed, [second_id.as_str(), first_id.as_str()]);
        let r = app
            .get(
                &format!("/api/v1/channels/{id}/live-streams?limit=1"),
                &Auth::None,
            )
            .await;
        assert_eq!(r.json["data"][0]["live_stream_id"], second_id);
        let cursor = r.json["next_cursor"].as_str().unwrap().to_owned();
        let r = app
            .get(
                &format!("/api/v1/channels/{id}/live-streams?limit=1&cursor={cursor}"),
                &Auth::None,
            )
            .await;
        assert_eq!(r.json["data"][0]["live_stream_id"], first_id);
        assert!(r.json["next_cursor"].is_null());

        // A row left by a crashed server (no session here) is ended too.
        let orphan = app.db.begin_live_stream(&id).await.unwrap();
        let r = app
            .post(&complete(&orphan.live_stream_id), &alice.auth(), json!({}))
            .await;
        check(&r, 200, "complete orphan");
        assert_eq!(r.json["status"], "ended");

        // Private channel: its live streams are 404 to others.
        let r = app
            .patch(
                &format!("/api/v1/channels/{id}"),
                &alice.auth(),
                json!({"visibility": "private"}),
            )
            .await;
        check(&r, 200, "make private");
        for auth in [Auth::None, bob.auth()] {
            let r = app
                .get(&format!("/api/v1/live-streams/{first_id}"), &auth)
                .await;
            check(&r, 404, "private live stream");
            let r = app
                .get(&format!("/api/v1/channels/{id}/live-streams"), &auth)
                .await;
            check(&r, 404, "private live streams");
        }
        let r = app.post(&complete(&first_id), &bob.auth(), json!({})).await;
        check(&r, 404, "complete on a private channel by another");
        let r = app
            .get(&format!("/api/v1/live-streams/{first_id}"), &alice.auth())
            .await;
        check(&r, 200, "owner reads private");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_lists_the_channel_and_live_stream_routes() {
    let app = TestApp::sqlite().await;
    let r = app.get("/api/openapi.json", &Auth::None).await;
    check(&r, 200, "openapi");
    oas3::from_json(&r.text).expect("a valid OpenAPI 3.1 document");
    for (path, methods) in [
        ("/api/v1/channels", &["get", "post"][..]),
        ("/api/v1/channels/{channel_id}", &["get", "patch", "delete"]),
        ("/api/v1/channels/{channel_id}/reset-stream-key", &["post"]),
        ("/api/v1/channels/{channel_id}/disable", &["post"]),
        ("/api/v1/channels/{channel_id}/enable", &["post"]),
        ("/api/v1/channels/{channel_id}/live-streams", &["get"]),
        ("/api/v1/live-streams/{live_stream_id}", &["get"]),
        ("/api/v1/live-streams/{live_stream_id}/complete", &["post"]),
    ] {
        for method in methods {
            assert!(
                r.json["paths"][path][method].is_object(),
                "{method} {path} is not documented"
            );
        }
    }
    let schemas = &r.json["components"]["schemas"];
    for name in ["ChannelBody", "ChannelWithKeyBody", "LiveStreamBody"] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
    assert_eq!(
        schemas["ChannelBody"]["properties"]["status"]["enum"],
        json!(["idle", "connected", "active", "disconnected"])
    );
}
