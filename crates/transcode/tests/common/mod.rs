//! Helpers shared by the integration tests: fixtures, running a ladder to
//! the end, and checking renditions with an independent decoder (ffmpeg).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use av::{AccessUnit, H264Config, MediaInfo, Time90k, TrackKind};
use bytes::Bytes;
use packager::{Output, SegmentFormat, Segmenter, SegmenterConfig, testutil};
use tokio::sync::mpsc;
use transcode::{Backend, Ladder, LadderEvent, Rung, TranscodeConfig};

/// A fixture's video configuration and video access units.
pub struct Source {
    pub config: H264Config,
    pub units: Vec<AccessUnit>,
}

impl Source {
    pub fn fixture(flv: &'static [u8]) -> Self {
        Self::from_flv(Bytes::from_static(flv))
    }

    pub fn from_flv(flv: Bytes) -> Self {
        let (info, units) = testutil::demux_flv(flv).expect("fixture demuxes");
        Source {
            config: info.video.expect("fixture has video"),
            units: units
                .into_iter()
                .filter(|u| u.track == TrackKind::Video)
                .collect(),
        }
    }

    pub fn pts(&self) -> BTreeSet<Time90k> {
        self.units.iter().map(|u| u.pts).collect()
    }

    pub fn keyframe_pts(&self) -> BTreeSet<Time90k> {
        self.units
            .iter()
            .filter(|u| u.keyframe)
            .map(|u| u.pts)
            .collect()
    }

    pub fn duration_s(&self) -> f64 {
        let pts = self.pts();
        let (first, last) = (pts.first().unwrap(), pts.last().unwrap());
        (*last - *first).as_secs_f64() + 1.0 / self.config.fps.unwrap_or(30.0)
    }
}

pub fn config(backend: Backend) -> TranscodeConfig {
    TranscodeConfig {
        backend,
        ..TranscodeConfig::default()
    }
}

/// What one rung produced.
#[derive(Default, Debug)]
pub struct Rendition {
    pub configs: Vec<H264Config>,
    pub units: Vec<AccessUnit>,
}

impl Rendition {
    pub fn pts(&self) -> BTreeSet<Time90k> {
        self.units.iter().map(|u| u.pts).collect()
    }

    pub fn keyframe_pts(&self) -> BTreeSet<Time90k> {
        self.units
            .iter()
            .filter(|u| u.keyframe)
            .map(|u| u.pts)
            .collect()
    }
}

/// Everything a ladder produced until `Finished`.
#[derive(Debug)]
pub struct Outcome {
    pub renditions: Vec<Rendition>,
    pub errors: Vec<String>,
    pub finished: bool,
}

impl Outcome {
    pub fn new(rungs: usize) -> Self {
        Outcome {
            renditions: (0..rungs).map(|_| Rendition::default()).collect(),
            errors: Vec::new(),
            finished: false,
        }
    }

    /// Records one event; false after `Finished`.
    pub fn record(&mut self, event: LadderEvent) -> bool {
        match event {
            LadderEvent::Config { rung, config } => self.renditions[rung].configs.push(config),
            LadderEvent::Unit { rung, unit } => {
                assert!(
                    !self.renditions[rung].configs.is_empty(),
                    "unit before config"
                );
                self.renditions[rung].units.push(unit)
            }
            LadderEvent::Error(e) => self.errors.push(e),
            LadderEvent::Finished => {
                self.finished = true;
                return false;
            }
        }
        true
    }

    /// Receives until `Finished`, at most `timeout`.
    pub fn drain(&mut self, rx: &mut mpsc::Receiver<LadderEvent>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match rx.try_recv() {
                Ok(event) => {
                    if !self.record(event) {
                        return;
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(mpsc::error::TryRecvError::Disconnected) => return,
            }
        }
        panic!("no Finished within {timeout:?}: {:?}", self.errors);
    }

    /// Receives what is there without waiting.
    pub fn poll(&mut self, rx: &mut mpsc::Receiver<LadderEvent>) {
        while let Ok(event) = rx.try_recv() {
            if !self.record(event) {
                return;
            }
        }
    }
}

/// Pushes every unit, receiving as it goes (as a live caller would), then
/// finishes and drains.
pub fn run(config: &TranscodeConfig, source: &Source, rungs: Vec<Rung>) -> Outcome {
    let n = rungs.len();
    let (mut ladder, mut rx) = Ladder::start(config, &source.config, rungs).expect("ladder starts");
    let mut outcome = Outcome::new(n);
    for unit in &source.units {
        ladder.push(unit).expect("push");
        outcome.poll(&mut rx);
    }
    ladder.finish();
    outcome.drain(&mut rx, Duration::from_secs(60));
    drop(ladder);
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    outcome
}

/// Packages `rendition` as MPEG-TS segments in `dir` and checks that ffmpeg
/// decodes each of them without an error line. Returns the segment count.
pub fn package_and_decode(rendition: &Rendition, dir: &Path, name: &str) -> usize {
    let info = MediaInfo {
        video: Some(rendition.configs[0].clone()),
        audio: None,
    };
    let mut segmenter = Segmenter::new(
        info,
        SegmenterConfig {
            target_duration: Time90k::from_millis(900),
            format: SegmentFormat::MpegTs,
            part_target: None,
        },
        0,
    );
    let mut segments = Vec::new();
    for unit in &rendition.units {
        segmenter
            .push(unit.clone())
            .expect("segmenter takes the unit");
        segments.extend(std::iter::from_fn(|| segmenter.pull()));
    }
    segmenter.finish();
    segments.extend(std::iter::from_fn(|| segmenter.pull()));
    let mut count = 0;
    for output in segments {
        let Output::Segment(seg) = output else {
            continue;
        };
        let path = dir.join(format!("{name}-{}.ts", seg.sequence));
        std::fs::write(&path, seg.data.concat()).unwrap();
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "null", "-"])
            .output()
            .expect("ffmpeg runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{}: {stderr}",
            path.display()
        );
        count += 1;
    }
    count
}

/// Threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Names of this process's threads, for diagnostics.
pub fn thread_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_owned())
        .collect();
    names.sort();
    names
}

/// Child processes of this process (pid, command name, state), zombies
/// included.
pub fn children() -> Vec<(u32, String, String)> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        if field("PPid:") == me {
            out.push((pid, field("Name:"), field("State:")));
        }
    }
    out
}

/// Waits up to `timeout` for `check` to hold.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
