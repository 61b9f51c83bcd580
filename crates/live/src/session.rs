//! [`Live`]: starts broadcasts and runs one actor per broadcast.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use av::{DemuxEvent, Time90k};
use control::{Channel, Db, LatencyMode, LiveStreamStatus, WebhookEventType};
use packager::{SegmentFormat, SegmenterConfig};
use storage::{HotCache, Media};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, error, info, info_span};

use crate::broadcast::{Broadcast, BroadcastConfig, Now};
use crate::driver::Driver;
use crate::registry::{Attach, Playlists, Registry, SessionView};
use crate::render::public_prefix;
use crate::transcoder::Transcoder;
use crate::viewers::Viewers;
use crate::webhook_events::Announcer;
use crate::{EndReason, Error, LiveConfig, Result};

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
    pub(crate) shutting_down: AtomicBool,
    /// Ladders and thumbnails.
    pub(crate) transcoder: Arc<dyn Transcoder>,
    /// One permit per ladder that may run at once.
    pub(crate) ladder_slots: Arc<Semaphore>,
    /// Thumbnails decode one at a time: a decoder's buffers (and a blocking
    /// thread) per stream at once would stay resident long after a burst
    /// of them (100 streams starting together cost ~2.4 MiB each).
    pub(crate) thumbnail_slots: Arc<Semaphore>,
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
        transcoder: Arc<dyn Transcoder>,
    ) -> Self {
        let slots = transcoder.settings().max_ladders;
        Live {
            inner: Arc::new(Inner {
                db,
                media,
                public_base_url,
                config,
                registry: Registry::default(),
                tasks: Mutex::new(Vec::new()),
                shutting_down: AtomicBool::new(false),
                transcoder,
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

    /// What [`Live::wake_clip_exporter`] notifies: the clip export runner
    /// (the server's worker) waits on it.
    pub fn clip_exporter_wake(&self) -> Arc<Notify> {
        self.inner.clip_wake.clone()
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
        let config = &inner.config;
        let transcode = inner.transcoder.settings();
        let broadcast = BroadcastConfig {
            segmenter: SegmenterConfig {
                target_duration: Time90k::from_secs_f64(config.segment_duration_s),
                format,
                part_target: low_latency.then(|| Time90k::from_secs_f64(config.part_duration_s)),
            },
            low_latency,
            window_segments: if low_latency {
                config.low_latency_window_segments
            } else {
                config.playlist_window_segments
            },
            reconnect_window: Duration::from_secs(u64::from(channel.reconnect_window_s)),
            reconnect_after_unpublish: channel.reconnect_after_unpublish,
            max_duration: max_continuous_duration(
                channel.reconnect_after_unpublish,
                &channel.mux_settings,
            ),
            record: channel.record,
            retention_grace: Duration::from_secs(config.retention_grace_s),
            cache_segments: inner.media.is_remote(),
            public_prefix: public_prefix(inner.public_base_url.as_deref(), &live_stream_id),
            live_playlists: true,
            program_date_time: true,
            measure_ingest: true,
            thumbnail_interval: transcode.thumbnail_interval,
            thumbnail_idle_interval: transcode.thumbnail_idle_interval,
            max_ladder_lag: transcode.max_lag,
            flat: false,
        };
        let driver = Driver {
            live: inner.clone(),
            core: Broadcast::new(broadcast, Now::system()),
            slug: Arc::from(channel.slug.as_str()),
            channel_id: channel.channel_id.clone(),
            live_stream_id: live_stream_id.clone(),
            vod_id: vod_id.clone(),
            announce: Announcer::new(inner.db.clone(), channel),
            playlists_tx,
            view,
            attach_rx,
            stop,
            ladder_preset: channel.ladder.clone(),
            ladder: None,
            ladder_rx: None,
            ladder_permit: None,
            thumbnail_job: None,
            thumbnail_wanted_at: None,
        };
        // A root span: the broadcast outlives the connection that started it.
        let span = info_span!(parent: None, "live", channel = %channel.slug, live_stream = %live_stream_id);
        info!(parent: &span, "broadcast started");
        let actor = tokio::spawn(driver.run(rx, finished_rx).instrument(span.clone()));
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
pub(crate) async fn end_with_retry(db: &Db, live_stream_id: &str, reason: EndReason) {
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
pub(crate) async fn has_ended(db: &Db, live_stream_id: &str) -> bool {
    matches!(db.live_stream(live_stream_id).await, Ok(Some(ls)) if ls.status == LiveStreamStatus::Ended)
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
