//! Settings of `/api/v1` (the `[api]` section of `aethex.toml`, once the
//! server reads one) and the hooks the server plugs in ([`ApiOptions`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// When the session cookies carry `Secure`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CookieSecure {
    /// When the login request came over HTTPS: its URI says so, or a
    /// proxy in front said so in `X-Forwarded-Proto: https` or
    /// `Forwarded: proto=https`. (A client faking the header only makes
    /// its own cookie stricter.)
    #[default]
    Auto,
    /// Always (the server is only reachable over HTTPS).
    Always,
    /// Never (plain-HTTP development setups).
    Never,
}

/// The role of an account made by sign-up (`[api] signup_role`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SignupRole {
    /// May create channels and stream: anyone can start a channel.
    #[default]
    Creator,
    /// Watches, chats and follows; an admin makes them a creator.
    Viewer,
}

impl SignupRole {
    pub(crate) fn role(self) -> control::Role {
        match self {
            SignupRole::Creator => control::Role::Creator,
            SignupRole::Viewer => control::Role::Viewer,
        }
    }
}

/// `/api/v1` settings. Defaults are documented per field.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Lifetime of a login session (and its cookies), in seconds. Fixed at
    /// login, not sliding. Default 14 days.
    pub session_ttl_s: u64,
    /// Default `auto`.
    pub cookie_secure: CookieSecure,
    /// Whether anyone may create an account with `POST /api/v1/users`.
    /// Admins create users of any role regardless. Default true.
    pub allow_signup: bool,
    /// The role of an account made by sign-up: `creator` (anyone can start
    /// a channel) or `viewer`. A sign-up may also ask for `viewer`
    /// explicitly. Default `creator`.
    pub signup_role: SignupRole,
    /// Failed logins for one username within the window before further
    /// attempts get 429. Default 10.
    pub login_max_failures_per_username: u32,
    /// Failed logins from one client IP within the window before further
    /// attempts get 429. Default 10.
    pub login_max_failures_per_ip: u32,
    /// The window of the two limits above, in seconds. Default 900.
    pub login_failure_window_s: u64,
    /// Sign-ups (`POST /api/v1/users` without admin rights) one client IP
    /// may make within `signup_window_s` before further ones get 429.
    /// Default 5.
    pub signup_max_per_ip: u32,
    /// The window of `signup_max_per_ip`, in seconds. Default 3600.
    pub signup_window_s: u64,
    /// Take the client IP (for the login and sign-up limits and viewer
    /// counts) from the last `X-Forwarded-For` entry: set when a reverse
    /// proxy you run appends it. Default false: the TCP peer address
    /// (a client could write any `X-Forwarded-For` it likes).
    pub trust_forwarded_for: bool,
    /// Lifetime of playback tokens minted for the web UI when the request
    /// names none, in seconds (at most a day). Default 3600.
    pub playback_token_ttl_s: u64,
    /// Chat WebSocket connections this node takes at once; more get 503.
    /// Default 10 000.
    pub chat_max_connections: u32,
    /// Chat WebSocket connections from one client address (IPv6: one
    /// /64). Behind a proxy, only with `trust_forwarded_for` (else every
    /// client shares the proxy's address, which is then not capped).
    /// Default 100.
    pub chat_max_connections_per_ip: u32,
    /// Clips one user may make per hour (admins are not limited); more
    /// get 429 with `Retry-After`. Default 30.
    pub clips_per_hour_per_user: u32,
    /// MP4 exports one user may have queued or running at once (admins
    /// are not limited); more get 429. Default 3.
    pub queued_exports_per_user: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            session_ttl_s: 14 * 24 * 3600,
            cookie_secure: CookieSecure::Auto,
            allow_signup: true,
            signup_role: SignupRole::Creator,
            login_max_failures_per_username: 10,
            login_max_failures_per_ip: 10,
            login_failure_window_s: 15 * 60,
            signup_max_per_ip: 5,
            signup_window_s: 3600,
            trust_forwarded_for: false,
            playback_token_ttl_s: 3600,
            chat_max_connections: 10_000,
            chat_max_connections_per_ip: 100,
            clips_per_hour_per_user: 30,
            queued_exports_per_user: 3,
        }
    }
}

impl ApiConfig {
    pub(crate) fn session_ttl(&self) -> Duration {
        Duration::from_secs(
            self.session_ttl_s
                .clamp(60, control::SESSION_TTL_MAX.as_secs()),
        )
    }
}

/// How many viewers a broadcast has right now (the origin counts them).
/// Until something provides it the API reports 0.
pub trait ViewerCount: Send + Sync + 'static {
    /// Current concurrent viewers of the live stream `live_stream_id`.
    fn current_viewers(&self, live_stream_id: &str) -> u32;
}

impl<F> ViewerCount for F
where
    F: Fn(&str) -> u32 + Send + Sync + 'static,
{
    fn current_viewers(&self, live_stream_id: &str) -> u32 {
        self(live_stream_id)
    }
}

/// Everything `/api/v1` takes besides [`crate::AppState`].
#[derive(Clone, Default)]
pub struct ApiOptions {
    pub config: ApiConfig,
    /// Current viewer counts; `None`: always 0.
    pub viewers: Option<Arc<dyn ViewerCount>>,
    /// Names of the configured ladder presets; a channel may only name one
    /// of these. `None`: any well-formed name is accepted.
    pub ladders: Option<Vec<String>>,
    /// The OBS "server" URL (`rtmp://HOST/live`), returned with stream
    /// keys. `None`: omitted.
    pub rtmp_url: Option<String>,
    /// Prefix of the playback, poster and download URLs in responses (the
    /// HTTP `public_url`, no trailing slash). Empty: URLs are paths
    /// relative to this server.
    pub public_url: String,
    /// Where the server may connect on users' behalf: webhook URLs naming
    /// a refused address are refused at registration.
    pub outbound: outbound::OutboundPolicy,
    /// Webhook limits (the endpoint cap is enforced here).
    pub webhooks: control::WebhookConfig,
    /// Origins (`https://cdn.example.com`) besides this server's that the
    /// web UI loads media from: the store's public URL. Allowed by the
    /// Content-Security-Policy.
    pub media_origins: Vec<String>,
    /// A web UI build directory to serve instead of the embedded build
    /// (UI development; the server's `web_dir`, env `AETHEX_WEB_DIR`).
    /// `None`: the embedded build.
    pub web_dir: Option<std::path::PathBuf>,
}

impl fmt::Debug for ApiOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiOptions")
            .field("config", &self.config)
            .field("viewers", &self.viewers.is_some())
            .field("ladders", &self.ladders)
            .field("rtmp_url", &self.rtmp_url)
            .field("public_url", &self.public_url)
            .field("outbound", &self.outbound)
            .field("webhooks", &self.webhooks)
            .field("media_origins", &self.media_origins)
            .field("web_dir", &self.web_dir)
            .finish()
    }
}
