//! Shared state of the HTTP handlers.

use control::Db;
use live::Live;
use storage::Store;

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub store: Store,
    pub live: Live,
}
