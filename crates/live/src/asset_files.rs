//! Files made from finished recordings, Mux's static renditions and
//! images: `highest.mp4` and `audio.m4a` (the source rendition remuxed with
//! `ffmpeg -c copy`, never re-encoded), `storyboard.jpg` (a sprite of
//! frames over the recording, decoding keyframes only) and `animated.gif`
//! (the first seconds). `control::Db::request_asset_files` asks for them;
//! the runner here claims requested files of ready recordings under a lease
//! (like clip exports: any number of runners or nodes), fetches the
//! recording's segments into a temporary directory, runs ffmpeg, stores the
//! file under the broadcast's prefix in parts (never whole in memory) and
//! reports it. Static renditions (`highest.mp4`, `audio.m4a`) announce
//! `vod.static_rendition.*` webhook events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use control::{
    AssetFileName, AssetFileStatus, ClaimedAssetFile, Db, MadeAssetFile, SegmentRecord, Vod,
    WebhookEventType,
};
use serde_json::{Value, json};
use storage::{Media, keys};
use tokio::process::Command;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, info, info_span, warn};

use crate::Live;
use crate::jobs::{
    JobError, JobProgress, LeasedJobs, Schedule, fetch_local_playlist, lease_ms, run_ffmpeg,
    run_leased,
};
use crate::storyboard::{StoryboardGeometry, even};
use control::clip_rendition;

/// How the asset-file runner works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetFileConfig {
    /// Files made at once (at least 1).
    pub concurrency: u32,
    /// Longest one file may take, fetch and upload included.
    pub job_timeout: Duration,
    /// How often to look for new work (requests on this node wake the
    /// runner at once, see [`Live::wake_asset_file_maker`]).
    pub poll_interval: Duration,
    /// How long a claim holds without being renewed.
    pub lease: Duration,
    /// The ffmpeg executable.
    pub ffmpeg: PathBuf,
}

impl Default for AssetFileConfig {
    fn default() -> Self {
        AssetFileConfig {
            concurrency: 1,
            job_timeout: Duration::from_secs(60 * 60),
            poll_interval: Duration::from_secs(5),
            lease: Duration::from_secs(60),
            ffmpeg: PathBuf::from("ffmpeg"),
        }
    }
}

/// Seconds of the recording an animated GIF shows (Mux's default).
const GIF_SECONDS: u32 = 5;
/// Width of an animated GIF, in pixels (Mux's default).
const GIF_WIDTH: u32 = 320;
/// Frames per second of an animated GIF.
const GIF_FPS: u32 = 10;

/// Which files a new recording gets: the static renditions its channel
/// asks for in Mux's `new_asset_settings` (`mp4_support`,
/// `static_renditions`), and the storyboard and GIF when it has playback
/// ids of its own (only those can be asked for them).
pub fn files_for_new_recording(
    mux_settings: &str,
    has_asset_playback_ids: bool,
) -> Vec<AssetFileName> {
    let settings: Value = serde_json::from_str(mux_settings).unwrap_or(Value::Null);
    let new = &settings["new_asset_settings"];
    let mut out = Vec::new();
    let mut want = |name: AssetFileName| {
        if !out.contains(&name) {
            out.push(name);
        }
    };
    match new["mp4_support"].as_str() {
        Some("standard" | "capped-1080p") => want(AssetFileName::HighestMp4),
        Some("audio-only") => want(AssetFileName::AudioM4a),
        Some("audio-only,capped-1080p") => {
            want(AssetFileName::HighestMp4);
            want(AssetFileName::AudioM4a);
        }
        _ => {}
    }
    for rendition in new["static_renditions"].as_array().into_iter().flatten() {
        match rendition["resolution"].as_str() {
            Some("audio-only") => want(AssetFileName::AudioM4a),
            Some(_) => want(AssetFileName::HighestMp4),
            None => {}
        }
    }
    if has_asset_playback_ids {
        want(AssetFileName::Storyboard);
        want(AssetFileName::AnimatedGif);
    }
    out
}

/// Asks for a ready recording's files (see [`files_for_new_recording`])
/// and wakes the runner (`wake`). Never fails the caller: problems are
/// logged.
pub(crate) async fn request_new_recording_files(db: &Db, wake: &Notify, vod: &Vod) {
    let channel = match db.channel(&vod.channel_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            warn!(error = %e, vod = %vod.vod_id, "cannot read the channel to request the recording's files");
            return;
        }
    };
    let has_ids = match db
        .playback_ids_of(&control::PlaybackObject::Asset(vod.vod_id.clone()))
        .await
    {
        Ok(ids) => !ids.is_empty(),
        Err(e) => {
            warn!(error = %e, vod = %vod.vod_id, "cannot read the recording's playback ids");
            false
        }
    };
    let names = files_for_new_recording(&channel.mux_settings, has_ids);
    if names.is_empty() {
        return;
    }
    match db.request_asset_files(&vod.vod_id, &names).await {
        Ok(files) => {
            for f in files.iter().filter(|f| is_static_rendition(f.name)) {
                if f.status == AssetFileStatus::Preparing && f.attempts == 0 {
                    announce(db, vod, f.name, "vod.static_rendition.created", json!({})).await;
                }
            }
            wake.notify_waiters();
        }
        Err(e) => warn!(error = %e, vod = %vod.vod_id, "cannot request the recording's files"),
    }
}

/// `highest.mp4` and `audio.m4a` are Mux's static renditions (with
/// webhook events); the images are not.
pub fn is_static_rendition(name: AssetFileName) -> bool {
    matches!(name, AssetFileName::HighestMp4 | AssetFileName::AudioM4a)
}

async fn announce(db: &Db, vod: &Vod, name: AssetFileName, event: &str, extra: Value) {
    let Ok(event_type) = event.parse::<WebhookEventType>() else {
        return;
    };
    let Ok(Some(channel)) = db.channel(&vod.channel_id).await else {
        return;
    };
    let mut data = json!({
        "vod_id": vod.vod_id,
        "live_stream_id": vod.live_stream_id,
        "channel_id": vod.channel_id,
        "name": name.as_str(),
    });
    if let (Some(map), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    if let Err(e) = db
        .enqueue_webhook_event(
            event_type,
            &channel.owner_user_id,
            Some(&vod.channel_id),
            data,
        )
        .await
    {
        warn!(error = %e, %event_type, "could not queue a webhook event; it is not sent");
    }
}

/// Starts the runner with the default [`AssetFileConfig`]; it stops when
/// `shutdown` turns true (running jobs are abandoned: their leases run out
/// and the next start takes them over).
pub fn spawn_asset_file_maker(live: &Live, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    spawn_asset_file_maker_with(live, AssetFileConfig::default(), shutdown)
}

/// [`spawn_asset_file_maker`] with a given configuration.
pub fn spawn_asset_file_maker_with(
    live: &Live,
    config: AssetFileConfig,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let runner = Runner {
        db: live.inner.db.clone(),
        media: live.inner.media.clone(),
        config,
        wake: live.inner.asset_wake.clone(),
    };
    tokio::spawn(runner.run(shutdown).instrument(info_span!("asset_files")))
}

#[derive(Clone)]
struct Runner {
    db: Db,
    media: Media,
    config: AssetFileConfig,
    wake: Arc<Notify>,
}

impl Runner {
    async fn run(self, shutdown: watch::Receiver<bool>) {
        let schedule = Schedule {
            what: "asset files",
            concurrency: self.config.concurrency,
            poll_interval: self.config.poll_interval,
            wake: self.wake.clone(),
        };
        run_leased(self, schedule, shutdown).await;
    }

    async fn job(self, claim: ClaimedAssetFile) {
        let started = Instant::now();
        let name = claim.file.name;
        let vod = &claim.vod;
        let key = keys::asset_file(&vod.live_stream_id, name.as_str());
        let outcome = match tokio::time::timeout(self.config.job_timeout, self.make(&claim)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(JobError::Failed(format!(
                "timed out after {} s",
                self.config.job_timeout.as_secs()
            ))),
        };
        let static_rendition = is_static_rendition(name);
        match outcome {
            Ok(made) => match self
                .db
                .finish_asset_file(&vod.vod_id, name, &claim.claim_id, made.as_ref())
                .await
            {
                Ok(file) => {
                    info!(
                        status = %file.status,
                        bytes = file.size_bytes.unwrap_or(0),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "asset file done"
                    );
                    if static_rendition {
                        let event = match file.status {
                            AssetFileStatus::Ready => "vod.static_rendition.ready",
                            _ => "vod.static_rendition.skipped",
                        };
                        announce(
                            &self.db,
                            vod,
                            name,
                            event,
                            json!({"size_bytes": file.size_bytes}),
                        )
                        .await;
                    }
                }
                Err(control::Error::NotFound { .. }) => {
                    // Deleted meanwhile: remove what was written.
                    let _ = self.media.delete(&key).await;
                }
                Err(control::Error::Conflict { .. }) => {
                    info!("lost the claim; another runner finishes the file");
                }
                Err(e) => warn!(error = %e, "cannot record the asset file; it will be made again"),
            },
            Err(JobError::Lost) => {}
            Err(JobError::Failed(reason)) => {
                warn!(%reason, "asset file failed");
                match self
                    .db
                    .fail_asset_file(&vod.vod_id, name, &claim.claim_id, &reason)
                    .await
                {
                    Ok(file) if file.status == AssetFileStatus::Errored && static_rendition => {
                        announce(
                            &self.db,
                            vod,
                            name,
                            "vod.static_rendition.errored",
                            json!({"error": reason}),
                        )
                        .await;
                    }
                    Ok(_)
                    | Err(control::Error::NotFound { .. } | control::Error::Conflict { .. }) => {}
                    Err(e) => warn!(error = %e, "cannot record the failed asset file"),
                }
            }
        }
    }

    /// Makes and stores the file; `None` when there is nothing to make it
    /// from (skipped).
    async fn make(&self, claim: &ClaimedAssetFile) -> Result<Option<MadeAssetFile>, JobError> {
        let vod = &claim.vod;
        let name = claim.file.name;
        let ls = self
            .db
            .live_stream(&vod.live_stream_id)
            .await
            .map_err(JobError::db)?
            .ok_or(JobError::Lost)?;
        let has_video = ls.ingest.video_codec.is_some();
        let has_audio = ls.ingest.audio_codec.is_some();
        let wanted = match name {
            AssetFileName::AudioM4a => has_audio,
            AssetFileName::HighestMp4 => has_audio || has_video,
            AssetFileName::Storyboard | AssetFileName::AnimatedGif => has_video,
        };
        if !wanted {
            return Ok(None);
        }
        let renditions = self
            .db
            .segment_renditions(&vod.live_stream_id)
            .await
            .map_err(JobError::db)?;
        let Some(rendition) = clip_rendition(&renditions).map(str::to_owned) else {
            return Ok(None);
        };
        let all = self
            .db
            .segments(&vod.live_stream_id, &rendition)
            .await
            .map_err(JobError::db)?;
        let mut selected: Vec<&SegmentRecord> = all.iter().collect();
        if name == AssetFileName::AnimatedGif {
            // Only what the GIF shows.
            let mut ticks = 0i64;
            selected.retain(|s| {
                let keep = ticks < i64::from(GIF_SECONDS) * 90_000;
                ticks += s.duration_90k;
                keep
            });
        }
        if selected.iter().all(|s| s.gap) {
            return Ok(None);
        }
        let dir = tempfile::Builder::new()
            .prefix("aethex-asset-")
            .tempdir()
            .map_err(|e| JobError::Failed(format!("cannot create a temporary directory: {e}")))?;
        let mut progress = Lease {
            db: &self.db,
            claim,
            lease_ms: lease_ms(self.config.lease),
            renewed: Instant::now(),
        };
        let (playlist, total_ticks) = fetch_local_playlist(
            &self.media,
            &vod.live_stream_id,
            &rendition,
            &selected,
            dir.path(),
            &mut progress,
        )
        .await?;
        let output = dir.path().join(name.as_str());
        let mut command = Command::new(&self.config.ffmpeg);
        command.args(["-protocol_whitelist", "file"]);
        let (width, height) = (ls.ingest.width, ls.ingest.height);
        let mut made = MadeAssetFile {
            meta: "{}".to_owned(),
            ..MadeAssetFile::default()
        };
        match name {
            AssetFileName::HighestMp4 => {
                command
                    .arg("-i")
                    .arg(&playlist)
                    .args(["-map", "0:v?", "-map", "0:a?", "-c", "copy"])
                    .args(["-movflags", "+faststart", "-f", "mp4", "-y"]);
                made.width = width;
                made.height = height;
            }
            AssetFileName::AudioM4a => {
                command
                    .arg("-i")
                    .arg(&playlist)
                    .args(["-map", "0:a", "-vn", "-c", "copy"])
                    .args(["-movflags", "+faststart", "-f", "mp4", "-y"]);
            }
            AssetFileName::Storyboard => {
                let seconds = (total_ticks as f64 / 90_000.0).max(1.0);
                let geometry = StoryboardGeometry::new(seconds, width.zip(height));
                command
                    .args(["-skip_frame", "nokey", "-i"])
                    .arg(&playlist)
                    .args(["-an", "-vf"])
                    .arg(format!(
                        "fps=1/{},scale={}:{},tile={}x{}",
                        geometry.interval_s,
                        geometry.tile_width,
                        geometry.tile_height,
                        geometry.columns,
                        geometry.rows
                    ))
                    .args(["-frames:v", "1", "-q:v", "5", "-f", "image2", "-y"]);
                made.width = Some(geometry.columns * geometry.tile_width);
                made.height = Some(geometry.rows * geometry.tile_height);
                made.meta = serde_json::to_string(&geometry).unwrap_or_else(|_| "{}".into());
            }
            AssetFileName::AnimatedGif => {
                command
                    .arg("-i")
                    .arg(&playlist)
                    .args(["-t", &GIF_SECONDS.to_string(), "-an", "-vf"])
                    .arg(format!(
                        "fps={GIF_FPS},scale={GIF_WIDTH}:-2:flags=lanczos,split[a][b];[a]palettegen[p];[b][p]paletteuse"
                    ))
                    .args(["-loop", "0", "-f", "gif", "-y"]);
                made.width = Some(GIF_WIDTH);
                made.height = width.zip(height).map(|(w, h)| {
                    even((u64::from(GIF_WIDTH) * u64::from(h) / u64::from(w.max(1))) as u32)
                });
            }
        }
        command.arg(&output);
        run_ffmpeg(command, total_ticks, &mut progress).await?;
        let size = tokio::fs::metadata(&output)
            .await
            .map_err(|e| JobError::Failed(format!("cannot read ffmpeg's output: {e}")))?
            .len();
        if size == 0 {
            return Err(JobError::Failed("ffmpeg wrote an empty file".into()));
        }
        progress.renew().await?;
        self.media
            .put_file(
                &keys::asset_file(&vod.live_stream_id, name.as_str()),
                &output,
            )
            .await
            .map_err(|e| JobError::Failed(format!("cannot store {name}: {e}")))?;
        made.size_bytes = size;
        Ok(Some(made))
    }
}

impl LeasedJobs for Runner {
    type Claim = ClaimedAssetFile;

    async fn claim(&self, limit: u32) -> control::Result<Vec<ClaimedAssetFile>> {
        self.db
            .claim_asset_files(self.db.clock().now_ms(), limit, lease_ms(self.config.lease))
            .await
    }

    fn start(&self, claim: ClaimedAssetFile) -> impl Future<Output = ()> + Send + 'static {
        let span = info_span!("asset_file", vod = %claim.vod.vod_id, file = %claim.file.name);
        self.clone().job(claim).instrument(span)
    }
}

/// Renews the claim while a file is being made (at most every third of
/// the lease); a lost claim stops the job.
struct Lease<'a> {
    db: &'a Db,
    claim: &'a ClaimedAssetFile,
    lease_ms: i64,
    renewed: Instant,
}

impl Lease<'_> {
    async fn renew(&mut self) -> Result<(), JobError> {
        match self
            .db
            .renew_asset_file(
                &self.claim.vod.vod_id,
                self.claim.file.name,
                &self.claim.claim_id,
                self.db.clock().now_ms(),
                self.lease_ms,
            )
            .await
        {
            Ok(()) => {
                self.renewed = Instant::now();
                Ok(())
            }
            Err(control::Error::NotFound { .. } | control::Error::Conflict { .. }) => {
                info!("the file was deleted or taken over; stopping");
                Err(JobError::Lost)
            }
            Err(e) => {
                warn!(error = %e, "cannot renew the asset file's lease");
                Ok(())
            }
        }
    }

    async fn maybe_renew(&mut self) -> Result<(), JobError> {
        if self.renewed.elapsed() >= Duration::from_millis((self.lease_ms / 3).max(1) as u64) {
            self.renew().await
        } else {
            Ok(())
        }
    }
}

impl JobProgress for Lease<'_> {
    async fn fetched(&mut self, _done: usize, _total: usize) -> Result<(), JobError> {
        self.maybe_renew().await
    }

    async fn processed(&mut self, _share: f64) -> Result<(), JobError> {
        self.maybe_renew().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_follow_new_asset_settings() {
        let s = |v: Value| v.to_string();
        assert!(files_for_new_recording("{}", false).is_empty());
        assert_eq!(
            files_for_new_recording("{}", true),
            [AssetFileName::Storyboard, AssetFileName::AnimatedGif]
        );
        assert_eq!(
            files_for_new_recording(
                &s(json!({"new_asset_settings": {"mp4_support": "standard"}})),
                false
            ),
            [AssetFileName::HighestMp4]
        );
        assert_eq!(
            files_for_new_recording(
                &s(
                    json!({"new_asset_settings": {"static_renditions": [{"resolution": "audio-only"}, {"resolution": "highest"}]}})
                ),
                false
            ),
            [AssetFileName::AudioM4a, AssetFileName::HighestMp4]
        );
        assert_eq!(
            files_for_new_recording(
                &s(json!({"new_asset_settings": {"mp4_support": "audio-only,capped-1080p"}})),
                false
            ),
            [AssetFileName::HighestMp4, AssetFileName::AudioM4a]
        );
        assert!(files_for_new_recording("not json", false).is_empty());
    }
}
