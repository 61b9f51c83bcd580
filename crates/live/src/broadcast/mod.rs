//! [`Broadcast`]: the sans-IO core of one live stream.
//!
//! A driver pushes [`Input`]s (demuxed media, ladder events, publishers
//! leaving and returning, the store's acknowledgements, ticks of the clock)
//! with the time they happen, then pulls [`Action`]s until `None` and
//! carries them out (store an object, index a segment, record a status and
//! announce it, publish playlists, run the ladder, make a thumbnail, ...).
//! The core never reads a clock, sleeps, spawns or touches storage, so every
//! rule with time in it is tested here with simulated time: the live session
//! ([`crate::session`]) and `aethex segment` (a file sink) drive the same
//! core.
//!
//! Where each rule is decided:
//! - timestamp rebasing across reconnects and clock jumps: [`timeline::Timeline::place`];
//! - the reconnect window, unpublish, stop and the maximum duration:
//!   [`Broadcast::publisher_left`], [`Broadcast::tick`];
//! - segment and part cut points: `packager::Segmenter` (fed by
//!   [`rendition::Rendition::push`]); a segment is listed only after the store
//!   acknowledged it: [`rendition::Rendition::stored`];
//! - dropping a ladder rung on lag: [`Broadcast::ladder_lag`];
//! - retention of channels that do not record: [`Broadcast::expire`] and the
//!   `delete_after` of [`Ending`];
//! - what a finished broadcast leaves (final playlists, recording outcome):
//!   [`Broadcast::settle`]; after a crash: [`crate::recover::rebuild`].

mod ladder;
mod lifecycle;
mod publish;
mod rendition;
#[cfg(test)]
mod tests;
mod timeline;
mod types;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use av::{AccessUnit, DemuxEvent, MediaInfo, Time90k, TrackKind};
use bytes::Bytes;
use tracing::info;

use self::publish::FinalLayout;
use self::rendition::{Changes, Out, Rendition};
use self::timeline::Timeline;
pub use self::timeline::{MAX_TIMESTAMP_BACKSTEP, MAX_TIMESTAMP_STEP};
pub use self::types::{
    Ack, Action, BroadcastConfig, Ending, Input, Measure, Now, Recording, SegmentRecord, Status,
};
use crate::EndReason;
use crate::ingest_meter::IngestMeter;
use crate::render::{SOURCE_RENDITION, ingest_info};

/// How often the publisher's measured bitrate and keyframe interval are
/// written to the live stream's row.
const INGEST_STATS_INTERVAL: Duration = Duration::from_secs(5);
/// How often the per-broadcast gauges are set.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);
/// How long after the last request for a stream's thumbnail it is still
/// refreshed at the busy interval.
const THUMBNAIL_DEMAND_WINDOW: Duration = Duration::from_secs(60);
/// Media the ladder gets to warm up before its lag counts.
const LADDER_WARM_UP: Time90k = Time90k(5 * Time90k::HZ);
/// How long a finishing ladder may take to deliver what it still has.
const LADDER_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

enum Phase {
    Live {
        connected: bool,
        /// When the reconnect window ends (publisher gone).
        reconnect_deadline: Option<Instant>,
    },
    /// Ending: the ladder flushes until the deadline.
    FlushingLadder {
        reason: EndReason,
        deadline: Instant,
    },
    /// Ending: renditions finished; waiting for the store's answers.
    Settling {
        reason: EndReason,
    },
    /// Ending: final playlists handed to the store; `pending` answers left.
    StoringFinals {
        reason: EndReason,
        pending: usize,
        ok: bool,
    },
    Ended,
}

/// The ladder as the core knows it.
struct LadderRun {
    /// `renditions[rung_renditions[rung]]` is rung `rung`'s rendition.
    rung_renditions: Vec<usize>,
    dropped: Vec<bool>,
}

/// See the module documentation.
pub struct Broadcast {
    config: BroadcastConfig,
    layout: FinalLayout,
    /// `renditions[0]` is the source (passthrough); the rest are transcoded.
    renditions: Vec<Rendition>,
    ladder: Option<LadderRun>,
    /// A ladder was asked for and not yet confirmed.
    ladder_requested: bool,
    timeline: Timeline,
    meter: IngestMeter,
    phase: Phase,
    actions: VecDeque<Action>,
    started_at: Instant,
    /// When the last source access unit arrived at ingest.
    last_arrival: Option<Instant>,
    /// When the media at the live edge arrived at ingest.
    edge_received_at: Option<Instant>,
    /// The first source segment has been stored (live stream `active`).
    active: bool,
    /// PTS of the first source video unit (the ladder's warm-up).
    media_start: Option<Time90k>,
    thumbnail_made_at: Option<Instant>,
    thumbnail_wanted_at: Option<Instant>,
    poster_made: bool,
    stats_reported_at: Option<Instant>,
    metrics_at: Option<Instant>,
    late_segments: u64,
    /// The master playlist as last stored (it rarely changes).
    stored_master: Option<Bytes>,
    /// Objects to delete and when (channels that do not record).
    expiring: VecDeque<(Instant, String)>,
}

impl Broadcast {
    /// A broadcast whose publisher just connected at `now`.
    pub fn new(config: BroadcastConfig, now: Now) -> Self {
        let layout = if config.live_playlists {
            FinalLayout::Broadcast
        } else {
            FinalLayout::Files
        };
        let source = Rendition::new(
            SOURCE_RENDITION,
            0,
            config.flat,
            MediaInfo::default(),
            config.segmenter.clone(),
            false,
        );
        let mut b = Broadcast {
            config,
            layout,
            renditions: vec![source],
            ladder: None,
            ladder_requested: false,
            timeline: Timeline::default(),
            meter: IngestMeter::new(),
            phase: Phase::Live {
                connected: true,
                reconnect_deadline: None,
            },
            actions: VecDeque::new(),
            started_at: now.at,
            last_arrival: None,
            edge_received_at: None,
            active: false,
            media_start: None,
            thumbnail_made_at: None,
            thumbnail_wanted_at: None,
            poster_made: false,
            stats_reported_at: None,
            metrics_at: None,
            late_segments: 0,
            stored_master: None,
            expiring: VecDeque::new(),
        };
        if b.config.live_playlists {
            b.actions.push_back(Action::Status(Status::Connected));
        }
        b
    }

    /// The next action to carry out, in order; call until `None` after
    /// every [`Broadcast::push`].
    pub fn pull(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When the driver must push [`Input::Tick`] at the latest.
    pub fn next_deadline(&self) -> Option<Instant> {
        let phase = match &self.phase {
            Phase::Live {
                reconnect_deadline, ..
            } => {
                let limit = self.config.max_duration.map(|d| self.started_at + d);
                match (*reconnect_deadline, limit) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Phase::FlushingLadder { deadline, .. } => Some(*deadline),
            _ => None,
        };
        let expiry = self.expiring.front().map(|(due, _)| *due);
        match (phase, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Media is welcome (a publisher is connected and the broadcast is not
    /// ending).
    pub fn is_connected(&self) -> bool {
        matches!(
            self.phase,
            Phase::Live {
                connected: true,
                ..
            }
        )
    }

    /// Waiting for a publisher to come back.
    pub fn is_waiting(&self) -> bool {
        matches!(
            self.phase,
            Phase::Live {
                connected: false,
                ..
            }
        )
    }

    /// The end was decided: no publisher may join any more.
    pub fn is_ending(&self) -> bool {
        !matches!(self.phase, Phase::Live { .. })
    }

    /// [`Action::Ended`] was emitted.
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended)
    }

    /// Publisher timestamp jumps seen so far.
    pub fn timestamp_jumps(&self) -> u64 {
        self.timeline.jumps
    }

    /// Feeds one input that happened at `now`.
    pub fn push(&mut self, now: Now, input: Input) {
        match input {
            Input::Media { received_at, event } => {
                if self.is_connected() {
                    self.media(now, received_at, event);
                }
            }
            Input::PublisherLeft {
                clean,
                shutting_down,
            } => self.publisher_left(now, clean, shutting_down),
            Input::PublisherReturned => self.publisher_returned(),
            Input::Stop => self.end(now, EndReason::Requested),
            Input::LadderStarted(rungs) => self.ladder_started(rungs),
            Input::Ladder(event) => self.ladder_event(now, event),
            Input::LadderLag(lag) => self.ladder_lag(now, lag),
            Input::Stored { ack, ok, data } => self.stored(now, ack, ok, data),
            Input::ThumbnailWanted(at) => self.thumbnail_wanted_at = Some(at),
            Input::Tick => self.tick(now),
        }
    }

    fn out(&mut self, now: Now) -> (Out<'_>, &mut Vec<Rendition>) {
        (
            Out {
                actions: &mut self.actions,
                now,
                cache_segments: self.config.cache_segments,
                program_date_time: self.config.program_date_time,
            },
            &mut self.renditions,
        )
    }

    fn media(&mut self, now: Now, received_at: Instant, event: DemuxEvent) {
        let changes = match event {
            DemuxEvent::VideoConfig(c) => {
                info!(codec = %c.codec_string(), width = c.width, height = c.height, "video configuration");
                let (mut out, renditions) = self.out(now);
                let changes = renditions[0].set_video(&mut out, c.clone());
                self.start_ladder(now, c);
                changes
            }
            DemuxEvent::AudioConfig(c) => {
                info!(codec = %c.codec_string(), sample_rate = c.sample_rate, channels = c.channels, "audio configuration");
                let (mut out, renditions) = self.out(now);
                let mut changes = Changes::default();
                for r in renditions.iter_mut() {
                    changes |= r.set_audio(&mut out, c.clone());
                }
                changes
            }
            DemuxEvent::Unit(au) => {
                if self.config.measure_ingest {
                    self.meter.push(&au);
                    self.report_ingest(now);
                }
                let au = self.timeline.place(au);
                self.last_arrival = Some(received_at);
                if au.track == TrackKind::Video {
                    self.media_start.get_or_insert(au.pts);
                    if self.ladder.is_some() {
                        self.actions.push_back(Action::FeedLadder(au.clone()));
                    }
                    if au.keyframe {
                        self.maybe_thumbnail(now, &au);
                    }
                }
                let (mut out, renditions) = self.out(now);
                if au.track == TrackKind::Audio {
                    // Transcoded renditions carry the source's audio.
                    for r in renditions.iter_mut().skip(1) {
                        r.push(&mut out, au.clone());
                    }
                }
                renditions[0].push(&mut out, au)
            }
        };
        self.after_source(now, changes);
    }

    /// Every second the publisher's reading for the metrics; every few
    /// seconds also for the live stream's row.
    fn report_ingest(&mut self, now: Now) {
        if self
            .metrics_at
            .is_some_and(|t| now.at.duration_since(t) < METRICS_INTERVAL)
        {
            return;
        }
        self.metrics_at = Some(now.at);
        let reading = self.meter.reading();
        let store = reading.bitrate_bps.is_some()
            && self
                .stats_reported_at
                .is_none_or(|t| now.at.duration_since(t) >= INGEST_STATS_INTERVAL);
        if store {
            self.stats_reported_at = Some(now.at);
        }
        self.actions
            .push_back(Action::Measure(Measure::Ingest { reading, store }));
    }

    /// Every thumbnail interval, a thumbnail of a source keyframe: often
    /// while someone looks at it (browse pages poll it), otherwise at the
    /// idle interval.
    fn maybe_thumbnail(&mut self, now: Now, au: &AccessUnit) {
        let busy = self.config.thumbnail_interval;
        if busy.is_zero() {
            return;
        }
        let wanted = self
            .thumbnail_wanted_at
            .is_some_and(|at| now.at.saturating_duration_since(at) < THUMBNAIL_DEMAND_WINDOW);
        let interval = if wanted {
            busy
        } else {
            self.config.thumbnail_idle_interval.max(busy)
        };
        if self
            .thumbnail_made_at
            .is_some_and(|made| now.at < made + interval)
        {
            return;
        }
        let Some(config) = self.renditions[0].info.video.clone() else {
            return;
        };
        self.thumbnail_made_at = Some(now.at);
        let poster = !std::mem::replace(&mut self.poster_made, true);
        self.actions.push_back(Action::Thumbnail {
            config,
            unit: au.clone(),
            poster,
        });
    }

    /// Bookkeeping after the source rendition changed: the live edge, the
    /// `active` state, republishing and the availability measurement.
    fn after_source(&mut self, now: Now, changes: Changes) {
        let low_latency = self.config.low_latency;
        let listed = changes.part || (changes.segment && !low_latency);
        if listed {
            self.edge_received_at = self.last_arrival;
        }
        if changes.stored && !self.active {
            self.active = true;
            info!("first segment stored; stream is active");
            if self.config.live_playlists {
                let ingest = ingest_info(&self.renditions[0].info);
                self.actions.push_back(Action::Status(Status::Active {
                    ingest,
                    returned: false,
                }));
            }
        }
        self.republish(now, changes);
        if listed && let Some(arrived) = self.last_arrival {
            let latency = now.at.saturating_duration_since(arrived);
            let target = if low_latency {
                self.config.segmenter.part_target.unwrap_or_default()
            } else {
                self.config.segmenter.target_duration
            };
            let late = latency.as_secs_f64() > target.as_secs_f64();
            if late {
                self.late_segments += 1;
            }
            self.actions
                .push_back(Action::Measure(Measure::SegmentAvailable { latency, late }));
        }
    }

    fn republish(&mut self, now: Now, changes: Changes) {
        if self.is_ending() {
            return;
        }
        if changes.segment {
            self.publish(now, true);
        } else if changes.part {
            self.publish(now, false);
        }
    }
}
