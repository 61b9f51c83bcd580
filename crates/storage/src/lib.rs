//! Object storage: where segments, playlists and thumbnails live.
//!
//! A thin layer over `object_store` that knows keys and bytes, not codecs.
//! The local filesystem backend fsyncs every write (file and directory), so a
//! successful [`Store::put`] means the object survives a crash: callers list a
//! segment in a playlist only after its put returned.

mod error;
mod hot_cache;
pub mod keys;
mod store;

pub use error::{Error, Result};
pub use hot_cache::{HotCache, HotCacheStats};
pub use store::Store;
