//! Ingest settings (the `[rtmp]` section of `aethex.toml`).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// RTMP ingest settings. Every field has a default; see `config/aethex.toml`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Address the RTMP server listens on (env `AETHEX_RTMP_ADDR`). The
    /// binary binds it; this crate only reads the setting.
    pub listen: SocketAddr,
    /// The URL creators put in OBS's "Server" field (env
    /// `AETHEX_RTMP_PUBLIC_URL`). Empty: `rtmp://localhost:{port}/{app}`.
    pub public_url: String,
    /// The RTMP application publishers connect to (`rtmp://HOST/{app}`).
    pub app: String,
    /// Further application names accepted beside `app`, e.g. `["app"]` so
    /// that Mux's ingest URL form `rtmp://HOST:5222/app/KEY` works with
    /// only the host changed. Default empty.
    pub extra_apps: Vec<String>,
    /// Further addresses to accept RTMP on, e.g. `["0.0.0.0:5222"]` (Mux's
    /// ingest port). The same settings and connection limits apply across
    /// all of them. Default empty.
    pub extra_listen: Vec<SocketAddr>,
    /// Seconds a new connection may take to complete the RTMP handshake and
    /// ask to publish before it is closed.
    pub handshake_timeout_s: u64,
    /// Seconds without any data from a publisher before it is considered gone.
    pub idle_timeout_s: u64,
    /// Outbound RTMP chunk size in bytes.
    pub chunk_size: u32,
    /// Largest RTMP message a publisher may send, in bytes (a keyframe of
    /// 1080p60 at 12 Mbit/s is about 1.5 MB); larger ones close the
    /// connection.
    pub max_message_bytes: u32,
    /// Batches of media (one per socket read) buffered between a connection
    /// and its live stream before reading from the socket pauses
    /// (backpressure).
    pub queue_depth: usize,
    /// Milliseconds a publisher's media is left in the socket between reads,
    /// so that each read hands several frames to the packager at once: fewer
    /// wakeups per stream (the main CPU cost of a passthrough stream). Not
    /// in front of the keyframes that complete segments: around when the
    /// next one is due (one keyframe interval after the last) media is read
    /// as it arrives. 0 reads as soon as bytes arrive, as do low-latency
    /// (LL-HLS) channels whatever this says.
    pub media_batch_ms: u64,
    /// RTMP connections open at once; more are closed at accept with a
    /// log line. Default 1000.
    pub max_connections: u32,
    /// RTMP connections open at once from one IP address (IPv6: one /64).
    /// Default 32.
    pub max_connections_per_ip: u32,
    /// Addresses or CIDR ranges not held to `max_connections_per_ip`: a
    /// TCP proxy in front (RTMPS terminated by nginx or stunnel on the same
    /// box connects from 127.0.0.1 for every publisher). Default empty.
    pub trusted_proxies: Vec<String>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 1935)),
            public_url: String::new(),
            app: "live".to_string(),
            extra_apps: Vec::new(),
            extra_listen: Vec::new(),
            handshake_timeout_s: 10,
            idle_timeout_s: 10,
            chunk_size: 4096,
            max_message_bytes: 8 << 20,
            queue_depth: 1024,
            media_batch_ms: 30,
            max_connections: 1000,
            max_connections_per_ip: 32,
            trusted_proxies: Vec::new(),
        }
    }
}

impl IngestConfig {
    /// Every application name publishers may connect to: `app`, then
    /// `extra_apps`, without surrounding slashes.
    pub fn apps(&self) -> Vec<String> {
        std::iter::once(&self.app)
            .chain(&self.extra_apps)
            .map(|a| a.trim_matches('/').to_string())
            .collect()
    }

    /// Checks values a TOML file or environment could get wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.app.trim_matches('/').is_empty() {
            return Err("rtmp.app must not be empty".into());
        }
        if self
            .extra_apps
            .iter()
            .any(|a| a.trim_matches('/').is_empty())
        {
            return Err("rtmp.extra_apps must not contain an empty name".into());
        }
        if !(1..=3600).contains(&self.handshake_timeout_s) {
            return Err(format!(
                "rtmp.handshake_timeout_s must be between 1 and 3600, not {}",
                self.handshake_timeout_s
            ));
        }
        if !(1..=3600).contains(&self.idle_timeout_s) {
            return Err(format!(
                "rtmp.idle_timeout_s must be between 1 and 3600, not {}",
                self.idle_timeout_s
            ));
        }
        // RTMP allows 1..2^31-1; tiny chunks waste CPU, huge ones memory.
        if !(4096..=(16 << 20)).contains(&self.max_message_bytes) {
            return Err(format!(
                "rtmp.max_message_bytes must be between 4096 and 16777216, not {}",
                self.max_message_bytes
            ));
        }
        if !(128..=65536).contains(&self.chunk_size) {
            return Err(format!(
                "rtmp.chunk_size must be between 128 and 65536, not {}",
                self.chunk_size
            ));
        }
        if !(1..=100_000).contains(&self.queue_depth) {
            return Err(format!(
                "rtmp.queue_depth must be between 1 and 100000, not {}",
                self.queue_depth
            ));
        }
        if self.media_batch_ms > 500 {
            return Err(format!(
                "rtmp.media_batch_ms must be between 0 and 500, not {}",
                self.media_batch_ms
            ));
        }
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            return Err(
                "rtmp.max_connections and rtmp.max_connections_per_ip must be at least 1".into(),
            );
        }
        if let Err(bad) = self.trusted_proxy_nets() {
            return Err(format!(
                "rtmp.trusted_proxies: {bad:?} is not an IP address or CIDR range"
            ));
        }
        if self.max_connections_per_ip > self.max_connections {
            return Err(format!(
                "rtmp.max_connections_per_ip ({}) must not exceed rtmp.max_connections ({})",
                self.max_connections_per_ip, self.max_connections
            ));
        }
        Ok(())
    }

    /// `trusted_proxies` parsed; `Err` names the first entry that is not
    /// an address or a CIDR range.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| entry.to_owned())
            })
            .collect()
    }

    /// `public_url` without a trailing slash, or the default derived from
    /// the listen port and app.
    pub fn effective_public_url(&self) -> String {
        if self.public_url.is_empty() {
            let port = self.listen.port();
            let app = self.app.trim_matches('/');
            if port == 1935 {
                format!("rtmp://localhost/{app}")
            } else {
                format!("rtmp://localhost:{port}/{app}")
            }
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }
}
