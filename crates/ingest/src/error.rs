//! The one error type of the `ingest` crate.

/// Why a connection was closed by the protocol core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("RTMP handshake failed: {0}")]
    Handshake(String),
    #[error("RTMP protocol error: {0}")]
    Protocol(String),
    /// The client connected to an application other than the configured one.
    #[error("unknown RTMP app {0:?}")]
    UnknownApp(String),
    /// The stream's media cannot be ingested (unsupported codec, malformed frames).
    #[error("{0}")]
    Media(#[from] av::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
