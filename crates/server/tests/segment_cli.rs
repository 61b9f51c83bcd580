//! `aethex segment`: a file through the live broadcast core with a file
//! sink. ffprobe reads what it wrote.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn segment(input: &Path, outdir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN)
        .arg("segment")
        .arg(input)
        .arg(outdir)
        .args(["--json", "--segment-duration", "2"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aethex segment failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

fn probed_duration(playlist: &Path) -> f64 {
    ffprobe(
        playlist,
        &["-show_entries", "format=duration", "-of", "csv=p=0"],
    )
    .trim()
    .parse()
    .unwrap_or_else(|_| panic!("ffprobe cannot read {}", playlist.display()))
}

#[test]
fn a_file_becomes_a_flat_vod_in_either_container() {
    let input = fixture("h264_aac_720p30_bframes.flv");
    for format in ["ts", "fmp4"] {
        let dir = tempfile::tempdir().unwrap();
        let summary = segment(&input, dir.path(), &["--format", format]);
        assert_eq!(summary["renditions"], serde_json::json!(["source"]));
        assert_eq!(summary["dropped_units"], 0, "{summary}");
        let segments = summary["segments"].as_u64().unwrap();
        assert!((9..=11).contains(&segments), "{summary}");
        let playlist = dir.path().join("index.m3u8");
        let text = std::fs::read_to_string(&playlist).unwrap();
        assert!(
            text.contains("#EXT-X-ENDLIST") && !text.contains("PROGRAM-DATE-TIME"),
            "{text}"
        );
        assert_eq!(playlist_segments(&text).len() as u64, segments);
        let master = std::fs::read_to_string(dir.path().join("master.m3u8")).unwrap();
        assert!(master.contains("\nindex.m3u8"), "{master}");
        let duration = probed_duration(&playlist);
        assert!((duration - 20.0).abs() < 0.5, "{format}: {duration} s");
        if format == "fmp4" {
            assert!(dir.path().join("init.mp4").exists());
        }
    }
}

#[test]
fn a_ladder_writes_a_directory_per_rendition() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aethex.toml");
    std::fs::write(
        &config,
        "[transcode.ladders]\ndefault = []\ntiny = [{ name = \"160p\", width = 284, height = 160, bitrate_kbps = 200, max_fps = 30, profile = \"main\" }]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let input = fixture("h264_aac_360p30_nobframes.flv");
    let output = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("segment")
        .arg(&input)
        .arg(&out)
        .args(["--json", "--ladder", "tiny"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["renditions"], serde_json::json!(["source", "160p"]));
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(
        master.contains("source/index.m3u8") && master.contains("160p/index.m3u8"),
        "{master}"
    );
    for rendition in ["source", "160p"] {
        let playlist = out.join(rendition).join("index.m3u8");
        let duration = probed_duration(&playlist);
        assert!((duration - 20.0).abs() < 0.6, "{rendition}: {duration} s");
    }
    // The transcoded rendition carries the source's audio.
    let streams = ffprobe(
        &out.join("160p").join("index.m3u8"),
        &[
            "-show_entries",
            "stream=codec_type,height",
            "-of",
            "csv=p=0",
        ],
    );
    assert!(
        streams.contains("video,160") && streams.contains("audio"),
        "{streams}"
    );
}
