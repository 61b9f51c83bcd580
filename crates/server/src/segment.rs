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
use av::{AccessUnit, DemuxEvent, FlvDemuxer, MediaInfo, Time90k};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use packager::{
    BandwidthMeter, MediaPlaylist, Output, Segment, SegmentEntry, SegmentFormat, Segmenter,
    SegmenterConfig, Variant, render_master,
};
use serde_json::json;

use std::collections::VecDeque;

use av::{H264Config, TrackKind};
use tokio::sync::mpsc::error::TryRecvError;
use transcode::{Ladder, LadderEvent, Rung, TranscodeConfig};

use crate::cli::{SegmentArgs, SegmentFormatArg};
use crate::config::Config;

/// Directory (and rendition name) of the source when transcoding.
const SOURCE: &str = "source";

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
    let mut remux = if ladder.is_some() {
        let dir = args.outdir.join(SOURCE);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Pipeline::new(&dir, format, target, ladder, args.all_rungs)
    } else {
        Pipeline::new(&args.outdir, format, target, None, false)
    };
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
}

/// The source remux and, with `--ladder`, a transcoder and one remux per
/// rung (each with the source's audio, interleaved by decode time).
struct Pipeline {
    source: Remux,
    ladder_request: Option<(TranscodeConfig, Vec<Rung>, bool)>,
    ladder: Option<LadderRun>,
}

struct LadderRun {
    ladder: Ladder,
    rx: tokio::sync::mpsc::Receiver<LadderEvent>,
    rungs: Vec<Rung>,
    outputs: Vec<Remux>,
    pending_audio: Vec<VecDeque<AccessUnit>>,
}

impl Pipeline {
    fn new(
        outdir: &Path,
        format: SegmentFormat,
        target: Time90k,
        ladder: Option<(TranscodeConfig, Vec<Rung>)>,
        all_rungs: bool,
    ) -> Self {
        Pipeline {
            source: Remux::new(outdir, format, target),
            ladder_request: ladder.map(|(c, r)| (c, r, all_rungs)),
            ladder: None,
        }
    }

    fn set_info(&mut self, info: MediaInfo) -> anyhow::Result<()> {
        if let Some(video) = &info.video {
            self.start_ladder(video)?;
        }
        self.source.info = info;
        Ok(())
    }

    fn event(&mut self, event: DemuxEvent) -> anyhow::Result<()> {
        match event {
            DemuxEvent::VideoConfig(c) => {
                if self.ladder.is_none() {
                    self.start_ladder(&c)?;
                }
                self.source.event(DemuxEvent::VideoConfig(c))
            }
            DemuxEvent::AudioConfig(c) => {
                if let Some(run) = &mut self.ladder {
                    for out in &mut run.outputs {
                        out.event(DemuxEvent::AudioConfig(c.clone()))?;
                    }
                }
                self.source.event(DemuxEvent::AudioConfig(c))
            }
            DemuxEvent::Unit(au) => self.unit(au),
        }
    }

    fn start_ladder(&mut self, source: &H264Config) -> anyhow::Result<()> {
        let Some((config, preset, all)) = self.ladder_request.take() else {
            return Ok(());
        };
        let rungs = if all {
            preset
        } else {
            transcode::select_rungs(&preset, source, None)
        };
        if rungs.is_empty() {
            return Ok(());
        }
        let (ladder, rx) =
            Ladder::start(&config, source, rungs.clone()).context("cannot start the transcoder")?;
        let root = self.source.outdir.parent().unwrap_or(Path::new("."));
        let mut outputs = Vec::new();
        for rung in &rungs {
            let dir = root.join(&rung.name);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut out = Remux::new(
                &dir,
                self.source.config.format,
                self.source.config.target_duration,
            );
            out.info.audio = self.source.info.audio.clone();
            outputs.push(out);
        }
        self.ladder = Some(LadderRun {
            ladder,
            rx,
            pending_audio: vec![VecDeque::new(); rungs.len()],
            rungs,
            outputs,
        });
        Ok(())
    }

    fn unit(&mut self, au: AccessUnit) -> anyhow::Result<()> {
        if let Some(run) = &mut self.ladder {
            match au.track {
                TrackKind::Video => run.ladder.push(&au).context("transcoder failed")?,
                TrackKind::Audio => {
                    for q in &mut run.pending_audio {
                        q.push_back(au.clone());
                    }
                }
            }
            run.drain(false)?;
        }
        self.source.unit(au)
    }

    fn finish(mut self, outdir: &Path) -> anyhow::Result<Summary> {
        let mut variants = Vec::new();
        let mut bytes = 0;
        let mut renditions = vec![SOURCE.to_string()];
        if let Some(mut run) = self.ladder.take() {
            run.ladder.finish();
            run.drain(true)?;
            for (i, mut out) in run.outputs.into_iter().enumerate() {
                while let Some(a) = run.pending_audio[i].pop_front() {
                    out.unit(a)?;
                }
                let variant = out.finish()?;
                bytes += out_bytes(&variant);
                renditions.push(run.rungs[i].name.clone());
                variants.push((run.rungs[i].name.clone(), variant));
            }
        }
        let source = self.source.finish()?;
        bytes += out_bytes(&source);
        let summary = Summary {
            segments: source.1.segments,
            duration: source.1.duration,
            bytes,
            renditions,
        };
        if variants.is_empty() {
            write_master(outdir, &[(String::new(), source)])?;
        } else {
            variants.insert(0, (SOURCE.to_string(), source));
            write_master(outdir, &variants)?;
        }
        Ok(summary)
    }
}

fn out_bytes(v: &(Variant, Summary)) -> u64 {
    v.1.bytes
}

/// `master.m3u8` in `outdir` over the variants, each `{name}/index.m3u8`
/// (or `index.m3u8` for the single unnamed one).
fn write_master(outdir: &Path, variants: &[(String, (Variant, Summary))]) -> anyhow::Result<()> {
    let list: Vec<Variant> = variants
        .iter()
        .map(|(name, (v, _))| {
            let mut v = v.clone();
            if !name.is_empty() {
                v.uri = format!("{name}/index.m3u8");
                v.name = name.clone();
            }
            v
        })
        .collect();
    write_file(
        &outdir.join("master.m3u8"),
        &[Bytes::from(render_master(&list))],
    )
}

impl LadderRun {
    /// Packages what the ladder has produced; with `until_finished`, waits
    /// for it to flush everything.
    fn drain(&mut self, until_finished: bool) -> anyhow::Result<()> {
        loop {
            let event = if until_finished {
                match self.rx.blocking_recv() {
                    Some(e) => e,
                    None => return Ok(()),
                }
            } else {
                match self.rx.try_recv() {
                    Ok(e) => e,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => return Ok(()),
                }
            };
            match event {
                LadderEvent::Config { rung, config } => {
                    if let Some(out) = self.outputs.get_mut(rung) {
                        out.event(DemuxEvent::VideoConfig(config))?;
                    }
                }
                LadderEvent::Unit { rung, unit } => {
                    let (Some(out), Some(audio)) =
                        (self.outputs.get_mut(rung), self.pending_audio.get_mut(rung))
                    else {
                        continue;
                    };
                    while audio.front().is_some_and(|a| a.dts <= unit.dts) {
                        if let Some(a) = audio.pop_front() {
                            out.unit(a)?;
                        }
                    }
                    out.unit(unit)?;
                }
                LadderEvent::Error(message) => bail!("transcoder failed: {message}"),
                LadderEvent::Finished => return Ok(()),
            }
        }
    }
}

/// Access units → segments on disk → a VOD playlist, as the live actor does
/// (a configuration change mid-file starts a new segmenter after an
/// EXT-X-DISCONTINUITY).
struct Remux {
    outdir: PathBuf,
    info: MediaInfo,
    config: SegmenterConfig,
    segmenter: Option<Segmenter>,
    /// The current initialization segment (fMP4): EXT-X-MAP of what follows.
    map_uri: Option<String>,
    init_generation: u32,
    playlist: MediaPlaylist,
    bandwidth: BandwidthMeter,
    next_sequence: u64,
    pending_discontinuity: bool,
    bytes: u64,
}

impl Remux {
    fn new(outdir: &Path, format: SegmentFormat, target_duration: Time90k) -> Self {
        Remux {
            outdir: outdir.to_path_buf(),
            info: MediaInfo::default(),
            config: SegmenterConfig {
                target_duration,
                format,
                part_target: None,
            },
            segmenter: None,
            map_uri: None,
            init_generation: 0,
            playlist: MediaPlaylist::new(target_duration),
            bandwidth: BandwidthMeter::default(),
            next_sequence: 0,
            pending_discontinuity: false,
            bytes: 0,
        }
    }

    fn event(&mut self, event: DemuxEvent) -> anyhow::Result<()> {
        match event {
            DemuxEvent::VideoConfig(c) => {
                self.info.video = Some(c);
                self.restart()
            }
            DemuxEvent::AudioConfig(c) => {
                self.info.audio = Some(c);
                self.restart()
            }
            DemuxEvent::Unit(au) => self.unit(au),
        }
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut s) = self.segmenter.take() {
            s.finish();
            self.drain(&mut s)?;
            self.pending_discontinuity = true;
        }
        Ok(())
    }

    fn unit(&mut self, au: AccessUnit) -> anyhow::Result<()> {
        let mut segmenter = match self.segmenter.take() {
            Some(s) => s,
            None => Segmenter::new(self.info.clone(), self.config.clone(), self.next_sequence),
        };
        let pushed = segmenter.push(au);
        self.drain(&mut segmenter)?;
        self.segmenter = Some(segmenter);
        pushed.context("cannot package the input")
    }

    fn drain(&mut self, segmenter: &mut Segmenter) -> anyhow::Result<()> {
        while let Some(output) = segmenter.pull() {
            match output {
                Output::Init(data) => {
                    self.init_generation += 1;
                    let name = if self.init_generation == 1 {
                        "init.mp4".to_string()
                    } else {
                        format!("init-{}.mp4", self.init_generation)
                    };
                    write_file(&self.outdir.join(&name), &[data])?;
                    self.map_uri = Some(name);
                }
                // No parts are configured for files.
                Output::Part(_) => {}
                Output::Segment(seg) => {
                    self.write(&seg)?;
                    segmenter.recycle(seg);
                }
            }
        }
        Ok(())
    }

    fn write(&mut self, seg: &Segment) -> anyhow::Result<()> {
        let name = format!("{}.{}", seg.sequence, seg.format.extension());
        write_file(&self.outdir.join(&name), &seg.data)?;
        let size = seg.size_bytes();
        // A one-frame last segment may have no measurable duration.
        let duration = Time90k(seg.duration.0.max(Time90k::from_millis(1).0));
        self.bytes += size as u64;
        self.next_sequence = seg.sequence + 1;
        self.bandwidth.record(size, duration);
        self.playlist.push(SegmentEntry {
            sequence: seg.sequence,
            duration,
            uri: name,
            discontinuity: std::mem::take(&mut self.pending_discontinuity),
            gap: false,
            program_date_time_ms: None,
            map_uri: self.map_uri.clone(),
        })?;
        Ok(())
    }

    /// Ends the playlist and writes `index.m3u8`; returns this rendition's
    /// master playlist entry (URI `index.m3u8`) and totals.
    fn finish(mut self) -> anyhow::Result<(Variant, Summary)> {
        if let Some(mut s) = self.segmenter.take() {
            s.finish();
            self.drain(&mut s)?;
        }
        let segments = self.playlist.segments().len() as u64;
        if segments == 0 {
            bail!("the input has no H.264 keyframe or AAC audio to segment");
        }
        self.playlist.end();
        write_file(
            &self.outdir.join("index.m3u8"),
            &[Bytes::from(self.playlist.render_vod())],
        )?;
        let video = self.info.video.as_ref();
        let variant = Variant {
            uri: "index.m3u8".into(),
            bandwidth_bps: self.bandwidth.peak_bps().unwrap_or(0),
            average_bandwidth_bps: self.bandwidth.average_bps(),
            resolution: video.map(|v| (v.width, v.height)),
            frame_rate: video.and_then(|v| v.fps),
            codecs: self.info.codecs(),
            name: String::new(),
        };
        Ok((
            variant,
            Summary {
                segments,
                duration: self.playlist.total_duration(),
                bytes: self.bytes,
                renditions: Vec::new(),
            },
        ))
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
