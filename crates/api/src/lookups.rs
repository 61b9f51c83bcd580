//! What the origin looked up in the database lately, reused briefly.
//!
//! A player reloads a live playlist every second or two (an LL-HLS player
//! several times a second), and every reload names a playback id that must
//! be resolved to its channel and policy. Asking the database each time was
//! most of the origin's CPU under a fleet of players (see
//! `docs/PERFORMANCE.md`, "Live origin"): a SQLite query is a round trip to
//! its worker thread. So resolutions are kept for [`TTL`], and dropped at
//! once when this process writes a channel or a playback id
//! ([`control::Db::channels_generation`]): a policy change, a new or deleted
//! playback id, a disabled channel apply to the next request. Writes by
//! other processes (other nodes, `aethex` CLI commands) apply within
//! [`TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use control::ResolvedPlayback;

/// How long a resolution is reused.
pub(crate) const TTL: Duration = Duration::from_secs(1);
/// Bound on remembered resolutions (unknown ids included: they are asked
/// for as often as known ones by a misconfigured player).
const MAX_ENTRIES: usize = 4096;

struct Entry {
    at: Instant,
    generation: u64,
    resolved: Option<ResolvedPlayback>,
}

/// Playback id → what it resolved to (`None`: no such id), when, and in
/// which generation of the channels.
#[derive(Default)]
pub(crate) struct PlaybackLookups {
    inner: Mutex<HashMap<String, Entry>>,
}

impl PlaybackLookups {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The resolution of `playback_id` made less than [`TTL`] before `now`
    /// in channels generation `generation`.
    pub(crate) fn get(
        &self,
        playback_id: &str,
        now: Instant,
        generation: u64,
    ) -> Option<Option<ResolvedPlayback>> {
        let map = self.lock();
        let entry = map.get(playback_id)?;
        (entry.generation == generation && now.saturating_duration_since(entry.at) < TTL)
            .then(|| entry.resolved.clone())
    }

    /// Remembers what `playback_id` resolved to in a query that began at
    /// `at` in generation `generation` (read before the query: an answer
    /// that may predate a write is then never reused).
    pub(crate) fn put(
        &self,
        playback_id: &str,
        at: Instant,
        generation: u64,
        resolved: Option<ResolvedPlayback>,
    ) {
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES && !map.contains_key(playback_id) {
            map.retain(|_, e| {
                e.generation == generation && at.saturating_duration_since(e.at) < TTL
            });
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            playback_id.to_owned(),
            Entry {
                at,
                generation,
                resolved,
            },
        );
    }
}

/// Ended broadcasts: live stream id → (when looked up, channel id). An
/// ended broadcast stays ended; one deleted since is noticed within [`TTL`].
#[derive(Default)]
pub(crate) struct EndedBroadcasts {
    inner: Mutex<HashMap<String, (Instant, String)>>,
}

impl EndedBroadcasts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, String)>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The channel of `live_stream_id`, if it was seen ended less than
    /// [`TTL`] before `now`.
    pub(crate) fn channel_of(&self, live_stream_id: &str, now: Instant) -> Option<String> {
        let map = self.lock();
        let (at, channel_id) = map.get(live_stream_id)?;
        (now.saturating_duration_since(*at) < TTL).then(|| channel_id.clone())
    }

    /// Remembers that `live_stream_id` (of `channel_id`) was seen ended at `at`.
    pub(crate) fn ended(&self, live_stream_id: &str, channel_id: &str, at: Instant) {
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES && !map.contains_key(live_stream_id) {
            map.retain(|_, (t, _)| at.saturating_duration_since(*t) < TTL);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(live_stream_id.to_owned(), (at, channel_id.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_follow_the_generation() {
        let cache = PlaybackLookups::default();
        let t0 = Instant::now();
        assert_eq!(cache.get("p", t0, 0), None);
        cache.put("p", t0, 0, None);
        assert_eq!(cache.get("p", t0 + TTL / 2, 0), Some(None));
        assert_eq!(cache.get("p", t0 + TTL, 0), None, "expired after the TTL");
        assert_eq!(cache.get("p", t0, 1), None, "a channel was written since");
    }

    #[test]
    fn bounded() {
        let cache = PlaybackLookups::default();
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES + 10 {
            cache.put(&format!("p{i}"), t0, 0, None);
        }
        assert!(cache.lock().len() <= MAX_ENTRIES);
        assert_eq!(
            cache.get(&format!("p{}", MAX_ENTRIES + 9), t0, 0),
            Some(None)
        );
    }
}
