//! Accounts, sessions, CSRF and API tokens through `/api/v1`, on SQLite and
//! PostgreSQL.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn sessions_csrf_and_tokens() {
    for app in TestApp::all().await {
        let alice = app.creator("alice").await;

        // Anonymous: 401 with a JSON error.
        let r = app.get("/api/v1/me", &Auth::None).await;
        assert_eq!(r.status, 401, "{:?}", app.backend);
        assert_eq!(r.code(), "unauthenticated");

        // A bearer token works; a wrong one is 401, not anonymous.
        let r = app.get("/api/v1/me", &alice.auth()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["username"], "alice");
        let r = app
            .get("/api/v1/me", &Auth::Bearer("aethex_nope".into()))
            .await;
        assert_eq!(r.status, 401);

        // Wrong password: 401; right one: a session cookie (HttpOnly,
        // SameSite) and a CSRF token.
        let r = app
            .post(
                "/api/v1/auth/login",
                &Auth::None,
                json!({"username": "alice", "password": "wrong password"}),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        let r = app
            .post(
                "/api/v1/auth/login",
                &Auth::None,
                json!({"username": "alice", "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let set_cookie: Vec<_> = r
            .headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let session_cookie = set_cookie
            .iter()
            .find(|c| c.starts_with("aethex_session="))
            .expect("session cookie");
        assert!(session_cookie.contains("HttpOnly"), "{session_cookie}");
        assert!(session_cookie.contains("SameSite"), "{session_cookie}");

        let (session, csrf) = app.login("alice").await;
        let with_csrf = Auth::Cookie {
            session: session.clone(),
            csrf: Some(csrf.clone()),
        };
        let without_csrf = Auth::Cookie {
            session: session.clone(),
            csrf: None,
        };
        let r = app.get("/api/v1/me", &without_csrf).await;
        assert_eq!(r.status, 200, "reads need no CSRF token: {}", r.text);
        // A cookie-authenticated write without the CSRF token: 403.
        let r = app
            .post("/api/v1/api-tokens", &without_csrf, json!({"name": "ci"}))
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = app
            .post("/api/v1/api-tokens", &with_csrf, json!({"name": "ci"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let secret = r.json["secret"].as_str().unwrap().to_owned();
        let token_id = r.json["api_token"]["api_token_id"]
            .as_str()
            .unwrap()
            .to_owned();
        // Listed without the secret.
        let r = app.get("/api/v1/api-tokens", &with_csrf).await;
        assert_eq!(r.status, 200);
        assert!(!r.text.contains(&secret));
        // It works until revoked.
        let r = app.get("/api/v1/me", &Auth::Bearer(secret.clone())).await;
        assert_eq!(r.status, 200);
        let r = app
            .delete(&format!("/api/v1/api-tokens/{token_id}"), &with_csrf)
            .await;
        assert!(r.status.is_success(), "{}", r.text);
        let r = app.get("/api/v1/me", &Auth::Bearer(secret)).await;
        assert_eq!(r.status, 401);

        // Logout ends the session.
        let r = app
            .call(http::Method::POST, "/api/v1/auth/logout", &with_csrf, None)
            .await;
        assert!(r.status.is_success(), "{}", r.text);
        let r = app.get("/api/v1/me", &without_csrf).await;
        assert_eq!(r.status, 401);

        // Malformed JSON: 400 with a JSON error.
        let req = http::Request::builder()
            .method("POST")
            .uri("/api/v1/auth/login")
            .header("content-type", "application/json")
            .body(axum::body::Body::from("{not json"))
            .unwrap();
        let r = app.send(req).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.json["error"]["message"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_parses_and_lists_the_routes() {
    let app = TestApp::sqlite().await;
    let r = app.get("/api/openapi.json", &Auth::None).await;
    assert_eq!(r.status, 200);
    let spec = oas3::from_json(&r.text).expect("a valid OpenAPI 3.1 document");
    assert!(
        spec.paths
            .as_ref()
            .is_some_and(|p| p.contains_key("/api/v1/auth/login"))
    );
}
