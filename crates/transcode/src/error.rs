//! The one error type of the `transcode` crate.

/// Errors from configuring, starting and feeding ladders and from making
/// thumbnails. Messages name the GStreamer element or FFmpeg encoder that
/// failed, so an operator knows which package or device is missing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of range; `field` is its path in the
    /// config file (e.g. `ladders.default[1].height`).
    #[error("invalid transcode config: {field}: {message}")]
    Config { field: String, message: String },
    /// `gst_init` failed (no GStreamer runtime, broken registry).
    #[error("GStreamer could not be initialized: {0}")]
    Init(String),
    /// A GStreamer element factory is not installed.
    #[error("GStreamer element {element} is not available ({package}): {message}")]
    MissingElement {
        element: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
        message: String,
    },
    /// Building, linking or starting the pipeline failed; the message names
    /// the element.
    #[error("GStreamer pipeline: {0}")]
    Pipeline(String),
    /// The FFmpeg binary could not be started.
    #[error("could not run {path}: {source}")]
    Spawn {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// FFmpeg does not have the configured encoder, or cannot open it (no
    /// GPU, no driver).
    #[error("ffmpeg encoder {encoder} is not available: {message}")]
    EncoderUnavailable { encoder: String, message: String },
    /// The FFmpeg child failed; the message has its last error lines.
    #[error("ffmpeg: {0}")]
    Ffmpeg(String),
    /// An access unit or configuration the ladder cannot use.
    #[error("invalid input: {0}")]
    Input(String),
    /// `push` after `finish`, or after the ladder failed.
    #[error("the ladder has finished")]
    Finished,
    /// Making a thumbnail failed or timed out.
    #[error("thumbnail: {0}")]
    Thumbnail(String),
    /// A pipe, thread or process operation failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Result alias of the `transcode` crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
