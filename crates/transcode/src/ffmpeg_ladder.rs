//! The FFmpeg backend: one `ffmpeg` child per stream, for hardware encoders.
//!
//! ```text
//! push ─▶ writer thread ─FLV─▶ stdin ─▶ ffmpeg: decode once, split, scale,
//!                                        encode per rung ─FLV─▶ fd 3, 4, … ─▶ reader thread per rung ─▶ events
//! ```
//!
//! The source goes in as FLV (our [`crate::flv_writer`]); each rung comes
//! back as FLV on its own pipe, dup'ed to fd 3 + rung in the child, parsed
//! with `av`'s FLV demuxer.
//!
//! Timestamps: `-copyts` keeps the input timestamps, `-fps_mode passthrough`
//! keeps every frame as it is, and `-enc_time_base 1:1000` keeps the
//! encoder on FLV's millisecond clock instead of a frame-rate grid. FLV
//! carries milliseconds, so the writer remembers which exact source PTS each
//! millisecond stood for and the readers map output PTS back through that
//! table: renditions carry the source's PTS to the tick.
//!
//! Keyframe alignment: `-force_key_frames source` makes the encoder emit a
//! keyframe exactly on the frames that were keyframes in the input, and
//! `-forced-idr 1` (or the encoder's equivalent) makes it an IDR;
//! `-g` 1000000 and scene-cut detection off mean no other keyframes.
//!
//! Dropping a rung: ffmpeg cannot stop one output of a running filter
//! graph, so until the next source keyframe the rung's frames are
//! discarded, and at that keyframe a new ffmpeg for the remaining rungs
//! takes over (a "generation") while the old one is told to finish. Each
//! rung's output state passes from the old reader thread to the new one
//! when the old one is done, so events stay in order, and both encoders
//! have an IDR at that keyframe, so nothing is lost or doubled.
//!
//! Teardown: [`FfmpegLadder::finish`] closes ffmpeg's stdin; ffmpeg flushes
//! and exits; the supervisor thread reaps it once every output pipe is at
//! EOF, joins the supervisors of retired generations and sends `Finished`.
//! `Drop` kills and reaps every child itself, which ends every pipe, then
//! joins all threads.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use av::{AccessUnit, DemuxEvent, FlvDemuxer, H264Config, Time90k};
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::config::min_frame_interval_s;
use crate::flv_writer::{FILE_HEADER, previous_tag_size, sequence_header, video_tag_prefix};
use crate::ladder::Timeline;
use crate::output::{EventSender, LastLines, Progress, RungOutput};
use crate::{Error, LadderEvent, Result, Rung, TranscodeConfig};

/// Keyframe interval that never triggers (x264 and the hardware encoders
/// accept it).
const GOP_NEVER: &str = "1000000";
/// The VA-API render node the `h264_vaapi` encoder uses.
const VAAPI_DEVICE: &str = "/dev/dri/renderD128";
/// How long the encoder check may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long ffmpeg may take to exit after closing its outputs.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);
/// Source PTS remembered for mapping output milliseconds back (ticks).
const PTS_MEMORY: i64 = 300 * Time90k::HZ;

/// Exact source PTS by the FLV millisecond timestamp it was written as.
type PtsMap = Arc<Mutex<BTreeMap<i64, Time90k>>>;
type SharedChild = Arc<Mutex<Option<Child>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One rung's [`RungOutput`], handed from a generation's reader thread to
/// the next generation's, so that a rung's events stay in order across a
/// restart: the new reader starts only once the old one has returned it.
#[derive(Default)]
struct Baton {
    output: Mutex<Option<RungOutput>>,
    returned: Condvar,
}

impl Baton {
    fn new(output: RungOutput) -> Arc<Self> {
        Arc::new(Baton {
            output: Mutex::new(Some(output)),
            returned: Condvar::new(),
        })
    }

    /// Waits for the previous holder to finish. Bounded: the previous
    /// holder reads a pipe of an ffmpeg that has been told to finish, or
    /// has been killed.
    fn take(&self) -> RungOutput {
        let mut slot = lock(&self.output);
        loop {
            if let Some(output) = slot.take() {
                return output;
            }
            slot = self.returned.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn put(&self, output: RungOutput) {
        *lock(&self.output) = Some(output);
        self.returned.notify_all();
    }
}

/// One ffmpeg child and its input side.
struct Generation {
    /// Units for the writer thread; `None` once finished (stdin closes).
    input: Option<std::sync::mpsc::Sender<AccessUnit>>,
    child: SharedChild,
    writer: Option<JoinHandle<()>>,
    /// Set when a newer generation took over: the supervisor then reports
    /// failures but not `Finished`.
    retired: Arc<AtomicBool>,
}

/// What every generation shares.
struct Shared {
    config: TranscodeConfig,
    source: H264Config,
    rungs: Vec<Rung>,
    header: Vec<u8>,
    events: EventSender,
    progress: Arc<Progress>,
    timeline: Arc<OnceLock<Timeline>>,
    pts_map: PtsMap,
    batons: Vec<Arc<Baton>>,
    /// Supervisors of retired generations; the current supervisor joins
    /// them before `Finished`, so no process of the ladder outlives it.
    retired_supervisors: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// A generation failed: the ladder is over.
    failed: Arc<AtomicBool>,
}

pub(crate) struct FfmpegLadder {
    shared: Shared,
    /// Oldest first; the last one is current.
    generations: Vec<Generation>,
    supervisor: Option<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
    /// A rung was dropped: restart without it at the next keyframe.
    restart_pending: bool,
}

impl FfmpegLadder {
    pub(crate) fn start(
        config: &TranscodeConfig,
        source: &H264Config,
        rungs: &[Rung],
        progress: Arc<Progress>,
    ) -> Result<(Self, mpsc::Receiver<LadderEvent>)> {
        check_encoder(&config.ffmpeg_path, &config.ffmpeg_encoder)?;
        let (events, rx, shutdown) = EventSender::channel();
        let batons = (0..rungs.len())
            .map(|i| Baton::new(RungOutput::new(i, events.clone(), progress.clone())))
            .collect();
        let shared = Shared {
            config: config.clone(),
            source: source.clone(),
            rungs: rungs.to_vec(),
            header: sequence_header(source)?,
            events,
            progress,
            timeline: Arc::new(OnceLock::new()),
            pts_map: Arc::default(),
            batons,
            retired_supervisors: Arc::default(),
            failed: Arc::default(),
        };
        let mut ladder = FfmpegLadder {
            shared,
            generations: Vec::new(),
            supervisor: None,
            shutdown,
            restart_pending: false,
        };
        let all: Vec<usize> = (0..rungs.len()).collect();
        ladder.spawn_generation(&all)?;
        Ok((ladder, rx))
    }

    /// Starts an ffmpeg child encoding rungs `active` (ladder indices) and
    /// makes it current. On error, what was started is left to `Drop`.
    fn spawn_generation(&mut self, active: &[usize]) -> Result<()> {
        let shared = &self.shared;
        let rungs: Vec<Rung> = active.iter().map(|&i| shared.rungs[i].clone()).collect();
        let args = ffmpeg_args(&shared.config, &shared.source, &rungs);
        let ffmpeg = &shared.config.ffmpeg_path;

        // Output pipes: the write ends go to the child as fd 3, 4, …
        // First they are duplicated above that range (close-on-exec), so
        // that no dup2 in the child overwrites a descriptor still to be
        // duplicated.
        let mut readers = Vec::with_capacity(rungs.len());
        let mut child_fds: Vec<OwnedFd> = Vec::with_capacity(rungs.len());
        let lowest_free = 3 + rungs.len() as i32;
        for _ in &rungs {
            let (reader, writer) = io::pipe()?;
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor we own returns
            // a new descriptor that nothing else owns.
            let fd = unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_DUPFD_CLOEXEC, lowest_free) };
            if fd < 0 {
                return Err(io::Error::last_os_error().into());
            }
            // SAFETY: `fd` was just returned by fcntl and is owned by nobody else.
            child_fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            readers.push(reader);
        }
        let raw_fds: Vec<i32> = child_fds.iter().map(|f| f.as_raw_fd()).collect();
        let mut command = Command::new(ffmpeg);
        command
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: the closure only calls dup2, which is async-signal-safe,
        // on descriptors that stay open until after spawn returns.
        unsafe {
            command.pre_exec(move || {
                for (i, fd) in raw_fds.iter().enumerate() {
                    if libc::dup2(*fd, 3 + i as i32) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        tracing::debug!(command = %format!("{ffmpeg} {}", args.join(" ")), "starting ffmpeg ladder");
        let mut child = command.spawn().map_err(|source| Error::Spawn {
            path: ffmpeg.clone(),
            source,
        })?;
        // The parent's copies of the write ends must close, or the readers
        // never see EOF.
        drop(child_fds);
        let (Some(stdin), Some(stderr)) = (child.stdin.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Ffmpeg("no stdin/stderr pipe".into()));
        };
        let child: SharedChild = Arc::new(Mutex::new(Some(child)));
        let (tx, input_rx) = std::sync::mpsc::channel();
        // From here on, an error leaves a generation that Drop kills, which
        // ends every thread started for it.
        self.generations.push(Generation {
            input: Some(tx),
            child: child.clone(),
            writer: None,
            retired: Arc::default(),
        });
        let (header, timeline, map) = (
            shared.header.clone(),
            shared.timeline.clone(),
            shared.pts_map.clone(),
        );
        let writer = spawn("ladder-ffmpeg-in", move || {
            write_input(stdin, &header, input_rx, &timeline, &map)
        })?;
        let current = self.generations.len() - 1;
        self.generations[current].writer = Some(writer);

        let mut reader_threads = Vec::with_capacity(rungs.len());
        for (reader, &rung) in readers.into_iter().zip(active) {
            let baton = shared.batons[rung].clone();
            let (timeline, map, reader_child) = (
                shared.timeline.clone(),
                shared.pts_map.clone(),
                child.clone(),
            );
            let thread = spawn(&format!("ladder-ffmpeg-{rung}"), move || {
                let mut output = baton.take();
                let result = read_rung(reader, &mut output, &timeline, &map);
                baton.put(output);
                if !matches!(result, Ok(Stop::Eof)) {
                    // Nobody drains this pipe any more: stop ffmpeg rather
                    // than let it block writing to it.
                    if let Some(c) = lock(&reader_child).as_mut() {
                        let _ = c.kill();
                    }
                }
                result.err()
            });
            match thread {
                Ok(t) => reader_threads.push(t),
                Err(e) => {
                    if let Some(c) = lock(&child).as_mut() {
                        let _ = c.kill();
                    }
                    for t in reader_threads {
                        let _ = t.join();
                    }
                    return Err(e.into());
                }
            }
        }
        let lines = Arc::new(LastLines::default());
        let stderr_lines = lines.clone();
        let stderr_thread = spawn("ladder-ffmpeg-err", move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                tracing::debug!(line = %line, "ffmpeg");
                stderr_lines.push(line);
            }
        });
        let supervision = Supervision {
            readers: reader_threads,
            child,
            events: shared.events.clone(),
            lines,
            encoder: shared.config.ffmpeg_encoder.clone(),
            retired: self.generations[current].retired.clone(),
            retired_supervisors: shared.retired_supervisors.clone(),
            failed: shared.failed.clone(),
        };
        let supervisor = stderr_thread.and_then(|stderr_thread| {
            spawn("ladder-ffmpeg", move || supervision.run(stderr_thread))
        })?;
        if let Some(previous) = self.supervisor.replace(supervisor) {
            lock(&shared.retired_supervisors).push(previous);
        }
        Ok(())
    }

    pub(crate) fn push(&mut self, unit: &AccessUnit) -> Result<()> {
        if self.shared.failed.load(Ordering::Relaxed) {
            return Err(Error::Finished);
        }
        let timeline = *self.shared.timeline.get_or_init(|| Timeline::new(unit.dts));
        // Checked here so the caller hears of timestamps FLV cannot carry.
        timeline.to_ms(unit.dts, "DTS")?;
        timeline.to_ms(unit.pts, "PTS")?;
        if self.restart_pending && unit.keyframe {
            self.restart()?;
        }
        let input = self
            .generations
            .last()
            .and_then(|g| g.input.as_ref())
            .ok_or(Error::Finished)?;
        input.send(unit.clone()).map_err(|_| Error::Finished)
    }

    /// At a source keyframe: a new ffmpeg for the rungs still wanted takes
    /// over from here, and the current one is told to finish. Its last GOP
    /// and the new one's first meet at this keyframe, where every rung has
    /// an IDR anyway.
    fn restart(&mut self) -> Result<()> {
        self.restart_pending = false;
        let active: Vec<usize> = (0..self.shared.rungs.len())
            .filter(|&i| !self.shared.progress.is_dropped(i))
            .collect();
        if active.is_empty() {
            // Nothing left to encode; the caller finishes the ladder.
            return Ok(());
        }
        let old = self.generations.len() - 1;
        self.spawn_generation(&active)?;
        let old = &mut self.generations[old];
        old.retired.store(true, Ordering::Relaxed);
        old.input = None;
        tracing::debug!(
            rungs = active.len(),
            "ffmpeg ladder restarted without dropped rungs"
        );
        Ok(())
    }

    pub(crate) fn drop_rung(&mut self, _rung: usize) {
        // ffmpeg cannot stop one output of a running filter graph: until the
        // next keyframe the rung's frames are discarded (by its
        // `RungOutput`), then ffmpeg is restarted without it.
        self.restart_pending = true;
    }

    pub(crate) fn finish(&mut self) {
        if let Some(g) = self.generations.last_mut() {
            g.input = None;
        }
    }
}

impl Drop for FfmpegLadder {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        for g in &mut self.generations {
            g.input = None;
            if let Some(mut c) = lock(&g.child).take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for g in &mut self.generations {
            if let Some(t) = g.writer.take() {
                let _ = t.join();
            }
        }
        if let Some(t) = self.supervisor.take() {
            let _ = t.join();
        }
        let retired = std::mem::take(&mut *lock(&self.shared.retired_supervisors));
        for t in retired {
            let _ = t.join();
        }
    }
}

/// The writer thread: the FLV header and sequence header, then one tag per
/// unit, flushed each time (live latency). Ends when the sender is dropped
/// (finish) or ffmpeg stops reading; closing stdin is ffmpeg's EOF.
fn write_input(
    stdin: ChildStdin,
    header: &[u8],
    units: std::sync::mpsc::Receiver<AccessUnit>,
    timeline: &OnceLock<Timeline>,
    pts_map: &Mutex<BTreeMap<i64, Time90k>>,
) {
    let mut out = BufWriter::with_capacity(64 * 1024, stdin);
    let result = (|| -> Result<()> {
        out.write_all(&FILE_HEADER)?;
        out.write_all(header)?;
        out.flush()?;
        for unit in units {
            let Some(timeline) = timeline.get() else {
                continue;
            };
            let dts_ms = timeline.to_ms(unit.dts, "DTS")?;
            let pts_ms = timeline.to_ms(unit.pts, "PTS")?;
            {
                let mut map = lock(pts_map);
                map.insert(pts_ms as i64, unit.pts);
                let oldest = pts_ms as i64 - PTS_MEMORY / 90;
                while map.first_key_value().is_some_and(|(&ms, _)| ms < oldest) {
                    map.pop_first();
                }
            }
            let cts_ms = pts_ms as i64 - dts_ms as i64;
            out.write_all(&video_tag_prefix(
                dts_ms,
                unit.keyframe,
                1,
                cts_ms,
                unit.data.len(),
            )?)?;
            out.write_all(&unit.data)?;
            out.write_all(&previous_tag_size(unit.data.len()))?;
            out.flush()?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        // ffmpeg exited or failed; the supervisor reports why.
        tracing::debug!(error = %e, "ffmpeg ladder input stopped");
    }
}

/// Why a reader stopped.
#[derive(Debug)]
enum Stop {
    /// ffmpeg closed the output.
    Eof,
    /// The ladder is shutting down or nobody receives events.
    Unwanted,
}

/// A reader thread: one rung's FLV from ffmpeg → events. An error names
/// what was wrong.
fn read_rung(
    reader: io::PipeReader,
    output: &mut RungOutput,
    timeline: &OnceLock<Timeline>,
    pts_map: &Mutex<BTreeMap<i64, Time90k>>,
) -> Result<Stop, String> {
    let mut r = BufReader::with_capacity(256 * 1024, reader);
    let mut header = [0u8; 9];
    match r.read_exact(&mut header) {
        Ok(()) => {}
        // ffmpeg failed before writing anything; its stderr says why.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Stop::Eof),
        Err(e) => return Err(e.to_string()),
    }
    if &header[..3] != b"FLV" {
        return Err("output is not FLV".into());
    }
    let offset = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as u64;
    // The rest of the header, then PreviousTagSize0.
    io::copy(
        &mut (&mut r).take(offset.saturating_sub(9) + 4),
        &mut io::sink(),
    )
    .map_err(|e| e.to_string())?;
    let mut demuxer = FlvDemuxer::new();
    let mut tag_header = [0u8; 11];
    loop {
        match r.read_exact(&mut tag_header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Stop::Eof),
            Err(e) => return Err(e.to_string()),
        }
        let size = u32::from_be_bytes([0, tag_header[1], tag_header[2], tag_header[3]]) as usize;
        let ts = u32::from_be_bytes([tag_header[7], tag_header[4], tag_header[5], tag_header[6]]);
        let mut body = vec![0u8; size + 4];
        r.read_exact(&mut body)
            .map_err(|e| format!("truncated FLV tag: {e}"))?;
        body.truncate(size);
        if tag_header[0] & 0x1f != 9 {
            continue;
        }
        let keep_going = match demuxer
            .push_video(ts, Bytes::from(body))
            .map_err(|e| e.to_string())?
        {
            Some(DemuxEvent::VideoConfig(c)) => output.config(c.avcc).map_err(|e| e.to_string())?,
            Some(DemuxEvent::Unit(unit)) => {
                let timeline = timeline.get().ok_or("output before input")?;
                // The demuxer's clock is FLV milliseconds × 90.
                let pts_ms = unit.pts.0.div_euclid(90);
                let dts_ms = unit.dts.0.div_euclid(90);
                let pts = lock(pts_map)
                    .get(&pts_ms)
                    .copied()
                    .unwrap_or_else(|| timeline.time_of_ms(pts_ms));
                let dts = if dts_ms == pts_ms {
                    pts
                } else {
                    timeline.time_of_ms(dts_ms)
                };
                output.unit(pts, dts, unit.keyframe, unit.data)
            }
            Some(DemuxEvent::AudioConfig(_)) | None => true,
        };
        if !keep_going {
            return Ok(Stop::Unwanted);
        }
    }
}

/// What a generation's supervisor thread watches.
struct Supervision {
    readers: Vec<JoinHandle<Option<String>>>,
    child: SharedChild,
    events: EventSender,
    lines: Arc<LastLines>,
    encoder: String,
    retired: Arc<AtomicBool>,
    retired_supervisors: Arc<Mutex<Vec<JoinHandle<()>>>>,
    failed: Arc<AtomicBool>,
}

impl Supervision {
    /// Waits for every output to end, reaps ffmpeg, reports a failure, and,
    /// for the current generation, joins the retired ones and sends
    /// `Finished`. Silent when the ladder was dropped (Drop reaps).
    fn run(self, stderr: JoinHandle<()>) {
        let mut errors: Vec<String> = self
            .readers
            .into_iter()
            .filter_map(|t| t.join().unwrap_or_else(|_| Some("reader panicked".into())))
            .collect();
        let started = Instant::now();
        let status = loop {
            let mut guard = lock(&self.child);
            let Some(c) = guard.as_mut() else {
                return;
            };
            match c.try_wait() {
                Ok(Some(status)) => {
                    guard.take();
                    break Some(status);
                }
                Ok(None) if started.elapsed() > EXIT_TIMEOUT => {
                    // Outputs closed but the process lingers: end it.
                    let _ = c.kill();
                    let status = c.wait().ok();
                    guard.take();
                    errors.push("ffmpeg did not exit after closing its outputs".into());
                    break status;
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = c.kill();
                    let _ = c.wait();
                    guard.take();
                    errors.push(format!("waiting for ffmpeg: {e}"));
                    break None;
                }
            }
            drop(guard);
            std::thread::sleep(Duration::from_millis(5));
        };
        let _ = stderr.join();
        if self.events.is_shut_down() {
            return;
        }
        if let Some(status) = status.filter(|s| !s.success()) {
            errors.insert(0, format!("ffmpeg ({}) exited with {status}", self.encoder));
        }
        if !errors.is_empty() {
            let stderr = self.lines.joined();
            let mut message = errors.join("; ");
            if !stderr.is_empty() {
                message = format!("{message}: {stderr}");
            }
            tracing::warn!(error = %message, "ffmpeg ladder failed");
            self.failed.store(true, Ordering::Relaxed);
            self.events.send(LadderEvent::Error(message));
        }
        if self.retired.load(Ordering::Relaxed) && !self.failed.load(Ordering::Relaxed) {
            return;
        }
        let retired = std::mem::take(&mut *lock(&self.retired_supervisors));
        for t in retired {
            let _ = t.join();
        }
        self.events.send(LadderEvent::Finished);
    }
}

/// Checks once per process and (path, encoder) that ffmpeg runs and can
/// open the encoder, with a three-frame test encode.
/// Checks, once per process, that `ffmpeg` runs and its encoder works.
pub(crate) fn preflight(config: &TranscodeConfig) -> Result<()> {
    check_encoder(&config.ffmpeg_path, &config.ffmpeg_encoder)
}

fn check_encoder(ffmpeg: &str, encoder: &str) -> Result<()> {
    static CHECKED: Mutex<Option<HashSet<(String, String)>>> = Mutex::new(None);
    let key = (ffmpeg.to_owned(), encoder.to_owned());
    if lock(&CHECKED).as_ref().is_some_and(|s| s.contains(&key)) {
        return Ok(());
    }
    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "error"]
        .map(String::from)
        .to_vec();
    if encoder == "h264_vaapi" {
        args.extend(["-vaapi_device".into(), VAAPI_DEVICE.into()]);
    }
    args.extend(
        [
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=256x144:r=30:d=1",
            "-vf",
            pixel_format_filter(encoder),
            "-frames:v",
            "3",
            "-c:v",
            encoder,
            "-f",
            "null",
            "-",
        ]
        .map(String::from),
    );
    let mut child = Command::new(ffmpeg)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            path: ffmpeg.to_owned(),
            source,
        })?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait()? {
            Some(status) => break Some(status),
            None if started.elapsed() > PROBE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    match status {
        Some(s) if s.success() => {
            lock(&CHECKED).get_or_insert_with(HashSet::new).insert(key);
            Ok(())
        }
        Some(s) => Err(Error::EncoderUnavailable {
            encoder: encoder.to_owned(),
            message: format!(
                "test encode exited with {s}: {}",
                stderr.trim().lines().collect::<Vec<_>>().join(" | ")
            ),
        }),
        None => Err(Error::EncoderUnavailable {
            encoder: encoder.to_owned(),
            message: format!("test encode did not finish in {PROBE_TIMEOUT:?}"),
        }),
    }
}

/// The filter that hands frames to `encoder` in a pixel format it takes.
fn pixel_format_filter(encoder: &str) -> &'static str {
    match encoder {
        "h264_vaapi" => "format=nv12,hwupload",
        "h264_qsv" => "format=nv12",
        _ => "format=yuv420p",
    }
}

/// The ffmpeg command line after the program name.
pub(crate) fn ffmpeg_args(
    config: &TranscodeConfig,
    source: &H264Config,
    rungs: &[Rung],
) -> Vec<String> {
    let encoder = config.ffmpeg_encoder.as_str();
    let mut args: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));
    push(&["-hide_banner", "-nostdin", "-loglevel", "error"]);
    if encoder == "h264_vaapi" {
        push(&["-vaapi_device", VAAPI_DEVICE]);
    }
    // Start encoding as soon as the first frames arrive, rather than after
    // probing seconds of input: the avcC says all ffmpeg needs.
    push(&["-probesize", "32", "-analyzeduration", "0"]);
    push(&["-copyts", "-f", "flv", "-i", "pipe:0"]);

    let mut graph = String::from("[0:v]");
    if rungs.len() > 1 {
        graph.push_str(&format!("split={}", rungs.len()));
        for i in 0..rungs.len() {
            graph.push_str(&format!("[s{i}]"));
        }
        graph.push(';');
    }
    for (i, rung) in rungs.iter().enumerate() {
        if rungs.len() > 1 {
            graph.push_str(&format!("[s{i}]"));
        }
        if let Some(interval) = min_frame_interval_s(source, rung) {
            graph.push_str(&format!(
                "select='key+isnan(prev_selected_t)+gte(t-prev_selected_t,{interval:.6})',"
            ));
        }
        graph.push_str(&format!(
            "scale={}:{}:flags=bilinear,{}[o{i}];",
            rung.width,
            rung.height,
            pixel_format_filter(encoder)
        ));
    }
    graph.pop();
    push(&["-filter_complex", &graph]);

    let (flag_tunes, psy_tune) = config.x264_tunes().unwrap_or_default();
    let tunes: Vec<&str> = psy_tune.into_iter().chain(flag_tunes).collect();
    for (i, rung) in rungs.iter().enumerate() {
        let rate = format!("{}k", rung.bitrate_kbps);
        push(&[
            "-map",
            &format!("[o{i}]"),
            "-c:v",
            encoder,
            "-b:v",
            &rate,
            "-maxrate",
            &rate,
            "-bufsize",
            &rate,
            "-profile:v",
            &rung.profile,
            "-g",
            GOP_NEVER,
        ]);
        match encoder {
            "libx264" => {
                push(&["-preset", &config.x264_speed_preset]);
                if !tunes.is_empty() {
                    push(&["-tune", &tunes.join(",")]);
                }
                push(&["-forced-idr", "1", "-x264-params", "scenecut=0"]);
            }
            "h264_nvenc" => push(&["-forced-idr", "1", "-no-scenecut", "1"]),
            "h264_qsv" => push(&["-forced_idr", "1"]),
            _ => {}
        }
        push(&[
            "-force_key_frames",
            "source",
            "-fps_mode",
            "passthrough",
            "-enc_time_base",
            "1:1000",
            "-f",
            "flv",
            "-flvflags",
            "no_duration_filesize",
            &format!("pipe:{}", 3 + i),
        ]);
    }
    args
}

fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    std::thread::Builder::new().name(name.to_owned()).spawn(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(fps: Option<f64>) -> H264Config {
        H264Config {
            avcc: Bytes::new(),
            sps: Vec::new(),
            pps: Vec::new(),
            profile_idc: 100,
            constraint_flags: 0,
            level_idc: 31,
            nal_length_size: 4,
            width: 1280,
            height: 720,
            fps,
        }
    }

    fn after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn builds_one_output_per_rung() {
        let config = TranscodeConfig::default();
        let rungs = &config.ladder("default").unwrap()[1..];
        let args = ffmpeg_args(&config, &source(Some(30.0)), rungs);
        assert_eq!(
            after(&args, "-filter_complex"),
            ["[0:v]split=2[s0][s1];\
              [s0]scale=854:480:flags=bilinear,format=yuv420p[o0];\
              [s1]scale=640:360:flags=bilinear,format=yuv420p[o1]"]
        );
        assert_eq!(after(&args, "-map"), ["[o0]", "[o1]"]);
        assert_eq!(after(&args, "-b:v"), ["1400k", "800k"]);
        assert_eq!(after(&args, "-force_key_frames"), ["source", "source"]);
        assert_eq!(after(&args, "-tune"), ["zerolatency", "zerolatency"]);
        assert_eq!(after(&args, "-flvflags").len(), 2);
        assert_eq!(args.last().unwrap(), "pipe:4");
        assert!(args.contains(&"pipe:3".to_owned()));
        assert!(args.contains(&"-copyts".to_owned()));
    }

    #[test]
    fn decimates_fast_sources_and_drives_hardware_encoders() {
        let mut config = TranscodeConfig {
            ffmpeg_encoder: "h264_vaapi".into(),
            ..TranscodeConfig::default()
        };
        config.x264_tune = String::new();
        let rungs = &config.ladder("default").unwrap()[2..];
        let args = ffmpeg_args(&config, &source(Some(60.0)), rungs);
        assert_eq!(
            after(&args, "-filter_complex"),
            [
                "[0:v]select='key+isnan(prev_selected_t)+gte(t-prev_selected_t,0.030000)',\
              scale=640:360:flags=bilinear,format=nv12,hwupload[o0]"
            ]
        );
        assert_eq!(after(&args, "-vaapi_device"), [VAAPI_DEVICE]);
        assert!(after(&args, "-preset").is_empty());
        assert!(after(&args, "-tune").is_empty());
    }
}
