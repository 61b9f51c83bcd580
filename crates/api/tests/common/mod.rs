//! A test harness for `/api/v1`: the whole HTTP application (the same
//! `api::router` the server serves) over a real database (SQLite, or
//! PostgreSQL when `AETHEX_TEST_PG_URL` is set) and a local media store,
//! called in-process.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use control::testutil::TestDb;
use control::{NewUser, Role, User};
use http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

pub use control::testutil::PASSWORD;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The application under test.
pub struct TestApp {
    pub backend: Backend,
    pub db: TestDb,
    pub state: api::AppState,
    /// The live side itself, for tests that start broadcasts (the API holds
    /// only its narrow `Origin` view).
    pub live: live::Live,
    pub media_dir: tempfile::TempDir,
    router: Router,
}

/// Credentials a request carries.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    #[default]
    None,
    /// `Authorization: Bearer SECRET`.
    Bearer(String),
    /// The session cookie, and the CSRF token to echo (or not) in
    /// `X-CSRF-Token`.
    Cookie {
        session: String,
        csrf: Option<String>,
    },
}

/// A user with an API token.
#[derive(Clone, Debug)]
pub struct Client {
    pub user: User,
    pub token: String,
}

impl Client {
    pub fn auth(&self) -> Auth {
        Auth::Bearer(self.token.clone())
    }
    pub fn id(&self) -> &str {
        &self.user.user_id
    }
}

/// A response: status, headers, and the body as JSON (`Value::Null` when
/// empty or not JSON; then `text` has it).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Resp {
    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }
}

impl TestApp {
    /// On SQLite, with default API options.
    pub async fn sqlite() -> TestApp {
        Self::with(Backend::Sqlite, api::ApiOptions::default())
            .await
            .expect("sqlite")
    }

    /// On PostgreSQL, or `None` when no server is configured.
    pub async fn postgres() -> Option<TestApp> {
        Self::with(Backend::Postgres, api::ApiOptions::default()).await
    }

    /// Both backends that are available (SQLite always).
    pub async fn all() -> Vec<TestApp> {
        let mut apps = vec![Self::sqlite().await];
        if let Some(pg) = Self::postgres().await {
            apps.push(pg);
        }
        apps
    }

    pub async fn with(backend: Backend, options: api::ApiOptions) -> Option<TestApp> {
        let db = match backend {
            Backend::Sqlite => TestDb::sqlite().await,
            Backend::Postgres => TestDb::postgres().await?,
        };
        let media_dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}", media_dir.path().display());
        let storage_config = storage::StorageConfig::default();
        let media = storage::Media::open(&storage_config, &url, &media_dir.path().join("spool"))
            .await
            .expect("media");
        let live = live::Live::new(
            (*db).clone(),
            media.clone(),
            None,
            live::LiveConfig::default(),
            std::sync::Arc::new(live::NoTranscoder),
        );
        let state = api::AppState::new((*db).clone(), media, live.origin());
        let router = api::router(state.clone(), options)
            .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        Some(TestApp {
            backend,
            db,
            state,
            live,
            media_dir,
            router,
        })
    }

    /// Serves the application on a loopback port (for WebSocket tests) and
    /// returns its address; the server stops with the test's runtime.
    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let service = self
            .router
            .clone()
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            axum::serve(listener, service).await.expect("serve");
        });
        addr
    }

    /// A user with `role` and an API token.
    pub async fn client(&self, username: &str, role: Role) -> Client {
        let user = self
            .db
            .create_user(NewUser {
                username: username.to_owned(),
                email: None,
                password: PASSWORD.to_owned(),
                role,
            })
            .await
            .expect("create user");
        let token = self
            .db
            .create_api_token(&user.user_id, "test")
            .await
            .expect("create token")
            .secret;
        Client { user, token }
    }

    pub async fn admin(&self, username: &str) -> Client {
        self.client(username, Role::Admin).await
    }

    pub async fn creator(&self, username: &str) -> Client {
        self.client(username, Role::Creator).await
    }

    pub async fn viewer(&self, username: &str) -> Client {
        self.client(username, Role::Viewer).await
    }

    /// One request; `body` is sent as JSON.
    pub async fn call(&self, method: Method, path: &str, auth: &Auth, body: Option<Value>) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        match auth {
            Auth::None => {}
            Auth::Bearer(token) => {
                req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            Auth::Cookie { session, csrf } => {
                req = req.header(header::COOKIE, format!("aethex_session={session}"));
                if let Some(csrf) = csrf {
                    req = req.header("x-csrf-token", csrf);
                }
            }
        }
        let req = match body {
            Some(body) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    /// Any request.
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = tokio::time::timeout(Duration::from_secs(30), self.router.clone().oneshot(req))
            .await
            .expect("response within 30 s")
            .expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            json,
            text,
        }
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Resp {
        self.call(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> Resp {
        self.call(Method::POST, path, auth, Some(body)).await
    }

    pub async fn patch(&self, path: &str, auth: &Auth, body: Value) -> Resp {
        self.call(Method::PATCH, path, auth, Some(body)).await
    }

    pub async fn delete(&self, path: &str, auth: &Auth) -> Resp {
        self.call(Method::DELETE, path, auth, None).await
    }

    /// Logs in with the password and returns (session cookie, CSRF token).
    pub async fn login(&self, username: &str) -> (String, String) {
        let resp = self
            .post(
                "/api/v1/auth/login",
                &Auth::None,
                serde_json::json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(resp.status, 200, "login: {}", resp.text);
        let session = resp
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix("aethex_session="))
            .and_then(|c| c.split(';').next())
            .expect("session cookie")
            .to_owned();
        let csrf = resp.json["csrf_token"]
            .as_str()
            .expect("csrf_token")
            .to_owned();
        (session, csrf)
    }
}
