//! Shared state of the HTTP handlers.

use std::sync::Arc;

use control::Db;
use live::Origin;
use storage::Media;

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// Storage reads (pending uploads from the spool, then the store).
    pub media: Media,
    /// What the API may see and do of this node's live streams.
    pub live: Origin,
    /// The origin's short-lived caches; one set per application, not per
    /// process (tests run several applications in one process).
    pub(crate) caches: Arc<OriginCaches>,
    /// The web UI build directory to serve, if not the embedded build (set
    /// from [`crate::ApiOptions::web_dir`] by [`crate::router`]).
    pub(crate) web_dir: Option<Arc<std::path::PathBuf>>,
}

impl AppState {
    pub fn new(db: Db, media: Media, live: Origin) -> AppState {
        AppState {
            db,
            media,
            live,
            caches: Arc::new(OriginCaches::default()),
            web_dir: None,
        }
    }
}

/// What the origin remembers between requests.
#[derive(Default)]
pub(crate) struct OriginCaches {
    /// Playback tokens verified lately (`crate::playback_auth`).
    pub verified: crate::playback_auth::VerifiedCache,
    /// Ready recordings looked up lately (`crate::hls`).
    pub vod_lookups: crate::hls::VodLookupCache,
    /// Playback ids resolved lately (`crate::lookups`).
    pub playback: crate::lookups::PlaybackLookups,
    /// Broadcasts known to have ended (`crate::lookups`).
    pub ended: crate::lookups::EndedBroadcasts,
    /// Segments of a local store mapped from the page cache (`crate::mapped`).
    pub mapped: crate::mapped::MappedSegments,
}
