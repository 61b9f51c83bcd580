//! Cuts an FLV file into HLS segments (MPEG-TS or fMP4, optionally with
//! LL-HLS parts) and a VOD playlist, for looking at the packager's output
//! with ffprobe or a player:
//!
//! ```sh
//! cargo run -p packager --example segment_flv -- media/h264_aac_720p30_bframes.flv /tmp/out \
//!     [--target-secs 2] [--format ts|fmp4] [--part-ms 200]
//! ```
//!
//! Writes `index.m3u8` (VOD), `master.m3u8`, the segments (`{msn}.ts` or
//! `{msn}.m4s`), for fMP4 `init.mp4`, and with parts `{msn}.{part}.m4s` plus
//! `ll.m3u8`, the low-latency playlist as it stood before the last segment
//! was listed.

use std::process::ExitCode;

use av::Time90k;
use packager::{
    BandwidthMeter, LowLatencyOptions, MediaPlaylist, Output, PartEntry, SegmentEntry,
    SegmentFormat, Segmenter, SegmenterConfig, Variant, render_master,
};

struct Args {
    input: String,
    out: String,
    target_secs: f64,
    format: SegmentFormat,
    part_ms: Option<i64>,
}

fn parse_args() -> Option<Args> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        input: args.next()?,
        out: args.next()?,
        target_secs: 2.0,
        format: SegmentFormat::MpegTs,
        part_ms: None,
    };
    while let Some(flag) = args.next() {
        let value = args.next()?;
        match flag.as_str() {
            "--target-secs" => parsed.target_secs = value.parse().ok()?,
            "--format" => {
                parsed.format = match value.as_str() {
                    "ts" => SegmentFormat::MpegTs,
                    "fmp4" => SegmentFormat::Fmp4,
                    _ => return None,
                }
            }
            "--part-ms" => parsed.part_ms = Some(value.parse().ok()?),
            _ => return None,
        }
    }
    Some(parsed)
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        eprintln!(
            "usage: segment_flv INPUT.flv OUTDIR [--target-secs S] [--format ts|fmp4] [--part-ms N]"
        );
        return ExitCode::FAILURE;
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("segment_flv: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write(path: String, data: &[bytes::Bytes]) -> std::io::Result<()> {
    std::fs::write(path, data.concat())
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let out = &args.out;
    let flv = bytes::Bytes::from(std::fs::read(&args.input)?);
    let (info, units) = packager::testutil::demux_flv(flv)?;
    let target = Time90k::from_secs_f64(args.target_secs);
    std::fs::create_dir_all(out)?;
    let part_target = args.part_ms.map(Time90k::from_millis);
    let mut segmenter = Segmenter::new(
        info.clone(),
        SegmenterConfig {
            target_duration: target,
            format: args.format,
            part_target,
        },
        0,
    );
    let mut playlist = MediaPlaylist::new(target);
    let mut meter = BandwidthMeter::new();
    let mut map_uri = None;
    let ext = args.format.extension();
    let mut store =
        |output: Output, playlist: &mut MediaPlaylist| -> Result<(), Box<dyn std::error::Error>> {
            match output {
                Output::Init(data) => {
                    std::fs::write(format!("{out}/init.mp4"), &data)?;
                    println!("init.mp4: {} bytes", data.len());
                    map_uri = Some("init.mp4".to_owned());
                }
                Output::Part(part) => {
                    let uri = format!("{}.{}.{ext}", part.segment_sequence, part.index);
                    write(format!("{out}/{uri}"), &part.data)?;
                    println!(
                        "  {uri}: duration {:?} {} bytes{}",
                        part.duration,
                        part.size_bytes(),
                        if part.independent {
                            ", independent"
                        } else {
                            ""
                        }
                    );
                    playlist.push_part(
                        part.segment_sequence,
                        PartEntry {
                            index: part.index,
                            duration: part.duration,
                            independent: part.independent,
                            uri,
                            gap: false,
                        },
                    )?;
                }
                Output::Segment(seg) => {
                    let uri = format!("{}.{ext}", seg.sequence);
                    write(format!("{out}/{uri}"), &seg.data)?;
                    println!(
                        "{uri}: start {:?} duration {:?} {} bytes, {} video + {} audio frames",
                        seg.start,
                        seg.duration,
                        seg.size_bytes(),
                        seg.video_frames,
                        seg.audio_frames
                    );
                    meter.record(seg.size_bytes(), seg.duration);
                    if let Some(part_target) = part_target {
                        let ll = playlist.render_low_latency(&LowLatencyOptions {
                            window_segments: 6,
                            part_target,
                            skip: false,
                            preload_hint_uri: playlist
                                .next_part()
                                .map(|(s, p)| format!("{s}.{p}.{ext}")),
                        });
                        std::fs::write(format!("{out}/ll.m3u8"), ll)?;
                    }
                    playlist.push(SegmentEntry {
                        sequence: seg.sequence,
                        duration: seg.duration,
                        uri,
                        map_uri: map_uri.clone(),
                        ..SegmentEntry::default()
                    })?;
                }
            }
            Ok(())
        };
    for au in units {
        segmenter.push(au)?;
        while let Some(output) = segmenter.pull() {
            store(output, &mut playlist)?;
        }
    }
    segmenter.finish();
    while let Some(output) = segmenter.pull() {
        store(output, &mut playlist)?;
    }
    std::fs::write(format!("{out}/index.m3u8"), playlist.render_vod())?;
    let master = render_master(&[Variant {
        uri: "index.m3u8".into(),
        bandwidth_bps: meter.peak_bps().unwrap_or(0),
        average_bandwidth_bps: meter.average_bps(),
        resolution: info.video.as_ref().map(|v| (v.width, v.height)),
        frame_rate: info.video.as_ref().and_then(|v| v.fps),
        codecs: info.codecs(),
        name: "source".into(),
    }]);
    std::fs::write(format!("{out}/master.m3u8"), &master)?;
    print!("{master}");
    Ok(())
}
