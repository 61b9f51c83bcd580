//! Bench inputs: the committed fixtures, compiled in, and the generated media
//! of `media/`, read from disk.

use std::path::PathBuf;

use bytes::Bytes;

/// 2 s of 320x180 30 fps H.264 High with B-frames + AAC 48 kHz (83 KB); the
/// `av` crate's fixture.
pub const FLV_320X180_BFRAMES_AAC: &[u8] =
    include_bytes!("../../crates/av/testdata/ffmpeg_320x180_bframes_aac.flv");

/// 6 s of 192x108 29.97 fps H.264 with B-frames + AAC 44.1 kHz (167 KB); the
/// `packager` crate's fixture.
pub const FLV_192X108_2997FPS_BFRAMES_AAC44K: &[u8] =
    include_bytes!("../../crates/packager/testdata/ffmpeg_192x108_2997fps_bframes_aac44k.flv");

/// 20 s of 1280x720 30 fps H.264 High with B-frames (2 s GOP, ~2.7 Mbit/s)
/// + AAC-LC 48 kHz stereo: what OBS sends. Generated, in `media/`.
pub const MEDIA_720P30: &str = "h264_aac_720p30_bframes.flv";

/// Path of a file in the workspace's `media/` directory.
pub fn media_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../media")
        .join(name)
}

/// Reads `media/NAME`.
///
/// # Panics
/// When the file is missing or unreadable, with a message that says how to
/// generate it: the benches cannot run without their input.
pub fn load_media(name: &str) -> Bytes {
    let path = media_path(name);
    match std::fs::read(&path) {
        Ok(data) => Bytes::from(data),
        Err(e) => panic!(
            "cannot read bench input {}: {e}\n\
             generate it with `scripts/make-fixtures` (needs ffmpeg), then run the benches again",
            path.display()
        ),
    }
}
