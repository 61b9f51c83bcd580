//! The one error type of the `storage` crate.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid storage URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    #[error("storage error on {key:?}: {source}")]
    Backend {
        key: String,
        #[source]
        source: object_store::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
