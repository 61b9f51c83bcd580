//! Concurrent viewers per live stream, counted at the origin from HLS
//! media playlist requests: a viewer is a client (address + user agent,
//! hashed) that fetched a live media playlist of the stream within the last
//! [`VIEWER_TIMEOUT`]. Every HLS player reloads the live playlist at least
//! once per target duration (2 s here; LL-HLS clients block and come back
//! at once), so a player that stops or leaves drops out within seconds.
//!
//! Why playlist requests rather than player heartbeats: it counts every
//! player (Safari's native HLS, VLC, ffplay, smart TVs), not only our web
//! page, and needs nothing from the client. Its limits: viewers behind one
//! NAT with the same browser count once, and a CDN in front of the origin
//! hides clients (forwarded addresses are then used when trusted).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a client counts as watching after its last playlist request.
pub const VIEWER_TIMEOUT: Duration = Duration::from_secs(15);

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Viewers {
    streams: Mutex<HashMap<String, HashMap<u64, Instant>>>,
}

impl Viewers {
    pub fn new() -> Self {
        Self::default()
    }

    /// A live media playlist request of `live_stream_id` by `client`
    /// (anything identifying it: address and user agent).
    pub fn touch(&self, live_stream_id: &str, client: impl Hash, now: Instant) {
        let mut h = DefaultHasher::new();
        client.hash(&mut h);
        let key = h.finish();
        let mut streams = self.lock();
        match streams.get_mut(live_stream_id) {
            Some(clients) => {
                clients.insert(key, now);
            }
            None => {
                streams.insert(live_stream_id.to_owned(), HashMap::from([(key, now)]));
            }
        }
    }

    /// Viewers of `live_stream_id` now (forgetting those timed out).
    pub fn count(&self, live_stream_id: &str, now: Instant) -> u32 {
        let mut streams = self.lock();
        let Some(clients) = streams.get_mut(live_stream_id) else {
            return 0;
        };
        clients.retain(|_, seen| now.saturating_duration_since(*seen) < VIEWER_TIMEOUT);
        let n = clients.len() as u32;
        if n == 0 {
            streams.remove(live_stream_id);
        }
        n
    }

    /// Forgets a stream (its broadcast ended).
    pub fn forget(&self, live_stream_id: &str) {
        self.lock().remove(live_stream_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<u64, Instant>>> {
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_recent_clients() {
        let v = Viewers::new();
        let t0 = Instant::now();
        assert_eq!(v.count("a", t0), 0);
        v.touch("a", ("10.0.0.1", "hls.js"), t0);
        v.touch("a", ("10.0.0.1", "hls.js"), t0 + Duration::from_secs(2));
        v.touch("a", ("10.0.0.2", "Safari"), t0 + Duration::from_secs(3));
        v.touch("b", ("10.0.0.3", "VLC"), t0);
        assert_eq!(v.count("a", t0 + Duration::from_secs(4)), 2);
        assert_eq!(v.count("b", t0 + Duration::from_secs(4)), 1);
        // The first client keeps reloading; the second left.
        v.touch("a", ("10.0.0.1", "hls.js"), t0 + Duration::from_secs(16));
        assert_eq!(v.count("a", t0 + Duration::from_secs(17)), 2);
        assert_eq!(v.count("a", t0 + Duration::from_secs(19)), 1);
        assert_eq!(v.count("b", t0 + Duration::from_secs(19)), 0);
        v.forget("a");
        assert_eq!(v.count("a", t0 + Duration::from_secs(19)), 0);
    }
}
