//! [`Live`]: starts broadcasts and runs one actor per broadcast.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use av::{DemuxEvent, MediaInfo, Time90k, TrackKind};
use bytes::Bytes;
use control::{Channel, Db, LatencyMode};
use packager::{LowLatencyOptions, SegmentFormat, SegmenterConfig};
use storage::{HotCache, Store, keys};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, error, info, info_span};

use crate::registry::{Playlists, Registry, SessionView};
use crate::render::{
    FinalRendition, SOURCE_RENDITION, VariantInfo, ingest_info, master_playlist, put_with_retry,
    store_final_playlists,
};
use crate::rendition::{Changes, Ctx, Rendition};
use crate::{Error, LiveConfig, Result};

/// Starts and tracks live broadcasts. Cheap to clone.
#[derive(Clone)]
pub struct Live {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) store: Store,
    pub(crate) cache: Arc<HotCache>,
    pub(crate) config: LiveConfig,
    pub(crate) registry: Registry,
    /// Supervisor tasks of the actors, to wait for them on shutdown.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Set when the server is stopping: broadcasts end with that reason.
    shutting_down: AtomicBool,
}

impl Live {
    /// `cache` holds recent segments and LL-HLS parts for the origin.
    pub fn new(db: Db, store: Store, cache: Arc<HotCache>, config: LiveConfig) -> Self {
        Live {
            inner: Arc::new(Inner {
                db,
                store,
                cache,
                config,
                registry: Registry::default(),
                tasks: Mutex::new(Vec::new()),
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    /// The sessions in progress, for the HLS origin.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The hot cache of recent segments and parts.
    pub fn cache(&self) -> &Arc<HotCache> {
        &self.inner.cache
    }

    /// Opens a broadcast on `channel` and spawns its actor. Media sent into
    /// the returned sender is packaged; dropping it ends the broadcast.
    /// `queue_depth` bounds the events buffered ahead of the actor. Returns
    /// the sender and the new live stream's id.
    pub async fn start(
        &self,
        channel: &Channel,
        queue_depth: usize,
    ) -> Result<(mpsc::Sender<(Instant, DemuxEvent)>, String)> {
        let inner = &self.inner;
        if inner.registry.get(&channel.channel_id).is_some() {
            return Err(Error::Busy(channel.slug.clone()));
        }
        let live_stream = match inner.db.begin_live_stream(&channel.channel_id).await {
            Ok(ls) => ls,
            Err(control::Error::Busy { .. }) => return Err(Error::Busy(channel.slug.clone())),
            Err(e) => return Err(e.into()),
        };
        let live_stream_id = live_stream.live_stream_id;
        let vod_id = if channel.record {
            match inner.db.create_vod(&live_stream_id).await {
                Ok(v) => Some(v.vod_id),
                Err(e) => {
                    end_with_retry(&inner.db, &live_stream_id, "server error").await;
                    return Err(e.into());
                }
            }
        } else {
            None
        };
        let (playlists_tx, playlists_rx) = watch::channel(Arc::new(Playlists::default()));
        let view = Arc::new(SessionView::new(
            live_stream_id.clone(),
            channel.channel_id.clone(),
            playlists_rx,
        ));
        if !inner.registry.insert(view) {
            end_with_retry(&inner.db, &live_stream_id, "lost a start race").await;
            return Err(Error::Busy(channel.slug.clone()));
        }
        let (tx, rx) = mpsc::channel(queue_depth.max(1));
        let format = match channel.segment_format {
            control::SegmentFormat::Ts => SegmentFormat::MpegTs,
            control::SegmentFormat::Fmp4 => SegmentFormat::Fmp4,
        };
        // LL-HLS parts are fMP4 fragments: a low-latency channel set to TS
        // gets standard HLS.
        let low_latency = channel.latency_mode == LatencyMode::Low && format == SegmentFormat::Fmp4;
        let target_duration = Time90k::from_secs_f64(inner.config.segment_duration_s);
        let part_target = Time90k::from_secs_f64(inner.config.part_duration_s);
        let segmenter_config = SegmenterConfig {
            target_duration,
            format,
            part_target: low_latency.then_some(part_target),
        };
        let session = Session {
            live: inner.clone(),
            channel_id: channel.channel_id.clone(),
            live_stream_id: live_stream_id.clone(),
            vod_id,
            playlists_tx,
            renditions: vec![Rendition::new(
                SOURCE_RENDITION,
                MediaInfo::default(),
                segmenter_config.clone(),
                false,
            )],
            segmenter_config,
            part_target,
            low_latency,
            last_arrival: None,
            edge_received_at: None,
            active: false,
        };
        // A root span: the broadcast outlives the connection that started it.
        let span = info_span!(parent: None, "live", channel = %channel.slug, live_stream = %live_stream_id);
        info!(parent: &span, "broadcast started");
        let actor = tokio::spawn(session.run(rx).instrument(span.clone()));
        // The supervisor cleans up after an actor that panicked, so a bug
        // cannot leave the channel "already live" until the next restart.
        let supervisor = {
            let inner = inner.clone();
            let channel_id = channel.channel_id.clone();
            let live_stream_id = live_stream_id.clone();
            tokio::spawn(
                async move {
                    if let Err(e) = actor.await
                        && e.is_panic()
                    {
                        error!("broadcast actor panicked; ending the broadcast");
                        end_with_retry(&inner.db, &live_stream_id, "internal error").await;
                        inner.registry.remove(&channel_id, &live_stream_id);
                    }
                }
                .instrument(span),
            )
        };
        let mut tasks = inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(supervisor);
        Ok((tx, live_stream_id))
    }

    /// Marks the server as stopping: broadcasts that end from now on record
    /// "server shutting down" as their reason.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Relaxed);
    }

    /// Waits until every broadcast actor has finished (after their publishers
    /// were disconnected), at most `timeout`. Returns false on timeout.
    pub async fn wait_finished(&self, timeout: Duration) -> bool {
        let tasks: Vec<_> = {
            let mut t = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *t)
        };
        tokio::time::timeout(timeout, async {
            for t in tasks {
                let _ = t.await;
            }
        })
        .await
        .is_ok()
    }
}

/// Ends a live stream, retrying: a live stream left unended keeps its
/// channel "already live".
async fn end_with_retry(db: &Db, live_stream_id: &str, reason: &str) {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=6 {
        match db.end_live_stream(live_stream_id, reason).await {
            Ok(_) => return,
            Err(e) => {
                error!(error = %e, attempt, "could not end the live stream");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

/// The actor of one broadcast.
pub(crate) struct Session {
    live: Arc<Inner>,
    channel_id: String,
    live_stream_id: String,
    vod_id: Option<String>,
    playlists_tx: watch::Sender<Arc<Playlists>>,
    /// `renditions[0]` is the source (passthrough); the rest are transcoded.
    renditions: Vec<Rendition>,
    segmenter_config: SegmenterConfig,
    /// LL-HLS part target (used when `low_latency`).
    part_target: Time90k,
    /// Low-Latency HLS: parts, blocking reloads, delta updates.
    low_latency: bool,
    /// When the last source access unit arrived at ingest.
    last_arrival: Option<Instant>,
    /// When the media at the live edge (the source's newest listed part or
    /// segment) arrived at ingest.
    edge_received_at: Option<Instant>,
    /// The first source segment has been stored (live stream `active`).
    active: bool,
}

impl Session {
    async fn run(mut self, mut rx: mpsc::Receiver<(Instant, DemuxEvent)>) {
        while let Some((received_at, event)) = rx.recv().await {
            self.on_event(received_at, event).await;
        }
        let reason = if self.live.shutting_down.load(Ordering::Relaxed) {
            "server shutting down"
        } else {
            "publisher disconnected"
        };
        self.finish(reason).await;
    }

    async fn on_event(&mut self, received_at: Instant, event: DemuxEvent) {
        let ctx = Ctx {
            live: &self.live,
            live_stream_id: &self.live_stream_id,
        };
        let changes = match event {
            DemuxEvent::VideoConfig(c) => {
                info!(codec = %c.codec_string(), width = c.width, height = c.height, "video configuration");
                self.renditions[0].set_video(&ctx, c).await
            }
            DemuxEvent::AudioConfig(c) => {
                info!(codec = %c.codec_string(), sample_rate = c.sample_rate, channels = c.channels, "audio configuration");
                let mut changes = Changes::default();
                for r in &mut self.renditions {
                    changes |= r.set_audio(&ctx, c.clone()).await;
                }
                changes
            }
            DemuxEvent::Unit(au) => {
                self.last_arrival = Some(received_at);
                if au.track == TrackKind::Audio {
                    for r in self.renditions.iter_mut().skip(1) {
                        r.push(&ctx, au.clone()).await;
                    }
                }
                self.renditions[0].push(&ctx, au).await
            }
        };
        self.after_source(changes).await;
    }

    /// Bookkeeping after the source rendition changed: the live edge, the
    /// live stream's `active` state, and republishing.
    async fn after_source(&mut self, changes: Changes) {
        if changes.part || (changes.segment && !self.low_latency) {
            self.edge_received_at = self.last_arrival;
        }
        if changes.stored && !self.active {
            self.active = true;
            let info = &self.renditions[0].info;
            if let Err(e) = self
                .live
                .db
                .set_live_stream_active(&self.live_stream_id, ingest_info(info))
                .await
            {
                error!(error = %e, "could not mark the live stream active");
            }
            info!("first segment stored; stream is active");
        }
        if changes.segment {
            self.publish(true).await;
        } else if changes.part {
            self.publish(false).await;
        }
    }

    /// The master playlist over the renditions that have media, pointing at
    /// `{rendition}/{media_playlist}`.
    fn master(&self, media_playlist: &str) -> String {
        let source_fps = self.renditions[0].info.video.as_ref().and_then(|v| v.fps);
        let variants: Vec<VariantInfo<'_>> = self
            .renditions
            .iter()
            .filter(|r| !r.stopped && (r.has_media() || r.info.video.is_some()))
            .map(|r| VariantInfo {
                name: &r.name,
                info: &r.info,
                bandwidth: &r.bandwidth,
                fallback_fps: source_fps,
                estimated_bps: r.estimated_bps,
            })
            .collect();
        master_playlist(&variants, media_playlist)
    }

    /// Renders every rendition's live playlist and the master, hands them to
    /// the origin, and with `to_store` also writes them to storage (per
    /// segment, for CDN/bucket playback; not per part). Storage always gets
    /// standard live playlists: LL-HLS parts and blocking reloads exist only
    /// at this origin.
    async fn publish(&mut self, to_store: bool) {
        let config = &self.live.config;
        let window = if self.low_latency {
            config.low_latency_window_segments
        } else {
            config.playlist_window_segments
        };
        let mut media = HashMap::new();
        let mut stored_bodies = Vec::new();
        for r in &self.renditions {
            if r.info.video.is_none() && r.info.audio.is_none() {
                continue;
            }
            let standard = Bytes::from(r.playlist.render_live(window));
            let (body, delta) = if self.low_latency {
                let mut options = LowLatencyOptions {
                    window_segments: config.low_latency_window_segments,
                    part_target: self.part_target,
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
            stored_bodies.push((r.name.clone(), standard));
            media.insert(r.name.clone(), r.view(body, delta));
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
            low_latency: self.low_latency,
            target_duration: Duration::from_secs(source.playlist.target_duration_secs()),
            edge_received_at: self.edge_received_at,
        };
        self.playlists_tx.send_replace(Arc::new(playlists));
        if !to_store || !has_segment {
            return;
        }
        let attempts = config.store_attempts;
        let id = &self.live_stream_id;
        for (name, body) in stored_bodies {
            let key = keys::media_playlist(id, &name);
            if let Err(e) = put_with_retry(&self.live.store, attempts, &key, body).await {
                error!(error = %e, key, "could not store playlist");
            }
        }
        let key = keys::master_playlist(id);
        if let Err(e) = put_with_retry(&self.live.store, attempts, &key, master).await {
            error!(error = %e, key, "could not store playlist");
        }
    }

    async fn finish(mut self, reason: &str) {
        let ctx = Ctx {
            live: &self.live,
            live_stream_id: &self.live_stream_id,
        };
        for r in &mut self.renditions {
            r.finish(&ctx).await;
        }
        let live = self.live.clone();
        // Viewers following the live URLs see EXT-X-ENDLIST at once.
        self.publish(false).await;
        let source = &self.renditions[0];
        let segments = source.playlist.segments().len();
        let stored = if segments > 0 {
            let window = if self.low_latency {
                live.config.low_latency_window_segments
            } else {
                live.config.playlist_window_segments
            };
            let finals: Vec<FinalRendition<'_>> = self
                .renditions
                .iter()
                .filter(|r| r.playlist.segments().len() > 0)
                .map(|r| FinalRendition {
                    name: &r.name,
                    playlist: &r.playlist,
                })
                .collect();
            let result = store_final_playlists(
                &live.store,
                live.config.store_attempts,
                &self.live_stream_id,
                &finals,
                window,
                &self.master(keys::MEDIA_PLAYLIST),
            )
            .await;
            if let Err(e) = &result {
                error!(error = %e, "could not store the final playlists; the next start retries");
            }
            result.is_ok()
        } else {
            false
        };
        end_with_retry(&live.db, &self.live_stream_id, reason).await;
        // The origin now serves this broadcast from storage (its final
        // playlists are there) and the channel may go live again.
        live.registry.remove(&self.channel_id, &self.live_stream_id);
        // Parts are no longer listed anywhere.
        live.cache.remove_prefix(&format!(
            "{}/",
            keys::live_stream_prefix(&self.live_stream_id)
        ));
        let source = &self.renditions[0];
        if let Some(vod_id) = &self.vod_id {
            let result = match (segments, stored) {
                (0, _) => live.db.fail_vod(vod_id).await.map(|_| ()),
                (n, true) => live
                    .db
                    .finish_vod(
                        vod_id,
                        source.playlist.total_duration().as_millis(),
                        u32::try_from(n).unwrap_or(u32::MAX),
                    )
                    .await
                    .map(|_| ()),
                // Left `recording`: recovery rebuilds it from the segment index.
                (_, false) => Ok(()),
            };
            if let Err(e) = result {
                error!(error = %e, vod = %vod_id, "could not finalize the VOD");
            }
        }
        info!(
            reason,
            segments,
            renditions = self.renditions.len(),
            gaps = self.renditions.iter().map(|r| r.gaps).sum::<u64>(),
            duration_s = source.playlist.total_duration().as_secs_f64(),
            dropped_units = self.renditions.iter().map(|r| r.dropped_units).sum::<u64>(),
            "broadcast ended"
        );
    }
}
