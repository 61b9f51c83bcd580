//! In-memory limit on failed logins, per username and per client IP: a
//! sliding window of the last failures of each key.
//!
//! Once a key has `max` failures within the window, every login attempt on
//! it is refused with 429 (even with the right password, or guessing could
//! go on) until the oldest of those failures leaves the window; the
//! refusal says when in `Retry-After`. A successful login clears its
//! username's failures but not its IP's, so one account's owner logging in
//! does not reset a spraying client's budget.
//!
//! An attempt is counted from the moment it starts
//! ([`LoginLimiter::reserve`]), not only once it failed: each costs an
//! argon2 hash, and 200 guesses sent at once would otherwise all pass the
//! limit before the first failure was recorded. So at most `max` attempts
//! per key are in progress or failed within the window, and the rest get
//! 429 at once, before any hashing.
//!
//! The same limiter, keyed by IP only, bounds sign-ups per client
//! (`[api] signup_max_per_ip` per `signup_window_s`).
//!
//! Per node and lost on restart: enough to make online guessing slow
//! (argon2 already makes each guess cost the server), without shared
//! state. Memory is bounded: each key keeps at most `max` instants, and
//! keys whose failures all left the window are dropped whenever the map
//! grows past [`PRUNE_AT`] keys.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Map size at which stale keys are swept.
const PRUNE_AT: usize = 10_000;

/// What a failure is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum LimitKey {
    /// A normalized (lowercased) username, whether or not it exists.
    Username(String),
    /// A client address, IPv6 by its /64 (`outbound::client_bucket`).
    Ip(IpAddr),
}

/// One key's recent failures and the attempts in progress on it.
#[derive(Debug, Default)]
struct Entry {
    failures: VecDeque<Instant>,
    /// Attempts reserved and not finished: each may still become a
    /// failure, so each counts against the limit until it is known.
    pending: usize,
}

pub(crate) struct LoginLimiter {
    per_username: usize,
    per_ip: usize,
    window: Duration,
    entries: Mutex<HashMap<LimitKey, Entry>>,
}

impl LoginLimiter {
    pub(crate) fn new(per_username: u32, per_ip: u32, window: Duration) -> Self {
        LoginLimiter {
            per_username: per_username.max(1) as usize,
            per_ip: per_ip.max(1) as usize,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn max(&self, key: &LimitKey) -> usize {
        match key {
            LimitKey::Username(_) => self.per_username,
            LimitKey::Ip(_) => self.per_ip,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LimitKey, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long until `entry` is under `max` at `now` (zero: it is).
    fn wait(&self, entry: &Entry, max: usize, now: Instant) -> Duration {
        let recent: Vec<&Instant> = entry
            .failures
            .iter()
            .filter(|t| now.duration_since(**t) < self.window)
            .collect();
        if recent.len() + entry.pending < max {
            return Duration::ZERO;
        }
        if recent.len() >= max {
            // The oldest recent failure leaving the window frees a slot.
            let oldest = recent[recent.len() - max];
            return self.window.saturating_sub(now.duration_since(*oldest));
        }
        // Full of attempts in progress: they end within seconds.
        Duration::from_secs(1)
    }

    /// The longest wait of any of `keys` at `now` (zero: none is at its
    /// limit).
    fn longest_wait(
        &self,
        map: &HashMap<LimitKey, Entry>,
        keys: &[LimitKey],
        now: Instant,
    ) -> Duration {
        keys.iter()
            .filter_map(|key| map.get(key).map(|e| self.wait(e, self.max(key), now)))
            .max()
            .unwrap_or_default()
    }

    /// `Err(wait)` if any of `keys` is over its limit at `now`: how long
    /// until it is not.
    #[cfg(test)]
    pub(crate) fn check(&self, keys: &[LimitKey], now: Instant) -> Result<(), Duration> {
        let wait = self.longest_wait(&self.lock(), keys, now);
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Reserves an attempt on each of `keys`, or `Err(wait)` if any is at
    /// its limit counting the attempts in progress. Reserve *before* the
    /// expensive check (a password hash), so that a burst of parallel
    /// guesses cannot all pass the limit before the first failure is
    /// recorded: at most `max` attempts per key are ever in progress or
    /// failed within the window.
    pub(crate) fn reserve(
        self: &Arc<Self>,
        keys: Vec<LimitKey>,
        now: Instant,
    ) -> Result<Reservation, Duration> {
        let mut map = self.lock();
        if map.len() >= PRUNE_AT {
            let window = self.window;
            map.retain(|_, e| {
                e.pending > 0
                    || e.failures
                        .back()
                        .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        let wait = self.longest_wait(&map, &keys, now);
        if !wait.is_zero() {
            return Err(wait);
        }
        for key in &keys {
            map.entry(key.clone()).or_default().pending += 1;
        }
        Ok(Reservation {
            limiter: Arc::clone(self),
            keys,
            done: false,
        })
    }

    /// Counts a failed attempt against each of `keys`.
    pub(crate) fn record_failure(&self, keys: &[LimitKey], now: Instant) {
        let mut map = self.lock();
        for key in keys {
            let max = self.max(key);
            let entry = map.entry(key.clone()).or_default();
            entry.failures.push_back(now);
            while entry.failures.len() > max {
                entry.failures.pop_front();
            }
        }
    }

    /// Forgets the failures of `key` (a successful login).
    pub(crate) fn clear(&self, key: &LimitKey) {
        let mut map = self.lock();
        if let Some(entry) = map.get_mut(key) {
            entry.failures.clear();
            if entry.pending == 0 {
                map.remove(key);
            }
        }
    }

    fn release(&self, keys: &[LimitKey]) {
        let mut map = self.lock();
        for key in keys {
            if let Some(entry) = map.get_mut(key) {
                entry.pending = entry.pending.saturating_sub(1);
                if entry.pending == 0 && entry.failures.is_empty() {
                    map.remove(key);
                }
            }
        }
    }
}

/// An attempt in progress ([`LoginLimiter::reserve`]). Say how it ended
/// with [`Reservation::failed`] or [`Reservation::succeeded`]; dropped
/// without either (an error), it just stops counting.
pub(crate) struct Reservation {
    limiter: Arc<LoginLimiter>,
    keys: Vec<LimitKey>,
    done: bool,
}

impl Reservation {
    /// The attempt failed: it stays counted, as a failure at `now`.
    pub(crate) fn failed(mut self, now: Instant) {
        self.done = true;
        self.limiter.record_failure(&self.keys, now);
        self.limiter.release(&self.keys);
    }

    /// The attempt succeeded: it stops counting, and the failures of its
    /// first key (the username) are forgotten.
    pub(crate) fn succeeded(mut self) {
        self.done = true;
        self.limiter.release(&self.keys);
        if let Some(first) = self.keys.first() {
            self.limiter.clear(first);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.done {
            self.limiter.release(&self.keys);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_key_and_frees_slots_as_failures_age() {
        let limiter = LoginLimiter::new(3, 5, Duration::from_secs(60));
        let t0 = Instant::now();
        let alice = LimitKey::Username("alice".into());
        let ip = LimitKey::Ip(IpAddr::from([127, 0, 0, 1]));
        let keys = [alice.clone(), ip.clone()];
        for i in 0..3 {
            assert_eq!(limiter.check(&keys, t0), Ok(()), "attempt {i}");
            limiter.record_failure(&keys, t0 + Duration::from_secs(i * 10));
        }
        // Three failures at 0, 10, 20 s: blocked until the first is 60 s old.
        let now = t0 + Duration::from_secs(25);
        assert_eq!(limiter.check(&keys, now), Err(Duration::from_secs(35)));
        // The IP alone (limit 5) is not blocked yet.
        assert_eq!(limiter.check(std::slice::from_ref(&ip), now), Ok(()));
        assert_eq!(
            limiter.check(&keys, t0 + Duration::from_secs(60)),
            Ok(()),
            "the oldest failure left the window"
        );
        limiter.clear(&alice);
        assert_eq!(limiter.check(&keys, now), Ok(()));
    }

    #[test]
    fn keeps_at_most_max_instants_per_key() {
        let limiter = LoginLimiter::new(2, 2, Duration::from_secs(60));
        let key = LimitKey::Username("bob".into());
        let t0 = Instant::now();
        for i in 0..100 {
            limiter.record_failure(std::slice::from_ref(&key), t0 + Duration::from_millis(i));
        }
        assert_eq!(limiter.lock().get(&key).map(|e| e.failures.len()), Some(2));
    }

    #[test]
    fn reservations_count_until_they_end() {
        let limiter = Arc::new(LoginLimiter::new(3, 100, Duration::from_secs(60)));
        let t0 = Instant::now();
        let keys = || vec![LimitKey::Username("carol".into())];
        let held: Vec<Reservation> = (0..3)
            .map(|_| limiter.reserve(keys(), t0).expect("under the limit"))
            .collect();
        // Three in progress: a fourth must wait, though none failed yet.
        assert!(limiter.reserve(keys(), t0).is_err());
        let mut held = held.into_iter();
        held.next().unwrap().failed(t0);
        held.next().unwrap().failed(t0);
        // One failure slot is left, taken by the one still in progress.
        assert!(limiter.reserve(keys(), t0).is_err());
        drop(held.next()); // ended without a verdict (an error)
        let last = limiter.reserve(keys(), t0).expect("a slot came free");
        last.succeeded();
        assert_eq!(limiter.check(&keys(), t0), Ok(()));
        assert!(limiter.lock().is_empty(), "nothing left behind");
    }
}
