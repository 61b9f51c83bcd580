//! Clips over stored segments, and the MP4 export runner.
//!
//! A clip (DESIGN.md "Domain") is a time range of a broadcast's segments.
//! Every segment starts on a keyframe, so a clip is snapped to segment
//! boundaries ([`snap_clip_range`]) and its playlist lists whole segments
//! ([`clip_segments`]); times are media milliseconds from the broadcast's
//! first indexed segment, as in `control::Clip`.
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
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use control::{ClaimedExport, Clip, Db, SegmentRecord, WebhookEventType};
use storage::{Media, keys};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::{Live, SOURCE_RENDITION};

/// 90 kHz ticks per millisecond.
const TICKS_PER_MS: i64 = 90;

/// Share of the progress bar spent fetching segments; the remux takes the
/// rest up to [`REMUX_DONE`], storing the file the last points.
const FETCH_SHARE: u8 = 20;
const REMUX_DONE: u8 = 95;
/// Longest ffmpeg error output kept for `export_error`, in bytes.
const STDERR_TAIL: usize = 400;

/// How the export runner works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipExportConfig {
    /// Exports running at once (at least 1).
    pub concurrency: u32,
    /// Longest one export may take, fetch and upload included; then it
    /// fails with "timed out".
    pub job_timeout: Duration,
    /// How often to look for new jobs (requests made through the API on
    /// this node also wake the runner at once, see [`Live::wake_clip_exporter`]).
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

/// The rendition a clip is snapped on and exported from: the source when
/// the broadcast has it, else the first by name.
pub fn clip_rendition(renditions: &[String]) -> Option<&str> {
    renditions
        .iter()
        .find(|r| r.as_str() == SOURCE_RENDITION)
        .or_else(|| renditions.first())
        .map(String::as_str)
}

/// Each segment with its start on the broadcast's timeline, in 90 kHz
/// ticks from the first indexed segment.
pub(crate) fn timeline(segments: &[SegmentRecord]) -> impl Iterator<Item = (i64, &SegmentRecord)> {
    segments.iter().scan(0i64, |t, s| {
        let start = *t;
        *t = t.saturating_add(s.duration_90k);
        Some((start, s))
    })
}

fn ticks_to_ms(ticks: i64) -> i64 {
    (ticks + TICKS_PER_MS / 2) / TICKS_PER_MS
}

/// Total duration of `segments`, in milliseconds.
pub fn segments_duration_ms(segments: &[SegmentRecord]) -> i64 {
    ticks_to_ms(segments.iter().map(|s| s.duration_90k).sum())
}

/// `[start_ms, end_ms)` widened to the boundaries of the segments it
/// overlaps (segments start on keyframes): the range a clip really plays.
/// `None` when no segment overlaps it.
pub fn snap_clip_range(
    segments: &[SegmentRecord],
    start_ms: i64,
    end_ms: i64,
) -> Option<(i64, i64)> {
    let (start, end) = (start_ms * TICKS_PER_MS, end_ms * TICKS_PER_MS);
    let mut snapped: Option<(i64, i64)> = None;
    for (t, s) in timeline(segments) {
        let seg_end = t + s.duration_90k;
        if seg_end > start && t < end {
            snapped = Some(match snapped {
                None => (t, seg_end),
                Some((first, _)) => (first, seg_end),
            });
        }
    }
    snapped.map(|(a, b)| (ticks_to_ms(a), ticks_to_ms(b)))
}

/// The segments a clip plays: those whose midpoint lies in
/// `[start_ms, end_ms)`. For a range snapped on this rendition that is
/// exactly the snapped segments; on another rendition of the same
/// broadcast (cut at the same keyframes) the same instants.
pub fn clip_segments(
    segments: &[SegmentRecord],
    start_ms: i64,
    end_ms: i64,
) -> Vec<&SegmentRecord> {
    let (start, end) = (start_ms * TICKS_PER_MS, end_ms * TICKS_PER_MS);
    timeline(segments)
        .filter(|(t, s)| {
            let mid = t + s.duration_90k / 2;
            start <= mid && mid < end
        })
        .map(|(_, s)| s)
        .collect()
}

/// The `data` of a `clip.ready` webhook event: the clip as the API shows
/// it, without URLs (the API's `GET /api/v1/clips/{clip_id}` has them).
pub fn clip_event_data(clip: &Clip) -> serde_json::Value {
    serde_json::json!({
        "clip_id": clip.clip_id,
        "channel_id": clip.channel_id,
        "live_stream_id": clip.live_stream_id,
        "vod_id": clip.vod_id,
        "title": clip.title,
        "start_s": clip.start_ms as f64 / 1000.0,
        "end_s": clip.end_ms as f64 / 1000.0,
        "duration_s": clip.duration_ms() as f64 / 1000.0,
        "status": clip.status.as_str(),
        "export_status": clip.export_status.as_str(),
        "export_progress": clip.export_progress,
        "created_by_user_id": clip.created_by_user_id,
        "created_at_ms": clip.created_at_ms,
    })
}

/// Enqueues `clip.ready` for a clip, to its channel owner's endpoints.
/// Failures are logged: the clip is ready either way.
pub async fn enqueue_clip_ready(db: &Db, clip: &Clip) {
    let owner = match db.channel(&clip.channel_id).await {
        Ok(Some(channel)) => channel.owner_user_id,
        Ok(None) => return,
        Err(e) => {
            warn!(error = %e, clip = %clip.clip_id, "cannot enqueue clip.ready");
            return;
        }
    };
    if let Err(e) = db
        .enqueue_webhook_event(
            WebhookEventType::ClipReady,
            &owner,
            Some(&clip.channel_id),
            clip_event_data(clip),
        )
        .await
    {
        warn!(error = %e, clip = %clip.clip_id, "cannot enqueue clip.ready");
    }
}

/// Starts the export runner with the default [`ClipExportConfig`]; it stops
/// when `shutdown` becomes true (or its sender goes), abandoning running
/// jobs (ffmpeg is killed; their leases run out and the next start takes
/// them over).
pub fn spawn_clip_exporter(live: &Live, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    spawn_clip_exporter_with(live, ClipExportConfig::default(), shutdown)
}

/// [`spawn_clip_exporter`] with a given configuration.
pub fn spawn_clip_exporter_with(
    live: &Live,
    config: ClipExportConfig,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let runner = Runner {
        db: live.inner.db.clone(),
        media: live.inner.media.clone(),
        config,
        wake: live.inner.clip_wake.clone(),
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
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
                    enqueue_clip_ready(&self.db, &clip).await;
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
            lease_ms: duration_ms(self.config.lease),
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
            .claim_clip_exports(now_ms(), limit, duration_ms(self.config.lease))
            .await
    }

    fn start(&self, claim: ClaimedExport) -> impl Future<Output = ()> + Send + 'static {
        let span = info_span!("clip_export", clip = %claim.clip.clip_id);
        self.clone().job(claim).instrument(span)
    }
}

/// Work claimed from the database under a lease and run as tasks: clip
/// exports, asset files.
pub(crate) trait LeasedJobs: Send + Sync + 'static {
    type Claim: Send;
    /// Claims up to `limit` jobs.
    fn claim(&self, limit: u32) -> impl Future<Output = control::Result<Vec<Self::Claim>>> + Send;
    /// The task that runs one claimed job to its end (and records it).
    fn start(&self, claim: Self::Claim) -> impl Future<Output = ()> + Send + 'static;
}

/// How a [`run_leased`] loop looks for work.
pub(crate) struct Schedule {
    /// For log lines ("clip exports").
    pub what: &'static str,
    /// Jobs at once (at least 1).
    pub concurrency: u32,
    pub poll_interval: Duration,
    /// Notified when work was requested on this node.
    pub wake: Arc<Notify>,
}

/// Claims and runs `jobs` until `shutdown` turns true (or its sender goes):
/// up to `concurrency` at once, looking for more when one ends, when woken
/// and at every poll. Running jobs are then abandoned (their child
/// processes killed); their leases run out and the next start takes them
/// over.
pub(crate) async fn run_leased(
    jobs: impl LeasedJobs,
    schedule: Schedule,
    mut shutdown: watch::Receiver<bool>,
) {
    let concurrency = schedule.concurrency.max(1);
    let mut running = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let busy = u32::try_from(running.len()).unwrap_or(u32::MAX);
        if busy < concurrency {
            match jobs.claim(concurrency - busy).await {
                Ok(claims) => {
                    for claim in claims {
                        running.spawn(jobs.start(claim));
                    }
                }
                Err(e) => warn!(error = %e, "cannot claim {}", schedule.what),
            }
        }
        // Wait for a job to end, a wake-up, the next poll or shutdown.
        let wake = schedule.wake.notified();
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            Some(joined) = running.join_next(), if !running.is_empty() => {
                if let Err(e) = joined
                    && e.is_panic()
                {
                    warn!(error = %e, "one of the {} panicked", schedule.what);
                }
            }
            _ = wake => {}
            _ = tokio::time::sleep(schedule.poll_interval) => {}
        }
    }
    if !running.is_empty() {
        info!(
            running = running.len(),
            "stopping {}; they resume when their lease runs out", schedule.what
        );
    }
    running.shutdown().await;
}

/// Something told how far a job got, which may stop it (its claim was
/// lost): fetching `done` of `total` objects, then ffmpeg's `share` (0 to
/// 1) of the media processed.
pub(crate) trait JobProgress {
    async fn fetched(&mut self, done: usize, total: usize) -> Result<(), JobError>;
    async fn processed(&mut self, share: f64) -> Result<(), JobError>;
}

/// Fetches `segments` of one rendition of a broadcast (and their init
/// segments; gaps are skipped, with a discontinuity after them) into
/// `dir`, from the hot cache or the store, and writes a local VOD playlist
/// over them for ffmpeg's HLS reader (which handles TS and fMP4 alike, and
/// discontinuities). Returns the playlist's path and its duration in
/// 90 kHz ticks.
pub(crate) async fn fetch_local_playlist(
    media: &Media,
    live_stream_id: &str,
    rendition: &str,
    segments: &[&SegmentRecord],
    dir: &Path,
    progress: &mut impl JobProgress,
) -> Result<(PathBuf, i64), JobError> {
    let mut maps: Vec<(String, String)> = Vec::new();
    let mut current_map: Option<String> = None;
    let mut after_gap = false;
    let mut body = String::new();
    let mut total_ticks = 0i64;
    let max_duration = segments.iter().map(|s| s.duration_90k).max().unwrap_or(1);
    for (i, segment) in segments.iter().enumerate() {
        if segment.gap {
            after_gap = true;
            continue;
        }
        if let Some(map_uri) = &segment.map_uri {
            let local = match maps.iter().find(|(uri, _)| uri == map_uri) {
                Some((_, local)) => local.clone(),
                None => {
                    let local = format!("map{}{}", maps.len(), extension_of(map_uri));
                    fetch_object(media, live_stream_id, rendition, map_uri, &dir.join(&local))
                        .await?;
                    maps.push((map_uri.clone(), local.clone()));
                    local
                }
            };
            if current_map.as_deref() != Some(local.as_str()) {
                body.push_str(&format!("#EXT-X-MAP:URI=\"{local}\"\n"));
                current_map = Some(local);
            }
        }
        if (segment.discontinuity || after_gap) && total_ticks > 0 {
            body.push_str("#EXT-X-DISCONTINUITY\n");
        }
        after_gap = false;
        let local = format!("{i}{}", extension_of(&segment.uri));
        fetch_object(
            media,
            live_stream_id,
            rendition,
            &segment.uri,
            &dir.join(&local),
        )
        .await?;
        body.push_str(&format!(
            "#EXTINF:{:.3},\n{local}\n",
            segment.duration_90k as f64 / 90_000.0
        ));
        total_ticks += segment.duration_90k;
        progress.fetched(i + 1, segments.len()).await?;
    }
    let mut playlist = String::from("#EXTM3U\n#EXT-X-VERSION:7\n");
    playlist.push_str(&format!(
        "#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n",
        (max_duration + 89_999) / 90_000
    ));
    playlist.push_str(&body);
    playlist.push_str("#EXT-X-ENDLIST\n");
    let path = dir.join("local.m3u8");
    tokio::fs::write(&path, playlist)
        .await
        .map_err(|e| JobError::Failed(format!("cannot write the local playlist: {e}")))?;
    Ok((path, total_ticks))
}

/// Writes one object of a broadcast to `path`: from the hot cache (recent
/// segments of a live broadcast), else the store.
pub(crate) async fn fetch_object(
    media: &Media,
    live_stream_id: &str,
    rendition: &str,
    uri: &str,
    path: &Path,
) -> Result<(), JobError> {
    if !keys::is_safe_component(uri) {
        return Err(JobError::Failed(format!("unexpected segment URI {uri:?}")));
    }
    let key = keys::segment(live_stream_id, rendition, uri);
    let bytes = match media.cache().get(&key) {
        Some(bytes) => bytes,
        None => media
            .get(&key)
            .await
            .map_err(|e| JobError::Failed(format!("cannot read {key}: {e}")))?
            .ok_or_else(|| JobError::Failed(format!("{key} is missing from storage")))?,
    };
    tokio::fs::write(path, &bytes)
        .await
        .map_err(|e| JobError::Failed(format!("cannot write {}: {e}", path.display())))
}

/// Runs `command` (an ffmpeg invocation without its logging flags) with
/// `-progress pipe:1`, reporting the share of `total_ticks` processed, and
/// fails with the tail of its error output. ffmpeg is killed if this is
/// dropped (timeout, shutdown).
pub(crate) async fn run_ffmpeg(
    command: Command,
    total_ticks: i64,
    progress: &mut impl JobProgress,
) -> Result<(), JobError> {
    // Global options go first; ffmpeg reads them anywhere before the
    // output, so they are prepended to what the caller built.
    let program = command.as_std().get_program().to_owned();
    let args: Vec<std::ffi::OsString> = command.as_std().get_args().map(|a| a.to_owned()).collect();
    let mut full = Command::new(program);
    full.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-nostats"])
        .args(["-progress", "pipe:1"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = full
        .spawn()
        .map_err(|e| JobError::Failed(format!("cannot run ffmpeg: {e}")))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let stderr_task = tokio::spawn(async move {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all).await;
        all
    });
    let total_us = (total_ticks as f64 / 90_000.0 * 1e6).max(1.0);
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| JobError::Failed(format!("cannot read ffmpeg's progress: {e}")))?
    {
        let Some(value) = line.strip_prefix("out_time_us=") else {
            continue;
        };
        let Ok(us) = value.trim().parse::<f64>() else {
            continue; // "N/A" before the first packet
        };
        progress.processed((us / total_us).clamp(0.0, 1.0)).await?;
    }
    let status = child
        .wait()
        .await
        .map_err(|e| JobError::Failed(format!("cannot wait for ffmpeg: {e}")))?;
    let stderr = stderr_task.await.unwrap_or_default();
    if status.success() {
        debug!("ffmpeg done");
        return Ok(());
    }
    let text = String::from_utf8_lossy(&stderr);
    let text = text.trim();
    let mut start = text.len().saturating_sub(STDERR_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    Err(JobError::Failed(format!(
        "ffmpeg failed ({status}): {}",
        &text[start..]
    )))
}

/// `.ts` of `12.ts`; empty when there is none.
pub(crate) fn extension_of(uri: &str) -> &str {
    match uri.rfind('.') {
        Some(dot) => &uri[dot..],
        None => "",
    }
}

/// Why a job stopped before storing its file.
#[derive(Debug)]
pub(crate) enum JobError {
    /// The export failed; recorded as `export_error`.
    Failed(String),
    /// The clip was deleted, or another runner took the job over.
    Lost,
}

impl JobError {
    pub(crate) fn db(e: control::Error) -> Self {
        JobError::Failed(format!("database: {e}"))
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
            .set_clip_export_progress(self.clip_id, self.claim_id, pct, now_ms(), self.lease_ms)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(durations_ms: &[i64]) -> Vec<SegmentRecord> {
        durations_ms
            .iter()
            .enumerate()
            .map(|(i, d)| SegmentRecord {
                live_stream_id: "ls".into(),
                rendition: "source".into(),
                sequence: i as i64,
                duration_90k: d * 90,
                size_bytes: 1,
                discontinuity: false,
                uri: format!("{i}.ts"),
                map_uri: None,
                gap: false,
                program_date_time_ms: None,
                created_at_ms: 0,
            })
            .collect()
    }

    #[test]
    fn snaps_to_segment_boundaries() {
        let s = segs(&[2000, 2000, 2000, 2000, 2000, 2000]);
        assert_eq!(snap_clip_range(&s, 4000, 10_000), Some((4000, 10_000)));
        assert_eq!(snap_clip_range(&s, 4100, 9_900), Some((4000, 10_000)));
        assert_eq!(snap_clip_range(&s, 0, 1), Some((0, 2000)));
        assert_eq!(snap_clip_range(&s, 11_999, 12_000), Some((10_000, 12_000)));
        assert_eq!(snap_clip_range(&s, 12_000, 13_000), None);
        assert_eq!(snap_clip_range(&[], 0, 1000), None);
    }

    #[test]
    fn selects_segments_by_midpoint() {
        let s = segs(&[2000, 2000, 2000, 2000, 2000, 2000]);
        let seqs = |a, b| {
            clip_segments(&s, a, b)
                .iter()
                .map(|s| s.sequence)
                .collect::<Vec<_>>()
        };
        assert_eq!(seqs(4000, 10_000), vec![2, 3, 4]);
        // Another rendition cut a few ms off still yields the same ones.
        assert_eq!(seqs(3990, 10_010), vec![2, 3, 4]);
        assert_eq!(seqs(0, 12_000), vec![0, 1, 2, 3, 4, 5]);
        assert!(seqs(12_000, 14_000).is_empty());
        assert_eq!(segments_duration_ms(&s), 12_000);
    }

    #[test]
    fn prefers_the_source_rendition() {
        let r = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(clip_rendition(&r(&["360p", "source"])), Some("source"));
        assert_eq!(clip_rendition(&r(&["360p", "720p"])), Some("360p"));
        assert_eq!(clip_rendition(&[]), None);
        assert_eq!(extension_of("3.m4s"), ".m4s");
        assert_eq!(extension_of("init"), "");
    }
}
