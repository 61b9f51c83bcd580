//! Shared inputs and instruments of the criterion benches in `benches/` and
//! the allocation tests in `tests/`.
//!
//! - [`fixtures`]: the committed FLV fixtures (compiled in) and the larger
//!   generated media in `media/` (read at run time; `scripts/make-fixtures`
//!   makes them).
//! - [`stream`]: a demuxed file, and [`GopLoop`], which replays its GOPs
//!   forever with advancing timestamps, so a segmenter can be measured in its
//!   steady state (one segment's worth of access units in, one segment out).
//! - [`packagers`]: one [`Packager`] interface over the segmenters, and the
//!   drivers the benches time.
//! - [`criterion_glue`]: the per-access-unit and per-segment measurements
//!   every segmenter gets.
//! - [`alloc_count`]: a counting global allocator and the allocation
//!   scenarios of the hot path.

pub mod alloc_count;
pub mod criterion_glue;
pub mod fixtures;
pub mod packagers;
pub mod stream;

pub use alloc_count::{AllocCounts, CountingAllocator};
pub use packagers::{Packager, Pulled};
pub use stream::{GopLoop, Stream};
