//! What the hot paths allocate, counted by a counting global allocator and
//! printed as a table (not a criterion bench; `cargo bench` runs it too):
//!
//! ```text
//! cargo bench -p aethex-benches --bench allocations
//! ```
//!
//! "No allocation per TS packet" means: in the live steady state, the
//! allocations per segment don't grow with the access units or packets in it.

use aethex_benches::alloc_count::{self, PackagerAllocs, steady_state, whole_stream};
use aethex_benches::fixtures::{self, MEDIA_720P30};
use aethex_benches::{CountingAllocator, GopLoop, Packager, Stream};
use av::flv::FileReader;
use av::{FlvDemuxer, Time90k};
use bytes::Bytes;
use packager::{SegmentFormat, Segmenter, SegmenterConfig, TsSegmenter};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

fn header() {
    println!(
        "{:<46} {:>6} {:>5} {:>5} {:>7} {:>7} {:>5} {:>7} {:>8} {:>7} {:>8}",
        "scenario",
        "AUs",
        "segs",
        "parts",
        "packets",
        "allocs",
        "reall",
        "MiB",
        "/segment",
        "/AU",
        "/packet"
    );
}

/// One line of the table; packets only for MPEG-TS output (`ts`).
fn row(name: &str, a: &PackagerAllocs, ts: bool) {
    let (packets, per_pkt) = if ts {
        (
            (a.pulled.bytes / 188).to_string(),
            format!("{:.5}", a.per_ts_packet()),
        )
    } else {
        ("-".to_owned(), "-".to_owned())
    };
    println!(
        "{name:<46} {units:>6} {segments:>5} {parts:>5} {packets:>7} {allocs:>7} {reallocs:>5} {mib:>7.2} {per_seg:>8.2} {per_au:>7.4} {per_pkt:>8}",
        units = a.units,
        segments = a.pulled.segments,
        parts = a.pulled.parts,
        allocs = a.counts.allocs,
        reallocs = a.counts.reallocs,
        mib = a.counts.bytes as f64 / (1 << 20) as f64,
        per_seg = a.per_segment(),
        per_au = a.per_unit(),
    );
}

/// The whole stream through a fresh packager, then 30 steady-state segments
/// (after 5 uncounted ones) through a long-lived one.
fn scenarios<P: Packager>(label: &str, stream: &Stream, make: impl Fn(Time90k) -> P) {
    let fresh = whole_stream(make(Time90k(2 * Time90k::HZ)), stream.units.clone());
    let ts = label.starts_with("ts");
    row(&format!("{label}: whole 20 s stream"), &fresh, ts);
    let mut gops = GopLoop::new(stream);
    let mut packager = make(gops.duration());
    let steady = steady_state(&mut packager, &mut gops, 5, 30);
    row(&format!("{label}: steady state, 30 segments"), &steady, ts);
}

fn flv_demux(flv: &Bytes) {
    let (tags, counts) = alloc_count::measure(|| {
        let mut demuxer = FlvDemuxer::new();
        let mut tags = 0u64;
        for tag in FileReader::new(flv.clone()).expect("fixture has an FLV header") {
            let tag = tag.expect("fixture tags parse");
            drop(demuxer.push(tag.kind, tag.timestamp_ms, tag.body));
            tags += 1;
        }
        tags
    });
    println!(
        "FLV demux of {MEDIA_720P30}: {tags} tags, {} allocations ({:.4} per tag), {counts:?}\n",
        counts.allocations(),
        counts.allocations() as f64 / tags as f64
    );
}

fn main() {
    let flv = fixtures::load_media(MEDIA_720P30);
    flv_demux(&flv);

    let stream = Stream::from_flv(flv);
    header();
    scenarios("ts (TsSegmenter)", &stream, |target_duration| {
        let config = SegmenterConfig {
            target_duration,
            ..SegmenterConfig::default()
        };
        TsSegmenter::new(stream.info.clone(), config, 0)
    });
    unified(&stream);
}

/// The unified segmenter, in both formats.
fn unified(stream: &Stream) {
    let cases = [
        ("ts (Segmenter)", SegmentFormat::MpegTs, None),
        ("fmp4", SegmentFormat::Fmp4, None),
        (
            "fmp4, 200 ms parts",
            SegmentFormat::Fmp4,
            Some(Time90k::from_millis(200)),
        ),
    ];
    for (label, format, part_target) in cases {
        scenarios(label, stream, |target_duration| {
            let config = SegmenterConfig {
                target_duration,
                format,
                part_target,
            };
            Segmenter::new(stream.info.clone(), config, 0)
        });
    }
}
