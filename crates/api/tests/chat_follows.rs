//! The web app's API: chat over WebSocket (on a real loopback port),
//! follows, browse, channels by slug, moderators and sign-up roles, on
//! SQLite and PostgreSQL.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Auth, Backend, Client, PASSWORD, Resp, TestApp};
use control::{ClipSource, IngestInfo, LatencyMode, NewChannel, NewClip, NewSegment};
use futures::{SinkExt, StreamExt};
use http::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const VIEWERS: u32 = 7;

fn check(r: &Resp, status: u16, what: &str) {
    assert_eq!(r.status.as_u16(), status, "{what}: {}", r.text);
    if status >= 400 {
        assert!(!r.code().is_empty(), "{what}: not a JSON error: {}", r.text);
    }
}

/// Both backends, with a viewer counter that always says [`VIEWERS`].
async fn apps() -> Vec<TestApp> {
    let options = || api::ApiOptions {
        viewers: Some(Arc::new(|_: &str| VIEWERS)),
        ..api::ApiOptions::default()
    };
    let mut apps = vec![TestApp::with(Backend::Sqlite, options()).await.unwrap()];
    if let Some(pg) = TestApp::with(Backend::Postgres, options()).await {
        apps.push(pg);
    }
    apps
}

/// A channel owned by `owner`; returns its id.
async fn channel(app: &TestApp, owner: &Client, slug: &str, title: &str) -> String {
    app.db
        .create_channel(NewChannel {
            owner_user_id: owner.id().to_owned(),
            slug: slug.to_owned(),
            title: title.to_owned(),
            latency_mode: LatencyMode::Standard,
            segment_format: None,
            ladder: None,
        })
        .await
        .unwrap()
        .channel
        .channel_id
}

/// Puts the channel on air (a broadcast receiving media); returns the
/// live stream id.
async fn go_live(app: &TestApp, channel_id: &str) -> String {
    let ls = app.db.begin_live_stream(channel_id).await.unwrap();
    app.db
        .set_live_stream_active(&ls.live_stream_id, IngestInfo::default())
        .await
        .unwrap();
    ls.live_stream_id
}

async fn set_visibility(app: &TestApp, owner: &Client, channel_id: &str, visibility: &str) {
    let r = app
        .patch(
            &format!("/api/v1/channels/{channel_id}"),
            &owner.auth(),
            json!({"visibility": visibility}),
        )
        .await;
    check(&r, 200, "visibility");
}

/// A cookie for `username`'s new session.
async fn cookie(app: &TestApp, username: &str) -> String {
    let (session, _) = app.login(username).await;
    format!("aethex_session={session}")
}

async fn connect_with(
    addr: SocketAddr,
    slug: &str,
    headers: &[(&str, String)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{addr}/ws/chat/{slug}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

/// Connects (with the session cookie, if any) and checks the join
/// events; returns the socket and the history.
async fn join(addr: SocketAddr, slug: &str, cookie: Option<&str>) -> (Ws, Vec<Value>) {
    let mut headers = vec![("origin", format!("http://{addr}"))];
    if let Some(cookie) = cookie {
        headers.push(("cookie", cookie.to_owned()));
    }
    let mut ws = connect_with(addr, slug, &headers).await.expect("connect");
    let history = next(&mut ws).await;
    assert_eq!(history["type"], "history", "{history}");
    let joined = next(&mut ws).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert_eq!(joined["user_id"].is_null(), cookie.is_none(), "{joined}");
    (ws, history["messages"].as_array().unwrap().clone())
}

/// The next JSON event (pings skipped), within 10 s.
async fn next(ws: &mut Ws) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an event within 10 s")
            .expect("socket open")
            .expect("frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The next event of type `kind`, skipping others.
async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let event = next(ws).await;
        if event["type"] == kind {
            return event;
        }
    }
}

/// The next moderation event with this action, skipping others.
async fn next_moderation(ws: &mut Ws, action: &str) -> Value {
    loop {
        let event = next_of(ws, "moderation").await;
        if event["action"] == action {
            return event;
        }
    }
}

async fn send(ws: &mut Ws, command: Value) {
    ws.send(Message::Text(command.to_string().into()))
        .await
        .unwrap();
}

async fn say(ws: &mut Ws, body: &str) {
    send(ws, json!({"type": "send", "body": body})).await;
}

/// Sends a message that must be refused; returns the error's code and
/// message.
async fn refused(ws: &mut Ws, command: Value) -> (String, String) {
    send(ws, command).await;
    let error = next_of(ws, "error").await;
    (
        error["code"].as_str().unwrap().to_owned(),
        error["message"].as_str().unwrap().to_owned(),
    )
}

/// No event arrives on `ws` within a short while.
async fn quiet(ws: &mut Ws) {
    let got = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(got.is_err(), "unexpected event {got:?}");
}

#[tokio::test]
async fn chat_over_websocket() {
    for app in apps().await {
        let backend = app.backend;
        let owner = app.creator("owner").await;
        let alice = app.viewer("alice").await;
        let bob = app.viewer("bob").await;
        let carol = app.viewer("carol").await;
        let id = channel(&app, &owner, "chat-room", "Chat room").await;
        let r = app
            .patch(
                &format!("/api/v1/channels/{id}"),
                &owner.auth(),
                json!({"chat_blocked_words": ["Spam"]}),
            )
            .await;
        check(&r, 200, "blocked words");
        let addr = app.serve().await;
        let alice_cookie = cookie(&app, "alice").await;
        let bob_cookie = cookie(&app, "bob").await;

        let (mut a, history) = join(addr, "chat-room", Some(&alice_cookie)).await;
        assert!(history.is_empty());
        let (mut b, _) = join(addr, "CHAT-ROOM", Some(&bob_cookie)).await;
        let (mut anon, _) = join(addr, "chat-room", None).await;

        // Two users chat; everyone reads.
        say(&mut a, "  hello bob ").await;
        for ws in [&mut a, &mut b, &mut anon] {
            let m = next(ws).await;
            assert_eq!(m["type"], "message", "{backend:?} {m}");
            assert_eq!(m["message"]["body"], "hello bob");
            assert_eq!(m["message"]["username"], "alice");
            assert_eq!(m["message"]["user_id"], alice.id());
            assert!(m["message"]["message_id"].is_string());
            assert!(m["message"]["created_at_ms"].is_i64());
        }
        say(&mut b, "hi alice").await;
        for ws in [&mut a, &mut b, &mut anon] {
            assert_eq!(next(ws).await["message"]["body"], "hi alice");
        }

        // Anonymous connections read only.
        let (code, _) = refused(&mut anon, json!({"type": "send", "body": "x"})).await;
        assert_eq!(code, "not_logged_in");
        // Too long, empty, blocked words, nonsense: refused with a reason,
        // and nobody else sees anything.
        let (code, message) =
            refused(&mut a, json!({"type": "send", "body": "x".repeat(501)})).await;
        assert_eq!(code, "too_long");
        assert!(message.contains("too long"), "{message}");
        let (code, _) = refused(&mut a, json!({"type": "send", "body": "   "})).await;
        assert_eq!(code, "empty");
        let (code, message) =
            refused(&mut a, json!({"type": "send", "body": "buy SPAM now"})).await;
        assert_eq!(code, "blocked_word");
        assert!(message.contains("spam"), "{message}");
        let (code, _) = refused(&mut a, json!({"type": "shout"})).await;
        assert_eq!(code, "invalid");
        quiet(&mut b).await;
        // A blocked word inside another word is fine; 500 characters too.
        say(&mut a, "spammers are annoying").await;
        assert_eq!(
            next(&mut b).await["message"]["body"],
            "spammers are annoying"
        );
        say(&mut a, &"é".repeat(500)).await;
        assert_eq!(
            next(&mut b).await["message"]["body"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            500
        );

        // Rate limit: five attempts per ten seconds (alice has made four:
        // three posts and the refused blocked word, which is counted like
        // any attempt that got past the body's shape).
        say(&mut a, "four").await;
        let (code, message) = refused(&mut a, json!({"type": "send", "body": "five"})).await;
        assert_eq!(code, "rate_limited", "{message}");
        assert_eq!(next(&mut b).await["message"]["body"], "four");
        quiet(&mut b).await;

        // History on join: oldest first, what was posted.
        let (mut late, history) = join(addr, "chat-room", None).await;
        let bodies: Vec<&str> = history
            .iter()
            .map(|m| m["body"].as_str().unwrap())
            .collect();
        assert_eq!(bodies.len(), 5, "{bodies:?}");
        assert_eq!(bodies[0], "hello bob");
        assert_eq!(bodies[4], "four");
        let hello_id = history[0]["message_id"].as_str().unwrap().to_owned();

        // Only moderators moderate.
        let (code, _) = refused(&mut b, json!({"type": "delete", "message_id": hello_id})).await;
        assert_eq!(code, "not_allowed");
        let (code, _) = refused(&mut b, json!({"type": "slow_mode", "seconds": 5})).await;
        assert_eq!(code, "not_allowed");
        let (code, _) = refused(&mut anon, json!({"type": "ban", "user_id": alice.id()})).await;
        assert_eq!(code, "not_logged_in");

        // The owner deletes a message: everyone is told, history forgets it.
        let owner_cookie = cookie(&app, "owner").await;
        let (mut o, _) = join(addr, "chat-room", Some(&owner_cookie)).await;
        send(&mut o, json!({"type": "delete", "message_id": hello_id})).await;
        for ws in [&mut a, &mut b, &mut anon, &mut late, &mut o] {
            let event = next_of(ws, "deleted").await;
            assert_eq!(event["message_id"], hello_id.as_str());
        }
        let (_, history) = join(addr, "chat-room", None).await;
        assert_eq!(history.len(), 4);
        assert!(history.iter().all(|m| m["message_id"] != hello_id.as_str()));

        // Slow mode: one message per N s, moderators exempt.
        send(&mut o, json!({"type": "slow_mode", "seconds": 30})).await;
        for ws in [&mut a, &mut b, &mut o] {
            let event = next_of(ws, "settings").await;
            assert_eq!(event["slow_mode_s"], 30);
        }
        // Bob posted less than 30 s ago; Dave not yet.
        let (code, message) = refused(&mut b, json!({"type": "send", "body": "too soon"})).await;
        assert_eq!(code, "slow_mode", "{message}");
        let dave = app.viewer("dave").await;
        let dave_cookie = cookie(&app, "dave").await;
        let (mut d, _) = join(addr, "chat-room", Some(&dave_cookie)).await;
        say(&mut d, "slow one").await;
        assert_eq!(
            next_of(&mut a, "message").await["message"]["body"],
            "slow one"
        );
        let (code, message) = refused(&mut d, json!({"type": "send", "body": "slow two"})).await;
        assert_eq!(code, "slow_mode", "{message}");
        say(&mut o, "owner one").await;
        say(&mut o, "owner two").await;
        assert_eq!(
            next_of(&mut a, "message").await["message"]["body"],
            "owner one"
        );
        assert_eq!(
            next_of(&mut a, "message").await["message"]["body"],
            "owner two"
        );
        let r = app
            .get(&format!("/api/v1/channels/{id}"), &Auth::None)
            .await;
        assert_eq!(r.json["chat_slow_mode_s"], 30);
        send(&mut o, json!({"type": "slow_mode", "seconds": 0})).await;
        assert_eq!(next_of(&mut b, "settings").await["slow_mode_s"], 0);

        // A moderator (named over the API) may delete and time out, but
        // not act on the owner.
        let carol_cookie = cookie(&app, "carol").await;
        let r = app
            .call(
                Method::PUT,
                &format!("/api/v1/channels/{id}/moderators/{}", carol.id()),
                &owner.auth(),
                None,
            )
            .await;
        check(&r, 204, "add moderator");
        let (mut c, _) = join(addr, "chat-room", Some(&carol_cookie)).await;
        let (code, _) = refused(&mut c, json!({"type": "ban", "user_id": owner.id()})).await;
        assert_eq!(code, "not_allowed");

        // Timeout: refused with the reason until it ends.
        send(
            &mut c,
            json!({"type": "timeout", "user_id": bob.id(), "seconds": 60, "reason": "calm down"}),
        )
        .await;
        let event = next_of(&mut b, "moderation").await;
        assert_eq!(event["action"], "timeout");
        assert_eq!(event["user_id"], bob.id());
        let (code, message) = refused(&mut b, json!({"type": "send", "body": "let me talk"})).await;
        assert_eq!(code, "timed_out");
        assert!(message.contains("calm down"), "{message}");
        // Ban, then unban (dave: alice used up her rate limit above, which
        // is checked before anything else).
        send(&mut o, json!({"type": "ban", "user_id": dave.id()})).await;
        assert_eq!(next_moderation(&mut a, "ban").await["user_id"], dave.id());
        let (code, _) = refused(&mut d, json!({"type": "send", "body": "hey"})).await;
        assert_eq!(code, "banned");
        send(&mut o, json!({"type": "unban", "user_id": dave.id()})).await;
        assert_eq!(next_moderation(&mut a, "unban").await["user_id"], dave.id());
        say(&mut c, "moderator speaking").await;
        let event = next_of(&mut b, "message").await;
        assert_eq!(event["message"]["body"], "moderator speaking");
        let carol_message = event["message"]["message_id"].as_str().unwrap().to_owned();
        send(
            &mut c,
            json!({"type": "delete", "message_id": carol_message}),
        )
        .await;
        assert_eq!(
            next_of(&mut a, "deleted").await["message_id"],
            carol_message.as_str()
        );

        // Removing the moderator takes the power away.
        let r = app
            .delete(
                &format!("/api/v1/channels/{id}/moderators/{}", carol.id()),
                &owner.auth(),
            )
            .await;
        check(&r, 204, "remove moderator");
        let (code, _) = refused(&mut c, json!({"type": "slow_mode", "seconds": 5})).await;
        assert_eq!(code, "not_allowed");

        // Cross-site pages may not open a socket with the user's cookie;
        // unknown and private channels are 404.
        let err = connect_with(
            addr,
            "chat-room",
            &[
                ("origin", "http://evil.example".to_owned()),
                ("cookie", alice_cookie.clone()),
            ],
        )
        .await
        .expect_err("cross-origin upgrade");
        match err {
            tokio_tungstenite::tungstenite::Error::Http(resp) => {
                assert_eq!(resp.status(), 403)
            }
            other => panic!("{other:?}"),
        }
        let not_found = |err: tokio_tungstenite::tungstenite::Error| match err {
            tokio_tungstenite::tungstenite::Error::Http(resp) => resp.status() == 404,
            _ => false,
        };
        let err = connect_with(addr, "no-such-room", &[])
            .await
            .expect_err("unknown");
        assert!(not_found(err));
        set_visibility(&app, &owner, &id, "private").await;
        let err = connect_with(addr, "chat-room", &[("cookie", alice_cookie.clone())])
            .await
            .expect_err("private");
        assert!(not_found(err));
        // Its owner still gets in (no Origin: not a browser).
        connect_with(addr, "chat-room", &[("cookie", owner_cookie.clone())])
            .await
            .expect("owner of a private channel");
    }
}

#[tokio::test]
async fn follows_and_channel_bodies() {
    for app in apps().await {
        let backend = app.backend;
        let owner = app.creator("owner").await;
        let viewer = app.viewer("viewer").await;
        let other = app.viewer("other").await;
        let alpha = channel(&app, &owner, "alpha", "Alpha").await;
        let beta = channel(&app, &owner, "beta", "Beta").await;
        let hidden = channel(&app, &owner, "hidden", "Hidden").await;
        set_visibility(&app, &owner, &hidden, "private").await;
        let follow = |id: &str| format!("/api/v1/channels/{id}/follow");

        // Anonymous callers cannot follow; cookie writes need CSRF; private
        // channels cannot be followed by others.
        check(
            &app.call(Method::PUT, &follow(&alpha), &Auth::None, None)
                .await,
            401,
            "anonymous",
        );
        let (session, csrf) = app.login("viewer").await;
        let no_csrf = Auth::Cookie {
            session: session.clone(),
            csrf: None,
        };
        check(
            &app.call(Method::PUT, &follow(&alpha), &no_csrf, None).await,
            403,
            "no csrf",
        );
        check(
            &app.call(Method::PUT, &follow(&hidden), &viewer.auth(), None)
                .await,
            404,
            "private",
        );
        check(
            &app.call(Method::PUT, &follow("nope"), &viewer.auth(), None)
                .await,
            404,
            "missing",
        );

        // Follow (idempotent) and counts.
        let with_csrf = Auth::Cookie {
            session,
            csrf: Some(csrf),
        };
        for _ in 0..2 {
            check(
                &app.call(Method::PUT, &follow(&alpha), &with_csrf, None)
                    .await,
                204,
                "follow",
            );
        }
        check(
            &app.call(Method::PUT, &follow(&alpha), &other.auth(), None)
                .await,
            204,
            "follow",
        );
        check(
            &app.call(Method::PUT, &follow(&beta), &viewer.auth(), None)
                .await,
            204,
            "follow",
        );
        let r = app
            .get(&format!("/api/v1/channels/{alpha}"), &viewer.auth())
            .await;
        check(&r, 200, "get");
        assert_eq!(r.json["follower_count"], 2, "{backend:?}");
        assert_eq!(r.json["following"], true);
        assert_eq!(r.json["live"], false);
        assert_eq!(r.json["current_viewers"], 0);
        assert_eq!(r.json["category"], "");
        let r = app
            .get(&format!("/api/v1/channels/{alpha}"), &Auth::None)
            .await;
        assert_eq!(r.json["follower_count"], 2);
        assert_eq!(r.json["following"], false);
        // Lists carry the same fields.
        let r = app.get("/api/v1/channels", &viewer.auth()).await;
        let listed: Vec<(String, u64, bool)> = r.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["slug"].as_str().unwrap().to_owned(),
                    c["follower_count"].as_u64().unwrap(),
                    c["following"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [("beta".to_owned(), 1, true), ("alpha".to_owned(), 2, true)]
        );

        // By slug, ignoring case; private ones only for their owner.
        let r = app
            .get("/api/v1/channels/by-slug/ALPHA", &viewer.auth())
            .await;
        check(&r, 200, "by slug");
        assert_eq!(r.json["channel_id"], alpha.as_str());
        assert_eq!(r.json["following"], true);
        check(
            &app.get("/api/v1/channels/by-slug/nope", &Auth::None).await,
            404,
            "missing slug",
        );
        check(
            &app.get("/api/v1/channels/by-slug/hidden", &viewer.auth())
                .await,
            404,
            "private slug",
        );
        check(
            &app.get("/api/v1/channels/by-slug/hidden", &owner.auth())
                .await,
            200,
            "owner slug",
        );

        // Following: newest follow first while nothing is live, then live
        // channels first.
        let slugs = |r: &Resp| -> Vec<(String, bool)> {
            r.json["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["slug"].as_str().unwrap().to_owned(),
                        c["live"].as_bool().unwrap(),
                    )
                })
                .collect()
        };
        check(
            &app.get("/api/v1/me/following", &Auth::None).await,
            401,
            "anonymous following",
        );
        let r = app.get("/api/v1/me/following", &viewer.auth()).await;
        check(&r, 200, "following");
        assert_eq!(
            slugs(&r),
            [("beta".to_owned(), false), ("alpha".to_owned(), false)]
        );
        let live_stream_id = go_live(&app, &alpha).await;
        let r = app.get("/api/v1/me/following", &viewer.auth()).await;
        assert_eq!(
            slugs(&r),
            [("alpha".to_owned(), true), ("beta".to_owned(), false)]
        );
        assert_eq!(r.json["data"][0]["current_viewers"], VIEWERS);
        assert_eq!(
            r.json["data"][0]["current_live_stream_id"],
            live_stream_id.as_str()
        );
        assert_eq!(r.json["data"][0]["following"], true);

        // A followed channel that turns private drops out of the list.
        set_visibility(&app, &owner, &beta, "private").await;
        let r = app.get("/api/v1/me/following", &viewer.auth()).await;
        assert_eq!(slugs(&r), [("alpha".to_owned(), true)]);
        set_visibility(&app, &owner, &beta, "public").await;

        // Unfollow (idempotent).
        for _ in 0..2 {
            check(
                &app.delete(&follow(&alpha), &viewer.auth()).await,
                204,
                "unfollow",
            );
        }
        check(
            &app.delete(&follow(&alpha), &Auth::None).await,
            401,
            "anonymous unfollow",
        );
        let r = app
            .get(&format!("/api/v1/channels/{alpha}"), &viewer.auth())
            .await;
        assert_eq!(r.json["follower_count"], 1);
        assert_eq!(r.json["following"], false);
        let r = app.get("/api/v1/me/following", &viewer.auth()).await;
        assert_eq!(slugs(&r), [("beta".to_owned(), false)]);
    }
}

#[tokio::test]
async fn channel_settings_for_the_web_app() {
    for app in TestApp::all().await {
        let owner = app.creator("owner").await;
        let viewer = app.viewer("viewer").await;
        let admin = app.admin("admin").await;
        let id = channel(&app, &owner, "settings", "Settings").await;
        let path = format!("/api/v1/channels/{id}");
        let r = app
            .patch(
                &path,
                &owner.auth(),
                json!({"category": " Music ", "chat_slow_mode_s": 10,
                       "chat_blocked_words": ["Foo", " bar ", "foo", ""]}),
            )
            .await;
        check(&r, 200, "patch");
        assert_eq!(r.json["category"], "Music");
        assert_eq!(r.json["chat_slow_mode_s"], 10);
        assert_eq!(r.json["chat_blocked_words"], json!(["bar", "foo"]));
        // Blocked words are for managers; slow mode and category for all.
        let r = app.get(&path, &viewer.auth()).await;
        assert_eq!(r.json["category"], "Music");
        assert_eq!(r.json["chat_slow_mode_s"], 10);
        assert!(r.json.get("chat_blocked_words").is_none(), "{}", r.json);
        let r = app.get(&path, &admin.auth()).await;
        assert_eq!(r.json["chat_blocked_words"], json!(["bar", "foo"]));
        for (body, field) in [
            (json!({"chat_slow_mode_s": 3601}), "chat_slow_mode_s"),
            (json!({"chat_slow_mode_s": -1}), "chat_slow_mode_s"),
            (json!({"category": "x".repeat(51)}), "category"),
            (
                json!({"chat_blocked_words": ["x".repeat(51)]}),
                "chat_blocked_words",
            ),
        ] {
            let r = app.patch(&path, &owner.auth(), body).await;
            check(&r, 422, field);
            assert_eq!(r.json["error"]["field"], field);
        }
        check(
            &app.patch(&path, &viewer.auth(), json!({"category": "x"}))
                .await,
            403,
            "viewer",
        );
        // Create takes a category too.
        let r = app
            .post(
                "/api/v1/channels",
                &owner.auth(),
                json!({"slug": "with-category", "category": "Games"}),
            )
            .await;
        check(&r, 201, "create");
        assert_eq!(r.json["channel"]["category"], "Games");
        assert_eq!(r.json["channel"]["follower_count"], 0);

        // Moderators: owner or admin; unknown users 404.
        let moderator = |user: &str| format!("/api/v1/channels/{id}/moderators/{user}");
        let put = |auth: Auth, user: String| {
            let app = &app;
            async move { app.call(Method::PUT, &user, &auth, None).await }
        };
        check(
            &put(viewer.auth(), moderator(viewer.id())).await,
            403,
            "viewer names",
        );
        check(
            &put(Auth::None, moderator(viewer.id())).await,
            401,
            "anonymous names",
        );
        check(
            &put(owner.auth(), moderator("nobody")).await,
            404,
            "unknown user",
        );
        check(
            &put(admin.auth(), moderator(viewer.id())).await,
            204,
            "admin names",
        );
        assert!(app.db.is_channel_moderator(&id, viewer.id()).await.unwrap());
        check(
            &app.delete(&moderator(viewer.id()), &owner.auth()).await,
            204,
            "owner removes",
        );
        assert!(!app.db.is_channel_moderator(&id, viewer.id()).await.unwrap());
    }
}

/// A public or private channel with an ended, recorded broadcast and a
/// ready clip of it; returns (vod_id, clip_id).
async fn recorded(app: &TestApp, owner: &Client, slug: &str, title: &str) -> (String, String) {
    let id = channel(app, owner, slug, title).await;
    let ls = app.db.begin_live_stream(&id).await.unwrap();
    let vod = app.db.create_vod(&ls.live_stream_id).await.unwrap();
    app.db
        .add_segment(NewSegment {
            live_stream_id: ls.live_stream_id.clone(),
            rendition: "source".into(),
            sequence: 0,
            duration_90k: 180_000,
            size_bytes: 1000,
            discontinuity: false,
            uri: "0.ts".into(),
            map_uri: None,
            gap: false,
            program_date_time_ms: None,
        })
        .await
        .unwrap();
    app.db
        .end_live_stream(&ls.live_stream_id, "done")
        .await
        .unwrap();
    let vod = app.db.finish_vod(&vod.vod_id, 2_000, 1).await.unwrap();
    let clip = app
        .db
        .create_clip(NewClip {
            source: ClipSource::Vod {
                vod_id: vod.vod_id.clone(),
            },
            start_ms: 0,
            end_ms: 1000,
            title: format!("{title} clip"),
            created_by_user_id: None,
        })
        .await
        .unwrap();
    let clip = app.db.finish_clip(&clip.clip_id).await.unwrap();
    (vod.vod_id, clip.clip_id)
}

#[tokio::test]
async fn browse_live_vods_and_clips() {
    for app in apps().await {
        let backend = app.backend;
        let owner = app.creator("owner").await;
        let viewer = app.viewer("viewer").await;
        let mut live = Vec::new();
        for (slug, title, visibility) in [
            ("coffee-talk", "Morning Coffee", "public"),
            ("speedrun", "Speedrun any%", "public"),
            ("secret", "Secret coffee", "private"),
            ("unlisted", "Unlisted coffee", "unlisted"),
        ] {
            let id = channel(&app, &owner, slug, title).await;
            if visibility != "public" {
                set_visibility(&app, &owner, &id, visibility).await;
            }
            let ls = go_live(&app, &id).await;
            live.push((id, ls));
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        channel(&app, &owner, "offline", "Offline coffee").await;
        let (vod, clip) = recorded(&app, &owner, "old-show", "Old Show").await;
        let (hidden_vod, _) = recorded(&app, &owner, "hidden-show", "Hidden Show").await;
        let hidden_id = app
            .db
            .channel_by_slug("hidden-show")
            .await
            .unwrap()
            .unwrap()
            .channel_id;
        set_visibility(&app, &owner, &hidden_id, "private").await;

        let live_slugs = |r: &Resp| -> Vec<String> {
            r.json["live"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["slug"].as_str().unwrap().to_owned())
                .collect()
        };
        // Anonymous: public live channels, newest broadcast first.
        let r = app.get("/api/v1/browse", &Auth::None).await;
        check(&r, 200, "browse");
        assert_eq!(live_slugs(&r), ["speedrun", "coffee-talk"], "{backend:?}");
        let first = &r.json["live"][0];
        assert_eq!(first["live_stream_id"], live[1].1.as_str());
        assert_eq!(first["live"], true);
        assert_eq!(first["current_viewers"], VIEWERS);
        assert!(
            first["thumbnail_url"]
                .as_str()
                .unwrap()
                .contains("/thumbnails/"),
            "{first}"
        );
        assert_eq!(first["title"], "Speedrun any%");
        let vods: Vec<&str> = r.json["vods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["vod_id"].as_str().unwrap())
            .collect();
        assert_eq!(vods, [vod.as_str()]);
        assert_ne!(vods[0], hidden_vod);
        assert_eq!(r.json["vods"][0]["channel_slug"], "old-show");
        assert_eq!(r.json["clips"][0]["clip_id"], clip.as_str());
        assert_eq!(r.json["clips"].as_array().unwrap().len(), 1);
        assert_eq!(r.json["clips"][0]["channel_title"], "Old Show");

        // Followed channels first for a logged-in caller.
        let r = app
            .call(
                Method::PUT,
                &format!("/api/v1/channels/{}/follow", live[0].0),
                &viewer.auth(),
                None,
            )
            .await;
        check(&r, 204, "follow");
        let r = app.get("/api/v1/browse", &viewer.auth()).await;
        assert_eq!(live_slugs(&r), ["coffee-talk", "speedrun"]);
        assert_eq!(r.json["live"][0]["following"], true);
        assert_eq!(r.json["live"][0]["follower_count"], 1);
        assert_eq!(r.json["live"][1]["following"], false);

        // Search by title or slug, ignoring case; private and unlisted
        // channels never appear, however they are searched for.
        for (q, expected) in [
            ("COFFEE", vec!["coffee-talk"]),
            ("speed", vec!["speedrun"]),
            ("any%", vec!["speedrun"]),
            ("secret", vec![]),
            ("unlisted", vec![]),
            ("nothing-like-it", vec![]),
        ] {
            let r = app
                .get(
                    &format!("/api/v1/browse?q={}", q.replace('%', "%25")),
                    &Auth::None,
                )
                .await;
            check(&r, 200, q);
            assert_eq!(live_slugs(&r), expected, "{q}");
        }
        let r = app.get("/api/v1/browse?q=old%20show", &Auth::None).await;
        assert!(r.json["live"].as_array().unwrap().is_empty());
        assert_eq!(r.json["vods"].as_array().unwrap().len(), 1);
        assert_eq!(r.json["clips"].as_array().unwrap().len(), 1);
        let r = app.get("/api/v1/browse?q=hidden", &Auth::None).await;
        assert!(r.json["vods"].as_array().unwrap().is_empty());
        assert!(r.json["clips"].as_array().unwrap().is_empty());
        check(
            &app.get("/api/v1/browse?limit=0", &Auth::None).await,
            400,
            "limit",
        );
        let long = "x".repeat(101);
        check(
            &app.get(&format!("/api/v1/browse?q={long}"), &Auth::None)
                .await,
            422,
            "long q",
        );
        let r = app.get("/api/v1/browse?limit=1", &Auth::None).await;
        assert_eq!(live_slugs(&r), ["speedrun"]);
    }
}

#[tokio::test]
async fn sign_up_role_follows_the_configuration() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::with(backend, api::ApiOptions::default()).await else {
            continue;
        };
        let signup = |username: &str, role: Option<&str>| {
            let mut body = json!({"username": username, "password": PASSWORD});
            if let Some(role) = role {
                body["role"] = json!(role);
            }
            body
        };
        // Default: creators, who may create a channel straight away.
        let r = app
            .post("/api/v1/users", &Auth::None, signup("newbie", None))
            .await;
        check(&r, 201, "sign up");
        assert_eq!(r.json["role"], "creator");
        let (session, csrf) = app.login("newbie").await;
        let auth = Auth::Cookie {
            session,
            csrf: Some(csrf),
        };
        check(
            &app.post("/api/v1/channels", &auth, json!({"slug": "newbie-live"}))
                .await,
            201,
            "a new creator's channel",
        );
        let r = app
            .post(
                "/api/v1/users",
                &Auth::None,
                signup("watcher", Some("viewer")),
            )
            .await;
        check(&r, 201, "sign up as a viewer");
        assert_eq!(r.json["role"], "viewer");
        check(
            &app.post(
                "/api/v1/users",
                &Auth::None,
                signup("sneaky", Some("admin")),
            )
            .await,
            403,
            "sign up as an admin",
        );

        let options = api::ApiOptions {
            config: api::ApiConfig {
                signup_role: api::SignupRole::Viewer,
                ..api::ApiConfig::default()
            },
            ..api::ApiOptions::default()
        };
        let app = TestApp::with(backend, options).await.unwrap();
        let r = app
            .post("/api/v1/users", &Auth::None, signup("plain", None))
            .await;
        check(&r, 201, "viewer sign up");
        assert_eq!(r.json["role"], "viewer");
        check(
            &app.post(
                "/api/v1/users",
                &Auth::None,
                signup("eager", Some("creator")),
            )
            .await,
            403,
            "creator sign up when viewers only",
        );
        // Admins still create any role.
        let admin = app.admin("root").await;
        let r = app
            .post(
                "/api/v1/users",
                &admin.auth(),
                signup("made", Some("creator")),
            )
            .await;
        check(&r, 201, "admin creates a creator");
        let r = app
            .post("/api/v1/users", &admin.auth(), signup("made2", None))
            .await;
        assert_eq!(r.json["role"], "viewer");
    }
}

/// The next close of `ws` (skipping other events), within 15 s: the error
/// event that came before it, if any.
async fn closed_with(ws: &mut Ws) -> Option<Value> {
    let mut last_error = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("closed within 15 s");
        match frame {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return last_error,
            Some(Ok(Message::Text(text))) => {
                let event: Value = serde_json::from_str(text.as_str()).unwrap();
                if event["type"] == "error" {
                    last_error = Some(event);
                }
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Sockets re-check who they are: logging out (or a password change)
/// closes a chat socket within seconds, and so does the channel going
/// private for a viewer who may no longer see it.
#[tokio::test]
async fn chat_sockets_follow_sessions_and_visibility() {
    for app in apps().await {
        let addr = app.serve().await;
        let owner = app.creator("owner").await;
        let _alice = app.viewer("alice").await;
        let _bob = app.viewer("bob").await;
        let id = channel(&app, &owner, "recheck", "Re-check").await;

        let (session, csrf) = app.login("alice").await;
        let (mut alice_ws, _) =
            join(addr, "recheck", Some(&format!("aethex_session={session}"))).await;
        let bob_cookie = cookie(&app, "bob").await;
        let (mut bob_ws, _) = join(addr, "recheck", Some(&bob_cookie)).await;

        let r = app
            .call(
                Method::POST,
                "/api/v1/auth/logout",
                &Auth::Cookie {
                    session,
                    csrf: Some(csrf),
                },
                None,
            )
            .await;
        check(&r, 204, "logout");
        let error = closed_with(&mut alice_ws).await.expect("an error first");
        assert_eq!(error["code"], "session_ended", "{error}");

        set_visibility(&app, &owner, &id, "private").await;
        let error = closed_with(&mut bob_ws).await.expect("an error first");
        assert_eq!(error["code"], "not_found", "{error}");
    }
}

/// A connection sending more than the frame limit is closed; the chat's
/// rate limit counts refused posts too (it runs before anything else).
#[tokio::test]
async fn chat_frames_and_posts_are_limited() {
    for app in apps().await {
        let addr = app.serve().await;
        let owner = app.creator("owner").await;
        let _carol = app.viewer("carol").await;
        let id = channel(&app, &owner, "limits", "Limits").await;
        let r = app
            .patch(
                &format!("/api/v1/channels/{id}"),
                &owner.auth(),
                json!({"chat_blocked_words": ["spam"]}),
            )
            .await;
        check(&r, 200, "blocked words");
        let carol = cookie(&app, "carol").await;
        let (mut ws, _) = join(addr, "limits", Some(&carol)).await;
        // Five refused posts use up the rate limit: the sixth, clean, is
        // refused for the rate.
        for _ in 0..5 {
            let (code, _) = refused(&mut ws, json!({"type": "send", "body": "spam"})).await;
            assert_eq!(code, "blocked_word");
        }
        let (code, _) = refused(&mut ws, json!({"type": "send", "body": "hello"})).await;
        assert_eq!(code, "rate_limited");

        // Anonymous garbage, fast: closed after the frame limit.
        let (mut anon, _) = join(addr, "limits", None).await;
        for i in 0..(api_frame_limit() + 5) {
            if anon
                .send(Message::Text(format!("{{\"n\":{i}}}").into()))
                .await
                .is_err()
            {
                break;
            }
        }
        let error = closed_with(&mut anon).await.expect("an error first");
        assert_eq!(error["code"], "too_many_frames", "{error}");
    }
}

fn api_frame_limit() -> usize {
    20
}

/// At most `chat_max_connections` sockets at once: the next upgrade gets
/// 503, and a slot frees when a socket closes.
#[tokio::test]
async fn chat_connections_are_capped() {
    let options = api::ApiOptions {
        config: api::ApiConfig {
            chat_max_connections: 2,
            ..api::ApiConfig::default()
        },
        ..api::ApiOptions::default()
    };
    let app = TestApp::with(Backend::Sqlite, options).await.unwrap();
    let addr = app.serve().await;
    let owner = app.creator("owner").await;
    channel(&app, &owner, "capped", "Capped").await;
    let (first, _) = join(addr, "capped", None).await;
    let (_second, _) = join(addr, "capped", None).await;
    let origin = [("origin", format!("http://{addr}"))];
    match connect_with(addr, "capped", &origin).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("expected 503, got {:?}", other.map(|_| "a socket")),
    }
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match connect_with(addr, "capped", &origin).await {
            Ok(_) => break,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "no slot freed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// At most `chat_max_connections_per_ip` sockets from one client address
/// (here told by a trusted proxy's X-Forwarded-For; an IPv6 client counts
/// by its /64).
#[tokio::test]
async fn chat_connections_are_capped_per_address() {
    let options = api::ApiOptions {
        config: api::ApiConfig {
            chat_max_connections_per_ip: 2,
            trust_forwarded_for: true,
            ..api::ApiConfig::default()
        },
        ..api::ApiOptions::default()
    };
    let app = TestApp::with(Backend::Sqlite, options).await.unwrap();
    let addr = app.serve().await;
    let owner = app.creator("owner").await;
    channel(&app, &owner, "per-address", "Per address").await;
    let from = |client: &str| {
        vec![
            ("origin", format!("http://{addr}")),
            ("x-forwarded-for", client.to_owned()),
        ]
    };
    let _a1 = connect_with(addr, "per-address", &from("2001:db8:5:6::1"))
        .await
        .unwrap();
    let _a2 = connect_with(addr, "per-address", &from("2001:db8:5:6::2"))
        .await
        .unwrap();
    match connect_with(addr, "per-address", &from("2001:db8:5:6:ffff::3")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("expected 503, got {:?}", other.map(|_| "a socket")),
    }
    let _b = connect_with(addr, "per-address", &from("198.51.100.7"))
        .await
        .unwrap();
}
