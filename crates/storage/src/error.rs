//! The one error type of the `storage` crate.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store URL or the settings that go with it cannot be used.
    #[error("invalid storage URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// Not a key the layout can hold (empty, `.`/`..` or empty components,
    /// control characters, longer than 1024 bytes).
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    /// The settings cannot be used (the message names the field).
    #[error("invalid storage settings: {0}")]
    InvalidConfig(String),
    /// [`Media::shutdown`](crate::Media::shutdown) was called: remote
    /// stores take no more objects.
    #[error("storage is shut down")]
    Closed,
    /// The object store refused or failed a request.
    #[error("storage error on {key:?}: {source}")]
    Backend {
        key: String,
        #[source]
        source: object_store::Error,
    },
    /// Reading a local file to store it failed.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The local spool (where objects wait for their upload) failed: the
    /// object was not accepted.
    #[error("spool error on {}: {source}", path.display())]
    Spool {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
