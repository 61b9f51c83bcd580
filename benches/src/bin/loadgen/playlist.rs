//! The few parts of HLS playlists the load generator needs.

/// A media playlist: its full segments (LL-HLS parts and hints ignored).
#[derive(Debug, Default, PartialEq)]
pub struct Media {
    /// `#EXT-X-MEDIA-SEQUENCE` (0 when absent, as RFC 8216 says).
    pub media_sequence: u64,
    /// `#EXTINF` durations of the listed segments, in order: segment `i`
    /// has media sequence number `media_sequence + i`.
    pub durations: Vec<f64>,
    /// `#EXT-X-TARGETDURATION`.
    pub target_duration: Option<f64>,
    /// `#EXT-X-ENDLIST` seen.
    pub ended: bool,
}

/// Parses a media playlist. Only URI lines preceded by an `#EXTINF` count as
/// segments; `#EXT-X-PART` and `#EXT-X-PRELOAD-HINT` are tags and are
/// skipped. Errors when the text is not a playlist (`#EXTM3U` missing) or
/// a segment has no usable duration.
pub fn parse_media(text: &str) -> Result<Media, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some("#EXTM3U") {
        return Err("not a playlist (no #EXTM3U)".into());
    }
    let mut media = Media::default();
    let mut pending: Option<f64> = None;
    for line in lines {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            media.media_sequence = v
                .trim()
                .parse()
                .map_err(|_| format!("bad media sequence {v:?}"))?;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let d = v.split(',').next().unwrap_or("").trim();
            pending = Some(d.parse().map_err(|_| format!("bad EXTINF {v:?}"))?);
        } else if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            media.target_duration = v.trim().parse().ok();
        } else if line == "#EXT-X-ENDLIST" {
            media.ended = true;
        } else if line.starts_with('#') {
            // Other tags (parts, hints, program date time, ...).
        } else {
            let d = pending
                .take()
                .ok_or_else(|| format!("segment {line:?} without #EXTINF"))?;
            media.durations.push(d);
        }
    }
    Ok(media)
}

/// The first variant URI of a master playlist, if it lists one.
pub fn first_variant(text: &str) -> Option<&str> {
    let mut after_stream_inf = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with("#EXT-X-STREAM-INF") {
            after_stream_inf = true;
        } else if !line.is_empty() && !line.starts_with('#') && after_stream_inf {
            return Some(line);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_media_playlists_with_parts() {
        let text = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
            #EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-PART-INF:PART-TARGET=0.5\n\
            #EXT-X-PART:DURATION=0.5,URI=\"3.0.m4s\"\n#EXTINF:2.002,\n3.m4s\n\
            #EXTINF:1.9,\n4.m4s\n#EXT-X-PART:DURATION=0.5,URI=\"5.0.m4s\"\n\
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"5.1.m4s\"\n";
        let m = parse_media(text).unwrap();
        assert_eq!(m.media_sequence, 3);
        assert_eq!(m.durations, vec![2.002, 1.9]);
        assert_eq!(m.target_duration, Some(2.0));
        assert!(!m.ended);
        let m = parse_media("#EXTM3U\n#EXTINF:2,\na.ts\n#EXT-X-ENDLIST\n").unwrap();
        assert_eq!((m.media_sequence, m.durations.len(), m.ended), (0, 1, true));
        assert!(parse_media("<html>").is_err());
    }

    #[test]
    fn finds_the_first_variant() {
        let text = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nls/source/index.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=2\nb.m3u8\n";
        assert_eq!(first_variant(text), Some("ls/source/index.m3u8"));
        assert_eq!(first_variant("#EXTM3U\n"), None);
    }
}
