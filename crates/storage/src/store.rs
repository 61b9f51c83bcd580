//! [`Store`]: put/get/delete/list of whole objects over `object_store`, on
//! the local filesystem or S3 (AWS, R2, MinIO, s3s...).
//!
//! A `Store` call is one request (object_store retries transient errors a
//! couple of times inside it); it does not queue or spool. The server goes
//! through [`Media`](crate::Media), which adds the spool and the upload
//! queue in front of remote stores.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientConfigKey, GetOptions, GetRange, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, RetryConfig, WriteMultipart,
};

use crate::config::{StorageConfig, StoreUrl, check_store_url, redact_url};
use crate::{Error, Result, keys};

/// Longest key accepted (S3's limit, in bytes).
pub const MAX_KEY_BYTES: usize = 1024;

/// Part size of [`Store::put_file`]: above S3's 5 MiB minimum.
pub const FILE_PART_BYTES: usize = 8 << 20;
/// Parts of one [`Store::put_file`] uploading at once.
const FILE_PARTS_IN_FLIGHT: usize = 2;

/// An object being read ([`Store::get_stream`]): its length, the byte
/// range the body holds, and the body in chunks.
pub struct ObjectStream {
    /// The whole object's length.
    pub total: u64,
    /// What `body` holds (`0..total` for the whole object).
    pub range: Range<u64>,
    pub body: futures::stream::BoxStream<'static, Result<Bytes>>,
}

impl ObjectStream {
    /// No body: a range past the end of an object of `total` bytes.
    fn empty(total: u64) -> ObjectStream {
        ObjectStream {
            total,
            range: total..total,
            body: futures::stream::empty().boxed(),
        }
    }

    /// Bytes already in memory (a pending upload, a cached segment).
    pub fn from_bytes(bytes: Bytes, range: Range<u64>, total: u64) -> ObjectStream {
        ObjectStream {
            total,
            range,
            body: futures::stream::once(async move { Ok(bytes) }).boxed(),
        }
    }

    /// Whether the body is empty (a range past the end).
    pub fn is_empty(&self) -> bool {
        self.range.start >= self.range.end
    }
}

impl std::fmt::Debug for ObjectStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStream")
            .field("total", &self.total)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// What a local store has besides its `object_store` handle.
struct Local {
    /// The same directory without fsync, for objects that are rewritten
    /// often and rebuilt after a crash ([`Store::put_volatile`]).
    volatile: LocalFileSystem,
    /// The directory (for [`Store::get_mapped`]).
    root: std::path::PathBuf,
}

/// A handle to the configured object store. Cheap to clone. `Debug` shows
/// the URL only (not the client and its credentials).
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// Local stores only (`None` for remote ones).
    local: Option<Arc<Local>>,
    /// The URL it was opened from, for logs (never contains credentials:
    /// URLs with any are refused).
    url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.url)
            .field("remote", &self.is_remote())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a store from a URL with default settings: `file:///ABS/DIR`
    /// (created if missing), or `s3://BUCKET[/PREFIX]` with credentials and
    /// endpoint from the AWS environment.
    pub fn open(url: &str) -> Result<Store> {
        Store::open_with(url, &StorageConfig::default())
    }

    /// Opens a store from a URL and the `s3_*` and timeout settings of
    /// `config` (its `url` field is ignored: the caller resolved `url`).
    pub fn open_with(url: &str, config: &StorageConfig) -> Result<Store> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: redact_url(url),
            reason,
        };
        match check_store_url(url).map_err(invalid)? {
            StoreUrl::File(dir) => {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| invalid(format!("cannot create {}: {e}", dir.display())))?;
                let fs = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| invalid(e.to_string()))?
                    .with_fsync(true)
                    .with_automatic_cleanup(true);
                let volatile = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| invalid(e.to_string()))?
                    .with_automatic_cleanup(true);
                Ok(Store {
                    inner: Arc::new(fs),
                    local: Some(Arc::new(Local {
                        volatile,
                        root: dir.clone(),
                    })),
                    url: url.to_string(),
                })
            }
            StoreUrl::S3 { bucket, prefix } => {
                config
                    .validate()
                    .map_err(|e| invalid(format!("bad settings: {e}")))?;
                let s3 = s3_builder(&bucket, config)
                    .build()
                    .map_err(|e| invalid(e.to_string()))?;
                let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                };
                Ok(Store {
                    inner,
                    local: None,
                    url: url.to_string(),
                })
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// True for S3-like stores (writes cross a network; [`Media`](crate::Media)
    /// spools them), false for the local filesystem.
    pub fn is_remote(&self) -> bool {
        self.local.is_none()
    }

    /// Checks a key to write or read: it must be in canonical form (no leading, trailing or doubled `/`, no `.`/`..`
    /// components, no control characters), at most [`MAX_KEY_BYTES`], and
    /// not end in `#` + digits (the local store reserves those names).
    pub fn check_key(key: &str) -> Result<()> {
        Self::key_path(key).map(|_| ())
    }

    /// The object_store path of a key ([`Store::check_key`]'s rules).
    pub(crate) fn key_path(key: &str) -> Result<Path> {
        let invalid = || Error::InvalidKey(key.to_string());
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(invalid());
        }
        let path = Path::parse(key).map_err(|_| invalid())?;
        if path.as_ref() != key {
            return Err(invalid());
        }
        let file_name = key.rsplit('/').next().unwrap_or(key);
        if let Some((_, tail)) = file_name.rsplit_once('#')
            && !tail.is_empty()
            && tail.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(invalid());
        }
        Ok(path)
    }

    /// The path of a prefix (`""` is everything; a trailing `/` is allowed).
    /// Prefixes match whole components: `live/a` covers `live/a/1.ts`, not
    /// `live/ab/1.ts`.
    pub(crate) fn prefix_path(prefix: &str) -> Result<Path> {
        Path::parse(prefix).map_err(|_| Error::InvalidKey(prefix.to_string()))
    }

    /// Writes an object from its parts (no concatenation). Returns once the
    /// object is durable (local files are fsynced, file and directory; S3
    /// has confirmed the PUT).
    pub async fn put(&self, key: &str, parts: impl IntoIterator<Item = Bytes>) -> Result<()> {
        self.put_payload(key, parts.into_iter().collect()).await
    }

    /// Writes an object that is rewritten often and can be rebuilt after a
    /// crash (a live media playlist: recovery works from the segment index
    /// and the master). Local files are written to a temporary name and
    /// renamed into place like every object (a reader never sees a partial
    /// one) but not fsynced: that cost two flushes per segment and
    /// rendition. Remote stores: the same as [`Store::put`].
    pub async fn put_volatile(
        &self,
        key: &str,
        parts: impl IntoIterator<Item = Bytes>,
    ) -> Result<()> {
        let Some(local) = &self.local else {
            return self.put(key, parts).await;
        };
        let path = Self::key_path(key)?;
        let payload: PutPayload = parts.into_iter().collect();
        local
            .volatile
            .put(&path, payload)
            .await
            .map(|_| ())
            .map_err(|source| Error::Backend {
                key: key.to_string(),
                source,
            })
    }

    /// A local object's bytes mapped from the page cache (`mmap`, pages
    /// loaded up front), for serving an immutable object (a segment) many
    /// times without reading it into the heap: clones of the `Bytes` share
    /// the one mapping, and the pages are the page cache's. `Ok(None)` if
    /// it does not exist, or is larger than `max_len` (a big file is
    /// better streamed: mapping loads every page), or on a remote store,
    /// or for a key whose file name the local store would encode (not one
    /// of ours).
    ///
    /// Only for objects that are never rewritten in place: every write to
    /// the store goes to a temporary file that is then renamed over the
    /// name, and a deleted file stays mapped until the last clone is
    /// dropped, so a mapping never changes or shrinks under its readers.
    /// Blocks on the file system: call from a blocking context.
    pub fn get_mapped(&self, key: &str, max_len: u64) -> Result<Option<Bytes>> {
        let Some(local) = &self.local else {
            return Ok(None);
        };
        Self::key_path(key)?;
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
        {
            return Ok(None);
        }
        let path = local.root.join(key);
        let backend = |source: std::io::Error| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        let len = file.metadata().map_err(backend)?.len();
        if len == 0 || len > max_len {
            return Ok((len == 0).then(Bytes::new));
        }
        // SAFETY: the file is never modified in place (see above), so the
        // mapped bytes stay what they were when mapped.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(backend)?;
        Ok(Some(Bytes::from_owner(map)))
    }

    pub(crate) async fn put_payload(&self, key: &str, payload: PutPayload) -> Result<()> {
        let path = Self::key_path(key)?;
        let result = if self.is_remote() {
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::ContentType, keys::content_type(key).into());
            attributes.insert(Attribute::CacheControl, keys::cache_control(key).into());
            let opts = PutOptions {
                attributes,
                ..PutOptions::default()
            };
            self.inner.put_opts(&path, payload, opts).await
        } else {
            self.inner.put(&path, payload).await
        };
        result.map(|_| ()).map_err(|source| Error::Backend {
            key: key.to_string(),
            source,
        })
    }

    /// Reads a whole object; `None` if it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let backend = |source| Error::Backend {
            key: key.to_string(),
            source,
        };
        match self.inner.get(&Self::key_path(key)?).await {
            Ok(r) => r.bytes().await.map(Some).map_err(backend),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// Reads `range` of an object (clamped to its end) and its total length;
    /// `None` if it does not exist. A range starting at or past the end
    /// gives empty bytes (the caller answers 416 with the length).
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Option<(Bytes, u64)>> {
        let path = Self::key_path(key)?;
        let backend = |source| Error::Backend {
            key: key.to_string(),
            source,
        };
        if range.start >= range.end {
            return match self.inner.head(&path).await {
                Ok(meta) => Ok(Some((Bytes::new(), meta.size))),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(backend(e)),
            };
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        match self.inner.get_opts(&path, opts).await {
            Ok(r) => {
                let total = r.meta.size;
                r.bytes().await.map(|b| Some((b, total))).map_err(backend)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            // Stores disagree on how to say "range past the end" (S3: 416,
            // local: an invalid-range error); the length settles it.
            Err(e) => match self.inner.head(&path).await {
                Ok(meta) if range.start >= meta.size => Ok(Some((Bytes::new(), meta.size))),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                _ => Err(backend(e)),
            },
        }
    }

    /// Opens an object for reading in chunks as they arrive (the whole
    /// object, or `range` clamped to its end): a large object (an exported
    /// MP4) is never held in memory, and a slow reader holds back the
    /// store's stream rather than buffering. `None` if it does not exist;
    /// a range starting at or past the end gives an empty body (the caller
    /// answers 416 with the length).
    pub async fn get_stream(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<ObjectStream>> {
        let path = Self::key_path(key)?;
        let backend = |source| Error::Backend {
            key: key.to_string(),
            source,
        };
        let head = || async {
            match self.inner.head(&path).await {
                Ok(meta) => Ok(Some(ObjectStream::empty(meta.size))),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(backend(e)),
            }
        };
        if range.as_ref().is_some_and(|r| r.start >= r.end) {
            return head().await;
        }
        let opts = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            ..GetOptions::default()
        };
        match self.inner.get_opts(&path, opts).await {
            Ok(r) => {
                let total = r.meta.size;
                let served = r.range.clone();
                let key = key.to_string();
                let body = r
                    .into_stream()
                    .map_err(move |source| Error::Backend {
                        key: key.clone(),
                        source,
                    })
                    .boxed();
                Ok(Some(ObjectStream {
                    total,
                    range: served,
                    body,
                }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            // As in get_range: a range past the end is told by the length.
            Err(e) => match (&range, self.inner.head(&path).await) {
                (Some(r), Ok(meta)) if r.start >= meta.size => {
                    Ok(Some(ObjectStream::empty(meta.size)))
                }
                (_, Err(object_store::Error::NotFound { .. })) => Ok(None),
                _ => Err(backend(e)),
            },
        }
    }

    /// Writes an object from a local file in parts (a multipart upload on
    /// S3, a staged file renamed into place on disk), reading
    /// [`FILE_PART_BYTES`] at a time: memory stays at a few parts
    /// whatever the file's size. Returns once the object is durable; on
    /// failure the partial upload is aborted.
    pub async fn put_file(&self, key: &str, file: &std::path::Path) -> Result<u64> {
        use tokio::io::AsyncReadExt;
        let path = Self::key_path(key)?;
        let backend = |source| Error::Backend {
            key: key.to_string(),
            source,
        };
        let io = |e: std::io::Error| Error::Io {
            path: file.display().to_string(),
            source: e,
        };
        let mut opts = PutMultipartOptions::default();
        if self.is_remote() {
            opts.attributes
                .insert(Attribute::ContentType, keys::content_type(key).into());
            opts.attributes
                .insert(Attribute::CacheControl, keys::cache_control(key).into());
        }
        let mut reader = tokio::fs::File::open(file).await.map_err(io)?;
        let upload = self
            .inner
            .put_multipart_opts(&path, opts)
            .await
            .map_err(backend)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, FILE_PART_BYTES);
        let mut written = 0u64;
        let result: Result<()> = async {
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = reader.read(&mut buf).await.map_err(io)?;
                if n == 0 {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(FILE_PARTS_IN_FLIGHT)
                    .await
                    .map_err(backend)?;
                writer.write(&buf[..n]);
                written += n as u64;
            }
        }
        .await;
        match result {
            Ok(()) => {
                writer.finish().await.map_err(backend)?;
                Ok(written)
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// Deletes an object; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.inner.delete(&Self::key_path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(Error::Backend {
                key: key.to_string(),
                source,
            }),
        }
    }

    /// Deletes every object under `prefix` (bulk deletes where the store
    /// has them); returns how many were deleted.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        self.delete_prefix_keys(prefix).await.map(|keys| keys.len())
    }

    /// [`Store::delete_prefix`], returning the deleted keys.
    pub(crate) async fn delete_prefix_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let backend = |source| Error::Backend {
            key: prefix.to_string(),
            source,
        };
        let prefix_path = Self::prefix_path(prefix)?;
        let locations: Vec<Path> = self
            .inner
            .list(Some(&prefix_path))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(backend)?;
        let keys = locations.iter().map(|p| p.to_string()).collect();
        let mut deleted = self
            .inner
            .delete_stream(futures::stream::iter(locations.into_iter().map(Ok)).boxed());
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(backend(e)),
            }
        }
        Ok(keys)
    }

    /// Keys of every object under `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys: Vec<String> = self
            .inner
            .list(Some(&Self::prefix_path(prefix)?))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .map_err(|source| Error::Backend {
                key: prefix.to_string(),
                source,
            })?;
        keys.sort();
        Ok(keys)
    }
}

/// The S3 client: endpoint, region, addressing style, credentials (from the
/// config, else the AWS environment), and short object_store-level retries
/// (the upload queue retries forever on top; reads fail fast so a viewer's
/// request is not held for minutes).
fn s3_builder(bucket: &str, config: &StorageConfig) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_region(config.s3_region.trim())
        .with_virtual_hosted_style_request(!config.s3_path_style);
    if !config.s3_endpoint.is_empty() {
        let endpoint = config.s3_endpoint.trim_end_matches('/');
        let endpoint = if config.s3_path_style {
            endpoint.to_string()
        } else {
            // object_store expects a virtual-hosted endpoint to name the
            // bucket already.
            match endpoint.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{bucket}.{host}"),
                None => endpoint.to_string(),
            }
        };
        builder = builder.with_endpoint(endpoint);
        if config.s3_endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
    }
    if !config.s3_access_key_id.is_empty() {
        builder = builder
            .with_access_key_id(&config.s3_access_key_id)
            .with_secret_access_key(&config.s3_secret_access_key);
    }
    // Through `with_config`, so client options from the environment (a
    // proxy, AWS_ALLOW_HTTP) survive.
    let timeout = Duration::from_millis(config.request_timeout_ms);
    let connect_timeout = timeout.min(Duration::from_secs(5));
    let client = |key| AmazonS3ConfigKey::Client(key);
    builder
        .with_config(
            client(ClientConfigKey::Timeout),
            format!("{}ms", timeout.as_millis()),
        )
        .with_config(
            client(ClientConfigKey::ConnectTimeout),
            format!("{}ms", connect_timeout.as_millis()),
        )
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: config.retry_min(),
                max_backoff: config.retry_max().min(Duration::from_secs(1)),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: timeout,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path().join("media")).unwrap();
        let store = Store::open(url.as_str()).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn file_store_round_trip() {
        let (dir, store) = file_store();
        assert!(!store.is_remote());
        let key = "live/ls1/source/0.ts";
        assert_eq!(store.get(key).await.unwrap(), None);
        store
            .put(key, [Bytes::from_static(b"ab"), Bytes::from_static(b"cd")])
            .await
            .unwrap();
        assert_eq!(store.get(key).await.unwrap().as_deref(), Some(&b"abcd"[..]));
        assert!(dir.path().join("media/live/ls1/source/0.ts").is_file());
        assert_eq!(store.list("live/ls1").await.unwrap(), vec![key.to_string()]);
        store.delete(key).await.unwrap();
        store.delete(key).await.unwrap();
        assert_eq!(store.get(key).await.unwrap(), None);
    }

    #[tokio::test]
    async fn ranges_and_prefix_deletes() {
        let (_dir, store) = file_store();
        store
            .put("a/1.ts", [Bytes::from_static(b"0123456789")])
            .await
            .unwrap();
        store
            .put("a/2.ts", [Bytes::from_static(b"x")])
            .await
            .unwrap();
        store
            .put("ab/1.ts", [Bytes::from_static(b"y")])
            .await
            .unwrap();
        let range = |r: Range<u64>| {
            let store = store.clone();
            async move { store.get_range("a/1.ts", r).await.unwrap() }
        };
        assert_eq!(range(2..5).await, Some((Bytes::from_static(b"234"), 10)));
        assert_eq!(range(8..50).await, Some((Bytes::from_static(b"89"), 10)));
        assert_eq!(range(10..12).await, Some((Bytes::new(), 10)));
        assert_eq!(range(3..3).await, Some((Bytes::new(), 10)));
        assert_eq!(store.get_range("a/none", 0..1).await.unwrap(), None);
        assert_eq!(store.delete_prefix("a").await.unwrap(), 2);
        assert_eq!(store.list("").await.unwrap(), vec!["ab/1.ts".to_string()]);
        assert_eq!(store.delete_prefix("nothing/here").await.unwrap(), 0);
    }

    #[test]
    fn key_checks() {
        for good in [
            "a",
            "live/x/1.ts",
            "a b/ü€.ts",
            "q?x=1&y",
            "100%",
            "a#b",
            "x#1y",
        ] {
            assert!(Store::check_key(good).is_ok(), "{good:?}");
        }
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        for bad in [
            "",
            "/",
            "/a",
            "a/",
            "a//b",
            "../x",
            "a/./b",
            "a/..",
            "a\nb",
            "a\0",
            "x#12",
            long.as_str(),
        ] {
            assert!(
                matches!(Store::check_key(bad), Err(Error::InvalidKey(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_unknown_schemes() {
        let err = Store::open("ftp://example.com/x").unwrap_err();
        assert!(err.to_string().contains("unsupported scheme"), "{err}");
        assert!(Store::open("not a url").is_err());
    }

    #[test]
    fn opens_s3_urls_without_network() {
        let config = StorageConfig {
            s3_endpoint: "http://127.0.0.1:9".into(),
            s3_access_key_id: "AKIDTEST".into(),
            s3_secret_access_key: "SECRETTEST".into(),
            ..StorageConfig::default()
        };
        let store = Store::open_with("s3://media/some/prefix", &config).unwrap();
        assert!(store.is_remote());
        let debug = format!("{store:?}");
        assert!(
            !debug.contains("AKIDTEST") && !debug.contains("SECRETTEST"),
            "{debug}"
        );
        assert_eq!(store.url(), "s3://media/some/prefix");
        let err = Store::open_with("s3://k:s@media", &config).unwrap_err();
        assert!(!err.to_string().contains("k:s"), "{err}");
    }
}
