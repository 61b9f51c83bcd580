//! [`Origin`]: the narrow view of live streams the HTTP side gets. It reads
//! (sessions' playlists, viewer counts, the hot cache), stops a broadcast,
//! wakes the workers, deletes recordings and channels (which must
//! coordinate with a broadcast in progress), and makes images from stored
//! media. It cannot start a broadcast, feed one, or run a ladder.

use std::sync::Arc;

use bytes::Bytes;
use control::{Clip, DeletedChannel, DeletedVod};
use storage::HotCache;

use crate::images::{ImageError, ImageFormat, ImageShape};
use crate::{Live, Registry, Removed, Result, Viewers};

/// See the module documentation. Cheap to clone.
#[derive(Clone)]
pub struct Origin {
    live: Live,
}

impl Live {
    /// The view of this node's live streams that the HTTP API holds.
    pub fn origin(&self) -> Origin {
        Origin { live: self.clone() }
    }
}

impl Origin {
    /// The sessions in progress.
    pub fn registry(&self) -> &Registry {
        self.live.registry()
    }

    /// Concurrent viewers of live streams.
    pub fn viewers(&self) -> &Viewers {
        self.live.viewers()
    }

    /// The hot cache of recent segments and parts.
    pub fn cache(&self) -> &Arc<HotCache> {
        self.live.cache()
    }

    /// Ends the channel's broadcast now (see [`Live::stop`]).
    pub fn stop(&self, channel_id: &str) -> bool {
        self.live.stop(channel_id)
    }

    /// See [`Live::wake_clip_exporter`].
    pub fn wake_clip_exporter(&self) {
        self.live.wake_clip_exporter()
    }

    /// See [`Live::wake_asset_file_maker`].
    pub fn wake_asset_file_maker(&self) {
        self.live.wake_asset_file_maker()
    }

    /// See [`Live::delete_vod`].
    pub async fn delete_vod(&self, vod_id: &str) -> Result<(DeletedVod, Removed)> {
        self.live.delete_vod(vod_id).await
    }

    /// See [`Live::delete_clip`].
    pub async fn delete_clip(&self, clip_id: &str) -> Result<Clip> {
        self.live.delete_clip(clip_id).await
    }

    /// See [`Live::delete_channel`].
    pub async fn delete_channel(&self, channel_id: &str) -> Result<(DeletedChannel, Removed)> {
        self.live.delete_channel(channel_id).await
    }

    /// See [`Live::reshape`].
    pub async fn reshape(
        &self,
        image: Bytes,
        shape: ImageShape,
        format: ImageFormat,
    ) -> std::result::Result<Bytes, ImageError> {
        self.live.reshape(image, shape, format).await
    }

    /// See [`Live::frame_at`].
    pub async fn frame_at(
        &self,
        live_stream_id: &str,
        time_s: f64,
        shape: ImageShape,
        format: ImageFormat,
    ) -> std::result::Result<Bytes, ImageError> {
        self.live
            .frame_at(live_stream_id, time_s, shape, format)
            .await
    }
}
