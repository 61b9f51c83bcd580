//! The upload queue in front of a remote store: spooled objects, lanes,
//! one worker per busy lane, retries until the store takes them.
//!
//! * **Durability.** [`Uploader::put`] returns once the object is in the
//!   spool (fsynced); its spool file is deleted only after the store
//!   confirmed the PUT, and what a crash leaves is queued again on open.
//! * **Order.** Objects of one lane are uploaded one at a time, in the
//!   order their puts were accepted; the next one starts only after the
//!   store confirmed the previous one. Lanes run in parallel, at most
//!   `upload_concurrency` requests at once (a lane waiting out a backoff
//!   holds no slot).
//! * **Coalescing.** A put of a key whose previous version has not started
//!   uploading replaces it: the old version leaves the queue and the new one
//!   joins the back of its lane, behind everything put before it (so a
//!   playlist rewritten every segment during an outage is uploaded once,
//!   after the segments it lists). A version already uploading finishes
//!   first; a newer one in another lane waits for it, so an older version
//!   never lands last.
//! * **Retries.** Exponential backoff from `retry_min_ms` to `retry_max_ms`
//!   with jitter (half the delay fixed, half random), forever; the first
//!   success of any lane wakes every lane that is waiting out a backoff.
//! * **Memory.** Queued objects keep their `Bytes` while the queue's total
//!   stays under `upload_queue_memory_mb`; past it, new ones keep only their
//!   spool file and are read back when their turn comes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use object_store::PutPayload;
use rand::Rng;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::config::StorageConfig;
use crate::spool::{self, Spool, SpoolFile};
use crate::stats::{Counters, RateLimit, StorageStats};
use crate::{Error, Result, Store};

/// How often a failing store may log a warning.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// The queue of one remote store. Shared by its handle and its workers.
#[derive(Debug)]
pub(crate) struct Uploader {
    store: Store,
    spool_dir: PathBuf,
    /// `None` once shut down (which releases the spool's lock).
    spool: Mutex<Option<Arc<Spool>>>,
    state: Mutex<State>,
    /// Upload slots (`upload_concurrency`).
    permits: Semaphore,
    /// Signalled whenever a job leaves the queue or is cancelled, and when a
    /// lane empties: wakes flushes, deletes and key waits.
    changed: Notify,
    /// Signalled when the store takes an upload after failures: wakes lanes
    /// waiting out a backoff.
    recovered: Notify,
    counters: Arc<Counters>,
    retry_min: Duration,
    retry_max: Duration,
    memory_budget_bytes: u64,
    warn_limit: RateLimit,
}

#[derive(Debug, Default)]
struct State {
    /// The id of the last accepted put.
    last_id: u64,
    lanes: HashMap<String, Lane>,
    /// Unconfirmed versions of each key, oldest first (usually one; two
    /// while a newer version waits behind one being uploaded).
    pending: HashMap<String, Vec<Arc<Job>>>,
    queued_objects: u64,
    queued_bytes: u64,
    memory_bytes: u64,
    spool_files: u64,
    spool_bytes: u64,
    stopped: bool,
}

#[derive(Debug, Default)]
struct Lane {
    /// Jobs in upload order; the front one may be uploading (`claimed`).
    queue: VecDeque<Arc<Job>>,
    /// Multiset of the queued jobs' `floor`s: a flush of this lane up to id
    /// `n` is done when the smallest floor exceeds `n`.
    floors: BTreeMap<u64, usize>,
    /// The highest id queued in this lane so far.
    last_id: u64,
    /// The lane's worker, while it runs.
    worker: Option<JoinHandle<()>>,
}

/// One version of one object, waiting for its upload.
#[derive(Debug)]
pub(crate) struct Job {
    /// The put's number (also the spool file's).
    id: u64,
    /// The smallest id this job stands for: its own, or that of an older
    /// version it replaced in the same lane (a flush waiting for that one
    /// waits for this one).
    floor: u64,
    lane: String,
    key: String,
    len: u64,
    /// The object, unless the memory budget was exhausted when it was put
    /// (then it is read back from `file`).
    data: Option<Vec<Bytes>>,
    file: SpoolFile,
    accepted: Instant,
    /// Taken by its lane's worker. Changed only under the state lock.
    claimed: AtomicBool,
    /// Deleted while uploading: stop retrying.
    cancelled: AtomicBool,
    /// Left the queue.
    finished: AtomicBool,
}

enum Outcome {
    Uploaded,
    Cancelled,
    Lost,
}

impl Job {
    /// The whole object, from memory or the spool.
    pub async fn read(&self) -> io::Result<Bytes> {
        self.read_range(0..self.len).await
    }

    /// `range` of the object (within its length).
    pub async fn read_range(&self, range: Range<u64>) -> io::Result<Bytes> {
        if let Some(parts) = &self.data {
            return Ok(slice_parts(parts, range));
        }
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || spool::read_range(&file, range))
            .await
            .map_err(io::Error::other)?
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// The body of its PUT: the parts as they were given, or the spool
    /// file's data.
    async fn payload(&self) -> io::Result<PutPayload> {
        match &self.data {
            Some(parts) => Ok(parts.iter().cloned().collect()),
            None => self.read().await.map(PutPayload::from),
        }
    }
}

/// `range` of the concatenation of `parts`, without copying when it falls
/// within one part.
fn slice_parts(parts: &[Bytes], range: Range<u64>) -> Bytes {
    let mut out = BytesMut::new();
    let mut offset = 0u64;
    for part in parts {
        let (start, end) = (offset, offset + part.len() as u64);
        offset = end;
        if end <= range.start || start >= range.end {
            continue;
        }
        let from = (range.start.max(start) - start) as usize;
        let to = (range.end.min(end) - start) as usize;
        if out.is_empty() && range.start >= start && range.end <= end {
            return part.slice(from..to);
        }
        out.extend_from_slice(&part[from..to]);
    }
    out.freeze()
}

/// Whether `key` is under `prefix` the way object stores list: whole
/// components, `""` covering everything.
pub(crate) fn is_under(key: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || key == prefix
        || (key.starts_with(prefix) && key.as_bytes().get(prefix.len()) == Some(&b'/'))
}

impl State {
    /// Takes a job out of its lane's queue (wherever it is) and out of the
    /// queue's accounting. Not out of `pending`.
    fn unqueue(&mut self, job: &Job) {
        if let Some(lane) = self.lanes.get_mut(&job.lane)
            && let Some(pos) = lane.queue.iter().position(|j| j.id == job.id)
        {
            lane.queue.remove(pos);
            if let Some(n) = lane.floors.get_mut(&job.floor) {
                *n -= 1;
                if *n == 0 {
                    lane.floors.remove(&job.floor);
                }
            }
            self.queued_objects -= 1;
            self.queued_bytes -= job.len;
            if job.data.is_some() {
                self.memory_bytes -= job.len;
            }
        }
    }

    fn remove_pending(&mut self, job: &Job) {
        if let Some(versions) = self.pending.get_mut(&job.key) {
            versions.retain(|v| v.id != job.id);
            if versions.is_empty() {
                self.pending.remove(&job.key);
            }
        }
    }

    /// Whether every job queued in `lane` up to id `target` has left it.
    fn lane_done(&self, lane: &str, target: u64) -> bool {
        self.lanes
            .get(lane)
            .and_then(|l| l.floors.keys().next())
            .is_none_or(|&floor| floor > target)
    }
}

impl Uploader {
    /// Opens the spool and queues what a previous run left in it.
    pub async fn open(
        store: Store,
        config: &StorageConfig,
        spool_dir: &Path,
        counters: Arc<Counters>,
    ) -> Result<Arc<Uploader>> {
        let dir = spool_dir.to_path_buf();
        let url = store.url().to_string();
        let opened = tokio::task::spawn_blocking(move || {
            let spool = Spool::open(&dir, &url)?;
            let scan = spool.scan()?;
            Ok::<_, io::Error>((spool, scan))
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r);
        let (spool, scan) = opened.map_err(|source| Error::Spool {
            path: spool_dir.to_path_buf(),
            source,
        })?;
        let uploader = Arc::new(Uploader {
            store,
            spool_dir: spool_dir.to_path_buf(),
            spool: Mutex::new(Some(Arc::new(spool))),
            state: Mutex::new(State {
                last_id: scan.max_id,
                ..State::default()
            }),
            permits: Semaphore::new(config.upload_concurrency.max(1)),
            changed: Notify::new(),
            recovered: Notify::new(),
            counters,
            retry_min: config.retry_min(),
            retry_max: config.retry_max(),
            memory_budget_bytes: config.queue_memory_bytes(),
            warn_limit: RateLimit::new(WARN_INTERVAL),
        });
        if scan.foreign > 0 {
            warn!(
                spool = %spool_dir.display(),
                files = scan.foreign,
                "the spool holds objects bound for another storage URL; leaving them in place"
            );
        }
        if scan.damaged > 0 {
            error!(
                spool = %spool_dir.display(),
                files = scan.damaged,
                "damaged spool files renamed *.bad; their objects were not uploaded"
            );
        }
        let requeued = scan.files.len() as u64;
        let bytes: u64 = scan.files.iter().map(|f| f.data_len).sum();
        {
            let mut st = uploader.lock();
            let now = Instant::now();
            for file in scan.files {
                st.spool_files += 1;
                st.spool_bytes += file.file_len();
                // Deduplicated by the scan: nothing to replace.
                let _ = uploader.accept(&mut st, file, None, now);
            }
        }
        Counters::add(&uploader.counters.requeued, requeued);
        if requeued > 0 {
            info!(
                store = %uploader.store.url(),
                objects = requeued,
                bytes,
                "uploading objects a previous run left in the spool"
            );
        }
        Ok(uploader)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Critical sections leave the state consistent before anything can
        // panic, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spool(&self) -> Option<Arc<Spool>> {
        self.spool.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Spools an object and queues its upload in `lane`.
    pub async fn put(self: &Arc<Self>, lane: &str, key: &str, parts: Vec<Bytes>) -> Result<()> {
        Store::check_key(key)?;
        let spool = self.spool().ok_or(Error::Closed)?;
        let id = {
            let mut st = self.lock();
            st.last_id += 1;
            st.last_id
        };
        let accepted = Instant::now();
        let (lane_owned, key_owned) = (lane.to_string(), key.to_string());
        let (written, parts) = tokio::task::spawn_blocking(move || {
            let written = spool.write(id, &lane_owned, &key_owned, &parts);
            (written, parts)
        })
        .await
        .map_err(|e| Error::Spool {
            path: self.spool_dir.clone(),
            source: io::Error::other(e),
        })?;
        let file = written.map_err(|source| Error::Spool {
            path: self.spool_dir.clone(),
            source,
        })?;
        Counters::add(&self.counters.puts, 1);
        let obsolete = {
            let mut st = self.lock();
            st.spool_files += 1;
            st.spool_bytes += file.file_len();
            self.accept(&mut st, file, Some(parts), accepted)
        };
        self.changed.notify_waiters();
        if !obsolete.is_empty() {
            // The new version is durable already; the old files can go in
            // the background (a crash first leaves both, and the scan keeps
            // the newest).
            let this = self.clone();
            tokio::spawn(async move { this.remove_files(obsolete).await });
        }
        Ok(())
    }

    /// Queues a spooled object; returns the spool files it made obsolete
    /// (older versions of its key that had not started uploading, or
    /// itself if a newer version was accepted first).
    fn accept(
        self: &Arc<Self>,
        st: &mut State,
        file: SpoolFile,
        data: Option<Vec<Bytes>>,
        accepted: Instant,
    ) -> Vec<SpoolFile> {
        let versions = st.pending.remove(&file.key).unwrap_or_default();
        if versions.last().is_some_and(|v| v.id > file.id) {
            // A concurrent put of the same key got a later id and is queued.
            st.pending.insert(file.key.clone(), versions);
            Counters::add(&self.counters.superseded, 1);
            return vec![file];
        }
        let mut obsolete = Vec::new();
        let mut kept = Vec::with_capacity(2);
        let mut floor = file.id;
        for old in versions {
            if old.claimed.load(Ordering::Relaxed) {
                kept.push(old);
                continue;
            }
            st.unqueue(&old);
            if old.lane == file.lane {
                floor = floor.min(old.floor);
            }
            Counters::add(&self.counters.superseded, 1);
            obsolete.push(old.file.clone());
        }
        let len = file.data_len;
        let data = data.filter(|_| {
            !st.stopped && st.memory_bytes.saturating_add(len) <= self.memory_budget_bytes
        });
        let job = Arc::new(Job {
            id: file.id,
            floor,
            lane: file.lane.clone(),
            key: file.key.clone(),
            len,
            data,
            file,
            accepted,
            claimed: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        });
        st.queued_objects += 1;
        st.queued_bytes += len;
        if job.data.is_some() {
            st.memory_bytes += len;
        }
        kept.push(job.clone());
        st.pending.insert(job.key.clone(), kept);
        let stopped = st.stopped;
        let lane = st.lanes.entry(job.lane.clone()).or_default();
        lane.queue.push_back(job.clone());
        *lane.floors.entry(floor).or_default() += 1;
        lane.last_id = lane.last_id.max(job.id);
        if lane.worker.is_none() && !stopped {
            lane.worker = Some(tokio::spawn(self.clone().run_lane(job.lane.clone())));
        }
        obsolete
    }

    /// A lane's worker: uploads its jobs front to back, and ends (removing
    /// the lane) when the queue is empty.
    async fn run_lane(self: Arc<Self>, lane: String) {
        loop {
            let job = {
                let mut st = self.lock();
                let Some(l) = st.lanes.get_mut(&lane) else {
                    return;
                };
                match l.queue.front() {
                    Some(job) => {
                        job.claimed.store(true, Ordering::Relaxed);
                        job.clone()
                    }
                    None => {
                        st.lanes.remove(&lane);
                        drop(st);
                        self.changed.notify_waiters();
                        return;
                    }
                }
            };
            let outcome = self.upload(&job).await;
            self.finish(&job, outcome).await;
        }
    }

    /// Uploads one job, retrying until the store confirms it or it is
    /// cancelled.
    async fn upload(&self, job: &Job) -> Outcome {
        // An older version of the key may be uploading from another lane;
        // it must land first.
        loop {
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            let busy = self.lock().pending.get(&job.key).is_some_and(|versions| {
                versions
                    .iter()
                    .any(|v| v.id < job.id && v.claimed.load(Ordering::Relaxed))
            });
            if !busy {
                break;
            }
            changed.await;
        }
        let mut delay = self.retry_min;
        let mut attempt: u64 = 0;
        loop {
            if job.cancelled.load(Ordering::Relaxed) {
                return Outcome::Cancelled;
            }
            attempt += 1;
            let result = {
                // Closed never: the semaphore lives as long as `self`.
                let _permit = self.permits.acquire().await.ok();
                match job.payload().await {
                    Ok(body) => {
                        let started = Instant::now();
                        let put = self.store.put_payload(&job.key, body).await;
                        if put.is_ok() {
                            self.counters.put_latency.record(started.elapsed());
                            crate::stats::record_put(started.elapsed());
                        }
                        put.map_err(|e| e.to_string())
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        error!(
                            key = %job.key, lane = %job.lane, spool_file = %job.file.path.display(),
                            "spool file vanished before its upload; object lost"
                        );
                        return Outcome::Lost;
                    }
                    Err(e) => Err(format!("cannot read the spool file: {e}")),
                }
            };
            match result {
                Ok(()) => {
                    let failures = self
                        .counters
                        .consecutive_failures
                        .swap(0, Ordering::Relaxed);
                    if failures > 0 {
                        info!(
                            store = %self.store.url(),
                            failed_attempts = failures,
                            "object store is taking uploads again"
                        );
                        self.warn_limit.reset();
                        self.recovered.notify_waiters();
                    }
                    return Outcome::Uploaded;
                }
                Err(e) => {
                    Counters::add(&self.counters.upload_failures, 1);
                    Counters::add(&self.counters.consecutive_failures, 1);
                    if let Some(suppressed) = self.warn_limit.check(std::time::Instant::now()) {
                        warn!(
                            store = %self.store.url(),
                            key = %job.key,
                            lane = %job.lane,
                            attempt,
                            waiting_s = job.accepted.elapsed().as_secs(),
                            suppressed_warnings = suppressed,
                            error = %e,
                            "upload failed; retrying (objects stay in the spool)"
                        );
                    }
                }
            }
            // Half the delay fixed, half random: lanes that failed together
            // do not retry in lockstep.
            let half = delay / 2;
            let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
            let deadline = Instant::now() + half + Duration::from_millis(jitter);
            loop {
                let mut changed = pin!(self.changed.notified());
                let mut recovered = pin!(self.recovered.notified());
                changed.as_mut().enable();
                recovered.as_mut().enable();
                if job.cancelled.load(Ordering::Relaxed) {
                    return Outcome::Cancelled;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = recovered => break,
                    _ = changed => {}
                }
            }
            delay = (delay * 2).min(self.retry_max);
        }
    }

    /// Retires a job: its spool file first (so a flush that returns finds
    /// the spool clean), then the queue.
    async fn finish(self: &Arc<Self>, job: &Arc<Job>, outcome: Outcome) {
        match outcome {
            Outcome::Uploaded => {
                Counters::add(&self.counters.uploads_ok, 1);
                Counters::add(&self.counters.uploaded_bytes, job.len);
                self.counters.upload_delay.record(job.accepted.elapsed());
                crate::stats::record_upload_delay(job.accepted.elapsed());
            }
            Outcome::Cancelled => Counters::add(&self.counters.cancelled, 1),
            Outcome::Lost => Counters::add(&self.counters.lost, 1),
        }
        self.remove_files(vec![job.file.clone()]).await;
        {
            let mut st = self.lock();
            st.unqueue(job);
            st.remove_pending(job);
            job.claimed.store(false, Ordering::Relaxed);
            job.finished.store(true, Ordering::Relaxed);
        }
        self.changed.notify_waiters();
    }

    /// Deletes spool files (durably) and updates the spool's accounting.
    async fn remove_files(&self, files: Vec<SpoolFile>) {
        if files.is_empty() {
            return;
        }
        let dir = self.spool_dir.clone();
        let count = files.len() as u64;
        let bytes: u64 = files.iter().map(|f| f.file_len()).sum();
        let paths: Vec<PathBuf> = files.into_iter().map(|f| f.path).collect();
        let removed = tokio::task::spawn_blocking(move || spool::remove(&dir, &paths))
            .await
            .map_err(io::Error::other)
            .and_then(|r| r);
        if let Err(e) = removed {
            error!(
                spool = %self.spool_dir.display(), error = %e,
                "cannot delete a spool file; its object may be uploaded again after a restart"
            );
        }
        let mut st = self.lock();
        st.spool_files = st.spool_files.saturating_sub(count);
        st.spool_bytes = st.spool_bytes.saturating_sub(bytes);
    }

    /// The newest unconfirmed version of `key`.
    pub fn pending(&self, key: &str) -> Option<Arc<Job>> {
        self.lock()
            .pending
            .get(key)
            .and_then(|versions| versions.last().cloned())
    }

    /// Keys with unconfirmed versions under `prefix` (see [`is_under`]).
    pub fn pending_keys(&self, prefix: &str) -> Vec<String> {
        self.lock()
            .pending
            .keys()
            .filter(|k| is_under(k, prefix))
            .cloned()
            .collect()
    }

    /// Cancels every unconfirmed version of the keys `matches` accepts: the
    /// queued ones leave the queue, and the call waits for uploading ones to
    /// end (their current attempt; no new ones). Returns those keys.
    /// Afterwards nothing queued so far will write these keys.
    pub async fn cancel(&self, matches: impl Fn(&str) -> bool) -> Vec<String> {
        let mut removed = Vec::new();
        let mut in_flight = Vec::new();
        let keys: Vec<String> = {
            let mut st = self.lock();
            let keys: Vec<String> = st.pending.keys().filter(|k| matches(k)).cloned().collect();
            for key in &keys {
                let versions = st.pending.remove(key).unwrap_or_default();
                let mut kept = Vec::new();
                for job in versions {
                    if job.claimed.load(Ordering::Relaxed) {
                        job.cancelled.store(true, Ordering::Relaxed);
                        in_flight.push(job.clone());
                        kept.push(job);
                    } else {
                        st.unqueue(&job);
                        job.finished.store(true, Ordering::Relaxed);
                        removed.push(job);
                    }
                }
                if !kept.is_empty() {
                    st.pending.insert(key.clone(), kept);
                }
            }
            keys
        };
        Counters::add(&self.counters.cancelled, removed.len() as u64);
        self.changed.notify_waiters();
        self.remove_files(removed.iter().map(|j| j.file.clone()).collect())
            .await;
        loop {
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            if in_flight.iter().all(|j| j.finished.load(Ordering::Relaxed)) {
                break;
            }
            changed.await;
        }
        keys
    }

    /// Waits until everything put to `lane` so far is confirmed (or
    /// cancelled); false on timeout.
    pub async fn flush(&self, lane: &str, timeout: Duration) -> bool {
        let Some(target) = self.lock().lanes.get(lane).map(|l| l.last_id) else {
            return true;
        };
        self.wait(timeout, |st| st.lane_done(lane, target)).await
    }

    /// [`Uploader::flush`] for every lane.
    pub async fn flush_all(&self, timeout: Duration) -> bool {
        let targets: Vec<(String, u64)> = self
            .lock()
            .lanes
            .iter()
            .map(|(name, l)| (name.clone(), l.last_id))
            .collect();
        self.wait(timeout, |st| {
            targets
                .iter()
                .all(|(lane, target)| st.lane_done(lane, *target))
        })
        .await
    }

    async fn wait(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            if done(&self.lock()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done(&self.lock());
            }
        }
    }

    /// Flushes for up to `timeout`, then stops the workers and releases the
    /// spool (what is left is uploaded by the next run). Later puts fail
    /// with [`Error::Closed`]. True if everything was uploaded.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        let flushed = self.flush_all(timeout).await;
        for worker in self.stop() {
            let _ = worker.await;
        }
        let left = self.lock().queued_objects;
        if left > 0 {
            warn!(
                store = %self.store.url(),
                objects = left,
                "shutting down with uploads pending; they stay in the spool for the next start"
            );
        }
        flushed
    }

    /// Stops taking objects, aborts the workers (returned, to await) and
    /// releases the spool. Idempotent.
    pub fn stop(&self) -> Vec<JoinHandle<()>> {
        let workers: Vec<JoinHandle<()>> = {
            let mut st = self.lock();
            st.stopped = true;
            st.lanes
                .values_mut()
                .filter_map(|l| l.worker.take())
                .collect()
        };
        for worker in &workers {
            worker.abort();
        }
        self.spool.lock().unwrap_or_else(|p| p.into_inner()).take();
        workers
    }

    /// Fills in the queue's gauges.
    pub fn fill(&self, stats: &mut StorageStats) {
        let st = self.lock();
        stats.queued_objects = st.queued_objects;
        stats.queued_bytes = st.queued_bytes;
        stats.queued_memory_bytes = st.memory_bytes;
        stats.spool_files = st.spool_files;
        stats.spool_bytes = st.spool_bytes;
        stats.active_lanes = st.lanes.len() as u64;
        stats.oldest_queued_age_ms = st
            .lanes
            .values()
            .filter_map(|l| l.queue.iter().map(|j| j.accepted).min())
            .min()
            .map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_across_parts() {
        let parts = vec![
            Bytes::from_static(b"abc"),
            Bytes::from_static(b""),
            Bytes::from_static(b"defg"),
        ];
        assert_eq!(slice_parts(&parts, 0..7), Bytes::from_static(b"abcdefg"));
        assert_eq!(slice_parts(&parts, 1..2), Bytes::from_static(b"b"));
        assert_eq!(slice_parts(&parts, 2..5), Bytes::from_static(b"cde"));
        assert_eq!(slice_parts(&parts, 3..7), Bytes::from_static(b"defg"));
        assert_eq!(slice_parts(&parts, 7..7), Bytes::new());
    }

    #[test]
    fn prefixes_match_whole_components() {
        assert!(is_under("live/a/1.ts", ""));
        assert!(is_under("live/a/1.ts", "live/a"));
        assert!(is_under("live/a", "live/a"));
        assert!(!is_under("live/ab/1.ts", "live/a"));
        assert!(!is_under("live", "live/a"));
    }
}
