//! The two measurements every segmenter gets, written once.

use av::Time90k;
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Throughput};

use crate::packagers::{Packager, segment_all, time_gops};
use crate::{GopLoop, Stream};

/// Adds to `group`, for the packager `make(target_duration)` builds:
///
/// - `per_au/{name}`: the whole `stream` through a fresh packager (push every
///   access unit, pull everything, finish): start-up and end of stream
///   amortized over the access units. Throughput in access units.
/// - `per_segment/{name}`: the live steady state. One GOP of `stream`
///   replayed with advancing timestamps into one long-lived packager whose
///   target duration is the GOP's; each iteration pushes a segment's worth of
///   access units and pulls what they complete (one segment, and its parts).
///   Throughput in payload bytes; media-seconds per second is the GOP
///   duration over the time per iteration.
pub fn bench_packager<P: Packager>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    stream: &Stream,
    make: impl Fn(Time90k) -> P,
) {
    let default_target = Time90k(2 * Time90k::HZ);
    group.throughput(Throughput::Elements(stream.units.len() as u64));
    group.bench_function(format!("per_au/{name}"), |b| {
        b.iter_batched(
            || stream.units.clone(),
            |units| segment_all(make(default_target), units),
            BatchSize::LargeInput,
        )
    });

    let mut gops = GopLoop::new(stream);
    let mut packager = make(gops.duration());
    group.throughput(Throughput::Bytes(gops.payload_bytes() as u64));
    group.bench_function(format!("per_segment/{name}"), |b| {
        b.iter_custom(|iters| time_gops(&mut packager, &mut gops, iters))
    });
}
