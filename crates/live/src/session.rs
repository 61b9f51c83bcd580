//! [`Live`]: starts broadcasts and runs one actor per broadcast.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use av::{DemuxEvent, MediaInfo, Time90k};
use bytes::Bytes;
use control::{Channel, Db, LatencyMode, NewSegment};
use packager::{
    BandwidthMeter, LowLatencyOptions, MediaPlaylist, Output, Part, PartEntry, Segment,
    SegmentEntry, SegmentFormat, SegmentHead, Segmenter, SegmenterConfig,
};
use storage::{HotCache, Store, keys};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, error, info, info_span, warn};

use crate::registry::{MediaPlaylistView, Playlists, Registry, SessionView};
use crate::render::{
    SOURCE_RENDITION, ingest_info, put_with_retry, source_master, store_final_playlists,
};
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
        let session = Session {
            live: inner.clone(),
            channel_id: channel.channel_id.clone(),
            live_stream_id: live_stream_id.clone(),
            vod_id,
            playlists_tx,
            info: MediaInfo::default(),
            segmenter_config: SegmenterConfig {
                target_duration,
                format,
                part_target: low_latency.then_some(part_target),
            },
            part_target,
            low_latency,
            segmenter: None,
            playlist: MediaPlaylist::new(target_duration),
            bandwidth: BandwidthMeter::default(),
            next_sequence: 0,
            pending_discontinuity: false,
            map_uri: None,
            init_generation: 0,
            segment_started_ms: None,
            last_arrival: None,
            edge_received_at: None,
            active: false,
            dropped_units: 0,
            gaps: 0,
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
    /// LL-HLS part target (used when `low_latency`).
    part_target: Time90k,
    /// Low-Latency HLS: parts, blocking reloads, delta updates.
    low_latency: bool,
    /// Started at the first access unit, with the configurations known then.
    segmenter: Option<Segmenter>,
    playlist: MediaPlaylist,
    bandwidth: BandwidthMeter,
    /// Sequence number the next segmenter starts at.
    next_sequence: u64,
    /// The next segment follows a format change (EXT-X-DISCONTINUITY).
    pending_discontinuity: bool,
    /// The current initialization segment (fMP4), for EXT-X-MAP.
    map_uri: Option<String>,
    /// Initialization segments written so far (each segmenter writes one).
    init_generation: u32,
    /// Wall-clock start of the segment in progress, unix ms.
    segment_started_ms: Option<i64>,
    /// When the last access unit pushed into the segmenter arrived at ingest.
    last_arrival: Option<Instant>,
    /// When the media at the live edge (newest listed part or segment)
    /// arrived at ingest.
    edge_received_at: Option<Instant>,
    /// The first segment has been stored (live stream `active`).
    active: bool,
    dropped_units: u64,
    /// Segments the store refused (listed with EXT-X-GAP).
    gaps: u64,
}

fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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
                if self.segment_started_ms.is_none() {
                    self.segment_started_ms = Some(now_unix_ms());
                }
                let segmenter = self.segmenter.get_or_insert_with(|| {
                    Segmenter::new(
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
                self.last_arrival = Some(received_at);
                self.drain().await;
            }
        }
    }

    /// A configuration changed mid-stream: close what the old segmenter has
    /// and start a new one (its first segment gets EXT-X-DISCONTINUITY and,
    /// for fMP4, a new initialization segment).
    async fn restart_segmenter(&mut self) {
        if let Some(mut s) = self.segmenter.take() {
            s.finish();
            let outputs: Vec<Output> = std::iter::from_fn(|| s.pull()).collect();
            for output in outputs {
                self.handle(output).await;
            }
            self.pending_discontinuity = true;
        }
    }

    async fn drain(&mut self) {
        while let Some(output) = self.segmenter.as_mut().and_then(|s| s.pull()) {
            self.handle(output).await;
        }
    }

    async fn handle(&mut self, output: Output) {
        match output {
            Output::Init(data) => self.store_init(data).await,
            Output::Part(part) => self.list_part(part).await,
            Output::Segment(seg) => self.store_segment(seg).await,
        }
    }

    fn object_key(&self, file_name: &str) -> String {
        keys::segment(&self.live_stream_id, SOURCE_RENDITION, file_name)
    }

    /// Stores a new fMP4 initialization segment; the segments after it name
    /// it in EXT-X-MAP.
    async fn store_init(&mut self, data: Bytes) {
        self.init_generation += 1;
        let name = if self.init_generation == 1 {
            "init.mp4".to_string()
        } else {
            format!("init-{}.mp4", self.init_generation)
        };
        let key = self.object_key(&name);
        self.live.cache.insert(key.clone(), data.clone());
        let attempts = self.live.config.store_attempts;
        if let Err(e) = put_with_retry(&self.live.store, attempts, &key, data).await {
            // The hot cache still serves it to live viewers; the recording
            // would not play, which the VOD's failure to store shows.
            error!(error = %e, key, "could not store the initialization segment");
        }
        self.map_uri = Some(name);
    }

    /// Lists an LL-HLS part. Parts live only in the hot cache; the whole
    /// segment they make up is stored when it completes.
    async fn list_part(&mut self, part: Part) {
        let sequence = part.segment_sequence;
        let file_name = format!("{sequence}.{}.m4s", part.index);
        self.live
            .cache
            .insert(self.object_key(&file_name), part.to_bytes());
        if part.index == 0 {
            let head = SegmentHead {
                discontinuity: self.pending_discontinuity,
                program_date_time_ms: self.segment_started_ms,
                map_uri: self.map_uri.clone(),
            };
            if let Err(e) = self.playlist.begin_segment(sequence, head) {
                error!(error = %e, sequence, "cannot begin segment in the playlist");
                return;
            }
        }
        let entry = PartEntry {
            index: part.index,
            duration: part.duration,
            independent: part.independent,
            uri: file_name,
            gap: false,
        };
        if let Err(e) = self.playlist.push_part(sequence, entry) {
            error!(error = %e, sequence, index = part.index, "cannot list part");
            return;
        }
        self.edge_received_at = self.last_arrival;
        self.publish_memory();
    }

    /// Stores a segment, indexes it, then lists it. A segment the store
    /// refuses after every attempt is listed with EXT-X-GAP, so players skip
    /// it and sequence numbers stay consecutive.
    async fn store_segment(&mut self, seg: Segment) {
        let live = self.live.clone();
        let sequence = seg.sequence;
        self.next_sequence = sequence + 1;
        let program_date_time_ms = self.segment_started_ms.replace(now_unix_ms());
        // A one-frame last segment may have no measurable duration; a
        // playlist entry needs a positive one.
        let duration = Time90k(seg.duration.0.max(Time90k::from_millis(1).0));
        let file_name = keys::segment_file_name(sequence, seg.format.extension());
        let key = self.object_key(&file_name);
        let size_bytes = seg.size_bytes();
        let attempts = live.config.store_attempts;
        let whole = seg.to_bytes();
        let gap = match put_with_retry(&live.store, attempts, &key, whole.clone()).await {
            Ok(()) => {
                live.cache.insert(key, whole);
                false
            }
            Err(e) => {
                error!(error = %e, sequence, "segment lost: storage failed; listing it as a gap");
                self.gaps += 1;
                true
            }
        };
        let discontinuity = std::mem::take(&mut self.pending_discontinuity);
        let record = NewSegment {
            live_stream_id: self.live_stream_id.clone(),
            rendition: SOURCE_RENDITION.to_string(),
            sequence: sequence as i64,
            duration_90k: duration.0,
            size_bytes: size_bytes.max(1) as i64,
            discontinuity,
            uri: file_name.clone(),
            map_uri: self.map_uri.clone(),
            gap,
            program_date_time_ms,
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
            gap,
            program_date_time_ms,
            map_uri: self.map_uri.clone(),
        };
        if let Err(e) = self.playlist.push(entry) {
            // Sequence numbers come from the segmenter: this is a bug.
            error!(error = %e, sequence, "cannot list segment");
            return;
        }
        if !gap {
            self.bandwidth.record(size_bytes, duration);
        }
        if !self.low_latency {
            self.edge_received_at = self.last_arrival;
        }
        if !self.active && !gap {
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
        let (master, media) = self.publish_memory();
        // The store gets the playlists per segment (for CDN/bucket playback),
        // not per part.
        let id = &self.live_stream_id;
        for (key, body) in [
            (keys::media_playlist(id, SOURCE_RENDITION), media),
            (keys::master_playlist(id), master),
        ] {
            if let Err(e) = put_with_retry(&live.store, attempts, &key, body).await {
                error!(error = %e, key, "could not store playlist");
            }
        }
    }

    fn master(&self) -> Bytes {
        Bytes::from(source_master(
            &ingest_info(&self.info),
            &self.bandwidth,
            keys::MEDIA_PLAYLIST,
        ))
    }

    /// Renders the live playlists and hands them to the origin. Returns the
    /// master and the full media playlist.
    fn publish_memory(&self) -> (Bytes, Bytes) {
        let master = self.master();
        let config = &self.live.config;
        let (body, delta) = if self.low_latency && !self.playlist.is_ended() {
            let mut options = LowLatencyOptions {
                window_segments: config.low_latency_window_segments,
                part_target: self.part_target,
                skip: false,
                preload_hint_uri: self
                    .playlist
                    .next_part()
                    .map(|(seq, idx)| format!("{seq}.{idx}.m4s")),
            };
            let body = Bytes::from(self.playlist.render_low_latency(&options));
            options.skip = true;
            let delta = Bytes::from(self.playlist.render_low_latency(&options));
            (body, Some(delta))
        } else {
            let window = if self.low_latency {
                config.low_latency_window_segments
            } else {
                config.playlist_window_segments
            };
            (Bytes::from(self.playlist.render_live(window)), None)
        };
        let last_sequence = self.playlist.segments().last().map(|s| s.sequence);
        let view = MediaPlaylistView {
            body: body.clone(),
            delta,
            next_sequence: last_sequence.map_or(self.next_sequence, |s| s + 1),
            last_sequence,
            last_part: self.playlist.last_part(),
        };
        let playlists = Playlists {
            master: Some(master.clone()),
            media: HashMap::from([(SOURCE_RENDITION.to_string(), view)]),
            ended: self.playlist.is_ended(),
            low_latency: self.low_latency,
            target_duration: Duration::from_secs(self.playlist.target_duration_secs()),
            edge_received_at: self.edge_received_at,
        };
        self.playlists_tx.send_replace(Arc::new(playlists));
        (master, body)
    }

    async fn finish(mut self, reason: &str) {
        if let Some(mut s) = self.segmenter.take() {
            s.finish();
            let outputs: Vec<Output> = std::iter::from_fn(|| s.pull()).collect();
            for output in outputs {
                self.handle(output).await;
            }
        }
        self.playlist.end();
        let live = self.live.clone();
        let segments = self.playlist.segments().len();
        let ingest = ingest_info(&self.info);
        let stored = if segments > 0 {
            let window = if self.low_latency {
                live.config.low_latency_window_segments
            } else {
                live.config.playlist_window_segments
            };
            // Viewers following the live URL see EXT-X-ENDLIST at once.
            self.publish_memory();
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
        // Parts are no longer listed anywhere.
        live.cache.remove_prefix(&format!(
            "{}/",
            keys::live_stream_prefix(&self.live_stream_id)
        ));
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
            gaps = self.gaps,
            duration_s = self.playlist.total_duration().as_secs_f64(),
            dropped_units = self.dropped_units,
            "broadcast ended"
        );
    }
}
