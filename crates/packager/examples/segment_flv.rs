//! Cuts an FLV file into MPEG-TS segments and a VOD playlist, for looking at
//! the packager's output with ffprobe or a player:
//!
//! ```sh
//! cargo run -p packager --example segment_flv -- media/h264_aac_720p30_bframes.flv /tmp/out [target_secs]
//! ```

use std::process::ExitCode;

use av::Time90k;
use bytes::Bytes;
use packager::{
    BandwidthMeter, MediaPlaylist, SegmentEntry, SegmenterConfig, TsSegmenter, Variant,
    render_master,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(out)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: segment_flv INPUT.flv OUTDIR [TARGET_SECS]");
        return ExitCode::FAILURE;
    };
    let target_secs: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2.0);
    match run(input, out, target_secs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("segment_flv: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(input: &str, out: &str, target_secs: f64) -> Result<(), Box<dyn std::error::Error>> {
    let flv = Bytes::from(std::fs::read(input)?);
    let (info, units) = packager::testutil::demux_flv(flv)?;
    let target = Time90k::from_secs_f64(target_secs);
    std::fs::create_dir_all(out)?;
    let mut segmenter = TsSegmenter::new(
        info.clone(),
        SegmenterConfig {
            target_duration: target,
        },
        0,
    );
    let mut playlist = MediaPlaylist::new(target);
    let mut meter = BandwidthMeter::new();
    let mut store = |seg: packager::Segment| -> Result<(), Box<dyn std::error::Error>> {
        let uri = format!("{}.{}", seg.sequence, seg.format.extension());
        std::fs::write(format!("{out}/{uri}"), &seg.data)?;
        println!(
            "{uri}: start {:?} duration {:?} {} bytes, {} video + {} audio frames",
            seg.start,
            seg.duration,
            seg.size_bytes(),
            seg.video_frames,
            seg.audio_frames
        );
        meter.record(seg.size_bytes(), seg.duration);
        playlist.push(SegmentEntry {
            sequence: seg.sequence,
            duration: seg.duration,
            uri,
            discontinuity: false,
        })?;
        Ok(())
    };
    for au in units {
        segmenter.push(au)?;
        while let Some(seg) = segmenter.pull() {
            store(seg)?;
        }
    }
    segmenter.finish();
    while let Some(seg) = segmenter.pull() {
        store(seg)?;
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
