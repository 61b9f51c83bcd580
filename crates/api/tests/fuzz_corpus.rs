//! Replays the committed corpus and crash regressions of the `hls_query`
//! fuzz target (`fuzz/`): every input must be handled without a panic.

use std::path::Path;

fn fuzz_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz"))
}

#[test]
fn hls_query_corpus() {
    let replayed = av::fuzzing::replay_corpus(fuzz_dir(), "hls_query", api::fuzzing::hls_query);
    assert!(
        replayed >= 10,
        "only {replayed} inputs: is fuzz/ checked out?"
    );
}

#[test]
fn hls_query_signed_seeds_verify() {
    let read = |name: &str| std::fs::read(fuzz_dir().join("seeds/hls_query").join(name)).unwrap();
    assert!(api::fuzzing::hls_query(&read("seed-token")));
    assert!(api::fuzzing::hls_query(&read("seed-token-msn")));
    assert!(!api::fuzzing::hls_query(&read("seed-expired")));
    assert!(!api::fuzzing::hls_query(&read("seed-audience")));
}
