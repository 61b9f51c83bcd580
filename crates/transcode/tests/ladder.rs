//! Both backends through the same checks, on the committed fixtures:
//! - every rung produces access units, with its configured resolution;
//! - keyframe alignment: the set of output keyframe PTS equals the set of
//!   source keyframe PTS, for every rung;
//! - output PTS are exactly the source's (no frame dropped or added, no
//!   timestamp moved, including the 29.97 fps fixture's jittery millisecond
//!   timestamps), DTS non-decreasing and never after PTS;
//! - each rung packaged with `packager::Segmenter` into MPEG-TS decodes with
//!   `ffmpeg -v error` without an error line;
//! - `drop_rung` stops one rung while the others continue, whole;
//! - errors name the encoder or binary that is missing.

mod common;

use std::time::Duration;

use common::{Outcome, Source, config, package_and_decode, run};
use packager::testutil::{FLV_192X108_2997FPS_BFRAMES_AAC44K, FLV_320X180_BFRAMES_AAC};
use transcode::{Backend, Error, Ladder, Rung};

fn check_aligned(backend: Backend, fixture: &'static [u8], rungs: Vec<Rung>) {
    let source = Source::fixture(fixture);
    let sizes: Vec<(u32, u32)> = rungs.iter().map(|r| (r.width, r.height)).collect();
    let outcome = run(&config(backend), &source, rungs);
    assert!(outcome.finished);
    let dir = tempfile::tempdir().unwrap();
    for (i, rendition) in outcome.renditions.iter().enumerate() {
        let config = &rendition.configs[0];
        assert_eq!((config.width, config.height), sizes[i], "rung {i} size");
        assert_eq!(
            rendition.pts(),
            source.pts(),
            "rung {i}: output PTS are the source's"
        );
        assert_eq!(rendition.units.len(), source.units.len(), "rung {i}");
        assert_eq!(
            rendition.keyframe_pts(),
            source.keyframe_pts(),
            "rung {i}: keyframes at the source's keyframes"
        );
        assert!(rendition.units[0].keyframe);
        for pair in rendition.units.windows(2) {
            assert!(pair[1].dts >= pair[0].dts, "rung {i}: {pair:?}");
        }
        assert!(rendition.units.iter().all(|u| u.dts <= u.pts));
        let segments = package_and_decode(rendition, dir.path(), &format!("rung{i}"));
        assert_eq!(
            segments,
            source.keyframe_pts().len(),
            "rung {i}: one segment per keyframe"
        );
    }
}

fn small_rungs() -> Vec<Rung> {
    vec![
        Rung::new("120p", 214, 120, 250),
        Rung::new("90p", 160, 90, 120),
    ]
}

#[test]
fn gstreamer_ladder_is_keyframe_aligned() {
    check_aligned(Backend::Gstreamer, FLV_320X180_BFRAMES_AAC, small_rungs());
}

#[test]
fn ffmpeg_ladder_is_keyframe_aligned() {
    check_aligned(Backend::Ffmpeg, FLV_320X180_BFRAMES_AAC, small_rungs());
}

#[test]
fn gstreamer_keeps_2997_fps_timestamps() {
    check_aligned(
        Backend::Gstreamer,
        FLV_192X108_2997FPS_BFRAMES_AAC44K,
        vec![Rung::new("72p", 128, 72, 100)],
    );
}

#[test]
fn ffmpeg_keeps_2997_fps_timestamps() {
    check_aligned(
        Backend::Ffmpeg,
        FLV_192X108_2997FPS_BFRAMES_AAC44K,
        vec![Rung::new("72p", 128, 72, 100)],
    );
}

#[test]
fn default_tune_is_keyframe_aligned_too() {
    // x264's default tune has lookahead and B-frames: forced keyframes and
    // reordered output must still line up.
    for backend in [Backend::Gstreamer, Backend::Ffmpeg] {
        let mut config = config(backend);
        config.x264_tune = String::new();
        let source = Source::fixture(FLV_320X180_BFRAMES_AAC);
        let outcome = run(&config, &source, vec![Rung::new("90p", 160, 90, 120)]);
        let rendition = &outcome.renditions[0];
        assert_eq!(rendition.pts(), source.pts(), "{backend:?}");
        assert_eq!(
            rendition.keyframe_pts(),
            source.keyframe_pts(),
            "{backend:?}"
        );
        assert!(
            rendition.units.iter().any(|u| u.dts < u.pts),
            "{backend:?}: B-frames expected"
        );
        package_and_decode(rendition, tempfile::tempdir().unwrap().path(), "bf");
    }
}

fn check_drop_rung(backend: Backend) {
    let source = Source::fixture(FLV_192X108_2997FPS_BFRAMES_AAC44K);
    let rungs = vec![Rung::new("72p", 128, 72, 100), Rung::new("54p", 96, 54, 60)];
    let (mut ladder, mut rx) = Ladder::start(&config(backend), &source.config, rungs).unwrap();
    let mut outcome = Outcome::new(2);
    let (first, rest) = source.units.split_at(60);
    for unit in first {
        ladder.push(unit).unwrap();
    }
    // Wait until rung 1 is producing, then drop it mid-stream.
    assert!(common::eventually(Duration::from_secs(30), || {
        outcome.poll(&mut rx);
        outcome.renditions[1].units.len() >= 20
    }));
    ladder.drop_rung(1);
    assert!(ladder.is_dropped(1) && !ladder.is_dropped(0));
    let at_drop = outcome.renditions[1].units.len();
    for unit in rest {
        ladder.push(unit).unwrap();
        outcome.poll(&mut rx);
    }
    ladder.finish();
    outcome.drain(&mut rx, Duration::from_secs(60));
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(outcome.renditions[0].units.len(), source.units.len());
    let dropped = outcome.renditions[1].units.len();
    // Events already in the channel at the drop still arrive; nothing
    // encoded after it does.
    assert!(
        dropped >= at_drop && dropped <= first.len(),
        "{backend:?}: rung 1 has {dropped} units ({at_drop} at the drop)"
    );
    assert!(outcome.renditions[1].units.last().unwrap().pts < rest[0].pts);
    // The remaining rung is whole, keyframe-aligned and decodable, across
    // the FFmpeg backend's restart too.
    let kept = &outcome.renditions[0];
    assert_eq!(kept.pts(), source.pts(), "{backend:?}");
    assert_eq!(kept.keyframe_pts(), source.keyframe_pts(), "{backend:?}");
    for pair in kept.units.windows(2) {
        assert!(pair[1].dts > pair[0].dts, "{backend:?}: {pair:?}");
    }
    assert_eq!(
        kept.configs.len(),
        1,
        "{backend:?}: same encoder configuration"
    );
    package_and_decode(kept, tempfile::tempdir().unwrap().path(), "kept");
}

#[test]
fn gstreamer_drop_rung_stops_one_rendition() {
    check_drop_rung(Backend::Gstreamer);
}

#[test]
fn ffmpeg_drop_rung_stops_one_rendition() {
    check_drop_rung(Backend::Ffmpeg);
}

#[test]
fn caps_the_frame_rate_but_keeps_keyframes() {
    // The 30 fps fixture into a 15 fps rung: every other frame, keyframes
    // all kept.
    for backend in [Backend::Gstreamer, Backend::Ffmpeg] {
        let source = Source::fixture(FLV_320X180_BFRAMES_AAC);
        let mut rung = Rung::new("90p", 160, 90, 120);
        rung.max_fps = 15;
        let outcome = run(&config(backend), &source, vec![rung]);
        let rendition = &outcome.renditions[0];
        assert_eq!(rendition.units.len(), source.units.len() / 2, "{backend:?}");
        assert!(rendition.pts().is_subset(&source.pts()));
        assert_eq!(
            rendition.keyframe_pts(),
            source.keyframe_pts(),
            "{backend:?}"
        );
    }
}

#[test]
fn errors_name_what_is_missing() {
    let source = Source::fixture(FLV_320X180_BFRAMES_AAC);
    let rungs = || vec![Rung::new("90p", 160, 90, 120)];
    let mut config = config(Backend::Ffmpeg);
    config.ffmpeg_path = "/nonexistent/ffmpeg".into();
    let err = Ladder::start(&config, &source.config, rungs())
        .err()
        .unwrap();
    assert!(matches!(err, Error::Spawn { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/ffmpeg"), "{err}");

    // No GPU on the test machines; where there is one, the ladder starts.
    let mut config = common::config(Backend::Ffmpeg);
    config.ffmpeg_encoder = "h264_nvenc".into();
    if let Err(err) = Ladder::start(&config, &source.config, rungs()) {
        assert!(
            err.to_string()
                .starts_with("ffmpeg encoder h264_nvenc is not available: "),
            "{err}"
        );
    }

    let err = Ladder::start(&common::config(Backend::Gstreamer), &source.config, vec![])
        .err()
        .unwrap();
    assert!(err.to_string().contains("at least one rung"), "{err}");
    let twice = vec![rungs().remove(0), rungs().remove(0)];
    let err = Ladder::start(&common::config(Backend::Gstreamer), &source.config, twice)
        .err()
        .unwrap();
    assert!(err.to_string().contains("rungs[1].name"), "{err}");
    let mut bad = rungs();
    bad[0].height = 91;
    let err = Ladder::start(&common::config(Backend::Gstreamer), &source.config, bad)
        .err()
        .unwrap();
    assert!(err.to_string().contains("rungs[0].height"), "{err}");
}

#[test]
fn push_rejects_odd_input_without_panicking() {
    let source = Source::fixture(FLV_320X180_BFRAMES_AAC);
    for backend in [Backend::Gstreamer, Backend::Ffmpeg] {
        let (mut ladder, mut rx) = Ladder::start(
            &config(backend),
            &source.config,
            vec![Rung::new("90p", 160, 90, 120)],
        )
        .unwrap();
        let mut audio = source.units[0].clone();
        audio.track = av::TrackKind::Audio;
        assert!(ladder.push(&audio).is_err());
        let mut tiny = source.units[0].clone();
        tiny.data = bytes::Bytes::from_static(&[0, 0, 0, 1]);
        assert!(ladder.push(&tiny).is_err());
        // Before the first keyframe: ignored.
        ladder.push(&source.units[1]).unwrap();
        ladder.push(&source.units[0]).unwrap();
        // Garbage after a good keyframe: the decoder copes or reports an
        // error event; either way the ladder finishes.
        let mut garbage = source.units[2].clone();
        garbage.data = bytes::Bytes::from_static(&[0, 0, 0, 4, 0x41, 0xff, 0xff, 0xff]);
        ladder.push(&garbage).unwrap();
        // More than an hour before the first DTS: refused by name.
        let mut early = source.units[3].clone();
        early.dts = early.dts - av::Time90k(3601 * 90_000);
        early.pts = early.dts;
        let err = ladder.push(&early).unwrap_err();
        assert!(err.to_string().contains("DTS"), "{err}");
        ladder.finish();
        assert!(matches!(
            ladder.push(&source.units[4]),
            Err(Error::Finished)
        ));
        let mut outcome = Outcome::new(1);
        outcome.drain(&mut rx, Duration::from_secs(30));
    }
}

#[test]
fn profiles_and_tunes_are_honoured() {
    let source = Source::fixture(FLV_320X180_BFRAMES_AAC);
    for backend in [Backend::Gstreamer, Backend::Ffmpeg] {
        let mut config = config(backend);
        // (`ultrafast` would make every profile baseline: x264 writes the
        // lowest profile the tools it uses need.)
        config.x264_tune = "film,zerolatency".into();
        let mut rungs = Vec::new();
        for (name, profile) in [("b", "baseline"), ("m", "main"), ("h", "high")] {
            let mut rung = Rung::new(name, 160, 90, 120);
            rung.profile = profile.into();
            rungs.push(rung);
        }
        let outcome = run(&config, &source, rungs);
        let profiles: Vec<u8> = outcome
            .renditions
            .iter()
            .map(|r| r.configs[0].profile_idc)
            .collect();
        assert_eq!(profiles, [66, 77, 100], "{backend:?}");

        config.x264_tune = "fastdecode+zerolatency,psnr".into();
        let outcome = run(&config, &source, vec![Rung::new("90p", 160, 90, 120)]);
        assert_eq!(outcome.renditions[0].units.len(), source.units.len());
    }
}
