//! The one error type of the `live` crate.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The channel already has a broadcast in progress.
    #[error("channel {0:?} is already live")]
    Busy(String),
    #[error(transparent)]
    Control(control::Error),
    #[error(transparent)]
    Storage(#[from] storage::Error),
}

impl From<control::Error> for Error {
    fn from(e: control::Error) -> Self {
        Error::Control(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
