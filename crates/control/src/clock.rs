//! Where `control` reads the time: every `*_at_ms` column, every expiry and
//! lease is decided against [`Db::clock`](crate::Db::clock). The system clock
//! in production; a manual clock in tests, so expiry and ordering rules are
//! checked without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// See the module documentation. Cheap to clone; clones share a manual
/// clock's time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock that stands at `unix_ms` until [`Clock::advance`]d.
    pub fn manual(unix_ms: i64) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(unix_ms))),
        }
    }

    /// Now, in unix milliseconds, as stored in every `*_at_ms` column. A
    /// system clock before 1970 reads as 0 rather than failing.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(Ordering::Relaxed),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// Moves a manual clock forward; the system clock moves by itself (a
    /// no-op).
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.manual {
            t.fetch_add(
                i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
                Ordering::Relaxed,
            );
        }
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = Clock::manual(1_000);
        let shared = clock.clone();
        assert_eq!(clock.now_ms(), 1_000);
        shared.advance(Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 3_000);
        assert!(Clock::system().now_ms() > 1_704_067_200_000);
    }
}
