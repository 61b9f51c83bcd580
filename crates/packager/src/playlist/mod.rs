//! HLS playlists (RFC 8216bis §4), rendered with `m3u8-rs`: the media
//! playlist of one rendition (`media`) and the multivariant ("master")
//! playlist over the renditions (`master`).

mod master;
mod media;

pub use master::{Variant, render_master};
pub use media::{MediaPlaylist, SegmentEntry};

use std::sync::atomic::Ordering;

/// Protocol version: 3 for decimal-floating-point `EXTINF` (RFC 8216bis
/// §4.4.4.1, §8); nothing we write needs more.
pub(crate) const VERSION: usize = 3;

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
