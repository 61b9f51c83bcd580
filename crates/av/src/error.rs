//! The one error type of the `av` crate.

/// Errors from parsing media bitstreams and containers.
///
/// Each variant says what was wrong in words a creator or operator can act on;
/// codec names are spelled out so "unsupported codec" log lines name the codec.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input ended before a complete structure could be read.
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    /// The input is structurally invalid.
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    /// A video codec we do not ingest (only H.264/AVC is supported).
    #[error("unsupported video codec {0} (only H.264/AVC is supported)")]
    UnsupportedVideoCodec(String),
    /// An audio codec we do not ingest (only AAC is supported).
    #[error("unsupported audio codec {0} (only AAC is supported)")]
    UnsupportedAudioCodec(String),
    /// A frame arrived before the decoder configuration that describes it.
    #[error("{0} frame before its sequence header")]
    MissingConfig(&'static str),
}

impl Error {
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            detail: detail.into(),
        }
    }

    pub(crate) fn need(what: &'static str, need: usize, have: usize) -> Result<()> {
        if have < need {
            Err(Error::Truncated { what, need, have })
        } else {
            Ok(())
        }
    }
}

/// Result alias of the `av` crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
