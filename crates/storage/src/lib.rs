//! Object storage: where segments, playlists and thumbnails live.
//!
//! Knows keys and bytes, not codecs. The server goes through [`Media`]:
//!
//! * on the local filesystem (`file://`), every write is fsynced (file and
//!   directory) before `put` returns, so callers list a segment in a
//!   playlist only after its put returned;
//! * on S3, R2 or any S3-compatible server (`s3://`), `put` returns once the
//!   object is fsynced in the local spool, and background workers upload it,
//!   in order within its lane and retrying until the store takes it; what a
//!   crash leaves in the spool is uploaded on the next start. Nothing
//!   accepted is lost to an outage of the store.
//!
//! [`keys`] is the object layout; [`HotCache`] holds recent live objects in
//! memory; [`Store`] is the bare object store underneath.

mod config;
mod error;
mod hot_cache;
pub mod keys;
mod media;
mod queue;
mod spool;
mod stats;
mod store;

#[doc(hidden)]
pub mod testutil;

pub use config::{REDACTED, StorageConfig};
pub use error::{Error, Result};
pub use hot_cache::{HotCache, HotCacheStats};
pub use media::Media;
pub use stats::{LATENCY_BUCKETS_MS, LatencyHistogram, StorageStats, metric_names};
pub use store::{FILE_PART_BYTES, MAX_KEY_BYTES, ObjectStream, Store};
