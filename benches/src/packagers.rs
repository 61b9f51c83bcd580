//! One interface over the segmenters, so each bench and allocation scenario
//! is written once and run against MPEG-TS and fMP4 alike.

use std::hint::black_box;
use std::time::{Duration, Instant};

use av::AccessUnit;
use packager::{Output, Segmenter, TsSegmenter};

use crate::GopLoop;

/// What was pulled out of a packager.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Pulled {
    /// Complete media segments.
    pub segments: u64,
    /// LL-HLS partial segments.
    pub parts: u64,
    /// Bytes of the segments and of the fMP4 initialization segment (parts
    /// are not counted again: a segment is the concatenation of its parts).
    pub bytes: u64,
}

impl std::ops::AddAssign for Pulled {
    fn add_assign(&mut self, other: Pulled) {
        self.segments += other.segments;
        self.parts += other.parts;
        self.bytes += other.bytes;
    }
}

/// A segmenter, driven the way the live actor drives it: push one access
/// unit, then pull until nothing is left.
pub trait Packager {
    /// Pushes `au` and pulls (and drops) everything it completed.
    ///
    /// # Panics
    /// When the segmenter refuses the access unit: bench inputs are valid.
    fn push_pull(&mut self, au: AccessUnit) -> Pulled;

    /// Ends the stream and pulls what is left.
    fn finish_pull(&mut self) -> Pulled;
}

impl Packager for TsSegmenter {
    fn push_pull(&mut self, au: AccessUnit) -> Pulled {
        self.push(au).expect("bench access units are valid");
        pull_ts(self)
    }

    fn finish_pull(&mut self) -> Pulled {
        self.finish();
        pull_ts(self)
    }
}

fn pull_ts(segmenter: &mut TsSegmenter) -> Pulled {
    let mut pulled = Pulled::default();
    while let Some(segment) = segmenter.pull() {
        pulled.segments += 1;
        pulled.bytes += black_box(segment).size_bytes() as u64;
    }
    pulled
}

/// The unified segmenter (MPEG-TS or fMP4, LL-HLS parts).
impl Packager for Segmenter {
    fn push_pull(&mut self, au: AccessUnit) -> Pulled {
        self.push(au).expect("bench access units are valid");
        pull_outputs(self)
    }

    fn finish_pull(&mut self) -> Pulled {
        self.finish();
        pull_outputs(self)
    }
}

fn pull_outputs(segmenter: &mut Segmenter) -> Pulled {
    let mut pulled = Pulled::default();
    while let Some(output) = segmenter.pull() {
        match black_box(output) {
            Output::Init(init) => pulled.bytes += init.len() as u64,
            Output::Part(_) => pulled.parts += 1,
            Output::Segment(segment) => {
                pulled.segments += 1;
                pulled.bytes += segment.size_bytes() as u64;
            }
        }
    }
    pulled
}

/// Pushes every access unit of `units` into `packager`, pulling as it goes.
pub fn feed<P: Packager>(packager: &mut P, units: impl IntoIterator<Item = AccessUnit>) -> Pulled {
    let mut pulled = Pulled::default();
    for au in units {
        pulled += packager.push_pull(au);
    }
    pulled
}

/// A whole stream through `packager`, ended.
pub fn segment_all<P: Packager>(mut packager: P, units: Vec<AccessUnit>) -> Pulled {
    let mut pulled = feed(&mut packager, units);
    pulled += packager.finish_pull();
    pulled
}

/// Replays `iters` GOPs of `gops` into `packager` and returns the time spent
/// in push and pull only: the replayed access units are prepared in batches
/// outside the timed part. For criterion's `iter_custom`.
pub fn time_gops<P: Packager>(packager: &mut P, gops: &mut GopLoop, iters: u64) -> Duration {
    const BATCH: u64 = 32;
    let mut batch = Vec::with_capacity(gops.len() * BATCH as usize);
    let mut elapsed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        batch.clear();
        for _ in 0..n {
            gops.next_into(&mut batch);
        }
        let start = Instant::now();
        black_box(feed(packager, batch.drain(..)));
        elapsed += start.elapsed();
        left -= n;
    }
    elapsed
}
