//! VODs and clips through `/api/v1` and the clip media routes, on SQLite
//! and PostgreSQL: the authorization matrix, instant clips that play
//! (ffprobe over a real loopback server), MP4 exports (the worker stood in for; see export_like_the_worker),
//! and deletion of the objects.
//!
//! Recordings are made without RTMP: ffmpeg cuts a fixture (2-second GOPs)
//! into 2-second MPEG-TS segments, which go into the media store and the
//! segment index as the live session would put them.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use axum::body::Body;
use common::*;
use control::{
    Channel, ChannelUpdate, LatencyMode, NewChannel, NewSegment, NewWebhookEndpoint,
    PlaybackAudience, Visibility, Vod, WebhookEventType,
};
use http::{Request, header};
use serde_json::{Value, json};
use storage::keys;

const FIXTURE: &str = "h264_aac_360p30_nobframes.flv";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether ffmpeg and ffprobe can run; the media tests are skipped (with a
/// note) only when they cannot.
fn have_ffmpeg() -> bool {
    let ok = |tool: &str| {
        Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ok("ffmpeg") && ok("ffprobe") {
        true
    } else {
        eprintln!("ffmpeg/ffprobe not installed: skipping the media part of this test");
        false
    }
}

/// The fixture, made with scripts/make-fixtures when missing.
fn fixture() -> PathBuf {
    let path = repo_root().join("media").join(FIXTURE);
    if !path.exists() {
        let status = Command::new(repo_root().join("scripts/make-fixtures"))
            .status()
            .expect("run scripts/make-fixtures");
        assert!(status.success(), "scripts/make-fixtures failed");
    }
    assert!(path.exists(), "{} missing", path.display());
    path
}

/// 2-second TS segments of the fixture: (file name, duration in 90 kHz
/// ticks, bytes).
fn segment_fixture(dir: &Path) -> Vec<(String, i64, Vec<u8>)> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(fixture())
        .args([
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            "2",
            "-hls_list_size",
            "0",
        ])
        .args(["-hls_playlist_type", "vod", "-hls_segment_filename"])
        .arg(dir.join("%d.ts"))
        .arg(dir.join("index.m3u8"))
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let playlist = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    let mut segments = Vec::new();
    let mut duration = None;
    for line in playlist.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            let secs: f64 = d.trim_end_matches(',').parse().unwrap();
            duration = Some((secs * 90_000.0).round() as i64);
        } else if !line.starts_with('#') && !line.is_empty() {
            let bytes = std::fs::read(dir.join(line)).unwrap();
            segments.push((line.to_owned(), duration.take().unwrap(), bytes));
        }
    }
    assert!(segments.len() >= 8, "{playlist}");
    segments
}

/// A channel of `owner`'s with `visibility`.
async fn channel(app: &TestApp, owner: &Client, slug: &str, visibility: Visibility) -> Channel {
    let channel = app
        .db
        .create_channel(NewChannel {
            owner_user_id: owner.id().to_owned(),
            slug: slug.to_owned(),
            title: format!("{slug} live"),
            latency_mode: LatencyMode::Standard,
            segment_format: None,
            ladder: None,
        })
        .await
        .unwrap()
        .channel;
    if visibility == Visibility::Public {
        return channel;
    }
    app.db
        .update_channel(
            &channel.channel_id,
            ChannelUpdate {
                visibility: Some(visibility),
                ..ChannelUpdate::default()
            },
        )
        .await
        .unwrap()
}

/// A broadcast of `channel` with the fixture's segments stored and
/// indexed, recorded as a VOD; ended and ready unless `live`.
async fn broadcast(app: &TestApp, channel: &Channel, live: bool) -> Vod {
    let ls = app.db.begin_live_stream(&channel.channel_id).await.unwrap();
    let id = ls.live_stream_id.clone();
    let vod = app.db.create_vod(&id).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let segments = segment_fixture(dir.path());
    let media = &app.state.media;
    let lane = format!("live/{id}/source");
    let mut playlist = String::from(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n",
    );
    let mut total = 0i64;
    for (sequence, (name, duration_90k, bytes)) in segments.iter().enumerate() {
        media
            .put(
                &lane,
                &keys::segment(&id, "source", name),
                vec![bytes.clone().into()],
            )
            .await
            .unwrap();
        app.db
            .add_segment(NewSegment {
                live_stream_id: id.clone(),
                rendition: "source".into(),
                sequence: sequence as i64,
                duration_90k: *duration_90k,
                size_bytes: bytes.len() as i64,
                discontinuity: false,
                uri: name.clone(),
                map_uri: None,
                gap: false,
                program_date_time_ms: None,
            })
            .await
            .unwrap();
        playlist.push_str(&format!(
            "#EXTINF:{:.3},\n{name}\n",
            *duration_90k as f64 / 90_000.0
        ));
        total += duration_90k;
    }
    playlist.push_str("#EXT-X-ENDLIST\n");
    let master = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-STREAM-INF:BANDWIDTH=1200000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\"\n\
        source/vod.m3u8\n";
    media
        .put(
            &lane,
            &keys::vod_media_playlist(&id, "source"),
            vec![playlist.into()],
        )
        .await
        .unwrap();
    media
        .put(&lane, &keys::vod_master_playlist(&id), vec![master.into()])
        .await
        .unwrap();
    if live {
        return vod;
    }
    app.db.end_live_stream(&id, "done").await.unwrap();
    app.db
        .finish_vod(&vod.vod_id, total / 90, segments.len() as u32)
        .await
        .unwrap()
}

/// A VOD row of a broadcast with no media (for the access matrix without
/// ffmpeg): ended and ready unless `recording`.
async fn bare_vod(app: &TestApp, channel: &Channel, recording: bool) -> Vod {
    let ls = app.db.begin_live_stream(&channel.channel_id).await.unwrap();
    let vod = app.db.create_vod(&ls.live_stream_id).await.unwrap();
    if recording {
        return vod;
    }
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

fn ids(r: &Resp, field: &str) -> Vec<String> {
    r.json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {}", r.text))
        .iter()
        .map(|v| v[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn vod_authorization_matrix() {
    for app in TestApp::all().await {
        let b = app.backend;
        let alice = app.creator("alice").await;
        let bob = app.creator("bob").await;
        let viewer = app.viewer("vera").await;
        let admin = app.admin("root").await;
        let anon = Auth::None;

        let public = channel(&app, &alice, "alice-tv", Visibility::Public).await;
        let unlisted = channel(&app, &alice, "alice-unl", Visibility::Unlisted).await;
        let private = channel(&app, &alice, "alice-priv", Visibility::Private).await;
        let ready = bare_vod(&app, &public, false).await;
        let recording = bare_vod(&app, &public, true).await;
        let unlisted_vod = bare_vod(&app, &unlisted, false).await;
        let private_vod = bare_vod(&app, &private, false).await;

        // Reading one VOD.
        let path = |v: &Vod| format!("/api/v1/vods/{}", v.vod_id);
        for (who, auth) in [
            ("anonymous", &anon),
            ("viewer", &viewer.auth()),
            ("bob", &bob.auth()),
            ("alice", &alice.auth()),
            ("admin", &admin.auth()),
        ] {
            let owner_or_admin = matches!(who, "alice" | "admin");
            let r = app.get(&path(&ready), auth).await;
            assert_eq!(r.status, 200, "{b:?} {who}: {}", r.text);
            assert_eq!(r.json["status"], "ready");
            assert_eq!(r.json["duration_s"], 10.0);
            assert_eq!(r.json["segment_count"], 5);
            assert_eq!(r.json["live_stream_id"], ready.live_stream_id);
            assert_eq!(
                r.json["playback_url"],
                format!("/vod/{}/master.m3u8", ready.vod_id)
            );
            assert_eq!(
                r.json["poster_url"],
                format!("/vod/{}/poster.jpg", ready.vod_id)
            );
            let r = app.get(&path(&unlisted_vod), auth).await;
            assert_eq!(r.status, 200, "{b:?} {who}: unlisted by id: {}", r.text);
            for (what, vod) in [("recording", &recording), ("private", &private_vod)] {
                let r = app.get(&path(vod), auth).await;
                let want = if owner_or_admin { 200 } else { 404 };
                assert_eq!(r.status, want, "{b:?} {who} reads {what}: {}", r.text);
                if want == 404 {
                    assert_eq!(r.code(), "not_found");
                }
            }
            let r = app
                .get(
                    &format!("/api/v1/channels/{}/vods", private.channel_id),
                    auth,
                )
                .await;
            let want = if owner_or_admin { 200 } else { 404 };
            assert_eq!(r.status, want, "{b:?} {who} lists private: {}", r.text);
        }
        // The owner of a signed (private) channel gets playable URLs.
        let r = app.get(&path(&private_vod), &alice.auth()).await;
        let url = r.json["playback_url"].as_str().unwrap();
        assert!(url.contains("?token="), "{url}");
        let r = app.get("/api/v1/vods/nope", &anon).await;
        assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));

        // Lists: browse shows ready VODs of public channels; owners see
        // every status of theirs; a named channel shows its ready ones.
        let r = app.get("/api/v1/vods", &anon).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(ids(&r, "vod_id"), vec![ready.vod_id.clone()], "{b:?}");
        let r = app.get("/api/v1/vods?owner=me", &alice.auth()).await;
        let mine = ids(&r, "vod_id");
        assert_eq!(mine.len(), 4, "{b:?} {}", r.text);
        assert!(mine.contains(&recording.vod_id) && mine.contains(&private_vod.vod_id));
        let r = app.get("/api/v1/vods?owner=me", &bob.auth()).await;
        assert!(ids(&r, "vod_id").is_empty(), "{}", r.text);
        let r = app.get("/api/v1/vods?owner=me", &anon).await;
        assert_eq!(r.status, 401);
        let r = app
            .get(&format!("/api/v1/vods?owner={}", alice.id()), &bob.auth())
            .await;
        assert_eq!(ids(&r, "vod_id"), vec![ready.vod_id.clone()], "{b:?}");
        let r = app.get("/api/v1/vods?limit=2", &admin.auth()).await;
        assert_eq!(ids(&r, "vod_id").len(), 2);
        let cursor = r.json["next_cursor"]
            .as_str()
            .expect("a next page")
            .to_owned();
        let r = app
            .get(
                &format!("/api/v1/vods?limit=2&cursor={cursor}"),
                &admin.auth(),
            )
            .await;
        assert_eq!(ids(&r, "vod_id").len(), 2, "{}", r.text);
        assert!(r.json["next_cursor"].is_null());
        let r = app
            .get(
                &format!("/api/v1/channels/{}/vods", public.channel_id),
                &viewer.auth(),
            )
            .await;
        assert_eq!(ids(&r, "vod_id"), vec![ready.vod_id.clone()]);
        let r = app
            .get(
                &format!("/api/v1/vods?channel_id={}", public.channel_id),
                &alice.auth(),
            )
            .await;
        assert_eq!(ids(&r, "vod_id").len(), 2, "{}", r.text);
        let r = app
            .get(
                &format!("/api/v1/vods?channel_id={}", unlisted.channel_id),
                &anon,
            )
            .await;
        assert_eq!(ids(&r, "vod_id"), vec![unlisted_vod.vod_id.clone()]);
        let r = app.get("/api/v1/vods?limit=0", &anon).await;
        assert_eq!(r.status, 400, "{}", r.text);

        // Renaming.
        let rename = |title: &str| json!({ "title": title });
        let p = path(&ready);
        let r = app.patch(&p, &anon, rename("x")).await;
        assert_eq!((r.status.as_u16(), r.code()), (401, "unauthenticated"));
        for who in [&viewer, &bob] {
            let r = app.patch(&p, &who.auth(), rename("x")).await;
            assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"), "{b:?}");
        }
        let r = app
            .patch(&path(&private_vod), &bob.auth(), rename("x"))
            .await;
        assert_eq!(r.status, 404, "private VODs are not even seen");
        let r = app.patch(&p, &alice.auth(), rename("  Best of  ")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["title"], "Best of");
        let r = app.patch(&p, &admin.auth(), rename("By admin")).await;
        assert_eq!(r.json["title"], "By admin");
        let r = app.patch(&p, &alice.auth(), rename("")).await;
        assert_eq!((r.status.as_u16(), r.code()), (422, "invalid_field"));
        let r = app.patch(&p, &alice.auth(), json!({"name": "x"})).await;
        assert_eq!(r.status, 422, "unknown fields are refused");

        // Deleting: a broadcast in progress is refused.
        let live_ls = app
            .db
            .begin_live_stream(&unlisted.channel_id)
            .await
            .unwrap();
        let live_vod = app.db.create_vod(&live_ls.live_stream_id).await.unwrap();
        let r = app.delete(&path(&live_vod), &alice.auth()).await;
        assert_eq!(r.status, 409, "{}", r.text);
        let r = app.delete(&path(&ready), &anon).await;
        assert_eq!(r.status, 401);
        let r = app.delete(&path(&ready), &bob.auth()).await;
        assert_eq!(r.status, 403);
        let r = app.delete(&path(&private_vod), &viewer.auth()).await;
        assert_eq!(r.status, 404);
        let r = app.delete(&path(&private_vod), &admin.auth()).await;
        assert_eq!(r.status, 204, "{}", r.text);
        let r = app.delete(&path(&ready), &alice.auth()).await;
        assert_eq!(r.status, 204, "{}", r.text);
        let r = app.get(&path(&ready), &alice.auth()).await;
        assert_eq!(r.status, 404);
        assert!(app.db.vod(&ready.vod_id).await.unwrap().is_none());
        assert!(
            app.db
                .segments(&ready.live_stream_id, "source")
                .await
                .unwrap()
                .is_empty()
        );
    }
}

/// A webhook endpoint of `owner`'s for `clip.ready`.
async fn hook_clip_ready(app: &TestApp, owner: &Client) {
    app.db
        .create_webhook_endpoint(
            owner.id(),
            NewWebhookEndpoint {
                url: "https://hooks.example.com/aethex".into(),
                event_types: vec![WebhookEventType::ClipReady],
                format: Default::default(),
            },
        )
        .await
        .unwrap();
}

/// Every `clip.ready` event enqueued so far (claimed from the webhook
/// queue, so each is seen once).
async fn clip_ready_events(app: &TestApp) -> Vec<Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    app.db
        .claim_due_deliveries(now + 1000, 100, 60_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.event.event_type == WebhookEventType::ClipReady)
        .map(|d| d.event.data)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn clip_authorization_matrix() {
    for app in TestApp::all().await {
        let b = app.backend;
        let alice = app.creator("alice").await;
        let bob = app.creator("bob").await;
        let viewer = app.viewer("vera").await;
        let admin = app.admin("root").await;
        let anon = Auth::None;
        hook_clip_ready(&app, &alice).await;

        let public = channel(&app, &alice, "alice-tv", Visibility::Public).await;
        let private = channel(&app, &alice, "alice-priv", Visibility::Private).await;
        let vod = bare_vod(&app, &public, false).await;
        let private_vod = bare_vod(&app, &private, false).await;
        let recording = bare_vod(&app, &public, true).await;
        let of = |vod: &Vod, start: f64, end: f64| json!({"vod_id": vod.vod_id, "start_s": start, "end_s": end});

        // Creating: logged-in users clip what they may see.
        let r = app.post("/api/v1/clips", &anon, of(&vod, 4.0, 6.0)).await;
        assert_eq!((r.status.as_u16(), r.code()), (401, "unauthenticated"));
        let r = app
            .post("/api/v1/clips", &viewer.auth(), of(&vod, 4.5, 7.9))
            .await;
        assert_eq!(r.status, 201, "{b:?} {}", r.text);
        let clip = r.json.clone();
        let clip_id = clip["clip_id"].as_str().unwrap().to_owned();
        assert_eq!(clip["status"], "ready", "instant clips are ready at once");
        assert_eq!(
            (clip["start_s"].clone(), clip["end_s"].clone()),
            (json!(4.0), json!(8.0))
        );
        assert_eq!(clip["duration_s"], 4.0);
        assert_eq!(clip["vod_id"], vod.vod_id);
        assert_eq!(clip["created_by_user_id"], viewer.id());
        assert_eq!(clip["export_status"], "none");
        assert_eq!(
            clip["playback_url"],
            format!("/clips/{clip_id}/master.m3u8")
        );
        assert!(clip["mp4_url"].is_null());
        assert_eq!(clip["title"], vod.title, "defaults to the VOD's title");
        let events = clip_ready_events(&app).await;
        assert_eq!(events.len(), 1, "{b:?} {events:?}");
        assert_eq!(events[0]["clip_id"], clip_id.as_str());
        assert_eq!(events[0]["status"], "ready");

        for (who, auth) in [("bob", bob.auth()), ("viewer", viewer.auth())] {
            let r = app
                .post("/api/v1/clips", &auth, of(&private_vod, 0.0, 2.0))
                .await;
            assert_eq!(r.status, 404, "{b:?} {who} clips a private VOD");
            let r = app
                .post("/api/v1/clips", &auth, of(&recording, 0.0, 2.0))
                .await;
            assert_eq!(r.status, 404, "{b:?} {who} clips a recording");
        }
        let r = app
            .post(
                "/api/v1/clips",
                &alice.auth(),
                json!({"vod_id": private_vod.vod_id, "start_s": 0, "end_s": 4, "title": "Secret"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let private_clip = r.json["clip_id"].as_str().unwrap().to_owned();
        assert!(
            r.json["playback_url"].as_str().unwrap().contains("?token="),
            "the owner of a signed channel gets a playable URL"
        );
        // A DVR-window clip of the broadcast.
        let r = app
            .post(
                "/api/v1/clips",
                &bob.auth(),
                json!({"live_stream_id": vod.live_stream_id, "start_s": 0, "end_s": 1, "title": "Bob's"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(r.json["vod_id"].is_null());
        assert_eq!(
            (r.json["start_s"].clone(), r.json["end_s"].clone()),
            (json!(0.0), json!(2.0))
        );
        let bobs_clip = r.json["clip_id"].as_str().unwrap().to_owned();

        // Bad requests: 422 with the field, never 500.
        for (body, field) in [
            (json!({"start_s": 0, "end_s": 2}), "vod_id"),
            (
                json!({"vod_id": vod.vod_id, "live_stream_id": vod.live_stream_id, "start_s": 0, "end_s": 2}),
                "vod_id",
            ),
            (of(&vod, 4.0, 4.0), "end_s"),
            (of(&vod, -1.0, 4.0), "start_s"),
            (of(&vod, 4.0, 10.5), "end_s"),
            (of(&vod, 0.0, 700.0), "end_s"),
        ] {
            let r = app
                .post("/api/v1/clips", &viewer.auth(), body.clone())
                .await;
            assert_eq!(r.status, 422, "{b:?} {body}: {}", r.text);
            assert_eq!(r.json["error"]["field"], field, "{body}: {}", r.text);
        }
        let r = app
            .post(
                "/api/v1/clips",
                &viewer.auth(),
                json!({"vod_id": vod.vod_id, "start_s": 0, "end_s": 2, "export": "gif"}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        let r = app
            .post(
                "/api/v1/clips",
                &viewer.auth(),
                json!({"vod_id": "nope", "start_s": 0, "end_s": 2}),
            )
            .await;
        assert_eq!(r.status, 404);

        // Reading.
        let p = format!("/api/v1/clips/{clip_id}");
        for auth in [&anon, &bob.auth(), &viewer.auth(), &admin.auth()] {
            let r = app.get(&p, auth).await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
        let pp = format!("/api/v1/clips/{private_clip}");
        for (auth, want) in [
            (&anon, 404),
            (&bob.auth(), 404),
            (&viewer.auth(), 404),
            (&alice.auth(), 200),
            (&admin.auth(), 200),
        ] {
            let r = app.get(&pp, auth).await;
            assert_eq!(r.status, want, "{b:?} {}", r.text);
        }
        let r = app.get("/api/v1/clips", &anon).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let seen = ids(&r, "clip_id");
        assert!(
            seen.contains(&clip_id) && seen.contains(&bobs_clip),
            "{seen:?}"
        );
        assert!(!seen.contains(&private_clip), "{seen:?}");
        let r = app.get("/api/v1/clips", &admin.auth()).await;
        assert_eq!(ids(&r, "clip_id").len(), 3);
        let r = app
            .get(&format!("/api/v1/clips?vod_id={}", vod.vod_id), &bob.auth())
            .await;
        assert_eq!(ids(&r, "clip_id"), vec![clip_id.clone()]);
        let r = app
            .get(
                &format!("/api/v1/clips?live_stream_id={}", vod.live_stream_id),
                &anon,
            )
            .await;
        assert_eq!(ids(&r, "clip_id").len(), 2);
        let r = app
            .get(
                &format!("/api/v1/clips?channel_id={}", private.channel_id),
                &bob.auth(),
            )
            .await;
        assert_eq!(r.status, 404);
        let r = app
            .get(
                &format!("/api/v1/clips?channel_id={}", private.channel_id),
                &alice.auth(),
            )
            .await;
        assert_eq!(ids(&r, "clip_id"), vec![private_clip.clone()]);

        // Changing: the creator, the channel's owner, admins.
        let rename = |t: &str| json!({ "title": t });
        let r = app.patch(&p, &anon, rename("x")).await;
        assert_eq!(r.status, 401);
        let r = app.patch(&p, &bob.auth(), rename("x")).await;
        assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
        let r = app
            .post(&format!("{p}/export"), &bob.auth(), json!({}))
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        for (who, auth) in [
            ("creator", viewer.auth()),
            ("owner", alice.auth()),
            ("admin", admin.auth()),
        ] {
            let r = app.patch(&p, &auth, rename(who)).await;
            assert_eq!(r.status, 200, "{b:?} {who}: {}", r.text);
            assert_eq!(r.json["title"], who);
        }
        let r = app.patch(&pp, &bob.auth(), rename("x")).await;
        assert_eq!(r.status, 404);
        let r = app.patch(&p, &viewer.auth(), rename("")).await;
        assert_eq!(r.status, 422);

        // Export requests (no runner here: they stay pending).
        let r = app
            .call(
                http::Method::POST,
                &format!("{p}/export"),
                &viewer.auth(),
                None,
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.json["export_status"], "pending");
        assert_eq!(r.json["export_progress"], 0);
        let r = app
            .call(
                http::Method::POST,
                &format!("{p}/export"),
                &alice.auth(),
                None,
            )
            .await;
        assert_eq!(r.json["export_status"], "pending", "idempotent");

        // Deleting.
        let r = app.delete(&p, &bob.auth()).await;
        assert_eq!(r.status, 403);
        let r = app.delete(&pp, &viewer.auth()).await;
        assert_eq!(r.status, 404);
        let r = app
            .delete(&format!("/api/v1/clips/{bobs_clip}"), &alice.auth())
            .await;
        assert_eq!(r.status, 204, "the channel's owner deletes any clip of it");
        let r = app.delete(&p, &viewer.auth()).await;
        assert_eq!(r.status, 204, "{}", r.text);
        let r = app.get(&p, &admin.auth()).await;
        assert_eq!(r.status, 404);
        let r = app.delete(&p, &viewer.auth()).await;
        assert_eq!(r.status, 404);
    }
}

/// `app` served on a loopback port, for ffprobe.
async fn serve(app: &TestApp) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = api::router(app.state.clone(), api::ApiOptions::default());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// ffprobe's `format.duration` of `input` and the video frames it decoded.
fn probe(input: &str) -> (f64, u64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "format=duration:stream=nb_read_frames,codec_name",
        ])
        .args(["-of", "json", input])
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let duration: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert_eq!(v["streams"][0]["codec_name"], "h264", "{v}");
    let frames: u64 = v["streams"][0]["nb_read_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (duration, frames)
}

/// What the server's clip export worker does with a claimed job, for the
/// API's side of exports: claim it, report progress, store the MP4 (ffmpeg
/// remuxing the clip's playlist from `addr`), mark it ready, enqueue
/// clip.ready.
async fn export_like_the_worker(app: &TestApp, addr: SocketAddr, clip_id: &str) {
    let db = &app.state.db;
    let claims = db
        .claim_clip_exports(db.clock().now_ms(), 10, 60_000)
        .await
        .unwrap();
    let claim = claims
        .iter()
        .find(|c| c.clip.clip_id == clip_id)
        .expect("the export job is claimable");
    for pct in [20, 60, 95] {
        db.set_clip_export_progress(clip_id, &claim.claim_id, pct, db.clock().now_ms(), 60_000)
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("clip.mp4");
    let input = format!("http://{addr}/clips/{clip_id}/master.m3u8");
    let out = output.clone();
    let status = tokio::task::spawn_blocking(move || {
        Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-i",
                &input,
                "-c",
                "copy",
                "-movflags",
                "+faststart",
                "-y",
            ])
            .arg(&out)
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "ffmpeg could not remux the clip");
    app.state
        .media
        .put_file(&keys::clip(clip_id), &output)
        .await
        .unwrap();
    let clip = db
        .finish_clip_export(clip_id, &claim.claim_id)
        .await
        .unwrap();
    db.enqueue_clip_ready(&clip).await.unwrap();
}

async fn wait_exported(app: &TestApp, clip_id: &str, auth: &Auth) -> (Value, Vec<u64>) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    loop {
        let r = app.get(&format!("/api/v1/clips/{clip_id}"), auth).await;
        assert_eq!(r.status, 200, "{}", r.text);
        seen.push(r.json["export_progress"].as_u64().unwrap());
        match r.json["export_status"].as_str().unwrap() {
            "ready" => return (r.json, seen),
            "failed" => panic!("export failed: {}", r.text),
            _ => {}
        }
        assert!(Instant::now() < deadline, "export not done: {}", r.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn instant_clips_play_and_export_to_mp4() {
    if !have_ffmpeg() {
        return;
    }
    for app in TestApp::all().await {
        let b = app.backend;
        let alice = app.creator("alice").await;
        let viewer = app.viewer("vera").await;
        let anon = Auth::None;
        hook_clip_ready(&app, &alice).await;
        let public = channel(&app, &alice, "alice-tv", Visibility::Public).await;
        let vod = broadcast(&app, &public, false).await;
        let addr = serve(&app).await;

        // Seconds 4-10, exported: queued before any runner exists.
        let r = app
            .post(
                "/api/v1/clips",
                &viewer.auth(),
                json!({"vod_id": vod.vod_id, "start_s": 4, "end_s": 10, "title": "Goal", "export": "mp4"}),
            )
            .await;
        assert_eq!(r.status, 201, "{b:?} {}", r.text);
        assert_eq!(r.json["status"], "ready");
        assert_eq!(r.json["export_status"], "pending");
        let clip_id = r.json["clip_id"].as_str().unwrap().to_owned();
        assert_eq!(r.json["duration_s"], 6.0);
        let mp4_path = format!("/clips/{clip_id}.mp4");
        let r = app.get(&mp4_path, &anon).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (409, "export_in_progress"),
            "{}",
            r.text
        );

        // The playlists: a VOD playlist with ENDLIST over segments 2-4.
        let r = app
            .get(&format!("/clips/{clip_id}/master.m3u8"), &anon)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.headers[header::CONTENT_TYPE],
            "application/vnd.apple.mpegurl"
        );
        assert_eq!(r.headers[header::CACHE_CONTROL], "public, max-age=3600");
        assert!(
            r.text.contains("CODECS=\"avc1.4d401e,mp4a.40.2\""),
            "{}",
            r.text
        );
        assert!(r.text.contains("\nsource/index.m3u8\n"), "{}", r.text);
        let r = app
            .get(&format!("/clips/{clip_id}/source/index.m3u8"), &anon)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let media = r.text.clone();
        assert!(media.trim_end().ends_with("#EXT-X-ENDLIST"), "{media}");
        assert!(media.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{media}");
        let uris: Vec<&str> = media
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert_eq!(uris, ["2.ts", "3.ts", "4.ts"], "{media}");
        for uri in &uris {
            let r = app
                .get(&format!("/clips/{clip_id}/source/{uri}"), &anon)
                .await;
            assert_eq!(r.status, 200, "{uri}");
            assert_eq!(r.headers[header::CONTENT_TYPE], "video/mp2t");
            assert_eq!(
                r.headers[header::CACHE_CONTROL],
                "public, max-age=31536000, immutable"
            );
        }
        let r = app
            .get(&format!("/clips/{clip_id}/source/0.ts"), &anon)
            .await;
        assert_eq!(r.status, 404, "segments outside the clip are not served");
        let r = app
            .get(&format!("/clips/{clip_id}/720p/index.m3u8"), &anon)
            .await;
        assert_eq!(r.status, 404);
        let r = app.get("/clips/nope/master.m3u8", &anon).await;
        assert_eq!((r.status.as_u16(), r.code()), (404, "unknown_clip"));
        let r = app
            .send(
                Request::get(format!("/clips/{clip_id}/source/3.ts"))
                    .header(header::RANGE, "bytes=0-187")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 206);
        assert_eq!(r.headers[header::CONTENT_LENGTH], "188");
        assert!(
            r.headers[header::CONTENT_RANGE]
                .to_str()
                .unwrap()
                .starts_with("bytes 0-187/")
        );

        // ffprobe plays the clip from its master URL: 6 s, +-1 GOP (2 s).
        let master_url = format!("http://{addr}/clips/{clip_id}/master.m3u8");
        let (duration, frames) = tokio::task::spawn_blocking(move || probe(&master_url))
            .await
            .unwrap();
        assert!((duration - 6.0).abs() <= 2.0, "{b:?} duration {duration}");
        let decoded_s = frames as f64 / 30.0;
        assert!(
            (decoded_s - 6.0).abs() <= 2.0,
            "{b:?} decoded {frames} frames"
        );

        // The export worker is the server's (crates/server/src/clip_export.rs,
        // tested end to end in crates/server/tests/clip_export.rs). Here a
        // stand-in does what it does, over the same database calls: claim
        // the job, report progress, store an MP4 (ffmpeg remuxing the
        // clip's own playlist), mark it ready and enqueue clip.ready.
        export_like_the_worker(&app, addr, &clip_id).await;
        let (clip, progress) = wait_exported(&app, &clip_id, &anon).await;
        assert_eq!(clip["export_progress"], 100);
        assert_eq!(clip["mp4_url"], mp4_path);
        assert!(
            progress.windows(2).all(|w| w[0] <= w[1]) && progress.iter().all(|p| *p <= 100),
            "{progress:?}"
        );
        let r = app.get(&mp4_path, &anon).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.headers[header::CONTENT_TYPE], "video/mp4");
        let r = app
            .send(
                Request::get(&mp4_path)
                    .header(header::RANGE, "bytes=0-99")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 206);
        assert!(
            r.headers[header::CONTENT_RANGE]
                .to_str()
                .unwrap()
                .starts_with("bytes 0-99/")
        );
        let mp4_url = format!("http://{addr}{mp4_path}");
        let (duration, frames) = tokio::task::spawn_blocking(move || probe(&mp4_url))
            .await
            .unwrap();
        assert!(
            (duration - 6.0).abs() <= 2.0,
            "{b:?} MP4 duration {duration}"
        );
        assert!(
            ((frames as f64 / 30.0) - 6.0).abs() <= 2.0,
            "{frames} frames"
        );
        let events = clip_ready_events(&app).await;
        assert_eq!(
            events
                .iter()
                .filter(|e| e["clip_id"] == clip_id.as_str())
                .map(|e| e["export_status"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["none", "ready"],
            "clip.ready when it became playable, then when its MP4 is ready"
        );

        // A later export request, on a clip made without one.
        let r = app
            .post(
                "/api/v1/clips",
                &alice.auth(),
                json!({"vod_id": vod.vod_id, "start_s": 12, "end_s": 16}),
            )
            .await;
        let later = r.json["clip_id"].as_str().unwrap().to_owned();
        let r = app.get(&format!("/clips/{later}.mp4"), &anon).await;
        assert_eq!((r.status.as_u16(), r.code()), (404, "not_exported"));
        let r = app
            .call(
                http::Method::POST,
                &format!("/api/v1/clips/{later}/export"),
                &alice.auth(),
                None,
            )
            .await;
        assert_eq!(r.status, 202);
        export_like_the_worker(&app, addr, &later).await;
        wait_exported(&app, &later, &anon).await;

        // Deleting a clip removes its MP4; deleting the VOD removes the
        // segments and the other clips' files.
        let store = &app.state.media;
        assert!(store.get(&keys::clip(&clip_id)).await.unwrap().is_some());
        let r = app
            .delete(&format!("/api/v1/clips/{clip_id}"), &viewer.auth())
            .await;
        assert_eq!(r.status, 204);
        assert!(store.get(&keys::clip(&clip_id)).await.unwrap().is_none());
        let r = app.get(&mp4_path, &anon).await;
        assert_eq!(r.status, 404);
        assert!(store.get(&keys::clip(&later)).await.unwrap().is_some());
        let r = app
            .delete(&format!("/api/v1/vods/{}", vod.vod_id), &alice.auth())
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        assert!(store.get(&keys::clip(&later)).await.unwrap().is_none());
        let left = store
            .list(&keys::live_stream_prefix(&vod.live_stream_id))
            .await
            .unwrap();
        assert!(left.is_empty(), "{left:?}");
        let r = app.get(&format!("/clips/{later}/master.m3u8"), &anon).await;
        assert_eq!(r.status, 404);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn private_clips_need_a_playback_token_and_dvr_clips_play() {
    if !have_ffmpeg() {
        return;
    }
    for app in TestApp::all().await {
        let b = app.backend;
        let alice = app.creator("alice").await;
        let anon = Auth::None;
        let private = channel(&app, &alice, "alice-priv", Visibility::Private).await;
        let vod = broadcast(&app, &private, false).await;
        let r = app
            .post(
                "/api/v1/clips",
                &alice.auth(),
                json!({"vod_id": vod.vod_id, "start_s": 2, "end_s": 6}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let clip_id = r.json["clip_id"].as_str().unwrap().to_owned();
        let master = format!("/clips/{clip_id}/master.m3u8");
        let r = app.get(&master, &anon).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (403, "playback_token_required")
        );
        let r = app.get(&format!("{master}?token=forged"), &anon).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (403, "invalid_playback_token")
        );
        let r = app
            .get(&format!("/clips/{clip_id}/source/1.ts"), &anon)
            .await;
        assert_eq!(r.status, 403);
        let token = app
            .db
            .mint_playback_token(
                &private.playback_id,
                PlaybackAudience::Video,
                Duration::from_secs(600),
            )
            .await
            .unwrap();
        let r = app.get(&format!("{master}?token={token}"), &anon).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let suffix = format!("?token={token}");
        assert!(
            r.text.contains(&format!("source/index.m3u8{suffix}")),
            "the token is carried on: {}",
            r.text
        );
        // ffprobe follows the URIs with the token and plays it.
        let addr = serve(&app).await;
        let url = format!("http://{addr}{master}{suffix}");
        let (duration, _) = tokio::task::spawn_blocking(move || probe(&url))
            .await
            .unwrap();
        assert!((duration - 4.0).abs() <= 2.0, "{b:?} {duration}");

        // A DVR clip of a broadcast still in progress plays too.
        let public = channel(&app, &alice, "alice-tv", Visibility::Public).await;
        let live_vod = broadcast(&app, &public, true).await;
        let r = app
            .post(
                "/api/v1/clips",
                &alice.auth(),
                json!({"live_stream_id": live_vod.live_stream_id, "start_s": 0, "end_s": 4}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let dvr = r.json["clip_id"].as_str().unwrap().to_owned();
        let r = app
            .get(&format!("/clips/{dvr}/source/index.m3u8"), &anon)
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.headers[header::CACHE_CONTROL],
            "public, max-age=10",
            "a broadcast in progress"
        );
        let url = format!("http://{addr}/clips/{dvr}/master.m3u8");
        let (duration, _) = tokio::task::spawn_blocking(move || probe(&url))
            .await
            .unwrap();
        assert!((duration - 4.0).abs() <= 2.0, "{b:?} {duration}");
        let r = app
            .delete(&format!("/api/v1/vods/{}", live_vod.vod_id), &alice.auth())
            .await;
        assert_eq!(r.status, 409, "in progress: {}", r.text);
    }
}
