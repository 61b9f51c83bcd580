//! Media playlists (RFC 8216bis §4.4.3, §4.4.4, §6.2.2).
//!
//! [`MediaPlaylist`] is plain state: the segments a rendition has stored, in
//! sequence order, and the LL-HLS partial segments of the newest ones. It
//! renders a live playlist (sliding window: the last N segments,
//! `EXT-X-MEDIA-SEQUENCE` of the first one, `EXT-X-ENDLIST` once the stream
//! ended), a VOD playlist (every segment, `EXT-X-PLAYLIST-TYPE:VOD`,
//! `EXT-X-ENDLIST`), both with `m3u8-rs`, and a low-latency playlist
//! (module `low_latency`, hand-rendered: `m3u8-rs` has no LL-HLS tags).
//!
//! - `EXTINF` durations are written with millisecond precision (§4.4.4.1).
//! - `EXT-X-TARGETDURATION` (§4.4.3.1) is the larger of the configured target
//!   and every `EXTINF` rounded to the nearest second, and never decreases:
//!   §6.2.1 forbids changing it, and a segment longer than planned (a late
//!   keyframe) can only raise it.
//! - `EXT-X-DISCONTINUITY` (§4.4.4.3) marks segments after a timestamp or
//!   encoding change (a publisher reconnecting); once such segments slide out
//!   of the window, `EXT-X-DISCONTINUITY-SEQUENCE` (§4.4.3.3) counts them.
//! - `EXT-X-MAP` (§4.4.4.5) is written before the first listed segment and
//!   wherever the initialization segment changes; it needs
//!   `EXT-X-VERSION:6` (§7), else 3 suffices.
//! - `EXT-X-PROGRAM-DATE-TIME` (§4.4.4.6) is written on every segment that
//!   has one; the caller supplies the wall-clock time (no clock here).
//! - `EXT-X-GAP` (§4.4.4.7) marks a segment that could not be stored: it
//!   keeps its sequence number so the numbering never shifts.
//!
//! Parts (§4.4.4.9) are kept for the segments within [`PART_WINDOW_TDS`]
//! target durations of the end of the playlist and for the segment in
//! progress; older ones are dropped, as §6.2.2 allows, which also bounds the
//! memory of a long recording.
//!
//! m3u8-rs omits `EXT-X-MEDIA-SEQUENCE` and `EXT-X-DISCONTINUITY-SEQUENCE`
//! when they are 0, which §4.4.3.2/§4.4.3.3 define as their default.

use av::Time90k;
use m3u8_rs::{ExtTag, Map, MediaPlaylistType, MediaSegment};

use super::{VERSION, VERSION_MAP, render, sanitize};
use crate::{Error, Result};

/// Parts are listed for the segments that end within this many target
/// durations of the end of the playlist (RFC 8216bis §6.2.2: a server MAY
/// remove older ones; Apple's examples keep about three).
pub const PART_WINDOW_TDS: i64 = 3;

/// One stored segment, as the playlist lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentEntry {
    /// Media sequence number; consecutive within a playlist.
    pub sequence: u64,
    /// The segment's duration (`EXTINF`), 90 kHz ticks.
    pub duration: Time90k,
    /// URI relative to the playlist, e.g. `42.ts` or `42.m4s`.
    pub uri: String,
    /// Precede the segment with `EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
    /// The segment could not be stored: list it with `EXT-X-GAP` (clients
    /// skip it) instead of renumbering the ones after it.
    pub gap: bool,
    /// Wall-clock time of the segment's first frame, Unix milliseconds
    /// (`EXT-X-PROGRAM-DATE-TIME`).
    pub program_date_time_ms: Option<i64>,
    /// URI of the initialization segment (`EXT-X-MAP`), e.g. `init.mp4`;
    /// `None` for MPEG-TS.
    pub map_uri: Option<String>,
}

/// One stored partial segment (`EXT-X-PART`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartEntry {
    /// Index within its segment, from 0, consecutive.
    pub index: u32,
    /// 90 kHz ticks.
    pub duration: Time90k,
    /// Starts with a keyframe (`INDEPENDENT=YES`).
    pub independent: bool,
    /// URI relative to the playlist, e.g. `42.3.m4s`.
    pub uri: String,
    /// The part could not be stored (`GAP=YES`).
    pub gap: bool,
}

/// Segment-level tags of the segment in progress, for the low-latency
/// playlist to write before its first parts: see
/// [`MediaPlaylist::begin_segment`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentHead {
    /// As [`SegmentEntry::discontinuity`].
    pub discontinuity: bool,
    /// As [`SegmentEntry::program_date_time_ms`].
    pub program_date_time_ms: Option<i64>,
    /// As [`SegmentEntry::map_uri`].
    pub map_uri: Option<String>,
}

#[derive(Clone, Debug)]
pub(super) struct Listed {
    pub(super) entry: SegmentEntry,
    /// `EXT-X-DISCONTINUITY` tags on the segments before this one.
    pub(super) discontinuities_before: u64,
    /// Sum of the durations of all segments up to and including this one.
    pub(super) end: Time90k,
    /// Its parts, while it is within the part window.
    pub(super) parts: Vec<PartEntry>,
}

/// The segment in progress: parts listed before the segment is.
#[derive(Clone, Debug)]
pub(super) struct Pending {
    pub(super) sequence: u64,
    pub(super) head: SegmentHead,
    pub(super) parts: Vec<PartEntry>,
}

/// The segments of one rendition and the playlists over them.
#[derive(Clone, Debug)]
pub struct MediaPlaylist {
    pub(super) target_duration_secs: u64,
    pub(super) segments: Vec<Listed>,
    pub(super) discontinuities: u64,
    pub(super) ended: bool,
    pub(super) pending: Option<Pending>,
    /// Longest part ever pushed.
    pub(super) max_part_duration: Time90k,
    /// Index of the oldest segment that may still hold parts.
    parts_from: usize,
}

/// Milliseconds, rounded to nearest; negative durations count as 0.
pub(super) fn millis(d: Time90k) -> u64 {
    u64::try_from(d.0.saturating_add(45).div_euclid(90)).unwrap_or(0)
}

/// Whole seconds, rounded to nearest (half up), as `EXT-X-TARGETDURATION`
/// compares them.
fn rounded_secs(d: Time90k) -> u64 {
    (millis(d) + 500) / 1000
}

/// `EXT-X-PROGRAM-DATE-TIME` value: ISO 8601 UTC with milliseconds.
pub(super) fn date_time(unix_ms: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp_millis(unix_ms)
}

impl MediaPlaylist {
    /// An empty playlist whose segments are planned to last `target_duration`
    /// (the segmenter's target).
    pub fn new(target_duration: Time90k) -> Self {
        MediaPlaylist {
            target_duration_secs: rounded_secs(target_duration).max(1),
            segments: Vec::new(),
            discontinuities: 0,
            ended: false,
            pending: None,
            max_part_duration: Time90k::ZERO,
            parts_from: 0,
        }
    }

    /// The sequence number the next listed segment must have, if known.
    fn expected_sequence(&self) -> Option<u64> {
        match (&self.segments.last(), &self.pending) {
            (Some(last), _) => Some(last.entry.sequence.wrapping_add(1)),
            (None, Some(p)) => Some(p.sequence),
            (None, None) => None,
        }
    }

    /// Lists a segment. Call it only once the segment is durably stored (or,
    /// with `gap`, once storing it failed): players fetch what the playlist
    /// lists. The first entry may have any sequence number, later ones must
    /// follow on. Parts pushed for this sequence number become its parts.
    pub fn push(&mut self, entry: SegmentEntry) -> Result<()> {
        if self.ended {
            return Err(Error::PlaylistEnded {
                sequence: entry.sequence,
            });
        }
        if let Some(expected) = self.expected_sequence()
            && entry.sequence != expected
        {
            return Err(Error::SequenceGap {
                expected,
                got: entry.sequence,
            });
        }
        self.target_duration_secs = self.target_duration_secs.max(rounded_secs(entry.duration));
        let discontinuities_before = self.discontinuities;
        if entry.discontinuity {
            self.discontinuities += 1;
        }
        let parts = self.pending.take().map(|p| p.parts).unwrap_or_default();
        let end = Time90k(
            self.total_duration()
                .0
                .saturating_add(entry.duration.0.max(0)),
        );
        self.segments.push(Listed {
            entry,
            discontinuities_before,
            end,
            parts,
        });
        self.prune_parts();
        Ok(())
    }

    /// Drops the parts of segments that left the part window.
    fn prune_parts(&mut self) {
        let end = self.total_duration();
        let window = self.part_window();
        while let Some(listed) = self.segments.get_mut(self.parts_from) {
            if end - listed.end < window {
                break;
            }
            listed.parts = Vec::new();
            self.parts_from += 1;
        }
    }

    /// [`PART_WINDOW_TDS`] target durations.
    pub(super) fn part_window(&self) -> Time90k {
        let secs = i64::try_from(self.target_duration_secs).unwrap_or(i64::MAX / Time90k::HZ);
        Time90k(
            PART_WINDOW_TDS
                .saturating_mul(secs)
                .saturating_mul(Time90k::HZ),
        )
    }

    /// Announces the segment in progress before its first part, with the
    /// tags the low-latency playlist writes before its parts: call it when
    /// the segment starts a discontinuity or a new initialization segment
    /// (without it the parts follow on from the last segment's `EXT-X-MAP`).
    /// The [`SegmentEntry`] pushed later is authoritative for the complete
    /// segment.
    pub fn begin_segment(&mut self, sequence: u64, head: SegmentHead) -> Result<()> {
        self.check_part(sequence, 0)?;
        self.pending = Some(Pending {
            sequence,
            head,
            parts: Vec::new(),
        });
        Ok(())
    }

    /// The `(sequence, index)` the next part must have, if known.
    fn expected_part(&self) -> Option<(u64, u32)> {
        match &self.pending {
            Some(p) => Some((p.sequence, p.parts.last().map_or(0, |l| l.index + 1))),
            None => self.expected_sequence().map(|s| (s, 0)),
        }
    }

    fn check_part(&self, sequence: u64, index: u32) -> Result<()> {
        if self.ended {
            return Err(Error::PlaylistEnded { sequence });
        }
        match self.expected_part() {
            Some((s, i)) if (s, i) != (sequence, index) => Err(Error::PartOutOfOrder {
                expected_sequence: s,
                expected_index: i,
                got_sequence: sequence,
                got_index: index,
            }),
            None if index != 0 => Err(Error::PartOutOfOrder {
                expected_sequence: sequence,
                expected_index: 0,
                got_sequence: sequence,
                got_index: index,
            }),
            _ => Ok(()),
        }
    }

    /// Lists a partial segment of the segment in progress, `segment_sequence`
    /// (the one after the last listed segment). Parts are numbered from 0 per
    /// segment without gaps; call it once the part is stored.
    pub fn push_part(&mut self, segment_sequence: u64, part: PartEntry) -> Result<()> {
        self.check_part(segment_sequence, part.index)?;
        self.max_part_duration = self.max_part_duration.max(part.duration);
        self.pending
            .get_or_insert_with(|| Pending {
                sequence: segment_sequence,
                head: SegmentHead::default(),
                parts: Vec::new(),
            })
            .parts
            .push(part);
        Ok(())
    }

    /// `(sequence, index)` of the last part listed, in progress or of a
    /// complete segment; what a blocking playlist reload waits for
    /// (RFC 8216bis §6.2.5.2). `None` before any part.
    pub fn last_part(&self) -> Option<(u64, u32)> {
        if let Some(p) = &self.pending
            && let Some(last) = p.parts.last()
        {
            return Some((p.sequence, last.index));
        }
        let last = self.segments.last()?;
        last.parts.last().map(|p| (last.entry.sequence, p.index))
    }

    /// `(sequence, index)` of the part that comes next, for
    /// `EXT-X-PRELOAD-HINT`; `None` once ended or before the first segment
    /// or part (the first sequence number is not known yet).
    pub fn next_part(&self) -> Option<(u64, u32)> {
        if self.ended {
            return None;
        }
        self.expected_part()
    }

    /// Whether a blocking playlist reload for `_HLS_msn=sequence` (and
    /// `_HLS_part=part`) can be answered (RFC 8216bis §6.2.5.2): segment
    /// `sequence` is listed, or part `part` of it is. Always true once the
    /// playlist ended.
    pub fn reached(&self, sequence: u64, part: Option<u32>) -> bool {
        if self.ended
            || self
                .segments
                .last()
                .is_some_and(|l| l.entry.sequence >= sequence)
        {
            return true;
        }
        match (&self.pending, part) {
            (Some(p), Some(part)) => {
                p.sequence > sequence
                    || (p.sequence == sequence && p.parts.last().is_some_and(|l| l.index >= part))
            }
            _ => false,
        }
    }

    /// The stream ended: live playlists get `EXT-X-ENDLIST`, no more pushes.
    /// Parts of a segment that was never listed are dropped.
    pub fn end(&mut self) {
        self.ended = true;
        self.pending = None;
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Continues an ended playlist (a rendition that starts again, such as
    /// a transcoded rendition after its ladder restarted). The next segment
    /// should be marked as a discontinuity.
    pub fn reopen(&mut self) {
        self.ended = false;
    }

    /// `EXT-X-TARGETDURATION`, seconds.
    pub fn target_duration_secs(&self) -> u64 {
        self.target_duration_secs
    }

    /// Every listed segment, oldest first.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &SegmentEntry> {
        self.segments.iter().map(|l| &l.entry)
    }

    /// Sum of all segment durations.
    pub fn total_duration(&self) -> Time90k {
        self.segments.last().map_or(Time90k::ZERO, |l| l.end)
    }

    /// The live playlist: the last `window_segments` segments (at least one).
    pub fn render_live(&self, window_segments: usize) -> String {
        let start = self.segments.len().saturating_sub(window_segments.max(1));
        self.render_from(start, None, self.ended)
    }

    /// The VOD playlist: every segment, `EXT-X-PLAYLIST-TYPE:VOD`, ended.
    pub fn render_vod(&self) -> String {
        self.render_from(0, Some(MediaPlaylistType::Vod), true)
    }

    fn render_from(
        &self,
        start: usize,
        playlist_type: Option<MediaPlaylistType>,
        end_list: bool,
    ) -> String {
        let listed = &self.segments[start..];
        let (media_sequence, discontinuity_sequence) = listed
            .first()
            .map_or((0, 0), |l| (l.entry.sequence, l.discontinuities_before));
        let mut previous_map: Option<&str> = None;
        let segments = listed
            .iter()
            .map(|l| {
                let e = &l.entry;
                let map = e.map_uri.as_deref().filter(|m| previous_map != Some(*m));
                if e.map_uri.is_some() {
                    previous_map = e.map_uri.as_deref();
                }
                MediaSegment {
                    uri: sanitize(&e.uri),
                    // f32 holds milliseconds exactly enough up to ~2 hours
                    // per segment; m3u8-rs prints 3 decimals (see `render`).
                    duration: millis(e.duration) as f32 / 1000.0,
                    discontinuity: e.discontinuity,
                    map: map.map(|uri| Map {
                        uri: sanitize(uri),
                        ..Map::default()
                    }),
                    program_date_time: e
                        .program_date_time_ms
                        .and_then(date_time)
                        .map(|t| t.fixed_offset()),
                    unknown_tags: if e.gap {
                        vec![ExtTag {
                            tag: "X-GAP".into(),
                            rest: None,
                        }]
                    } else {
                        Vec::new()
                    },
                    ..MediaSegment::default()
                }
            })
            .collect::<Vec<_>>();
        let version = if listed.iter().any(|l| l.entry.map_uri.is_some()) {
            VERSION_MAP
        } else {
            VERSION
        };
        let playlist = m3u8_rs::MediaPlaylist {
            version: Some(version),
            target_duration: self.target_duration_secs,
            media_sequence,
            discontinuity_sequence,
            end_list,
            playlist_type,
            segments,
            ..m3u8_rs::MediaPlaylist::default()
        };
        render(|w| playlist.write_to(w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn entry(sequence: u64, duration_ms: i64, discontinuity: bool) -> SegmentEntry {
        SegmentEntry {
            sequence,
            duration: Time90k::from_millis(duration_ms),
            uri: format!("{sequence}.ts"),
            discontinuity,
            ..SegmentEntry::default()
        }
    }

    fn playlist(entries: &[SegmentEntry]) -> MediaPlaylist {
        let mut p = MediaPlaylist::new(Time90k::from_millis(2000));
        for e in entries {
            p.push(e.clone()).unwrap();
        }
        p
    }

    #[test]
    fn live_window() {
        let mut p = playlist(&[
            entry(5, 2000, false),
            entry(6, 2002, false),
            entry(7, 1968, false),
            entry(8, 2033, false),
        ]);
        assert_eq!(
            p.render_live(3),
            r#"#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:6
#EXTINF:2.002,
6.ts
#EXTINF:1.968,
7.ts
#EXTINF:2.033,
8.ts
"#
        );
        p.end();
        assert!(p.render_live(3).ends_with("8.ts\n#EXT-X-ENDLIST\n"));
        assert_eq!(
            p.push(entry(9, 2000, false)),
            Err(Error::PlaylistEnded { sequence: 9 })
        );
    }

    #[test]
    fn vod_lists_everything() {
        let p = playlist(&[entry(0, 2000, false), entry(1, 1500, false)]);
        assert_eq!(
            p.render_vod(),
            r#"#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:VOD
#EXTINF:2.000,
0.ts
#EXTINF:1.500,
1.ts
#EXT-X-ENDLIST
"#
        );
        assert_eq!(p.total_duration(), Time90k::from_millis(3500));
    }

    fn fmp4_entry(sequence: u64, duration_ms: i64) -> SegmentEntry {
        SegmentEntry {
            uri: format!("{sequence}.m4s"),
            map_uri: Some("init.mp4".into()),
            program_date_time_ms: Some(1_714_564_800_000 + sequence as i64 * 2000),
            ..entry(sequence, duration_ms, false)
        }
    }

    #[test]
    fn fmp4_vod_with_map_gap_and_date_time() {
        let mut p = MediaPlaylist::new(Time90k::from_millis(2000));
        p.push(fmp4_entry(0, 2000)).unwrap();
        p.push(SegmentEntry {
            gap: true,
            ..fmp4_entry(1, 2000)
        })
        .unwrap();
        // A reconnect: new initialization segment after a discontinuity.
        p.push(SegmentEntry {
            discontinuity: true,
            map_uri: Some("init-1.mp4".into()),
            ..fmp4_entry(2, 1500)
        })
        .unwrap();
        p.push(SegmentEntry {
            map_uri: Some("init-1.mp4".into()),
            ..fmp4_entry(3, 2000)
        })
        .unwrap();
        assert_eq!(
            p.render_vod(),
            r#"#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z
#EXTINF:2.000,
0.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:02.000Z
#EXT-X-GAP
#EXTINF:2.000,
1.m4s
#EXT-X-MAP:URI="init-1.mp4"
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:04.000Z
#EXTINF:1.500,
2.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:06.000Z
#EXTINF:2.000,
3.m4s
#EXT-X-ENDLIST
"#
        );
        // A live window starting after the change repeats the map in force.
        assert!(
            p.render_live(1)
                .contains("#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXT-X-PROGRAM-DATE-TIME")
        );
    }

    #[test]
    fn target_duration_rounds_and_never_decreases() {
        let mut p = playlist(&[entry(0, 2499, false)]);
        assert_eq!(p.target_duration_secs(), 2);
        p.push(entry(1, 2500, false)).unwrap();
        assert_eq!(p.target_duration_secs(), 3);
        for s in 2..10 {
            p.push(entry(s, 1000, false)).unwrap();
        }
        // The long segment left the window; the target stays.
        assert!(p.render_live(3).contains("#EXT-X-TARGETDURATION:3\n"));
        assert_eq!(
            MediaPlaylist::new(Time90k::from_millis(200)).target_duration_secs(),
            1
        );
        assert_eq!(
            MediaPlaylist::new(Time90k::from_millis(6000)).target_duration_secs(),
            6
        );
    }

    #[test]
    fn discontinuities_slide_out_of_the_window() {
        let p = playlist(&[
            entry(10, 2000, false),
            entry(11, 2000, true),
            entry(12, 2000, false),
            entry(13, 2000, true),
            entry(14, 2000, false),
        ]);
        assert_eq!(
            p.render_live(3),
            r#"#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:12
#EXT-X-DISCONTINUITY-SEQUENCE:1
#EXTINF:2.000,
12.ts
#EXT-X-DISCONTINUITY
#EXTINF:2.000,
13.ts
#EXTINF:2.000,
14.ts
"#
        );
        // The window starts at the discontinuous segment: its tag stays, and
        // the sequence counts only the tags before it.
        assert_eq!(
            p.render_live(2),
            r#"#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:13
#EXT-X-DISCONTINUITY-SEQUENCE:1
#EXT-X-DISCONTINUITY
#EXTINF:2.000,
13.ts
#EXTINF:2.000,
14.ts
"#
        );
        // VOD lists every tag and needs no sequence.
        let vod = p.render_vod();
        assert!(!vod.contains("DISCONTINUITY-SEQUENCE"));
        assert_eq!(vod.matches("#EXT-X-DISCONTINUITY\n").count(), 2);
    }

    #[test]
    fn rejects_gaps_and_renders_empty() {
        let mut p = playlist(&[entry(3, 2000, false)]);
        assert_eq!(
            p.push(entry(5, 2000, false)),
            Err(Error::SequenceGap {
                expected: 4,
                got: 5
            })
        );
        assert_eq!(p.segments().len(), 1);
        let empty = MediaPlaylist::new(Time90k::from_millis(2000));
        assert_eq!(
            empty.render_live(5),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
        );
    }

    fn part(index: u32, duration_ms: i64, sequence: u64) -> PartEntry {
        PartEntry {
            index,
            duration: Time90k::from_millis(duration_ms),
            independent: index == 0,
            uri: format!("{sequence}.{index}.m4s"),
            gap: false,
        }
    }

    #[test]
    fn parts_in_order_and_blocking_reload() {
        let mut p = MediaPlaylist::new(Time90k::from_millis(2000));
        assert_eq!((p.last_part(), p.next_part()), (None, None));
        assert!(!p.reached(5, Some(0)));
        // Parts before the first segment fix the sequence.
        p.push_part(5, part(0, 500, 5)).unwrap();
        assert_eq!(
            p.push_part(5, part(2, 500, 5)),
            Err(Error::PartOutOfOrder {
                expected_sequence: 5,
                expected_index: 1,
                got_sequence: 5,
                got_index: 2
            })
        );
        assert!(p.reached(5, Some(0)) && !p.reached(5, Some(1)) && !p.reached(5, None));
        p.push_part(5, part(1, 500, 5)).unwrap();
        assert_eq!((p.last_part(), p.next_part()), (Some((5, 1)), Some((5, 2))));
        assert_eq!(
            p.push(entry(6, 2000, false)),
            Err(Error::SequenceGap {
                expected: 5,
                got: 6
            })
        );
        p.push(entry(5, 1000, false)).unwrap();
        assert!(p.reached(5, None) && p.reached(5, Some(7)) && !p.reached(6, Some(0)));
        assert_eq!((p.last_part(), p.next_part()), (Some((5, 1)), Some((6, 0))));
        assert!(matches!(
            p.push_part(7, part(0, 500, 7)),
            Err(Error::PartOutOfOrder { .. })
        ));
        p.push_part(6, part(0, 500, 6)).unwrap();
        assert!(p.reached(6, Some(0)));
        p.end();
        assert_eq!((p.last_part(), p.next_part()), (Some((5, 1)), None));
        assert!(p.reached(100, Some(0)));
        assert_eq!(
            p.push_part(6, part(1, 500, 6)),
            Err(Error::PlaylistEnded { sequence: 6 })
        );
    }

    #[test]
    fn old_parts_are_dropped() {
        let mut p = MediaPlaylist::new(Time90k::from_millis(2000));
        for s in 0..10u64 {
            for i in 0..4 {
                p.push_part(s, part(i, 500, s)).unwrap();
            }
            p.push(entry(s, 2000, false)).unwrap();
        }
        // 3 target durations (6 s): segments ending within 6 s of the end.
        let with_parts: Vec<_> = p
            .segments
            .iter()
            .filter(|l| !l.parts.is_empty())
            .map(|l| l.entry.sequence)
            .collect();
        assert_eq!(with_parts, [7, 8, 9]);
        assert_eq!(p.parts_from, 7);
    }

    #[test]
    fn reparses_with_m3u8_rs() {
        let p = playlist(&[
            entry(1, 2000, false),
            entry(2, 1234, true),
            SegmentEntry {
                gap: true,
                ..fmp4_entry(3, 2000)
            },
        ]);
        let text = p.render_live(5);
        let Ok(m3u8_rs::Playlist::MediaPlaylist(parsed)) =
            m3u8_rs::parse_playlist_res(text.as_bytes())
        else {
            panic!("{text}");
        };
        assert_eq!(parsed.media_sequence, 1);
        assert_eq!(parsed.segments.len(), 3);
        assert!((parsed.segments[1].duration - 1.234).abs() < 1e-6);
        assert!(parsed.segments[1].discontinuity);
        let third = &parsed.segments[2];
        assert_eq!(third.map.as_ref().map(|m| m.uri.as_str()), Some("init.mp4"));
        assert_eq!(
            third.program_date_time.map(|t| t.timestamp_millis()),
            Some(1_714_564_806_000)
        );
        assert_eq!(third.unknown_tags[0].tag, "X-GAP");
    }
}
