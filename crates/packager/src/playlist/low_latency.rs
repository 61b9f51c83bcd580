//! The low-latency media playlist (Apple LL-HLS, RFC 8216bis): partial
//! segments and the server capabilities that make them useful. Rendered by
//! hand because `m3u8-rs` cannot express these tags (it writes no
//! playlist-level tags of its own and requires a URI line after every
//! segment's tags).
//!
//! Tags, in order:
//! - `EXT-X-VERSION:9` (`EXT-X-SKIP` needs it, §8), `EXT-X-TARGETDURATION`;
//! - `EXT-X-SERVER-CONTROL` (§4.4.3.8): `CAN-BLOCK-RELOAD=YES` (the caller
//!   answers `_HLS_msn`/`_HLS_part` requests, see
//!   [`MediaPlaylist::reached`]), `PART-HOLD-BACK` three part targets (§4.4.3.8
//!   requires at least two and recommends three), `CAN-SKIP-UNTIL` six target
//!   durations (the minimum §4.4.3.8 allows);
//! - `EXT-X-PART-INF:PART-TARGET` (§4.4.3.7): the configured part target, or
//!   the longest part listed so far if one ran longer (a frame rate that does
//!   not divide the target): every `EXT-X-PART` must be at most the target;
//! - `EXT-X-MEDIA-SEQUENCE`, `EXT-X-DISCONTINUITY-SEQUENCE` (when not 0), and
//!   for a delta update `EXT-X-SKIP:SKIPPED-SEGMENTS` (§4.4.5.2) in place of
//!   the segments that end at least `CAN-SKIP-UNTIL` before the end of the
//!   playlist, the sequence numbers staying those of the full playlist;
//! - per segment: `EXT-X-MAP`, `EXT-X-DISCONTINUITY`,
//!   `EXT-X-PROGRAM-DATE-TIME` (as the other renderings), then its
//!   `EXT-X-PART`s if it ends within [`super::PART_WINDOW_TDS`] target
//!   durations of the end of the playlist, `EXT-X-GAP`, `EXTINF` and URI;
//! - the parts of the segment in progress, then `EXT-X-PRELOAD-HINT` for the
//!   next part (§4.4.5.3), or `EXT-X-ENDLIST` once ended.
//!
//! Decimal values have millisecond precision.

use std::fmt::Write;

use av::Time90k;

use super::VERSION_LOW_LATENCY;
use super::media::{MediaPlaylist, PartEntry, date_time, millis};
use super::sanitize;

/// How to render a low-latency playlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LowLatencyOptions {
    /// Complete segments listed (at least one): the live window.
    pub window_segments: usize,
    /// The segmenter's part target (`EXT-X-PART-INF:PART-TARGET`, unless a
    /// longer part was listed).
    pub part_target: Time90k,
    /// Render a delta update (the client asked `_HLS_skip=YES`).
    pub skip: bool,
    /// URI of the next part for `EXT-X-PRELOAD-HINT`, usually built from
    /// [`MediaPlaylist::next_part`] (e.g. `{msn}.{part}.m4s`); `None` writes
    /// no hint.
    pub preload_hint_uri: Option<String>,
}

/// `ms` as decimal seconds with three decimals.
fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn write_part(out: &mut String, part: &PartEntry) {
    let _ = write!(
        out,
        "#EXT-X-PART:DURATION={},URI=\"{}\"",
        secs(millis(part.duration)),
        sanitize(&part.uri)
    );
    if part.independent {
        out.push_str(",INDEPENDENT=YES");
    }
    if part.gap {
        out.push_str(",GAP=YES");
    }
    out.push('\n');
}

fn write_date_time(out: &mut String, unix_ms: Option<i64>) {
    if let Some(t) = unix_ms.and_then(date_time) {
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
    }
}

impl MediaPlaylist {
    /// `EXT-X-PART-INF:PART-TARGET` in milliseconds for `part_target`: at
    /// least every part listed so far.
    pub fn part_target_ms(&self, part_target: Time90k) -> u64 {
        millis(part_target)
            .max(millis(self.max_part_duration))
            .max(1)
    }

    /// The low-latency playlist: the last `window_segments` segments with the
    /// parts of the newest ones, the parts of the segment in progress and a
    /// preload hint; a delta update with `skip`.
    pub fn render_low_latency(&self, options: &LowLatencyOptions) -> String {
        let td = self.target_duration_secs;
        let part_target_ms = self.part_target_ms(options.part_target);
        let skip_until_secs = td.saturating_mul(6);
        let mut out = String::with_capacity(2048);
        let _ = writeln!(out, "#EXTM3U");
        let _ = writeln!(out, "#EXT-X-VERSION:{VERSION_LOW_LATENCY}");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{td}");
        let _ = writeln!(
            out,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={},CAN-SKIP-UNTIL={}",
            secs(part_target_ms.saturating_mul(3)),
            secs(skip_until_secs.saturating_mul(1000))
        );
        let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={}", secs(part_target_ms));

        let start = self
            .segments
            .len()
            .saturating_sub(options.window_segments.max(1));
        let listed = &self.segments[start..];
        let pending_parts = self.pending.as_ref().map_or(&[][..], |p| &p.parts[..]);
        let pending_duration = pending_parts
            .iter()
            .fold(0i64, |acc, p| acc.saturating_add(p.duration.0.max(0)));
        let end = Time90k(self.total_duration().0.saturating_add(pending_duration));
        let skip_until = Time90k(
            i64::try_from(skip_until_secs)
                .unwrap_or(i64::MAX / Time90k::HZ)
                .saturating_mul(Time90k::HZ),
        );
        let skipped = if options.skip {
            listed
                .iter()
                .take_while(|l| end - l.end >= skip_until)
                .count()
        } else {
            0
        };
        if let Some(first) = listed.first() {
            let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", first.entry.sequence);
            if first.discontinuities_before > 0 {
                let _ = writeln!(
                    out,
                    "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                    first.discontinuities_before
                );
            }
        } else if let Some(p) = &self.pending {
            let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", p.sequence);
        }
        if skipped > 0 {
            let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }

        let window = self.part_window();
        let mut previous_map: Option<&str> = None;
        for l in &listed[skipped..] {
            let e = &l.entry;
            if let Some(map) = e.map_uri.as_deref()
                && previous_map != Some(map)
            {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", sanitize(map));
                previous_map = Some(map);
            }
            if e.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            write_date_time(&mut out, e.program_date_time_ms);
            if end - l.end < window {
                for part in &l.parts {
                    write_part(&mut out, part);
                }
            }
            if e.gap {
                out.push_str("#EXT-X-GAP\n");
            }
            let _ = writeln!(out, "#EXTINF:{},", secs(millis(e.duration)));
            let _ = writeln!(out, "{}", sanitize(&e.uri));
        }
        if let Some(p) = &self.pending {
            if let Some(map) = p.head.map_uri.as_deref()
                && previous_map != Some(map)
            {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", sanitize(map));
            }
            if p.head.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if !p.parts.is_empty() {
                write_date_time(&mut out, p.head.program_date_time_ms);
            }
            for part in &p.parts {
                write_part(&mut out, part);
            }
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        } else if let Some(uri) = &options.preload_hint_uri {
            let _ = writeln!(
                out,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
                sanitize(uri)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, SegmentEntry, SegmentHead};

    const T0_MS: i64 = 1_714_564_800_000;

    fn segment(sequence: u64, duration_ms: i64) -> SegmentEntry {
        SegmentEntry {
            sequence,
            duration: Time90k::from_millis(duration_ms),
            uri: format!("{sequence}.m4s"),
            map_uri: Some("init.mp4".into()),
            program_date_time_ms: Some(T0_MS + sequence as i64 * 2000),
            ..SegmentEntry::default()
        }
    }

    fn part(sequence: u64, index: u32, duration_ms: i64) -> PartEntry {
        PartEntry {
            index,
            duration: Time90k::from_millis(duration_ms),
            independent: index.is_multiple_of(2),
            uri: format!("{sequence}.{index}.m4s"),
            gap: false,
        }
    }

    /// Segments `first..last` of 2 s in four 500 ms parts, then `parts`
    /// parts of segment `last`.
    fn live(first: u64, last: u64, parts: u32) -> MediaPlaylist {
        let mut p = MediaPlaylist::new(Time90k::from_millis(2000));
        for s in first..last {
            for i in 0..4 {
                p.push_part(s, part(s, i, 500)).unwrap();
            }
            p.push(segment(s, 2000)).unwrap();
        }
        for i in 0..parts {
            p.push_part(last, part(last, i, 500)).unwrap();
        }
        p
    }

    fn options(p: &MediaPlaylist, skip: bool) -> LowLatencyOptions {
        LowLatencyOptions {
            window_segments: 10,
            part_target: Time90k::from_millis(500),
            skip,
            preload_hint_uri: p.next_part().map(|(s, i)| format!("{s}.{i}.m4s")),
        }
    }

    #[test]
    fn golden_low_latency() {
        let p = live(20, 24, 2);
        assert_eq!(
            p.render_low_latency(&options(&p, false)),
            r#"#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500,CAN-SKIP-UNTIL=12.000
#EXT-X-PART-INF:PART-TARGET=0.500
#EXT-X-MEDIA-SEQUENCE:20
#EXT-X-MAP:URI="init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:40.000Z
#EXTINF:2.000,
20.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:42.000Z
#EXT-X-PART:DURATION=0.500,URI="21.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="21.1.m4s"
#EXT-X-PART:DURATION=0.500,URI="21.2.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="21.3.m4s"
#EXTINF:2.000,
21.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:44.000Z
#EXT-X-PART:DURATION=0.500,URI="22.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="22.1.m4s"
#EXT-X-PART:DURATION=0.500,URI="22.2.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="22.3.m4s"
#EXTINF:2.000,
22.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:46.000Z
#EXT-X-PART:DURATION=0.500,URI="23.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="23.1.m4s"
#EXT-X-PART:DURATION=0.500,URI="23.2.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="23.3.m4s"
#EXTINF:2.000,
23.m4s
#EXT-X-PART:DURATION=0.500,URI="24.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="24.1.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="24.2.m4s"
"#
        );
    }

    #[test]
    fn golden_delta_update() {
        // 10 segments of 2 s and one part in progress: 20.5 s of playlist.
        // CAN-SKIP-UNTIL is 12 s, so the segments ending at or before 8.5 s
        // (30..=33) are skipped.
        let p = live(30, 40, 1);
        let text = p.render_low_latency(&options(&p, true));
        assert_eq!(
            text,
            r#"#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500,CAN-SKIP-UNTIL=12.000
#EXT-X-PART-INF:PART-TARGET=0.500
#EXT-X-MEDIA-SEQUENCE:30
#EXT-X-SKIP:SKIPPED-SEGMENTS=4
#EXT-X-MAP:URI="init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:01:08.000Z
#EXTINF:2.000,
34.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:01:10.000Z
#EXTINF:2.000,
35.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:01:12.000Z
#EXTINF:2.000,
36.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:01:14.000Z
#EXT-X-PART:DURATION=0.500,URI="37.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="37.1.m4s"
#EXT-X-PART:DURATION=0.500,URI="37.2.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="37.3.m4s"
#EXTINF:2.000,
37.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:01:16.000Z
#EXT-X-PART:DURATION=0.500,URI="38.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="38.1.m4s"
#EXT-X-PART:DURATION=0.500,URI="38.2.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="38.3.m4s"
#EXTINF:2.000,
38.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:01:18.000Z
#EXT-X-PART:DURATION=0.500,URI="39.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="39.1.m4s"
#EXT-X-PART:DURATION=0.500,URI="39.2.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="39.3.m4s"
#EXTINF:2.000,
39.m4s
#EXT-X-PART:DURATION=0.500,URI="40.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="40.1.m4s"
"#
        );
        // The full playlist lists the same segments from the same sequence.
        let full = p.render_low_latency(&options(&p, false));
        assert!(!full.contains("EXT-X-SKIP"));
        assert!(full.contains("#EXT-X-MEDIA-SEQUENCE:30\n"));
        assert_eq!(full.matches("#EXTINF").count(), 10);
        // Too short a window to skip anything: no EXT-X-SKIP at all.
        let short = live(30, 34, 0);
        assert!(
            !short
                .render_low_latency(&options(&short, true))
                .contains("SKIP:")
        );
    }

    #[test]
    fn golden_gap_discontinuity_and_end() {
        let mut p = MediaPlaylist::new(Time90k::from_millis(2000));
        p.push(segment(0, 2000)).unwrap();
        p.push_part(1, part(1, 0, 1000)).unwrap();
        p.push_part(
            1,
            PartEntry {
                gap: true,
                ..part(1, 1, 1000)
            },
        )
        .unwrap();
        // Storing segment 1 failed: listed as a gap, numbering kept.
        p.push(SegmentEntry {
            gap: true,
            ..segment(1, 2000)
        })
        .unwrap();
        // The publisher reconnects: the next segment starts a discontinuity
        // with a new initialization segment, announced before its parts.
        assert_eq!(
            p.begin_segment(3, SegmentHead::default()),
            Err(Error::PartOutOfOrder {
                expected_sequence: 2,
                expected_index: 0,
                got_sequence: 3,
                got_index: 0
            })
        );
        p.begin_segment(
            2,
            SegmentHead {
                discontinuity: true,
                program_date_time_ms: Some(T0_MS + 60_000),
                map_uri: Some("init-1.mp4".into()),
            },
        )
        .unwrap();
        p.push_part(2, part(2, 0, 1000)).unwrap();
        let text = p.render_low_latency(&LowLatencyOptions {
            window_segments: 3,
            part_target: Time90k::from_millis(1000),
            skip: false,
            preload_hint_uri: Some("2.1.m4s".into()),
        });
        assert_eq!(
            text,
            r#"#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3.000,CAN-SKIP-UNTIL=12.000
#EXT-X-PART-INF:PART-TARGET=1.000
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-MAP:URI="init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z
#EXTINF:2.000,
0.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:02.000Z
#EXT-X-PART:DURATION=1.000,URI="1.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=1.000,URI="1.1.m4s",GAP=YES
#EXT-X-GAP
#EXTINF:2.000,
1.m4s
#EXT-X-MAP:URI="init-1.mp4"
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:01:00.000Z
#EXT-X-PART:DURATION=1.000,URI="2.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="2.1.m4s"
"#
        );
        p.end();
        let ended = p.render_low_latency(&LowLatencyOptions {
            window_segments: 3,
            part_target: Time90k::from_millis(1000),
            skip: false,
            preload_hint_uri: None,
        });
        assert!(
            ended.ends_with("#EXTINF:2.000,\n1.m4s\n#EXT-X-ENDLIST\n"),
            "{ended}"
        );
    }

    #[test]
    fn part_target_covers_the_longest_part() {
        // 24 fps in 200 ms parts: five frames, 208 ms.
        let mut p = MediaPlaylist::new(Time90k::from_millis(2000));
        p.push_part(0, part(0, 0, 208)).unwrap();
        assert_eq!(p.part_target_ms(Time90k::from_millis(200)), 208);
        let text = p.render_low_latency(&options(&p, false));
        assert!(text.contains("PART-HOLD-BACK=1.500,"), "{text}");
        assert_eq!(p.part_target_ms(Time90k::from_millis(500)), 500);
        let text = p.render_low_latency(&LowLatencyOptions {
            part_target: Time90k::from_millis(200),
            ..options(&p, false)
        });
        assert!(text.contains("PART-HOLD-BACK=0.624,"), "{text}");
        assert!(
            text.contains("#EXT-X-PART-INF:PART-TARGET=0.208\n"),
            "{text}"
        );
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{text}");
    }

    #[test]
    fn parts_only_near_the_live_edge() {
        let p = live(0, 12, 0);
        let text = p.render_low_latency(&options(&p, false));
        // Segments ending within 6 s of the end: 9, 10, 11.
        assert!(!text.contains("\"8.3.m4s\""), "{text}");
        assert!(text.contains("\"9.0.m4s\""), "{text}");
        assert_eq!(text.matches("#EXT-X-PART:").count(), 12);
    }

    #[test]
    fn reparses_with_m3u8_rs() {
        let p = live(20, 24, 2);
        let text = p.render_low_latency(&options(&p, false));
        let Ok(m3u8_rs::Playlist::MediaPlaylist(parsed)) =
            m3u8_rs::parse_playlist_res(text.as_bytes())
        else {
            panic!("{text}");
        };
        assert_eq!(parsed.version, Some(9));
        assert_eq!(parsed.media_sequence, 20);
        let uris: Vec<_> = parsed.segments.iter().map(|s| s.uri.as_str()).collect();
        assert_eq!(uris, ["20.m4s", "21.m4s", "22.m4s", "23.m4s"]);
        // m3u8-rs keeps the LL-HLS tags it does not know per segment.
        let parts = parsed.segments[1]
            .unknown_tags
            .iter()
            .filter(|t| t.tag == "X-PART")
            .count();
        assert_eq!(parts, 4);
    }
}
