//! Segments of a local store, mapped from the page cache and kept mapped
//! while players fetch them.
//!
//! Every viewer of a live stream fetches the same few newest segments. Read
//! through the object store, each request cost dozens of 8 KiB reads on
//! blocking threads and as many heap buffers (the profile in
//! `docs/PERFORMANCE.md`, "Live origin"). A mapping is made once per
//! segment (`storage::Store::get_mapped`) and its `Bytes` are cloned into
//! every response: one copy, from the page cache into the socket, and no
//! heap memory. The mappings are bounded in bytes and count and evicted
//! oldest first (live media ages in the order it was made), and each is
//! reused for [`MAX_AGE`] only: a segment deleted since (out of the live
//! window, or with its broadcast) is then looked for again, and not found.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Bound on the bytes mapped at once (address space backed by the page
/// cache, not heap; a mapping in use by a response outlives its eviction).
const MAX_BYTES: usize = 256 << 20;
/// Larger objects (exported MP4s) are streamed, not mapped.
pub(crate) const MAX_OBJECT_BYTES: u64 = 32 << 20;
/// Bound on the mappings kept.
const MAX_ENTRIES: usize = 1024;
/// How long a mapping is reused.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Inner {
    map: HashMap<String, (Instant, Bytes)>,
    order: VecDeque<String>,
    bytes: usize,
}

/// Mapped segments by storage key.
#[derive(Default)]
pub(crate) struct MappedSegments(Mutex<Inner>);

impl MappedSegments {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The mapping of `key` made less than [`MAX_AGE`] before `now`.
    pub(crate) fn get(&self, key: &str, now: Instant) -> Option<Bytes> {
        let inner = self.lock();
        let (at, bytes) = inner.map.get(key)?;
        (now.saturating_duration_since(*at) < MAX_AGE).then(|| bytes.clone())
    }

    /// Keeps `bytes` mapped for `key` (mapped at `at`), evicting the oldest
    /// beyond the bounds.
    pub(crate) fn insert(&self, key: &str, bytes: Bytes, at: Instant) {
        if bytes.len() > MAX_BYTES {
            return;
        }
        let mut inner = self.lock();
        let len = bytes.len();
        match inner.map.insert(key.to_owned(), (at, bytes)) {
            Some((_, old)) => inner.bytes -= old.len(),
            None => inner.order.push_back(key.to_owned()),
        }
        inner.bytes += len;
        while inner.bytes > MAX_BYTES || inner.map.len() > MAX_ENTRIES {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some((_, evicted)) = inner.map.remove(&oldest) {
                inner.bytes -= evicted.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_count_oldest_first_and_aged() {
        let m = MappedSegments::default();
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES + 3 {
            m.insert(&format!("k{i}"), Bytes::from_static(b"x"), t0);
        }
        m.insert("k5", Bytes::from_static(b"yy"), t0);
        assert!(m.get("k0", t0).is_none());
        assert!(m.get("k2", t0).is_none());
        assert!(m.get("k3", t0).is_some());
        assert_eq!(m.get("k5", t0).as_deref(), Some(&b"yy"[..]), "replaced");
        assert_eq!(m.lock().map.len(), MAX_ENTRIES);
        assert_eq!(m.lock().bytes, MAX_ENTRIES + 1);
        assert!(m.get("k3", t0 + MAX_AGE).is_none(), "expired");
    }
}
