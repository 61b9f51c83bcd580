//! [`Media`]: the one handle the server stores media through.
//!
//! * `file://` stores: a put writes the object (fsynced, file and
//!   directory) and returns; lanes and flushes are no-ops.
//! * `s3://` stores: a put writes the object to the local spool (fsynced,
//!   atomic rename) and returns; the upload queue (see `queue.rs`) uploads
//!   it in the background, in order within its lane, retrying for as long
//!   as the store fails. Reads see pending objects (from memory or the
//!   spool) before the store, so the origin serves what was put even while
//!   the store is unreachable.
//!
//! Lanes are how callers keep a bucket consistent for viewers who read it
//! directly (through a CDN): put a segment, then the playlist that lists
//! it, in the same lane (e.g. `live/{id}/{rendition}`), and the playlist
//! never reaches the bucket before the segment. Each key should stay in one
//! lane.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::config::StorageConfig;
use crate::queue::{Uploader, is_under};
use crate::stats::{Counters, StorageStats};
use crate::{Error, HotCache, ObjectStream, Result, Store};

/// The media store: objects in the configured store (with the spool and
/// upload queue in front of remote ones) and the hot cache. Cheap to clone;
/// needs a tokio runtime. Dropping the last clone stops the uploads (what
/// is left stays in the spool); prefer [`Media::shutdown`].
#[derive(Clone)]
pub struct Media {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Remote stores only.
    uploader: Option<Arc<Uploader>>,
    cache: Arc<HotCache>,
    counters: Arc<Counters>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(uploader) = &self.uploader {
            uploader.stop();
        }
    }
}

impl fmt::Debug for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Media")
            .field("url", &self.url())
            .field("remote", &self.is_remote())
            .finish_non_exhaustive()
    }
}

impl Media {
    /// Opens the store at `url` (`file:///ABS/DIR` or `s3://BUCKET[/PREFIX]`,
    /// resolved by the caller from `config.url`) with `config`'s other
    /// settings. Remote stores spool in `spool_dir` (created; one process at
    /// a time) and start uploading whatever a previous run left there.
    pub async fn open(config: &StorageConfig, url: &str, spool_dir: &Path) -> Result<Media> {
        config.validate().map_err(Error::InvalidConfig)?;
        let store = Store::open_with(url, config)?;
        let counters = Arc::new(Counters::default());
        let uploader = if store.is_remote() {
            Some(Uploader::open(store.clone(), config, spool_dir, counters.clone()).await?)
        } else {
            None
        };
        Ok(Media {
            inner: Arc::new(Inner {
                store,
                uploader,
                cache: Arc::new(HotCache::new(config.hot_cache_bytes())),
                counters,
            }),
        })
    }

    /// Opens the store for maintenance beside a running server (which holds
    /// the spool): no spool and no upload queue, so puts go to the store
    /// at once and the server's pending uploads are neither seen nor
    /// cancelled. For the CLI's `storage sweep`, `vod delete` and the like.
    pub async fn open_direct(config: &StorageConfig, url: &str) -> Result<Media> {
        config.validate().map_err(Error::InvalidConfig)?;
        let store = Store::open_with(url, config)?;
        Ok(Media {
            inner: Arc::new(Inner {
                store,
                uploader: None,
                cache: Arc::new(HotCache::new(0)),
                counters: Arc::new(Counters::default()),
            }),
        })
    }

    /// Makes an object durable, then (remote stores) uploads it in the
    /// background.
    ///
    /// `file://`: writes it (fsync) and returns. `s3://`: writes it to the
    /// spool (fsync, atomic rename) and returns; a worker uploads it after
    /// the objects put to the same `lane` before it (one at a time per
    /// lane, lanes in parallel up to `upload_concurrency`), retrying with
    /// exponential backoff and jitter while the store fails; the spool file
    /// is deleted once the store confirmed the PUT. A queued older version
    /// of the same key is replaced, not uploaded.
    ///
    /// Errors: an invalid key, a spool (disk) failure, a local store
    /// failure, or [`Error::Closed`] after [`Media::shutdown`].
    pub async fn put(&self, lane: &str, key: &str, parts: Vec<Bytes>) -> Result<()> {
        match &self.inner.uploader {
            Some(uploader) => uploader.put(lane, key, parts).await,
            None => self.put_local(key, parts, false).await,
        }
    }

    /// A put to the local store (no uploader), counted like an upload.
    async fn put_local(&self, key: &str, parts: Vec<Bytes>, volatile: bool) -> Result<()> {
        let counters = &self.inner.counters;
        let len: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let started = Instant::now();
        if volatile {
            self.inner.store.put_volatile(key, parts).await?;
        } else {
            self.inner.store.put(key, parts).await?;
        }
        let elapsed = started.elapsed();
        Counters::add(&counters.puts, 1);
        Counters::add(&counters.uploads_ok, 1);
        Counters::add(&counters.uploaded_bytes, len);
        counters.put_latency.record(elapsed);
        counters.upload_delay.record(elapsed);
        crate::stats::record_put(elapsed);
        crate::stats::record_upload_delay(elapsed);
        Ok(())
    }

    /// Like [`Media::put`], for an object that is rewritten often and can
    /// be rebuilt after a crash: on a local store it is not fsynced (see
    /// [`Store::put_volatile`]); remote stores queue it like any other.
    pub async fn put_volatile(&self, lane: &str, key: &str, parts: Vec<Bytes>) -> Result<()> {
        if self.inner.uploader.is_some() {
            return self.put(lane, key, parts).await;
        }
        self.put_local(key, parts, true).await
    }

    /// Reads a whole object: the newest pending version if its upload is
    /// not confirmed yet, else the store's. `None` if it exists in neither.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Store::check_key(key)?;
        if let Some(job) = self.pending(key)
            && let Ok(bytes) = job.read().await
        {
            return Ok(Some(bytes));
        }
        // Not pending, or its spool file went away because the upload was
        // just confirmed: the store has it.
        self.inner.store.get(key).await
    }

    /// Reads `range` of an object (clamped to its end) and its total length,
    /// pending versions first like [`Media::get`]. A range starting at or
    /// past the end gives empty bytes (answer 416 with the length).
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Option<(Bytes, u64)>> {
        Store::check_key(key)?;
        if let Some(job) = self.pending(key) {
            let total = job.len();
            let start = range.start.min(total);
            let end = range.end.clamp(start, total);
            if let Ok(bytes) = job.read_range(start..end).await {
                return Ok(Some((bytes, total)));
            }
        }
        self.inner.store.get_range(key, range).await
    }

    /// Opens an object for streaming (whole, or `range` clamped to its
    /// end; see [`Store::get_stream`]), the newest pending version first
    /// like [`Media::get`] (pending objects are small: segments and
    /// playlists; big ones go through [`Media::put_file`]).
    pub async fn get_stream(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<ObjectStream>> {
        Store::check_key(key)?;
        if let Some(job) = self.pending(key) {
            let total = job.len();
            let wanted = range.clone().unwrap_or(0..total);
            let start = wanted.start.min(total);
            let end = wanted.end.clamp(start, total);
            if let Ok(bytes) = job.read_range(start..end).await {
                return Ok(Some(ObjectStream::from_bytes(bytes, start..end, total)));
            }
        }
        self.inner.store.get_stream(key, range).await
    }

    /// An immutable object (a segment) of a local store, mapped from the
    /// page cache (see [`Store::get_mapped`]); `None` on a remote store, or
    /// while its upload is pending, or if it does not exist: read it with
    /// [`Media::get_stream`] then (also when it is larger than `max_len`).
    /// Runs on a blocking thread.
    pub async fn get_mapped(&self, key: &str, max_len: u64) -> Result<Option<Bytes>> {
        if self.inner.uploader.is_some() {
            return Ok(None);
        }
        let store = self.inner.store.clone();
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || store.get_mapped(&key, max_len))
            .await
            .unwrap_or(Ok(None))
    }

    /// Stores a local file (an exported MP4) straight into the store in
    /// parts, never whole in memory; a pending upload of the same key is
    /// cancelled first, so the file's version is the one kept. Returns the
    /// bytes written once the store confirmed them. Not spooled: the caller
    /// keeps the file until this returns, and retries on failure.
    pub async fn put_file(&self, key: &str, file: &Path) -> Result<u64> {
        Store::check_key(key)?;
        if let Some(uploader) = &self.inner.uploader {
            uploader.cancel(|k| k == key).await;
        }
        self.inner.store.put_file(key, file).await
    }

    /// Deletes an object: cancels its pending upload (waiting out an attempt
    /// in progress), then deletes it from the store. Missing is fine.
    pub async fn delete(&self, key: &str) -> Result<()> {
        Store::check_key(key)?;
        if let Some(uploader) = &self.inner.uploader {
            uploader.cancel(|k| k == key).await;
        }
        self.inner.store.delete(key).await
    }

    /// Deletes every object under `prefix` (whole components: `live/a`
    /// covers `live/a/1.ts`, not `live/ab/1.ts`; `""` is everything):
    /// pending uploads and their spool files first, then the store's.
    /// Returns how many distinct keys were deleted. If the store fails, the
    /// pending ones are gone already and the error is returned.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        let prefix = Store::prefix_path(prefix)?.to_string();
        let mut keys = match &self.inner.uploader {
            Some(uploader) => uploader.cancel(|k| is_under(k, &prefix)).await,
            None => Vec::new(),
        };
        keys.extend(self.inner.store.delete_prefix_keys(&prefix).await?);
        keys.sort_unstable();
        keys.dedup();
        Ok(keys.len())
    }

    /// Keys under `prefix` (as for [`Media::delete_prefix`]), sorted:
    /// the store's and the pending ones.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = self.inner.store.list(prefix).await?;
        if let Some(uploader) = &self.inner.uploader {
            let prefix = Store::prefix_path(prefix)?.to_string();
            keys.extend(uploader.pending_keys(&prefix));
            keys.sort_unstable();
            keys.dedup();
        }
        Ok(keys)
    }

    /// Resolves true once everything put to `lane` so far is confirmed by
    /// the store (or deleted), false if `timeout` passes first. `file://`:
    /// true at once.
    pub async fn flush(&self, lane: &str, timeout: Duration) -> bool {
        match &self.inner.uploader {
            Some(uploader) => uploader.flush(lane, timeout).await,
            None => true,
        }
    }

    /// [`Media::flush`] for every lane.
    pub async fn flush_all(&self, timeout: Duration) -> bool {
        match &self.inner.uploader {
            Some(uploader) => uploader.flush_all(timeout).await,
            None => true,
        }
    }

    /// For the end of the process: waits up to `timeout` for every pending
    /// upload, then stops uploading and releases the spool (what is left is
    /// uploaded by the next start). Later puts to a remote store fail with
    /// [`Error::Closed`]. True if nothing was left. `file://`: true at once.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        match &self.inner.uploader {
            Some(uploader) => uploader.shutdown(timeout).await,
            None => true,
        }
    }

    /// Counters and gauges for metrics.
    pub fn stats(&self) -> StorageStats {
        let mut stats = StorageStats {
            remote: self.is_remote(),
            ..StorageStats::default()
        };
        self.inner.counters.fill(&mut stats);
        if let Some(uploader) = &self.inner.uploader {
            uploader.fill(&mut stats);
        }
        stats
    }

    /// The hot cache (recent segments and parts of live streams). `Media`
    /// does not fill it: callers put there what viewers will ask for next.
    pub fn cache(&self) -> &Arc<HotCache> {
        &self.inner.cache
    }

    /// True for S3-like stores.
    pub fn is_remote(&self) -> bool {
        self.inner.store.is_remote()
    }

    /// The store's URL, for logs (never contains credentials).
    pub fn url(&self) -> &str {
        self.inner.store.url()
    }

    /// The store itself, bypassing the spool and the queue: reads miss
    /// pending objects and writes are not ordered with queued ones.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    fn pending(&self, key: &str) -> Option<Arc<crate::queue::Job>> {
        self.inner.uploader.as_ref()?.pending(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn file_media() -> (tempfile::TempDir, Media) {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path().join("media")).unwrap();
        let media = Media::open(
            &StorageConfig::default(),
            url.as_str(),
            &dir.path().join("spool"),
        )
        .await
        .unwrap();
        (dir, media)
    }

    #[tokio::test]
    async fn file_media_is_immediate() {
        let (dir, media) = file_media().await;
        assert!(!media.is_remote());
        media
            .put("l", "live/a/0.ts", vec![Bytes::from_static(b"seg")])
            .await
            .unwrap();
        assert!(dir.path().join("media/live/a/0.ts").is_file());
        // No spool for local stores.
        assert!(!dir.path().join("spool").exists());
        assert!(media.flush("l", Duration::ZERO).await);
        assert!(media.flush("never-used", Duration::ZERO).await);
        let stats = media.stats();
        assert_eq!(
            (stats.puts, stats.uploads_ok, stats.uploaded_bytes),
            (1, 1, 3)
        );
        assert_eq!(stats.put_latency.count, 1);
        assert_eq!(stats.queued_objects, 0);
        assert!(media.shutdown(Duration::ZERO).await);
    }

    #[tokio::test]
    async fn rejects_bad_settings() {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig {
            upload_concurrency: 0,
            ..StorageConfig::default()
        };
        let err = Media::open(&config, "file:///tmp/x", dir.path())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("storage.upload_concurrency"),
            "{err}"
        );
    }
}
