//! `thumbnail`: a JPEG of a source keyframe, checked with ffprobe.

mod common;

use std::process::Command;

use common::Source;
use packager::testutil::FLV_320X180_BFRAMES_AAC;
use transcode::{Error, thumbnail};

fn probe(jpeg: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("thumb.jpg");
    std::fs::write(&path, jpeg).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn makes_a_jpeg_of_a_keyframe() {
    let source = Source::fixture(FLV_320X180_BFRAMES_AAC);
    let keyframes: Vec<_> = source.units.iter().filter(|u| u.keyframe).collect();
    let jpeg = thumbnail(&source.config, keyframes[1], 160).unwrap();
    assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
    assert_eq!(probe(&jpeg), "mjpeg,160,90");
    // Never upscaled.
    let jpeg = thumbnail(&source.config, keyframes[0], 1280).unwrap();
    assert_eq!(probe(&jpeg), "mjpeg,320,180");
}

#[test]
fn refuses_what_it_cannot_decode() {
    let source = Source::fixture(FLV_320X180_BFRAMES_AAC);
    let delta = source.units.iter().find(|u| !u.keyframe).unwrap();
    assert!(matches!(
        thumbnail(&source.config, delta, 160),
        Err(Error::Input(_))
    ));
    let mut garbage = source.units[0].clone();
    garbage.data = bytes::Bytes::from_static(&[0, 0, 0, 3, 0x65, 0xff, 0x00]);
    let err = thumbnail(&source.config, &garbage, 160).unwrap_err();
    assert!(matches!(err, Error::Thumbnail(_)), "{err}");
}
