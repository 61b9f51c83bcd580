//! The output side shared by both backends: the event channel with
//! cancellable backpressure, progress counters for [`crate::Ladder::lag`],
//! and [`RungOutput`], which turns one rendition's encoded frames into
//! [`LadderEvent`]s.
//!
//! Encoder threads (GStreamer streaming threads, FFmpeg pipe readers) block
//! when the consumer lags: that is the backpressure. A blocked thread must
//! still let go when the ladder is torn down, or setting the pipeline to
//! NULL (which joins its streaming threads) would wait forever; so a send
//! waits on the channel *or* the shutdown signal, whichever comes first.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use av::{AccessUnit, H264Config, Time90k, TrackKind};
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::LadderEvent;

/// Events a ladder buffers before its encoder threads block.
pub(crate) const EVENT_CAPACITY: usize = 64;

/// Runs a future to completion on the current (non-async) thread.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unparker(Thread);
    impl Wake for Unparker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

/// The ladder's side of the event channel, plus the shutdown signal.
#[derive(Clone)]
pub(crate) struct EventSender {
    tx: mpsc::Sender<LadderEvent>,
    shutdown: watch::Receiver<bool>,
}

impl EventSender {
    /// A channel and the switch that cancels blocked sends.
    pub(crate) fn channel() -> (Self, mpsc::Receiver<LadderEvent>, watch::Sender<bool>) {
        let (tx, rx) = mpsc::channel(EVENT_CAPACITY);
        let (shutdown_tx, shutdown) = watch::channel(false);
        (EventSender { tx, shutdown }, rx, shutdown_tx)
    }

    /// Sends, waiting while the channel is full. False when the ladder is
    /// shutting down or the receiver is gone: the caller stops producing.
    /// Never call from an async task.
    pub(crate) fn send(&self, event: LadderEvent) -> bool {
        if self.is_shut_down() {
            return false;
        }
        let event = match self.tx.try_send(event) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
            Err(mpsc::error::TrySendError::Full(event)) => event,
        };
        let mut shutdown = self.shutdown.clone();
        block_on(async {
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|down| *down) => false,
                permit = self.tx.reserve() => match permit {
                    Ok(permit) => {
                        permit.send(event);
                        true
                    }
                    Err(_) => false,
                },
            }
        })
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// Counters behind [`crate::Ladder::lag`] and the per-rung drop switches.
pub(crate) struct Progress {
    /// Newest source presentation time pushed, ticks; `i64::MIN` before any.
    pub(crate) in_pts: AtomicI64,
    /// First source presentation time pushed, ticks.
    first_in_pts: AtomicI64,
    rungs: Vec<RungProgress>,
}

struct RungProgress {
    /// Newest presentation time out, ticks; `i64::MIN` before any.
    out_pts: AtomicI64,
    dropped: AtomicBool,
}

impl Progress {
    pub(crate) fn new(rungs: usize) -> Arc<Self> {
        Arc::new(Progress {
            in_pts: AtomicI64::new(i64::MIN),
            first_in_pts: AtomicI64::new(i64::MIN),
            rungs: (0..rungs)
                .map(|_| RungProgress {
                    out_pts: AtomicI64::new(i64::MIN),
                    dropped: AtomicBool::new(false),
                })
                .collect(),
        })
    }

    pub(crate) fn pushed(&self, pts: Time90k) {
        let _ = self.first_in_pts.compare_exchange(
            i64::MIN,
            pts.0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.in_pts.fetch_max(pts.0, Ordering::Relaxed);
    }

    pub(crate) fn drop_rung(&self, rung: usize) {
        if let Some(r) = self.rungs.get(rung) {
            r.dropped.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn is_dropped(&self, rung: usize) -> bool {
        self.rungs
            .get(rung)
            .is_none_or(|r| r.dropped.load(Ordering::Relaxed))
    }

    /// Source media time pushed but not yet out of the slowest active rung.
    pub(crate) fn lag(&self) -> Time90k {
        let in_pts = self.in_pts.load(Ordering::Relaxed);
        if in_pts == i64::MIN {
            return Time90k::ZERO;
        }
        let first = self.first_in_pts.load(Ordering::Relaxed);
        let slowest = self
            .rungs
            .iter()
            .filter(|r| !r.dropped.load(Ordering::Relaxed))
            .map(|r| match r.out_pts.load(Ordering::Relaxed) {
                i64::MIN => first,
                out => out,
            })
            .min();
        slowest.map_or(Time90k::ZERO, |out| Time90k((in_pts - out).max(0)))
    }

    fn emitted(&self, rung: usize, pts: Time90k) {
        if let Some(r) = self.rungs.get(rung) {
            r.out_pts.fetch_max(pts.0, Ordering::Relaxed);
        }
    }
}

/// Where one rendition's encoded frames go: checks and normalizes them and
/// sends `Config` / `Unit` events.
pub(crate) struct RungOutput {
    rung: usize,
    events: EventSender,
    progress: Arc<Progress>,
    /// The last configuration sent, to send a new one only on change.
    config: Option<Bytes>,
    last_dts: Option<Time90k>,
}

impl RungOutput {
    pub(crate) fn new(rung: usize, events: EventSender, progress: Arc<Progress>) -> Self {
        RungOutput {
            rung,
            events,
            progress,
            config: None,
            last_dts: None,
        }
    }

    /// A codec configuration (`avcC`) from the encoder; sent when it differs
    /// from the last one. False to stop producing.
    pub(crate) fn config(&mut self, avcc: Bytes) -> Result<bool, av::Error> {
        if self.config.as_ref() == Some(&avcc) {
            return Ok(true);
        }
        let config = H264Config::from_avcc(avcc.clone())?;
        if config.nal_length_size != 4 {
            return Err(av::Error::Invalid {
                what: "encoder avcC",
                detail: format!("{}-byte NAL lengths", config.nal_length_size),
            });
        }
        self.config = Some(avcc);
        if self.progress.is_dropped(self.rung) {
            return Ok(!self.events.is_shut_down());
        }
        Ok(self.events.send(LadderEvent::Config {
            rung: self.rung,
            config,
        }))
    }

    /// One encoded frame. DTS is kept non-decreasing and never after PTS.
    /// Frames of a dropped rung are discarded. False to stop producing.
    pub(crate) fn unit(&mut self, pts: Time90k, dts: Time90k, keyframe: bool, data: Bytes) -> bool {
        if self.progress.is_dropped(self.rung) {
            return !self.events.is_shut_down();
        }
        let mut dts = dts.min(pts);
        if let Some(last) = self.last_dts {
            dts = dts.max(last);
        }
        self.last_dts = Some(dts);
        self.progress.emitted(self.rung, pts);
        self.events.send(LadderEvent::Unit {
            rung: self.rung,
            unit: AccessUnit {
                track: TrackKind::Video,
                pts,
                dts,
                keyframe,
                data,
            },
        })
    }
}

/// The last lines a child process or pipeline wrote, for error messages.
#[derive(Default)]
pub(crate) struct LastLines {
    lines: Mutex<Vec<String>>,
}

impl LastLines {
    const KEEP: usize = 12;

    pub(crate) fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == Self::KEEP {
            lines.remove(0);
        }
        lines.push(line);
    }

    pub(crate) fn joined(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.join(" | ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn blocked_send_is_cancelled_by_shutdown() {
        let (sender, mut rx, shutdown) = EventSender::channel();
        for _ in 0..EVENT_CAPACITY {
            assert!(sender.send(LadderEvent::Finished));
        }
        let blocked = {
            let sender = sender.clone();
            thread::spawn(move || sender.send(LadderEvent::Finished))
        };
        thread::sleep(Duration::from_millis(50));
        assert!(!blocked.is_finished());
        // Room frees: the blocked send completes.
        assert!(rx.try_recv().is_ok());
        assert!(blocked.join().unwrap());
        let blocked = {
            let sender = sender.clone();
            thread::spawn(move || sender.send(LadderEvent::Finished))
        };
        thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        shutdown.send_replace(true);
        assert!(!blocked.join().unwrap());
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(!sender.send(LadderEvent::Finished));
    }

    #[test]
    fn send_fails_when_the_receiver_is_gone() {
        let (sender, rx, _shutdown) = EventSender::channel();
        drop(rx);
        assert!(!sender.send(LadderEvent::Finished));
    }

    #[test]
    fn lag_follows_the_slowest_active_rung() {
        let p = Progress::new(2);
        assert_eq!(p.lag(), Time90k::ZERO);
        p.pushed(Time90k(1000));
        p.pushed(Time90k(91_000));
        assert_eq!(p.lag(), Time90k(90_000));
        p.emitted(0, Time90k(91_000));
        assert_eq!(p.lag(), Time90k(90_000));
        p.emitted(1, Time90k(46_000));
        assert_eq!(p.lag(), Time90k(45_000));
        p.drop_rung(1);
        assert_eq!(p.lag(), Time90k::ZERO);
        p.drop_rung(0);
        assert_eq!(p.lag(), Time90k::ZERO);
    }
}
