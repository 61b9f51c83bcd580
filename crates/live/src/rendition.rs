//! One rendition of a broadcast: access units → segmenter → storage and hot
//! cache → segment index → media playlist.
//!
//! The source rendition is fed the publisher's access units; a transcoded
//! rendition gets the ladder's video and the source's audio, interleaved by
//! decode time here (the encoder delivers video later than ingest delivers
//! audio, and a segmenter places audio in whatever segment is open).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use av::{AccessUnit, H264Config, MediaInfo, Time90k, TrackKind};
use bytes::Bytes;
use control::NewSegment;
use packager::{
    BandwidthMeter, MediaPlaylist, Output, Part, PartEntry, Segment, SegmentEntry, SegmentHead,
    Segmenter, SegmenterConfig,
};
use storage::keys;
use tracing::{error, warn};

use crate::registry::MediaPlaylistView;
use crate::render::lane;
use crate::session::Inner;

/// Audio held for a transcoded rendition at most (the ladder is that far
/// behind); older audio is dropped rather than growing without bound.
const MAX_PENDING_AUDIO: usize = 1000;

/// What a push changed, so the session knows what to republish.
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

/// Where a rendition writes: the broadcast and the shared services.
/// Cheap to clone (two `Arc`s), so the session can hold one while it
/// changes itself.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub live: Arc<Inner>,
    pub live_stream_id: Arc<str>,
    /// The channel's slug (metrics label).
    pub channel: Arc<str>,
}

fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) struct Rendition {
    pub name: String,
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
    /// first. Parts of segments older than [`PART_SEGMENTS_CACHED`] leave
    /// the cache: no playlist lists them any more.
    cached_parts: VecDeque<(u64, u32)>,
}

/// Completed segments whose LL-HLS parts stay in the hot cache. Playlists
/// list the parts of the last three target durations; one more is slack
/// for a player that read the playlist just before a segment completed.
const PART_SEGMENTS_CACHED: u64 = 4;

impl Rendition {
    pub fn new(name: &str, info: MediaInfo, config: SegmenterConfig, interleave: bool) -> Self {
        Rendition {
            name: name.to_string(),
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
            cached_parts: VecDeque::new(),
            expired: 0,
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
    pub async fn set_video(&mut self, ctx: &Ctx, config: H264Config) -> Changes {
        let changes = self.restart(ctx).await;
        self.info.video = Some(config);
        changes
    }

    pub async fn set_audio(&mut self, ctx: &Ctx, config: av::AacConfig) -> Changes {
        let changes = self.restart(ctx).await;
        self.info.audio = Some(config);
        changes
    }

    async fn restart(&mut self, ctx: &Ctx) -> Changes {
        let mut changes = Changes::default();
        if let Some(mut s) = self.segmenter.take() {
            s.finish();
            changes |= self.drain(ctx, &mut s).await;
            self.pending_discontinuity = true;
        }
        changes
    }

    /// Feeds one access unit. For transcoded renditions, audio waits until
    /// video has caught up with it.
    pub async fn push(&mut self, ctx: &Ctx, unit: AccessUnit) -> Changes {
        if self.stopped {
            return Changes::default();
        }
        if !self.interleave {
            return self.push_now(ctx, unit).await;
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
                while self
                    .pending_audio
                    .front()
                    .is_some_and(|a| a.dts <= unit.dts)
                {
                    if let Some(a) = self.pending_audio.pop_front() {
                        changes |= self.push_now(ctx, a).await;
                    }
                }
                changes |= self.push_now(ctx, unit).await;
                changes
            }
        }
    }

    async fn push_now(&mut self, ctx: &Ctx, unit: AccessUnit) -> Changes {
        if self.segment_started_ms.is_none() {
            self.segment_started_ms = Some(now_unix_ms());
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
        let changes = self.drain(ctx, &mut segmenter).await;
        self.segmenter = Some(segmenter);
        changes
    }

    async fn drain(&mut self, ctx: &Ctx, segmenter: &mut Segmenter) -> Changes {
        let mut changes = Changes::default();
        while let Some(output) = segmenter.pull() {
            match output {
                Output::Init(data) => self.store_init(ctx, data).await,
                Output::Part(part) => changes.part |= self.list_part(ctx, part),
                Output::Segment(seg) => {
                    let (stored, seg) = self.store_segment(ctx, seg).await;
                    changes.segment = true;
                    changes.stored |= stored;
                    // Its buffer (MPEG-TS) becomes the next segment's, if
                    // nothing else holds it: no allocation, no growth by
                    // copying, no fresh pages per segment.
                    segmenter.recycle(seg);
                }
            }
        }
        changes
    }

    /// Drops from the hot cache the parts of segments more than
    /// [`PART_SEGMENTS_CACHED`] before `sequence` (just completed).
    fn evict_parts(&mut self, ctx: &Ctx, sequence: u64) {
        while let Some(&(seq, count)) = self.cached_parts.front() {
            if seq + PART_SEGMENTS_CACHED > sequence {
                break;
            }
            self.cached_parts.pop_front();
            for index in 0..count {
                let key = self.key(ctx, &format!("{seq}.{index}.m4s"));
                ctx.live.media.cache().remove(&key);
            }
        }
    }

    fn lane(&self, ctx: &Ctx) -> String {
        lane(&ctx.live_stream_id, &self.name)
    }

    fn key(&self, ctx: &Ctx, file_name: &str) -> String {
        keys::segment(&ctx.live_stream_id, &self.name, file_name)
    }

    async fn store_init(&mut self, ctx: &Ctx, data: Bytes) {
        self.init_generation += 1;
        let name = if self.init_generation == 1 {
            "init.mp4".to_string()
        } else {
            format!("init-{}.mp4", self.init_generation)
        };
        let key = self.key(ctx, &name);
        ctx.live.media.cache().insert(key.clone(), data.clone());
        if let Err(e) = ctx.live.media.put(&self.lane(ctx), &key, vec![data]).await {
            // The hot cache still serves live viewers; the recording will
            // miss it, which the log says.
            error!(rendition = %self.name, error = %e, key, "could not store the initialization segment");
        }
        self.map_uri = Some(name);
    }

    /// Lists an LL-HLS part. Parts live only in the hot cache; the whole
    /// segment they make up is stored when it completes.
    fn list_part(&mut self, ctx: &Ctx, part: Part) -> bool {
        let sequence = part.segment_sequence;
        let file_name = format!("{sequence}.{}.m4s", part.index);
        ctx.live
            .media
            .cache()
            .insert(self.key(ctx, &file_name), part.to_bytes());
        match self.cached_parts.back_mut() {
            Some((seq, count)) if *seq == sequence => *count = (*count).max(part.index + 1),
            _ => self.cached_parts.push_back((sequence, part.index + 1)),
        }
        if part.index == 0 {
            let head = SegmentHead {
                discontinuity: self.pending_discontinuity,
                program_date_time_ms: self.segment_started_ms,
                map_uri: self.map_uri.clone(),
            };
            if let Err(e) = self.playlist.begin_segment(sequence, head) {
                error!(rendition = %self.name, error = %e, sequence, "cannot begin segment in the playlist");
                return false;
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
            error!(rendition = %self.name, error = %e, sequence, index = part.index, "cannot list part");
            return false;
        }
        true
    }

    /// Stores a segment, indexes it, then lists it; a segment the store
    /// refuses after every attempt is listed with EXT-X-GAP, so players skip
    /// it and sequence numbers stay consecutive. Returns whether it was
    /// stored, and the segment (for [`Segmenter::recycle`]).
    async fn store_segment(&mut self, ctx: &Ctx, seg: Segment) -> (bool, Segment) {
        let live = &ctx.live;
        let sequence = seg.sequence;
        self.next_sequence = sequence + 1;
        let program_date_time_ms = self.segment_started_ms.replace(now_unix_ms());
        // A one-frame last segment may have no measurable duration; a
        // playlist entry needs a positive one.
        let duration = Time90k(seg.duration.0.max(Time90k::from_millis(1).0));
        let file_name = keys::segment_file_name(sequence, seg.format.extension());
        let key = self.key(ctx, &file_name);
        let size_bytes = seg.size_bytes();
        // Durable when `put` returns (local disk, or the upload spool of a
        // remote store). With a remote store the hot cache serves live
        // viewers, so the bucket sees one write per segment and no reads.
        // On local disk the kernel's page cache already is that cache: a
        // second copy in our memory would cost a live window of media per
        // stream (~4 MB at 2.6 Mbit/s) for nothing.
        if live.media.is_remote() {
            live.media.cache().insert(key.clone(), seg.to_bytes());
        }
        self.evict_parts(ctx, sequence);
        let gap = match live
            .media
            .put(&self.lane(ctx), &key, seg.data.clone())
            .await
        {
            Ok(()) => false,
            Err(e) => {
                error!(rendition = %self.name, error = %e, sequence, "segment lost: could not store it; listing it as a gap");
                self.gaps += 1;
                true
            }
        };
        let discontinuity = std::mem::take(&mut self.pending_discontinuity);
        let record = NewSegment {
            live_stream_id: ctx.live_stream_id.to_string(),
            rendition: self.name.clone(),
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
            error!(rendition = %self.name, error = %e, sequence, "could not index segment");
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
            error!(rendition = %self.name, error = %e, sequence, "cannot list segment");
            return (false, seg);
        }
        if !gap {
            self.bandwidth.record(size_bytes, duration);
            crate::metrics::segment(&ctx.channel, &self.name);
        }
        (!gap, seg)
    }

    /// End of the rendition's media: pending audio, the open segment, then
    /// the playlist ends (EXT-X-ENDLIST).
    pub async fn finish(&mut self, ctx: &Ctx) -> Changes {
        let mut changes = Changes::default();
        while let Some(a) = self.pending_audio.pop_front() {
            if self.segmenter.is_some() {
                changes |= self.push_now(ctx, a).await;
            }
        }
        if let Some(mut s) = self.segmenter.take() {
            s.finish();
            changes |= self.drain(ctx, &mut s).await;
        }
        self.playlist.end();
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
