//! The in-process registry of live sessions the HLS origin reads from.
//!
//! Playlists of a live broadcast are served from memory (they change every
//! segment); each session publishes them through a `watch` channel so that a
//! reader always sees a consistent set and can wait for the next change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;

/// Rendered playlists of one live broadcast.
#[derive(Clone, Debug, Default)]
pub struct Playlists {
    /// `master.m3u8`; `None` until the first segment is stored.
    pub master: Option<Bytes>,
    /// `{rendition}/index.m3u8` by rendition name.
    pub media: HashMap<String, Bytes>,
    /// True once the broadcast ended (playlists carry EXT-X-ENDLIST).
    pub ended: bool,
}

/// What the origin can see of a live session.
#[derive(Debug)]
pub struct SessionView {
    pub live_stream_id: String,
    pub channel_id: String,
    playlists: watch::Receiver<Arc<Playlists>>,
}

impl SessionView {
    pub(crate) fn new(
        live_stream_id: String,
        channel_id: String,
        playlists: watch::Receiver<Arc<Playlists>>,
    ) -> Self {
        SessionView {
            live_stream_id,
            channel_id,
            playlists,
        }
    }

    /// The current playlists.
    pub fn playlists(&self) -> Arc<Playlists> {
        self.playlists.borrow().clone()
    }

    /// A receiver to wait on playlist changes (blocking playlist reload).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Playlists>> {
        self.playlists.clone()
    }
}

/// Live sessions by channel id.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    sessions: Arc<Mutex<HashMap<String, Arc<SessionView>>>>,
}

impl Registry {
    pub fn get(&self, channel_id: &str) -> Option<Arc<SessionView>> {
        self.lock().get(channel_id).cloned()
    }

    /// Number of sessions in progress.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers a session; false if the channel already has one.
    pub(crate) fn insert(&self, view: Arc<SessionView>) -> bool {
        let mut map = self.lock();
        if map.contains_key(&view.channel_id) {
            return false;
        }
        map.insert(view.channel_id.clone(), view);
        true
    }

    /// Removes the session of `live_stream_id` (not a newer one of the channel).
    pub(crate) fn remove(&self, channel_id: &str, live_stream_id: &str) {
        let mut map = self.lock();
        if map
            .get(channel_id)
            .is_some_and(|v| v.live_stream_id == live_stream_id)
        {
            map.remove(channel_id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<SessionView>>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (single insert/remove calls), so a poisoned lock is still usable.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}
