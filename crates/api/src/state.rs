//! Shared state of the HTTP handlers.

use control::Db;
use live::Live;
use storage::Media;

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// Storage reads (pending uploads from the spool, then the store).
    pub media: Media,
    pub live: Live,
}
