//! Counters and latency histograms of [`Media`](crate::Media), shaped for
//! Prometheus: monotonic counters, gauges, and histograms with fixed bucket
//! bounds.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Upper bounds (inclusive) of the latency histogram buckets, in
/// milliseconds; a last, unbounded bucket follows.
pub const LATENCY_BUCKETS_MS: [u64; 15] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 1_800_000,
];

/// A snapshot of [`Media`](crate::Media)'s state and counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// True for remote stores (the queue fields are zero otherwise).
    pub remote: bool,
    /// Gauge: objects accepted by `put` and not yet confirmed by the store
    /// (in flight included).
    pub queued_objects: u64,
    /// Gauge: their bytes.
    pub queued_bytes: u64,
    /// Gauge: of those bytes, how many are held in memory (the rest are read
    /// back from the spool); bounded by `upload_queue_memory_mb`.
    pub queued_memory_bytes: u64,
    /// Gauge: files in the spool and their size on disk.
    pub spool_files: u64,
    pub spool_bytes: u64,
    /// Gauge: lanes with objects waiting.
    pub active_lanes: u64,
    /// Gauge: how long the oldest waiting object has waited, in ms.
    pub oldest_queued_age_ms: u64,
    /// Counter: objects accepted by `put` (both kinds of store).
    pub puts: u64,
    /// Counter: objects the store confirmed.
    pub uploads_ok: u64,
    /// Counter: bytes the store confirmed.
    pub uploaded_bytes: u64,
    /// Counter: failed upload attempts (each is retried).
    pub upload_failures: u64,
    /// Gauge: failed attempts since the store last took an upload; non-zero
    /// while the store is unreachable.
    pub consecutive_failures: u64,
    /// Counter: queued objects replaced by a newer put of the same key
    /// before their upload (only the newest version is uploaded).
    pub superseded: u64,
    /// Counter: queued objects deleted before their upload.
    pub cancelled: u64,
    /// Counter: queued objects whose spool file disappeared or could not be
    /// read back (logged as errors; should stay 0).
    pub lost: u64,
    /// Counter: objects found in the spool at open and queued again.
    pub requeued: u64,
    /// Duration of successful store writes (one request each).
    pub put_latency: LatencyHistogram,
    /// Time from `put` to the store's confirmation: queueing, retries and
    /// outages included. Equal to `put_latency` for the local store.
    pub upload_delay: LatencyHistogram,
}

/// A latency histogram: `counts[i]` objects took at most
/// `bounds_ms[i]` (and more than `bounds_ms[i - 1]`); the last count is
/// above every bound.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    pub bounds_ms: &'static [u64],
    /// Per-bucket (not cumulative) counts; `bounds_ms.len() + 1` of them.
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum_ms: u64,
    pub max_ms: u64,
    pub last_ms: u64,
}

impl LatencyHistogram {
    /// Cumulative counts, as Prometheus `_bucket{le=...}` wants them (the
    /// last one is `le="+Inf"`, equal to `count`).
    pub fn cumulative(&self) -> Vec<u64> {
        self.counts
            .iter()
            .scan(0, |acc, c| {
                *acc += c;
                Some(*acc)
            })
            .collect()
    }

    pub fn mean_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_ms as f64 / self.count as f64)
    }
}

#[derive(Debug)]
pub(crate) struct Histogram {
    counts: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    count: AtomicU64,
    sum_ms: AtomicU64,
    max_ms: AtomicU64,
    last_ms: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ms: AtomicU64::new(0),
            max_ms: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn record(&self, elapsed: Duration) {
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_MS
            .iter()
            .position(|&b| ms <= b)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.max_ms.fetch_max(ms, Ordering::Relaxed);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LatencyHistogram {
        LatencyHistogram {
            bounds_ms: &LATENCY_BUCKETS_MS,
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            count: self.count.load(Ordering::Relaxed),
            sum_ms: self.sum_ms.load(Ordering::Relaxed),
            max_ms: self.max_ms.load(Ordering::Relaxed),
            last_ms: self.last_ms.load(Ordering::Relaxed),
        }
    }
}

/// The monotonic counters (gauges are computed from the queue's state).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub puts: AtomicU64,
    pub uploads_ok: AtomicU64,
    pub uploaded_bytes: AtomicU64,
    pub upload_failures: AtomicU64,
    pub consecutive_failures: AtomicU64,
    pub superseded: AtomicU64,
    pub cancelled: AtomicU64,
    pub lost: AtomicU64,
    pub requeued: AtomicU64,
    pub put_latency: Histogram,
    pub upload_delay: Histogram,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Fills in the counter fields of `stats`.
    pub fn fill(&self, stats: &mut StorageStats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        stats.puts = get(&self.puts);
        stats.uploads_ok = get(&self.uploads_ok);
        stats.uploaded_bytes = get(&self.uploaded_bytes);
        stats.upload_failures = get(&self.upload_failures);
        stats.consecutive_failures = get(&self.consecutive_failures);
        stats.superseded = get(&self.superseded);
        stats.cancelled = get(&self.cancelled);
        stats.lost = get(&self.lost);
        stats.requeued = get(&self.requeued);
        stats.put_latency = self.put_latency.snapshot();
        stats.upload_delay = self.upload_delay.snapshot();
    }
}

/// Lets one warning through per interval and counts the ones it held back,
/// so an outage logs a line every few seconds, not one per attempt.
#[derive(Debug)]
pub(crate) struct RateLimit {
    interval: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl RateLimit {
    pub fn new(interval: Duration) -> Self {
        RateLimit {
            interval,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(number held back since the last one)` if this event may be
    /// logged now.
    pub fn check(&self, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(t) if now.saturating_duration_since(t) < self.interval => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }

    /// Lets the next event through at once (after a recovery).
    pub fn reset(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.suppressed.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets() {
        let h = Histogram::default();
        for ms in [0, 5, 6, 7_000, 10_000_000] {
            h.record(Duration::from_millis(ms));
        }
        let s = h.snapshot();
        assert_eq!(s.count, 5);
        assert_eq!(s.counts[0], 2); // 0 and 5 ms: <= 5
        assert_eq!(s.counts[1], 1); // 6 ms: <= 10
        assert_eq!(s.counts[10], 1); // 7 s: <= 10 s
        assert_eq!(*s.counts.last().unwrap(), 1);
        assert_eq!(s.cumulative().last(), Some(&5));
        assert_eq!((s.max_ms, s.last_ms), (10_000_000, 10_000_000));
        assert!(s.mean_ms().unwrap() > 0.0);
    }

    #[test]
    fn rate_limit() {
        let limit = RateLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limit.check(t0), Some(0));
        assert_eq!(limit.check(t0 + Duration::from_secs(1)), None);
        assert_eq!(limit.check(t0 + Duration::from_secs(2)), None);
        assert_eq!(limit.check(t0 + Duration::from_secs(11)), Some(2));
        limit.reset();
        assert_eq!(limit.check(t0 + Duration::from_secs(12)), Some(0));
    }
}

/// Prometheus names of the storage series (recorded through the `metrics`
/// facade; gauges are set from [`StorageStats`] by the binary).
pub mod metric_names {
    pub const PUT_SECONDS: &str = "aethex_storage_put_seconds";
    pub const UPLOAD_DELAY_SECONDS: &str = "aethex_storage_upload_delay_seconds";
}

/// One successful store write of `elapsed`.
pub(crate) fn record_put(elapsed: Duration) {
    metrics::histogram!(metric_names::PUT_SECONDS).record(elapsed.as_secs_f64());
}

/// One object confirmed `elapsed` after its `put` (queueing and retries
/// included).
pub(crate) fn record_upload_delay(elapsed: Duration) {
    metrics::histogram!(metric_names::UPLOAD_DELAY_SECONDS).record(elapsed.as_secs_f64());
}
