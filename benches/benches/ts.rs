//! The MPEG-TS packager (`TsSegmenter`) on the 720p30 input (2.7 Mbit/s,
//! 2 s GOP, B-frames; what OBS sends): `ts/per_au/…` (a whole 20 s stream,
//! per access unit) and `ts/per_segment/…` (the live steady state, per 2 s
//! segment); see `aethex_benches::criterion_glue::bench_packager`.

use aethex_benches::Stream;
use aethex_benches::criterion_glue::bench_packager;
use aethex_benches::fixtures::{self, MEDIA_720P30};
use criterion::{Criterion, criterion_group, criterion_main};
use packager::{SegmenterConfig, TsSegmenter};

fn bench_ts(c: &mut Criterion) {
    let stream = Stream::from_flv(fixtures::load_media(MEDIA_720P30));
    let mut group = c.benchmark_group("ts");
    bench_packager(&mut group, "720p30", &stream, |target_duration| {
        let config = SegmenterConfig {
            target_duration,
            ..SegmenterConfig::default()
        };
        TsSegmenter::new(stream.info.clone(), config, 0)
    });
    group.finish();
}

criterion_group!(benches, bench_ts);
criterion_main!(benches);
