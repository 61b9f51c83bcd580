//! The one error type of the `ingest` crate.

/// Why a connection was closed by the protocol core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client's handshake is not one we speak.
    #[error("RTMP handshake failed (connection {connection}, byte {offset}): {context}")]
    Handshake {
        /// The connection's number (as in its log span; 0 if not given).
        connection: u64,
        /// Byte offset in the connection's input where the fault starts.
        offset: u64,
        context: String,
    },
    /// The client's bytes break the RTMP chunk stream, message or command
    /// rules, or a limit: what was wrong and where it starts in the
    /// connection's input (handshake included), so a capture can be
    /// searched for it.
    #[error("RTMP protocol error (connection {connection}, byte {offset}): {context}")]
    Invalid {
        connection: u64,
        offset: u64,
        context: String,
    },
    /// The client connected to an application other than the configured one.
    #[error("unknown RTMP app {0:?}")]
    UnknownApp(String),
    /// The stream's media cannot be ingested (unsupported codec, malformed frames).
    #[error("{0}")]
    Media(#[from] av::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
