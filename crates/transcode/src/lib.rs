//! ABR ladders for AeThex LIVE: a live stream's source H.264 access units
//! in, scaled renditions out as access units with the source's timestamps
//! and keyframes at exactly the source's keyframes, so every rendition's
//! packager cuts segments at the same instants as the source passthrough.
//! Audio is not transcoded: the caller gives every rendition's packager the
//! source AAC.
//!
//! - [`TranscodeConfig`] and [`Rung`]: backend, encoder settings and ladder
//!   presets; [`select_rungs`] fits a preset to a source.
//! - [`Ladder`]: one per stream. [`Ladder::start`] returns it and the
//!   receiver of [`LadderEvent`]s; `push` source units, `drop_rung` when
//!   [`Ladder::lag`] exceeds [`TranscodeConfig::max_lag_s`], `finish` at the
//!   end. Backends: GStreamer (default; one pipeline, decode once, x264 per
//!   rung) and FFmpeg (one child process; for hardware encoders).
//! - [`thumbnail`]: a JPEG of one source keyframe.
//!
//! GStreamer is initialized lazily on first use; a server calls
//! [`preflight`] at startup so the first broadcast does not pay for the
//! plugin registry and a missing plugin is reported before anyone streams.

mod config;
mod error;
mod ffmpeg_ladder;
mod flv_writer;
mod gst_elements;
mod gst_ladder;
mod ladder;
mod output;
mod thumbnail;

pub use config::{Backend, Rung, TranscodeConfig, select_rungs};
pub use error::{Error, Result};
pub use ladder::{Ladder, LadderEvent};
pub use thumbnail::thumbnail;

/// Prepares the configured backend and checks it can run: GStreamer is
/// initialized and every element the pipelines use must exist; the FFmpeg
/// backend needs `ffmpeg` on the path (thumbnails still use GStreamer).
/// Blocking: call it from a blocking thread.
pub fn preflight(config: &TranscodeConfig) -> Result<()> {
    gst_elements::preflight()?;
    if config.backend == Backend::Ffmpeg {
        ffmpeg_ladder::preflight(config)?;
    }
    Ok(())
}
