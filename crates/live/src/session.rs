//! [`Live`]: starts broadcasts and runs one actor per broadcast.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use av::{DemuxEvent, MediaInfo, Time90k, TrackKind};
use bytes::Bytes;
use control::{Channel, Db, LatencyMode, LiveStreamStatus, WebhookEventType};
use packager::{LowLatencyOptions, SegmentFormat, SegmenterConfig};
use storage::{HotCache, Media, keys};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, error, info, info_span, warn};
use transcode::{Ladder, LadderEvent, TranscodeConfig};

use crate::ingest_meter::IngestMeter;
use crate::registry::{Attach, Playlists, Registry, SessionView};
use crate::render::{
    FinalRendition, SOURCE_RENDITION, VariantInfo, flush_broadcast, ingest_info, lane,
    master_playlist, public_master, store_final_playlists,
};
use crate::rendition::{Changes, Ctx, Rendition};
use crate::viewers::Viewers;
use crate::webhook_events::Announcer;
use crate::{EndReason, Error, LiveConfig, Result};

/// How often the publisher's measured bitrate and keyframe interval are
/// written to the live stream's row.
const INGEST_STATS_INTERVAL: Duration = Duration::from_secs(5);
/// How often the per-broadcast gauges are set.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// How long after the last request for a stream's thumbnail it is still
/// refreshed at the busy interval.
const THUMBNAIL_DEMAND_WINDOW: Duration = Duration::from_secs(60);

/// A forward step in one track's timestamps larger than this is a jump of
/// the publisher's clock, not a gap in its media.
const MAX_TIMESTAMP_STEP: Time90k = Time90k(10 * Time90k::HZ);

/// A backward step in one track's decode times larger than this is a jump
/// (encoders never step back within a track; the segmenter would drop
/// every unit until the clock caught up).
const MAX_TIMESTAMP_BACKSTEP: Time90k = Time90k(Time90k::HZ);

/// A publisher's connection to its broadcast, from [`Live::start`].
pub struct Publish {
    /// Media in, stamped with when it arrived. Dropping it disconnects the
    /// publisher; the broadcast then waits out its reconnect window.
    pub sink: mpsc::Sender<(Instant, Vec<DemuxEvent>)>,
    /// Fire before dropping `sink` when the publisher ended on purpose (an
    /// RTMP unpublish): the broadcast ends at once, with no reconnect window.
    pub finished: oneshot::Sender<()>,
    pub live_stream_id: String,
    /// The publisher came back within the reconnect window and continues
    /// the same broadcast.
    pub resumed: bool,
}

/// Starts and tracks live broadcasts. Cheap to clone.
#[derive(Clone)]
pub struct Live {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    /// Storage (local disk, or a remote store through the upload spool)
    /// and the hot cache of recent segments and parts.
    pub(crate) media: Media,
    /// Base URL of a CDN or public bucket for stored master playlists.
    pub(crate) public_base_url: Option<String>,
    pub(crate) config: LiveConfig,
    pub(crate) registry: Registry,
    /// Supervisor tasks of the actors, to wait for them on shutdown.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Set when the server is stopping: broadcasts end with that reason.
    shutting_down: AtomicBool,
    pub(crate) transcode: TranscodeConfig,
    /// One permit per ladder that may run at once.
    ladder_slots: Arc<Semaphore>,
    /// Thumbnails decode one at a time: a decoder's buffers (and a blocking
    /// thread) per stream at once would stay resident long after a burst
    /// of them (100 streams starting together cost ~2.4 MiB each).
    thumbnail_slots: Arc<Semaphore>,
    /// Concurrent viewers per live stream, counted by the origin.
    pub(crate) viewers: Viewers,
    /// Wakes this process's clip export runner (an export was requested).
    pub(crate) clip_wake: Arc<Notify>,
    /// Wakes this process's asset-file runner (files were requested).
    pub(crate) asset_wake: Arc<Notify>,
    /// Images made on request at once ([`crate::images`]).
    pub(crate) image_slots: Semaphore,
}

impl Live {
    /// `media` is where segments go (and its hot cache what the origin
    /// serves live viewers from); `public_base_url` a CDN or public bucket
    /// for stored master playlists; `transcode` the ladders and how many may
    /// run at once.
    pub fn new(
        db: Db,
        media: Media,
        public_base_url: Option<String>,
        config: LiveConfig,
        transcode: TranscodeConfig,
    ) -> Self {
        let slots = transcode.effective_max_ladders();
        Live {
            inner: Arc::new(Inner {
                db,
                media,
                public_base_url,
                config,
                registry: Registry::default(),
                tasks: Mutex::new(Vec::new()),
                shutting_down: AtomicBool::new(false),
                transcode,
                ladder_slots: Arc::new(Semaphore::new(slots)),
                thumbnail_slots: Arc::new(Semaphore::new(1)),
                viewers: Viewers::new(),
                clip_wake: Arc::new(Notify::new()),
                asset_wake: Arc::new(Notify::new()),
                image_slots: Semaphore::new(crate::images::IMAGE_CONCURRENCY),
            }),
        }
    }

    /// Tells this process's clip export runner to look for jobs now (an
    /// export was requested), instead of at its next poll.
    pub fn wake_clip_exporter(&self) {
        self.inner.clip_wake.notify_waiters();
    }

    /// Tells this process's asset-file runner to look for work now.
    pub fn wake_asset_file_maker(&self) {
        self.inner.asset_wake.notify_waiters();
    }

    /// The sessions in progress, for the HLS origin.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The hot cache of recent segments and parts.
    pub fn cache(&self) -> &Arc<HotCache> {
        self.inner.media.cache()
    }

    /// Storage, for the origin's reads.
    pub fn media(&self) -> &Media {
        &self.inner.media
    }

    /// Opens a broadcast on `channel` and spawns its actor, or reconnects
    /// the publisher to the channel's broadcast if it is waiting in its
    /// reconnect window. `queue_depth` bounds the media batches buffered
    /// ahead of the actor. [`Error::Busy`] while another publisher is
    /// connected.
    pub async fn start(&self, channel: &Channel, queue_depth: usize) -> Result<Publish> {
        let inner = &self.inner;
        let (tx, rx) = mpsc::channel(queue_depth.max(1));
        let (finished_tx, finished_rx) = oneshot::channel();
        if let Some(view) = inner.registry.get(&channel.channel_id) {
            // Claim the session for this publisher, then hand it the media.
            if view.is_connected() || !view.claim() {
                return Err(Error::Busy(channel.slug.clone()));
            }
            let attach = Attach {
                media: rx,
                finished: finished_rx,
            };
            if !view.try_attach(attach) {
                // The session is ending; the encoder's retry finds a new one.
                view.set_connected(false);
                return Err(Error::Busy(channel.slug.clone()));
            }
            return Ok(Publish {
                sink: tx,
                finished: finished_tx,
                live_stream_id: view.live_stream_id.clone(),
                resumed: true,
            });
        }
        let live_stream = match inner.db.begin_live_stream(&channel.channel_id).await {
            Ok(ls) => ls,
            Err(control::Error::Busy { .. }) => return Err(Error::Busy(channel.slug.clone())),
            Err(e) => return Err(e.into()),
        };
        let live_stream_id = live_stream.live_stream_id;
        let vod_id = if channel.record {
            match inner.db.create_vod(&live_stream_id).await {
                Ok(v) => {
                    Announcer::new(inner.db.clone(), channel)
                        .vod(WebhookEventType::VodCreated, &v)
                        .await;
                    Some(v.vod_id)
                }
                Err(e) => {
                    end_with_retry(&inner.db, &live_stream_id, EndReason::ServerError).await;
                    return Err(e.into());
                }
            }
        } else {
            None
        };
        let (playlists_tx, playlists_rx) = watch::channel(Arc::new(Playlists::default()));
        let (attach_tx, attach_rx) = mpsc::channel(1);
        let stop = Arc::new(Notify::new());
        let view = Arc::new(SessionView::new(
            live_stream_id.clone(),
            channel.channel_id.clone(),
            playlists_rx,
            attach_tx,
            stop.clone(),
        ));
        if !inner.registry.insert(view.clone()) {
            end_with_retry(&inner.db, &live_stream_id, EndReason::LostStartRace).await;
            return Err(Error::Busy(channel.slug.clone()));
        }
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
            slug: Arc::from(channel.slug.as_str()),
            channel_id: channel.channel_id.clone(),
            live_stream_id: live_stream_id.clone(),
            vod_id: vod_id.clone(),
            announce: Announcer::new(inner.db.clone(), channel),
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
            ladder_preset: channel.ladder.clone(),
            ladder: None,
            ladder_rx: None,
            ladder_permit: None,
            rung_renditions: Vec::new(),
            media_start: None,
            thumbnail_made_at: None,
            thumbnail_job: None,
            poster_written: false,
            view,
            attach_rx,
            stop,
            reconnect_window: Duration::from_secs(u64::from(channel.reconnect_window_s)),
            reconnect_after_unpublish: channel.reconnect_after_unpublish,
            max_duration: max_continuous_duration(
                channel.reconnect_after_unpublish,
                &channel.mux_settings,
            ),
            record: channel.record,
            expiring: std::collections::VecDeque::new(),
            rebase_pending: false,
            meter: IngestMeter::new(),
            stats_reported_at: None,
            metrics_at: None,
            late_segments: 0,
            stored_master: None,
            ts_offset: [Time90k::ZERO; 2],
            last_source_dts: [None; 2],
            timestamp_jumps: 0,
            max_dts: None,
        };
        // A root span: the broadcast outlives the connection that started it.
        let span = info_span!(parent: None, "live", channel = %channel.slug, live_stream = %live_stream_id);
        info!(parent: &span, "broadcast started");
        let actor = tokio::spawn(session.run(rx, finished_rx).instrument(span.clone()));
        // The supervisor cleans up after an actor that panicked, so a bug
        // cannot leave the channel "already live" until the next restart.
        let supervisor = {
            let inner = inner.clone();
            let channel_id = channel.channel_id.clone();
            let live_stream_id = live_stream_id.clone();
            let announce = Announcer::new(inner.db.clone(), channel);
            tokio::spawn(
                async move {
                    if let Err(e) = actor.await
                        && e.is_panic()
                    {
                        error!("broadcast actor panicked; ending the broadcast");
                        let was_ended = has_ended(&inner.db, &live_stream_id).await;
                        end_with_retry(&inner.db, &live_stream_id, EndReason::InternalError).await;
                        inner.registry.remove(&channel_id, &live_stream_id);
                        if !was_ended {
                            announce
                                .live_stream(
                                    WebhookEventType::LiveStreamIdle,
                                    &live_stream_id,
                                    vod_id.as_deref(),
                                )
                                .await;
                        }
                    }
                }
                .instrument(span),
            )
        };
        let mut tasks = inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(supervisor);
        Ok(Publish {
            sink: tx,
            finished: finished_tx,
            live_stream_id,
            resumed: false,
        })
    }

    /// Concurrent viewers of live streams (the origin reports playlist
    /// requests; the API and metrics read the counts).
    pub fn viewers(&self) -> &Viewers {
        &self.inner.viewers
    }

    /// Ends the channel's broadcast now (API `complete`, a disabled
    /// channel): its publisher is disconnected and there is no reconnect
    /// window. False if the channel has none.
    pub fn stop(&self, channel_id: &str) -> bool {
        match self.inner.registry.get(channel_id) {
            Some(view) => {
                view.stop();
                true
            }
            None => false,
        }
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
async fn end_with_retry(db: &Db, live_stream_id: &str, reason: EndReason) {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=6 {
        match db.end_live_stream(live_stream_id, reason.as_str()).await {
            Ok(_) => return,
            Err(e) => {
                error!(error = %e, attempt, "could not end the live stream");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

/// Whether a live stream is known to have ended already (so its end is
/// not announced twice).
async fn has_ended(db: &Db, live_stream_id: &str) -> bool {
    matches!(db.live_stream(live_stream_id).await, Ok(Some(ls)) if ls.status == LiveStreamStatus::Ended)
}

/// Drops a ladder on a blocking thread: teardown joins its threads (and
/// reaps ffmpeg), which takes milliseconds the async workers should not.
fn drop_off_runtime(ladder: Ladder) {
    tokio::task::spawn_blocking(move || drop(ladder));
}

/// The next media event, or never while no publisher is connected.
async fn recv_input(
    rx: &mut Option<mpsc::Receiver<(Instant, Vec<DemuxEvent>)>>,
) -> Option<(Instant, Vec<DemuxEvent>)> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Mux's `max_continuous_duration` of a channel made on the Mux surface
/// (12 hours unless set; 5 minutes for `test` streams, as on Mux); `None`
/// for native channels, which have no limit.
/// (`mux_channel`: the channel's `reconnect_after_unpublish`, which only
/// the Mux surface sets).
fn max_continuous_duration(mux_channel: bool, mux_settings: &str) -> Option<Duration> {
    if !mux_channel {
        return None;
    }
    let settings: serde_json::Value =
        serde_json::from_str(mux_settings).unwrap_or(serde_json::Value::Null);
    let mut seconds = settings["max_continuous_duration"]
        .as_u64()
        .unwrap_or(43_200);
    if settings["test"].as_bool() == Some(true) {
        seconds = seconds.min(300);
    }
    Some(Duration::from_secs(seconds.max(1)))
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The next ladder event, or never when there is no ladder.
async fn recv_ladder(rx: &mut Option<mpsc::Receiver<LadderEvent>>) -> Option<LadderEvent> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The actor of one broadcast.
pub(crate) struct Session {
    /// The channel's slug: the label of its metrics.
    slug: Arc<str>,
    live: Arc<Inner>,
    channel_id: String,
    live_stream_id: String,
    vod_id: Option<String>,
    /// Sends the broadcast's webhook events.
    announce: Announcer,
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
    /// The channel's ladder preset name.
    ladder_preset: String,
    /// The transcoder of this broadcast, when it has renditions to make.
    ladder: Option<Ladder>,
    ladder_rx: Option<mpsc::Receiver<LadderEvent>>,
    /// Held while the ladder runs: bounds concurrent ladders per node.
    ladder_permit: Option<OwnedSemaphorePermit>,
    /// `rung_renditions[rung]` is the index in `renditions` of that rung.
    rung_renditions: Vec<usize>,
    /// PTS of the first source video access unit (lag checks wait a few
    /// seconds of media for encoders to warm up).
    media_start: Option<Time90k>,
    /// When the last thumbnail was started (the next is taken at the first
    /// source keyframe after its interval).
    thumbnail_made_at: Option<Instant>,
    thumbnail_job: Option<tokio::task::JoinHandle<()>>,
    /// The first thumbnail was also stored as the recording's poster.
    poster_written: bool,
    view: Arc<SessionView>,
    /// Publishers coming back within the reconnect window.
    attach_rx: mpsc::Receiver<Attach>,
    stop: Arc<Notify>,
    /// How long a broadcast whose publisher dropped waits for it.
    reconnect_window: Duration,
    /// Whether a clean unpublish waits for the window too (Mux's rule).
    reconnect_after_unpublish: bool,
    /// Longest a broadcast may last (Mux's `max_continuous_duration`);
    /// `None`: no limit (native channels).
    max_duration: Option<Duration>,
    /// The next access unit is the first from a reconnected publisher:
    /// its timestamps are moved to follow the last ones.
    rebase_pending: bool,
    /// The publisher's bitrate, frame rate and keyframe interval.
    meter: IngestMeter,
    /// When the meter's reading last went to the control plane.
    stats_reported_at: Option<Instant>,
    /// When the per-broadcast gauges were last set.
    metrics_at: Option<Instant>,
    /// Segments (parts) listed later than their target duration.
    late_segments: u64,
    /// The master playlist as last stored: it changes only with the
    /// renditions and their bandwidths, so most segments need no new copy
    /// (one file fewer to create per segment on local disk).
    stored_master: Option<Bytes>,
    /// Added to the current publisher's timestamps, per track (video,
    /// audio), so they keep increasing across reconnects (encoders restart
    /// theirs at 0) and across jumps in a publisher's clock.
    ts_offset: [Time90k; 2],
    /// The last source decode time per track (before the offset), to see
    /// jumps.
    last_source_dts: [Option<Time90k>; 2],
    /// Jumps in the publisher's timestamps seen (see `rebase`).
    timestamp_jumps: u64,
    /// Highest decode time pushed so far (after the offset).
    max_dts: Option<Time90k>,
    /// The channel records its broadcasts. If not, segments are deleted
    /// once they left the live window (after a grace period), and the whole
    /// broadcast some time after it ended.
    record: bool,
    /// Objects to delete, and when (channels that do not record).
    expiring: std::collections::VecDeque<(Instant, String)>,
}

impl Session {
    fn ctx(&self) -> Ctx {
        Ctx {
            live: self.live.clone(),
            live_stream_id: Arc::from(self.live_stream_id.as_str()),
            channel: self.slug.clone(),
        }
    }

    async fn run(
        mut self,
        rx: mpsc::Receiver<(Instant, Vec<DemuxEvent>)>,
        finished: oneshot::Receiver<()>,
    ) {
        crate::metrics::live_streams(1.0);
        self.announce
            .live_stream(
                WebhookEventType::LiveStreamConnected,
                &self.live_stream_id,
                self.vod_id.as_deref(),
            )
            .await;
        let mut input = Some(rx);
        let mut finished = Some(finished);
        let mut deadline: Option<tokio::time::Instant> = None;
        let limit = self.max_duration.map(|d| tokio::time::Instant::now() + d);
        let stop = self.stop.clone();
        let reason = loop {
            tokio::select! {
                _ = stop.notified() => break EndReason::Requested,
                event = recv_input(&mut input) => match event {
                    Some((received_at, events)) => {
                        for event in events {
                            self.on_event(received_at, event).await;
                        }
                    }
                    None => {
                        input = None;
                        let clean = finished.take().is_some_and(|mut f| f.try_recv().is_ok());
                        if self.live.shutting_down.load(Ordering::Relaxed) {
                            break EndReason::ShuttingDown;
                        }
                        // Mux's semantics (channels made on the Mux surface):
                        // a clean unpublish also waits out the window; only
                        // `complete` ends at once.
                        if clean && !self.reconnect_after_unpublish {
                            break EndReason::PublisherFinished;
                        }
                        if self.reconnect_window.is_zero() {
                            break EndReason::PublisherDisconnected;
                        }
                        self.view.set_connected(false);
                        match self.live.db.set_live_stream_disconnected(&self.live_stream_id).await {
                            Ok(()) => {
                                self.announce
                                    .live_stream(
                                        WebhookEventType::LiveStreamDisconnected,
                                        &self.live_stream_id,
                                        self.vod_id.as_deref(),
                                    )
                                    .await
                            }
                            Err(e) => error!(error = %e, "could not mark the live stream disconnected"),
                        }
                        info!(
                            reconnect_window_s = self.reconnect_window.as_secs(),
                            "publisher disconnected; waiting for it to come back"
                        );
                        deadline = Some(tokio::time::Instant::now() + self.reconnect_window);
                    }
                },
                Some(attach) = self.attach_rx.recv(), if input.is_none() => {
                    input = Some(attach.media);
                    finished = Some(attach.finished);
                    deadline = None;
                    self.rebase_pending = true;
                    self.meter.reset();
                    match self
                        .live
                        .db
                        .set_live_stream_active(&self.live_stream_id, ingest_info(&self.renditions[0].info))
                        .await
                    {
                        Ok(()) => {
                            // Mux's order: the publisher is back, then live again.
                            for event in [
                                WebhookEventType::LiveStreamConnected,
                                WebhookEventType::LiveStreamActive,
                            ] {
                                self.announce
                                    .live_stream(event, &self.live_stream_id, self.vod_id.as_deref())
                                    .await;
                            }
                        }
                        Err(e) => error!(error = %e, "could not mark the live stream active again"),
                    }
                    info!("publisher reconnected; the broadcast continues after a discontinuity");
                }
                _ = sleep_until(deadline) => break EndReason::ReconnectWindowElapsed,
                _ = sleep_until(limit) => break EndReason::MaxDurationReached,
                Some(event) = recv_ladder(&mut self.ladder_rx) => self.on_ladder_event(event).await,
            }
        };
        // No publisher may join a broadcast that is ending.
        self.attach_rx.close();
        self.finish_ladder().await;
        let reason = reason.given_shutdown(self.live.shutting_down.load(Ordering::Relaxed));
        crate::metrics::live_streams(-1.0);
        crate::metrics::ended(&self.slug);
        self.live.viewers.forget(&self.live_stream_id);
        self.finish(reason).await;
    }

    /// Every second: the publisher's bitrate, frame rate and keyframe
    /// interval, and the viewers, to the metrics; every few seconds also to
    /// the live stream's row (off the actor's path; a failure is logged).
    fn report_ingest_stats(&mut self, now: Instant) {
        if self
            .metrics_at
            .is_some_and(|t| now.duration_since(t) < METRICS_INTERVAL)
        {
            return;
        }
        self.metrics_at = Some(now);
        let reading = self.meter.reading();
        let viewers = self.live.viewers.count(&self.live_stream_id, now);
        crate::metrics::ingest(&self.slug, &reading);
        crate::metrics::viewers(&self.slug, viewers);
        if reading.bitrate_bps.is_none()
            || self
                .stats_reported_at
                .is_some_and(|t| now.duration_since(t) < INGEST_STATS_INTERVAL)
        {
            return;
        }
        self.stats_reported_at = Some(now);
        let db = self.live.db.clone();
        let live_stream_id = self.live_stream_id.clone();
        tokio::spawn(async move {
            if let Err(e) = db
                .update_live_stream_stats(
                    &live_stream_id,
                    reading.bitrate_bps,
                    reading.keyframe_interval_ms,
                    viewers,
                )
                .await
            {
                warn!(error = %e, "could not record ingest stats");
            }
        });
    }

    /// Moves a reconnected publisher's timestamps to follow the broadcast's.
    fn rebase(&mut self, mut au: av::AccessUnit) -> av::AccessUnit {
        let track = match au.track {
            TrackKind::Video => 0,
            TrackKind::Audio => 1,
        };
        if std::mem::take(&mut self.rebase_pending)
            && let Some(max) = self.max_dts
        {
            // One frame after the last decode time (30 fps; the
            // discontinuity tells players not to expect exact continuity).
            self.ts_offset = [max + Time90k(3000) - au.dts; 2];
            self.last_source_dts = [None; 2];
        } else if let Some(last) = self.last_source_dts[track] {
            // A step of more than MAX_TIMESTAMP_STEP forward, or of more than
            // MAX_TIMESTAMP_BACKSTEP back, is the publisher's clock jumping
            // (an encoder restarting its clock, a broken muxer): this track
            // continues one frame after its last unit, so segments keep
            // their durations and decode times never go back.
            let step = au.dts - last;
            if step > MAX_TIMESTAMP_STEP || step.0 < -MAX_TIMESTAMP_BACKSTEP.0 {
                let continued = last + self.ts_offset[track] + Time90k(3000);
                self.ts_offset[track] = continued - au.dts;
                self.timestamp_jumps += 1;
                // Logged at powers of two so a broken clock cannot flood the log.
                if self.timestamp_jumps.is_power_of_two() {
                    warn!(
                        track = ?au.track,
                        jump_s = step.as_secs_f64(),
                        jumps = self.timestamp_jumps,
                        "publisher timestamps jumped; the timeline continues where it was"
                    );
                }
            }
        }
        self.last_source_dts[track] = Some(au.dts);
        au.pts += self.ts_offset[track];
        au.dts += self.ts_offset[track];
        self.max_dts = Some(self.max_dts.map_or(au.dts, |m| m.max(au.dts)));
        au
    }

    async fn on_event(&mut self, received_at: Instant, event: DemuxEvent) {
        let ctx = self.ctx();
        let changes = match event {
            DemuxEvent::VideoConfig(c) => {
                info!(codec = %c.codec_string(), width = c.width, height = c.height, "video configuration");
                let changes = self.renditions[0].set_video(&ctx, c.clone()).await;
                self.start_ladder(&c).await;
                changes
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
                self.meter.push(&au);
                self.report_ingest_stats(received_at);
                let au = self.rebase(au);
                self.last_arrival = Some(received_at);
                match au.track {
                    TrackKind::Audio => {
                        for r in self.renditions.iter_mut().skip(1) {
                            r.push(&ctx, au.clone()).await;
                        }
                    }
                    TrackKind::Video => {
                        self.media_start.get_or_insert(au.pts);
                        if let Some(ladder) = &mut self.ladder
                            && let Err(e) = ladder.push(&au)
                        {
                            error!(error = %e, "transcoder failed; continuing with the source only");
                            self.stop_ladder(&ctx).await;
                        }
                        if au.keyframe {
                            self.maybe_thumbnail(&au);
                        }
                    }
                }
                self.renditions[0].push(&ctx, au).await
            }
        };
        self.after_source(changes).await;
        self.check_lag().await;
    }

    /// Starts the channel's ladder for a source configuration: the rungs of
    /// its preset that are below the source, if a ladder slot is free. A
    /// second configuration (the encoder changed resolution) restarts it.
    async fn start_ladder(&mut self, source: &av::H264Config) {
        let ctx = self.ctx();
        if self.ladder.is_some() {
            self.stop_ladder(&ctx).await;
        }
        let Some(preset) = self.live.transcode.ladder(&self.ladder_preset) else {
            warn!(preset = %self.ladder_preset, "unknown ladder preset; publishing the source only");
            return;
        };
        let rungs = transcode::select_rungs(preset, source, None);
        if rungs.is_empty() {
            info!(preset = %self.ladder_preset, "no rung of the ladder is below the source; publishing the source only");
            return;
        }
        let permit = match self.ladder_slots().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                warn!(
                    max_ladders = self.live.transcode.effective_max_ladders(),
                    "transcoding capacity reached; publishing the source only"
                );
                crate::metrics::ladder_refused(&self.slug);
                return;
            }
        };
        let (ladder, rx) = match Ladder::start(&self.live.transcode, source, rungs.clone()) {
            Ok(x) => x,
            Err(e) => {
                error!(error = %e, "cannot start the transcoder; publishing the source only");
                return;
            }
        };
        info!(
            backend = ?self.live.transcode.backend,
            renditions = ?rungs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            "transcoding"
        );
        let audio = self.renditions[0].info.audio.clone();
        self.rung_renditions.clear();
        for rung in &rungs {
            let index = match self.renditions.iter().position(|r| r.name == rung.name) {
                Some(i) => i,
                None => {
                    let info = MediaInfo {
                        video: None,
                        audio: audio.clone(),
                    };
                    self.renditions.push(Rendition::new(
                        &rung.name,
                        info,
                        self.segmenter_config.clone(),
                        true,
                    ));
                    self.renditions.len() - 1
                }
            };
            let r = &mut self.renditions[index];
            r.stopped = false;
            // Until measured: the video bitrate plus room for audio.
            r.estimated_bps = Some(u64::from(rung.bitrate_kbps) * 1000 + 160_000);
            self.rung_renditions.push(index);
        }
        self.ladder = Some(ladder);
        self.ladder_rx = Some(rx);
        self.ladder_permit = Some(permit);
    }

    fn ladder_slots(&self) -> Arc<Semaphore> {
        self.live.ladder_slots.clone()
    }

    /// Stops the ladder (failure or restart): its renditions end.
    async fn stop_ladder(&mut self, ctx: &Ctx) {
        if let Some(mut ladder) = self.ladder.take() {
            ladder.finish();
            drop_off_runtime(ladder);
        }
        self.ladder_rx = None;
        self.ladder_permit = None;
        for &i in &self.rung_renditions {
            let r = &mut self.renditions[i];
            if !r.stopped {
                r.finish(ctx).await;
                r.stopped = true;
            }
        }
        self.rung_renditions.clear();
    }

    async fn on_ladder_event(&mut self, event: LadderEvent) {
        let ctx = self.ctx();
        let changes = match event {
            LadderEvent::Config { rung, config } => match self.rung_renditions.get(rung) {
                Some(&i) => self.renditions[i].set_video(&ctx, config).await,
                None => Changes::default(),
            },
            LadderEvent::Unit { rung, unit } => match self.rung_renditions.get(rung) {
                Some(&i) => self.renditions[i].push(&ctx, unit).await,
                None => Changes::default(),
            },
            LadderEvent::Error(message) => {
                error!(error = %message, "transcoder failed; continuing with the source only");
                self.stop_ladder(&ctx).await;
                Changes {
                    segment: true,
                    ..Changes::default()
                }
            }
            LadderEvent::Finished => {
                self.ladder_rx = None;
                Changes::default()
            }
        };
        if changes.segment {
            self.publish(true).await;
        } else if changes.part {
            self.publish(false).await;
        }
    }

    /// Drops the lowest rendition still encoded when the ladder has fallen
    /// further behind real time than allowed (after its first seconds,
    /// while encoders warm up): viewers lose a rendition, never the stream.
    async fn check_lag(&mut self) {
        let Some(ladder) = &mut self.ladder else {
            return;
        };
        let warmed_up = self.renditions[0]
            .last_video_pts
            .zip(self.media_start)
            .is_some_and(|(now, start)| (now - start).as_secs_f64() > 5.0);
        let lag = ladder.lag().as_secs_f64();
        crate::metrics::transcode_lag(&self.slug, lag);
        if !warmed_up || lag <= self.live.transcode.max_lag_s {
            return;
        }
        let Some(rung) = (0..ladder.rungs().len())
            .rev()
            .find(|&r| !ladder.is_dropped(r))
        else {
            return;
        };
        warn!(
            rendition = %ladder.rungs()[rung].name,
            lag_s = lag,
            max_lag_s = self.live.transcode.max_lag_s,
            "transcoder is falling behind real time; dropping its lowest rendition"
        );
        crate::metrics::rendition_dropped(&self.slug, &ladder.rungs()[rung].name);
        ladder.drop_rung(rung);
        let ctx = self.ctx();
        if let Some(&i) = self.rung_renditions.get(rung) {
            let r = &mut self.renditions[i];
            r.finish(&ctx).await;
            r.stopped = true;
        }
        self.publish(true).await;
    }

    /// At the end of the source: flush the ladder and package what it
    /// still delivers (bounded), then release it.
    async fn finish_ladder(&mut self) {
        let Some(mut ladder) = self.ladder.take() else {
            return;
        };
        ladder.finish();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.ladder_rx.is_some() {
            match tokio::time::timeout_at(deadline, recv_ladder(&mut self.ladder_rx)).await {
                Ok(Some(event)) => self.on_ladder_event(event).await,
                Ok(None) => break,
                Err(_) => {
                    warn!("transcoder did not flush within 10 s; ending its renditions");
                    break;
                }
            }
        }
        drop_off_runtime(ladder);
        self.ladder_rx = None;
        self.ladder_permit = None;
    }

    /// Every `thumbnail_interval_s`, a JPEG of a source keyframe (decoded on
    /// a blocking thread): the channel's thumbnail, and the first one also
    /// the recording's poster.
    fn maybe_thumbnail(&mut self, au: &av::AccessUnit) {
        let busy = self.live.transcode.thumbnail_interval_s;
        if busy == 0 {
            return;
        }
        // A thumbnail is a GStreamer decode of a keyframe: refreshed often
        // only while someone looks at it (browse pages poll it), otherwise
        // at the idle interval.
        let now = Instant::now();
        let wanted = self
            .view
            .thumbnail_wanted_at()
            .is_some_and(|at| now.duration_since(at) < THUMBNAIL_DEMAND_WINDOW);
        let interval = if wanted {
            busy
        } else {
            self.live.transcode.thumbnail_idle_interval_s.max(busy)
        };
        if self
            .thumbnail_made_at
            .is_some_and(|made| now < made + Duration::from_secs(interval))
            || self
                .thumbnail_job
                .as_ref()
                .is_some_and(|j| !j.is_finished())
        {
            return;
        }
        let Some(config) = self.renditions[0].info.video.clone() else {
            return;
        };
        self.thumbnail_made_at = Some(now);
        let live = self.live.clone();
        let id = self.live_stream_id.clone();
        let poster = !std::mem::replace(&mut self.poster_written, true);
        let au = au.clone();
        let slots = self.live.thumbnail_slots.clone();
        self.thumbnail_job = Some(tokio::spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else {
                return;
            };
            let jpeg =
                tokio::task::spawn_blocking(move || transcode::thumbnail(&config, &au, 640)).await;
            let jpeg = match jpeg {
                Ok(Ok(j)) => j,
                Ok(Err(e)) => {
                    warn!(error = %e, "could not make a thumbnail");
                    return;
                }
                Err(_) => return,
            };
            let key = keys::thumbnail(&id);
            live.media.cache().insert(key.clone(), jpeg.clone());
            let lane = format!("live/{id}/images");
            if let Err(e) = live.media.put(&lane, &key, vec![jpeg.clone()]).await {
                warn!(error = %e, "could not store the thumbnail");
            }
            if poster && let Err(e) = live.media.put(&lane, &keys::poster(&id), vec![jpeg]).await {
                warn!(error = %e, "could not store the poster");
            }
        }));
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
            match self
                .live
                .db
                .set_live_stream_active(&self.live_stream_id, ingest_info(info))
                .await
            {
                Ok(()) => {
                    self.announce
                        .live_stream(
                            WebhookEventType::LiveStreamActive,
                            &self.live_stream_id,
                            self.vod_id.as_deref(),
                        )
                        .await
                }
                Err(e) => error!(error = %e, "could not mark the live stream active"),
            }
            info!("first segment stored; stream is active");
        }
        if changes.segment {
            self.publish(true).await;
        } else if changes.part {
            self.publish(false).await;
        }
        // From the arrival of the frame that closed the segment (or part)
        // to its listing.
        let listed = changes.part || (changes.segment && !self.low_latency);
        if listed && let Some(arrived) = self.last_arrival {
            let latency = arrived.elapsed();
            crate::metrics::segment_available(&self.slug, latency);
            let target = if self.low_latency {
                self.part_target
            } else {
                self.segmenter_config.target_duration
            };
            if latency.as_secs_f64() > target.as_secs_f64() {
                self.late_segments += 1;
            }
        }
    }

    /// Channels that do not record: schedules the deletion of segments that
    /// left the live window and deletes those whose grace period is over.
    async fn expire_segments(&mut self) {
        let window = if self.low_latency {
            self.live.config.low_latency_window_segments
        } else {
            self.live.config.playlist_window_segments
        };
        let due_at = Instant::now() + Duration::from_secs(self.live.config.retention_grace_s);
        for r in &mut self.renditions {
            for uri in r.take_expired(window) {
                let key = keys::segment(&self.live_stream_id, &r.name, &uri);
                self.expiring.push_back((due_at, key));
            }
        }
        let now = Instant::now();
        while let Some((_, key)) = self.expiring.pop_front_if(|(due, _)| *due <= now) {
            if let Err(e) = self.live.media.delete(&key).await {
                warn!(error = %e, key, "could not delete an expired segment");
            }
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
        if !self.record && to_store {
            self.expire_segments().await;
        }
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
            dropped_segments: self.renditions.iter().map(|r| r.gaps).sum(),
            late_segments: self.late_segments,
        };
        self.playlists_tx.send_replace(Arc::new(playlists));
        if !to_store || !has_segment {
            return;
        }
        // Each playlist goes in its rendition's upload lane, after the
        // segments it lists: a bucket never shows a playlist before them.
        let id = &self.live_stream_id;
        for (name, body) in stored_bodies {
            let key = keys::media_playlist(id, &name);
            if let Err(e) = self
                .live
                .media
                .put(&lane(id, &name), &key, vec![body])
                .await
            {
                error!(error = %e, key, "could not store playlist");
            }
        }
        let key = keys::master_playlist(id);
        let stored_master = Bytes::from(public_master(
            &String::from_utf8_lossy(&master),
            self.live.public_base_url.as_deref(),
            id,
        ));
        if self.stored_master.as_ref() == Some(&stored_master) {
            return;
        }
        let lane = lane(id, SOURCE_RENDITION);
        match self
            .live
            .media
            .put(&lane, &key, vec![stored_master.clone()])
            .await
        {
            Ok(()) => self.stored_master = Some(stored_master),
            Err(e) => error!(error = %e, key, "could not store playlist"),
        }
    }

    async fn finish(mut self, reason: EndReason) {
        let ctx = self.ctx();
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
                &live.media,
                &self.live_stream_id,
                &finals,
                window,
                &self.master(keys::MEDIA_PLAYLIST),
                live.public_base_url.as_deref(),
            )
            .await;
            if let Err(e) = &result {
                error!(error = %e, "could not store the final playlists; the next start retries");
            }
            result.is_ok()
        } else {
            false
        };
        let was_ended = has_ended(&live.db, &self.live_stream_id).await;
        end_with_retry(&live.db, &self.live_stream_id, reason).await;
        // The origin now serves this broadcast from storage (its final
        // playlists are there) and the channel may go live again.
        live.registry.remove(&self.channel_id, &self.live_stream_id);
        if !was_ended {
            self.announce
                .live_stream(
                    WebhookEventType::LiveStreamIdle,
                    &self.live_stream_id,
                    self.vod_id.as_deref(),
                )
                .await;
        }
        // Parts are no longer listed once players have had time to fetch the
        // last ones (three target durations); segments are in storage.
        let cache = live.media.cache().clone();
        let cached = format!("{}/", keys::live_stream_prefix(&self.live_stream_id));
        let grace =
            Duration::from_secs(3 * self.renditions[0].playlist.target_duration_secs().max(1));
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            cache.remove_prefix(&cached);
        });
        if !self.record {
            // Nothing is kept of a broadcast that is not recorded: its
            // objects go once the players that saw it end have moved on.
            let media = live.media.clone();
            let prefix = keys::live_stream_prefix(&self.live_stream_id);
            let grace = Duration::from_secs(live.config.retention_grace_s);
            tokio::spawn(
                async move {
                    tokio::time::sleep(grace).await;
                    match media.delete_prefix(&prefix).await {
                        Ok(n) => info!(objects = n, "deleted a broadcast that was not recorded"),
                        Err(e) => {
                            warn!(error = %e, "could not delete a broadcast that was not recorded")
                        }
                    }
                }
                .instrument(tracing::Span::current()),
            );
        }
        let source = &self.renditions[0];
        if let Some(vod_id) = self.vod_id.clone() {
            let db = live.db.clone();
            let asset_wake = live.asset_wake.clone();
            let announce = self.announce.clone();
            let media = live.media.clone();
            let id = self.live_stream_id.clone();
            let names: Vec<String> = self.renditions.iter().map(|r| r.name.clone()).collect();
            let duration_ms = source.playlist.total_duration().as_millis();
            // The recording is ready once the store has every one of its
            // objects: at once on local disk; for a remote store when the
            // upload lanes drain, which an outage can delay. Waiting must not
            // hold up the end of the broadcast, so it runs on its own.
            let finish = async move {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let result = match (segments, stored) {
                    (0, _) => match db.fail_vod(&vod_id).await {
                        Ok(vod) => {
                            announce.vod(WebhookEventType::VodErrored, &vod).await;
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                    (n, true) => {
                        let mut wait = Duration::from_secs(30);
                        while !flush_broadcast(&media, &id, &names, wait).await {
                            warn!(vod = %vod_id, "the store has not confirmed every object of the recording yet; still waiting");
                            wait = (wait * 2).min(Duration::from_secs(600));
                        }
                        match db
                            .finish_vod(&vod_id, duration_ms, u32::try_from(n).unwrap_or(u32::MAX))
                            .await
                        {
                            Ok(vod) => {
                                announce.vod_ready(&vod).await;
                                crate::asset_files::request_new_recording_files(
                                    &db,
                                    &asset_wake,
                                    &vod,
                                )
                                .await;
                                Ok(())
                            }
                            Err(e) => Err(e),
                        }
                    }
                    // Left `recording`: recovery rebuilds it from the segment index.
                    (_, false) => Ok(()),
                };
                if let Err(e) = result {
                    error!(error = %e, vod = %vod_id, "could not finalize the VOD");
                }
            };
            if live.media.is_remote() {
                tokio::spawn(finish.instrument(tracing::Span::current()));
            } else {
                finish.await;
            }
        }
        info!(
            reason = reason.as_str(),
            segments,
            renditions = self.renditions.len(),
            gaps = self.renditions.iter().map(|r| r.gaps).sum::<u64>(),
            duration_s = source.playlist.total_duration().as_secs_f64(),
            dropped_units = self.renditions.iter().map(|r| r.dropped_units).sum::<u64>(),
            "broadcast ended"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mux_streams_have_a_maximum_duration() {
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs());
        assert_eq!(
            secs(max_continuous_duration(
                false,
                r#"{"max_continuous_duration":60}"#
            )),
            None
        );
        assert_eq!(secs(max_continuous_duration(true, "{}")), Some(43_200));
        assert_eq!(
            secs(max_continuous_duration(
                true,
                r#"{"max_continuous_duration":600}"#
            )),
            Some(600)
        );
        assert_eq!(
            secs(max_continuous_duration(true, r#"{"test":true}"#)),
            Some(300)
        );
        assert_eq!(
            secs(max_continuous_duration(
                true,
                r#"{"test":true,"max_continuous_duration":120}"#
            )),
            Some(120)
        );
        assert_eq!(secs(max_continuous_duration(true, "garbage")), Some(43_200));
    }
}
