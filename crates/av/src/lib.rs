//! Media primitives shared by every AeThex LIVE crate: access units with
//! 90 kHz timestamps, H.264 and AAC codec configurations, FLV tag parsing and
//! the FLV → access unit demuxer used by RTMP ingest and file remuxing, and
//! the MP4 file demuxer used by file remuxing.
//!
//! Pure code: no I/O, no async runtime. Everything that arrives from the
//! network is parsed with bounds checks and reported as [`Error`], never a
//! panic.

mod aac;
mod demux;
mod error;
pub mod flv;
#[doc(hidden)]
pub mod fuzzing;
mod h264;
mod ladder;
pub mod mp4;
mod time;
mod unit;

pub use aac::AacConfig;
pub use demux::{DemuxEvent, FlvDemuxer};
pub use error::{Error, Result};
pub use h264::{H264Config, NalIter, nal_type};
pub use ladder::LadderEvent;
pub use time::Time90k;
pub use unit::{AccessUnit, MediaInfo, TrackKind};
