//! Replays the committed corpus and crash regressions of the `codec_configs`
//! fuzz target (`fuzz/`): every input must be handled without a panic.

use std::path::Path;

fn fuzz_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz"))
}

#[test]
fn codec_configs_corpus() {
    let replayed =
        av::fuzzing::replay_corpus(fuzz_dir(), "codec_configs", av::fuzzing::codec_config);
    assert!(
        replayed >= 4,
        "only {replayed} inputs: is fuzz/ checked out?"
    );
}

#[test]
fn codec_configs_seeds_parse() {
    // The seeds are real encoders' records: they must parse, or the fuzzer
    // starts from nothing.
    for name in [
        "seed-320x180-avcc",
        "seed-320x180-asc",
        "seed-192x108-avcc",
        "seed-192x108-asc",
    ] {
        let data = std::fs::read(fuzz_dir().join("seeds/codec_configs").join(name)).unwrap();
        assert!(av::fuzzing::codec_config(&data), "{name} does not parse");
    }
}
