//! HTTP settings (the `[http]` section of `aethex.toml`).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// HTTP listener settings. See `config/aethex.toml`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address the HTTP server listens on (env `AETHEX_HTTP_ADDR`).
    pub listen: SocketAddr,
    /// Base URL viewers reach this server at, used in printed and returned
    /// URLs (env `AETHEX_HTTP_PUBLIC_URL`). Empty: `http://localhost:{port}`.
    pub public_url: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            public_url: String::new(),
        }
    }
}

impl HttpConfig {
    /// `public_url` without a trailing slash, or the default derived from the port.
    pub fn effective_public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://localhost:{}", self.listen.port())
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }
}
