//! What goes into the broadcast core and what comes out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use av::LadderEvent;
use av::{AccessUnit, DemuxEvent, H264Config, Time90k};
use bytes::Bytes;
use control::IngestInfo;
use packager::SegmenterConfig;

use crate::EndReason;
use crate::ingest_meter::IngestReading;
use crate::registry::Playlists;

/// The time an input happened: monotonic for rules, wall clock for
/// `EXT-X-PROGRAM-DATE-TIME`.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub at: Instant,
    pub unix_ms: i64,
}

impl Now {
    /// The system's clocks (for drivers; the core never calls this).
    pub fn system() -> Now {
        Now {
            at: Instant::now(),
            unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        }
    }
}

/// How one broadcast behaves.
#[derive(Clone, Debug)]
pub struct BroadcastConfig {
    pub segmenter: SegmenterConfig,
    /// LL-HLS: parts, blocking reloads and delta updates (fMP4 only).
    pub low_latency: bool,
    /// Segments listed in the live playlists.
    pub window_segments: usize,
    /// How long a broadcast whose publisher dropped waits for it.
    pub reconnect_window: Duration,
    /// Whether a clean unpublish waits for the window too (Mux's rule).
    pub reconnect_after_unpublish: bool,
    /// Longest a broadcast may last (Mux's `max_continuous_duration`).
    pub max_duration: Option<Duration>,
    /// Kept as a recording; if not, segments are deleted `retention_grace`
    /// after they left the live window, and the whole broadcast that long
    /// after it ended.
    pub record: bool,
    pub retention_grace: Duration,
    /// The store is remote: the hot cache also holds segments.
    pub cache_segments: bool,
    /// Stored master playlists list their variants under this URL (a CDN
    /// or public bucket: `{base}/live/{id}/`), not relative to themselves.
    pub public_prefix: Option<String>,
    /// Live playlists are published to the origin and stored per segment.
    pub live_playlists: bool,
    /// Segments carry `EXT-X-PROGRAM-DATE-TIME`.
    pub program_date_time: bool,
    /// Measure the publisher (bitrate, frame rate, keyframe interval).
    pub measure_ingest: bool,
    /// Thumbnail every this often while someone looks at it (zero: none).
    pub thumbnail_interval: Duration,
    /// ... and this often otherwise.
    pub thumbnail_idle_interval: Duration,
    /// Drop the lowest rung when the ladder lags more than this.
    pub max_ladder_lag: Duration,
    /// A single rendition's objects at the top level (files, not a live
    /// stream): `aethex segment` without a ladder.
    pub flat: bool,
}

/// What happened.
#[derive(Debug)]
pub enum Input {
    /// Media from the publisher, with when it arrived at ingest.
    Media {
        received_at: Instant,
        event: DemuxEvent,
    },
    /// The publisher's connection ended: `clean` when it unpublished on
    /// purpose; `shutting_down` when the server cut it off.
    PublisherLeft { clean: bool, shutting_down: bool },
    /// A publisher came back within the reconnect window.
    PublisherReturned,
    /// End the broadcast now (API `complete`, channel disabled).
    Stop,
    /// The answer to [`Action::StartLadder`]: the ladder runs these rungs
    /// (names and configured video bitrates in kbit/s); empty if it could
    /// not start.
    LadderStarted(Vec<(String, u32)>),
    /// What the ladder produced (or that it failed).
    Ladder(LadderEvent),
    /// How far the ladder is behind the source.
    LadderLag(Duration),
    /// The store's answer to an [`Action::Store`] with an `ack`; `data` is
    /// the object's bytes back (segment buffers are reused).
    Stored {
        ack: Ack,
        ok: bool,
        data: Vec<Bytes>,
    },
    /// Someone asked for the stream's thumbnail at this time.
    ThumbnailWanted(Instant),
    /// Time passed (see [`Broadcast::next_deadline`]).
    Tick,
}

/// Names a store request whose answer the core waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    Segment {
        rendition: usize,
        sequence: u64,
    },
    /// One of the final playlists of an ended broadcast.
    Final,
}

/// What the driver must do.
#[derive(Debug)]
pub enum Action {
    /// Store an object at `path` (relative to the broadcast) durably, after
    /// everything earlier in `lane` (a rendition's upload order). `cache`:
    /// put it in the hot cache first. With `ack`, push [`Input::Stored`].
    Store {
        lane: Arc<str>,
        path: String,
        data: Vec<Bytes>,
        cache: bool,
        ack: Option<Ack>,
        /// False for live media playlists: rewritten with every segment and
        /// not needed after a crash (recovery works from the segment index
        /// and the master), so a local store need not fsync them.
        durable: bool,
    },
    /// Hot cache only (LL-HLS parts).
    Cache {
        path: String,
        data: Bytes,
    },
    /// Out of the hot cache (parts no playlist lists any more).
    Uncache {
        paths: Vec<String>,
    },
    /// Delete a stored object (a segment of a channel that does not record,
    /// out of the live window for longer than the grace period).
    Delete {
        path: String,
    },
    /// Record a stored (or lost) segment in the segment index.
    Index(SegmentRecord),
    /// Record the live stream's state, then announce it.
    Status(Status),
    /// Hand the origin the current playlists.
    Publish(Arc<Playlists>),
    /// Start a ladder for this source video; always answer with
    /// [`Input::LadderStarted`].
    StartLadder(H264Config),
    /// A source video unit for the ladder.
    FeedLadder(AccessUnit),
    /// Stop encoding rung `n` (the ladder lags).
    DropRung(usize),
    /// No more input for the ladder: deliver what it has, then
    /// [`LadderEvent::Finished`].
    FlushLadder,
    /// Release the ladder (failed, restarted or flushed).
    StopLadder,
    /// A JPEG of this keyframe: the thumbnail, and with `poster` the
    /// recording's poster.
    Thumbnail {
        config: H264Config,
        unit: AccessUnit,
        poster: bool,
    },
    Measure(Measure),
    /// The broadcast is over; the last action.
    Ended(Ending),
}

/// A live stream's state change.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// The publisher connected (the broadcast began): announce it.
    Connected,
    /// The first segment is stored, or a publisher came back (`returned`:
    /// announce connected, then active).
    Active { ingest: IngestInfo, returned: bool },
    /// The publisher dropped; the reconnect window runs.
    Disconnected,
}

/// Measurements for metrics and the live stream's row.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// Every second; `store`: also write it to the live stream (every 5 s).
    Ingest {
        reading: IngestReading,
        store: bool,
    },
    /// From the arrival of the frame that closed a segment (or part) to its
    /// listing; `late` when longer than its target duration.
    SegmentAvailable {
        latency: Duration,
        late: bool,
    },
    SegmentStored(Arc<str>),
    TranscodeLag(Duration),
    RenditionDropped(Arc<str>),
}

/// A segment for the index (what crash recovery rebuilds playlists from).
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRecord {
    pub rendition: Arc<str>,
    pub sequence: u64,
    pub duration: Time90k,
    pub size_bytes: usize,
    pub discontinuity: bool,
    pub uri: String,
    pub map_uri: Option<String>,
    pub gap: bool,
    pub program_date_time_ms: Option<i64>,
}

/// What an ended broadcast leaves.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub reason: EndReason,
    pub recording: Recording,
    /// Source segments listed.
    pub segments: usize,
    pub duration: Time90k,
    pub renditions: Vec<Arc<str>>,
    /// Remove the broadcast's parts and segments from the hot cache after
    /// this (players have fetched the last ones).
    pub uncache_after: Duration,
    /// Delete every object of the broadcast after this (not recorded).
    pub delete_after: Option<Duration>,
    pub gaps: u64,
    pub dropped_units: u64,
}

/// The recording's outcome (when the channel records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// Nothing was stored: the recording failed.
    Empty,
    /// Its final playlists are stored: ready once the store has every object.
    Ready,
    /// Its final playlists could not be stored: left for crash recovery.
    Unfinished,
}
