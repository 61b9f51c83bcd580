//! The authorization matrix of `/api/v1`, on SQLite and PostgreSQL: for
//! every resource type (channels, stream keys, live streams, VODs, clips,
//! API tokens, signing keys, playback tokens, webhooks and their
//! deliveries, users), what five actors get for reading and changing it:
//!
//! * anonymous: reads public things only, 401 for every change;
//! * a viewer: reads what is not private, 403 creating channels, webhooks
//!   and signing keys;
//! * creator B: not the owner, 403 changing what B can see of A's, 404 for
//!   what B cannot see (private things, personal settings);
//! * creator A: the owner, 2xx;
//! * an admin: 2xx on everything, other users' personal settings included.
//!
//! One table of (actor, method, path, body, expected status), run in
//! order: each destructive change has its own resource per succeeding actor,
//! and the denials on it come before the success, which proves the
//! resource existed when it was denied (so a 404 is a denial, not a
//! missing row). Every denial must be 401, 403 or 404 with an
//! `{"error":{"code","message"}}` body, and no cell may be a 5xx.

mod common;

use std::fmt;

use common::*;
use control::{NewSegment, Vod, WebhookEventType};
use http::Method;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Actor {
    Anonymous,
    Viewer,
    /// A creator who does not own the fixtures.
    CreatorB,
    /// The creator who owns the fixtures.
    CreatorA,
    Admin,
}

use Actor::*;

const ACTORS: [Actor; 5] = [Anonymous, Viewer, CreatorB, CreatorA, Admin];

/// One request and the status it must get.
struct Cell {
    actor: Actor,
    method: Method,
    path: String,
    body: Option<Value>,
    expected: u16,
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {} {}", self.actor, self.method, self.path)?;
        if let Some(body) = &self.body {
            write!(f, " {body}")?;
        }
        Ok(())
    }
}

/// The matrix, in the order it runs.
#[derive(Default)]
struct Matrix(Vec<Cell>);

impl Matrix {
    /// One cell.
    fn one(
        &mut self,
        actor: Actor,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) {
        self.0.push(Cell {
            actor,
            method,
            path: path.to_owned(),
            body,
            expected,
        });
    }

    /// The same request by each of `cells`' actors.
    fn some(&mut self, method: Method, path: &str, body: Option<Value>, cells: &[(Actor, u16)]) {
        for &(actor, expected) in cells {
            self.one(actor, method.clone(), path, body.clone(), expected);
        }
    }

    /// The same request by all five actors, expecting `[anonymous, viewer,
    /// creator B, creator A, admin]`.
    fn all(&mut self, method: Method, path: &str, body: Option<Value>, expected: [u16; 5]) {
        let cells: Vec<(Actor, u16)> = ACTORS.into_iter().zip(expected).collect();
        self.some(method, path, body, &cells);
    }

    /// A destructive change of `path` (one resource per succeeding actor):
    /// the three non-owners are denied with `denied` (`[anonymous, viewer,
    /// creator B]`), then `winner` gets `ok`.
    fn destroy(&mut self, method: Method, path: &str, denied: [u16; 3], winner: Actor, ok: u16) {
        let mut cells: Vec<(Actor, u16)> = [Anonymous, Viewer, CreatorB]
            .into_iter()
            .zip(denied)
            .collect();
        cells.push((winner, ok));
        self.some(method, path, None, &cells);
    }
}

/// Reading something anyone may see.
const PUBLIC_READ: [u16; 5] = [200, 200, 200, 200, 200];
/// Reading something only its owner and admins may see (private, or
/// personal): 404 to everyone else, 401 first when anonymous for routes
/// that require a login.
const HIDDEN: [u16; 5] = [404, 404, 404, 200, 200];
const HIDDEN_LOGIN: [u16; 5] = [401, 404, 404, 200, 200];
/// Changing something everyone may see: 403 to the logged-in non-owners.
const MANAGE_VISIBLE: [u16; 5] = [401, 403, 403, 200, 200];
/// Changing something only its owner and admins may see.
const MANAGE_HIDDEN: [u16; 5] = [401, 404, 404, 200, 200];
/// Any logged-in user.
const LOGGED_IN: [u16; 5] = [401, 200, 200, 200, 200];
/// Listing creator A's personal settings with `?user_id=`.
const LIST_OTHERS: [u16; 5] = [401, 403, 403, 200, 200];

/// A VOD row of a broadcast of `channel_id` with five 2-second segment
/// rows and no media, ended and ready (as `vods_clips.rs` makes them).
async fn bare_vod(app: &TestApp, channel_id: &str) -> Vod {
    let ls = app.db.begin_live_stream(channel_id).await.unwrap();
    let vod = app.db.create_vod(&ls.live_stream_id).await.unwrap();
    for sequence in 0..5 {
        app.db
            .add_segment(NewSegment {
                live_stream_id: ls.live_stream_id.clone(),
                rendition: "source".into(),
                sequence,
                duration_90k: 180_000,
                size_bytes: 1000,
                discontinuity: false,
                uri: format!("{sequence}.ts"),
                map_uri: None,
                gap: false,
                program_date_time_ms: None,
            })
            .await
            .unwrap();
    }
    app.db
        .end_live_stream(&ls.live_stream_id, "done")
        .await
        .unwrap();
    app.db.finish_vod(&vod.vod_id, 10_000, 5).await.unwrap()
}

/// `field` of a 201 response, created through the API by `who`.
async fn create(app: &TestApp, who: &Client, path: &str, body: Value, pointer: &str) -> String {
    let r = app.post(path, &who.auth(), body.clone()).await;
    assert_eq!(r.status, 201, "{path} {body}: {}", r.text);
    r.json
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} in {}", r.text))
        .to_owned()
}

fn page_ids(r: &Resp, field: &str) -> Vec<String> {
    r.json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {}", r.text))
        .iter()
        .map(|v| v[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_matrix() {
    for app in TestApp::all().await {
        let backend = app.backend;
        let viewer = app.viewer("vera").await;
        let bob = app.creator("bob").await;
        let alice = app.creator("alice").await;
        let admin = app.admin("root").await;
        let auth_of = |actor: Actor| match actor {
            Anonymous => Auth::None,
            Viewer => viewer.auth(),
            CreatorB => bob.auth(),
            CreatorA => alice.auth(),
            Admin => admin.auth(),
        };

        // Creator A's things, through the API where it has a route.
        let channel = |slug: &str, visibility: &str| json!({"slug": slug, "title": slug, "visibility": visibility});
        let ch_id = "/channel/channel_id";
        let ch_pub = create(
            &app,
            &alice,
            "/api/v1/channels",
            channel("a-pub", "public"),
            ch_id,
        )
        .await;
        let ch_priv = create(
            &app,
            &alice,
            "/api/v1/channels",
            channel("a-priv", "private"),
            ch_id,
        )
        .await;
        let ch_del_a = create(
            &app,
            &alice,
            "/api/v1/channels",
            channel("a-del-1", "public"),
            ch_id,
        )
        .await;
        let ch_del_admin = create(
            &app,
            &alice,
            "/api/v1/channels",
            channel("a-del-2", "public"),
            ch_id,
        )
        .await;
        // Recordings and broadcasts come from ingest, not the API.
        let vod_pub = bare_vod(&app, &ch_pub).await.vod_id;
        let vod_del_a = bare_vod(&app, &ch_pub).await.vod_id;
        let vod_del_admin = bare_vod(&app, &ch_pub).await.vod_id;
        let vod_priv = bare_vod(&app, &ch_priv).await.vod_id;
        let ls_pub = app
            .db
            .begin_live_stream(&ch_pub)
            .await
            .unwrap()
            .live_stream_id;
        let ls_priv = app
            .db
            .begin_live_stream(&ch_priv)
            .await
            .unwrap()
            .live_stream_id;
        let clip_of = |vod_id: &str| json!({"vod_id": vod_id, "start_s": 0, "end_s": 4});
        let clip_pub = create(&app, &alice, "/api/v1/clips", clip_of(&vod_pub), "/clip_id").await;
        let clip_priv = create(
            &app,
            &alice,
            "/api/v1/clips",
            clip_of(&vod_priv),
            "/clip_id",
        )
        .await;
        let clip_del_a = create(&app, &alice, "/api/v1/clips", clip_of(&vod_pub), "/clip_id").await;
        let clip_del_admin =
            create(&app, &alice, "/api/v1/clips", clip_of(&vod_pub), "/clip_id").await;
        // Creator B's clip of A's public VOD: B (its creator) may change it.
        let clip_bob = create(&app, &bob, "/api/v1/clips", clip_of(&vod_pub), "/clip_id").await;
        let token_of = |name: &str| json!({ "name": name });
        let tok_id = "/api_token/api_token_id";
        let tok_del_a = create(&app, &alice, "/api/v1/api-tokens", token_of("one"), tok_id).await;
        let tok_del_admin =
            create(&app, &alice, "/api/v1/api-tokens", token_of("two"), tok_id).await;
        let es256 = json!({"algorithm": "ES256"});
        let key_id = "/signing_key/signing_key_id";
        let key_a = create(&app, &alice, "/api/v1/signing-keys", es256.clone(), key_id).await;
        let key_del_a = create(&app, &alice, "/api/v1/signing-keys", es256.clone(), key_id).await;
        let key_del_admin =
            create(&app, &alice, "/api/v1/signing-keys", es256.clone(), key_id).await;
        let hook = json!({"url": "https://hooks.example.com/aethex"});
        let wh_id = "/webhook_endpoint/webhook_endpoint_id";
        let wh_a = create(&app, &alice, "/api/v1/webhooks", hook.clone(), wh_id).await;
        let wh_del_a = create(&app, &alice, "/api/v1/webhooks", hook.clone(), wh_id).await;
        let wh_del_admin = create(&app, &alice, "/api/v1/webhooks", hook.clone(), wh_id).await;
        let (_, deliveries) = app
            .db
            .enqueue_webhook_event(
                WebhookEventType::VodReady,
                alice.id(),
                Some(&ch_pub),
                json!({"vod_id": vod_pub}),
            )
            .await
            .unwrap();
        assert_eq!(deliveries.len(), 3, "{backend:?}");
        let spare = create(
            &app,
            &admin,
            "/api/v1/users",
            json!({"username": "spare", "password": PASSWORD, "role": "viewer"}),
            "/user_id",
        )
        .await;

        let mut m = Matrix::default();
        let (get, post, patch, delete) = (Method::GET, Method::POST, Method::PATCH, Method::DELETE);
        let title = |t: &str| Some(json!({ "title": t }));

        // Channels.
        m.all(get.clone(), "/api/v1/channels", None, PUBLIC_READ);
        m.all(get.clone(), "/api/v1/channels?owner=me", None, LOGGED_IN);
        m.all(
            get.clone(),
            &format!("/api/v1/channels/{ch_pub}"),
            None,
            PUBLIC_READ,
        );
        m.all(
            get.clone(),
            &format!("/api/v1/channels/{ch_priv}"),
            None,
            HIDDEN,
        );
        for (actor, expected) in ACTORS.into_iter().zip([401, 403, 201, 201, 201]) {
            let slug = format!("new-{actor:?}").to_lowercase();
            m.one(
                actor,
                post.clone(),
                "/api/v1/channels",
                Some(json!({ "slug": slug })),
                expected,
            );
        }
        // Only admins create channels for someone else.
        for (actor, expected) in [(Viewer, 403), (CreatorB, 403), (Admin, 201)] {
            let slug = format!("for-a-by-{actor:?}").to_lowercase();
            let body = json!({"slug": slug, "owner_user_id": alice.id()});
            m.one(
                actor,
                post.clone(),
                "/api/v1/channels",
                Some(body),
                expected,
            );
        }
        m.all(
            patch.clone(),
            &format!("/api/v1/channels/{ch_pub}"),
            title("t"),
            MANAGE_VISIBLE,
        );
        m.all(
            patch.clone(),
            &format!("/api/v1/channels/{ch_priv}"),
            title("t"),
            MANAGE_HIDDEN,
        );

        // Stream keys.
        let reset = |c: &str| format!("/api/v1/channels/{c}/reset-stream-key");
        m.all(post.clone(), &reset(&ch_pub), None, MANAGE_VISIBLE);
        m.all(post.clone(), &reset(&ch_priv), None, MANAGE_HIDDEN);

        // Taking playback access back: revoking tokens, rotating the id.
        for action in ["revoke-playback-tokens", "rotate-playback-id"] {
            let path = |c: &str| format!("/api/v1/channels/{c}/{action}");
            m.all(post.clone(), &path(&ch_pub), None, MANAGE_VISIBLE);
            m.all(post.clone(), &path(&ch_priv), None, MANAGE_HIDDEN);
        }

        // Playback tokens: any logged-in user for a channel that is not
        // private; its owner and admins for a private one.
        let mint = |c: &str| format!("/api/v1/channels/{c}/playback-tokens");
        m.all(
            post.clone(),
            &mint(&ch_pub),
            None,
            [401, 201, 201, 201, 201],
        );
        m.all(
            post.clone(),
            &mint(&ch_priv),
            None,
            [401, 404, 404, 201, 201],
        );

        // Live streams.
        let list_ls = |c: &str| format!("/api/v1/channels/{c}/live-streams");
        m.all(get.clone(), &list_ls(&ch_pub), None, PUBLIC_READ);
        m.all(get.clone(), &list_ls(&ch_priv), None, HIDDEN);
        m.all(
            get.clone(),
            &format!("/api/v1/live-streams/{ls_pub}"),
            None,
            PUBLIC_READ,
        );
        m.all(
            get.clone(),
            &format!("/api/v1/live-streams/{ls_priv}"),
            None,
            HIDDEN,
        );
        let complete = |ls: &str| format!("/api/v1/live-streams/{ls}/complete");
        m.destroy(
            post.clone(),
            &complete(&ls_pub),
            [401, 403, 403],
            CreatorA,
            200,
        );
        m.destroy(
            post.clone(),
            &complete(&ls_priv),
            [401, 404, 404],
            Admin,
            200,
        );

        // VODs.
        m.all(get.clone(), "/api/v1/vods", None, PUBLIC_READ);
        m.all(
            get.clone(),
            &format!("/api/v1/channels/{ch_pub}/vods"),
            None,
            PUBLIC_READ,
        );
        m.all(
            get.clone(),
            &format!("/api/v1/channels/{ch_priv}/vods"),
            None,
            HIDDEN,
        );
        m.all(
            get.clone(),
            &format!("/api/v1/vods/{vod_pub}"),
            None,
            PUBLIC_READ,
        );
        m.all(
            get.clone(),
            &format!("/api/v1/vods/{vod_priv}"),
            None,
            HIDDEN,
        );
        m.all(
            patch.clone(),
            &format!("/api/v1/vods/{vod_pub}"),
            title("v"),
            MANAGE_VISIBLE,
        );
        m.all(
            patch.clone(),
            &format!("/api/v1/vods/{vod_priv}"),
            title("v"),
            MANAGE_HIDDEN,
        );
        let vod = |v: &str| format!("/api/v1/vods/{v}");
        m.destroy(
            delete.clone(),
            &vod(&vod_del_a),
            [401, 403, 403],
            CreatorA,
            204,
        );
        m.destroy(
            delete.clone(),
            &vod(&vod_del_admin),
            [401, 403, 403],
            Admin,
            204,
        );

        // Clips.
        m.all(
            post.clone(),
            "/api/v1/clips",
            Some(clip_of(&vod_pub)),
            [401, 201, 201, 201, 201],
        );
        m.all(
            post.clone(),
            "/api/v1/clips",
            Some(clip_of(&vod_priv)),
            [401, 404, 404, 201, 201],
        );
        m.all(get.clone(), "/api/v1/clips", None, PUBLIC_READ);
        m.all(
            get.clone(),
            &format!("/api/v1/clips?channel_id={ch_priv}"),
            None,
            HIDDEN,
        );
        m.all(
            get.clone(),
            &format!("/api/v1/clips/{clip_pub}"),
            None,
            PUBLIC_READ,
        );
        m.all(
            get.clone(),
            &format!("/api/v1/clips/{clip_priv}"),
            None,
            HIDDEN,
        );
        let clip = |c: &str| format!("/api/v1/clips/{c}");
        m.all(patch.clone(), &clip(&clip_pub), title("c"), MANAGE_VISIBLE);
        m.all(patch.clone(), &clip(&clip_priv), title("c"), MANAGE_HIDDEN);
        m.all(
            patch.clone(),
            &clip(&clip_bob),
            title("c"),
            [401, 403, 200, 200, 200],
        );
        let export = |c: &str| format!("/api/v1/clips/{c}/export");
        m.all(
            post.clone(),
            &export(&clip_pub),
            None,
            [401, 403, 403, 202, 202],
        );
        m.all(
            post.clone(),
            &export(&clip_priv),
            None,
            [401, 404, 404, 202, 202],
        );
        m.destroy(
            delete.clone(),
            &clip(&clip_del_a),
            [401, 403, 403],
            CreatorA,
            204,
        );
        m.destroy(
            delete.clone(),
            &clip(&clip_del_admin),
            [401, 403, 403],
            Admin,
            204,
        );

        // API tokens: personal. Everyone logged in makes their own.
        let mine = |p: &str| format!("{p}?user_id={}", alice.id());
        m.all(
            post.clone(),
            "/api/v1/api-tokens",
            Some(token_of("t")),
            [401, 201, 201, 201, 201],
        );
        m.all(get.clone(), "/api/v1/api-tokens", None, LOGGED_IN);
        m.all(get.clone(), &mine("/api/v1/api-tokens"), None, LIST_OTHERS);
        m.one(
            Viewer,
            get.clone(),
            "/api/v1/api-tokens?user_id=nobody",
            None,
            403,
        );
        let tok = |t: &str| format!("/api/v1/api-tokens/{t}");
        m.destroy(
            delete.clone(),
            &tok(&tok_del_a),
            [401, 404, 404],
            CreatorA,
            204,
        );
        m.destroy(
            delete.clone(),
            &tok(&tok_del_admin),
            [401, 404, 404],
            Admin,
            204,
        );

        // Signing keys: personal; viewers may not make them.
        let sk = "/api/v1/signing-keys";
        m.all(
            post.clone(),
            sk,
            Some(es256.clone()),
            [401, 403, 201, 201, 201],
        );
        m.all(get.clone(), sk, None, LOGGED_IN);
        m.all(get.clone(), &mine(sk), None, LIST_OTHERS);
        m.all(get.clone(), &format!("{sk}/{key_a}"), None, HIDDEN_LOGIN);
        m.destroy(
            delete.clone(),
            &format!("{sk}/{key_del_a}"),
            [401, 404, 404],
            CreatorA,
            204,
        );
        m.destroy(
            delete.clone(),
            &format!("{sk}/{key_del_admin}"),
            [401, 404, 404],
            Admin,
            204,
        );

        // Webhooks and their deliveries: personal; viewers may not make them.
        let wh = "/api/v1/webhooks";
        m.all(
            post.clone(),
            wh,
            Some(hook.clone()),
            [401, 403, 201, 201, 201],
        );
        m.all(get.clone(), wh, None, LOGGED_IN);
        m.all(get.clone(), &mine(wh), None, LIST_OTHERS);
        m.all(get.clone(), &format!("{wh}/{wh_a}"), None, HIDDEN_LOGIN);
        let enable = Some(json!({"enabled": true}));
        m.all(
            patch.clone(),
            &format!("{wh}/{wh_a}"),
            enable,
            MANAGE_HIDDEN,
        );
        m.all(
            post.clone(),
            &format!("{wh}/{wh_a}/rotate-secret"),
            None,
            MANAGE_HIDDEN,
        );
        m.all(
            get.clone(),
            &format!("{wh}/{wh_a}/deliveries"),
            None,
            HIDDEN_LOGIN,
        );
        m.destroy(
            delete.clone(),
            &format!("{wh}/{wh_del_a}"),
            [401, 404, 404],
            CreatorA,
            204,
        );
        m.destroy(
            delete.clone(),
            &format!("{wh}/{wh_del_admin}"),
            [401, 404, 404],
            Admin,
            204,
        );

        // Users.
        let user = |u: &str| format!("/api/v1/users/{u}");
        m.all(get.clone(), "/api/v1/me", None, LOGGED_IN);
        m.all(
            get.clone(),
            "/api/v1/users",
            None,
            [401, 403, 403, 403, 200],
        );
        m.all(get.clone(), &user(alice.id()), None, HIDDEN_LOGIN);
        let email = Some(json!({"email": "alice@example.com"}));
        m.all(patch.clone(), &user(alice.id()), email, MANAGE_HIDDEN);
        let role = Some(json!({"role": "creator"}));
        m.all(
            patch.clone(),
            &user(alice.id()),
            role,
            [401, 404, 404, 403, 200],
        );
        // Only admins create admins; anyone may sign up as a creator (the
        // default `signup_role`; anonymous sign-up is tested in
        // chat_follows.rs, this table keeps anonymous callers to reads).
        for (actor, expected) in ACTORS.into_iter().zip([403, 403, 403, 403, 201]) {
            let username = format!("made-by-{actor:?}").to_lowercase();
            let body = json!({"username": username, "password": PASSWORD, "role": "admin"});
            m.one(actor, post.clone(), "/api/v1/users", Some(body), expected);
        }
        for actor in ACTORS.into_iter().filter(|a| *a != Anonymous) {
            let username = format!("creator-by-{actor:?}").to_lowercase();
            let body = json!({"username": username, "password": PASSWORD, "role": "creator"});
            m.one(actor, post.clone(), "/api/v1/users", Some(body), 201);
        }
        m.one(CreatorA, delete.clone(), &user(alice.id()), None, 403);
        m.destroy(delete.clone(), &user(&spare), [401, 404, 404], Admin, 204);

        // Enabling and disabling channels (after the broadcasts ended), and
        // deleting them.
        // An admin's disable (the last in each row) is a suspension: the
        // owner's enable is refused until an admin's lifts it.
        for (c, disable, enable) in [
            (&ch_pub, MANAGE_VISIBLE, [401, 403, 403, 403, 200]),
            (&ch_priv, MANAGE_HIDDEN, [401, 404, 404, 403, 200]),
        ] {
            m.all(
                post.clone(),
                &format!("/api/v1/channels/{c}/disable"),
                None,
                disable,
            );
            let path = format!("/api/v1/channels/{c}/enable");
            m.all(post.clone(), &path, None, enable);
            m.one(CreatorA, post.clone(), &path, None, 200);
        }
        let ch = |c: &str| format!("/api/v1/channels/{c}");
        m.some(
            delete.clone(),
            &ch(&ch_priv),
            None,
            &[(Anonymous, 401), (Viewer, 404), (CreatorB, 404)],
        );
        m.destroy(
            delete.clone(),
            &ch(&ch_del_a),
            [401, 403, 403],
            CreatorA,
            204,
        );
        m.destroy(
            delete.clone(),
            &ch(&ch_del_admin),
            [401, 403, 403],
            Admin,
            204,
        );

        // The table itself keeps the rules: admins succeed everywhere,
        // anonymous callers succeed only in reading, and every cell is an
        // expected success or a 401/403/404 denial.
        for cell in &m.0 {
            let ok = (200..300).contains(&cell.expected);
            assert!(ok || [401, 403, 404].contains(&cell.expected), "{cell}");
            if cell.actor == Admin {
                assert!(ok, "admins can do all: {cell}");
            }
            if cell.actor == Anonymous && ok {
                assert_eq!(cell.method, Method::GET, "anonymous only reads: {cell}");
            }
        }

        // Run it.
        let mut wrong = Vec::new();
        for cell in &m.0 {
            let r = app
                .call(
                    cell.method.clone(),
                    &cell.path,
                    &auth_of(cell.actor),
                    cell.body.clone(),
                )
                .await;
            let status = r.status.as_u16();
            assert!(status < 500, "{backend:?} {cell}: {status} {}", r.text);
            if status != cell.expected {
                wrong.push(format!(
                    "{cell}: {status}, want {}: {}",
                    cell.expected, r.text
                ));
                continue;
            }
            if [401, 403, 404].contains(&status) {
                let error = &r.json["error"];
                let text = |k: &str| error[k].as_str().is_some_and(|s| !s.is_empty());
                assert!(
                    text("code") && text("message"),
                    "{backend:?} {cell}: not a JSON error: {}",
                    r.text
                );
                let content_type = r.headers.get(http::header::CONTENT_TYPE);
                assert!(
                    content_type.is_some_and(|v| v.as_bytes().starts_with(b"application/json")),
                    "{backend:?} {cell}: {content_type:?}"
                );
            }
        }
        assert!(
            wrong.is_empty(),
            "{backend:?}: {} of {} cells wrong:\n{}",
            wrong.len(),
            m.0.len(),
            wrong.join("\n")
        );
        eprintln!("{backend:?}: {} cells", m.0.len());

        // Admins act on creator A's own things, not on theirs of the same
        // name: the lists are A's, and what they changed is A's.
        let admin_auth = admin.auth();
        let r = app.get(&mine("/api/v1/api-tokens"), &admin_auth).await;
        let tokens = page_ids(&r, "api_token_id");
        assert!(!tokens.contains(&tok_del_admin), "{backend:?}: revoked");
        assert_eq!(
            tokens.len(),
            2,
            "{backend:?}: A's `test` and `t`: {}",
            r.text
        );
        assert!(
            app.db
                .api_token_owner(&tok_del_admin)
                .await
                .unwrap()
                .is_none()
        );
        let r = app.get(&mine(sk), &admin_auth).await;
        let keys = page_ids(&r, "signing_key_id");
        assert!(
            keys.contains(&key_a) && !keys.contains(&key_del_admin),
            "{backend:?}: {keys:?}"
        );
        let r = app.get(&mine(wh), &admin_auth).await;
        let hooks = page_ids(&r, "webhook_endpoint_id");
        assert!(
            hooks.contains(&wh_a) && !hooks.contains(&wh_del_admin),
            "{backend:?}: {hooks:?}"
        );
        let r = app
            .get(&format!("{wh}/{wh_a}/deliveries"), &admin_auth)
            .await;
        assert!(
            !page_ids(&r, "webhook_delivery_id").is_empty(),
            "{backend:?}: {}",
            r.text
        );
        // The admin's own lists hold none of A's.
        let r = app.get(sk, &admin_auth).await;
        assert!(
            !page_ids(&r, "signing_key_id").contains(&key_a),
            "{backend:?}"
        );
        let r = app.get(wh, &admin_auth).await;
        assert!(
            !page_ids(&r, "webhook_endpoint_id").contains(&wh_a),
            "{backend:?}"
        );
        // Listing the things of a user who does not exist: 404 for admins.
        for list in ["/api/v1/api-tokens", sk, wh] {
            let r = app
                .get(&format!("{list}?user_id=nobody"), &admin_auth)
                .await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (404, "not_found"),
                "{backend:?} {list}"
            );
        }
        // The allowed changes took effect.
        let r = app
            .get(&format!("/api/v1/channels/{ch_pub}"), &Auth::None)
            .await;
        assert_eq!(r.json["title"], "t", "{backend:?}");
        let r = app
            .get(&format!("/api/v1/users/{}", alice.id()), &admin_auth)
            .await;
        assert_eq!(r.json["role"], "creator", "{backend:?}");
        assert_eq!(r.json["email"], "alice@example.com", "{backend:?}");
        for gone in [&ch_del_a, &ch_del_admin] {
            let r = app
                .get(&format!("/api/v1/channels/{gone}"), &admin_auth)
                .await;
            assert_eq!(r.status, 404, "{backend:?}: deleted");
        }
    }
}
