//! The object key layout. Every object the server writes is named here, so
//! the layout is documented in one place (and in `docs/architecture.md`):
//!
//! ```text
//! live/{live_stream_id}/master.m3u8              master playlist of the live broadcast
//! live/{live_stream_id}/{rendition}/index.m3u8   live media playlist: the sliding window;
//!                                                + EXT-X-ENDLIST when the broadcast ends
//! live/{live_stream_id}/vod-master.m3u8          master playlist of the recording
//! live/{live_stream_id}/{rendition}/vod.m3u8     the recording: every segment, ENDLIST
//!                                                (written when the broadcast ends)
//! live/{live_stream_id}/{rendition}/{seq}.ts     MPEG-TS media segment
//! live/{live_stream_id}/{rendition}/{seq}.m4s    fMP4 media segment (+ init.mp4)
//! live/{live_stream_id}/thumbnail.jpg            latest thumbnail (every N seconds)
//! live/{live_stream_id}/poster.jpg               the first thumbnail: the VOD's poster
//! live/{live_stream_id}/files/{name}             files made from the recording: highest.mp4,
//!                                                audio.m4a, storyboard.jpg, animated.gif
//! clips/{clip_id}.mp4                            an exported clip (MP4 remux)
//! ```
//!
//! Playlists refer to segments and renditions by relative URI, so a bucket or
//! CDN can serve a broadcast without the origin. The live and the recording
//! playlists are separate objects because a live playlist may only grow at
//! its end (RFC 8216bis §6.2.1): players following it must not see earlier
//! segments reappear when the broadcast ends.
//!
//! Media segments, init segments and clips are written once and never
//! change under the same key (a new init segment gets a new name,
//! `init-2.mp4`); playlists and images may be rewritten. Remote
//! stores get a `Cache-Control` saying so ([`cache_control`]), so a CDN in
//! front of the bucket caches the immutable objects for good and revalidates
//! the others.

/// Prefix of every object of one broadcast.
pub fn live_stream_prefix(live_stream_id: &str) -> String {
    format!("live/{live_stream_id}")
}

pub fn master_playlist(live_stream_id: &str) -> String {
    format!("live/{live_stream_id}/master.m3u8")
}

pub fn media_playlist(live_stream_id: &str, rendition: &str) -> String {
    format!("live/{live_stream_id}/{rendition}/{MEDIA_PLAYLIST}")
}

/// File name of a live media playlist.
pub const MEDIA_PLAYLIST: &str = "index.m3u8";
/// File name of a recording's media playlist.
pub const VOD_PLAYLIST: &str = "vod.m3u8";

pub fn vod_master_playlist(live_stream_id: &str) -> String {
    format!("live/{live_stream_id}/vod-master.m3u8")
}

pub fn vod_media_playlist(live_stream_id: &str, rendition: &str) -> String {
    format!("live/{live_stream_id}/{rendition}/{VOD_PLAYLIST}")
}

/// The latest thumbnail of a broadcast.
pub fn thumbnail(live_stream_id: &str) -> String {
    format!("live/{live_stream_id}/thumbnail.jpg")
}

/// The poster of a broadcast's recording (its first thumbnail).
pub fn poster(live_stream_id: &str) -> String {
    format!("live/{live_stream_id}/poster.jpg")
}

/// A file made from a broadcast's recording (`highest.mp4`, `audio.m4a`,
/// `storyboard.jpg`, `animated.gif`; Mux's static renditions and images).
pub fn asset_file(live_stream_id: &str, name: &str) -> String {
    format!("live/{live_stream_id}/files/{name}")
}

/// A segment object; `file_name` is the URI the media playlist uses for it
/// (see [`segment_file_name`]).
pub fn segment(live_stream_id: &str, rendition: &str, file_name: &str) -> String {
    format!("live/{live_stream_id}/{rendition}/{file_name}")
}

/// The file name (and playlist URI) of media segment `sequence`.
pub fn segment_file_name(sequence: u64, extension: &str) -> String {
    format!("{sequence}.{extension}")
}

/// Prefix of every exported clip.
pub const CLIPS_PREFIX: &str = "clips";

/// An exported clip (an MP4 file).
pub fn clip(clip_id: &str) -> String {
    format!("{CLIPS_PREFIX}/{clip_id}.mp4")
}

/// The MIME type of an object, from its key's extension (RFC 8216bis §4
/// for playlists and segments); `application/octet-stream` if unknown.
pub fn content_type(key: &str) -> &'static str {
    match extension(key) {
        "m3u8" => "application/vnd.apple.mpegurl",
        "ts" => "video/mp2t",
        "m4s" => "video/iso.segment",
        "mp4" => "video/mp4",
        "m4a" => "audio/mp4",
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "aac" => "audio/aac",
        _ => "application/octet-stream",
    }
}

/// The `Cache-Control` an object is stored with on remote stores: objects
/// written once are immutable; playlists and the latest thumbnail change
/// under the same key and must be revalidated.
pub fn cache_control(key: &str) -> &'static str {
    match extension(key) {
        "ts" | "m4s" | "mp4" | "aac" | "m4a" | "gif" => IMMUTABLE,
        _ => "no-cache",
    }
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn extension(key: &str) -> &str {
    let file_name = key.rsplit('/').next().unwrap_or(key);
    match file_name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext,
        _ => "",
    }
}

/// True if `name` is a plausible object file name from a URL path: one
/// non-empty component of safe characters. The HLS origin checks request path
/// segments with this before turning them into keys.
pub fn is_safe_component(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(master_playlist("ls1"), "live/ls1/master.m3u8");
        assert_eq!(
            media_playlist("ls1", "source"),
            "live/ls1/source/index.m3u8"
        );
        assert_eq!(
            segment("ls1", "source", &segment_file_name(7, "ts")),
            "live/ls1/source/7.ts"
        );
    }

    #[test]
    fn clips_and_media_types() {
        assert_eq!(clip("cl1"), "clips/cl1.mp4");
        assert_eq!(content_type("live/a/source/3.ts"), "video/mp2t");
        assert_eq!(
            content_type("live/a/master.m3u8"),
            "application/vnd.apple.mpegurl"
        );
        assert_eq!(content_type("live/a/source/3.2.m4s"), "video/iso.segment");
        assert_eq!(content_type("clips/c.mp4"), "video/mp4");
        assert_eq!(content_type("live/a/.ts"), "application/octet-stream");
        assert_eq!(content_type("noext"), "application/octet-stream");
        assert_eq!(cache_control("live/a/source/3.ts"), IMMUTABLE);
        assert_eq!(cache_control("live/a/source/init-2.mp4"), IMMUTABLE);
        assert_eq!(cache_control("live/a/poster.jpg"), "no-cache");
        assert_eq!(cache_control("live/a/thumbnail.jpg"), "no-cache");
        assert_eq!(cache_control("live/a/source/index.m3u8"), "no-cache");
    }

    #[test]
    fn safe_components() {
        assert!(is_safe_component("12.ts"));
        assert!(is_safe_component("source"));
        assert!(!is_safe_component(".."));
        assert!(!is_safe_component("a/b"));
        assert!(!is_safe_component("%2e%2e"));
        assert!(!is_safe_component(""));
    }
}
