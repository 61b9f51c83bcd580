//! Writes the seed inputs of the fuzz targets in `fuzz/` from the committed
//! FLV fixtures: `cargo run -p api --example fuzz_seeds -- fuzz/seeds`.
//! `scripts/fuzz` runs it when `fuzz/seeds` is missing.

use std::path::{Path, PathBuf};

use av::flv::{FileReader, TagKind};
use bytes::Bytes;
use control::PlaybackAudience;

const FIXTURES: [(&str, &[u8]); 2] = [
    ("320x180", packager::testutil::FLV_320X180_BFRAMES_AAC),
    (
        "192x108",
        packager::testutil::FLV_192X108_2997FPS_BFRAMES_AAC44K,
    ),
];

/// Tags kept per seed: a keyframe, its GOP's start and the sequence
/// headers, in a few kilobytes.
const TAGS_PER_SEED: usize = 40;

struct Tag {
    kind: TagKind,
    timestamp_ms: u32,
    body: Bytes,
}

fn tags(flv: &'static [u8]) -> Vec<Tag> {
    FileReader::new(Bytes::from_static(flv))
        .expect("fixture is FLV")
        .map(|t| t.expect("fixture tag"))
        .map(|t| Tag {
            kind: t.kind,
            timestamp_ms: t.timestamp_ms,
            body: t.body,
        })
        .collect()
}

/// An FLV file of `tags` (header flags: audio and video).
fn flv_file<'a>(tags: impl IntoIterator<Item = &'a Tag>) -> Vec<u8> {
    let mut out = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
    for tag in tags {
        let kind = match tag.kind {
            TagKind::Audio => 8u8,
            TagKind::Video => 9,
            TagKind::Script => 18,
        };
        let size = tag.body.len() as u32;
        out.push(kind);
        out.extend_from_slice(&size.to_be_bytes()[1..]);
        out.extend_from_slice(&(tag.timestamp_ms & 0xff_ffff).to_be_bytes()[1..]);
        out.push((tag.timestamp_ms >> 24) as u8);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&tag.body);
        out.extend_from_slice(&(size + 11).to_be_bytes());
    }
    out
}

fn write(dir: &Path, target: &str, name: &str, data: &[u8]) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).expect("create corpus directory");
    std::fs::write(dir.join(format!("seed-{name}")), data).expect("write seed");
}

fn main() {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("fuzz/seeds"));
    let mut written = 0;
    for (name, flv) in FIXTURES {
        let all = tags(flv);
        let head = &all[..TAGS_PER_SEED.min(all.len())];
        let video = || head.iter().filter(|t| t.kind == TagKind::Video);
        let audio = || head.iter().filter(|t| t.kind == TagKind::Audio);

        // flv_tags: audio + video, video only, audio only, and the same
        // media with the timestamps jumping an hour ahead half-way.
        write(&dir, "flv_tags", &format!("{name}-av"), &flv_file(head));
        write(
            &dir,
            "flv_tags",
            &format!("{name}-video"),
            &flv_file(video()),
        );
        write(
            &dir,
            "flv_tags",
            &format!("{name}-audio"),
            &flv_file(audio()),
        );
        let jumped: Vec<Tag> = head
            .iter()
            .enumerate()
            .map(|(i, t)| Tag {
                kind: t.kind,
                timestamp_ms: t.timestamp_ms + if i > TAGS_PER_SEED / 2 { 3_600_000 } else { 0 },
                body: t.body.clone(),
            })
            .collect();
        write(
            &dir,
            "flv_tags",
            &format!("{name}-jump"),
            &flv_file(&jumped),
        );
        written += 4;

        // codec_configs: the sequence headers' records (the FLV AVC/AAC
        // packet headers stripped), H.264 under an even first byte.
        for tag in head {
            let (selector, skip, what) = match tag.kind {
                TagKind::Video if tag.body.get(1) == Some(&0) => (0u8, 5, "avcc"),
                TagKind::Audio if tag.body.get(1) == Some(&0) => (1u8, 2, "asc"),
                _ => continue,
            };
            let mut seed = vec![selector];
            seed.extend_from_slice(&tag.body[skip..]);
            write(&dir, "codec_configs", &format!("{name}-{what}"), &seed);
            written += 1;
        }

        // rtmp_session: a whole publish (connect, publish, media,
        // unpublish), read in 16- and 128-byte pieces, with the media sent
        // after `NetStream.Publish.Start` as encoders do.
        let media: Vec<(bool, u32, Bytes)> = head
            .iter()
            .filter(|t| t.kind != TagKind::Script)
            .map(|t| (t.kind == TagKind::Video, t.timestamp_ms, t.body.clone()))
            .collect();
        for read_size_byte in [0u8, 7] {
            let seed = ingest::fuzzing::publish_seed("stream-key", &media, read_size_byte)
                .expect("the scripted client publishes to the ingest core");
            write(
                &dir,
                "rtmp_session",
                &format!("{name}-publish-{read_size_byte}"),
                &seed,
            );
            written += 1;
        }
    }

    // hls_query: directives, part names and tokens, valid and not.
    let token = |exp: i64, audience| {
        control::sign_playback_token(
            api::fuzzing::FUZZ_PRIVATE_KEY_PEM,
            api::fuzzing::FUZZ_KEY_ID,
            api::fuzzing::FUZZ_PLAYBACK_ID,
            audience,
            exp,
        )
        .expect("sign with the fuzz key")
    };
    let now_s = api::fuzzing::FUZZ_NOW_MS / 1000;
    let valid = token(now_s + 3600, PlaybackAudience::Video);
    let expired = token(now_s - 3600, PlaybackAudience::Video);
    let thumbnail = token(now_s + 3600, PlaybackAudience::Thumbnail);
    let queries = [
        ("plain", "index.m3u8\n".to_string()),
        ("msn", "index.m3u8\n_HLS_msn=8".to_string()),
        ("part", "index.m3u8\n_HLS_msn=8&_HLS_part=2".to_string()),
        (
            "skip",
            "index.m3u8\n_HLS_msn=8&_HLS_part=2&_HLS_skip=v2".to_string(),
        ),
        ("partfile", "8.1.m4s\n".to_string()),
        ("token", format!("index.m3u8\ntoken={valid}")),
        (
            "token-msn",
            format!("8.1.m4s\n_HLS_msn=8&_HLS_part=1&token={valid}"),
        ),
        ("expired", format!("7.m4s\ntoken={expired}")),
        ("audience", format!("poster.jpg\ntoken={thumbnail}")),
        (
            "escaped",
            "index.m3u8\ntoken=a%0Ab%22c&_HLS_msn=%31".to_string(),
        ),
    ];
    for (name, query) in queries {
        write(&dir, "hls_query", name, query.as_bytes());
        written += 1;
    }
    println!("wrote {written} seeds under {}", dir.display());
}
