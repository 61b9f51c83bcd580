//! Work done outside a broadcast, shared by the runners that do it (clip
//! exports in the server, asset files here): jobs claimed from the database
//! under a lease ([`run_leased`]), a broadcast's segments fetched into a
//! local playlist ([`fetch_local_playlist`]), and ffmpeg run with progress
//! ([`run_ffmpeg`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use control::SegmentRecord;
use storage::{Media, keys};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// A lease length in milliseconds, as the job tables store it (at least 1).
pub fn lease_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// Longest ffmpeg error output kept for a job's error, in bytes.
const STDERR_TAIL: usize = 400;

/// Work claimed from the database under a lease and run as tasks: clip
/// exports, asset files.
pub trait LeasedJobs: Send + Sync + 'static {
    type Claim: Send;
    /// Claims up to `limit` jobs.
    fn claim(&self, limit: u32) -> impl Future<Output = control::Result<Vec<Self::Claim>>> + Send;
    /// The task that runs one claimed job to its end (and records it).
    fn start(&self, claim: Self::Claim) -> impl Future<Output = ()> + Send + 'static;
}

/// How a [`run_leased`] loop looks for work.
pub struct Schedule {
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
pub async fn run_leased(
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
pub trait JobProgress {
    fn fetched(
        &mut self,
        done: usize,
        total: usize,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
    fn processed(&mut self, share: f64) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// Fetches `segments` of one rendition of a broadcast (and their init
/// segments; gaps are skipped, with a discontinuity after them) into
/// `dir`, from the hot cache or the store, and writes a local VOD playlist
/// over them for ffmpeg's HLS reader (which handles TS and fMP4 alike, and
/// discontinuities). Returns the playlist's path and its duration in
/// 90 kHz ticks.
pub async fn fetch_local_playlist(
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
pub async fn fetch_object(
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
pub async fn run_ffmpeg(
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
pub fn extension_of(uri: &str) -> &str {
    match uri.rfind('.') {
        Some(dot) => &uri[dot..],
        None => "",
    }
}

/// Why a job stopped before storing its file.
#[derive(Debug)]
pub enum JobError {
    /// The export failed; recorded as `export_error`.
    Failed(String),
    /// The clip was deleted, or another runner took the job over.
    Lost,
}

impl JobError {
    pub fn db(e: control::Error) -> Self {
        JobError::Failed(format!("database: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert_eq!(extension_of("3.m4s"), ".m4s");
        assert_eq!(extension_of("init"), "");
    }
}
