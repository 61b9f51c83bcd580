//! One real-time ffmpeg publisher per stream, and the estimate of its clock.
//!
//! # The publisher's clock
//!
//! ffmpeg writes a progress block every `-stats_period` (0.1 s) on stdout;
//! we stamp each `out_time_us` line with our monotonic clock when we read
//! it. In ffmpeg 5.1 `out_time` is the muxer's end time of its furthest
//! stream: the last *decode* timestamp written plus that packet's duration
//! for audio (one tick for video), in the input's time line (`-c copy`
//! keeps it: the fixture's first keyframe has DTS 0, PTS 0.067).
//!
//! If media time `t` was handed to the socket at wall time `s(t)`, a sample
//! read at `w` has `w >= s(t) + d` where `d >= 0` is the delay of the
//! report (ffmpeg's write of the progress block after the packet, the
//! pipe, our scheduling). With `-re`, `s(t) = offset + t` for a constant
//! `offset` (ffmpeg paces its reads by the input's timestamps), so every
//! sample's `w - t` is `offset + d` and
//!
//! `offset_estimate = min over samples of (w - t) = offset + min(d)`:
//!
//! the tightest upper bound the samples give on when `t` was sent. It is
//! late by the smallest report delay seen (well under a millisecond with
//! hundreds of samples; more when every sample was delayed, e.g. on a
//! saturated box), which *under*-states latencies by as much. ffmpeg's
//! pacing jitter and its interleaving (a video packet waits in the muxer
//! for the next audio packet, up to one AAC frame, 21 ms) only add to `d`
//! for some samples; the minimum picks the samples without them.
//!
//! Calibration (2026-12-08, this fixture, ffmpeg 5.1.9): the same command
//! writing FLV to a TCP socket instead of RTMP, a listener stamping each
//! tag's arrival: every keyframe after the first arrived within -1 to +3 ms
//! of `offset_estimate + its DTS`. Hence segment close times use DTS (see
//! `--media-origin`); with PTS they would be 67 ms (the fixture's B-frame
//! delay) late. A video-only input would differ: there `out_time` ran
//! ~40 ms behind the keyframes' arrival, so this estimator wants audio.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::time::Instant;

/// Keep this many progress samples per publisher (10 a second: over an
/// hour's worth).
const MAX_SAMPLES: usize = 40_000;
/// Keep the last this many bytes of a publisher's error output.
const STDERR_TAIL: usize = 2048;

pub struct Spec {
    pub ffmpeg: String,
    pub fixture: String,
    pub rtmp_url: String,
    /// ffmpeg's `-t`: media seconds to publish.
    pub seconds: f64,
    /// Kill the publisher at this instant if it still runs.
    pub deadline: Instant,
    /// Seconds since the run's start are measured from here.
    pub base: Instant,
}

#[derive(Debug, Default)]
pub struct Report {
    /// Seconds since the run's start.
    pub spawned_at: f64,
    /// `(read at, out_time)` pairs, seconds since the run's start and media
    /// seconds.
    pub samples: Vec<(f64, f64)>,
    /// When ffmpeg exited on its own (before we killed it), and its status.
    pub exited_at: Option<f64>,
    pub exit_status: Option<String>,
    pub stderr_tail: String,
    pub spawn_error: Option<String>,
}

impl Report {
    /// The publisher's clock offset: `min(w - out_time)` (see the module
    /// documentation). Media time `t` was sent at `offset + t`.
    pub fn offset(&self) -> Option<f64> {
        self.samples
            .iter()
            .map(|&(w, t)| w - t)
            .min_by(f64::total_cmp)
    }

    /// Largest media time the publisher had sent by `at` (seconds since the
    /// run's start), from the samples.
    pub fn media_sent_by(&self, at: f64) -> Option<f64> {
        self.samples
            .iter()
            .filter(|&&(w, _)| w <= at)
            .map(|&(_, t)| t)
            .max_by(f64::total_cmp)
    }
}

/// Runs one publisher until it exits or `spec.deadline`, whichever is
/// first; kills it at the deadline.
pub async fn run(spec: Spec) -> Report {
    let mut report = Report::default();
    let mut cmd = Command::new(&spec.ffmpeg);
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
        .args(["-stream_loop", "-1", "-i", &spec.fixture, "-c", "copy"])
        .args(["-t", &format!("{:.3}", spec.seconds)])
        .args(["-progress", "pipe:1", "-stats_period", "0.1"])
        .args(["-f", "flv", &spec.rtmp_url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    report.spawned_at = spec.base.elapsed().as_secs_f64();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            report.spawn_error = Some(format!("{}: {e}", spec.ffmpeg));
            return report;
        }
    };
    let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut stderr = child.stderr.take().expect("piped");
    let mut stdout_open = true;
    let mut stderr_open = true;
    let mut err_buf = [0u8; 1024];
    let mut err_tail: Vec<u8> = Vec::new();
    let deadline = tokio::time::sleep_until(spec.deadline);
    tokio::pin!(deadline);
    // Bounded by the deadline; every turn consumes a line, a read, or ends.
    loop {
        tokio::select! {
            line = stdout.next_line(), if stdout_open => match line {
                Ok(Some(line)) => {
                    if let Some(v) = line.strip_prefix("out_time_us=") {
                        let at = spec.base.elapsed().as_secs_f64();
                        // "N/A" before the first packet.
                        if let Ok(us) = v.trim().parse::<i64>()
                            && us > 0
                            && report.samples.len() < MAX_SAMPLES
                        {
                            report.samples.push((at, us as f64 / 1e6));
                        }
                    }
                }
                _ => stdout_open = false,
            },
            n = stderr.read(&mut err_buf), if stderr_open => match n {
                Ok(n) if n > 0 => {
                    err_tail.extend_from_slice(&err_buf[..n]);
                    if err_tail.len() > STDERR_TAIL {
                        err_tail.drain(..err_tail.len() - STDERR_TAIL);
                    }
                }
                _ => stderr_open = false,
            },
            status = child.wait(), if !stdout_open && !stderr_open => {
                report.exited_at = Some(spec.base.elapsed().as_secs_f64());
                report.exit_status = Some(match status {
                    Ok(s) => s.to_string(),
                    Err(e) => e.to_string(),
                });
                break;
            }
            _ = &mut deadline => {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                break;
            }
        }
    }
    report.stderr_tail = String::from_utf8_lossy(&err_tail).trim().to_string();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_is_the_tightest_bound() {
        let r = Report {
            samples: vec![(1.0, 0.9), (1.1, 1.05), (1.2, 1.1)],
            ..Report::default()
        };
        assert!((r.offset().unwrap() - 0.05).abs() < 1e-9);
        assert_eq!(r.media_sent_by(1.15), Some(1.05));
        assert_eq!(r.media_sent_by(0.5), None);
    }
}
