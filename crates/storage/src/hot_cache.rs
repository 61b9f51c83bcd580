//! [`HotCache`]: recent objects of live streams in memory, bounded by bytes.
//!
//! The origin serves live viewers from here (LL-HLS parts exist only here;
//! recent segments and init segments are here as well as in the store), so
//! a popular live stream costs the store one write per object and no reads.
//! Eviction is first-in first-out: live media ages in the order it was made.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// A bounded in-memory object cache. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct HotCache {
    inner: Mutex<Inner>,
    /// Capacity in bytes of cached values.
    capacity_bytes: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Bytes>,
    /// Keys in insertion order; may hold keys already removed or replaced
    /// (skipped when evicting).
    order: VecDeque<String>,
    bytes: usize,
}

/// A snapshot of the cache's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HotCacheStats {
    pub bytes: usize,
    pub entries: usize,
    pub hits: u64,
    pub misses: u64,
}

impl HotCache {
    pub fn new(capacity_bytes: usize) -> Self {
        HotCache {
            inner: Mutex::new(Inner::default()),
            capacity_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent before anything
        // can panic, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Caches `value` under `key` (replacing an older value), evicting the
    /// oldest entries beyond the capacity. A value larger than the whole
    /// capacity is not cached.
    pub fn insert(&self, key: impl Into<String>, value: Bytes) {
        if value.len() > self.capacity_bytes {
            return;
        }
        let key = key.into();
        let mut inner = self.lock();
        if let Some(old) = inner.map.insert(key.clone(), value.clone()) {
            inner.bytes -= old.len();
        } else {
            inner.order.push_back(key);
        }
        inner.bytes += value.len();
        while inner.bytes > self.capacity_bytes {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(evicted) = inner.map.remove(&oldest) {
                inner.bytes -= evicted.len();
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        let found = self.lock().map.get(key).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Removes `key`'s entry, if any (an LL-HLS part that left the live
    /// window).
    pub fn remove(&self, key: &str) {
        let mut inner = self.lock();
        let Inner { map, order, bytes } = &mut *inner;
        if let Some(old) = map.remove(key) {
            *bytes -= old.len();
        }
        // `order` keeps removed keys until eviction reaches them; when
        // removals keep the cache under its capacity that never happens, so
        // drop them here, amortized over the removals.
        if order.len() > 2 * map.len() + 64 {
            order.retain(|k| map.contains_key(k));
        }
    }

    /// Removes every entry whose key starts with `prefix` (a broadcast that
    /// ended and whose parts are no longer listed).
    pub fn remove_prefix(&self, prefix: &str) {
        let mut inner = self.lock();
        let Inner { map, order, bytes } = &mut *inner;
        map.retain(|k, v| {
            let keep = !k.starts_with(prefix);
            if !keep {
                *bytes -= v.len();
            }
            keep
        });
        order.retain(|k| map.contains_key(k));
    }

    pub fn stats(&self) -> HotCacheStats {
        let inner = self.lock();
        HotCacheStats {
            bytes: inner.bytes,
            entries: inner.map.len(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    #[test]
    fn evicts_oldest_first_within_capacity() {
        let cache = HotCache::new(10);
        cache.insert("a", bytes(4));
        cache.insert("b", bytes(4));
        cache.insert("c", bytes(4));
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.get("b").map(|b| b.len()), Some(4));
        assert_eq!(cache.get("c").map(|b| b.len()), Some(4));
        let stats = cache.stats();
        assert_eq!(
            (stats.bytes, stats.entries, stats.hits, stats.misses),
            (8, 2, 2, 1)
        );
    }

    #[test]
    fn replacing_keeps_accounting_right() {
        let cache = HotCache::new(10);
        cache.insert("a", bytes(6));
        cache.insert("a", bytes(2));
        cache.insert("b", bytes(8));
        assert_eq!(cache.stats().bytes, 10);
        assert!(cache.get("a").is_some());
        // Too big for the whole cache: not cached, nothing evicted.
        cache.insert("huge", bytes(11));
        assert_eq!(cache.get("huge"), None);
        assert_eq!(cache.stats().entries, 2);
    }

    #[test]
    fn removes_by_prefix() {
        let cache = HotCache::new(100);
        cache.insert("live/a/1", bytes(3));
        cache.insert("live/a/2", bytes(3));
        cache.insert("live/b/1", bytes(3));
        cache.remove_prefix("live/a/");
        let stats = cache.stats();
        assert_eq!((stats.bytes, stats.entries), (3, 1));
        assert!(cache.get("live/b/1").is_some());
        // The order queue no longer holds removed keys.
        cache.insert("live/c/1", bytes(97));
        assert!(cache.get("live/b/1").is_some());
    }

    #[test]
    fn removed_entries_free_their_bytes_and_their_order_slots() {
        let cache = HotCache::new(1 << 20);
        for i in 0..1000 {
            cache.insert(format!("k{i}"), bytes(10));
            cache.remove(&format!("k{i}"));
        }
        cache.insert("kept", bytes(10));
        let stats = cache.stats();
        assert_eq!((stats.bytes, stats.entries), (10, 1));
        // At most twice the live entries plus the compaction slack.
        assert!(cache.lock().order.len() <= 2 + 64 + 1);
        assert_eq!(cache.get("kept").map(|b| b.len()), Some(10));
        assert!(cache.get("k999").is_none());
    }
}
