//! The life of a broadcast: publishers leaving and returning, deadlines,
//! and the end (the ladder flushes, renditions finish, the store answers,
//! the final playlists are stored).

use std::time::Duration;

use bytes::Bytes;
use tracing::{error, info, warn};

use super::rendition::Rendition;
use super::{Ack, Action, Broadcast, Ending, LADDER_FLUSH_TIMEOUT, Now, Phase, Recording, Status};
use crate::EndReason;
use crate::render::ingest_info;

impl Broadcast {
    /// The publisher's connection ended. The one function that decides
    /// between ending now and waiting out the reconnect window.
    pub(super) fn publisher_left(&mut self, now: Now, clean: bool, shutting_down: bool) {
        if !self.is_connected() {
            return;
        }
        let reason = if shutting_down {
            Some(EndReason::ShuttingDown)
        } else if clean && !self.config.reconnect_after_unpublish {
            // Mux's semantics (channels made on the Mux surface): a clean
            // unpublish also waits out the window; only `complete` ends at
            // once.
            Some(EndReason::PublisherFinished)
        } else if self.config.reconnect_window.is_zero() {
            Some(EndReason::PublisherDisconnected)
        } else {
            None
        };
        if let Some(reason) = reason {
            return self.end(now, reason);
        }
        info!(
            reconnect_window_s = self.config.reconnect_window.as_secs(),
            "publisher disconnected; waiting for it to come back"
        );
        self.phase = Phase::Live {
            connected: false,
            reconnect_deadline: Some(now.at + self.config.reconnect_window),
        };
        self.actions.push_back(Action::Status(Status::Disconnected));
    }

    pub(super) fn publisher_returned(&mut self) {
        if !self.is_waiting() {
            return;
        }
        self.phase = Phase::Live {
            connected: true,
            reconnect_deadline: None,
        };
        self.timeline.reconnected();
        self.meter.reset();
        info!("publisher reconnected; the broadcast continues after a discontinuity");
        let ingest = ingest_info(&self.renditions[0].info);
        self.actions.push_back(Action::Status(Status::Active {
            ingest,
            returned: true,
        }));
    }

    /// Deadlines: the reconnect window, the maximum duration, the ladder's
    /// flush, segments due for deletion.
    pub(super) fn tick(&mut self, now: Now) {
        self.expire(now);
        match self.phase {
            Phase::Live {
                reconnect_deadline, ..
            } => {
                if self
                    .config
                    .max_duration
                    .is_some_and(|d| now.at >= self.started_at + d)
                {
                    self.end(now, EndReason::MaxDurationReached);
                } else if reconnect_deadline.is_some_and(|d| now.at >= d) {
                    self.end(now, EndReason::ReconnectWindowElapsed);
                }
            }
            Phase::FlushingLadder { reason, deadline } if now.at >= deadline => {
                warn!("transcoder did not flush within 10 s; ending its renditions");
                self.finish_renditions(now, reason);
            }
            _ => {}
        }
    }

    /// Decides the end: the ladder flushes (bounded), then the renditions
    /// finish, then the final playlists are stored.
    pub(super) fn end(&mut self, now: Now, reason: EndReason) {
        if self.is_ending() {
            return;
        }
        if self.ladder.is_some() || self.ladder_requested {
            self.actions.push_back(Action::FlushLadder);
            self.phase = Phase::FlushingLadder {
                reason,
                deadline: now.at + LADDER_FLUSH_TIMEOUT,
            };
        } else {
            self.finish_renditions(now, reason);
        }
    }

    pub(super) fn finish_renditions(&mut self, now: Now, reason: EndReason) {
        if self.ladder.take().is_some() || std::mem::take(&mut self.ladder_requested) {
            self.actions.push_back(Action::StopLadder);
        }
        self.phase = Phase::Settling { reason };
        let (mut out, renditions) = self.out(now);
        for r in renditions.iter_mut() {
            r.finish(&mut out);
        }
        self.settle(now);
    }

    pub(super) fn stored(&mut self, now: Now, ack: Ack, ok: bool, data: Vec<Bytes>) {
        match ack {
            Ack::Segment {
                rendition,
                sequence,
            } => {
                let (mut out, renditions) = self.out(now);
                let Some(r) = renditions.get_mut(rendition) else {
                    return;
                };
                let changes = r.stored(&mut out, sequence, ok, data);
                if rendition == 0 {
                    self.after_source(now, changes);
                } else {
                    self.republish(now, changes);
                }
                if matches!(self.phase, Phase::Settling { .. }) {
                    self.settle(now);
                }
            }
            Ack::Final => {
                if let Phase::StoringFinals {
                    reason,
                    pending,
                    ok: all_ok,
                } = &mut self.phase
                {
                    *pending = pending.saturating_sub(1);
                    *all_ok &= ok;
                    if !ok {
                        error!("could not store a final playlist; the next start retries");
                    }
                    if *pending == 0 {
                        let (reason, stored) = (*reason, *all_ok);
                        self.ended(reason, stored);
                    }
                }
            }
        }
    }

    /// Once every segment is answered for: the final playlists to the
    /// origin and the store; then the end.
    pub(super) fn settle(&mut self, now: Now) {
        let Phase::Settling { reason } = self.phase else {
            return;
        };
        if !self.renditions.iter().all(Rendition::is_settled) {
            return;
        }
        if self.config.live_playlists {
            // Viewers following the live URLs see EXT-X-ENDLIST at once.
            self.publish(now, false);
        }
        let objects = self.final_objects();
        if objects.is_empty() {
            return self.ended(reason, false);
        }
        self.phase = Phase::StoringFinals {
            reason,
            pending: objects.len(),
            ok: true,
        };
        for (lane, path, body) in objects {
            self.actions.push_back(Action::Store {
                lane,
                path,
                data: vec![body],
                cache: false,
                ack: Some(Ack::Final),
                durable: true,
            });
        }
    }

    pub(super) fn ended(&mut self, reason: EndReason, stored: bool) {
        let source = &self.renditions[0];
        let segments = source.playlist.segments().len();
        let recording = match (segments, stored) {
            (0, _) => Recording::Empty,
            (_, true) => Recording::Ready,
            (_, false) => Recording::Unfinished,
        };
        let target = source.playlist.target_duration_secs().max(1);
        let ending = Ending {
            reason,
            recording,
            segments,
            duration: source.playlist.total_duration(),
            renditions: self.renditions.iter().map(|r| r.name.clone()).collect(),
            uncache_after: Duration::from_secs(3 * target),
            delete_after: (!self.config.record).then_some(self.config.retention_grace),
            gaps: self.renditions.iter().map(|r| r.gaps).sum(),
            dropped_units: self.renditions.iter().map(|r| r.dropped_units).sum(),
        };
        self.phase = Phase::Ended;
        self.expiring.clear();
        self.actions.push_back(Action::Ended(ending));
    }
}
