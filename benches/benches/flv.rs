//! FLV parsing: the tag reader alone, and tag reader + demuxer (tag bodies →
//! access units with codec configurations) over whole files, in bytes of
//! file per second. Ingest runs the demuxer on every RTMP message; `aethex
//! segment` on every tag of a file.

use std::hint::black_box;

use aethex_benches::fixtures::{self, MEDIA_720P30};
use av::flv::FileReader;
use av::{DemuxEvent, FlvDemuxer};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn inputs() -> [(&'static str, Bytes); 3] {
    [
        (
            "320x180_2s",
            Bytes::from_static(fixtures::FLV_320X180_BFRAMES_AAC),
        ),
        (
            "192x108_6s",
            Bytes::from_static(fixtures::FLV_192X108_2997FPS_BFRAMES_AAC44K),
        ),
        ("720p30_20s", fixtures::load_media(MEDIA_720P30)),
    ]
}

/// Counts the tags, so the work can't be optimized away.
fn read_tags(flv: &Bytes) -> usize {
    let mut tags = 0;
    for tag in FileReader::new(flv.clone()).expect("fixture has an FLV header") {
        black_box(tag.expect("fixture tags parse"));
        tags += 1;
    }
    tags
}

/// Demuxes every tag; returns the number of access units.
fn demux(flv: &Bytes) -> usize {
    let mut demuxer = FlvDemuxer::new();
    let mut units = 0;
    for tag in FileReader::new(flv.clone()).expect("fixture has an FLV header") {
        let tag = tag.expect("fixture tags parse");
        let event = demuxer
            .push(tag.kind, tag.timestamp_ms, tag.body)
            .expect("fixture tags demux");
        if let Some(DemuxEvent::Unit(au)) = black_box(event) {
            units += 1;
            drop(au);
        }
    }
    units
}

fn bench_flv(c: &mut Criterion) {
    let mut group = c.benchmark_group("flv");
    for (name, flv) in inputs() {
        group.throughput(Throughput::Bytes(flv.len() as u64));
        group.bench_function(format!("tags/{name}"), |b| b.iter(|| read_tags(&flv)));
        group.bench_function(format!("demux/{name}"), |b| b.iter(|| demux(&flv)));
    }
    group.finish();
}

criterion_group!(benches, bench_flv);
criterion_main!(benches);
