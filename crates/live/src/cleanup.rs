//! Deleting what users delete: a VOD, a clip or a channel goes from the
//! database first (so nothing new can refer to it), then its objects go
//! from the store. When the store fails after the rows are gone, the
//! objects are orphans: the error says so, and `aethex storage sweep`
//! (which lists broadcasts the database does not know) removes them later.

use control::{Clip, DeletedChannel, DeletedVod};
use storage::keys;
use tracing::{info, warn};

use crate::{Live, Result};

/// What a deletion removed from the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Objects of the deleted broadcasts (segments, playlists, images).
    pub objects: usize,
}

impl Live {
    /// Deletes a VOD: its row, its clips' rows, then the broadcast's
    /// objects (segments, playlists, thumbnails, poster) and the clips'
    /// exported files. A VOD whose broadcast is still live is refused
    /// (`control::Error::Conflict`).
    pub async fn delete_vod(&self, vod_id: &str) -> Result<(DeletedVod, Removed)> {
        let deleted = self.inner.db.delete_vod(vod_id).await?;
        let removed = self
            .delete_broadcast_objects(std::slice::from_ref(&deleted.live_stream_id))
            .await?;
        self.delete_clip_objects(&deleted.clip_ids).await?;
        info!(
            vod = vod_id,
            live_stream = %deleted.live_stream_id,
            objects = removed.objects,
            "VOD deleted"
        );
        Ok((deleted, removed))
    }

    /// Deletes a clip: its row, then its exported file (instant clips are
    /// playlists over the recording's segments and own no objects).
    pub async fn delete_clip(&self, clip_id: &str) -> Result<Clip> {
        let clip = self.inner.db.delete_clip(clip_id).await?;
        self.delete_clip_objects(std::slice::from_ref(&clip.clip_id))
            .await?;
        Ok(clip)
    }

    /// Deletes a channel with everything it had: rows first (refused while
    /// it is live), then every broadcast's objects and every clip's file.
    pub async fn delete_channel(&self, channel_id: &str) -> Result<(DeletedChannel, Removed)> {
        let deleted = self.inner.db.delete_channel(channel_id).await?;
        let removed = self
            .delete_broadcast_objects(&deleted.live_stream_ids)
            .await?;
        self.delete_clip_objects(&deleted.clip_ids).await?;
        info!(
            channel = channel_id,
            broadcasts = deleted.live_stream_ids.len(),
            objects = removed.objects,
            "channel deleted"
        );
        Ok((deleted, removed))
    }

    async fn delete_broadcast_objects(&self, live_stream_ids: &[String]) -> Result<Removed> {
        let mut objects = 0;
        for id in live_stream_ids {
            match self
                .inner
                .media
                .delete_prefix(&keys::live_stream_prefix(id))
                .await
            {
                Ok(n) => objects += n,
                Err(e) => {
                    warn!(
                        error = %e,
                        live_stream = %id,
                        "could not delete the objects of a deleted broadcast; \
                         `aethex storage sweep --delete` removes them later"
                    );
                    return Err(e.into());
                }
            }
        }
        Ok(Removed { objects })
    }

    /// Exported clip files (deleting one that was never exported is fine).
    async fn delete_clip_objects(&self, clip_ids: &[String]) -> Result<()> {
        for id in clip_ids {
            self.inner.media.delete(&keys::clip(id)).await?;
        }
        Ok(())
    }
}
