//! The unified segmenter (`packager::Segmenter`) writing fMP4/CMAF, without
//! and with LL-HLS parts, on the 720p30 input (2.7 Mbit/s, 2 s GOP,
//! B-frames): `fmp4/…` and `fmp4_parts_200ms/…`, each `per_au/…` (a whole
//! 20 s stream, per access unit) and `per_segment/…` (the live steady state,
//! per 2 s segment with its parts); and `ts_unified/…`, the same segmenter
//! writing MPEG-TS, to compare with `ts/…` (`TsSegmenter`). See
//! `aethex_benches::criterion_glue::bench_packager`.

use aethex_benches::Stream;
use aethex_benches::criterion_glue::bench_packager;
use aethex_benches::fixtures::{self, MEDIA_720P30};
use av::Time90k;
use criterion::{Criterion, criterion_group, criterion_main};
use packager::{SegmentFormat, Segmenter, SegmenterConfig};

fn bench_unified(c: &mut Criterion) {
    let stream = Stream::from_flv(fixtures::load_media(MEDIA_720P30));
    let cases = [
        ("fmp4", SegmentFormat::Fmp4, None),
        (
            "fmp4_parts_200ms",
            SegmentFormat::Fmp4,
            Some(Time90k::from_millis(200)),
        ),
        ("ts_unified", SegmentFormat::MpegTs, None),
    ];
    for (group_name, format, part_target) in cases {
        let mut group = c.benchmark_group(group_name);
        bench_packager(&mut group, "720p30", &stream, |target_duration| {
            let config = SegmenterConfig {
                target_duration,
                format,
                part_target,
            };
            Segmenter::new(stream.info.clone(), config, 0)
        });
        group.finish();
    }
}

criterion_group!(benches, bench_unified);
criterion_main!(benches);
