//! Replays the committed corpus and crash regressions of the `rtmp_session`
//! and `rtmp_chunks` fuzz targets (`fuzz/`): every input must be handled
//! without a panic.

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

#[test]
fn rtmp_chunks_corpus() {
    // Its own inputs, and `rtmp_session`'s, which have the same form.
    let own = av::fuzzing::replay_corpus(fuzz_dir(), "rtmp_chunks", ingest::fuzzing::rtmp_chunks);
    let session =
        av::fuzzing::replay_corpus(fuzz_dir(), "rtmp_session", ingest::fuzzing::rtmp_chunks);
    assert!(
        own >= 3 && session >= 4,
        "only {own} + {session} inputs: is fuzz/ checked out?"
    );
}

#[test]
fn rtmp_chunks_seeds_read_whole_messages() {
    for (name, at_least) in [
        ("seed-ffmpeg-publish-0", 30),
        ("seed-gstreamer-publish-7", 30),
        ("seed-header-forms-3", 8),
    ] {
        let data = std::fs::read(fuzz_dir().join("seeds/rtmp_chunks").join(name)).unwrap();
        let messages = ingest::fuzzing::rtmp_chunks(&data);
        assert!(messages >= at_least, "{name}: only {messages} messages");
    }
}

#[test]
fn publish_seeds_reach_the_demuxer() {
    // What `api`'s fuzz_seeds example writes for `rtmp_session`: made by a
    // client of our own chunk writer, read by our server.
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../av/testdata/ffmpeg_320x180_bframes_aac.flv"
    ))
    .unwrap();
    let tags: Vec<(bool, u32, bytes::Bytes)> = av::flv::FileReader::new(bytes::Bytes::from(data))
        .unwrap()
        .map(|t| t.unwrap())
        .filter(|t| t.kind != av::flv::TagKind::Script)
        .take(40)
        .map(|t| (t.kind == av::flv::TagKind::Video, t.timestamp_ms, t.body))
        .collect();
    for read_size_byte in [0u8, 7] {
        let seed = ingest::fuzzing::publish_seed("stream-key", &tags, read_size_byte)
            .expect("our client publishes to our server");
        let media = ingest::fuzzing::rtmp_session(&seed);
        assert!(media >= 30, "only {media} media events");
        assert!(ingest::fuzzing::rtmp_chunks(&seed) >= 40);
    }
}
