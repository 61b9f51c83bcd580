//! One rendition of a broadcast, sans-IO: access units → segmenter →
//! store actions → (after the store's acknowledgement) segment index and
//! media playlist.
//!
//! The source rendition is fed the publisher's access units; a transcoded
//! rendition gets the ladder's video and the source's audio, interleaved by
//! decode time here (the encoder delivers video later than ingest delivers
//! audio, and a segmenter places audio in whatever segment is open).
//!
//! A segment is listed only once the store acknowledged it ([`Rendition::
//! stored`]); segments are listed in order whatever order the
//! acknowledgements come in, and LL-HLS parts of later segments wait for
//! their predecessors to be listed.

use std::collections::VecDeque;
use std::sync::Arc;

use av::{AccessUnit, H264Config, MediaInfo, Time90k, TrackKind};
use bytes::Bytes;
use packager::{
    BandwidthMeter, MediaPlaylist, Output, Part, PartEntry, Segment, SegmentEntry, SegmentHead,
    Segmenter, SegmenterConfig,
};
use tracing::{error, warn};

use super::{Ack, Action, Measure, Now, SegmentRecord};
use crate::registry::MediaPlaylistView;

/// Audio held for a transcoded rendition at most (the ladder is that far
/// behind); older audio is dropped rather than growing without bound.
const MAX_PENDING_AUDIO: usize = 1000;

/// Completed segments whose LL-HLS parts stay in the hot cache. Playlists
/// list the parts of the last three target durations; one more is slack
/// for a player that read the playlist just before a segment completed.
const PART_SEGMENTS_CACHED: u64 = 4;

/// What a push changed, so the broadcast knows what to republish.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// A part was listed.
    pub part: bool,
    /// A segment was listed (stored or as a gap).
    pub segment: bool,
    /// Of those segments, one was stored (not a gap).
    pub stored: bool,
}

impl std::ops::BitOrAssign for Changes {
    fn bitor_assign(&mut self, rhs: Changes) {
        self.part |= rhs.part;
        self.segment |= rhs.segment;
        self.stored |= rhs.stored;
    }
}

/// Where a rendition's actions go and what they need to say.
pub(crate) struct Out<'a> {
    pub actions: &'a mut VecDeque<Action>,
    pub now: Now,
    /// The store is remote: segments also go into the hot cache.
    pub cache_segments: bool,
    /// Segments carry `EXT-X-PROGRAM-DATE-TIME` (wall clock of their start).
    pub program_date_time: bool,
}

/// A segment handed to the store, waiting for its acknowledgement.
struct Unacked {
    entry: SegmentEntry,
    size_bytes: usize,
    /// `Some(stored)` once acknowledged.
    stored: Option<bool>,
}

/// An LL-HLS part waiting for an earlier segment to be listed.
struct HeldPart {
    head: Option<SegmentHead>,
    sequence: u64,
    entry: PartEntry,
}

pub(crate) struct Rendition {
    pub name: Arc<str>,
    /// Index in the broadcast's renditions (store acknowledgements name it).
    index: usize,
    /// Directory of its objects: `{name}/`, or empty for the single
    /// rendition of a flat file layout.
    dir: String,
    /// Codec configurations: the video of this rendition, the source audio.
    pub info: MediaInfo,
    config: SegmenterConfig,
    segmenter: Option<Segmenter>,
    pub playlist: MediaPlaylist,
    pub bandwidth: BandwidthMeter,
    /// Sequence number the next segmenter starts at.
    next_sequence: u64,
    /// The next segment follows a format change (EXT-X-DISCONTINUITY).
    pending_discontinuity: bool,
    /// The current initialization segment (fMP4), for EXT-X-MAP.
    map_uri: Option<String>,
    init_generation: u32,
    /// Wall-clock start of the segment in progress, unix ms.
    segment_started_ms: Option<i64>,
    /// Transcoded renditions: source audio waiting for video of its time.
    interleave: bool,
    pending_audio: VecDeque<AccessUnit>,
    /// PTS of the newest video access unit pushed (lag measurement).
    pub last_video_pts: Option<Time90k>,
    /// Stopped (the ladder dropped it); its playlist ended.
    pub stopped: bool,
    /// Configured bitrate, for the master playlist before one is measured.
    pub estimated_bps: Option<u64>,
    pub gaps: u64,
    pub dropped_units: u64,
    /// Segments (by index in the playlist) already handed out by
    /// [`Rendition::take_expired`].
    expired: usize,
    /// LL-HLS parts in the hot cache: (segment sequence, parts), oldest
    /// first.
    cached_parts: VecDeque<(u64, u32)>,
    /// Segments in the store's hands, oldest first.
    unacked: VecDeque<Unacked>,
    held_parts: VecDeque<HeldPart>,
    /// The rendition's media ended: its playlist ends once every segment
    /// is acknowledged.
    finishing: bool,
}

impl Rendition {
    pub fn new(
        name: &str,
        index: usize,
        flat: bool,
        info: MediaInfo,
        config: SegmenterConfig,
        interleave: bool,
    ) -> Self {
        Rendition {
            name: Arc::from(name),
            index,
            dir: if flat {
                String::new()
            } else {
                format!("{name}/")
            },
            info,
            playlist: MediaPlaylist::new(config.target_duration),
            config,
            segmenter: None,
            bandwidth: BandwidthMeter::default(),
            next_sequence: 0,
            pending_discontinuity: false,
            map_uri: None,
            init_generation: 0,
            segment_started_ms: None,
            interleave,
            pending_audio: VecDeque::new(),
            last_video_pts: None,
            stopped: false,
            estimated_bps: None,
            gaps: 0,
            dropped_units: 0,
            expired: 0,
            cached_parts: VecDeque::new(),
            unacked: VecDeque::new(),
            held_parts: VecDeque::new(),
            finishing: false,
        }
    }

    /// The path of one of its objects, relative to the broadcast.
    pub fn path(&self, file_name: &str) -> String {
        format!("{}{file_name}", self.dir)
    }

    /// Its objects' directory (`{name}/`, or empty in a flat layout).
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// No segment is waiting for the store, and (once finishing) its
    /// playlist ended.
    pub fn is_settled(&self) -> bool {
        self.unacked.is_empty()
    }

    /// Starts again after it was stopped (its ladder restarted): what
    /// follows comes after a discontinuity.
    pub fn reopen(&mut self) {
        if self.stopped || self.finishing {
            self.stopped = false;
            self.finishing = false;
            self.pending_discontinuity = true;
            self.playlist.reopen();
        }
    }

    /// The URIs of segments that left a live window of `window` segments
    /// since the last call (for channels that do not record, whose segments
    /// are deleted once no player needs them).
    pub fn take_expired(&mut self, window: usize) -> Vec<String> {
        let listed = self.playlist.segments().len();
        let keep_from = listed.saturating_sub(window);
        if keep_from <= self.expired {
            return Vec::new();
        }
        let uris = self
            .playlist
            .segments()
            .skip(self.expired)
            .take(keep_from - self.expired)
            .map(|s| s.uri.clone())
            .collect();
        self.expired = keep_from;
        uris
    }

    /// A new video configuration: close the current segmenter; the next
    /// segment starts after a discontinuity (and a new init segment).
    pub fn set_video(&mut self, out: &mut Out<'_>, config: H264Config) -> Changes {
        let changes = self.restart(out);
        self.info.video = Some(config);
        changes
    }

    pub fn set_audio(&mut self, out: &mut Out<'_>, config: av::AacConfig) -> Changes {
        let changes = self.restart(out);
        self.info.audio = Some(config);
        changes
    }

    fn restart(&mut self, out: &mut Out<'_>) -> Changes {
        let mut changes = Changes::default();
        if let Some(mut s) = self.segmenter.take() {
            s.finish();
            changes |= self.drain(out, &mut s);
            self.pending_discontinuity = true;
        }
        changes
    }

    /// Feeds one access unit. For transcoded renditions, audio waits until
    /// video has caught up with it.
    pub fn push(&mut self, out: &mut Out<'_>, unit: AccessUnit) -> Changes {
        if self.stopped || self.finishing {
            return Changes::default();
        }
        if !self.interleave {
            return self.push_now(out, unit);
        }
        match unit.track {
            TrackKind::Audio => {
                if self.pending_audio.len() >= MAX_PENDING_AUDIO {
                    self.pending_audio.pop_front();
                    self.dropped_units += 1;
                }
                self.pending_audio.push_back(unit);
                Changes::default()
            }
            TrackKind::Video => {
                let mut changes = Changes::default();
                while let Some(a) = self.pending_audio.pop_front_if(|a| a.dts <= unit.dts) {
                    changes |= self.push_now(out, a);
                }
                changes |= self.push_now(out, unit);
                changes
            }
        }
    }

    fn push_now(&mut self, out: &mut Out<'_>, unit: AccessUnit) -> Changes {
        if self.segment_started_ms.is_none() && out.program_date_time {
            self.segment_started_ms = Some(out.now.unix_ms);
        }
        if unit.track == TrackKind::Video {
            self.last_video_pts = Some(unit.pts);
        }
        let mut segmenter = match self.segmenter.take() {
            Some(s) => s,
            None => Segmenter::new(self.info.clone(), self.config.clone(), self.next_sequence),
        };
        if let Err(e) = segmenter.push(unit) {
            self.dropped_units += 1;
            // Logged at powers of two so a broken stream cannot flood the log.
            if self.dropped_units.is_power_of_two() {
                warn!(rendition = %self.name, error = %e, dropped = self.dropped_units, "dropping access unit");
            }
        }
        let changes = self.drain(out, &mut segmenter);
        self.segmenter = Some(segmenter);
        changes
    }

    fn drain(&mut self, out: &mut Out<'_>, segmenter: &mut Segmenter) -> Changes {
        let mut changes = Changes::default();
        while let Some(output) = segmenter.pull() {
            match output {
                Output::Init(data) => self.store_init(out, data),
                Output::Part(part) => changes.part |= self.list_part(out, part),
                Output::Segment(seg) => self.store_segment(out, seg),
            }
        }
        changes
    }

    /// Drops from the hot cache the parts of segments more than
    /// [`PART_SEGMENTS_CACHED`] before `sequence` (just completed).
    fn evict_parts(&mut self, out: &mut Out<'_>, sequence: u64) {
        let mut paths = Vec::new();
        while let Some((seq, count)) = self
            .cached_parts
            .pop_front_if(|(seq, _)| *seq + PART_SEGMENTS_CACHED <= sequence)
        {
            paths.extend((0..count).map(|index| self.path(&format!("{seq}.{index}.m4s"))));
        }
        if !paths.is_empty() {
            out.actions.push_back(Action::Uncache { paths });
        }
    }

    fn store_init(&mut self, out: &mut Out<'_>, data: Bytes) {
        self.init_generation += 1;
        let name = if self.init_generation == 1 {
            "init.mp4".to_string()
        } else {
            format!("init-{}.mp4", self.init_generation)
        };
        // Always in the hot cache too: live viewers need it before the
        // store has it (a failure to store it is logged by the driver; the
        // recording then misses it).
        out.actions.push_back(Action::Store {
            lane: self.name.clone(),
            path: self.path(&name),
            data: vec![data],
            cache: true,
            ack: None,
            durable: true,
        });
        self.map_uri = Some(name);
    }

    /// Puts an LL-HLS part in the hot cache and lists it (or holds it until
    /// the segments before it are listed). Parts live only in the hot cache;
    /// the whole segment they make up is stored when it completes.
    fn list_part(&mut self, out: &mut Out<'_>, part: Part) -> bool {
        let sequence = part.segment_sequence;
        let file_name = format!("{sequence}.{}.m4s", part.index);
        out.actions.push_back(Action::Cache {
            path: self.path(&file_name),
            data: part.to_bytes(),
        });
        match self.cached_parts.back_mut() {
            Some((seq, count)) if *seq == sequence => *count = (*count).max(part.index + 1),
            _ => self.cached_parts.push_back((sequence, part.index + 1)),
        }
        let head = (part.index == 0).then(|| SegmentHead {
            discontinuity: self.pending_discontinuity,
            program_date_time_ms: self.segment_started_ms,
            map_uri: self.map_uri.clone(),
        });
        let held = HeldPart {
            head,
            sequence,
            entry: PartEntry {
                index: part.index,
                duration: part.duration,
                independent: part.independent,
                uri: file_name,
                gap: false,
            },
        };
        if !self.unacked.is_empty() || !self.held_parts.is_empty() {
            self.held_parts.push_back(held);
            return false;
        }
        self.list_held(held)
    }

    fn list_held(&mut self, part: HeldPart) -> bool {
        let sequence = part.sequence;
        if let Some(head) = part.head
            && let Err(e) = self.playlist.begin_segment(sequence, head)
        {
            error!(rendition = %self.name, error = %e, sequence, "cannot begin segment in the playlist");
            return false;
        }
        let index = part.entry.index;
        if let Err(e) = self.playlist.push_part(sequence, part.entry) {
            error!(rendition = %self.name, error = %e, sequence, index, "cannot list part");
            return false;
        }
        true
    }

    /// Hands a completed segment to the store; it is listed when the store
    /// acknowledges it ([`Rendition::stored`]).
    fn store_segment(&mut self, out: &mut Out<'_>, seg: Segment) {
        let sequence = seg.sequence;
        self.next_sequence = sequence + 1;
        let program_date_time_ms = if out.program_date_time {
            self.segment_started_ms.replace(out.now.unix_ms)
        } else {
            None
        };
        // A one-frame last segment may have no measurable duration; a
        // playlist entry needs a positive one.
        let duration = Time90k(seg.duration.0.max(Time90k::from_millis(1).0));
        let file_name = format!("{sequence}.{}", seg.format.extension());
        self.evict_parts(out, sequence);
        let entry = SegmentEntry {
            sequence,
            duration,
            uri: file_name.clone(),
            discontinuity: std::mem::take(&mut self.pending_discontinuity),
            gap: false,
            program_date_time_ms,
            map_uri: self.map_uri.clone(),
        };
        self.unacked.push_back(Unacked {
            entry,
            size_bytes: seg.size_bytes(),
            stored: None,
        });
        out.actions.push_back(Action::Store {
            lane: self.name.clone(),
            path: self.path(&file_name),
            data: seg.data,
            cache: out.cache_segments,
            ack: Some(Ack::Segment {
                rendition: self.index,
                sequence,
            }),
            durable: true,
        });
    }

    /// The store's answer for segment `sequence`; `data` is the segment's
    /// buffers back, for the segmenter to reuse. Lists every segment at the
    /// head of the queue that has its answer: indexed, then listed (a
    /// segment the store refused is listed with EXT-X-GAP, so players skip
    /// it and sequence numbers stay consecutive).
    pub fn stored(
        &mut self,
        out: &mut Out<'_>,
        sequence: u64,
        ok: bool,
        data: Vec<Bytes>,
    ) -> Changes {
        let mut changes = Changes::default();
        let Some(pending) = self
            .unacked
            .iter_mut()
            .find(|u| u.entry.sequence == sequence && u.stored.is_none())
        else {
            return changes;
        };
        pending.stored = Some(ok);
        if let Some(segmenter) = &mut self.segmenter {
            segmenter.recycle_buffers(data);
        }
        while let Some(done) = self.unacked.pop_front_if(|u| u.stored.is_some()) {
            let stored = done.stored == Some(true);
            let mut entry = done.entry;
            if !stored {
                error!(rendition = %self.name, sequence = entry.sequence, "segment lost: could not store it; listing it as a gap");
                self.gaps += 1;
                entry.gap = true;
            }
            out.actions.push_back(Action::Index(SegmentRecord {
                rendition: self.name.clone(),
                sequence: entry.sequence,
                duration: entry.duration,
                size_bytes: done.size_bytes.max(1),
                discontinuity: entry.discontinuity,
                uri: entry.uri.clone(),
                map_uri: entry.map_uri.clone(),
                gap: entry.gap,
                program_date_time_ms: entry.program_date_time_ms,
            }));
            let (seq, duration) = (entry.sequence, entry.duration);
            if let Err(e) = self.playlist.push(entry) {
                // Sequence numbers come from the segmenter: this is a bug.
                error!(rendition = %self.name, error = %e, sequence = seq, "cannot list segment");
                continue;
            }
            changes.segment = true;
            if stored {
                changes.stored = true;
                self.bandwidth.record(done.size_bytes, duration);
                out.actions
                    .push_back(Action::Measure(Measure::SegmentStored(self.name.clone())));
            }
        }
        if self.unacked.is_empty() {
            while let Some(part) = self.held_parts.pop_front() {
                changes.part |= self.list_held(part);
            }
            if self.finishing && !self.playlist.is_ended() {
                self.playlist.end();
            }
        }
        changes
    }

    /// End of the rendition's media: pending audio, the open segment; the
    /// playlist ends (EXT-X-ENDLIST) once the store has every segment.
    pub fn finish(&mut self, out: &mut Out<'_>) -> Changes {
        let mut changes = Changes::default();
        while let Some(a) = self.pending_audio.pop_front() {
            if self.segmenter.is_some() {
                changes |= self.push_now(out, a);
            }
        }
        if let Some(mut s) = self.segmenter.take() {
            s.finish();
            changes |= self.drain(out, &mut s);
        }
        self.finishing = true;
        if self.unacked.is_empty() {
            self.playlist.end();
        }
        changes
    }

    /// The playlist view the origin serves, rendered by `render`.
    pub fn view(&self, body: Bytes, delta: Option<Bytes>) -> MediaPlaylistView {
        let last_sequence = self.playlist.segments().last().map(|s| s.sequence);
        MediaPlaylistView {
            body,
            delta,
            next_sequence: last_sequence.map_or(self.next_sequence, |s| s + 1),
            last_sequence,
            last_part: self.playlist.last_part(),
        }
    }

    /// Has at least one segment or part listed: worth a master entry.
    pub fn has_media(&self) -> bool {
        self.playlist.segments().len() > 0 || self.playlist.last_part().is_some()
    }
}
