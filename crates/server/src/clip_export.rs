//! The clip export worker: clips become MP4 files.
//!
//! The export runner ([`spawn_clip_exporter`]) claims export jobs from the
//! database under a lease (`control::Db::claim_clip_exports`), so several
//! runners (or nodes) share the work and a job whose runner died is taken
//! over when its lease runs out. Per job it fetches the clip's segments of
//! one rendition (the source, when it has one) into a temporary directory,
//! remuxes them without re-encoding into one MP4 with
//! `ffmpeg -c copy -movflags +faststart` (reading `-progress pipe:1` into
//! `export_progress`, which also renews the lease), stores the file at
//! `clips/{clip_id}.mp4` in parts (a multipart upload on S3: never whole
//! in memory), marks the export ready and enqueues `clip.ready`.
//! At most [`ClipExportConfig::concurrency`] jobs run at once, each within
//! [`ClipExportConfig::job_timeout`]; ffmpeg is killed when its job is
//! dropped (timeout, shutdown).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use control::{ClaimedExport, Db, clip_rendition, clip_segments};
use live::jobs::{
    JobError, JobProgress, LeasedJobs, Schedule, fetch_local_playlist, lease_ms, run_ffmpeg,
    run_leased,
};
use storage::{Media, keys};
use tokio::process::Command;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, info, info_span, warn};

/// Share of the progress bar spent fetching segments; the remux takes the
/// rest up to [`REMUX_DONE`], storing the file the last points.
const FETCH_SHARE: u8 = 20;
const REMUX_DONE: u8 = 95;

/// How the export runner works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipExportConfig {
    /// Exports running at once (at least 1).
    pub concurrency: u32,
    /// Longest one export may take, fetch and upload included; then it
    /// fails with "timed out".
    pub job_timeout: Duration,
    /// How often to look for new jobs (requests made through the API on
    /// this node also wake the runner at once, see `live::Live::wake_clip_exporter`).
    pub poll_interval: Duration,
    /// How long a claim holds without a progress report; another runner
    /// takes the job over after that.
    pub lease: Duration,
    /// The ffmpeg executable.
    pub ffmpeg: PathBuf,
}

impl Default for ClipExportConfig {
    fn default() -> Self {
        ClipExportConfig {
            concurrency: 2,
            job_timeout: Duration::from_secs(10 * 60),
            poll_interval: Duration::from_secs(2),
            lease: Duration::from_secs(60),
            ffmpeg: PathBuf::from("ffmpeg"),
        }
    }
}

/// Starts the export runner: it stops when `shutdown` becomes true (or its
/// sender goes), abandoning running jobs (ffmpeg is killed; their leases
/// run out and the next start takes them over). `wake` is notified when an
/// export is requested on this node (`live::Live::clip_exporter_wake`).
pub fn spawn_clip_exporter(
    db: Db,
    media: Media,
    wake: Arc<Notify>,
    config: ClipExportConfig,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let runner = Runner {
        db,
        media,
        config,
        wake,
    };
    tokio::spawn(runner.run(shutdown).instrument(info_span!("clip_exporter")))
}

#[derive(Clone)]
struct Runner {
    db: Db,
    media: Media,
    config: ClipExportConfig,
    wake: Arc<Notify>,
}

impl Runner {
    async fn run(self, shutdown: watch::Receiver<bool>) {
        let schedule = Schedule {
            what: "clip exports",
            concurrency: self.config.concurrency,
            poll_interval: self.config.poll_interval,
            wake: self.wake.clone(),
        };
        run_leased(self, schedule, shutdown).await;
    }

    /// Runs one claimed export to its end and records the outcome.
    async fn job(self, claim: ClaimedExport) {
        let clip_id = claim.clip.clip_id.clone();
        let started = Instant::now();
        let outcome = match tokio::time::timeout(self.config.job_timeout, self.export(&claim)).await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(JobError::Failed(format!(
                "timed out after {} s",
                self.config.job_timeout.as_secs()
            ))),
        };
        let key = keys::clip(&clip_id);
        match outcome {
            Ok(size) => match self.db.finish_clip_export(&clip_id, &claim.claim_id).await {
                Ok(clip) => {
                    info!(
                        bytes = size,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "clip exported"
                    );
                    if let Err(e) = self.db.enqueue_clip_ready(&clip).await {
                        warn!(error = %e, "cannot enqueue clip.ready");
                    }
                }
                Err(control::Error::NotFound { .. }) => {
                    // Deleted while we were exporting: remove what we wrote.
                    if let Err(e) = self.media.delete(&key).await {
                        warn!(error = %e, "cannot delete the export of a deleted clip");
                    }
                }
                Err(control::Error::Conflict { .. }) => {
                    info!("lost the export claim; another runner finishes it");
                }
                Err(e) => {
                    warn!(error = %e, "cannot mark the clip export ready; it will be retried")
                }
            },
            Err(JobError::Lost) => {
                // Deleted, or taken over by another runner: nothing to record.
                if self.db.clip(&clip_id).await.ok().flatten().is_none() {
                    let _ = self.media.delete(&key).await;
                }
            }
            Err(JobError::Failed(reason)) => {
                match self
                    .db
                    .fail_clip_export(&clip_id, &claim.claim_id, &reason)
                    .await
                {
                    Ok(_)
                    | Err(control::Error::NotFound { .. } | control::Error::Conflict { .. }) => {}
                    Err(e) => warn!(error = %e, "cannot mark the clip export failed"),
                }
            }
        }
    }

    /// Fetches, remuxes and stores the clip; returns the MP4's size.
    async fn export(&self, claim: &ClaimedExport) -> Result<u64, JobError> {
        let clip = &claim.clip;
        let mut progress = Progress {
            db: &self.db,
            clip_id: &clip.clip_id,
            claim_id: &claim.claim_id,
            lease_ms: lease_ms(self.config.lease),
            last: None,
        };
        let renditions = self
            .db
            .segment_renditions(&clip.live_stream_id)
            .await
            .map_err(JobError::db)?;
        let rendition = clip_rendition(&renditions)
            .ok_or_else(|| JobError::Failed("the broadcast has no segments".into()))?
            .to_owned();
        let all = self
            .db
            .segments(&clip.live_stream_id, &rendition)
            .await
            .map_err(JobError::db)?;
        let selected = clip_segments(&all, clip.start_ms, clip.end_ms);
        if selected.iter().all(|s| s.gap) {
            return Err(JobError::Failed(
                "no stored segments in the clip's range".into(),
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("aethex-clip-")
            .tempdir()
            .map_err(|e| JobError::Failed(format!("cannot create a temporary directory: {e}")))?;
        let (playlist_path, total_ticks) = fetch_local_playlist(
            &self.media,
            &clip.live_stream_id,
            &rendition,
            &selected,
            dir.path(),
            &mut progress,
        )
        .await?;

        let output = dir.path().join("clip.mp4");
        self.remux(&playlist_path, &output, total_ticks, &mut progress)
            .await?;

        let size = tokio::fs::metadata(&output)
            .await
            .map_err(|e| JobError::Failed(format!("cannot read ffmpeg's output: {e}")))?
            .len();
        if size == 0 {
            return Err(JobError::Failed("ffmpeg wrote an empty file".into()));
        }
        progress.report(REMUX_DONE + 2).await?;
        // Straight from ffmpeg's file into the store, in parts: an hour-long
        // clip never sits in memory.
        self.media
            .put_file(&keys::clip(&clip.clip_id), &output)
            .await
            .map_err(|e| JobError::Failed(format!("cannot store the MP4: {e}")))?;
        Ok(size)
    }

    /// `ffmpeg -c copy` from the local playlist to `output`, reporting
    /// progress from `-progress pipe:1`.
    async fn remux(
        &self,
        playlist: &Path,
        output: &Path,
        total_ticks: i64,
        progress: &mut Progress<'_>,
    ) -> Result<(), JobError> {
        let mut command = Command::new(&self.config.ffmpeg);
        command
            .args(["-protocol_whitelist", "file"])
            .arg("-i")
            .arg(playlist)
            .args(["-map", "0:v?", "-map", "0:a?", "-c", "copy"])
            .args(["-movflags", "+faststart", "-f", "mp4", "-y"])
            .arg(output);
        run_ffmpeg(command, total_ticks, progress).await
    }
}

impl LeasedJobs for Runner {
    type Claim = ClaimedExport;

    async fn claim(&self, limit: u32) -> control::Result<Vec<ClaimedExport>> {
        self.db
            .claim_clip_exports(self.db.clock().now_ms(), limit, lease_ms(self.config.lease))
            .await
    }

    fn start(&self, claim: ClaimedExport) -> impl Future<Output = ()> + Send + 'static {
        let span = info_span!("clip_export", clip = %claim.clip.clip_id);
        self.clone().job(claim).instrument(span)
    }
}

/// Progress reports, which also renew the lease: sent when the percentage
/// grows (at most once a second), and at least every third of the lease.
struct Progress<'a> {
    db: &'a Db,
    clip_id: &'a str,
    claim_id: &'a str,
    lease_ms: i64,
    last: Option<(u8, Instant)>,
}

impl JobProgress for Progress<'_> {
    async fn fetched(&mut self, done: usize, total: usize) -> Result<(), JobError> {
        let pct = done as u64 * u64::from(FETCH_SHARE) / total.max(1) as u64;
        self.report(pct as u8).await
    }

    async fn processed(&mut self, share: f64) -> Result<(), JobError> {
        let pct = FETCH_SHARE + ((REMUX_DONE - FETCH_SHARE) as f64 * share) as u8;
        self.report(pct).await
    }
}

impl Progress<'_> {
    async fn report(&mut self, pct: u8) -> Result<(), JobError> {
        let pct = pct.min(99);
        let heartbeat = Duration::from_millis((self.lease_ms / 3).max(1) as u64);
        if let Some((last_pct, at)) = self.last {
            let elapsed = at.elapsed();
            let due = (pct > last_pct && elapsed >= Duration::from_secs(1)) || elapsed >= heartbeat;
            if !due {
                return Ok(());
            }
        }
        match self
            .db
            .set_clip_export_progress(
                self.clip_id,
                self.claim_id,
                pct,
                self.db.clock().now_ms(),
                self.lease_ms,
            )
            .await
        {
            Ok(()) => {
                self.last = Some((pct, Instant::now()));
                Ok(())
            }
            Err(control::Error::NotFound { .. }) => {
                info!("the clip was deleted; stopping its export");
                Err(JobError::Lost)
            }
            Err(control::Error::Conflict { .. }) => {
                info!("lost the export claim; stopping");
                Err(JobError::Lost)
            }
            Err(e) => {
                // Transient: the lease covers a few failed reports.
                warn!(error = %e, "cannot report clip export progress");
                Ok(())
            }
        }
    }
}
