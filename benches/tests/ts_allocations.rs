//! The MPEG-TS packager allocates per segment, never per access unit or per
//! TS packet: in the live steady state, a segment's worth of access units
//! (~150 at 720p30, ~2,000 TS packets) costs a handful of allocations.

use aethex_benches::alloc_count::steady_state;
use aethex_benches::fixtures::FLV_192X108_2997FPS_BFRAMES_AAC44K;
use aethex_benches::{CountingAllocator, GopLoop, Stream};
use bytes::Bytes;
use packager::{SegmenterConfig, TsSegmenter};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Allocations a steady-state segment may cost: the segment buffer, the
/// segment's list of buffers, and the occasional regrowth when a segment is
/// larger than the last. One allocation per access unit would make it ~73
/// (this fixture's access units per segment); one per packet, ~200.
const MAX_ALLOCATIONS_PER_SEGMENT: f64 = 6.0;

#[test]
fn ts_allocates_per_segment_not_per_packet() {
    let stream = Stream::from_flv(Bytes::from_static(FLV_192X108_2997FPS_BFRAMES_AAC44K));
    let mut gops = GopLoop::new(&stream);
    let config = SegmenterConfig {
        target_duration: gops.duration(),
        ..SegmenterConfig::default()
    };
    let mut segmenter = TsSegmenter::new(stream.info.clone(), config, 0);
    let a = steady_state(&mut segmenter, &mut gops, 3, 50);
    eprintln!(
        "{} AUs, {} segments, {} packets: {:?}",
        a.units,
        a.pulled.segments,
        a.pulled.bytes / 188,
        a.counts
    );
    assert_eq!(a.pulled.segments, 50);
    assert!(
        a.per_segment() <= MAX_ALLOCATIONS_PER_SEGMENT,
        "{:.2} allocations per segment ({:.3} per access unit)",
        a.per_segment(),
        a.per_unit()
    );
}
