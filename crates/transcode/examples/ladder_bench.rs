//! Ladder throughput: pushes a whole FLV file's video through a ladder as
//! fast as the ladder takes it and reports frames per second and the
//! realtime factor (media duration / wall time).
//!
//! ```sh
//! cargo run --release -p transcode --example ladder_bench -- media/h264_aac_720p30_bframes.flv \
//!     [--backend gstreamer|ffmpeg] [--heights 720,480,360] [--tune zerolatency|none] \
//!     [--preset veryfast] [--encoder libx264]
//! ```
//!
//! Rung widths follow 16:9 (1280, 854, 640); bitrates are the default
//! ladder's (2800, 1400, 800 kbit/s).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use av::{Time90k, TrackKind};
use transcode::{Backend, Ladder, LadderEvent, Rung, TranscodeConfig};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ladder_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let input = args
        .next()
        .ok_or("usage: ladder_bench INPUT.flv [options]")?;
    let mut config = TranscodeConfig::default();
    let mut heights = vec![480u32, 360];
    while let Some(flag) = args.next() {
        let value = args.next().ok_or("missing value")?;
        match flag.as_str() {
            "--backend" => {
                config.backend = match value.as_str() {
                    "gstreamer" => Backend::Gstreamer,
                    "ffmpeg" => Backend::Ffmpeg,
                    _ => return Err("unknown backend".into()),
                }
            }
            "--heights" => heights = value.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--tune" => {
                config.x264_tune = if value == "none" {
                    String::new()
                } else {
                    value
                }
            }
            "--preset" => config.x264_speed_preset = value,
            "--encoder" => config.ffmpeg_encoder = value,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    config.validate()?;
    let flv = bytes::Bytes::from(std::fs::read(&input)?);
    let (info, units) = packager::testutil::demux_flv(flv)?;
    let source = info.video.ok_or("no video")?;
    let units: Vec<_> = units
        .into_iter()
        .filter(|u| u.track == TrackKind::Video)
        .collect();
    let rungs: Vec<Rung> = heights
        .iter()
        .map(|&h| {
            let width = ((u64::from(h) * 16 / 9 + 1) & !1) as u32;
            let kbps = match h {
                720.. => 2800,
                480.. => 1400,
                _ => 800,
            };
            Rung::new(&format!("{h}p"), width, h, kbps)
        })
        .collect();
    let first = units.first().ok_or("no frames")?.pts;
    let last = units.iter().map(|u| u.pts).max().unwrap_or(first);
    let frame = Time90k((Time90k::HZ as f64 / source.fps.unwrap_or(30.0)) as i64);
    let duration = (last - first + frame).as_secs_f64();
    let max_lag = Time90k::from_secs_f64(config.max_lag_s);

    let started = Instant::now();
    let (mut ladder, mut rx) = Ladder::start(&config, &source, rungs.clone())?;
    let mut out = vec![0usize; rungs.len()];
    let mut handle = |event: LadderEvent| -> Result<bool, String> {
        match event {
            LadderEvent::Unit { rung, .. } => out[rung] += 1,
            LadderEvent::Error(e) => return Err(e),
            LadderEvent::Finished => return Ok(false),
            LadderEvent::Config { .. } => {}
        }
        Ok(true)
    };
    for unit in &units {
        ladder.push(unit)?;
        // Backpressure as a file segmenter would do it: keep the ladder
        // within max_lag_s of the input.
        while ladder.lag() > max_lag {
            match rx.blocking_recv() {
                Some(event) => {
                    handle(event)?;
                }
                None => return Err("ladder ended early".into()),
            }
        }
        while let Ok(event) = rx.try_recv() {
            handle(event)?;
        }
    }
    ladder.finish();
    while let Some(event) = rx.blocking_recv() {
        if !handle(event)? {
            break;
        }
    }
    let wall = started.elapsed();
    drop(ladder);
    let secs = wall
        .as_secs_f64()
        .max(Duration::from_millis(1).as_secs_f64());
    println!(
        "{input}: {backend:?} {heights:?} preset {preset} tune {tune:?}: {frames} frames ({duration:.1} s) in {secs:.2} s = {fps:.1} fps, {rt:.2}x realtime; out {out:?}",
        backend = config.backend,
        preset = config.x264_speed_preset,
        tune = config.x264_tune,
        frames = units.len(),
        fps = units.len() as f64 / secs,
        rt = duration / secs,
    );
    Ok(())
}
