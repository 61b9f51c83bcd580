//! HLS playlists (RFC 8216bis §4): the media playlist of one rendition
//! (`media`, rendered with `m3u8-rs`; its low-latency form in `low_latency`,
//! rendered by hand) and the multivariant ("master") playlist over the
//! renditions (`master`, `m3u8-rs`).

mod low_latency;
mod master;
mod media;

pub use low_latency::LowLatencyOptions;
pub use master::{Variant, render_master};
pub use media::{MediaPlaylist, PART_WINDOW_TDS, PartEntry, SegmentEntry, SegmentHead};

use std::sync::atomic::Ordering;

/// Protocol version: 3 for decimal-floating-point `EXTINF` (RFC 8216bis
/// §4.4.4.1, §8); MPEG-TS playlists need no more.
pub(crate) const VERSION: usize = 3;
/// Playlists with `EXT-X-MAP` outside an I-frame playlist need version 6
/// (RFC 8216bis §8).
pub(crate) const VERSION_MAP: usize = 6;
/// Low-latency playlists: `EXT-X-SKIP` needs version 9 (RFC 8216bis §8);
/// the other LL-HLS tags are fine with it.
pub(crate) const VERSION_LOW_LATENCY: usize = 9;

/// Runs an `m3u8-rs` writer into a `String`.
fn render(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    // m3u8-rs formats EXTINF through a process-wide precision setting rather
    // than a per-playlist one. Every playlist of this process is rendered here
    // and wants milliseconds, so setting it each time is idempotent.
    m3u8_rs::WRITE_OPT_FLOAT_PRECISION.store(3, Ordering::Relaxed);
    let mut out = Vec::with_capacity(1024);
    // Writing into a Vec<u8> cannot fail.
    let _ = write(&mut out);
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// A value for a quoted-string attribute or a URI line: RFC 8216bis §4.2
/// forbids double quotes and line breaks in them, so they are dropped.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '"' | '\r' | '\n'))
        .collect()
}
