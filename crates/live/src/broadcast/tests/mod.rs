//! The broadcast core's rules, with simulated time: every test runs in
//! milliseconds, and between them they see every [`Action`] variant.

use std::time::{Duration, Instant};

use av::LadderEvent;
use av::flv::FileReader;
use av::{AccessUnit, DemuxEvent, FlvDemuxer, Time90k, TrackKind};
use bytes::Bytes;
use packager::{SegmentFormat, SegmenterConfig};

use std::sync::Arc;

use super::*;
use crate::EndReason;
use crate::registry::Playlists;

mod ladder_and_retention;
mod low_latency;

/// 6 s of 192x108 H.264 (keyframes every 1.001 s) and AAC 44.1 kHz.
const FIXTURE: &[u8] =
    include_bytes!("../../../../packager/testdata/ffmpeg_192x108_2997fps_bframes_aac44k.flv");

/// The fixture's configurations, then its units `loops` times in a row
/// (timestamps continuing).
fn media(loops: u32) -> Vec<DemuxEvent> {
    let mut demux = FlvDemuxer::new();
    let mut configs = Vec::new();
    let mut units = Vec::new();
    for tag in FileReader::new(Bytes::from_static(FIXTURE)).unwrap() {
        let tag = tag.unwrap();
        match demux.push(tag.kind, tag.timestamp_ms, tag.body).unwrap() {
            Some(DemuxEvent::Unit(au)) => units.push(au),
            Some(other) => configs.push(other),
            None => {}
        }
    }
    let span = Time90k::from_millis(6_100);
    let mut events = configs;
    for k in 0..loops {
        for au in &units {
            let mut au = au.clone();
            au.pts += Time90k(span.0 * i64::from(k));
            au.dts += Time90k(span.0 * i64::from(k));
            events.push(DemuxEvent::Unit(au));
        }
    }
    events
}

fn config() -> BroadcastConfig {
    BroadcastConfig {
        segmenter: SegmenterConfig {
            target_duration: Time90k::from_secs_f64(1.0),
            format: SegmentFormat::MpegTs,
            part_target: None,
        },
        low_latency: false,
        window_segments: 3,
        reconnect_window: Duration::from_secs(60),
        reconnect_after_unpublish: false,
        max_duration: None,
        record: true,
        retention_grace: Duration::from_secs(30),
        cache_segments: false,
        public_prefix: None,
        live_playlists: true,
        program_date_time: true,
        measure_ingest: true,
        thumbnail_interval: Duration::ZERO,
        thumbnail_idle_interval: Duration::ZERO,
        max_ladder_lag: Duration::from_secs(2),
        flat: false,
    }
}

/// A driver that does nothing but answer: store requests (at once, or
/// later with `auto_ack` off) and ladder requests.
struct Sim {
    b: Broadcast,
    t0: Instant,
    /// Simulated time since the start.
    t: Duration,
    auto_ack: bool,
    /// What the store answers.
    store_ok: bool,
    /// What a ladder request gets.
    rungs: Vec<(String, u32)>,
    /// Store requests not answered yet (`auto_ack` off).
    unanswered: Vec<(Ack, Vec<Bytes>)>,
    log: Vec<Action>,
}

impl Sim {
    fn new(config: BroadcastConfig) -> Sim {
        let t0 = Instant::now();
        let mut sim = Sim {
            b: Broadcast::new(
                config,
                Now {
                    at: t0,
                    unix_ms: 1_800_000_000_000,
                },
            ),
            t0,
            t: Duration::ZERO,
            auto_ack: true,
            store_ok: true,
            rungs: Vec::new(),
            unanswered: Vec::new(),
            log: Vec::new(),
        };
        sim.drain();
        sim
    }

    fn now(&self) -> Now {
        Now {
            at: self.t0 + self.t,
            unix_ms: 1_800_000_000_000 + self.t.as_millis() as i64,
        }
    }

    fn push(&mut self, input: Input) {
        let now = self.now();
        self.b.push(now, input);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(action) = self.b.pull() {
            match &action {
                Action::Store {
                    ack: Some(ack),
                    data,
                    ..
                } => {
                    if self.auto_ack {
                        let now = self.now();
                        let (ack, ok, data) = (*ack, self.store_ok, data.clone());
                        self.b.push(now, Input::Stored { ack, ok, data });
                    } else {
                        self.unanswered.push((*ack, data.clone()));
                    }
                }
                Action::StartLadder(_) => {
                    let now = self.now();
                    self.b.push(now, Input::LadderStarted(self.rungs.clone()));
                }
                _ => {}
            }
            self.log.push(action);
        }
    }

    /// Feeds media in real time: the clock follows the units' decode times.
    fn feed(&mut self, events: impl IntoIterator<Item = DemuxEvent>) {
        for event in events {
            if let DemuxEvent::Unit(au) = &event {
                let at = Duration::from_secs_f64(au.dts.as_secs_f64().max(0.0));
                self.t = self.t.max(at);
            }
            let received_at = self.now().at;
            self.push(Input::Media { received_at, event });
        }
    }

    fn advance(&mut self, by: Duration) {
        self.t += by;
        self.push(Input::Tick);
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.log)
    }

    fn ending(&self) -> Option<&Ending> {
        self.log.iter().find_map(|a| match a {
            Action::Ended(e) => Some(e),
            _ => None,
        })
    }
}

fn indexed(actions: &[Action], rendition: &str) -> Vec<SegmentRecord> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Index(r) if &*r.rendition == rendition => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn statuses(actions: &[Action]) -> Vec<&Status> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Status(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn last_playlists(actions: &[Action]) -> Arc<Playlists> {
    actions
        .iter()
        .rev()
        .find_map(|a| match a {
            Action::Publish(p) => Some(p.clone()),
            _ => None,
        })
        .expect("playlists were published")
}

fn body(playlists: &Playlists, rendition: &str) -> String {
    String::from_utf8(playlists.media[rendition].body.to_vec()).unwrap()
}

#[test]
fn a_broadcast_goes_connected_active_and_ends_with_its_recording() {
    let mut sim = Sim::new(config());
    sim.feed(media(1));
    let actions = sim.take();
    let segments = indexed(&actions, "source");
    assert_eq!(
        segments.len(),
        5,
        "1 s segments of 6 s of media, the last still open"
    );
    assert!(
        segments
            .iter()
            .all(|s| !s.gap && s.program_date_time_ms.is_some())
    );
    assert!(
        segments
            .windows(2)
            .all(|w| w[1].sequence == w[0].sequence + 1)
    );
    // Connected at the start (in `new`), active once the first segment was stored.
    let s = statuses(&actions);
    assert!(
        matches!(
            s.as_slice(),
            [
                Status::Connected,
                Status::Active {
                    returned: false,
                    ..
                }
            ]
        ),
        "{s:?}"
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Measure(Measure::SegmentStored(r)) if &**r == "source"))
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Measure(Measure::SegmentAvailable { late: false, .. })
    )));
    // The master and media playlists go to the store, in the source's lane.
    assert!(actions.iter().any(|a| matches!(a, Action::Store { path, lane, .. } if path == "master.m3u8" && &**lane == "source")));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Store { path, .. } if path == "source/index.m3u8"))
    );
    let live = last_playlists(&actions);
    assert!(live.master.is_some() && !live.ended);

    sim.push(Input::PublisherLeft {
        clean: true,
        shutting_down: false,
    });
    let actions = sim.take();
    let finals: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Store {
                ack: Some(Ack::Final),
                path,
                ..
            } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        finals,
        [
            "source/index.m3u8",
            "source/vod.m3u8",
            "master.m3u8",
            "vod-master.m3u8"
        ]
    );
    assert!(last_playlists(&actions).ended);
    let ending = match actions.last() {
        Some(Action::Ended(e)) => e,
        other => panic!("the last action ends the broadcast, not {other:?}"),
    };
    assert_eq!(ending.reason, EndReason::PublisherFinished);
    assert_eq!(ending.recording, Recording::Ready);
    assert_eq!(ending.segments, 6);
    assert_eq!(ending.delete_after, None);
    assert_eq!(ending.uncache_after, Duration::from_secs(3));
    assert!(sim.b.is_ended() && sim.b.pull().is_none());
}

#[test]
fn a_segment_is_listed_only_after_the_store_answers_and_in_order() {
    let mut sim = Sim::new(config());
    sim.auto_ack = false;
    sim.feed(media(1).into_iter().take(250));
    assert!(sim.unanswered.len() >= 2, "{}", sim.unanswered.len());
    let actions = sim.take();
    assert!(indexed(&actions, "source").is_empty());
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Status(Status::Active { .. })))
    );
    // The second segment's answer first: nothing is listed yet.
    let (first, second) = (sim.unanswered.remove(0), sim.unanswered.remove(0));
    sim.push(Input::Stored {
        ack: second.0,
        ok: true,
        data: second.1,
    });
    assert!(indexed(&sim.take(), "source").is_empty());
    // The first one fails: both are listed, the first as a gap.
    sim.push(Input::Stored {
        ack: first.0,
        ok: false,
        data: first.1,
    });
    let actions = sim.take();
    let listed = indexed(&actions, "source");
    assert_eq!(
        listed
            .iter()
            .map(|s| (s.sequence, s.gap))
            .collect::<Vec<_>>(),
        [(0, true), (1, false)]
    );
    let playlist = body(&last_playlists(&actions), "source");
    assert!(playlist.contains("#EXT-X-GAP\n#EXTINF"), "{playlist}");
    assert_eq!(last_playlists(&actions).dropped_segments, 1);
    // Active only with a stored segment.
    assert!(matches!(
        statuses(&actions).as_slice(),
        [Status::Active { .. }]
    ));
}

#[test]
fn a_publisher_that_returns_continues_the_timeline_after_a_discontinuity() {
    let mut sim = Sim::new(config());
    sim.feed(media(1));
    sim.take();
    sim.push(Input::PublisherLeft {
        clean: false,
        shutting_down: false,
    });
    let left_at = sim.now().at;
    assert!(matches!(
        statuses(&sim.take()).as_slice(),
        [Status::Disconnected]
    ));
    assert!(sim.b.is_waiting());
    assert_eq!(
        sim.b.next_deadline(),
        Some(left_at + Duration::from_secs(60))
    );
    // Media while nobody is connected is ignored.
    sim.feed(media(1).into_iter().skip(5).take(10));
    assert!(sim.take().is_empty());
    sim.advance(Duration::from_secs(20));
    sim.push(Input::PublisherReturned);
    assert!(matches!(
        statuses(&sim.log).as_slice(),
        [Status::Active { returned: true, .. }]
    ));
    // The encoder restarted its clock at 0: the broadcast's timeline goes on.
    sim.feed(media(1));
    let actions = sim.take();
    let segments = indexed(&actions, "source");
    // The new configuration closes the segment left open (5); what the
    // returned publisher sends follows a discontinuity.
    assert_eq!(segments[0].sequence, 5, "sequence numbers go on");
    assert!(
        !segments[0].discontinuity && segments[1].discontinuity,
        "{segments:?}"
    );
    assert!(segments.iter().skip(2).all(|s| !s.discontinuity));
    assert!(
        segments
            .iter()
            .all(|s| s.duration < Time90k::from_secs_f64(1.2)),
        "{segments:?}"
    );
    assert_eq!(sim.b.timestamp_jumps(), 0);
}

#[test]
fn timestamps_that_jump_continue_where_they_were() {
    let mut t = timeline::Timeline::default();
    let unit = |track, dts: i64| AccessUnit {
        track,
        pts: Time90k(dts),
        dts: Time90k(dts),
        keyframe: true,
        data: Bytes::new(),
    };
    assert_eq!(t.place(unit(TrackKind::Video, 0)).dts, Time90k(0));
    assert_eq!(t.place(unit(TrackKind::Video, 3000)).dts, Time90k(3000));
    // 20 s forward: a jump; the track continues one frame later.
    assert_eq!(
        t.place(unit(TrackKind::Video, 3000 + 20 * 90_000)).dts,
        Time90k(6000)
    );
    assert_eq!(
        t.place(unit(TrackKind::Video, 6000 + 20 * 90_000)).dts,
        Time90k(9000)
    );
    // A 9 s step is a gap, not a jump.
    assert_eq!(
        t.place(unit(TrackKind::Video, 6000 + 29 * 90_000)).dts,
        Time90k(9000 + 9 * 90_000)
    );
    // 2 s back: a jump.
    let last = 9000 + 9 * 90_000;
    assert_eq!(
        t.place(unit(TrackKind::Video, 6000 + 27 * 90_000)).dts,
        Time90k(last + 3000)
    );
    // Half a second back is not (B-frame reorder is in PTS, not DTS; small
    // steps back are left to the segmenter).
    let placed = t
        .place(unit(TrackKind::Video, 6000 + 27 * 90_000 - 45_000))
        .dts;
    assert_eq!(placed, Time90k(last + 3000 - 45_000));
    assert_eq!(t.jumps, 2);
    // Audio has its own offset.
    assert_eq!(t.place(unit(TrackKind::Audio, 500)).dts, Time90k(500));
    // A reconnect moves both tracks after the highest time so far.
    t.reconnected();
    let max = last + 3000;
    assert_eq!(t.place(unit(TrackKind::Audio, 0)).dts, Time90k(max + 3000));
    assert_eq!(
        t.place(unit(TrackKind::Video, 100)).dts,
        Time90k(max + 3100)
    );
}

#[test]
fn the_reconnect_window_ends_the_broadcast_when_it_elapses() {
    let mut sim = Sim::new(config());
    sim.feed(media(1).into_iter().take(100));
    sim.push(Input::PublisherLeft {
        clean: false,
        shutting_down: false,
    });
    sim.advance(Duration::from_secs(59));
    assert!(!sim.b.is_ending());
    sim.advance(Duration::from_secs(1));
    assert_eq!(
        sim.ending().map(|e| e.reason),
        Some(EndReason::ReconnectWindowElapsed)
    );
    // Nobody may come back now.
    sim.push(Input::PublisherReturned);
    assert!(sim.b.is_ended());
}

#[test]
fn how_a_publisher_leaves_decides_the_end() {
    let case = |clean, shutting_down, window: u64, mux: bool| {
        let mut sim = Sim::new(BroadcastConfig {
            reconnect_window: Duration::from_secs(window),
            reconnect_after_unpublish: mux,
            ..config()
        });
        sim.push(Input::PublisherLeft {
            clean,
            shutting_down,
        });
        sim.ending().map(|e| e.reason)
    };
    assert_eq!(
        case(true, false, 60, false),
        Some(EndReason::PublisherFinished)
    );
    // Mux's rule: an unpublish waits out the window too.
    assert_eq!(case(true, false, 60, true), None);
    assert_eq!(case(false, false, 60, false), None);
    assert_eq!(
        case(false, false, 0, false),
        Some(EndReason::PublisherDisconnected)
    );
    assert_eq!(case(false, true, 60, false), Some(EndReason::ShuttingDown));
    // Nothing was stored: the recording failed.
    let mut sim = Sim::new(config());
    sim.push(Input::Stop);
    let ending = sim.ending().unwrap();
    assert_eq!(
        (ending.reason, ending.recording),
        (EndReason::Requested, Recording::Empty)
    );
}

#[test]
fn the_maximum_duration_ends_a_broadcast() {
    let mut sim = Sim::new(BroadcastConfig {
        max_duration: Some(Duration::from_secs(300)),
        ..config()
    });
    let start = sim.now().at;
    assert_eq!(
        sim.b.next_deadline(),
        Some(start + Duration::from_secs(300))
    );
    sim.advance(Duration::from_secs(299));
    assert!(sim.ending().is_none());
    sim.advance(Duration::from_secs(1));
    assert_eq!(
        sim.ending().map(|e| e.reason),
        Some(EndReason::MaxDurationReached)
    );
}

#[test]
fn final_playlists_that_cannot_be_stored_leave_the_recording_to_recovery() {
    let mut sim = Sim::new(config());
    sim.feed(media(1).into_iter().take(100));
    sim.store_ok = false;
    sim.push(Input::Stop);
    assert_eq!(
        sim.ending().map(|e| e.recording),
        Some(Recording::Unfinished)
    );
}
