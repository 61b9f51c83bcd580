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
//! Per node and lost on restart: enough to make online guessing slow
//! (argon2 already makes each guess cost the server), without shared
//! state. Memory is bounded: each key keeps at most `max` instants, and
//! keys whose failures all left the window are dropped whenever the map
//! grows past [`PRUNE_AT`] keys.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Map size at which stale keys are swept.
const PRUNE_AT: usize = 10_000;

/// What a failure is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum LimitKey {
    /// A normalized (lowercased) username, whether or not it exists.
    Username(String),
    Ip(IpAddr),
}

pub(crate) struct LoginLimiter {
    per_username: usize,
    per_ip: usize,
    window: Duration,
    failures: Mutex<HashMap<LimitKey, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub(crate) fn new(per_username: u32, per_ip: u32, window: Duration) -> Self {
        LoginLimiter {
            per_username: per_username.max(1) as usize,
            per_ip: per_ip.max(1) as usize,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn max(&self, key: &LimitKey) -> usize {
        match key {
            LimitKey::Username(_) => self.per_username,
            LimitKey::Ip(_) => self.per_ip,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LimitKey, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(wait)` if any of `keys` is over its limit at `now`: how long
    /// until it is not.
    pub(crate) fn check(&self, keys: &[LimitKey], now: Instant) -> Result<(), Duration> {
        let map = self.lock();
        let mut wait = Duration::ZERO;
        for key in keys {
            let Some(times) = map.get(key) else { continue };
            let recent: Vec<&Instant> = times
                .iter()
                .filter(|t| now.duration_since(**t) < self.window)
                .collect();
            if recent.len() >= self.max(key) {
                // The oldest recent failure leaving the window frees a slot.
                let oldest = recent[recent.len() - self.max(key)];
                let until = self.window.saturating_sub(now.duration_since(*oldest));
                wait = wait.max(until);
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a failed attempt against each of `keys`.
    pub(crate) fn record_failure(&self, keys: &[LimitKey], now: Instant) {
        let mut map = self.lock();
        if map.len() >= PRUNE_AT {
            let window = self.window;
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        for key in keys {
            let max = self.max(key);
            let times = map.entry(key.clone()).or_default();
            times.push_back(now);
            while times.len() > max {
                times.pop_front();
            }
        }
    }

    /// Forgets the failures of `key` (a successful login).
    pub(crate) fn clear(&self, key: &LimitKey) {
        self.lock().remove(key);
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
        assert_eq!(limiter.lock().get(&key).map(VecDeque::len), Some(2));
    }
}
