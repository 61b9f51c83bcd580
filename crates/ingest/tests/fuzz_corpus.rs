//! Replays the committed corpus and crash regressions of the `rtmp_session`
//! fuzz target (`fuzz/`): every input must be handled without a panic
//! escaping the connection.

use std::path::Path;

fn fuzz_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz"))
}

#[test]
fn rtmp_session_corpus() {
    let replayed =
        av::fuzzing::replay_corpus(fuzz_dir(), "rtmp_session", ingest::fuzzing::rtmp_session);
    assert!(
        replayed >= 4,
        "only {replayed} inputs: is fuzz/ checked out?"
    );
}

#[test]
fn rtmp_session_seeds_reach_the_demuxer() {
    for name in ["seed-320x180-publish-0", "seed-192x108-publish-7"] {
        let data = std::fs::read(fuzz_dir().join("seeds/rtmp_session").join(name)).unwrap();
        let media = ingest::fuzzing::rtmp_session(&data);
        assert!(media >= 30, "{name}: only {media} media events");
    }
}
