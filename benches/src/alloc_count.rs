//! A global allocator that counts, per thread, the allocations made through
//! it, so a test or bench binary can check what a code path allocates:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: CountingAllocator = CountingAllocator;
//!
//! let (segments, counts) = aethex_benches::alloc_count::measure(|| segment_all());
//! ```
//!
//! Counting is per thread so that the test harness's and criterion's other
//! threads don't leak into the numbers. Only binaries that install it pay for
//! it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use av::AccessUnit;

use crate::GopLoop;
use crate::packagers::{Packager, Pulled, feed, segment_all};

/// What a thread allocated.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct AllocCounts {
    /// Calls to `alloc`/`alloc_zeroed`.
    pub allocs: u64,
    /// Calls to `realloc` (a growing `Vec` or `BytesMut`).
    pub reallocs: u64,
    /// Calls to `dealloc`.
    pub deallocs: u64,
    /// Bytes requested by `alloc` and by the growth of `realloc`.
    pub bytes: u64,
}

impl AllocCounts {
    /// Allocations and reallocations: each one is a trip into the allocator
    /// that may take a lock or touch fresh memory.
    pub fn allocations(&self) -> u64 {
        self.allocs + self.reallocs
    }

    fn since(self, earlier: AllocCounts) -> AllocCounts {
        AllocCounts {
            allocs: self.allocs - earlier.allocs,
            reallocs: self.reallocs - earlier.reallocs,
            deallocs: self.deallocs - earlier.deallocs,
            bytes: self.bytes - earlier.bytes,
        }
    }
}

thread_local! {
    // Const-initialized, no destructor: accessing it never allocates, so the
    // allocator may use it.
    static COUNTS: Cell<AllocCounts> = const {
        Cell::new(AllocCounts { allocs: 0, reallocs: 0, deallocs: 0, bytes: 0 })
    };
}

fn bump(f: impl FnOnce(&mut AllocCounts)) {
    // `try_with`: during thread teardown the slot may be gone; not counting
    // then is fine.
    let _ = COUNTS.try_with(|c| {
        let mut counts = c.get();
        f(&mut counts);
        c.set(counts);
    });
}

/// The system allocator, counting. Install it with `#[global_allocator]`.
pub struct CountingAllocator;

// SAFETY: every call is forwarded unchanged to `System`; the counting touches
// only a thread-local `Cell`.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(|c| {
            c.allocs += 1;
            c.bytes += layout.size() as u64;
        });
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump(|c| {
            c.allocs += 1;
            c.bytes += layout.size() as u64;
        });
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        bump(|c| c.deallocs += 1);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(|c| {
            c.reallocs += 1;
            c.bytes += new_size.saturating_sub(layout.size()) as u64;
        });
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// This thread's counts so far (all zero unless [`CountingAllocator`] is the
/// global allocator).
pub fn current() -> AllocCounts {
    COUNTS.try_with(Cell::get).unwrap_or_default()
}

/// Runs `f` and returns what it allocated on this thread.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, AllocCounts) {
    let before = current();
    let out = f();
    (out, current().since(before))
}

/// Allocations of a packager over some access units.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PackagerAllocs {
    pub counts: AllocCounts,
    /// Access units pushed.
    pub units: u64,
    pub pulled: Pulled,
}

impl PackagerAllocs {
    /// Allocations (and reallocations) per access unit pushed.
    pub fn per_unit(&self) -> f64 {
        self.counts.allocations() as f64 / self.units.max(1) as f64
    }

    /// Allocations (and reallocations) per segment pulled.
    pub fn per_segment(&self) -> f64 {
        self.counts.allocations() as f64 / self.pulled.segments.max(1) as f64
    }

    /// Allocations (and reallocations) per 188-byte TS packet written
    /// (meaningful for MPEG-TS output).
    pub fn per_ts_packet(&self) -> f64 {
        let packets = self.pulled.bytes / 188;
        self.counts.allocations() as f64 / packets.max(1) as f64
    }
}

/// The live steady state: `warmup` GOPs replayed into `packager` uncounted
/// (buffers reach their working size), then `gops` GOPs counted.
pub fn steady_state<P: Packager>(
    packager: &mut P,
    loop_: &mut GopLoop,
    warmup: u64,
    gops: u64,
) -> PackagerAllocs {
    let mut units = Vec::new();
    for _ in 0..warmup {
        loop_.next_into(&mut units);
    }
    feed(packager, units.drain(..));
    for _ in 0..gops {
        loop_.next_into(&mut units);
    }
    let n = units.len() as u64;
    // The `Vec` being drained frees nothing until after the measurement.
    let (pulled, counts) = measure(|| feed(packager, units.drain(..)));
    PackagerAllocs {
        counts,
        units: n,
        pulled,
    }
}

/// A whole stream through a fresh `packager` (start-up and end included).
pub fn whole_stream<P: Packager>(packager: P, units: Vec<AccessUnit>) -> PackagerAllocs {
    let n = units.len() as u64;
    let (pulled, counts) = measure(|| segment_all(packager, units));
    PackagerAllocs {
        counts,
        units: n,
        pulled,
    }
}
