//! Signed playback through the HTTP application, on SQLite and PostgreSQL:
//! signing keys (`/api/v1/signing-keys`), minted playback tokens
//! (`POST /api/v1/channels/{id}/playback-tokens`), and the HLS origin's
//! token check on a channel's master, its ended broadcast's playlists and
//! segments, its recording (`/vod/...`), thumbnail and poster.
//!
//! Media comes from objects put into the media store, as the live session
//! and the recorder leave them: a broadcast that ended, with a recording.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::*;
use control::{
    Channel, ChannelUpdate, LatencyMode, NewChannel, PlaybackAudience, PlaybackPolicy, Visibility,
    sign_playback_token,
};
use serde_json::json;
use storage::keys;

const INIT: &[u8] = b"init segment bytes";
const SEG0: &[u8] = b"segment zero bytes";
const SEG1: &[u8] = b"segment one bytes";
const THUMB: &[u8] = b"\xff\xd8thumbnail\xff\xd9";
const POSTER: &[u8] = b"\xff\xd8poster\xff\xd9";

/// A channel whose broadcast ended and was recorded.
struct Recorded {
    channel: Channel,
    live_stream_id: String,
    vod_id: String,
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn put(app: &TestApp, key: &str, body: &[u8]) {
    app.state
        .media
        .put("test", key, vec![Bytes::copy_from_slice(body)])
        .await
        .expect("put media");
}

/// A channel of `owner` with one ended, recorded broadcast (fMP4, one
/// rendition, two segments), its thumbnail and poster in the store.
async fn recorded_channel(app: &TestApp, owner: &Client, slug: &str) -> Recorded {
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
        .expect("channel")
        .channel;
    let ls = app
        .db
        .begin_live_stream(&channel.channel_id)
        .await
        .expect("live stream");
    let vod = app.db.create_vod(&ls.live_stream_id).await.expect("vod");
    app.db
        .end_live_stream(&ls.live_stream_id, "test")
        .await
        .expect("end");
    app.db
        .finish_vod(&vod.vod_id, 4000, 2)
        .await
        .expect("ready");
    let id = &ls.live_stream_id;
    put(
        app,
        &keys::vod_master_playlist(id),
        b"#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n\
          #EXT-X-STREAM-INF:BANDWIDTH=1000000,CODECS=\"avc1.64001f\"\n\
          source/vod.m3u8\n",
    )
    .await;
    put(
        app,
        &keys::vod_media_playlist(id, "source"),
        b"#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n\
          #EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.000,\n0.m4s\n#EXTINF:2.000,\n1.m4s\n\
          #EXT-X-ENDLIST\n",
    )
    .await;
    put(app, &keys::segment(id, "source", "init.mp4"), INIT).await;
    put(app, &keys::segment(id, "source", "0.m4s"), SEG0).await;
    put(app, &keys::segment(id, "source", "1.m4s"), SEG1).await;
    put(app, &keys::thumbnail(id), THUMB).await;
    put(app, &keys::poster(id), POSTER).await;
    Recorded {
        channel,
        live_stream_id: ls.live_stream_id,
        vod_id: vod.vod_id,
    }
}

async fn set_policy(
    app: &TestApp,
    channel: &Channel,
    visibility: Visibility,
    policy: PlaybackPolicy,
) {
    let updated = app
        .db
        .update_channel(
            &channel.channel_id,
            ChannelUpdate {
                visibility: Some(visibility),
                playback_policy: Some(policy),
                ..Default::default()
            },
        )
        .await
        .expect("update channel");
    assert_eq!(updated.playback_policy, policy);
}

/// A new signing key of `client` through the API: (key id, private PEM).
async fn signing_key(app: &TestApp, client: &Client, body: serde_json::Value) -> (String, String) {
    let r = app.post("/api/v1/signing-keys", &client.auth(), body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    (
        r.json["signing_key"]["signing_key_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        r.json["private_key_pem"].as_str().unwrap().to_owned(),
    )
}

fn sign(key: &(String, String), sub: &str, aud: PlaybackAudience, exp: i64) -> String {
    sign_playback_token(&key.1, &key.0, sub, aud, exp).expect("sign")
}

fn with_token(path: &str, token: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}token={token}")
}

/// Every URI of a playlist: URI lines and `URI="..."` attributes.
fn uris(playlist: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in playlist.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with('#') {
            let mut rest = line;
            while let Some(at) = rest.find("URI=\"") {
                let tail = &rest[at + 5..];
                let end = tail.find('"').expect("closing quote");
                out.push(tail[..end].to_owned());
                rest = &tail[end..];
            }
        } else {
            out.push(line.to_owned());
        }
    }
    out
}

/// `uri` resolved against the path of the playlist it is in.
fn resolve(base: &str, uri: &str) -> String {
    let base = base.split('?').next().unwrap();
    let dir = &base[..=base.rfind('/').unwrap()];
    format!("{dir}{uri}")
}

/// Plays `master` like a player does: every playlist and media URI it
/// reaches must carry `token` (when given) and answer 200; returns the
/// media bodies fetched.
async fn play(app: &TestApp, master: &str, token: Option<&str>) -> Vec<Vec<u8>> {
    let mut media = Vec::new();
    let mut queue = vec![master.to_owned()];
    let mut playlists = 0;
    while let Some(path) = queue.pop() {
        let r = app.get(&path, &Auth::None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        if !path.split('?').next().unwrap().ends_with(".m3u8") {
            media.push(r.text.into_bytes());
            continue;
        }
        playlists += 1;
        assert_eq!(r.headers["content-type"], "application/vnd.apple.mpegurl");
        let found = uris(&r.text);
        assert!(!found.is_empty(), "{path}: no URIs in {}", r.text);
        for uri in found {
            match token {
                Some(token) => assert!(
                    uri.ends_with(&format!("?token={token}")),
                    "{path}: {uri} lacks the token"
                ),
                None => assert!(!uri.contains("token="), "{path}: {uri}"),
            }
            queue.push(resolve(&path, &uri));
        }
    }
    assert_eq!(playlists, 2, "master and media playlist");
    media
}

fn assert_refused(r: &Resp, code: &str, what: &str) {
    assert_eq!(r.status, 403, "{what}: {}", r.text);
    assert_eq!(r.code(), code, "{what}: {}", r.text);
    assert!(
        !r.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{what}"
    );
}

/// Every media URL of a recorded channel, with the audience each needs.
fn media_paths(rec: &Recorded) -> Vec<(String, PlaybackAudience)> {
    let pb = &rec.channel.playback_id;
    let ls = &rec.live_stream_id;
    let vod = &rec.vod_id;
    let v = PlaybackAudience::Video;
    let t = PlaybackAudience::Thumbnail;
    vec![
        (format!("/hls/{pb}/master.m3u8"), v),
        (format!("/hls/{pb}/{ls}/source/vod.m3u8"), v),
        (format!("/hls/{pb}/{ls}/source/0.m4s"), v),
        (format!("/hls/{pb}/{ls}/source/init.mp4"), v),
        (format!("/vod/{vod}/master.m3u8"), v),
        (format!("/vod/{vod}/source/vod.m3u8"), v),
        (format!("/vod/{vod}/source/1.m4s"), v),
        (format!("/thumbnails/{pb}.jpg"), t),
        (format!("/vod/{vod}/poster.jpg"), t),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_channels_need_valid_tokens() {
    for app in TestApp::all().await {
        let backend = app.backend;
        let alice = app.creator("alice").await;
        let bob = app.creator("bob").await;
        let rec = recorded_channel(&app, &alice, "alice-private").await;
        let other = recorded_channel(&app, &alice, "alice-other").await;
        let bobs = recorded_channel(&app, &bob, "bob-public").await;
        set_policy(
            &app,
            &rec.channel,
            Visibility::Private,
            PlaybackPolicy::Signed,
        )
        .await;
        let pb = rec.channel.playback_id.clone();
        let key = signing_key(&app, &alice, json!({})).await;
        let bob_key = signing_key(&app, &bob, json!({"algorithm": "ES256"})).await;
        let exp = now_s() + 600;
        let video = sign(&key, &pb, PlaybackAudience::Video, exp);
        let thumb = sign(&key, &pb, PlaybackAudience::Thumbnail, exp);

        for (path, aud) in media_paths(&rec) {
            let what = format!("{backend:?} {path}");
            // No token; an empty one.
            assert_refused(
                &app.get(&path, &Auth::None).await,
                "playback_token_required",
                &what,
            );
            assert_refused(
                &app.get(&format!("{path}?token="), &Auth::None).await,
                "playback_token_required",
                &what,
            );
            let refused = |token: String, why: &'static str| {
                let path = with_token(&path, &token);
                let what = format!("{what} ({why})");
                let app = &app;
                async move {
                    assert_refused(
                        &app.get(&path, &Auth::None).await,
                        "invalid_playback_token",
                        &what,
                    );
                }
            };
            // For another playback id of the same owner.
            refused(
                sign(&key, &other.channel.playback_id, aud, exp),
                "other playback id",
            )
            .await;
            // Expired (well past the clock allowance).
            refused(sign(&key, &pb, aud, now_s() - 3600), "expired").await;
            // The other audience.
            let (right, wrong) = match aud {
                PlaybackAudience::Video => (&video, &thumb),
                PlaybackAudience::Thumbnail => (&thumb, &video),
                other => unreachable!("media_paths has no {other} paths"),
            };
            refused(wrong.clone(), "wrong audience").await;
            // Signed by another user's key, for this playback id.
            refused(sign(&bob_key, &pb, aud, exp), "another user's key").await;
            // Tampered: one signature character changed.
            let mut tampered = right.clone().into_bytes();
            let at = tampered.len() - 20;
            tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
            refused(String::from_utf8(tampered).unwrap(), "tampered").await;
            refused("not-a-jwt".into(), "garbage").await;

            // The right token: 200, privately cacheable.
            let r = app.get(&with_token(&path, right), &Auth::None).await;
            assert_eq!(r.status, 200, "{what}: {}", r.text);
            let cache = r.headers["cache-control"].to_str().unwrap();
            assert!(!cache.contains("public"), "{what}: {cache}");
        }

        // A player following the playlists: every URI carries the token
        // and plays.
        for master in [
            format!("/hls/{pb}/master.m3u8"),
            format!("/vod/{}/master.m3u8", rec.vod_id),
        ] {
            let media = play(&app, &with_token(&master, &video), Some(&video)).await;
            let mut media = media;
            media.sort();
            let mut expected = vec![INIT.to_vec(), SEG0.to_vec(), SEG1.to_vec()];
            expected.sort();
            assert_eq!(media, expected, "{backend:?} {master}");
        }
        // Thumbnail and poster with a `t` token serve the images.
        let r = app
            .get(
                &with_token(&format!("/thumbnails/{pb}.jpg"), &thumb),
                &Auth::None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.text, String::from_utf8_lossy(THUMB));
        assert_eq!(r.headers["content-type"], "image/jpeg");

        // A recording also takes tokens for its own id, which do not open
        // the channel's live URLs.
        let vod_token = sign(&key, &rec.vod_id, PlaybackAudience::Video, exp);
        play(
            &app,
            &with_token(&format!("/vod/{}/master.m3u8", rec.vod_id), &vod_token),
            Some(&vod_token),
        )
        .await;
        assert_refused(
            &app.get(
                &with_token(&format!("/hls/{pb}/master.m3u8"), &vod_token),
                &Auth::None,
            )
            .await,
            "invalid_playback_token",
            "VOD token on the channel",
        );
        // Nor do they open another signed recording of the same owner.
        set_policy(
            &app,
            &other.channel,
            Visibility::Unlisted,
            PlaybackPolicy::Signed,
        )
        .await;
        assert_refused(
            &app.get(
                &with_token(&format!("/vod/{}/master.m3u8", other.vod_id), &vod_token),
                &Auth::None,
            )
            .await,
            "invalid_playback_token",
            "VOD token on another recording",
        );

        // Blocking-reload directives next to the token keep working (a
        // recording's playlist ignores them, as before).
        let r = app
            .get(
                &format!(
                    "/hls/{pb}/{}/source/vod.m3u8?_HLS_msn=1&token={video}&_HLS_part=0",
                    rec.live_stream_id
                ),
                &Auth::None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);

        // Deleting the key: its tokens (just verified, so remembered) stop
        // working at once.
        let r = app
            .delete(&format!("/api/v1/signing-keys/{}", key.0), &alice.auth())
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        for (path, aud) in media_paths(&rec) {
            let token = match aud {
                PlaybackAudience::Video => &video,
                PlaybackAudience::Thumbnail => &thumb,
                other => unreachable!("media_paths has no {other} paths"),
            };
            let r = app.get(&with_token(&path, token), &Auth::None).await;
            assert_refused(
                &r,
                "invalid_playback_token",
                &format!("{path} after delete"),
            );
            assert!(
                r.json["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("unknown signing key"),
                "{}",
                r.text
            );
        }

        // Public channels: unchanged, no token needed, none added (a
        // token sent anyway is ignored).
        for token in [None, Some("whatever")] {
            for master in [
                format!("/hls/{}/master.m3u8", bobs.channel.playback_id),
                format!("/vod/{}/master.m3u8", bobs.vod_id),
            ] {
                let path = match token {
                    Some(t) => with_token(&master, t),
                    None => master.clone(),
                };
                let r = app.get(&path, &Auth::None).await;
                assert_eq!(r.status, 200, "{path}: {}", r.text);
                assert!(!r.text.contains("token="), "{}", r.text);
            }
        }
        play(
            &app,
            &format!("/hls/{}/master.m3u8", bobs.channel.playback_id),
            None,
        )
        .await;
        play(&app, &format!("/vod/{}/master.m3u8", bobs.vod_id), None).await;
        let r = app
            .get(&format!("/vod/{}/poster.jpg", bobs.vod_id), &Auth::None)
            .await;
        assert_eq!(r.status, 200);
        assert!(
            r.headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("public")
        );
        // A public but signed channel needs tokens too.
        set_policy(
            &app,
            &bobs.channel,
            Visibility::Public,
            PlaybackPolicy::Signed,
        )
        .await;
        let r = app
            .get(
                &format!("/hls/{}/master.m3u8", bobs.channel.playback_id),
                &Auth::None,
            )
            .await;
        assert_refused(&r, "playback_token_required", "public, signed");
        // At once on its recording too, although it was just played.
        for path in [
            format!("/vod/{}/master.m3u8", bobs.vod_id),
            format!("/vod/{}/source/0.m4s", bobs.vod_id),
        ] {
            let r = app.get(&path, &Auth::None).await;
            assert_refused(&r, "playback_token_required", &path);
        }
        let bobs_token = sign(
            &bob_key,
            &bobs.channel.playback_id,
            PlaybackAudience::Video,
            exp,
        );
        play(
            &app,
            &with_token(
                &format!("/hls/{}/master.m3u8", bobs.channel.playback_id),
                &bobs_token,
            ),
            Some(&bobs_token),
        )
        .await;

        // Unknown playback ids and recordings are still 404s.
        let r = app
            .get("/hls/nosuchplaybackid/master.m3u8", &Auth::None)
            .await;
        assert_eq!(r.status, 404);
        let r = app.get("/vod/nosuchvod/master.m3u8", &Auth::None).await;
        assert_eq!(r.status, 404);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_keys_api() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;
        let bob = app.creator("bob").await;
        let vic = app.viewer("vic").await;
        let root = app.admin("root").await;

        // Anonymous: 401; viewers may not create keys: 403.
        let r = app
            .post("/api/v1/signing-keys", &Auth::None, json!({}))
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.code(), "unauthenticated");
        let r = app
            .post("/api/v1/signing-keys", &vic.auth(), json!({}))
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = app.get("/api/v1/signing-keys", &Auth::None).await;
        assert_eq!(r.status, 401, "{}", r.text);

        // Default RS256; ES256 on request; nothing else.
        let r = app
            .post("/api/v1/signing-keys", &alice.auth(), json!({}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["signing_key"]["algorithm"], "RS256");
        let rsa_id = r.json["signing_key"]["signing_key_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let pem = r.json["private_key_pem"].as_str().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        let public = r.json["signing_key"]["public_key_pem"].as_str().unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
        let r = app
            .call(
                http::Method::POST,
                "/api/v1/signing-keys",
                &alice.auth(),
                None,
            )
            .await;
        assert_eq!(r.status, 201, "no body: {}", r.text);
        assert_eq!(r.json["signing_key"]["algorithm"], "RS256");
        let no_body_id = r.json["signing_key"]["signing_key_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = app
            .post(
                "/api/v1/signing-keys",
                &alice.auth(),
                json!({"algorithm": "ES256"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["signing_key"]["algorithm"], "ES256");
        let es_id = r.json["signing_key"]["signing_key_id"]
            .as_str()
            .unwrap()
            .to_owned();
        for bad in [json!({"algorithm": "HS256"}), json!({"bits": 4096})] {
            let r = app.post("/api/v1/signing-keys", &alice.auth(), bad).await;
            assert_eq!(r.status, 422, "{}", r.text);
        }
        // Admins may create their own.
        let r = app
            .post("/api/v1/signing-keys", &root.auth(), json!({}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let bob_key = signing_key(&app, &bob, json!({})).await;

        // Lists are the caller's own, newest first, paged, without private keys.
        let r = app.get("/api/v1/signing-keys?limit=2", &alice.auth()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let ids: Vec<&str> = r.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["signing_key_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [es_id.as_str(), no_body_id.as_str()]);
        assert!(!r.text.contains("PRIVATE KEY"), "{}", r.text);
        let cursor = r.json["next_cursor"]
            .as_str()
            .expect("next page")
            .to_owned();
        let r = app
            .get(
                &format!("/api/v1/signing-keys?limit=2&cursor={cursor}"),
                &alice.auth(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["data"][0]["signing_key_id"], rsa_id.as_str());
        assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
        assert!(r.json["next_cursor"].is_null());
        let r = app.get("/api/v1/signing-keys?limit=0", &alice.auth()).await;
        assert_eq!(r.status, 400, "{}", r.text);
        let r = app.get("/api/v1/signing-keys", &vic.auth()).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json["data"], json!([]));

        // One key: the owner's and admins' (the authorization matrix in
        // authorization.rs covers admins); a 404 to anyone else.
        let r = app
            .get(&format!("/api/v1/signing-keys/{rsa_id}"), &alice.auth())
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["signing_key_id"], rsa_id.as_str());
        assert!(r.json.get("private_key_pem").is_none());
        for other in [&bob, &vic] {
            let r = app
                .get(&format!("/api/v1/signing-keys/{rsa_id}"), &other.auth())
                .await;
            assert_eq!(r.status, 404, "{}", r.text);
            let r = app
                .delete(&format!("/api/v1/signing-keys/{rsa_id}"), &other.auth())
                .await;
            assert_eq!(r.status, 404, "{}", r.text);
        }
        let r = app
            .get(
                &format!("/api/v1/signing-keys/{}", bob_key.0),
                &alice.auth(),
            )
            .await;
        assert_eq!(r.status, 404);

        // Cookie-authenticated deletes need the CSRF token.
        let (session, csrf) = app.login("alice").await;
        let r = app
            .delete(
                &format!("/api/v1/signing-keys/{rsa_id}"),
                &Auth::Cookie {
                    session: session.clone(),
                    csrf: None,
                },
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = app
            .delete(
                &format!("/api/v1/signing-keys/{rsa_id}"),
                &Auth::Cookie {
                    session,
                    csrf: Some(csrf),
                },
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        let r = app
            .get(&format!("/api/v1/signing-keys/{rsa_id}"), &alice.auth())
            .await;
        assert_eq!(r.status, 404);
        let r = app
            .delete(&format!("/api/v1/signing-keys/{rsa_id}"), &alice.auth())
            .await;
        assert_eq!(r.status, 404);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn minted_playback_tokens() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;
        let bob = app.creator("bob").await;
        let vic = app.viewer("vic").await;
        let root = app.admin("root").await;
        let rec = recorded_channel(&app, &alice, "alice-private").await;
        set_policy(
            &app,
            &rec.channel,
            Visibility::Private,
            PlaybackPolicy::Signed,
        )
        .await;
        let mint = format!(
            "/api/v1/channels/{}/playback-tokens",
            rec.channel.channel_id
        );
        let pb = &rec.channel.playback_id;

        // Anonymous: 401. A private channel is not found by those who may
        // not manage it.
        let r = app.post(&mint, &Auth::None, json!({})).await;
        assert_eq!(r.status, 401, "{}", r.text);
        for other in [&bob, &vic] {
            let r = app.post(&mint, &other.auth(), json!({})).await;
            assert_eq!(r.status, 404, "{}", r.text);
        }
        let r = app
            .post(
                "/api/v1/channels/nosuchchannel/playback-tokens",
                &alice.auth(),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.text);

        // The owner: the default lifetime (an hour), a URL that plays.
        let before_ms = now_s() * 1000;
        let r = app.post(&mint, &alice.auth(), json!({})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["audience"], "v");
        let expires = r.json["expires_at_ms"].as_i64().unwrap();
        assert!(
            (before_ms + 3_600_000..=before_ms + 3_602_000).contains(&expires),
            "{expires} vs {before_ms}"
        );
        let token = r.json["token"].as_str().unwrap().to_owned();
        let url = r.json["playback_url_with_token"].as_str().unwrap();
        assert_eq!(url, format!("/hls/{pb}/master.m3u8?token={token}"));
        assert!(r.json["thumbnail_url_with_token"].is_null());
        play(&app, url, Some(&token)).await;
        // It plays the channel's recording too.
        play(
            &app,
            &with_token(&format!("/vod/{}/master.m3u8", rec.vod_id), &token),
            Some(&token),
        )
        .await;
        // But is no thumbnail token.
        let r = app
            .get(
                &with_token(&format!("/thumbnails/{pb}.jpg"), &token),
                &Auth::None,
            )
            .await;
        assert_refused(&r, "invalid_playback_token", "v token on thumbnail");

        // Audience t and a lifetime of one's choosing; admins may mint.
        let r = app
            .post(&mint, &root.auth(), json!({"ttl_s": 60, "audience": "t"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(r.json["playback_url_with_token"].is_null());
        let expires = r.json["expires_at_ms"].as_i64().unwrap();
        assert!(expires <= now_s() * 1000 + 61_000, "{expires}");
        let thumb_url = r.json["thumbnail_url_with_token"].as_str().unwrap();
        let r = app.get(thumb_url, &Auth::None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.headers["content-type"], "image/jpeg");

        // Out-of-range lifetimes and unknown fields.
        for bad in [
            json!({"ttl_s": 0}),
            json!({"ttl_s": 86_401}),
            json!({"audience": "x"}),
            json!({"sub": "other"}),
        ] {
            let r = app.post(&mint, &alice.auth(), bad.clone()).await;
            assert_eq!(r.status, 422, "{bad}: {}", r.text);
        }

        // Unlisted but signed: any logged-in user may mint (the web UI's
        // watch page), anonymous callers still may not.
        set_policy(
            &app,
            &rec.channel,
            Visibility::Unlisted,
            PlaybackPolicy::Signed,
        )
        .await;
        let r = app.post(&mint, &Auth::None, json!({})).await;
        assert_eq!(r.status, 401, "{}", r.text);
        for viewer in [&vic, &bob] {
            let r = app.post(&mint, &viewer.auth(), json!({"ttl_s": 120})).await;
            assert_eq!(r.status, 201, "{}", r.text);
            let token = r.json["token"].as_str().unwrap().to_owned();
            play(
                &app,
                r.json["playback_url_with_token"].as_str().unwrap(),
                Some(&token),
            )
            .await;
        }
        // Without a token it is still refused.
        let r = app
            .get(&format!("/hls/{pb}/master.m3u8"), &Auth::None)
            .await;
        assert_refused(&r, "playback_token_required", "unlisted, signed");
    }
}

/// A token minted by the server for `client` through the API.
async fn mint(app: &TestApp, client: &Client, channel_id: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/channels/{channel_id}/playback-tokens"),
            &client.auth(),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["token"].as_str().unwrap().to_owned()
}

/// Access granted earlier can be taken back: revoking a channel's tokens
/// refuses every token issued before (even ones verified a moment ago),
/// a channel becoming private refuses the tokens minted for others, a
/// token minted for a user stops when that user may no longer see the
/// channel, and a rotated playback id stops playing at once.
#[tokio::test(flavor = "multi_thread")]
async fn playback_access_can_be_taken_back() {
    for app in TestApp::all().await {
        let backend = app.backend;
        let alice = app.creator("alice").await;
        let vic = app.viewer("vic").await;
        let root = app.admin("root").await;
        let other_admin = app.admin("root2").await;
        let rec = recorded_channel(&app, &alice, "revocable").await;
        let id = rec.channel.channel_id.clone();
        set_policy(
            &app,
            &rec.channel,
            Visibility::Public,
            PlaybackPolicy::Signed,
        )
        .await;
        let pb = rec.channel.playback_id.clone();
        let master = format!("/hls/{pb}/master.m3u8");
        let key = signing_key(&app, &alice, json!({})).await;
        let exp = now_s() + 600;
        let plays = |token: String| {
            let path = with_token(&master, &token);
            let app = &app;
            async move { app.get(&path, &Auth::None).await }
        };

        // Before: the owner's backend's token and one the server minted for
        // a viewer both play (and are now in the verification cache).
        let owners = sign(&key, &pb, PlaybackAudience::Video, exp);
        let vics = mint(&app, &vic, &id).await;
        assert_eq!(plays(owners.clone()).await.status, 200, "{backend:?}");
        assert_eq!(plays(vics.clone()).await.status, 200, "{backend:?}");

        // Revoke: both refused at once.
        let r = app
            .post(
                &format!("/api/v1/channels/{id}/revoke-playback-tokens"),
                &alice.auth(),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            r.json["playback_tokens_not_before_ms"].is_i64(),
            "{}",
            r.text
        );
        for token in [&owners, &vics] {
            let r = plays(token.clone()).await;
            assert_refused(&r, "invalid_playback_token", "revoked");
            assert!(r.text.contains("revoked"), "{}", r.text);
        }
        // Tokens issued afterwards play.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let owners = sign(&key, &pb, PlaybackAudience::Video, exp);
        let vics = mint(&app, &vic, &id).await;
        assert_eq!(plays(owners.clone()).await.status, 200);
        assert_eq!(plays(vics.clone()).await.status, 200);

        // Going private: the viewer's token stops, and they cannot mint
        // another; the owner's earlier token is revoked too.
        let r = app
            .patch(
                &format!("/api/v1/channels/{id}"),
                &alice.auth(),
                json!({"visibility": "private"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_refused(&plays(vics).await, "invalid_playback_token", "now private");
        assert_refused(
            &plays(owners).await,
            "invalid_playback_token",
            "now private",
        );
        let r = app
            .post(
                &format!("/api/v1/channels/{id}/playback-tokens"),
                &vic.auth(),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.text);

        // A token minted for an admin stops when they are no longer one
        // (a private channel is its owner's and admins' only).
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let roots = mint(&app, &root, &id).await;
        let r = app
            .patch(
                &format!("/api/v1/users/{}", root.id()),
                &other_admin.auth(),
                json!({"role": "creator"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = plays(roots).await;
        assert_refused(&r, "invalid_playback_token", "demoted admin");
        assert!(r.text.contains("may no longer watch"), "{}", r.text);
        // The owner's own minted token plays.
        let alices = mint(&app, &alice, &id).await;
        assert_eq!(plays(alices.clone()).await.status, 200);

        // Rotating the playback id: the old id answers nothing at once,
        // even with a token that just played; the new one needs new tokens.
        let r = app
            .post(
                &format!("/api/v1/channels/{id}/rotate-playback-id"),
                &alice.auth(),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let new_pb = r.json["playback_id"].as_str().unwrap().to_owned();
        assert_ne!(new_pb, pb);
        let r = plays(alices).await;
        assert_eq!(r.status, 404, "{}", r.text);
        assert_eq!(r.code(), "unknown_playback_id");
        let new_master = format!("/hls/{new_pb}/master.m3u8");
        let stale = sign(&key, &pb, PlaybackAudience::Video, exp);
        assert_refused(
            &app.get(&with_token(&new_master, &stale), &Auth::None).await,
            "invalid_playback_token",
            "token for the old id",
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let fresh = sign(&key, &new_pb, PlaybackAudience::Video, exp);
        let r = app.get(&with_token(&new_master, &fresh), &Auth::None).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
}
