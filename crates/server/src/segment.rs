//! `aethex segment INPUT OUTDIR`: a file → an HLS VOD, with the packager the
//! live path uses (same cutting rules, same segments, same playlists).
//!
//! Synchronous and single-threaded: the work is a remux (no decoding), so
//! the cost is parsing and copying bytes; `scripts/bench-segment` compares
//! it with `ffmpeg -c copy -f hls` in CPU seconds.

use std::io::{IoSlice, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use av::flv::FileReader;
use av::{AccessUnit, DemuxEvent, FlvDemuxer, H264Config, MediaInfo, Time90k};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use live::{Action, Broadcast, BroadcastConfig, Ending, Input, Now};
use packager::{SegmentFormat, SegmenterConfig};
use serde_json::json;
use std::collections::HashSet;
use tokio::sync::mpsc::error::TryRecvError;
use transcode::{Ladder, LadderEvent, Rung, TranscodeConfig};

use crate::cli::{SegmentArgs, SegmentFormatArg};
use crate::config::Config;

/// Runs the command; prints a summary on stdout. `config` is the
/// configuration file, read only for `--ladder` (its ladder presets and
/// transcoder settings).
pub fn run(args: &SegmentArgs, config: Option<&Path>) -> anyhow::Result<()> {
    let started = Instant::now();
    if !(0.5..=60.0).contains(&args.segment_duration) {
        bail!(
            "--segment-duration must be between 0.5 and 60 seconds, not {}",
            args.segment_duration
        );
    }
    std::fs::create_dir_all(&args.outdir)
        .with_context(|| format!("cannot create {}", args.outdir.display()))?;
    // Output files are created (truncated) in OUTDIR: an input in there
    // could be one of them, and truncating a mapped file kills the process.
    if let (Ok(input), Ok(outdir)) = (args.input.canonicalize(), args.outdir.canonicalize())
        && input.starts_with(&outdir)
    {
        bail!(
            "the input {} is inside the output directory {}; choose another OUTDIR",
            args.input.display(),
            args.outdir.display()
        );
    }
    let data = map_input(&args.input)?;

    let progress = progress_bar(data.len() as u64);
    let format = match args.format {
        SegmentFormatArg::Ts => SegmentFormat::MpegTs,
        SegmentFormatArg::Fmp4 => SegmentFormat::Fmp4,
    };
    let target = Time90k::from_secs_f64(args.segment_duration);
    let ladder = match &args.ladder {
        Some(preset) => {
            let config = Config::load(config)?;
            let rungs = config
                .transcode
                .ladder(preset)
                .with_context(|| format!("no ladder preset {preset:?} in the configuration"))?
                .to_vec();
            Some((config.transcode, rungs))
        }
        None => None,
    };
    let mut remux = Pipeline::new(&args.outdir, format, target, ladder, args.all_rungs);
    let input = args.input.display();
    if data.starts_with(b"FLV") {
        let mut reader =
            FileReader::new(data).with_context(|| format!("{input}: not a valid FLV file"))?;
        let mut demux = FlvDemuxer::new();
        let mut last_update = 0;
        while let Some(tag) = reader.next() {
            let tag = tag.with_context(|| format!("{input}: at byte {}", reader.position()))?;
            let event = demux
                .push(tag.kind, tag.timestamp_ms, tag.body)
                .with_context(|| format!("{input}: at byte {}", reader.position()))?;
            if let Some(event) = event {
                remux.event(event)?;
            }
            if reader.position() - last_update >= 1 << 20 {
                last_update = reader.position();
                progress.set_position(last_update as u64);
            }
        }
    } else if data.get(4..8) == Some(b"ftyp") || data.get(4..8) == Some(b"moov") {
        let file = av::mp4::demux_mp4(data).with_context(|| format!("{input}: cannot read MP4"))?;
        remux.set_info(file.info)?;
        let total = file.units.len().max(1) as u64;
        progress.set_length(total);
        for (i, au) in file.units.into_iter().enumerate() {
            remux.unit(au)?;
            if i % 512 == 0 {
                progress.set_position(i as u64);
            }
        }
    } else {
        bail!("{input}: not an FLV or MP4 file");
    }
    let summary = remux.finish(&args.outdir)?;
    progress.finish_and_clear();

    let elapsed = started.elapsed();
    let playlist = args.outdir.join(if summary.renditions.len() > 1 {
        "master.m3u8"
    } else {
        "index.m3u8"
    });
    if args.json {
        println!(
            "{}",
            json!({
                "playlist": playlist,
                "master": args.outdir.join("master.m3u8"),
                "segments": summary.segments,
                "duration_s": summary.duration.as_secs_f64(),
                "bytes": summary.bytes,
                "renditions": summary.renditions,
                "dropped_units": summary.dropped_units,
                "elapsed_s": elapsed.as_secs_f64(),
                "realtime_factor": summary.duration.as_secs_f64() / elapsed.as_secs_f64().max(1e-9),
            })
        );
    } else {
        println!(
            "wrote {} segments ({:.3} s of media, {} bytes; renditions: {}) to {} in {:.3} s",
            summary.segments,
            summary.duration.as_secs_f64(),
            summary.bytes,
            summary.renditions.join(", "),
            playlist.display(),
            elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// The input file as `Bytes` over a read-only memory map: no copy of the
/// file into the heap (that copy was 40% of a remux's CPU time; see
/// docs/PERFORMANCE.md). Access units are slices of the map. Pipes and
/// other non-regular files are read into memory instead.
fn map_input(path: &Path) -> anyhow::Result<Bytes> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat {}", path.display()))?;
    if !meta.is_file() {
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut &file, &mut data)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(Bytes::from(data));
    }
    if meta.len() == 0 {
        bail!("{}: the file is empty", path.display());
    }
    // SAFETY: a shared read-only mapping. If another process truncates the
    // file while we read it, the kernel kills this process with SIGBUS (we
    // refuse inputs inside our own output directory, the one way we could
    // do it ourselves); if it writes to it, we read changing bytes, which
    // the parsers treat like any other input (bounds-checked, no UB from
    // Rust's side beyond the documented memmap2 contract).
    let map = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("cannot map {}", path.display()))?;
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Bytes::from_owner(map))
}

/// A byte-position bar on a terminal; hidden otherwise (pipes, CI).
fn progress_bar(len: u64) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:40}] {percent}% {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

struct Summary {
    /// Of the source rendition.
    segments: u64,
    duration: Time90k,
    /// Of every rendition.
    bytes: u64,
    renditions: Vec<String>,
    /// Access units the packager could not place (logged as they happen).
    dropped_units: u64,
}

/// The live broadcast core ([`live::Broadcast`]) driven with a file sink:
/// the same segmenting, ladder and playlist rules as a live stream, written
/// to OUTDIR (flat without a ladder; a directory per rendition with one).
struct Pipeline {
    core: Broadcast,
    outdir: PathBuf,
    ladder_request: Option<(TranscodeConfig, Vec<Rung>, bool)>,
    ladder: Option<Ladder>,
    ladder_rx: Option<tokio::sync::mpsc::Receiver<LadderEvent>>,
    /// Directories made so far.
    dirs: HashSet<PathBuf>,
    bytes: u64,
    ending: Option<Ending>,
}

impl Pipeline {
    fn new(
        outdir: &Path,
        format: SegmentFormat,
        target: Time90k,
        ladder: Option<(TranscodeConfig, Vec<Rung>)>,
        all_rungs: bool,
    ) -> Self {
        let config = BroadcastConfig {
            segmenter: SegmenterConfig {
                target_duration: target,
                format,
                part_target: None,
            },
            low_latency: false,
            window_segments: 6,
            reconnect_window: Duration::ZERO,
            reconnect_after_unpublish: false,
            max_duration: None,
            record: true,
            retention_grace: Duration::ZERO,
            cache_segments: false,
            public_prefix: None,
            live_playlists: false,
            program_date_time: false,
            measure_ingest: false,
            thumbnail_interval: Duration::ZERO,
            thumbnail_idle_interval: Duration::ZERO,
            max_ladder_lag: Duration::MAX,
            flat: ladder.is_none(),
        };
        Pipeline {
            core: Broadcast::new(config, Now::system()),
            outdir: outdir.to_path_buf(),
            ladder_request: ladder.map(|(c, r)| (c, r, all_rungs)),
            ladder: None,
            ladder_rx: None,
            dirs: HashSet::new(),
            bytes: 0,
            ending: None,
        }
    }

    fn set_info(&mut self, info: MediaInfo) -> anyhow::Result<()> {
        if let Some(video) = info.video {
            self.event(DemuxEvent::VideoConfig(video))?;
        }
        if let Some(audio) = info.audio {
            self.event(DemuxEvent::AudioConfig(audio))?;
        }
        Ok(())
    }

    fn event(&mut self, event: DemuxEvent) -> anyhow::Result<()> {
        let now = Now::system();
        let received_at = now.at;
        self.push_at(now, Input::Media { received_at, event })?;
        self.drain_ladder(false)
    }

    fn unit(&mut self, au: AccessUnit) -> anyhow::Result<()> {
        self.event(DemuxEvent::Unit(au))
    }

    fn push(&mut self, input: Input) -> anyhow::Result<()> {
        self.push_at(Now::system(), input)
    }

    fn push_at(&mut self, now: Now, input: Input) -> anyhow::Result<()> {
        self.core.push(now, input);
        while let Some(action) = self.core.pull() {
            self.act(action)?;
        }
        Ok(())
    }

    fn act(&mut self, action: Action) -> anyhow::Result<()> {
        match action {
            Action::Store {
                path, data, ack, ..
            } => {
                let file = self.outdir.join(&path);
                if let Some(dir) = file.parent()
                    && !self.dirs.contains(dir)
                {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                    self.dirs.insert(dir.to_path_buf());
                }
                write_file(&file, &data)?;
                if let Some(ack) = ack {
                    if matches!(ack, live::Ack::Segment { .. }) {
                        self.bytes += data.iter().map(|b| b.len() as u64).sum::<u64>();
                    }
                    self.core.push(
                        Now::system(),
                        Input::Stored {
                            ack,
                            ok: true,
                            data,
                        },
                    );
                }
            }
            Action::StartLadder(source) => {
                let rungs = self.start_ladder(&source)?;
                self.core.push(Now::system(), Input::LadderStarted(rungs));
            }
            Action::FeedLadder(au) => {
                if let Some(ladder) = &mut self.ladder {
                    ladder.push(&au).context("transcoder failed")?;
                }
            }
            Action::FlushLadder => {
                if let Some(ladder) = &mut self.ladder {
                    ladder.finish();
                }
                self.drain_ladder(true)?;
            }
            Action::StopLadder => {
                self.ladder = None;
                self.ladder_rx = None;
            }
            Action::Ended(ending) => self.ending = Some(ending),
            // Live-only: no origin, index, status, metrics, thumbnails or
            // retention for files; no lag is reported, so no rung drops.
            Action::Cache { .. }
            | Action::Uncache { .. }
            | Action::Delete { .. }
            | Action::Index(_)
            | Action::Status(_)
            | Action::Publish(_)
            | Action::DropRung(_)
            | Action::Thumbnail { .. }
            | Action::Measure(_) => {}
        }
        Ok(())
    }

    /// Starts the ladder the command asked for: every rung with
    /// --all-rungs, otherwise those below the source.
    fn start_ladder(&mut self, source: &H264Config) -> anyhow::Result<Vec<(String, u32)>> {
        let Some((config, preset, all)) = self.ladder_request.take() else {
            return Ok(Vec::new());
        };
        let rungs = if all {
            preset
        } else {
            transcode::select_rungs(&preset, source, None)
        };
        if rungs.is_empty() {
            return Ok(Vec::new());
        }
        let (ladder, rx) =
            Ladder::start(&config, source, rungs.clone()).context("cannot start the transcoder")?;
        self.ladder = Some(ladder);
        self.ladder_rx = Some(rx);
        Ok(rungs
            .into_iter()
            .map(|r| (r.name, r.bitrate_kbps))
            .collect())
    }

    /// Feeds the core what the ladder has produced; with `until_finished`,
    /// waits for it to flush everything.
    fn drain_ladder(&mut self, until_finished: bool) -> anyhow::Result<()> {
        loop {
            let Some(rx) = &mut self.ladder_rx else {
                return Ok(());
            };
            let event = if until_finished {
                rx.blocking_recv().unwrap_or(LadderEvent::Finished)
            } else {
                match rx.try_recv() {
                    Ok(e) => e,
                    Err(TryRecvError::Empty) => return Ok(()),
                    Err(TryRecvError::Disconnected) => LadderEvent::Finished,
                }
            };
            if let LadderEvent::Error(message) = &event {
                bail!("transcoder failed: {message}");
            }
            let finished = matches!(event, LadderEvent::Finished);
            if finished {
                self.ladder_rx = None;
            }
            self.push(Input::Ladder(event))?;
            if finished {
                return Ok(());
            }
        }
    }

    fn finish(mut self, _outdir: &Path) -> anyhow::Result<Summary> {
        self.push(Input::PublisherLeft {
            clean: true,
            shutting_down: false,
        })?;
        let Some(ending) = self.ending.take() else {
            bail!("the packager did not finish");
        };
        if ending.segments == 0 {
            bail!("the input has no H.264 keyframe or AAC audio to segment");
        }
        Ok(Summary {
            segments: ending.segments as u64,
            duration: ending.duration,
            bytes: self.bytes,
            renditions: ending.renditions.iter().map(|r| r.to_string()).collect(),
            dropped_units: ending.dropped_units,
        })
    }
}

/// Writes a file from its parts (a segment is headers + payload slices)
/// with vectored writes: an fMP4 segment has a piece per sample, and a
/// `write` per piece was half of a remux's CPU time.
fn write_file(path: &Path, parts: &[Bytes]) -> anyhow::Result<()> {
    let mut f =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    // IOV_MAX is 1024 on Linux.
    for chunk in parts.chunks(1024) {
        let mut slices: Vec<IoSlice<'_>> = chunk.iter().map(|b| IoSlice::new(b)).collect();
        let mut slices = &mut slices[..];
        while !slices.is_empty() {
            let n = f
                .write_vectored(slices)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if n == 0 {
                bail!(
                    "cannot write {}: the disk accepted no bytes",
                    path.display()
                );
            }
            IoSlice::advance_slices(&mut slices, n);
        }
    }
    Ok(())
}
