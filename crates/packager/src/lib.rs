//! The AeThex LIVE packager: access units in, HLS media segments, LL-HLS
//! partial segments and playlists out (RFC 8216bis). The hot path of every
//! live stream.
//!
//! - [`Segmenter`] cuts a stream of [`av::AccessUnit`]s into [`Segment`]s at
//!   video keyframes, in MPEG-TS (ISO/IEC 13818-1; module `ts`) or fragmented
//!   MP4 (ISO/IEC 14496-12; module `fmp4`, with an initialization segment
//!   and optional LL-HLS [`Part`]s). [`TsSegmenter`] is the MPEG-TS-only
//!   form of it. The cutting rules live in module `segmenter`.
//! - [`MediaPlaylist`] keeps the list of stored segments (and recent parts)
//!   of one rendition and renders live (sliding window), low-latency
//!   (`EXT-X-PART`, blocking reload, delta updates) and VOD playlists;
//!   [`render_master`] renders the multivariant playlist; [`BandwidthMeter`]
//!   measures a variant's `BANDWIDTH`/`AVERAGE-BANDWIDTH`.
//!
//! Sans-IO: no files, no network, no clock, no async runtime. Callers push
//! access units and pull outputs, store them, then push playlist entries.

mod avcc;
mod bandwidth;
mod error;
mod fmp4;
mod playlist;
mod segment;
mod segmenter;
mod ts;

#[doc(hidden)]
pub mod testutil;

pub use bandwidth::BandwidthMeter;
pub use error::{Error, Result};
pub use playlist::{
    LowLatencyOptions, MediaPlaylist, PART_WINDOW_TDS, PartEntry, SegmentEntry, SegmentHead,
    Variant, render_master,
};
pub use segment::{Output, Part, Segment, SegmentFormat, SegmenterConfig};
pub use segmenter::Segmenter;
pub use ts::TsSegmenter;
