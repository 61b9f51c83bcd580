//! Test harness for storage, shared with other crates' tests (hence `pub`,
//! and `#[doc(hidden)]` in `lib.rs`).
//!
//! * [`S3Server`]: the S3-compatible server `scripts/test` starts (s3s-fs),
//!   from `AETHEX_TEST_S3_ENDPOINT`, `AETHEX_TEST_S3_ACCESS_KEY`,
//!   `AETHEX_TEST_S3_SECRET_KEY` and `AETHEX_TEST_S3_DATA_DIR` (where a new
//!   directory is a new bucket). When they are unset, S3 tests are skipped
//!   with a note on stderr, unless `AETHEX_TEST_REQUIRE_S3=1`, which makes
//!   that a failure: `scripts/test` sets it so CI cannot skip S3 silently.
//! * [`TestBucket`]: a fresh bucket, removed on drop.
//! * [`FaultProxy`]: a loopback proxy that can refuse or reset connections
//!   and counts HTTP requests by method and path.
//! * [`TestMedia`]: a [`Media`] on a temporary directory (`file://`) or a
//!   fresh bucket behind a `FaultProxy` (`s3://`), with its spool;
//!   [`each_backend`] runs a test on both.
//!
//! ```ignore
//! #[tokio::test]
//! async fn works_everywhere() {
//!     storage::testutil::each_backend(async |m| {
//!         m.put("lane", "a/1.ts", vec![Bytes::from_static(b"x")]).await.unwrap();
//!         assert!(m.flush("lane", Duration::from_secs(10)).await);
//!     })
//!     .await;
//! }
//! ```

mod http;
mod proxy;

use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng;

pub use http::ProxiedRequest;
pub use proxy::{FaultProxy, ProxyMode};

use crate::{Media, StorageConfig};

/// Endpoint of the S3-compatible test server (`http://127.0.0.1:PORT`).
pub const S3_ENDPOINT_ENV: &str = "AETHEX_TEST_S3_ENDPOINT";
pub const S3_ACCESS_KEY_ENV: &str = "AETHEX_TEST_S3_ACCESS_KEY";
pub const S3_SECRET_KEY_ENV: &str = "AETHEX_TEST_S3_SECRET_KEY";
/// The server's data directory: a directory made there is a bucket.
pub const S3_DATA_DIR_ENV: &str = "AETHEX_TEST_S3_DATA_DIR";
/// Optional: an endpoint serving the same data anonymously (what a public
/// bucket or CDN gives viewers).
pub const S3_PUBLIC_ENDPOINT_ENV: &str = "AETHEX_TEST_S3_PUBLIC_ENDPOINT";
/// Set to `1`: a missing S3 server fails tests instead of skipping them.
pub const REQUIRE_S3_ENV: &str = "AETHEX_TEST_REQUIRE_S3";

/// The S3-compatible server tests run against.
#[derive(Clone, Debug)]
pub struct S3Server {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub data_dir: PathBuf,
    /// From `AETHEX_TEST_S3_PUBLIC_ENDPOINT`, if set.
    pub public_endpoint: Option<String>,
}

impl S3Server {
    /// The server from the environment, or `None` (with a note on stderr)
    /// when it is not configured. Panics when it is not but
    /// `AETHEX_TEST_REQUIRE_S3=1`.
    pub fn from_env() -> Option<S3Server> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (
            var(S3_ENDPOINT_ENV),
            var(S3_ACCESS_KEY_ENV),
            var(S3_SECRET_KEY_ENV),
            var(S3_DATA_DIR_ENV),
        ) {
            (Some(endpoint), Some(access_key), Some(secret_key), Some(data_dir)) => {
                Some(S3Server {
                    endpoint,
                    access_key,
                    secret_key,
                    data_dir: data_dir.into(),
                    public_endpoint: var(S3_PUBLIC_ENDPOINT_ENV),
                })
            }
            _ => {
                if std::env::var(REQUIRE_S3_ENV).is_ok_and(|v| v == "1") {
                    panic!(
                        "{REQUIRE_S3_ENV}=1 but {S3_ENDPOINT_ENV}, {S3_ACCESS_KEY_ENV}, \
                         {S3_SECRET_KEY_ENV} and {S3_DATA_DIR_ENV} are not all set"
                    );
                }
                eprintln!(
                    "{S3_ENDPOINT_ENV} and friends are not set: skipping the S3 half of this test"
                );
                None
            }
        }
    }

    /// The server's socket address (to put a [`FaultProxy`] in front).
    pub fn addr(&self) -> SocketAddr {
        let host_port = self
            .endpoint
            .split_once("://")
            .map_or(self.endpoint.as_str(), |(_, rest)| rest)
            .trim_end_matches('/');
        host_port
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .unwrap_or_else(|| panic!("{S3_ENDPOINT_ENV}={:?} is not host:port", self.endpoint))
    }

    /// A new, empty bucket.
    pub fn fresh_bucket(&self) -> TestBucket {
        let mut random = [0u8; 6];
        rand::rng().fill(&mut random);
        let name = format!(
            "aethex-test-{}",
            random
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let dir = self.data_dir.join(&name);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("create bucket directory {}: {e}", dir.display()));
        TestBucket { name, dir }
    }

    /// Settings for a `Media` on this server (through `endpoint`, e.g. a
    /// proxy's), with fast retries.
    pub fn config(&self, endpoint: &str) -> StorageConfig {
        StorageConfig {
            s3_endpoint: endpoint.to_string(),
            s3_access_key_id: self.access_key.clone(),
            s3_secret_access_key: self.secret_key.clone(),
            ..test_config()
        }
    }
}

/// A bucket made for one test; its directory is removed on drop.
#[derive(Debug)]
pub struct TestBucket {
    pub name: String,
    /// The bucket's directory in the server's data directory.
    pub dir: PathBuf,
}

impl TestBucket {
    /// The anonymous URL of an object on `server`'s public endpoint
    /// (path style), if it has one: `{public_endpoint}/{bucket}/{key}`.
    pub fn public_url(&self, server: &S3Server, key: &str) -> Option<String> {
        let endpoint = server.public_endpoint.as_deref()?;
        Some(format!(
            "{}/{}/{}",
            endpoint.trim_end_matches('/'),
            self.name,
            key.trim_start_matches('/')
        ))
    }

    /// `s3://{name}`, or `s3://{name}/{prefix}`.
    pub fn url(&self, prefix: &str) -> String {
        if prefix.is_empty() {
            format!("s3://{}", self.name)
        } else {
            format!("s3://{}/{}", self.name, prefix.trim_matches('/'))
        }
    }
}

impl Drop for TestBucket {
    /// Removes the bucket's directory and the metadata files s3s-fs keeps
    /// beside the buckets (`.bucket-{base64url(name)}.object-...json`).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let sidecar = format!(".bucket-{}.", base64url(self.name.as_bytes()));
        if let Some(data_dir) = self.dir.parent()
            && let Ok(entries) = std::fs::read_dir(data_dir)
        {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&sidecar) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// Base64, URL-safe alphabet, no padding.
fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Default settings with retries fast enough for tests (20 ms doubling to
/// 500 ms), short request timeouts and the smallest hot cache.
pub fn test_config() -> StorageConfig {
    StorageConfig {
        retry_min_ms: 20,
        retry_max_ms: 500,
        request_timeout_ms: 5_000,
        hot_cache_mb: 16,
        ..StorageConfig::default()
    }
}

/// Which store a [`TestMedia`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    File,
    S3,
}

/// A [`Media`] for a test, with everything it stands on. Derefs to `Media`.
#[derive(Debug)]
pub struct TestMedia {
    pub media: Media,
    pub backend: Backend,
    pub config: StorageConfig,
    /// The store URL it was opened with.
    pub url: String,
    pub spool_dir: PathBuf,
    /// S3: the proxy between the media and the server.
    pub proxy: Option<FaultProxy>,
    /// S3: the bucket.
    pub bucket: Option<TestBucket>,
    _dir: tempfile::TempDir,
}

impl Deref for TestMedia {
    type Target = Media;
    fn deref(&self) -> &Media {
        &self.media
    }
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("aethex-storage-")
        .tempdir()
        .expect("create a temporary directory")
}

impl TestMedia {
    /// A `file://` store in a new temporary directory.
    pub async fn file() -> TestMedia {
        let dir = temp_dir();
        let url = url::Url::from_directory_path(dir.path().join("media"))
            .expect("temporary directories are absolute")
            .to_string();
        let spool_dir = dir.path().join("spool");
        let config = test_config();
        let media = Media::open(&config, &url, &spool_dir)
            .await
            .expect("open the file store");
        TestMedia {
            media,
            backend: Backend::File,
            config,
            url,
            spool_dir,
            proxy: None,
            bucket: None,
            _dir: dir,
        }
    }

    /// A fresh bucket on `server`, reached through a new [`FaultProxy`],
    /// with `tweak` applied to the settings.
    pub async fn s3_with(server: &S3Server, tweak: impl FnOnce(&mut StorageConfig)) -> TestMedia {
        let dir = temp_dir();
        let bucket = server.fresh_bucket();
        let proxy = FaultProxy::start(server.addr())
            .await
            .expect("start the fault proxy");
        let mut config = server.config(&proxy.endpoint());
        tweak(&mut config);
        let url = bucket.url("");
        let spool_dir = dir.path().join("spool");
        let media = Media::open(&config, &url, &spool_dir)
            .await
            .expect("open the S3 store");
        TestMedia {
            media,
            backend: Backend::S3,
            config,
            url,
            spool_dir,
            proxy: Some(proxy),
            bucket: Some(bucket),
            _dir: dir,
        }
    }

    /// [`TestMedia::s3_with`] with the test settings.
    pub async fn s3(server: &S3Server) -> TestMedia {
        TestMedia::s3_with(server, |_| {}).await
    }

    /// The proxy (panics for `file://`).
    pub fn proxy(&self) -> &FaultProxy {
        self.proxy.as_ref().expect("S3 test media have a proxy")
    }

    /// Simulates a restart: shuts the media down without waiting for
    /// uploads, then opens a new one on the same store and spool.
    pub async fn restart(&mut self) {
        self.media.shutdown(Duration::ZERO).await;
        self.media = Media::open(&self.config, &self.url, &self.spool_dir)
            .await
            .expect("reopen the store");
    }

    /// The spool's object files, sorted.
    pub fn spool_files(&self) -> Vec<PathBuf> {
        list_spool(&self.spool_dir)
    }
}

fn list_spool(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "obj"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs `test` on a `file://` store, then on a fresh S3 bucket when the
/// S3 server is configured (see the module doc).
pub async fn each_backend(mut test: impl AsyncFnMut(&TestMedia)) {
    let file = TestMedia::file().await;
    eprintln!("--- running on file://");
    test(&file).await;
    drop(file);
    if let Some(server) = S3Server::from_env() {
        let s3 = TestMedia::s3(&server).await;
        eprintln!("--- running on s3:// (s3s via a proxy)");
        test(&s3).await;
        s3.shutdown(Duration::from_secs(10)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64url_matches_s3s_fs_names() {
        assert_eq!(
            super::base64url(b"aethex-test-0250e4db4722"),
            "YWV0aGV4LXRlc3QtMDI1MGU0ZGI0NzIy"
        );
        assert_eq!(super::base64url(b"a"), "YQ");
        assert_eq!(super::base64url(b"ab"), "YWI");
        assert_eq!(super::base64url(b"\xfb\xff"), "-_8");
    }
}
