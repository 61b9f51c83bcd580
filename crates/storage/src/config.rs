//! Storage settings (the `[storage]` section of `aethex.toml`).
//!
//! A plain serde struct: the server reads it, applies environment overrides
//! and resolves the empty defaults that depend on its data directory (`url`,
//! `spool_dir`) before calling [`Media::open`](crate::Media::open).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What [`StorageConfig::redacted`] and `Debug` show instead of a secret.
pub const REDACTED: &str = "<redacted>";

/// Where media objects live and how they get there. See `config/aethex.toml`.
///
/// `Debug` hides the secret access key (and the key id); print
/// [`StorageConfig::redacted`] rather than the struct itself when showing a
/// whole configuration.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Object store URL. Default `""`: the server uses
    /// `file://{data_dir}/media`. Otherwise `file:///ABS/DIR` (local disk,
    /// every write fsynced) or `s3://BUCKET[/PREFIX]` (S3, R2, MinIO, ...;
    /// uploads go through the local spool). No credentials in the URL.
    pub url: String,
    /// Base URL under which the store's objects are publicly reachable
    /// (a CDN or a public bucket), e.g. `https://cdn.example.com/media`.
    /// Default `""`: none; playlists use relative URIs and viewers go through
    /// the origin. See [`StorageConfig::public_url`].
    pub public_base_url: String,
    /// S3 endpoint. Default `""`: AWS (`https://s3.{region}.amazonaws.com`).
    /// R2: `https://ACCOUNT_ID.r2.cloudflarestorage.com`; MinIO or s3s:
    /// `http://127.0.0.1:9000` (plain HTTP is allowed only when the endpoint
    /// says `http://`).
    pub s3_endpoint: String,
    /// S3 region for request signing. Default `"us-east-1"`; R2 wants
    /// `"auto"`. This setting wins over `AWS_REGION`.
    pub s3_region: String,
    /// Path-style requests (`ENDPOINT/BUCKET/KEY`) rather than
    /// virtual-hosted ones (`BUCKET.ENDPOINT/KEY`). Default `true`: MinIO,
    /// s3s and most self-hosted servers need it, and AWS and R2 accept it.
    /// Set `false` for virtual-hosted style, which AWS recommends.
    pub s3_path_style: bool,
    /// S3 access key id. Default `""`: credentials come from the usual AWS
    /// environment (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
    /// `AWS_SESSION_TOKEN`, web identity, container or instance metadata).
    /// Set together with `s3_secret_access_key`.
    pub s3_access_key_id: String,
    /// S3 secret access key (a secret: never logged). Default `""`: see
    /// `s3_access_key_id`.
    pub s3_secret_access_key: String,
    /// Remote stores: uploads that may run at once. Objects of one lane
    /// (e.g. one rendition) go one at a time, in order; lanes run in
    /// parallel up to this. Default 8.
    pub upload_concurrency: usize,
    /// Remote stores: memory that queued uploads may keep, in MiB. Past it,
    /// a queued object is kept only in the spool file and read back when
    /// its turn comes, so a long outage costs disk, not memory. Default 256.
    pub upload_queue_memory_mb: usize,
    /// Remote stores: first delay before retrying a failed upload, in
    /// milliseconds; it doubles (with jitter) up to `retry_max_ms`, and
    /// uploads are retried until the store takes them. Default 100.
    pub retry_min_ms: u64,
    /// Remote stores: longest delay between two attempts of one upload, in
    /// milliseconds. Default 5000.
    pub retry_max_ms: u64,
    /// Remote stores: timeout of one HTTP request to the store, in
    /// milliseconds (a failed attempt is retried). Default 30000.
    pub request_timeout_ms: u64,
    /// Remote stores: directory where objects wait, durably, for their
    /// upload. Default `""`: the server uses `{data_dir}/spool`. Objects
    /// left there by a crash or an outage are uploaded on the next start.
    pub spool_dir: String,
    /// Memory for recent segments and parts of live streams, which the
    /// origin serves without reading the store, in MiB. Default 256.
    pub hot_cache_mb: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: String::new(),
            public_base_url: String::new(),
            s3_endpoint: String::new(),
            s3_region: "us-east-1".to_string(),
            s3_path_style: true,
            s3_access_key_id: String::new(),
            s3_secret_access_key: String::new(),
            upload_concurrency: 8,
            upload_queue_memory_mb: 256,
            retry_min_ms: 100,
            retry_max_ms: 5_000,
            request_timeout_ms: 30_000,
            spool_dir: String::new(),
            hot_cache_mb: 256,
        }
    }
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.redacted();
        f.debug_struct("StorageConfig")
            .field("url", &r.url)
            .field("public_base_url", &r.public_base_url)
            .field("s3_endpoint", &r.s3_endpoint)
            .field("s3_region", &r.s3_region)
            .field("s3_path_style", &r.s3_path_style)
            .field("s3_access_key_id", &r.s3_access_key_id)
            .field("s3_secret_access_key", &r.s3_secret_access_key)
            .field("upload_concurrency", &r.upload_concurrency)
            .field("upload_queue_memory_mb", &r.upload_queue_memory_mb)
            .field("retry_min_ms", &r.retry_min_ms)
            .field("retry_max_ms", &r.retry_max_ms)
            .field("request_timeout_ms", &r.request_timeout_ms)
            .field("spool_dir", &r.spool_dir)
            .field("hot_cache_mb", &r.hot_cache_mb)
            .finish()
    }
}

impl StorageConfig {
    /// A copy safe to print or serialize: credentials replaced by
    /// [`REDACTED`] (when set), and any `user:password@` in URLs removed.
    pub fn redacted(&self) -> StorageConfig {
        let hide = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                REDACTED.to_string()
            }
        };
        StorageConfig {
            url: redact_url(&self.url),
            public_base_url: redact_url(&self.public_base_url),
            s3_endpoint: redact_url(&self.s3_endpoint),
            s3_access_key_id: hide(&self.s3_access_key_id),
            s3_secret_access_key: hide(&self.s3_secret_access_key),
            ..self.clone()
        }
    }

    /// Checks values a TOML file or environment could get wrong. Messages
    /// name the field (`storage.…`).
    pub fn validate(&self) -> Result<(), String> {
        if !self.url.is_empty() {
            check_store_url(&self.url).map_err(|e| format!("storage.url: {e}"))?;
        }
        if !self.public_base_url.is_empty() {
            let parsed = url::Url::parse(&self.public_base_url)
                .map_err(|e| format!("storage.public_base_url: not a URL ({e})"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!(
                    "storage.public_base_url must be an http:// or https:// URL, not {:?}",
                    redact_url(&self.public_base_url)
                ));
            }
            if parsed.query().is_some() || parsed.fragment().is_some() {
                return Err("storage.public_base_url must not have a query or fragment".into());
            }
        }
        if !self.s3_endpoint.is_empty() {
            let parsed = url::Url::parse(&self.s3_endpoint)
                .map_err(|e| format!("storage.s3_endpoint: not a URL ({e})"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(format!(
                    "storage.s3_endpoint must be an http:// or https:// URL with a host, not {:?}",
                    redact_url(&self.s3_endpoint)
                ));
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err("storage.s3_endpoint must not contain credentials; use \
                     storage.s3_access_key_id and storage.s3_secret_access_key"
                    .into());
            }
            if parsed.path() != "/" || parsed.query().is_some() {
                return Err(format!(
                    "storage.s3_endpoint must be scheme://host[:port] without a path \
                     (the bucket goes in storage.url), not {:?}",
                    self.s3_endpoint
                ));
            }
        }
        if self.s3_region.trim().is_empty() {
            return Err("storage.s3_region must not be empty (R2: \"auto\")".into());
        }
        if self.s3_access_key_id.is_empty() != self.s3_secret_access_key.is_empty() {
            return Err(
                "storage.s3_access_key_id and storage.s3_secret_access_key must be \
                 set together (or both left empty to use the AWS environment)"
                    .into(),
            );
        }
        if !(1..=256).contains(&self.upload_concurrency) {
            return Err(format!(
                "storage.upload_concurrency must be between 1 and 256, not {}",
                self.upload_concurrency
            ));
        }
        if self.upload_queue_memory_mb > 1 << 20 {
            return Err(format!(
                "storage.upload_queue_memory_mb must be at most 1048576, not {}",
                self.upload_queue_memory_mb
            ));
        }
        if !(1..=60_000).contains(&self.retry_min_ms) {
            return Err(format!(
                "storage.retry_min_ms must be between 1 and 60000, not {}",
                self.retry_min_ms
            ));
        }
        if self.retry_max_ms < self.retry_min_ms || self.retry_max_ms > 600_000 {
            return Err(format!(
                "storage.retry_max_ms must be between storage.retry_min_ms ({}) and 600000, not {}",
                self.retry_min_ms, self.retry_max_ms
            ));
        }
        if !(100..=600_000).contains(&self.request_timeout_ms) {
            return Err(format!(
                "storage.request_timeout_ms must be between 100 and 600000, not {}",
                self.request_timeout_ms
            ));
        }
        if self.hot_cache_mb < 16 || self.hot_cache_mb > 1 << 20 {
            return Err(format!(
                "storage.hot_cache_mb must be between 16 and 1048576, not {}",
                self.hot_cache_mb
            ));
        }
        Ok(())
    }

    /// The absolute URL of an object under `public_base_url`, if one is set
    /// (`https://cdn.example.com/media` + `live/x/master.m3u8`).
    pub fn public_url(&self, key: &str) -> Option<String> {
        if self.public_base_url.is_empty() {
            return None;
        }
        Some(format!(
            "{}/{}",
            self.public_base_url.trim_end_matches('/'),
            key.trim_start_matches('/')
        ))
    }

    /// Capacity of the hot cache in bytes.
    pub fn hot_cache_bytes(&self) -> usize {
        self.hot_cache_mb.saturating_mul(1 << 20)
    }

    pub(crate) fn queue_memory_bytes(&self) -> u64 {
        (self.upload_queue_memory_mb as u64).saturating_mul(1 << 20)
    }

    pub(crate) fn retry_min(&self) -> Duration {
        Duration::from_millis(self.retry_min_ms.max(1))
    }

    pub(crate) fn retry_max(&self) -> Duration {
        Duration::from_millis(self.retry_max_ms.max(self.retry_min_ms).max(1))
    }
}

/// The kind of store a URL names, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StoreUrl {
    File(std::path::PathBuf),
    S3 { bucket: String, prefix: String },
}

/// Parses and checks a store URL; the message does not repeat the URL's
/// credentials (there must be none).
pub(crate) fn check_store_url(url: &str) -> Result<StoreUrl, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{:?} is not a URL ({e})", url))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "credentials do not belong in the storage URL; use storage.s3_access_key_id and \
             storage.s3_secret_access_key (or the AWS environment)"
                .into(),
        );
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("{url:?} must not have a query or fragment"));
    }
    match parsed.scheme() {
        "file" => {
            if parsed
                .host_str()
                .is_some_and(|h| !h.is_empty() && h != "localhost")
            {
                return Err(format!(
                    "{url:?}: file URLs name a local path (file:///ABS/DIR)"
                ));
            }
            let dir = parsed
                .to_file_path()
                .map_err(|_| format!("{url:?} is not an absolute file path"))?;
            Ok(StoreUrl::File(dir))
        }
        "s3" => {
            let bucket = parsed.host_str().unwrap_or_default().to_string();
            if !is_valid_bucket(&bucket) {
                return Err(format!(
                    "{url:?}: {bucket:?} is not a valid bucket name (3-63 of a-z 0-9 . -)"
                ));
            }
            if parsed.port().is_some() {
                return Err(format!(
                    "{url:?}: s3:// URLs name a bucket, not a host; put the server in \
                     storage.s3_endpoint"
                ));
            }
            let raw_prefix = parsed.path().trim_matches('/');
            let prefix = if raw_prefix.is_empty() {
                String::new()
            } else {
                match object_store::path::Path::from_url_path(raw_prefix) {
                    Ok(p) => p.as_ref().to_string(),
                    Err(_) => return Err(format!("{url:?}: invalid key prefix {raw_prefix:?}")),
                }
            };
            Ok(StoreUrl::S3 { bucket, prefix })
        }
        other => Err(format!(
            "unsupported scheme {other:?} in {url:?} (supported: file://, s3://)"
        )),
    }
}

/// S3 bucket naming rules (the subset every provider accepts).
fn is_valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

/// Removes `user:password@` from a URL (leaves anything unparsable alone:
/// it is not a URL that could carry credentials in that form).
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let c = StorageConfig::default();
        c.validate().unwrap();
        assert_eq!(c.s3_region, "us-east-1");
        assert!(c.s3_path_style);
        assert_eq!(c.upload_concurrency, 8);
        assert_eq!(c.hot_cache_mb, 256);
        assert_eq!(c.hot_cache_bytes(), 256 << 20);
    }

    #[test]
    fn parses_a_section_and_rejects_unknown_fields() {
        let c: StorageConfig = toml::from_str(
            "url = \"s3://media/live\"\ns3_endpoint = \"http://127.0.0.1:9000\"\nupload_concurrency = 4\n",
        )
        .unwrap();
        assert_eq!(c.url, "s3://media/live");
        assert_eq!(c.upload_concurrency, 4);
        assert_eq!(c.retry_max_ms, 5_000);
        c.validate().unwrap();
        let err = toml::from_str::<StorageConfig>("s3_bucket = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("s3_bucket"), "{err}");
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |f: fn(&mut StorageConfig), field: &str| {
            let mut c = StorageConfig::default();
            f(&mut c);
            let err = c.validate().unwrap_err();
            assert!(err.contains(field), "{field}: {err}");
        };
        bad(|c| c.url = "ftp://x/y".into(), "storage.url");
        bad(|c| c.url = "s3://Bad_Bucket".into(), "storage.url");
        bad(|c| c.url = "s3://key:secret@bucket".into(), "storage.url");
        bad(|c| c.url = "file://relative".into(), "storage.url");
        bad(
            |c| c.public_base_url = "ftp://cdn".into(),
            "storage.public_base_url",
        );
        bad(
            |c| c.s3_endpoint = "127.0.0.1:9000".into(),
            "storage.s3_endpoint",
        );
        bad(
            |c| c.s3_endpoint = "http://h:1/bucket".into(),
            "storage.s3_endpoint",
        );
        bad(|c| c.s3_region = " ".into(), "storage.s3_region");
        bad(
            |c| c.s3_access_key_id = "k".into(),
            "storage.s3_access_key_id",
        );
        bad(|c| c.upload_concurrency = 0, "storage.upload_concurrency");
        bad(|c| c.retry_min_ms = 0, "storage.retry_min_ms");
        bad(|c| c.retry_max_ms = 10, "storage.retry_max_ms");
        bad(|c| c.request_timeout_ms = 1, "storage.request_timeout_ms");
        bad(|c| c.hot_cache_mb = 1, "storage.hot_cache_mb");
    }

    #[test]
    fn store_urls() {
        assert_eq!(
            check_store_url("s3://media").unwrap(),
            StoreUrl::S3 {
                bucket: "media".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            check_store_url("s3://media/a/b/").unwrap(),
            StoreUrl::S3 {
                bucket: "media".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            check_store_url("file:///srv/media").unwrap(),
            StoreUrl::File("/srv/media".into())
        );
        assert!(check_store_url("s3://media/a//b").is_err());
        assert!(check_store_url("s3://bucket:9000/x").is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        let c = StorageConfig {
            s3_access_key_id: "AKIAEXAMPLE".into(),
            s3_secret_access_key: "very-secret".into(),
            s3_endpoint: "https://user:pw@example.com".into(),
            ..StorageConfig::default()
        };
        let debug = format!("{c:?}");
        assert!(!debug.contains("very-secret") && !debug.contains("AKIAEXAMPLE"));
        assert!(!debug.contains("pw@"), "{debug}");
        let shown = toml::to_string(&c.redacted()).unwrap();
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains(REDACTED));
        // Empty secrets stay empty, so the output shows they are unset.
        assert_eq!(StorageConfig::default().redacted().s3_secret_access_key, "");
    }

    #[test]
    fn public_urls() {
        let mut c = StorageConfig::default();
        assert_eq!(c.public_url("live/x/master.m3u8"), None);
        c.public_base_url = "https://cdn.example.com/media/".into();
        assert_eq!(
            c.public_url("live/x/master.m3u8").as_deref(),
            Some("https://cdn.example.com/media/live/x/master.m3u8")
        );
    }
}
