//! The Mux-compatible surface (`/video/v1`, `/system/v1`, Mux-form
//! playback) in-process, on SQLite and PostgreSQL: who may call each route,
//! Mux's envelopes, errors and pagination, HTTP Basic credentials, and
//! playback ids with their own policies. scripts/test-mux-sdk drives the
//! same surface with Mux's SDKs, a publisher and webhooks.

mod common;

use axum::body::Body;
use base64::Engine;
use common::{Auth, TestApp};
use http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

async fn with_header(app: &TestApp, path: &str, authorization: &str) -> common::Resp {
    app.send(
        Request::builder()
            .uri(path)
            .header(header::AUTHORIZATION, authorization)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

fn assert_mux_error(resp: &common::Resp, status: StatusCode, kind: &str) {
    assert_eq!(resp.status, status, "{}", resp.text);
    assert_eq!(resp.json["error"]["type"], kind, "{}", resp.text);
    assert!(
        resp.json["error"]["messages"][0]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        resp.text
    );
}

#[tokio::test]
async fn basic_credentials_are_an_api_tokens_id_and_secret() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;
        let token = app
            .db
            .list_api_tokens(alice.id(), &control::PageRequest::first(10))
            .await
            .unwrap();
        let token_id = &token.items[0].api_token_id;
        let ok = with_header(
            &app,
            "/video/v1/live-streams",
            &basic(token_id, &alice.token),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
        assert_eq!(ok.json, json!({"data": []}));
        let wrong_id =
            with_header(&app, "/video/v1/live-streams", &basic("nope", &alice.token)).await;
        assert_mux_error(&wrong_id, StatusCode::UNAUTHORIZED, "unauthorized");
        let wrong_secret = with_header(
            &app,
            "/video/v1/live-streams",
            &basic(token_id, "aethex_nope"),
        )
        .await;
        assert_mux_error(&wrong_secret, StatusCode::UNAUTHORIZED, "unauthorized");
        let garbage = with_header(&app, "/video/v1/live-streams", "Basic !!!").await;
        assert_mux_error(&garbage, StatusCode::UNAUTHORIZED, "unauthorized");
        let anonymous = app.get("/video/v1/live-streams", &Auth::None).await;
        assert_mux_error(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized");
        // Basic works on /api/v1 as well.
        let native = with_header(&app, "/api/v1/me", &basic(token_id, &alice.token)).await;
        assert_eq!(native.status, StatusCode::OK, "{}", native.text);
    }
}

#[tokio::test]
async fn live_streams_are_their_owners_and_refuse_what_is_not_supported() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;
        let bob = app.creator("bob").await;
        let viewer = app.viewer("vera").await;
        let admin = app.admin("root").await;
        let created = app
            .post(
                "/video/v1/live-streams",
                &alice.auth(),
                json!({"playback_policies": ["public", "signed"], "reconnect_window": 0,
                       "latency_mode": "reduced", "not_a_mux_field": {"x": 1}}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let ls = &created.json["data"];
        let id = ls["id"].as_str().unwrap().to_owned();
        assert_eq!(ls["status"], "idle");
        assert_eq!(ls["latency_mode"], "reduced");
        assert!(ls["created_at"].as_str().unwrap().parse::<i64>().is_ok());
        assert!(ls["stream_key"].as_str().unwrap().starts_with("live_"));
        let policies: Vec<&str> = ls["playback_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["policy"].as_str().unwrap())
            .collect();
        assert_eq!(policies, ["public", "signed"]);
        let signed_id = ls["playback_ids"][1]["id"].as_str().unwrap().to_owned();

        // Who may do what: the owner and admins; others get 404 (not 403:
        // nothing is revealed), viewers may not create.
        let paths: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/video/v1/live-streams/{id}"), None),
            (
                Method::PATCH,
                format!("/video/v1/live-streams/{id}"),
                Some(json!({"passthrough": "x"})),
            ),
            (
                Method::POST,
                format!("/video/v1/live-streams/{id}/reset-stream-key"),
                None,
            ),
            (
                Method::PUT,
                format!("/video/v1/live-streams/{id}/complete"),
                None,
            ),
            (
                Method::PUT,
                format!("/video/v1/live-streams/{id}/disable"),
                None,
            ),
            (
                Method::PUT,
                format!("/video/v1/live-streams/{id}/enable"),
                None,
            ),
            (
                Method::POST,
                format!("/video/v1/live-streams/{id}/playback-ids"),
                Some(json!({"policy": "public"})),
            ),
            (
                Method::GET,
                format!("/video/v1/live-streams/{id}/playback-ids/{signed_id}"),
                None,
            ),
            (
                Method::POST,
                format!("/video/v1/live-streams/{id}/simulcast-targets"),
                Some(json!({"url": "rtmp://a.example/live", "stream_key": "k"})),
            ),
            (
                Method::GET,
                format!("/video/v1/playback-ids/{signed_id}"),
                None,
            ),
            (Method::DELETE, format!("/video/v1/live-streams/{id}"), None),
        ];
        for (method, path, body) in &paths {
            let resp = app
                .call(method.clone(), path, &bob.auth(), body.clone())
                .await;
            assert_mux_error(&resp, StatusCode::NOT_FOUND, "not_found");
            let resp = app
                .call(method.clone(), path, &Auth::None, body.clone())
                .await;
            assert_mux_error(&resp, StatusCode::UNAUTHORIZED, "unauthorized");
        }
        // The owner and an admin may (all but the final delete).
        for (method, path, body) in &paths[..paths.len() - 1] {
            for who in [&alice, &admin] {
                let resp = app
                    .call(method.clone(), path, &who.auth(), body.clone())
                    .await;
                assert!(
                    resp.status.is_success(),
                    "{method} {path}: {} {}",
                    resp.status,
                    resp.text
                );
            }
        }
        let refused = app
            .post("/video/v1/live-streams", &viewer.auth(), json!({}))
            .await;
        assert_mux_error(&refused, StatusCode::FORBIDDEN, "forbidden");
        // Lists show the caller's own only.
        let bobs = app.get("/video/v1/live-streams", &bob.auth()).await;
        assert_eq!(bobs.json["data"], json!([]));

        // Mux's errors for what is invalid or not supported.
        for body in [
            json!({"latency_mode": "ultra"}),
            json!({"reconnect_window": 5000}),
            json!({"playback_policies": ["drm"]}),
            json!({"playback_policies": ["nope"]}),
            json!({"max_continuous_duration": 10}),
            json!({"embedded_subtitles": [{"language_code": "en"}]}),
        ] {
            let resp = app
                .post("/video/v1/live-streams", &alice.auth(), body.clone())
                .await;
            assert_mux_error(&resp, StatusCode::BAD_REQUEST, "invalid_parameters");
        }
        // Simulcast targets obey the outbound-address policy.
        for url in [
            "rtmp://127.0.0.1/live",
            "rtmp://localhost:1935/app",
            "rtmp://10.0.0.8/x",
        ] {
            let resp = app
                .post(
                    &format!("/video/v1/live-streams/{id}/simulcast-targets"),
                    &alice.auth(),
                    json!({"url": url, "stream_key": "k"}),
                )
                .await;
            assert_mux_error(&resp, StatusCode::BAD_REQUEST, "invalid_parameters");
        }
        let upload = app
            .post(
                "/video/v1/assets",
                &alice.auth(),
                json!({"input": "https://x"}),
            )
            .await;
        assert_mux_error(&upload, StatusCode::BAD_REQUEST, "invalid_parameters");
        let missing = app.get("/video/v1/live-streams/nope", &alice.auth()).await;
        assert_mux_error(&missing, StatusCode::NOT_FOUND, "not_found");

        let delete = app
            .delete(&format!("/video/v1/live-streams/{id}"), &alice.auth())
            .await;
        assert_eq!(delete.status, StatusCode::NO_CONTENT, "{}", delete.text);
        let gone = app
            .get(&format!("/video/v1/live-streams/{id}"), &alice.auth())
            .await;
        assert_mux_error(&gone, StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn lists_page_by_number_until_an_empty_page() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;
        let mut ids = Vec::new();
        for _ in 0..3 {
            let r = app
                .post("/video/v1/live-streams", &alice.auth(), json!({}))
                .await;
            ids.push(r.json["data"]["id"].as_str().unwrap().to_owned());
        }
        let page = |n: u32| format!("/video/v1/live-streams?limit=2&page={n}");
        let p1 = app.get(&page(1), &alice.auth()).await;
        let p2 = app.get(&page(2), &alice.auth()).await;
        let p3 = app.get(&page(3), &alice.auth()).await;
        let got: Vec<&str> = [&p1, &p2]
            .iter()
            .flat_map(|p| p.json["data"].as_array().unwrap())
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        assert_eq!(got.len(), 3);
        ids.reverse();
        assert_eq!(got, ids, "newest first");
        assert_eq!(p3.json["data"], json!([]));
        let bad = app.get(&page(0), &alice.auth()).await;
        assert_mux_error(&bad, StatusCode::BAD_REQUEST, "invalid_parameters");
        let idle = app
            .get("/video/v1/live-streams?status=idle", &alice.auth())
            .await;
        assert_eq!(idle.json["data"].as_array().unwrap().len(), 3);
        let active = app
            .get("/video/v1/live-streams?status=active", &alice.auth())
            .await;
        assert_eq!(active.json["data"], json!([]));
        app.call(
            Method::PUT,
            &format!("/video/v1/live-streams/{}/disable", ids[0]),
            &alice.auth(),
            None,
        )
        .await;
        let disabled = app
            .get("/video/v1/live-streams?status=disabled", &alice.auth())
            .await;
        assert_eq!(disabled.json["data"][0]["id"], ids[0].as_str());
        // By stream key.
        let key = p1.json["data"][1]["stream_key"].as_str().unwrap();
        let by_key = app
            .get(
                &format!("/video/v1/live-streams?stream_key={key}"),
                &alice.auth(),
            )
            .await;
        assert_eq!(by_key.json["data"].as_array().unwrap().len(), 1);
        // Assets page by cursor (none yet).
        let assets = app
            .get(
                &format!("/video/v1/assets?live_stream_id={}", ids[0]),
                &alice.auth(),
            )
            .await;
        assert_eq!(assets.status, StatusCode::OK, "{}", assets.text);
        assert_eq!(assets.json["data"], json!([]));
        // Signing keys: created with the private key once, then listed by page.
        let key = app
            .post("/system/v1/signing-keys", &alice.auth(), json!({}))
            .await;
        assert_eq!(key.status, StatusCode::CREATED, "{}", key.text);
        let pem = base64::engine::general_purpose::STANDARD
            .decode(key.json["data"]["private_key"].as_str().unwrap())
            .unwrap();
        assert!(String::from_utf8(pem).unwrap().starts_with("-----BEGIN"));
        let key_id = key.json["data"]["id"].as_str().unwrap();
        let listed = app
            .get("/system/v1/signing-keys?page=1", &alice.auth())
            .await;
        assert_eq!(listed.json["data"][0]["id"], key_id);
        assert!(listed.json["data"][0].get("private_key").is_none());
        let old_path = app
            .get(&format!("/video/v1/signing-keys/{key_id}"), &alice.auth())
            .await;
        assert_eq!(old_path.json["data"]["id"], key_id);
        let empty = app
            .get("/system/v1/signing-keys?page=2", &alice.auth())
            .await;
        assert_eq!(empty.json["data"], json!([]));
    }
}

#[tokio::test]
async fn mux_form_playback_honours_each_playback_ids_policy() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;
        let created = app
            .post(
                "/video/v1/live-streams",
                &alice.auth(),
                json!({"playback_policy": "public"}),
            )
            .await;
        let id = created.json["data"]["id"].as_str().unwrap().to_owned();
        let public_id = created.json["data"]["playback_ids"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let signed = app
            .post(
                &format!("/video/v1/live-streams/{id}/playback-ids"),
                &alice.auth(),
                json!({"policy": "signed"}),
            )
            .await;
        assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.text);
        let signed_id = signed.json["data"]["id"].as_str().unwrap().to_owned();
        // Nothing broadcast yet: the public id says so, the signed one
        // wants a token first.
        let public = app.get(&format!("/{public_id}.m3u8"), &Auth::None).await;
        assert_eq!(public.status, StatusCode::NOT_FOUND);
        assert_eq!(public.code(), "not_live");
        let no_token = app.get(&format!("/{signed_id}.m3u8"), &Auth::None).await;
        assert_eq!(no_token.status, StatusCode::FORBIDDEN);
        assert_eq!(no_token.code(), "playback_token_required");
        let hls_path = app
            .get(&format!("/hls/{signed_id}/master.m3u8"), &Auth::None)
            .await;
        assert_eq!(
            hls_path.status,
            StatusCode::FORBIDDEN,
            "the /hls form honours the id's policy too"
        );
        let thumb = app
            .get(&format!("/{signed_id}/thumbnail.jpg"), &Auth::None)
            .await;
        assert_eq!(thumb.status, StatusCode::FORBIDDEN);
        let unknown = app.get("/abcdefghijklmnop.m3u8", &Auth::None).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        // Storyboards are made from recordings: a live stream's id has none.
        let storyboard = app
            .get(&format!("/{public_id}/storyboard.vtt"), &Auth::None)
            .await;
        assert_eq!(storyboard.status, StatusCode::NOT_FOUND);
        assert_eq!(storyboard.code(), "not_found");
        let other = app.get(&format!("/{public_id}/low.mp4"), &Auth::None).await;
        assert_eq!(other.code(), "not_supported");
        // A three-part path naming no playback id is the web UI's.
        let page = app.get("/channels/abc/settings", &Auth::None).await;
        assert_ne!(page.code(), "unknown_playback_id");
        // Lookup, then deletion stops the id at once.
        let lookup = app
            .get(
                &format!("/video/v1/playback-ids/{signed_id}"),
                &alice.auth(),
            )
            .await;
        assert_eq!(
            lookup.json["data"],
            json!({"id": signed_id, "policy": "signed", "object": {"type": "live_stream", "id": id}})
        );
        let del = app
            .delete(
                &format!("/video/v1/live-streams/{id}/playback-ids/{signed_id}"),
                &alice.auth(),
            )
            .await;
        assert_eq!(del.status, StatusCode::NO_CONTENT);
        let after = app.get(&format!("/{signed_id}.m3u8"), &Auth::None).await;
        assert_eq!(after.code(), "unknown_playback_id");
        // Deleting the channel's own id unlists it (and it stops playing).
        let del = app
            .delete(
                &format!("/video/v1/live-streams/{id}/playback-ids/{public_id}"),
                &alice.auth(),
            )
            .await;
        assert_eq!(del.status, StatusCode::NO_CONTENT);
        let ls = app
            .get(&format!("/video/v1/live-streams/{id}"), &alice.auth())
            .await;
        assert_eq!(ls.json["data"]["playback_ids"], json!([]));
        let after = app.get(&format!("/{public_id}.m3u8"), &Auth::None).await;
        assert_eq!(after.code(), "unknown_playback_id");
    }
}

#[tokio::test]
async fn the_openapi_document_covers_the_mux_surface() {
    let app = TestApp::sqlite().await;
    let doc = app.get("/api/openapi.json", &Auth::None).await;
    let paths = doc.json["paths"].as_object().unwrap();
    for path in [
        "/video/v1/live-streams",
        "/video/v1/live-streams/{LIVE_STREAM_ID}",
        "/video/v1/live-streams/{LIVE_STREAM_ID}/complete",
        "/video/v1/live-streams/{LIVE_STREAM_ID}/playback-ids/{PLAYBACK_ID}",
        "/video/v1/assets",
        "/video/v1/assets/{ASSET_ID}",
        "/video/v1/playback-ids/{PLAYBACK_ID}",
        "/system/v1/signing-keys",
        "/system/v1/signing-keys/{SIGNING_KEY_ID}",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
}

#[tokio::test]
async fn assets_and_signing_keys_are_their_owners() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;
        let bob = app.creator("bob").await;
        let admin = app.admin("root").await;
        let created = app
            .post(
                "/video/v1/live-streams",
                &alice.auth(),
                json!({"new_asset_settings": {"playback_policies": ["public"]}}),
            )
            .await;
        let channel_id = created.json["data"]["id"].as_str().unwrap().to_owned();
        // A finished recording, as a broadcast leaves it.
        let ls = app.db.begin_live_stream(&channel_id).await.unwrap();
        let vod = app.db.create_vod(&ls.live_stream_id).await.unwrap();
        app.db
            .end_live_stream(&ls.live_stream_id, "test")
            .await
            .unwrap();
        app.db.finish_vod(&vod.vod_id, 4_000, 2).await.unwrap();
        let id = vod.vod_id.clone();
        let asset = app
            .get(&format!("/video/v1/assets/{id}"), &alice.auth())
            .await;
        assert_eq!(asset.status, StatusCode::OK, "{}", asset.text);
        assert_eq!(asset.json["data"]["status"], "ready");
        assert_eq!(asset.json["data"]["live_stream_id"], channel_id.as_str());
        let pid = asset.json["data"]["playback_ids"][0]["id"]
            .as_str()
            .expect("new_asset_settings gave the recording a playback id")
            .to_owned();
        let key = app
            .post("/system/v1/signing-keys", &alice.auth(), json!({}))
            .await;
        let key_id = key.json["data"]["id"].as_str().unwrap().to_owned();

        let paths: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/video/v1/assets/{id}"), None),
            (
                Method::POST,
                format!("/video/v1/assets/{id}/playback-ids"),
                Some(json!({"policy": "signed"})),
            ),
            (
                Method::GET,
                format!("/video/v1/assets/{id}/playback-ids/{pid}"),
                None,
            ),
            (
                Method::POST,
                format!("/video/v1/assets/{id}/static-renditions"),
                Some(json!({"resolution": "highest"})),
            ),
            (
                Method::PUT,
                format!("/video/v1/assets/{id}/mp4-support"),
                Some(json!({"mp4_support": "audio-only"})),
            ),
            (
                Method::DELETE,
                format!("/video/v1/assets/{id}/static-renditions/audio-only"),
                None,
            ),
            (Method::GET, format!("/video/v1/playback-ids/{pid}"), None),
            (
                Method::GET,
                format!("/system/v1/signing-keys/{key_id}"),
                None,
            ),
            (
                Method::DELETE,
                format!("/video/v1/assets/{id}/playback-ids/{pid}"),
                None,
            ),
        ];
        for (method, path, body) in &paths {
            let resp = app
                .call(method.clone(), path, &bob.auth(), body.clone())
                .await;
            assert_mux_error(&resp, StatusCode::NOT_FOUND, "not_found");
            let resp = app
                .call(method.clone(), path, &Auth::None, body.clone())
                .await;
            assert_mux_error(&resp, StatusCode::UNAUTHORIZED, "unauthorized");
        }
        // The owner may; an admin may act on the asset by id.
        for (method, path, body) in &paths {
            let resp = app
                .call(method.clone(), path, &alice.auth(), body.clone())
                .await;
            assert!(
                resp.status.is_success(),
                "{method} {path}: {} {}",
                resp.status,
                resp.text
            );
        }
        let by_admin = app
            .get(&format!("/video/v1/assets/{id}"), &admin.auth())
            .await;
        assert_eq!(by_admin.status, StatusCode::OK);
        // What the calls did: `highest` asked for, then replaced by
        // `audio-only` (mp4_support), which was then deleted: none left.
        let asset = app
            .get(&format!("/video/v1/assets/{id}"), &alice.auth())
            .await;
        assert!(
            asset.json["data"].get("static_renditions").is_none(),
            "{asset:?}"
        );
        assert_eq!(asset.json["data"]["mp4_support"], "none");
        let again = app
            .post(
                &format!("/video/v1/assets/{id}/static-renditions"),
                &alice.auth(),
                json!({"resolution": "highest"}),
            )
            .await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
        let asset = app
            .get(&format!("/video/v1/assets/{id}"), &alice.auth())
            .await;
        let files = &asset.json["data"]["static_renditions"]["files"];
        assert_eq!(files.as_array().map(Vec::len), Some(1), "{asset:?}");
        assert_eq!(files[0]["name"], "highest.mp4");
        assert_eq!(
            files[0]["status"], "preparing",
            "made once a runner takes it"
        );
        assert_eq!(asset.json["data"]["mp4_support"], "standard");
        let bad = app
            .post(
                &format!("/video/v1/assets/{id}/static-renditions"),
                &alice.auth(),
                json!({"resolution": "720p"}),
            )
            .await;
        assert_mux_error(&bad, StatusCode::BAD_REQUEST, "invalid_parameters");
        // Lists show the caller's own only.
        let bobs = app.get("/video/v1/assets", &bob.auth()).await;
        assert_eq!(bobs.json["data"], json!([]));
        let bobs_keys = app.get("/system/v1/signing-keys", &bob.auth()).await;
        assert_eq!(bobs_keys.json["data"], json!([]));
        // Deleting: bob cannot, alice can.
        let del = app
            .delete(&format!("/video/v1/assets/{id}"), &bob.auth())
            .await;
        assert_mux_error(&del, StatusCode::NOT_FOUND, "not_found");
        let del = app
            .delete(&format!("/video/v1/assets/{id}"), &alice.auth())
            .await;
        assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.text);
        let gone = app
            .get(&format!("/video/v1/assets/{id}"), &alice.auth())
            .await;
        assert_mux_error(&gone, StatusCode::NOT_FOUND, "not_found");
        let del = app
            .delete(&format!("/system/v1/signing-keys/{key_id}"), &bob.auth())
            .await;
        assert_mux_error(&del, StatusCode::NOT_FOUND, "not_found");
    }
}
