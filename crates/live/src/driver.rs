//! The tokio driver of one live broadcast: it feeds the sans-IO
//! [`Broadcast`] core with what happens (media, the publisher leaving and
//! returning, the ladder, the clock) and carries out its actions (storage,
//! the database, webhooks, metrics, the transcoder, thumbnails). It decides
//! nothing about time or media itself.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use av::DemuxEvent;
use av::LadderEvent;
use bytes::{Bytes, BytesMut};
use control::{NewSegment, WebhookEventType};
use storage::keys;
use tokio::sync::{Notify, OwnedSemaphorePermit, mpsc, oneshot, watch};
use tracing::{Instrument, error, info, warn};

use crate::broadcast::{
    Action, Broadcast, Ending, Input, Measure, Now, Recording, SegmentRecord, Status,
};
use crate::registry::{Attach, Playlists, SessionView};
use crate::render::{broadcast_key, flush_broadcast, lane};
use crate::session::{Inner, end_with_retry, has_ended};
use crate::transcoder::LadderControl;
use crate::webhook_events::Announcer;

/// Drops a ladder on a blocking thread: teardown joins its threads (and
/// reaps ffmpeg), which takes milliseconds the async workers should not.
fn drop_off_runtime(ladder: Box<dyn LadderControl>) {
    tokio::task::spawn_blocking(move || drop(ladder));
}

/// The next media batch, or never while no publisher is connected.
async fn recv_input(
    rx: &mut Option<mpsc::Receiver<(Instant, Vec<DemuxEvent>)>>,
) -> Option<(Instant, Vec<DemuxEvent>)> {
    match rx {
        Some(rx) => rx.recv().await,
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

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// The broadcast's outside world.
pub(crate) struct Driver {
    pub live: Arc<Inner>,
    pub core: Broadcast,
    /// The channel's slug: the label of its metrics.
    pub slug: Arc<str>,
    pub channel_id: String,
    pub live_stream_id: String,
    pub vod_id: Option<String>,
    pub announce: Announcer,
    pub playlists_tx: watch::Sender<Arc<Playlists>>,
    pub view: Arc<SessionView>,
    /// Publishers coming back within the reconnect window.
    pub attach_rx: mpsc::Receiver<Attach>,
    pub stop: Arc<Notify>,
    /// The channel's ladder preset name.
    pub ladder_preset: String,
    pub ladder: Option<Box<dyn LadderControl>>,
    pub ladder_rx: Option<mpsc::Receiver<LadderEvent>>,
    /// Held while the ladder runs: bounds concurrent ladders per node.
    pub ladder_permit: Option<OwnedSemaphorePermit>,
    pub thumbnail_job: Option<tokio::task::JoinHandle<()>>,
    /// The thumbnail demand last passed to the core.
    pub thumbnail_wanted_at: Option<Instant>,
}

impl Driver {
    pub(crate) async fn run(
        mut self,
        rx: mpsc::Receiver<(Instant, Vec<DemuxEvent>)>,
        finished: oneshot::Receiver<()>,
    ) {
        crate::metrics::live_streams(1.0);
        self.carry_out().await;
        let mut input = Some(rx);
        let mut finished = Some(finished);
        let stop = self.stop.clone();
        while !self.core.is_ending() {
            let deadline = self.core.next_deadline();
            let waiting = self.core.is_waiting();
            tokio::select! {
                _ = stop.notified() => self.push(Input::Stop).await,
                batch = recv_input(&mut input) => match batch {
                    Some((received_at, events)) => self.media(received_at, events).await,
                    None => {
                        input = None;
                        let clean = finished.take().is_some_and(|mut f| f.try_recv().is_ok());
                        let shutting_down = self.live.shutting_down.load(Ordering::Relaxed);
                        self.push(Input::PublisherLeft { clean, shutting_down }).await;
                    }
                },
                Some(attach) = self.attach_rx.recv(), if waiting => {
                    input = Some(attach.media);
                    finished = Some(attach.finished);
                    self.push(Input::PublisherReturned).await;
                }
                _ = sleep_until(deadline) => self.push(Input::Tick).await,
                event = recv_ladder(&mut self.ladder_rx) => self.ladder_event(event).await,
            }
        }
        // No publisher may join a broadcast that is ending.
        self.attach_rx.close();
        self.view.set_connected(false);
        drop(input);
        // The ladder flushes (bounded by the core's deadline) and the store
        // answers; then the core says it ended.
        while !self.core.is_ended() {
            let deadline = self.core.next_deadline();
            if deadline.is_none() && self.ladder_rx.is_none() {
                error!("the broadcast core is waiting for nothing; ending it");
                break;
            }
            tokio::select! {
                _ = sleep_until(deadline) => self.push(Input::Tick).await,
                event = recv_ladder(&mut self.ladder_rx) => self.ladder_event(event).await,
            }
        }
    }

    async fn media(&mut self, received_at: Instant, events: Vec<DemuxEvent>) {
        let wanted = self.view.thumbnail_wanted_at();
        if wanted != self.thumbnail_wanted_at
            && let Some(at) = wanted
        {
            self.thumbnail_wanted_at = wanted;
            self.core.push(Now::system(), Input::ThumbnailWanted(at));
        }
        // One reading of the clocks per batch: its units arrived together.
        let now = Now::system();
        for event in events {
            self.core.push(now, Input::Media { received_at, event });
            self.carry_out().await;
        }
        if let Some(ladder) = &self.ladder {
            let lag = Duration::from_secs_f64(ladder.lag().as_secs_f64().max(0.0));
            self.push(Input::LadderLag(lag)).await;
        }
    }

    async fn ladder_event(&mut self, event: Option<LadderEvent>) {
        let event = event.unwrap_or_else(|| {
            // The ladder's channel closed without a last event.
            self.ladder_rx = None;
            LadderEvent::Finished
        });
        if matches!(event, LadderEvent::Finished) {
            self.ladder_rx = None;
        }
        self.push(Input::Ladder(event)).await;
    }

    async fn push(&mut self, input: Input) {
        self.core.push(Now::system(), input);
        self.carry_out().await;
    }

    /// Carries out the core's actions, in order, feeding back the answers
    /// it waits for.
    ///
    ///
    /// Segment index rows wait for the playlist that lists their segments
    /// to be published (the core emits them just before it): a segment is
    /// listed once it is stored, and its index row (for crash recovery and
    /// recordings) need not hold players back; the database's commit,
    /// queued behind every other broadcast's, took tens of milliseconds of
    /// the segment-available latency at N = 50 (docs/PERFORMANCE.md, "Live
    /// origin"). Any other action that is not a measurement waits for the
    /// rows, so what comes after (the end of the broadcast, its recording)
    /// sees every segment indexed.
    async fn carry_out(&mut self) {
        let mut index = Vec::new();
        while let Some(action) = self.core.pull() {
            match action {
                Action::Index(record) => index.push(record),
                publish @ Action::Publish(_) => {
                    self.act(publish).await;
                    self.write_index(&mut index).await;
                }
                action @ (Action::Measure(_) | Action::Cache { .. }) => self.act(action).await,
                action => {
                    self.write_index(&mut index).await;
                    self.act(action).await;
                }
            }
        }
        self.write_index(&mut index).await;
    }

    async fn write_index(&mut self, records: &mut Vec<SegmentRecord>) {
        for record in records.drain(..) {
            self.index(record).await;
        }
    }

    async fn index(&mut self, record: SegmentRecord) {
        let sequence = record.sequence;
        let id = self.live_stream_id.as_str();
        if let Err(e) = self.live.db.add_segment(new_segment(id, record)).await {
            // The segment still plays; only crash recovery would miss it.
            error!(error = %e, sequence, "could not index segment");
        }
    }

    async fn act(&mut self, action: Action) {
        let id = self.live_stream_id.as_str();
        match action {
            Action::Store {
                lane: name,
                path,
                data,
                cache,
                ack,
                durable,
            } => {
                let key = broadcast_key(id, &path);
                let media = &self.live.media;
                if cache {
                    media.cache().insert(key.clone(), concat(&data));
                }
                let lane = lane(id, &name);
                let result = if durable {
                    media.put(&lane, &key, data.clone()).await
                } else {
                    media.put_volatile(&lane, &key, data.clone()).await
                };
                if let Err(e) = &result
                    && ack.is_none()
                {
                    error!(error = %e, key, "could not store an object");
                }
                if let Some(ack) = ack {
                    let ok = result.is_ok();
                    self.core
                        .push(Now::system(), Input::Stored { ack, ok, data });
                }
            }
            Action::Cache { path, data } => {
                self.live
                    .media
                    .cache()
                    .insert(broadcast_key(id, &path), data);
            }
            Action::Uncache { paths } => {
                for path in paths {
                    self.live.media.cache().remove(&broadcast_key(id, &path));
                }
            }
            Action::Delete { path } => {
                let key = broadcast_key(id, &path);
                if let Err(e) = self.live.media.delete(&key).await {
                    warn!(error = %e, key, "could not delete an expired segment");
                }
            }
            Action::Index(record) => self.index(record).await,
            Action::Status(status) => self.status(status).await,
            Action::Publish(playlists) => {
                self.playlists_tx.send_replace(playlists);
            }
            Action::StartLadder(source) => {
                let rungs = self.start_ladder(&source);
                self.core.push(Now::system(), Input::LadderStarted(rungs));
            }
            Action::FeedLadder(unit) => {
                if let Some(ladder) = &mut self.ladder
                    && let Err(e) = ladder.push(&unit)
                {
                    self.core
                        .push(Now::system(), Input::Ladder(LadderEvent::Error(e)));
                }
            }
            Action::DropRung(rung) => {
                if let Some(ladder) = &mut self.ladder {
                    ladder.drop_rung(rung);
                }
            }
            Action::FlushLadder => {
                if let Some(ladder) = &mut self.ladder {
                    ladder.finish();
                }
            }
            Action::StopLadder => {
                if let Some(mut ladder) = self.ladder.take() {
                    ladder.finish();
                    drop_off_runtime(ladder);
                }
                self.ladder_rx = None;
                self.ladder_permit = None;
            }
            Action::Thumbnail {
                config,
                unit,
                poster,
            } => self.thumbnail(config, unit, poster),
            Action::Measure(m) => self.measure(m),
            Action::Ended(ending) => self.ended(ending).await,
        }
    }

    async fn status(&mut self, status: Status) {
        let id = self.live_stream_id.as_str();
        let db = &self.live.db;
        let (result, events): (control::Result<()>, &[WebhookEventType]) = match status {
            Status::Connected => (Ok(()), &[WebhookEventType::LiveStreamConnected]),
            Status::Active { ingest, returned } => {
                let events: &[WebhookEventType] = if returned {
                    // Mux's order: the publisher is back, then live again.
                    &[
                        WebhookEventType::LiveStreamConnected,
                        WebhookEventType::LiveStreamActive,
                    ]
                } else {
                    &[WebhookEventType::LiveStreamActive]
                };
                (db.set_live_stream_active(id, ingest).await, events)
            }
            Status::Disconnected => {
                self.view.set_connected(false);
                (
                    db.set_live_stream_disconnected(id).await,
                    &[WebhookEventType::LiveStreamDisconnected],
                )
            }
        };
        match result {
            Ok(()) => {
                for &event in events {
                    self.announce
                        .live_stream(event, id, self.vod_id.as_deref())
                        .await;
                }
            }
            Err(e) => error!(error = %e, "could not record the live stream's state"),
        }
    }

    fn measure(&self, m: Measure) {
        let slug = &self.slug;
        match m {
            Measure::Ingest { reading, store } => {
                let viewers = self
                    .live
                    .viewers
                    .count(&self.live_stream_id, Instant::now());
                crate::metrics::ingest(slug, &reading);
                crate::metrics::viewers(slug, viewers);
                if !store {
                    return;
                }
                // Off the broadcast's path; a failure is logged.
                let db = self.live.db.clone();
                let id = self.live_stream_id.clone();
                tokio::spawn(async move {
                    if let Err(e) = db
                        .update_live_stream_stats(
                            &id,
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
            Measure::SegmentAvailable { latency, .. } => {
                crate::metrics::segment_available(slug, latency)
            }
            Measure::SegmentStored(rendition) => crate::metrics::segment(slug, &rendition),
            Measure::TranscodeLag(lag) => crate::metrics::transcode_lag(slug, lag.as_secs_f64()),
            Measure::RenditionDropped(rendition) => {
                crate::metrics::rendition_dropped(slug, &rendition)
            }
        }
    }

    /// The rungs of the channel's preset below the source, if a ladder slot
    /// is free and the transcoder starts; otherwise none.
    fn start_ladder(&mut self, source: &av::H264Config) -> Vec<(String, u32)> {
        let Ok(permit) = self.live.ladder_slots.clone().try_acquire_owned() else {
            warn!(
                max_ladders = self.live.transcoder.settings().max_ladders,
                "transcoding capacity reached; publishing the source only"
            );
            crate::metrics::ladder_refused(&self.slug);
            return Vec::new();
        };
        let Some(started) = self
            .live
            .transcoder
            .start_ladder(&self.ladder_preset, source)
        else {
            return Vec::new();
        };
        self.ladder = Some(started.ladder);
        self.ladder_rx = Some(started.events);
        self.ladder_permit = Some(permit);
        started.rungs
    }

    /// A JPEG of a source keyframe, decoded on a blocking thread (one at a
    /// time per process; skipped while this broadcast's last one runs).
    fn thumbnail(&mut self, config: av::H264Config, unit: av::AccessUnit, poster: bool) {
        if self
            .thumbnail_job
            .as_ref()
            .is_some_and(|j| !j.is_finished())
        {
            return;
        }
        let live = self.live.clone();
        let id = self.live_stream_id.clone();
        let slots = self.live.thumbnail_slots.clone();
        let transcoder = self.live.transcoder.clone();
        self.thumbnail_job = Some(tokio::spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else {
                return;
            };
            let jpeg =
                tokio::task::spawn_blocking(move || transcoder.thumbnail(&config, &unit, 640))
                    .await;
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

    /// The broadcast is over: the live stream ends, the origin lets go of
    /// it, its recording is finalized, and what is not kept is scheduled
    /// for deletion.
    async fn ended(&mut self, ending: Ending) {
        let live = self.live.clone();
        let id = self.live_stream_id.clone();
        let reason = ending
            .reason
            .given_shutdown(live.shutting_down.load(Ordering::Relaxed));
        crate::metrics::live_streams(-1.0);
        crate::metrics::ended(&self.slug);
        live.viewers.forget(&id);
        let was_ended = has_ended(&live.db, &id).await;
        end_with_retry(&live.db, &id, reason).await;
        // The origin now serves this broadcast from storage (its final
        // playlists are there) and the channel may go live again.
        live.registry.remove(&self.channel_id, &id);
        if !was_ended {
            self.announce
                .live_stream(
                    WebhookEventType::LiveStreamIdle,
                    &id,
                    self.vod_id.as_deref(),
                )
                .await;
        }
        let cache = live.media.cache().clone();
        let cached = format!("{}/", keys::live_stream_prefix(&id));
        let uncache_after = ending.uncache_after;
        tokio::spawn(async move {
            tokio::time::sleep(uncache_after).await;
            cache.remove_prefix(&cached);
        });
        if let Some(grace) = ending.delete_after {
            // Nothing is kept of a broadcast that is not recorded: its
            // objects go once the players that saw it end have moved on.
            let media = live.media.clone();
            let prefix = keys::live_stream_prefix(&id);
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
        if let Some(vod_id) = self.vod_id.clone() {
            let finish = finish_recording(
                live.clone(),
                self.announce.clone(),
                id.clone(),
                vod_id,
                ending.clone(),
            );
            // The recording is ready once the store has every one of its
            // objects: at once on local disk; for a remote store when the
            // upload lanes drain, which an outage can delay. Waiting must not
            // hold up the end of the broadcast, so it runs on its own.
            if live.media.is_remote() {
                tokio::spawn(finish.instrument(tracing::Span::current()));
            } else {
                finish.await;
            }
        }
        info!(
            reason = reason.as_str(),
            segments = ending.segments,
            renditions = ending.renditions.len(),
            gaps = ending.gaps,
            duration_s = ending.duration.as_secs_f64(),
            dropped_units = ending.dropped_units,
            timestamp_jumps = self.core.timestamp_jumps(),
            "broadcast ended"
        );
    }
}

/// The recording of an ended broadcast: failed when empty, ready once the
/// store confirmed every object, left to crash recovery otherwise.
async fn finish_recording(
    live: Arc<Inner>,
    announce: Announcer,
    id: String,
    vod_id: String,
    ending: Ending,
) {
    let db = &live.db;
    let result = match ending.recording {
        Recording::Empty => match db.fail_vod(&vod_id).await {
            Ok(vod) => {
                announce.vod(WebhookEventType::VodErrored, &vod).await;
                Ok(())
            }
            Err(e) => Err(e),
        },
        Recording::Ready => {
            let names: Vec<&str> = ending.renditions.iter().map(|n| &**n).collect();
            let mut wait = Duration::from_secs(30);
            while !flush_broadcast(&live.media, &id, &names, wait).await {
                warn!(vod = %vod_id, "the store has not confirmed every object of the recording yet; still waiting");
                wait = (wait * 2).min(Duration::from_secs(600));
            }
            let segments = u32::try_from(ending.segments).unwrap_or(u32::MAX);
            match db
                .finish_vod(&vod_id, ending.duration.as_millis(), segments)
                .await
            {
                Ok(vod) => {
                    announce.vod_ready(&vod).await;
                    crate::asset_files::request_new_recording_files(db, &live.asset_wake, &vod)
                        .await;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        // Left `recording`: recovery rebuilds it from the segment index.
        Recording::Unfinished => Ok(()),
    };
    if let Err(e) = result {
        error!(error = %e, vod = %vod_id, "could not finalize the VOD");
    }
}

fn new_segment(live_stream_id: &str, r: SegmentRecord) -> NewSegment {
    NewSegment {
        live_stream_id: live_stream_id.to_string(),
        rendition: r.rendition.to_string(),
        sequence: r.sequence as i64,
        duration_90k: r.duration.0,
        size_bytes: r.size_bytes as i64,
        discontinuity: r.discontinuity,
        uri: r.uri,
        map_uri: r.map_uri,
        gap: r.gap,
        program_date_time_ms: r.program_date_time_ms,
    }
}

/// One buffer of an object's parts (for the hot cache).
fn concat(parts: &[Bytes]) -> Bytes {
    match parts {
        [one] => one.clone(),
        _ => {
            let mut buf = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
            for p in parts {
                buf.extend_from_slice(p);
            }
            buf.freeze()
        }
    }
}
