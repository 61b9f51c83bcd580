//! The AeThex LIVE packager: access units in, HLS media segments and
//! playlists out (RFC 8216bis). The hot path of every live stream.
//!
//! - [`TsSegmenter`] cuts a stream of [`av::AccessUnit`]s into MPEG-TS
//!   [`Segment`]s at video keyframes (ISO/IEC 13818-1; module `ts`). fMP4/CMAF
//!   segments and LL-HLS parts will come as a second segmenter over the same
//!   cutting rules (module `segmenter`) and the same [`Segment`] type.
//! - [`MediaPlaylist`] keeps the list of stored segments of one rendition and
//!   renders live (sliding window) and VOD playlists; [`render_master`]
//!   renders the multivariant playlist; [`BandwidthMeter`] measures a
//!   variant's `BANDWIDTH`/`AVERAGE-BANDWIDTH`.
//!
//! Sans-IO: no files, no network, no clock, no async runtime. Callers push
//! access units and pull segments, store them, then push playlist entries.

mod bandwidth;
mod error;
mod playlist;
mod segment;
mod segmenter;
mod ts;

#[doc(hidden)]
pub mod testutil;

pub use bandwidth::BandwidthMeter;
pub use error::{Error, Result};
pub use playlist::{MediaPlaylist, SegmentEntry, Variant, render_master};
pub use segment::{Segment, SegmentFormat, SegmenterConfig};
pub use ts::TsSegmenter;
