//! The in-process registry of live sessions the HLS origin reads from.
//!
//! Playlists of a live broadcast are served from memory (they change every
//! segment); each session publishes them through a `watch` channel so that a
//! reader always sees a consistent set and can wait for the next change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use av::DemuxEvent;
use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// Rendered playlists of one live broadcast.
#[derive(Clone, Debug, Default)]
pub struct Playlists {
    /// `master.m3u8`; `None` until the first segment (or LL-HLS part) exists.
    pub master: Option<Bytes>,
    /// `{rendition}/index.m3u8` by rendition name.
    pub media: HashMap<String, MediaPlaylistView>,
    /// True once the broadcast ended (playlists carry EXT-X-ENDLIST).
    pub ended: bool,
    /// Low-Latency HLS: blocking reloads and delta updates are offered.
    pub low_latency: bool,
    /// `EXT-X-TARGETDURATION`; a blocking reload waits at most three.
    pub target_duration: Duration,
    /// When the newest listed media (part or segment) was completed by an
    /// access unit arriving at ingest: the age of the live edge.
    pub edge_received_at: Option<Instant>,
    /// Segments listed as gaps (the store refused them), all renditions.
    pub dropped_segments: u64,
    /// Source segments (or LL-HLS parts) listed more than their target
    /// duration after the frame that closed them arrived: players waiting
    /// on them would have stalled.
    pub late_segments: u64,
}

/// One rendition's media playlist and what blocking reloads need to know.
#[derive(Clone, Debug, Default)]
pub struct MediaPlaylistView {
    /// The full playlist.
    pub body: Bytes,
    /// The delta update (`_HLS_skip=YES`), for low-latency playlists.
    pub delta: Option<Bytes>,
    /// Sequence number of the segment in progress (one past the last listed).
    pub next_sequence: u64,
    /// Sequence number of the last listed complete segment.
    pub last_sequence: Option<u64>,
    /// `(sequence, index)` of the last listed part.
    pub last_part: Option<(u64, u32)>,
}

impl MediaPlaylistView {
    /// Whether a blocking reload for `_HLS_msn=msn[&_HLS_part=part]` can be
    /// answered (RFC 8216bis §6.2.5.2): that segment, or that part, is listed.
    pub fn reached(&self, msn: u64, part: Option<u32>) -> bool {
        if self.last_sequence.is_some_and(|last| last >= msn) {
            return true;
        }
        match (part, self.last_part) {
            (Some(part), Some(last)) => last >= (msn, part),
            _ => false,
        }
    }
}

/// A publisher's connection to a session: its media, and a signal that it
/// finished on purpose (an RTMP unpublish: no reconnect window).
pub(crate) struct Attach {
    pub media: mpsc::Receiver<(Instant, Vec<DemuxEvent>)>,
    pub finished: oneshot::Receiver<()>,
}

/// What the origin and the publish path can see of a live session.
#[derive(Debug)]
pub struct SessionView {
    pub live_stream_id: String,
    pub channel_id: String,
    playlists: watch::Receiver<Arc<Playlists>>,
    /// A publisher is connected (false during the reconnect window).
    connected: AtomicBool,
    /// Hands a returning publisher to the session.
    attach: mpsc::Sender<Attach>,
    /// Ends the session now (API `complete`, channel disabled).
    stop: Arc<Notify>,
    /// When the stream's thumbnail was last asked for (set by the origin).
    thumbnail_wanted_at: Mutex<Option<Instant>>,
}

impl SessionView {
    pub(crate) fn new(
        live_stream_id: String,
        channel_id: String,
        playlists: watch::Receiver<Arc<Playlists>>,
        attach: mpsc::Sender<Attach>,
        stop: Arc<Notify>,
    ) -> Self {
        SessionView {
            live_stream_id,
            channel_id,
            playlists,
            connected: AtomicBool::new(true),
            attach,
            stop,
            thumbnail_wanted_at: Mutex::new(None),
        }
    }

    /// Someone asked for this stream's thumbnail: while they do, it is
    /// refreshed at the busy interval (see
    /// `TranscodeConfig::thumbnail_interval_s`).
    pub fn want_thumbnail(&self) {
        *self
            .thumbnail_wanted_at
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// When the thumbnail was last asked for.
    pub(crate) fn thumbnail_wanted_at(&self) -> Option<Instant> {
        *self
            .thumbnail_wanted_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a publisher is connected (false while the session waits in
    /// its reconnect window).
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Marks the session connected if it was not; false if another
    /// publisher got there first.
    pub(crate) fn claim(&self) -> bool {
        self.connected
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
    }

    /// Reconnects a publisher to this session; false if it is ending.
    pub(crate) fn try_attach(&self, attach: Attach) -> bool {
        self.attach.try_send(attach).is_ok()
    }

    /// Ends the broadcast now: the publisher is disconnected, no reconnect
    /// window.
    pub fn stop(&self) {
        self.stop.notify_one();
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
