//! Live streams: one actor per broadcast.
//!
//! [`Live::start`] opens a broadcast for a channel (a `live_stream` row, a
//! VOD row when the channel records) and returns the sender ingest pushes
//! [`av::DemuxEvent`]s into. The actor packages them into segments, stores
//! each segment, then lists it in the playlists (never the other way round),
//! and publishes the playlists to the HLS origin through the [`Registry`].
//! When the sender is dropped (the publisher left) the actor closes the last
//! segment, writes the final playlists with `EXT-X-ENDLIST`, ends the live
//! stream and marks its VOD ready. [`Live::recover`] finishes what a killed
//! process left behind.

mod asset_files;
mod broadcast;
mod cleanup;
mod config;
mod driver;
mod end_reason;
mod error;
mod images;
mod ingest_meter;
pub mod jobs;
pub mod metrics;
mod origin;
mod recover;
mod registry;
mod render;
mod session;
mod storyboard;
mod transcoder;
mod viewers;
mod webhook_events;

pub use asset_files::{
    AssetFileConfig, files_for_new_recording, is_static_rendition, spawn_asset_file_maker,
    spawn_asset_file_maker_with,
};
pub use broadcast::{
    Ack, Action, Broadcast, BroadcastConfig, Ending, Input, MAX_TIMESTAMP_BACKSTEP,
    MAX_TIMESTAMP_STEP, Measure, Now, Recording, SegmentRecord, Status,
};
pub use cleanup::Removed;
pub use config::LiveConfig;
pub use end_reason::EndReason;
pub use error::{Error, Result};
pub use images::{FitMode, IMAGE_CONCURRENCY, IMAGE_MAX_SIDE, ImageError, ImageFormat, ImageShape};
pub use ingest_meter::{IngestMeter, IngestReading};
pub use origin::Origin;
pub use registry::{MediaPlaylistView, Playlists, Registry, SessionView};
pub use render::SOURCE_RENDITION;
pub use session::{Live, Publish};
pub use storyboard::{STORYBOARD_TILE_WIDTH, StoryboardGeometry};
pub use transcoder::{LadderControl, NoTranscoder, StartedLadder, TranscodeSettings, Transcoder};
pub use viewers::{VIEWER_TIMEOUT, Viewers};
