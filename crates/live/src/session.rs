//! [`Live`]: starts broadcasts and runs one actor per broadcast.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use av::{DemuxEvent, MediaInfo, Time90k};
use bytes::Bytes;
use control::{Channel, Db, NewSegment};
use packager::{
    BandwidthMeter, MediaPlaylist, Segment, SegmentEntry, SegmenterConfig, TsSegmenter,
};
use storage::{Store, keys};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, error, info, info_span, warn};

use crate::registry::{Playlists, Registry, SessionView};
use crate::render::{
    SOURCE_RENDITION, ingest_info, put_with_retry, source_master, store_final_playlists,
};
use crate::{Error, LiveConfig, Result};

pub(crate) const TS_EXTENSION: &str = "ts";

/// Starts and tracks live broadcasts. Cheap to clone.
#[derive(Clone)]
pub struct Live {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) store: Store,
    pub(crate) config: LiveConfig,
    pub(crate) registry: Registry,
    /// Supervisor tasks of the actors, to wait for them on shutdown.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Set when the server is stopping: broadcasts end with that reason.
    shutting_down: AtomicBool,
}

impl Live {
    pub fn new(db: Db, store: Store, config: LiveConfig) -> Self {
        Live {
            inner: Arc::new(Inner {
                db,
                store,
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

    /// Opens a broadcast on `channel` and spawns its actor. Media sent into
    /// the returned sender is packaged; dropping it ends the broadcast.
    /// `queue_depth` bounds the events buffered ahead of the actor. Returns
    /// the sender and the new live stream's id.
    pub async fn start(
        &self,
        channel: &Channel,
        queue_depth: usize,
    ) -> Result<(mpsc::Sender<DemuxEvent>, String)> {
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
        let session = Session {
            live: inner.clone(),
            channel_id: channel.channel_id.clone(),
            live_stream_id: live_stream_id.clone(),
            vod_id,
            playlists_tx,
            info: MediaInfo::default(),
            segmenter_config: SegmenterConfig {
                target_duration: Time90k::from_secs_f64(inner.config.segment_duration_s),
            },
            segmenter: None,
            playlist: MediaPlaylist::new(Time90k::from_secs_f64(inner.config.segment_duration_s)),
            bandwidth: BandwidthMeter::default(),
            next_sequence: 0,
            pending_discontinuity: false,
            active: false,
            dropped_units: 0,
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
struct Session {
    live: Arc<Inner>,
    channel_id: String,
    live_stream_id: String,
    vod_id: Option<String>,
    playlists_tx: watch::Sender<Arc<Playlists>>,
    /// Codec configurations seen so far.
    info: MediaInfo,
    segmenter_config: SegmenterConfig,
    /// Started at the first access unit, with the configurations known then.
    segmenter: Option<TsSegmenter>,
    playlist: MediaPlaylist,
    bandwidth: BandwidthMeter,
    /// Sequence number of the next stored segment. Segments are numbered
    /// here, not by the segmenter, so a segment the store refused leaves no
    /// gap in the playlist: its number goes to the next one.
    next_sequence: u64,
    /// The next listed segment follows a gap or a format change.
    pending_discontinuity: bool,
    /// The first segment has been stored (live stream `active`).
    active: bool,
    dropped_units: u64,
}

impl Session {
    async fn run(mut self, mut rx: mpsc::Receiver<DemuxEvent>) {
        while let Some(event) = rx.recv().await {
            self.on_event(event).await;
        }
        let reason = if self.live.shutting_down.load(Ordering::Relaxed) {
            "server shutting down"
        } else {
            "publisher disconnected"
        };
        self.finish(reason).await;
    }

    async fn on_event(&mut self, event: DemuxEvent) {
        match event {
            DemuxEvent::VideoConfig(c) => {
                info!(codec = %c.codec_string(), width = c.width, height = c.height, "video configuration");
                self.info.video = Some(c);
                self.restart_segmenter().await;
            }
            DemuxEvent::AudioConfig(c) => {
                info!(codec = %c.codec_string(), sample_rate = c.sample_rate, channels = c.channels, "audio configuration");
                self.info.audio = Some(c);
                self.restart_segmenter().await;
            }
            DemuxEvent::Unit(au) => {
                let segmenter = self.segmenter.get_or_insert_with(|| {
                    TsSegmenter::new(
                        self.info.clone(),
                        self.segmenter_config.clone(),
                        self.next_sequence,
                    )
                });
                if let Err(e) = segmenter.push(au) {
                    self.dropped_units += 1;
                    // Logged at powers of two so a broken stream cannot flood the log.
                    if self.dropped_units.is_power_of_two() {
                        warn!(error = %e, dropped = self.dropped_units, "dropping access unit");
                    }
                    return;
                }
                self.drain().await;
            }
        }
    }

    /// A configuration changed mid-stream: close what the old segmenter has
    /// and start a new one (its first segment gets EXT-X-DISCONTINUITY).
    async fn restart_segmenter(&mut self) {
        if let Some(mut s) = self.segmenter.take() {
            s.finish();
            let segments: Vec<Segment> = std::iter::from_fn(|| s.pull()).collect();
            for seg in segments {
                self.store_segment(seg).await;
            }
            self.pending_discontinuity = true;
        }
    }

    async fn drain(&mut self) {
        while let Some(seg) = self.segmenter.as_mut().and_then(|s| s.pull()) {
            self.store_segment(seg).await;
        }
    }

    /// Stores a segment, indexes it, then lists it. A segment the store
    /// refuses after every attempt is left out and the playlist continues
    /// after a discontinuity.
    async fn store_segment(&mut self, seg: Segment) {
        let live = self.live.clone();
        let sequence = self.next_sequence;
        // A one-frame last segment may have no measurable duration; a
        // playlist entry needs a positive one.
        let duration = Time90k(seg.duration.0.max(Time90k::from_millis(1).0));
        let file_name = keys::segment_file_name(sequence, TS_EXTENSION);
        let key = keys::segment(&self.live_stream_id, SOURCE_RENDITION, &file_name);
        let attempts = live.config.store_attempts;
        if let Err(e) = put_with_retry(&live.store, attempts, &key, seg.data.clone()).await {
            error!(error = %e, sequence, "segment lost: storage failed");
            self.pending_discontinuity = true;
            return;
        }
        self.next_sequence += 1;
        let discontinuity = std::mem::take(&mut self.pending_discontinuity);
        let record = NewSegment {
            live_stream_id: self.live_stream_id.clone(),
            rendition: SOURCE_RENDITION.to_string(),
            sequence: sequence as i64,
            duration_90k: duration.0,
            size_bytes: seg.data.len() as i64,
            discontinuity,
        };
        if let Err(e) = live.db.add_segment(record).await {
            // The segment still plays; only crash recovery would miss it.
            error!(error = %e, sequence, "could not index segment");
        }
        let entry = SegmentEntry {
            sequence,
            duration,
            uri: file_name,
            discontinuity,
        };
        if let Err(e) = self.playlist.push(entry) {
            // Sequence numbers come from our own counter: this is a bug.
            error!(error = %e, sequence, "cannot list segment");
            return;
        }
        self.bandwidth.record(seg.data.len(), duration);
        if !self.active {
            self.active = true;
            if let Err(e) = live
                .db
                .set_live_stream_active(&self.live_stream_id, ingest_info(&self.info))
                .await
            {
                error!(error = %e, "could not mark the live stream active");
            }
            info!(
                duration_s = duration.as_secs_f64(),
                "first segment stored; stream is active"
            );
        }
        self.publish_live().await;
    }

    /// Renders the live playlists, hands them to the origin and writes them
    /// to the store (for CDN/bucket playback).
    async fn publish_live(&mut self) {
        let master = Bytes::from(source_master(
            &ingest_info(&self.info),
            &self.bandwidth,
            keys::MEDIA_PLAYLIST,
        ));
        let media = Bytes::from(
            self.playlist
                .render_live(self.live.config.playlist_window_segments),
        );
        self.send_playlists(master.clone(), media.clone());
        let id = &self.live_stream_id;
        let attempts = self.live.config.store_attempts;
        for (key, body) in [
            (keys::media_playlist(id, SOURCE_RENDITION), media),
            (keys::master_playlist(id), master),
        ] {
            if let Err(e) = put_with_retry(&self.live.store, attempts, &key, body).await {
                error!(error = %e, key, "could not store playlist");
            }
        }
    }

    fn send_playlists(&self, master: Bytes, media: Bytes) {
        let mut playlists = Playlists {
            master: Some(master),
            ended: self.playlist.is_ended(),
            ..Playlists::default()
        };
        playlists.media.insert(SOURCE_RENDITION.to_string(), media);
        self.playlists_tx.send_replace(Arc::new(playlists));
    }

    async fn finish(mut self, reason: &str) {
        if let Some(mut s) = self.segmenter.take() {
            s.finish();
            let segments: Vec<Segment> = std::iter::from_fn(|| s.pull()).collect();
            for seg in segments {
                self.store_segment(seg).await;
            }
        }
        self.playlist.end();
        let live = self.live.clone();
        let segments = self.playlist.segments().len();
        let ingest = ingest_info(&self.info);
        let stored = if segments > 0 {
            let window = live.config.playlist_window_segments;
            // Viewers following the live URL see EXT-X-ENDLIST at once.
            self.send_playlists(
                Bytes::from(source_master(
                    &ingest,
                    &self.bandwidth,
                    keys::MEDIA_PLAYLIST,
                )),
                Bytes::from(self.playlist.render_live(window)),
            );
            let result = store_final_playlists(
                &live.store,
                live.config.store_attempts,
                &self.live_stream_id,
                &self.playlist,
                window,
                &ingest,
                &self.bandwidth,
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
        if let Some(vod_id) = &self.vod_id {
            let result = match (segments, stored) {
                (0, _) => live.db.fail_vod(vod_id).await.map(|_| ()),
                (n, true) => live
                    .db
                    .finish_vod(
                        vod_id,
                        self.playlist.total_duration().as_millis(),
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
            duration_s = self.playlist.total_duration().as_secs_f64(),
            dropped_units = self.dropped_units,
            "broadcast ended"
        );
    }
}
