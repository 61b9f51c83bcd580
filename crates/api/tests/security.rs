//! What a review found an attacker could do against a default install,
//! closed, on SQLite and PostgreSQL: cacheable media of signed channels,
//! clip lists that told of hidden channels, suspensions the owner could
//! lift, passwords changes that left API tokens working, unlimited clips
//! and exports, and responses without browser protections.

mod common;

use common::*;
use control::{
    Channel, ChannelUpdate, LatencyMode, NewChannel, NewSegment, PlaybackPolicy, Visibility,
};
use http::Method;
use serde_json::json;
use storage::keys;

/// A channel of `owner` with a recorded broadcast of five 2-second
/// segments (rows and bytes), and a ready clip of its first two; returns
/// the channel and the clip id.
async fn channel_with_clip(
    app: &TestApp,
    owner: &Client,
    slug: &str,
    visibility: Visibility,
) -> (Channel, String) {
    let channel = app
        .db
        .create_channel(NewChannel {
            owner_user_id: owner.id().to_owned(),
            slug: slug.to_owned(),
            title: slug.to_owned(),
            latency_mode: LatencyMode::Standard,
            segment_format: None,
            ladder: None,
        })
        .await
        .unwrap()
        .channel;
    let ls = app.db.begin_live_stream(&channel.channel_id).await.unwrap();
    let vod = app.db.create_vod(&ls.live_stream_id).await.unwrap();
    for sequence in 0..5 {
        let uri = format!("{sequence}.ts");
        app.db
            .add_segment(NewSegment {
                live_stream_id: ls.live_stream_id.clone(),
                rendition: "source".into(),
                sequence,
                duration_90k: 180_000,
                size_bytes: 1000,
                discontinuity: false,
                uri: uri.clone(),
                map_uri: None,
                gap: false,
                program_date_time_ms: None,
            })
            .await
            .unwrap();
        app.state
            .media
            .put(
                "t",
                &keys::segment(&ls.live_stream_id, "source", &uri),
                vec![bytes::Bytes::from(vec![0x47; 1000])],
            )
            .await
            .unwrap();
    }
    app.db
        .end_live_stream(&ls.live_stream_id, "test")
        .await
        .unwrap();
    app.db.finish_vod(&vod.vod_id, 10_000, 5).await.unwrap();
    let r = app
        .post(
            "/api/v1/clips",
            &owner.auth(),
            json!({"vod_id": vod.vod_id, "start_s": 0, "end_s": 4}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let clip_id = r.json["clip_id"].as_str().unwrap().to_owned();
    let channel = app
        .db
        .update_channel(
            &channel.channel_id,
            ChannelUpdate {
                visibility: Some(visibility),
                ..ChannelUpdate::default()
            },
        )
        .await
        .unwrap();
    (channel, clip_id)
}

fn cache_control(r: &Resp) -> String {
    r.headers["cache-control"].to_str().unwrap().to_owned()
}

/// Clip media of a signed channel is for the token holder only: no shared
/// cache may keep it (it used to be `public, immutable`).
#[tokio::test(flavor = "multi_thread")]
async fn clip_media_of_signed_channels_is_private() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;
        let (public, public_clip) =
            channel_with_clip(&app, &alice, "open-clips", Visibility::Public).await;
        let (signed, clip) =
            channel_with_clip(&app, &alice, "signed-clips", Visibility::Public).await;
        app.db
            .update_channel(
                &signed.channel_id,
                ChannelUpdate {
                    playback_policy: Some(PlaybackPolicy::Signed),
                    ..ChannelUpdate::default()
                },
            )
            .await
            .unwrap();
        // An exported MP4 too.
        app.state
            .media
            .put(
                "t",
                &keys::clip(&clip),
                vec![bytes::Bytes::from_static(b"mp4")],
            )
            .await
            .unwrap();
        app.db.request_clip_export(&clip).await.unwrap();
        let claim = app
            .db
            .claim_clip_exports(i64::MAX / 2, 10, 60_000)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.clip.clip_id == clip)
            .unwrap();
        app.db
            .finish_clip_export(&clip, &claim.claim_id)
            .await
            .unwrap();
        let token = app
            .db
            .mint_playback_token(
                &signed.playback_id,
                control::PlaybackAudience::Video,
                std::time::Duration::from_secs(60),
            )
            .await
            .unwrap();
        for path in [
            format!("/clips/{clip}/master.m3u8"),
            format!("/clips/{clip}/source/index.m3u8"),
            format!("/clips/{clip}/source/0.ts"),
            format!("/clips/{clip}.mp4"),
        ] {
            let r = app.get(&path, &Auth::None).await;
            assert_eq!(r.status, 403, "{path} without a token: {}", r.text);
            let r = app.get(&format!("{path}?token={token}"), &Auth::None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            let cc = cache_control(&r);
            assert!(
                cc.contains("private") && !cc.contains("public"),
                "{path}: {cc}"
            );
        }
        // Public channels' clips stay publicly cacheable.
        let r = app
            .get(&format!("/clips/{public_clip}/source/0.ts"), &Auth::None)
            .await;
        assert_eq!(r.status, 200);
        assert!(
            cache_control(&r).contains("public"),
            "{}",
            cache_control(&r)
        );
        let _ = public;
    }
}

/// `GET /clips` lists clips of public channels only, unless the caller
/// names the channel (an unlisted one's link) or may see it; pages are
/// full of what the caller may see, and cursors name only those.
#[tokio::test(flavor = "multi_thread")]
async fn clip_lists_hide_unlisted_and_private_channels() {
    for app in TestApp::all().await {
        let backend = app.backend;
        let alice = app.creator("alice").await;
        let bob = app.creator("bob").await;
        let admin = app.admin("root").await;
        let (_, public_clip) =
            channel_with_clip(&app, &alice, "a-public", Visibility::Public).await;
        let (unlisted, unlisted_clip) =
            channel_with_clip(&app, &alice, "a-unlisted", Visibility::Unlisted).await;
        let (private, private_clip) =
            channel_with_clip(&app, &alice, "a-private", Visibility::Private).await;
        let ids = |r: &Resp| -> Vec<String> {
            r.json["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["clip_id"].as_str().unwrap().to_owned())
                .collect()
        };
        for auth in [Auth::None, bob.auth()] {
            let r = app.get("/api/v1/clips", &auth).await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(ids(&r), std::slice::from_ref(&public_clip), "{backend:?}");
            // One per page: the only cursor leads nowhere hidden.
            let r = app.get("/api/v1/clips?limit=1", &auth).await;
            assert_eq!(ids(&r), std::slice::from_ref(&public_clip));
            assert!(r.json["next_cursor"].is_null(), "{}", r.text);
            // Naming the unlisted channel shows its clips; the private
            // one stays 404.
            let r = app
                .get(
                    &format!("/api/v1/clips?channel_id={}", unlisted.channel_id),
                    &auth,
                )
                .await;
            assert_eq!(ids(&r), std::slice::from_ref(&unlisted_clip));
            let r = app
                .get(
                    &format!("/api/v1/clips?channel_id={}", private.channel_id),
                    &auth,
                )
                .await;
            assert_eq!(r.status, 404);
        }
        // The owner and admins see all three, a page at a time.
        for who in [&alice, &admin] {
            let mut seen = Vec::new();
            let mut path = "/api/v1/clips?limit=1".to_owned();
            for _ in 0..10 {
                let r = app.get(&path, &who.auth()).await;
                assert_eq!(r.status, 200, "{}", r.text);
                seen.extend(ids(&r));
                match r.json["next_cursor"].as_str() {
                    Some(cursor) => path = format!("/api/v1/clips?limit=1&cursor={cursor}"),
                    None => break,
                }
            }
            seen.sort();
            let mut all = vec![
                public_clip.clone(),
                unlisted_clip.clone(),
                private_clip.clone(),
            ];
            all.sort();
            assert_eq!(seen, all, "{backend:?}");
        }
    }
}

/// An administrator's disable is a suspension: the owner can neither
/// enable the channel again nor reset its stream key; an admin can.
#[tokio::test(flavor = "multi_thread")]
async fn suspensions_are_for_admins_to_lift() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;
        let admin = app.admin("root").await;
        let r = app
            .post(
                "/api/v1/channels",
                &alice.auth(),
                json!({"slug": "suspended"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.json["channel"]["channel_id"].as_str().unwrap().to_owned();
        let path = |what: &str| format!("/api/v1/channels/{id}/{what}");

        // The owner's own disable is theirs to undo.
        let r = app.post(&path("disable"), &alice.auth(), json!({})).await;
        assert_eq!(
            (r.status.as_u16(), &r.json["suspended"]),
            (200, &json!(false))
        );
        let r = app.post(&path("enable"), &alice.auth(), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["enabled"], true);

        let r = app.post(&path("disable"), &admin.auth(), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["suspended"], true);
        for what in ["enable", "reset-stream-key"] {
            let r = app.post(&path(what), &alice.auth(), json!({})).await;
            assert_eq!(r.status, 403, "{what}: {}", r.text);
            assert_eq!(r.code(), "channel_suspended", "{what}");
        }
        let channel = app.db.channel(&id).await.unwrap().unwrap();
        assert!(!channel.accepts_publishers());
        let r = app.post(&path("enable"), &admin.auth(), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            (&r.json["enabled"], &r.json["suspended"]),
            (&json!(true), &json!(false))
        );
        let r = app
            .post(&path("reset-stream-key"), &alice.auth(), json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

/// Changing a password ends the sessions and revokes the API tokens
/// (whoever knew the old one may have made some), unless the user keeps
/// them; an admin's reset does the same.
#[tokio::test(flavor = "multi_thread")]
async fn password_changes_revoke_api_tokens() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;
        let admin = app.admin("root").await;
        let other = app
            .db
            .create_api_token(alice.id(), "ci")
            .await
            .unwrap()
            .secret;
        let r = app
            .post(
                "/api/v1/me/password",
                &alice.auth(),
                json!({"current_password": PASSWORD, "new_password": "a new password", "keep_api_tokens": true}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        for token in [&alice.token, &other] {
            let r = app.get("/api/v1/me", &Auth::Bearer(token.clone())).await;
            assert_eq!(r.status, 200, "kept: {}", r.text);
        }
        let r = app
            .post(
                "/api/v1/me/password",
                &alice.auth(),
                json!({"current_password": "a new password", "new_password": "another password"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        for token in [&alice.token, &other] {
            let r = app.get("/api/v1/me", &Auth::Bearer(token.clone())).await;
            assert_eq!(r.status, 401, "revoked: {}", r.text);
        }
        // An admin's reset.
        let fresh = app
            .db
            .create_api_token(alice.id(), "new")
            .await
            .unwrap()
            .secret;
        let r = app
            .patch(
                &format!("/api/v1/users/{}", alice.id()),
                &admin.auth(),
                json!({"password": "reset by the admin"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = app.get("/api/v1/me", &Auth::Bearer(fresh)).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
}

/// Per-user quotas on clips and exports: 429 with `Retry-After`.
#[tokio::test(flavor = "multi_thread")]
async fn clips_and_exports_have_quotas() {
    let options = || api::ApiOptions {
        config: api::ApiConfig {
            clips_per_hour_per_user: 3,
            queued_exports_per_user: 1,
            ..api::ApiConfig::default()
        },
        ..api::ApiOptions::default()
    };
    let mut apps = vec![TestApp::with(Backend::Sqlite, options()).await.unwrap()];
    if let Some(pg) = TestApp::with(Backend::Postgres, options()).await {
        apps.push(pg);
    }
    for app in apps {
        let alice = app.creator("alice").await;
        let bob = app.viewer("bob").await;
        let admin = app.admin("root").await;
        // One clip made by the fixture already.
        let (channel, first) = channel_with_clip(&app, &alice, "quota", Visibility::Public).await;
        let vod = app.db.list_vods(&channel.channel_id).await.unwrap()[0]
            .vod_id
            .clone();
        let clip = |who: &Client, export: bool| {
            let mut body = json!({"vod_id": vod, "start_s": 0, "end_s": 2});
            if export {
                body["export"] = json!("mp4");
            }
            let auth = who.auth();
            let app = &app;
            async move { app.post("/api/v1/clips", &auth, body).await }
        };
        assert_eq!(clip(&alice, false).await.status, 201);
        // The first export queues; a second one waits for it.
        let r = clip(&alice, true).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                &format!("/api/v1/clips/{first}/export"),
                &alice.auth(),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 429, "{}", r.text);
        assert_eq!(r.code(), "too_many_exports");
        assert!(r.headers.contains_key("retry-after"));
        // The fourth clip of the hour is refused, with when to come back.
        let r = clip(&alice, false).await;
        assert_eq!(r.status, 429, "{}", r.text);
        assert_eq!(r.code(), "too_many_clips");
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((3000..=3600).contains(&retry), "{retry}");
        // Others have their own quota; admins have none.
        assert_eq!(clip(&bob, false).await.status, 201);
        for _ in 0..4 {
            assert_eq!(clip(&admin, true).await.status, 201);
        }
    }
}

/// Every response carries the browser protections; the web UI's pages
/// may not be framed.
#[tokio::test]
async fn responses_carry_security_headers() {
    let app = TestApp::sqlite().await;
    for path in ["/api/v1/channels", "/healthz", "/hls/nope/master.m3u8", "/"] {
        let r = app.call(Method::GET, path, &Auth::None, None).await;
        let header = |name: &str| {
            r.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_else(|| panic!("{path}: no {name}"))
        };
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "media-src 'self' blob:",
            "worker-src 'self' blob:",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
    }
    let options = api::ApiOptions {
        media_origins: vec!["https://cdn.example.com".into()],
        ..api::ApiOptions::default()
    };
    let app = TestApp::with(Backend::Sqlite, options).await.unwrap();
    let r = app.get("/healthz", &Auth::None).await;
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("connect-src 'self' https://cdn.example.com"),
        "{csp}"
    );
}
