//! Media playlists (RFC 8216bis §4.4.3, §6.2.2).
//!
//! [`MediaPlaylist`] is plain state: the segments a rendition has stored, in
//! sequence order. It renders a live playlist (sliding window: the last N
//! segments, `EXT-X-MEDIA-SEQUENCE` of the first one, `EXT-X-ENDLIST` once the
//! stream ended) or a VOD playlist (every segment, `EXT-X-PLAYLIST-TYPE:VOD`,
//! `EXT-X-ENDLIST`).
//!
//! - `EXTINF` durations are written with millisecond precision (§4.4.4.1).
//! - `EXT-X-TARGETDURATION` (§4.4.3.1) is the larger of the configured target
//!   and every `EXTINF` rounded to the nearest second, and never decreases:
//!   §6.2.1 forbids changing it, and a segment longer than planned (a late
//!   keyframe) can only raise it.
//! - `EXT-X-DISCONTINUITY` (§4.4.4.3) marks segments after a timestamp or
//!   encoding change (a publisher reconnecting); once such segments slide out
//!   of the window, `EXT-X-DISCONTINUITY-SEQUENCE` (§4.4.3.3) counts them.
//!
//! m3u8-rs omits `EXT-X-MEDIA-SEQUENCE` and `EXT-X-DISCONTINUITY-SEQUENCE`
//! when they are 0, which §4.4.3.2/§4.4.3.3 define as their default.

use av::Time90k;
use m3u8_rs::{MediaPlaylistType, MediaSegment};

use super::{VERSION, render, sanitize};
use crate::{Error, Result};

/// One stored segment, as the playlist lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentEntry {
    /// Media sequence number; consecutive within a playlist.
    pub sequence: u64,
    /// The segment's duration (`EXTINF`), 90 kHz ticks.
    pub duration: Time90k,
    /// URI relative to the playlist, e.g. `42.ts`.
    pub uri: String,
    /// Precede the segment with `EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
}

#[derive(Clone, Debug)]
struct Listed {
    entry: SegmentEntry,
    /// `EXT-X-DISCONTINUITY` tags on the segments before this one.
    discontinuities_before: u64,
}

/// The segments of one rendition and the playlists over them.
#[derive(Clone, Debug)]
pub struct MediaPlaylist {
    target_duration_secs: u64,
    segments: Vec<Listed>,
    discontinuities: u64,
    ended: bool,
}

/// Milliseconds, rounded to nearest; negative durations count as 0.
fn millis(d: Time90k) -> u64 {
    u64::try_from(d.0.saturating_add(45).div_euclid(90)).unwrap_or(0)
}

/// Whole seconds, rounded to nearest (half up), as `EXT-X-TARGETDURATION`
/// compares them.
fn rounded_secs(d: Time90k) -> u64 {
    (millis(d) + 500) / 1000
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
        }
    }

    /// Lists a segment. Call it only once the segment is durably stored:
    /// players fetch what the playlist lists. The first entry may have any
    /// sequence number, later ones must follow on.
    pub fn push(&mut self, entry: SegmentEntry) -> Result<()> {
        if self.ended {
            return Err(Error::PlaylistEnded {
                sequence: entry.sequence,
            });
        }
        if let Some(last) = self.segments.last() {
            let expected = last.entry.sequence.wrapping_add(1);
            if entry.sequence != expected {
                return Err(Error::SequenceGap {
                    expected,
                    got: entry.sequence,
                });
            }
        }
        self.target_duration_secs = self.target_duration_secs.max(rounded_secs(entry.duration));
        let discontinuities_before = self.discontinuities;
        if entry.discontinuity {
            self.discontinuities += 1;
        }
        self.segments.push(Listed {
            entry,
            discontinuities_before,
        });
        Ok(())
    }

    /// The stream ended: live playlists get `EXT-X-ENDLIST`, no more pushes.
    pub fn end(&mut self) {
        self.ended = true;
    }

    pub fn is_ended(&self) -> bool {
        self.ended
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
        self.segments.iter().fold(Time90k::ZERO, |acc, l| {
            Time90k(acc.0.saturating_add(l.entry.duration.0))
        })
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
        let playlist = m3u8_rs::MediaPlaylist {
            version: Some(VERSION),
            target_duration: self.target_duration_secs,
            media_sequence,
            discontinuity_sequence,
            end_list,
            playlist_type,
            segments: listed
                .iter()
                .map(|l| MediaSegment {
                    uri: sanitize(&l.entry.uri),
                    // f32 holds milliseconds exactly enough up to ~2 hours
                    // per segment; m3u8-rs prints 3 decimals (see `render`).
                    duration: millis(l.entry.duration) as f32 / 1000.0,
                    discontinuity: l.entry.discontinuity,
                    ..MediaSegment::default()
                })
                .collect(),
            ..m3u8_rs::MediaPlaylist::default()
        };
        render(|w| playlist.write_to(w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sequence: u64, duration_ms: i64, discontinuity: bool) -> SegmentEntry {
        SegmentEntry {
            sequence,
            duration: Time90k::from_millis(duration_ms),
            uri: format!("{sequence}.ts"),
            discontinuity,
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

    #[test]
    fn reparses_with_m3u8_rs() {
        let p = playlist(&[entry(1, 2000, false), entry(2, 1234, true)]);
        let text = p.render_live(5);
        let Ok(m3u8_rs::Playlist::MediaPlaylist(parsed)) =
            m3u8_rs::parse_playlist_res(text.as_bytes())
        else {
            panic!("{text}");
        };
        assert_eq!(parsed.media_sequence, 1);
        assert_eq!(parsed.segments.len(), 2);
        assert!((parsed.segments[1].duration - 1.234).abs() < 1e-6);
        assert!(parsed.segments[1].discontinuity);
    }
}
