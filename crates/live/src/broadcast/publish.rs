//! Playlists of a broadcast: what the origin serves while it is live, what
//! is stored per segment, what an ended broadcast leaves, and the deletion
//! schedule of channels that do not record.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use packager::LowLatencyOptions;
use storage::keys;

use super::rendition::Rendition;
use super::{Action, Broadcast, Now};
use crate::registry::Playlists;
use crate::render::{
    FinalObject, FinalRendition, MASTER_PLAYLIST, VariantInfo, final_playlists, master_playlist,
    public_master,
};

/// What an ended broadcast's playlists look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FinalLayout {
    /// A live stream: per rendition the live window with EXT-X-ENDLIST and
    /// the recording (`vod.m3u8`), and both masters.
    Broadcast,
    /// Files (`aethex segment`): per rendition `index.m3u8` with every
    /// segment, and `master.m3u8`.
    Files,
}

impl Broadcast {
    pub(super) fn window(&self) -> usize {
        self.config.window_segments
    }

    /// The master playlist over the renditions that have media, pointing at
    /// `{dir}{media_playlist}`.
    pub(super) fn master(&self, media_playlist: &str) -> String {
        let source_fps = self.renditions[0].info.video.as_ref().and_then(|v| v.fps);
        let flat = self.config.flat;
        let variants: Vec<VariantInfo<'_>> = self
            .renditions
            .iter()
            .filter(|r| !r.stopped && (r.has_media() || r.info.video.is_some()))
            .map(|r| VariantInfo {
                name: if flat { "" } else { &r.name },
                dir: r.dir(),
                info: &r.info,
                bandwidth: &r.bandwidth,
                fallback_fps: source_fps,
                estimated_bps: r.estimated_bps,
            })
            .collect();
        master_playlist(&variants, media_playlist)
    }

    /// Renders every rendition's live playlist and the master for the
    /// origin and, with `to_store`, also stores them (per segment, for
    /// CDN/bucket playback; not per part). Storage always gets standard live
    /// playlists: LL-HLS parts and blocking reloads exist only at the origin.
    pub(super) fn publish(&mut self, now: Now, to_store: bool) {
        if !self.config.live_playlists {
            return;
        }
        if !self.config.record && to_store {
            self.schedule_expired(now);
        }
        let window = self.window();
        let low_latency = self.config.low_latency;
        let part_target = self.config.segmenter.part_target.unwrap_or_default();
        let mut media = HashMap::new();
        let mut stored_bodies = Vec::new();
        for r in &self.renditions {
            if r.info.video.is_none() && r.info.audio.is_none() {
                continue;
            }
            let standard = Bytes::from(r.playlist.render_live(window));
            let (body, delta) = if low_latency {
                let mut options = LowLatencyOptions {
                    window_segments: window,
                    part_target,
                    skip: false,
                    preload_hint_uri: r
                        .playlist
                        .next_part()
                        .map(|(seq, idx)| format!("{seq}.{idx}.m4s")),
                };
                let body = Bytes::from(r.playlist.render_low_latency(&options));
                options.skip = true;
                let delta = Bytes::from(r.playlist.render_low_latency(&options));
                (body, Some(delta))
            } else {
                (standard.clone(), None)
            };
            stored_bodies.push((r.name.clone(), r.path(keys::MEDIA_PLAYLIST), standard));
            media.insert(r.name.to_string(), r.view(body, delta));
        }
        let source = &self.renditions[0];
        // No master before the source has a complete segment: a player that
        // joins then would find only parts (no EXTINF) and no bitrates, and
        // players read the master once.
        let has_segment = source.playlist.segments().len() > 0;
        let master = Bytes::from(self.master(keys::MEDIA_PLAYLIST));
        let playlists = Playlists {
            master: has_segment.then(|| master.clone()),
            media,
            ended: source.playlist.is_ended(),
            low_latency,
            target_duration: std::time::Duration::from_secs(source.playlist.target_duration_secs()),
            edge_received_at: self.edge_received_at,
            dropped_segments: self.renditions.iter().map(|r| r.gaps).sum(),
            late_segments: self.late_segments,
        };
        self.actions.push_back(Action::Publish(Arc::new(playlists)));
        if !to_store || !has_segment {
            return;
        }
        // Each playlist goes in its rendition's upload lane, after the
        // segments it lists: a bucket never shows a playlist before them.
        for (lane, path, body) in stored_bodies {
            self.actions.push_back(Action::Store {
                lane,
                path,
                data: vec![body],
                cache: false,
                ack: None,
                durable: false,
            });
        }
        let stored_master = Bytes::from(public_master(
            &String::from_utf8_lossy(&master),
            self.config.public_prefix.as_deref(),
        ));
        // It changes only with the renditions and their bandwidths: most
        // segments need no new copy.
        if self.stored_master.as_ref() == Some(&stored_master) {
            return;
        }
        self.stored_master = Some(stored_master.clone());
        self.actions.push_back(Action::Store {
            lane: self.renditions[0].name.clone(),
            path: MASTER_PLAYLIST.to_string(),
            data: vec![stored_master],
            cache: false,
            ack: None,
            durable: true,
        });
    }

    /// Channels that do not record: segments that left the live window are
    /// deleted once the grace period after that is over (players may still
    /// be fetching them).
    pub(super) fn schedule_expired(&mut self, now: Now) {
        let window = self.window();
        let due = now.at + self.config.retention_grace;
        for r in &mut self.renditions {
            for uri in r.take_expired(window) {
                self.expiring.push_back((due, r.path(&uri)));
            }
        }
        self.expire(now);
    }

    /// Deletes the objects whose time has come.
    pub(super) fn expire(&mut self, now: Now) {
        while let Some((_, path)) = self.expiring.pop_front_if(|(due, _)| *due <= now.at) {
            self.actions.push_back(Action::Delete { path });
        }
    }

    /// The playlists an ended broadcast leaves; none when nothing was
    /// stored.
    pub(super) fn final_objects(&self) -> Vec<FinalObject> {
        if self.renditions[0].playlist.segments().len() == 0 {
            return Vec::new();
        }
        let listed: Vec<&Rendition> = self
            .renditions
            .iter()
            .filter(|r| r.playlist.segments().len() > 0)
            .collect();
        match self.layout {
            FinalLayout::Broadcast => {
                let finals: Vec<FinalRendition<'_>> = listed
                    .iter()
                    .map(|r| FinalRendition {
                        name: &r.name,
                        playlist: &r.playlist,
                    })
                    .collect();
                final_playlists(
                    &finals,
                    self.window(),
                    &self.master(keys::MEDIA_PLAYLIST),
                    self.config.public_prefix.as_deref(),
                )
            }
            FinalLayout::Files => {
                let mut objects: Vec<FinalObject> = listed
                    .iter()
                    .map(|r| {
                        (
                            r.name.clone(),
                            r.path(keys::MEDIA_PLAYLIST),
                            Bytes::from(r.playlist.render_vod()),
                        )
                    })
                    .collect();
                objects.push((
                    self.renditions[0].name.clone(),
                    MASTER_PLAYLIST.to_string(),
                    Bytes::from(self.master(keys::MEDIA_PLAYLIST)),
                ));
                objects
            }
        }
    }
}
