//! Playlist rendering: what the origin does on every playlist request that
//! misses its cache (live: once per new segment; LL-HLS: once per part, for
//! every blocked reload waiting on it).
//!
//! - `playlist/live_window_6`: the 6-segment live window of a stream that has
//!   been live for an hour (1,800 segments listed).
//! - `playlist/vod_1800`: the VOD playlist of that hour.
//! - `playlist/ll_hls_window_6`: the low-latency playlist of the same hour
//!   in fMP4 with 200 ms parts: 6 segments, the parts of the last three
//!   target durations, 4 parts of the segment in progress, a preload hint.
//! - `playlist/master_4`: a multivariant playlist with the source and three
//!   ladder renditions.
//!
//! Throughput in bytes of playlist text.

use std::hint::black_box;

use av::Time90k;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use packager::{LowLatencyOptions, MediaPlaylist, PartEntry, SegmentEntry, Variant, render_master};

const SEGMENTS: u64 = 1800;
const PARTS_PER_SEGMENT: u32 = 10;

/// `EXTINF` of segment `sequence`, with the small jitter of real GOPs.
fn duration(sequence: u64) -> Time90k {
    let jitter_ms = [0, 33, -33, 0, 1][(sequence % 5) as usize];
    Time90k::from_millis(2000 + jitter_ms)
}

/// An hour of 2 s MPEG-TS segments.
fn hour_of_ts() -> MediaPlaylist {
    let mut playlist = MediaPlaylist::new(Time90k::from_millis(2000));
    for sequence in 0..SEGMENTS {
        playlist
            .push(SegmentEntry {
                sequence,
                duration: duration(sequence),
                uri: format!("{sequence}.ts"),
                ..SegmentEntry::default()
            })
            .expect("consecutive sequence numbers");
    }
    playlist
}

fn part(sequence: u64, index: u32) -> PartEntry {
    PartEntry {
        index,
        duration: Time90k::from_millis(200),
        independent: index == 0,
        uri: format!("{sequence}.{index}.m4s"),
        gap: false,
    }
}

/// An hour of 2 s fMP4 segments of ten 200 ms parts each, and 4 parts of the
/// segment in progress.
fn hour_of_fmp4_parts() -> MediaPlaylist {
    let mut playlist = MediaPlaylist::new(Time90k::from_millis(2000));
    for sequence in 0..SEGMENTS {
        for index in 0..PARTS_PER_SEGMENT {
            playlist
                .push_part(sequence, part(sequence, index))
                .expect("parts in order");
        }
        playlist
            .push(SegmentEntry {
                sequence,
                duration: duration(sequence),
                uri: format!("{sequence}.m4s"),
                map_uri: Some("init.mp4".to_owned()),
                ..SegmentEntry::default()
            })
            .expect("consecutive sequence numbers");
    }
    for index in 0..4 {
        playlist
            .push_part(SEGMENTS, part(SEGMENTS, index))
            .expect("parts in order");
    }
    playlist
}

fn ladder() -> Vec<Variant> {
    [
        ("source", 1280, 720, 2_962_000, "avc1.64001f,mp4a.40.2"),
        ("720p", 1280, 720, 2_500_000, "avc1.64001f,mp4a.40.2"),
        ("480p", 854, 480, 1_200_000, "avc1.4d401e,mp4a.40.2"),
        ("360p", 640, 360, 800_000, "avc1.4d401e,mp4a.40.2"),
    ]
    .into_iter()
    .map(|(name, w, h, bandwidth_bps, codecs)| Variant {
        uri: format!("{name}/index.m3u8"),
        bandwidth_bps,
        average_bandwidth_bps: Some(bandwidth_bps * 9 / 10),
        resolution: Some((w, h)),
        frame_rate: Some(30.0),
        codecs: codecs.to_owned(),
        name: name.to_owned(),
    })
    .collect()
}

fn bench_playlists(c: &mut Criterion) {
    let ts = hour_of_ts();
    let fmp4 = hour_of_fmp4_parts();
    let low_latency = LowLatencyOptions {
        window_segments: 6,
        part_target: Time90k::from_millis(200),
        skip: false,
        preload_hint_uri: Some(format!("{SEGMENTS}.4.m4s")),
    };
    let variants = ladder();
    let mut group = c.benchmark_group("playlist");

    group.throughput(Throughput::Bytes(ts.render_live(6).len() as u64));
    group.bench_function("live_window_6", |b| {
        b.iter(|| black_box(&ts).render_live(6))
    });

    group.throughput(Throughput::Bytes(ts.render_vod().len() as u64));
    group.bench_function("vod_1800", |b| b.iter(|| black_box(&ts).render_vod()));

    group.throughput(Throughput::Bytes(
        fmp4.render_low_latency(&low_latency).len() as u64,
    ));
    group.bench_function("ll_hls_window_6", |b| {
        b.iter(|| black_box(&fmp4).render_low_latency(black_box(&low_latency)))
    });

    group.throughput(Throughput::Bytes(render_master(&variants).len() as u64));
    group.bench_function("master_4", |b| {
        b.iter(|| render_master(black_box(&variants)))
    });
    group.finish();
}

criterion_group!(benches, bench_playlists);
criterion_main!(benches);
