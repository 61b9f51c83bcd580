//! Nothing outlives a ladder: after `finish` + `Finished`, or a plain drop
//! (also mid-stream with a consumer that stopped reading, so encoder
//! threads are blocked on a full channel), or a `drop_rung` (which restarts
//! the FFmpeg backend's child), the GStreamer pipeline's streaming threads
//! are gone from `/proc/self/task` and no ffmpeg child (not even a zombie)
//! remains.
//!
//! One test in its own binary, so no other test's threads are counted.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gstreamer::glib;

use common::{Outcome, Source, children, config, thread_count, thread_names};
use packager::testutil::FLV_192X108_2997FPS_BFRAMES_AAC44K;
use transcode::{Backend, Ladder, Rung};

/// Most threads seen while a ladder ran.
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Threads once idle GLib pool workers are stopped. GStreamer runs
/// streaming threads on GLib thread pools: a worker whose task stopped
/// waits 0.5 s for another task of its pool, then parks in GLib's global
/// pool of unused threads for reuse by the next pipeline (at most
/// `g_thread_pool_get_max_unused_threads`, 2 by default, each retired after
/// 15 s idle). Such workers belong to no pipeline, so they are stopped here
/// before counting.
fn settled_thread_count() -> usize {
    std::thread::sleep(Duration::from_millis(600));
    glib::ThreadPool::stop_unused_threads();
    // The workers exit asynchronously.
    std::thread::sleep(Duration::from_millis(50));
    thread_count()
}

fn rungs() -> Vec<Rung> {
    vec![Rung::new("72p", 128, 72, 100), Rung::new("54p", 96, 54, 60)]
}

/// Finishes normally: `Finished` arrives, then the ladder is dropped.
fn finish(backend: Backend, source: &Source) {
    let (mut ladder, mut rx) = Ladder::start(&config(backend), &source.config, rungs()).unwrap();
    for unit in &source.units {
        ladder.push(unit).unwrap();
    }
    PEAK.fetch_max(thread_count(), Ordering::Relaxed);
    ladder.finish();
    let mut outcome = Outcome::new(2);
    outcome.drain(&mut rx, Duration::from_secs(60));
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    drop(ladder);
}

/// Drops mid-stream while the encoder threads wait on a full channel
/// nobody reads.
fn abandon(backend: Backend, source: &Source) {
    let (mut ladder, rx) = Ladder::start(&config(backend), &source.config, rungs()).unwrap();
    for unit in &source.units {
        ladder.push(unit).unwrap();
    }
    // The channel fills up (64 events, 360 coming).
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    drop(ladder);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "{backend:?}: drop took {:?}",
        t.elapsed()
    );
    drop(rx);
}

/// Drops a rung of an FFmpeg ladder: at the next keyframe a new ffmpeg
/// takes over, and the old one goes away.
fn restart(backend: Backend, source: &Source) {
    let (mut ladder, mut rx) = Ladder::start(&config(backend), &source.config, rungs()).unwrap();
    let mut outcome = Outcome::new(2);
    let next_keyframe = source.units[1..].iter().position(|u| u.keyframe).unwrap() + 1;
    for unit in &source.units[..next_keyframe] {
        ladder.push(unit).unwrap();
    }
    let before = children();
    ladder.drop_rung(1);
    ladder.push(&source.units[next_keyframe]).unwrap();
    if backend == Backend::Ffmpeg {
        let after = children();
        assert!(
            after.iter().any(|c| !before.contains(c)),
            "a new ffmpeg: {before:?} → {after:?}"
        );
    }
    for unit in &source.units[next_keyframe + 1..] {
        ladder.push(unit).unwrap();
        outcome.poll(&mut rx);
    }
    ladder.finish();
    outcome.drain(&mut rx, Duration::from_secs(60));
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(outcome.renditions[0].units.len(), source.units.len());
    drop(ladder);
}

#[test]
fn nothing_outlives_a_ladder() {
    let source = Source::fixture(FLV_192X108_2997FPS_BFRAMES_AAC44K);
    // Warm up: GStreamer's registry, ffmpeg's encoder check, glib's
    // global threads.
    finish(Backend::Gstreamer, &source);
    finish(Backend::Ffmpeg, &source);
    let baseline = settled_thread_count();
    let names = thread_names();
    assert!(baseline <= 2, "only the harness and the test: {names:?}");

    for backend in [Backend::Gstreamer, Backend::Ffmpeg] {
        for (what, run) in [
            ("finish", finish as fn(Backend, &Source)),
            ("abandon", abandon),
            ("restart", restart),
        ] {
            run(backend, &source);
            // Threads that were joined can take a moment to leave /proc.
            assert!(
                settled_thread_count() <= baseline,
                "{backend:?} {what}: {} threads, {baseline} before\nbefore: {names:?}\nafter: {:?}",
                thread_count(),
                thread_names()
            );
            assert!(
                children().is_empty(),
                "{backend:?} {what}: children left: {:?}",
                children()
            );
        }
    }
    // The count did see the ladders' threads.
    assert!(PEAK.load(Ordering::Relaxed) > baseline + 4);
}
