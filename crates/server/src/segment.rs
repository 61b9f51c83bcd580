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

use crate::cli::{SegmentArgs, SegmentFormatArg};

/// Runs the command; prints a summary on stdout.
pub fn run(args: &SegmentArgs) -> anyhow::Result<()> {
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
    let mut remux = Remux::new(
        &args.outdir,
        format,
        Time90k::from_secs_f64(args.segment_duration),
    );
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
        remux.info = file.info;
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
    let summary = remux.finish()?;
    progress.finish_and_clear();

    let elapsed = started.elapsed();
    let playlist = args.outdir.join("index.m3u8");
    if args.json {
        println!(
            "{}",
            json!({
                "playlist": playlist,
                "master": args.outdir.join("master.m3u8"),
                "segments": summary.segments,
                "duration_s": summary.duration.as_secs_f64(),
                "bytes": summary.bytes,
                "elapsed_s": elapsed.as_secs_f64(),
            })
        );
    } else {
        println!(
            "wrote {} segments ({:.3} s of media, {} bytes) to {} in {:.3} s",
            summary.segments,
            summary.duration.as_secs_f64(),
            summary.bytes,
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
    segments: u64,
    duration: Time90k,
    bytes: u64,
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

    fn finish(mut self) -> anyhow::Result<Summary> {
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
        let master = render_master(&[Variant {
            uri: "index.m3u8".into(),
            bandwidth_bps: self.bandwidth.peak_bps().unwrap_or(0),
            average_bandwidth_bps: self.bandwidth.average_bps(),
            resolution: video.map(|v| (v.width, v.height)),
            frame_rate: video.and_then(|v| v.fps),
            codecs: self.info.codecs(),
            name: String::new(),
        }]);
        write_file(&self.outdir.join("master.m3u8"), &[Bytes::from(master)])?;
        Ok(Summary {
            segments,
            duration: self.playlist.total_duration(),
            bytes: self.bytes,
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
