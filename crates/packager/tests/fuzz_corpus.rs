//! Replays the committed corpus and crash regressions of the `flv_tags` fuzz
//! target (`fuzz/`): every input must be handled without a panic.

use std::path::Path;

fn fuzz_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz"))
}

#[test]
fn flv_tags_corpus() {
    let replayed =
        av::fuzzing::replay_corpus(fuzz_dir(), "flv_tags", packager::testutil::fuzz_flv_tags);
    assert!(
        replayed >= 8,
        "only {replayed} inputs: is fuzz/ checked out?"
    );
}

#[test]
fn flv_tags_seeds_reach_the_segmenters() {
    for name in [
        "seed-320x180-av",
        "seed-320x180-video",
        "seed-192x108-audio",
        "seed-192x108-jump",
    ] {
        let data = std::fs::read(fuzz_dir().join("seeds/flv_tags").join(name)).unwrap();
        let segments = packager::testutil::fuzz_flv_tags(&data);
        assert!(segments >= 2, "{name}: only {segments} segments");
    }
}
