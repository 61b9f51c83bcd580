//! Clips (DESIGN.md "Domain"): a time range of a recording (VOD) or of a
//! broadcast's DVR window.
//!
//! An *instant* clip is a playlist over segments that already exist,
//! keyframe-aligned by whoever writes it: `preparing` until that playlist
//! is stored, then `ready` ([`Db::finish_clip`]). An *export* remuxes the
//! range into one MP4 (`clips/{clip_id}.mp4`) as a background job:
//! `none → pending` on request, `pending → running` when a job runner
//! claims it with a lease ([`Db::claim_clip_exports`]), then `ready` or
//! `failed`. A runner renews its lease with each progress report; if it
//! dies, the lease runs out and another runner claims the job again. Each
//! claim has an id that the runner's writes must present, so a runner that
//! lost its lease (stalled, then woke) fails instead of overwriting the new
//! runner's state.
//!
//! Times are media milliseconds from the start of the source: the VOD's
//! first segment, or the broadcast's first segment for a DVR clip.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::channel::normalize_title;
use crate::db::Db;
use crate::decode;
use crate::error::{Error, Result, Violation, map_write, violation};
use crate::ids::new_id;
use crate::page::{Page, PageRequest};
use crate::text_enum::text_enum;

/// Longest clip, in milliseconds (also a CHECK in the schema): ten minutes.
pub const CLIP_MAX_DURATION_MS: i64 = 10 * 60 * 1000;

/// Longest export error kept, in bytes; longer ones are truncated.
const EXPORT_ERROR_MAX_LEN: usize = 500;

text_enum! {
    /// Where an instant clip is in its life.
    pub enum ClipStatus for "status" {
        /// Created; its playlist is being written.
        Preparing = "preparing",
        /// Its playlist exists: playable.
        Ready = "ready",
        /// Its playlist could not be made (the segments were gone).
        Failed = "failed",
    }
}

text_enum! {
    /// Where a clip's MP4 export is.
    pub enum ClipExportStatus for "export_status" {
        /// Never requested.
        None = "none",
        /// Requested; waiting for a job runner.
        Pending = "pending",
        /// A job runner holds it (see `Clip::export_progress`).
        Running = "running",
        /// `clips/{clip_id}.mp4` exists.
        Ready = "ready",
        /// The last attempt failed (`Clip::export_error` says why); may be
        /// requested again.
        Failed = "failed",
    }
}

/// What a clip is cut from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClipSource {
    /// A recording.
    Vod { vod_id: String },
    /// A broadcast's DVR window (live or ended, recorded or not).
    LiveStream { live_stream_id: String },
}

/// A clip as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Clip {
    /// UUIDv7; names its objects `clips/{clip_id}*`.
    pub clip_id: String,
    pub channel_id: String,
    /// The broadcast whose segments it plays (for a VOD clip too).
    pub live_stream_id: String,
    /// Set when cut from the recording.
    pub vod_id: Option<String>,
    /// Media milliseconds from the source's start; `0 <= start_ms <
    /// end_ms`, at most [`CLIP_MAX_DURATION_MS`] apart.
    pub start_ms: i64,
    pub end_ms: i64,
    pub title: String,
    pub status: ClipStatus,
    pub export_status: ClipExportStatus,
    /// Percent, 0..=100; 100 once the export is ready.
    pub export_progress: u8,
    /// Why the last export failed.
    pub export_error: Option<String>,
    /// Who made it; `None` if unknown or since deleted.
    pub created_by_user_id: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds; bumped by every change.
    pub updated_at_ms: i64,
}

impl Clip {
    /// What it is cut from.
    pub fn source(&self) -> ClipSource {
        match &self.vod_id {
            Some(vod_id) => ClipSource::Vod {
                vod_id: vod_id.clone(),
            },
            None => ClipSource::LiveStream {
                live_stream_id: self.live_stream_id.clone(),
            },
        }
    }

    /// Length, in milliseconds.
    pub fn duration_ms(&self) -> i64 {
        self.end_ms - self.start_ms
    }
}

/// Input of [`Db::create_clip`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClip {
    pub source: ClipSource,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Trimmed; empty: the VOD's title, or the channel's for a DVR clip.
    pub title: String,
    /// The user making it, if known.
    pub created_by_user_id: Option<String>,
}

/// Which clips [`Db::list_clips`] returns; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClipFilter {
    pub channel_id: Option<String>,
    /// Clips cut from this recording.
    pub vod_id: Option<String>,
    /// Clips over this broadcast's segments (from its VOD or its DVR
    /// window).
    pub live_stream_id: Option<String>,
    /// Only clips this caller may see; `None`: every clip (internal use).
    pub visible_to: Option<ClipViewer>,
}

/// Who is listing clips ([`ClipFilter::visible_to`]): they see ready clips
/// of public channels, their own clips and those of channels they own;
/// admins see everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClipViewer {
    /// `None`: anonymous.
    pub user_id: Option<String>,
    pub admin: bool,
    /// Also ready clips of unlisted channels (the caller named the channel,
    /// VOD or broadcast, so they know where it is).
    pub include_unlisted: bool,
}

/// An export claimed by a job runner with [`Db::claim_clip_exports`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedExport {
    pub clip: Clip,
    /// Present it to every later call about this export.
    pub claim_id: String,
    /// Unix milliseconds; renew before then with
    /// [`Db::set_clip_export_progress`].
    pub lease_until_ms: i64,
}

/// Checks a clip's range: `0 <= start < end`, at most ten minutes long.
fn validate_range(start_ms: i64, end_ms: i64) -> Result<()> {
    if start_ms < 0 {
        return Err(Error::invalid("start_ms", "must not be negative"));
    }
    if end_ms <= start_ms {
        return Err(Error::invalid("end_ms", "must be after start_ms"));
    }
    if end_ms - start_ms > CLIP_MAX_DURATION_MS {
        return Err(Error::invalid(
            "end_ms",
            format!(
                "a clip is at most {} minutes long",
                CLIP_MAX_DURATION_MS / 60_000
            ),
        ));
    }
    Ok(())
}

/// Cuts `error` to at most [`EXPORT_ERROR_MAX_LEN`] bytes on a char
/// boundary.
fn truncate_error(error: &str) -> &str {
    if error.len() <= EXPORT_ERROR_MAX_LEN {
        return error;
    }
    let mut end = EXPORT_ERROR_MAX_LEN;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

/// Every [`Clip`] column, for SELECT and RETURNING lists.
macro_rules! clip_columns {
    () => {
        "clip_id, channel_id, live_stream_id, vod_id, start_ms, end_ms, title, status, \
         export_status, export_progress, export_error, created_by_user_id, created_at_ms, \
         updated_at_ms"
    };
}

macro_rules! select_clip {
    ($tail:literal) => {
        concat!("SELECT ", clip_columns!(), " FROM clip ", $tail)
    };
}

fn clip_from_row(row: &AnyRow) -> Result<Clip> {
    Ok(Clip {
        clip_id: row.try_get("clip_id")?,
        channel_id: row.try_get("channel_id")?,
        live_stream_id: row.try_get("live_stream_id")?,
        vod_id: row.try_get("vod_id")?,
        start_ms: row.try_get("start_ms")?,
        end_ms: row.try_get("end_ms")?,
        title: row.try_get("title")?,
        status: decode::text_enum(row, "clip", "status")?,
        export_status: decode::text_enum(row, "clip", "export_status")?,
        export_progress: decode::int(row, "clip", "export_progress")?,
        export_error: row.try_get("export_error")?,
        created_by_user_id: row.try_get("created_by_user_id")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

impl Db {
    /// Creates a clip in `preparing`.
    ///
    /// [`Error::Invalid`] on a bad range (`start_ms`/`end_ms`; a VOD clip
    /// must also end within a ready VOD's duration), a bad title, a failed
    /// VOD (`field` = "vod_id") or an unknown creator
    /// (`field` = "created_by_user_id"); [`Error::NotFound`] if the source
    /// does not exist.
    pub async fn create_clip(&self, new: NewClip) -> Result<Clip> {
        self.create_clip_limited(new, None).await
    }

    /// [`Db::create_clip`], refused with [`Error::LimitReached`] when the
    /// creator made `max` clips since `since_ms` (unix milliseconds),
    /// counted in the insert with the creator's row locked on PostgreSQL,
    /// so concurrent requests cannot both pass.
    pub async fn create_clip_limited(
        &self,
        new: NewClip,
        quota: Option<(u32, i64)>,
    ) -> Result<Clip> {
        validate_range(new.start_ms, new.end_ms)?;
        let title = match new.title.trim() {
            "" => None,
            title => Some(normalize_title(title)?),
        };
        let (live_stream_id, vod_id, channel_id, source_title) = match &new.source {
            ClipSource::Vod { vod_id } => {
                let vod = self
                    .vod(vod_id)
                    .await?
                    .ok_or(Error::NotFound { what: "vod" })?;
                match vod.status {
                    crate::VodStatus::Failed => {
                        return Err(Error::invalid("vod_id", "the recording failed"));
                    }
                    crate::VodStatus::Ready if new.end_ms > vod.duration_ms => {
                        return Err(Error::invalid(
                            "end_ms",
                            format!("the recording is {} ms long", vod.duration_ms),
                        ));
                    }
                    _ => {}
                }
                (
                    vod.live_stream_id,
                    Some(vod.vod_id),
                    vod.channel_id,
                    vod.title,
                )
            }
            ClipSource::LiveStream { live_stream_id } => {
                let row = sqlx::query(
                    "SELECT ls.live_stream_id, ls.channel_id, c.title FROM live_stream ls \
                     JOIN channel c ON c.channel_id = ls.channel_id WHERE ls.live_stream_id = $1",
                )
                .bind(live_stream_id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(Error::NotFound {
                    what: "live stream",
                })?;
                (
                    row.try_get("live_stream_id")?,
                    None,
                    row.try_get("channel_id")?,
                    row.try_get("title")?,
                )
            }
        };
        let now = self.now_ms();
        let clip = Clip {
            clip_id: new_id(),
            channel_id,
            live_stream_id,
            vod_id,
            start_ms: new.start_ms,
            end_ms: new.end_ms,
            title: title.unwrap_or(source_title),
            status: ClipStatus::Preparing,
            export_status: ClipExportStatus::None,
            export_progress: 0,
            export_error: None,
            created_by_user_id: new.created_by_user_id,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let quota = quota.filter(|_| clip.created_by_user_id.is_some());
        let mut tx = self.pool.begin().await?;
        if let (Some(_), Some(user_id)) = (quota, &clip.created_by_user_id) {
            self.lock_user_for_quota(&mut tx, user_id).await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO clip (clip_id, channel_id, live_stream_id, vod_id, start_ms, end_ms, \
             title, status, export_status, export_progress, created_by_user_id, created_at_ms, \
             updated_at_ms) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 \
             WHERE $14 IS NULL OR (SELECT COUNT(*) FROM clip \
               WHERE created_by_user_id = $11 AND created_at_ms > $15) < $14",
        )
        .bind(&clip.clip_id)
        .bind(&clip.channel_id)
        .bind(&clip.live_stream_id)
        .bind(&clip.vod_id)
        .bind(clip.start_ms)
        .bind(clip.end_ms)
        .bind(&clip.title)
        .bind(clip.status.as_str())
        .bind(clip.export_status.as_str())
        .bind(i32::from(clip.export_progress))
        .bind(&clip.created_by_user_id)
        .bind(clip.created_at_ms)
        .bind(clip.updated_at_ms)
        .bind(quota.map(|(max, _)| i64::from(max)))
        .bind(quota.map_or(0, |(_, since)| since))
        .execute(&mut *tx)
        .await;
        let inserted = match inserted {
            Ok(done) => {
                tx.commit().await?;
                Ok(done)
            }
            Err(e) => {
                drop(tx);
                Err(e)
            }
        };
        if let Ok(done) = &inserted
            && done.rows_affected() == 0
        {
            return Err(Error::LimitReached {
                what: "clips per hour",
                limit: quota.map_or(0, |(max, _)| max),
            });
        }
        if let Err(e) = inserted {
            return Err(match violation(&e) {
                Some(Violation::ForeignKey) => {
                    // The source was just read, so most likely the creator
                    // does not exist; else the source went meanwhile.
                    let creator_missing = match &clip.created_by_user_id {
                        Some(user_id) => self.user(user_id).await?.is_none(),
                        None => false,
                    };
                    if creator_missing {
                        Error::invalid("created_by_user_id", "no such user")
                    } else {
                        Error::NotFound {
                            what: "clip source",
                        }
                    }
                }
                _ => map_write(e),
            });
        }
        tracing::info!(clip_id = %clip.clip_id, channel_id = %clip.channel_id, "clip created");
        Ok(clip)
    }

    /// How many clips `user_id` made since `since_ms` (unix milliseconds),
    /// and when the oldest of them was made: for a per-user rate.
    pub async fn clips_made_since(
        &self,
        user_id: &str,
        since_ms: i64,
    ) -> Result<(u64, Option<i64>)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at_ms) AS oldest FROM clip \
             WHERE created_by_user_id = $1 AND created_at_ms > $2",
        )
        .bind(user_id)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        Ok((n.max(0) as u64, row.try_get("oldest")?))
    }

    /// Exports `user_id` asked for that are pending or running.
    pub async fn queued_exports_of(&self, user_id: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM clip WHERE export_requested_by_user_id = $1 \
             AND export_status IN ('pending', 'running')",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    /// The clip with this id, if any.
    pub async fn clip(&self, clip_id: &str) -> Result<Option<Clip>> {
        let row = sqlx::query(select_clip!("WHERE clip_id = $1"))
            .bind(clip_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(clip_from_row).transpose()
    }

    /// A page of clips matching `filter`, newest first. With
    /// [`ClipFilter::visible_to`], what the caller may not see is left out
    /// in the query itself, so pages are full and cursors only ever name
    /// clips the caller saw.
    pub async fn list_clips(&self, filter: &ClipFilter, page: &PageRequest) -> Result<Page<Clip>> {
        let (everything, viewer, unlisted) = match &filter.visible_to {
            None => (true, None, false),
            Some(v) => (v.admin, v.user_id.as_deref(), v.include_unlisted),
        };
        let rows = sqlx::query(select_clip!(
            "WHERE ($1 IS NULL OR channel_id = $1) AND ($2 IS NULL OR vod_id = $2) \
             AND ($3 IS NULL OR live_stream_id = $3) AND (created_at_ms, clip_id) < ($4, $5) \
             AND ($7 = 1 OR created_by_user_id = $8 OR EXISTS (SELECT 1 FROM channel c \
                 WHERE c.channel_id = clip.channel_id AND (c.owner_user_id = $8 \
                   OR (clip.status = 'ready' AND (c.visibility = 'public' \
                       OR (c.visibility = 'unlisted' AND $9 = 1)))))) \
             ORDER BY created_at_ms DESC, clip_id DESC LIMIT $6"
        ))
        .bind(filter.channel_id.as_deref())
        .bind(filter.vod_id.as_deref())
        .bind(filter.live_stream_id.as_deref())
        .bind(page.after_time_ms())
        .bind(page.after_id())
        .bind(page.fetch_limit())
        .bind(decode::flag_param(everything))
        .bind(viewer)
        .bind(decode::flag_param(unlisted))
        .fetch_all(&self.pool)
        .await?;
        let clips = rows.iter().map(clip_from_row).collect::<Result<_>>()?;
        Ok(Page::from_rows(clips, page, |c: &Clip| {
            (c.created_at_ms, &c.clip_id)
        }))
    }

    /// Ready clips of public channels, newest first (at most `limit`, up
    /// to 200), whose title or channel's title or slug contains `search`
    /// (ignoring case; `None` or blank: all). For browse.
    pub async fn browse_clips(&self, search: Option<&str>, limit: u32) -> Result<Vec<Clip>> {
        let pattern = crate::follow::like_pattern(search)?;
        let rows = sqlx::query(select_clip!(
            "WHERE status = 'ready' AND EXISTS (SELECT 1 FROM channel c \
                 WHERE c.channel_id = clip.channel_id AND c.visibility = 'public' \
                 AND ($1 IS NULL OR lower(clip.title) LIKE $1 ESCAPE '\\' \
                      OR lower(c.title) LIKE $1 ESCAPE '\\' OR c.slug LIKE $1 ESCAPE '\\')) \
             ORDER BY created_at_ms DESC, clip_id DESC LIMIT $2"
        ))
        .bind(pattern)
        .bind(i64::from(limit.min(crate::follow::BROWSE_LIMIT_MAX)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(clip_from_row).collect()
    }

    /// Renames a clip and returns it. [`Error::NotFound`] if there is no
    /// such clip, [`Error::Invalid`] (`field` = "title") on a bad title.
    pub async fn update_clip_title(&self, clip_id: &str, title: &str) -> Result<Clip> {
        let title = normalize_title(title)?;
        let updated =
            sqlx::query("UPDATE clip SET title = $1, updated_at_ms = $2 WHERE clip_id = $3")
                .bind(&title)
                .bind(self.now_ms())
                .bind(clip_id)
                .execute(&self.pool)
                .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound { what: "clip" });
        }
        self.clip(clip_id)
            .await?
            .ok_or(Error::NotFound { what: "clip" })
    }

    /// Sets an instant clip's status and returns it: `preparing → ready`
    /// once its playlist is stored, or `preparing → failed`. Idempotent for
    /// a clip already in `to`. [`Error::InvalidTransition`] otherwise,
    /// [`Error::NotFound`] if there is no such clip.
    async fn set_clip_status(&self, clip_id: &str, to: ClipStatus) -> Result<Clip> {
        sqlx::query(
            "UPDATE clip SET status = $1, updated_at_ms = $2 \
             WHERE clip_id = $3 AND status = 'preparing'",
        )
        .bind(to.as_str())
        .bind(self.now_ms())
        .bind(clip_id)
        .execute(&self.pool)
        .await?;
        let clip = self
            .clip(clip_id)
            .await?
            .ok_or(Error::NotFound { what: "clip" })?;
        if clip.status == to {
            Ok(clip)
        } else {
            Err(Error::InvalidTransition {
                what: "clip",
                id: clip_id.to_owned(),
                from: clip.status.as_str(),
                to: to.as_str(),
            })
        }
    }

    /// Marks a clip `ready` (its playlist is stored) and returns it:
    /// `preparing → ready`, idempotent for a ready clip.
    /// [`Error::InvalidTransition`] for a failed one, [`Error::NotFound`] if
    /// there is no such clip. The caller then enqueues `clip.ready`.
    pub async fn finish_clip(&self, clip_id: &str) -> Result<Clip> {
        let clip = self.set_clip_status(clip_id, ClipStatus::Ready).await?;
        tracing::info!(%clip_id, "clip ready");
        Ok(clip)
    }

    /// Marks a clip `failed` (its playlist could not be made) and returns
    /// it: `preparing → failed`, idempotent for a failed clip.
    /// [`Error::InvalidTransition`] for a ready one, [`Error::NotFound`] if
    /// there is no such clip.
    pub async fn fail_clip(&self, clip_id: &str) -> Result<Clip> {
        let clip = self.set_clip_status(clip_id, ClipStatus::Failed).await?;
        tracing::warn!(%clip_id, "clip failed");
        Ok(clip)
    }

    /// Deletes a clip and returns it as it was, so the caller can delete
    /// `clips/{clip_id}*`. A job runner exporting it finds out at its next
    /// write ([`Error::NotFound`]) and should delete what it wrote.
    /// [`Error::NotFound`] if there is no such clip.
    pub async fn delete_clip(&self, clip_id: &str) -> Result<Clip> {
        let rows = sqlx::query(concat!(
            "DELETE FROM clip WHERE clip_id = $1 RETURNING ",
            clip_columns!()
        ))
        .bind(clip_id)
        .fetch_all(&self.pool)
        .await?;
        let clip = rows
            .first()
            .map(clip_from_row)
            .transpose()?
            .ok_or(Error::NotFound { what: "clip" })?;
        tracing::info!(%clip_id, "clip deleted");
        Ok(clip)
    }

    /// Asks for an MP4 export: `none` or `failed` → `pending` (progress 0,
    /// error cleared); a clip already pending, running or exported is
    /// returned as it is. [`Error::InvalidTransition`] for a failed clip,
    /// [`Error::NotFound`] if there is no such clip.
    pub async fn request_clip_export(&self, clip_id: &str) -> Result<Clip> {
        self.request_clip_export_by(clip_id, None, None).await
    }

    /// [`Db::request_clip_export`], recording who asked; with
    /// `max_queued`, refused with [`Error::LimitReached`] when that user
    /// has that many exports pending or running (counted in the update,
    /// with their row locked on PostgreSQL).
    pub async fn request_clip_export_by(
        &self,
        clip_id: &str,
        requested_by_user_id: Option<&str>,
        max_queued: Option<u32>,
    ) -> Result<Clip> {
        let max_queued = max_queued.filter(|_| requested_by_user_id.is_some());
        let mut tx = self.pool.begin().await?;
        if let (Some(_), Some(user_id)) = (max_queued, requested_by_user_id) {
            self.lock_user_for_quota(&mut tx, user_id).await?;
        }
        let updated = sqlx::query(
            "UPDATE clip SET export_status = 'pending', export_progress = 0, export_error = NULL, \
             updated_at_ms = $1, export_requested_by_user_id = $3 \
             WHERE clip_id = $2 AND export_status IN ('none', 'failed') AND status <> 'failed' \
             AND ($4 IS NULL OR (SELECT COUNT(*) FROM clip q \
               WHERE q.export_requested_by_user_id = $3 \
               AND q.export_status IN ('pending', 'running')) < $4)",
        )
        .bind(self.now_ms())
        .bind(clip_id)
        .bind(requested_by_user_id)
        .bind(max_queued.map(i64::from))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if updated.rows_affected() == 0
            && let Some(max) = max_queued
            && let Some(clip) = self.clip(clip_id).await?
            && matches!(
                clip.export_status,
                ClipExportStatus::None | ClipExportStatus::Failed
            )
            && clip.status != ClipStatus::Failed
        {
            return Err(Error::LimitReached {
                what: "exports queued per user",
                limit: max,
            });
        }
        let clip = self
            .clip(clip_id)
            .await?
            .ok_or(Error::NotFound { what: "clip" })?;
        if clip.status == ClipStatus::Failed {
            return Err(Error::InvalidTransition {
                what: "clip export",
                id: clip_id.to_owned(),
                from: clip.export_status.as_str(),
                to: ClipExportStatus::Pending.as_str(),
            });
        }
        Ok(clip)
    }

    /// Claims up to `limit` exports for a job runner: pending ones, oldest
    /// request first, and running ones whose runner's lease ran out. Each
    /// becomes `running` under a new claim id, leased for `lease_ms` from
    /// `now_ms` (unix milliseconds). Two runners (or nodes) calling at once
    /// never get the same clip.
    pub async fn claim_clip_exports(
        &self,
        now_ms: i64,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedExport>> {
        if lease_ms <= 0 {
            return Err(Error::invalid("lease_ms", "must be positive"));
        }
        let claim_id = new_id();
        let lease_until_ms = now_ms.saturating_add(lease_ms);
        // PostgreSQL: SKIP LOCKED passes over rows another claimer is
        // taking, and the condition is repeated in the UPDATE so that a row
        // taken meanwhile is re-checked and skipped. SQLite runs one writer
        // at a time, so the statement is atomic there as it is.
        let sql = match self.backend() {
            // A CTE, not `IN (subquery)`: PostgreSQL may rescan an IN
            // subquery once per outer row, and each rescan of a
            // LIMIT ... SKIP LOCKED picks more rows; a CTE with a locking
            // clause runs exactly once.
            crate::Backend::Postgres => concat!(
                "WITH picked AS (SELECT clip_id AS picked_id FROM clip \
                   WHERE export_status = 'pending' \
                      OR (export_status = 'running' AND export_lease_until_ms <= $3) \
                   ORDER BY updated_at_ms, clip_id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 UPDATE clip SET export_status = 'running', export_claim_id = $1, \
                 export_lease_until_ms = $2, export_progress = 0, updated_at_ms = $3 \
                 FROM picked WHERE clip_id = picked_id \
                 AND (export_status = 'pending' \
                      OR (export_status = 'running' AND export_lease_until_ms <= $3)) \
                 RETURNING ",
                clip_columns!()
            ),
            crate::Backend::Sqlite => concat!(
                "UPDATE clip SET export_status = 'running', export_claim_id = $1, \
                 export_lease_until_ms = $2, export_progress = 0, updated_at_ms = $3 \
                 WHERE clip_id IN (SELECT clip_id FROM clip \
                   WHERE export_status = 'pending' \
                      OR (export_status = 'running' AND export_lease_until_ms <= $3) \
                   ORDER BY updated_at_ms, clip_id LIMIT $4) \
                 RETURNING ",
                clip_columns!()
            ),
        };
        let rows = sqlx::query(sql)
            .bind(&claim_id)
            .bind(lease_until_ms)
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                Ok(ClaimedExport {
                    clip: clip_from_row(row)?,
                    claim_id: claim_id.clone(),
                    lease_until_ms,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // RETURNING comes in no particular order.
        claimed.sort_by(|a, b| a.clip.clip_id.cmp(&b.clip.clip_id));
        if !claimed.is_empty() {
            tracing::debug!(count = claimed.len(), %claim_id, "clip exports claimed");
        }
        Ok(claimed)
    }

    /// Reports an export's progress (percent, at most 100) and renews its
    /// lease to `now_ms + lease_ms`. [`Error::Conflict`] (`what` = "export
    /// claim") if `claim_id` no longer holds it (the lease ran out and
    /// another runner took it over: stop), [`Error::NotFound`] if the clip
    /// is gone (deleted: stop and clean up).
    pub async fn set_clip_export_progress(
        &self,
        clip_id: &str,
        claim_id: &str,
        progress: u8,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<()> {
        if progress > 100 {
            return Err(Error::invalid("export_progress", "must be 0 to 100"));
        }
        if lease_ms <= 0 {
            return Err(Error::invalid("lease_ms", "must be positive"));
        }
        let updated = sqlx::query(
            "UPDATE clip SET export_progress = $1, export_lease_until_ms = $2, updated_at_ms = $3 \
             WHERE clip_id = $4 AND export_claim_id = $5 AND export_status = 'running'",
        )
        .bind(i32::from(progress))
        .bind(now_ms.saturating_add(lease_ms))
        .bind(now_ms)
        .bind(clip_id)
        .bind(claim_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(self.lost_claim(clip_id).await);
        }
        Ok(())
    }

    /// Marks an export `ready` (the MP4 is stored) and returns the clip.
    /// Errors as [`Db::set_clip_export_progress`].
    pub async fn finish_clip_export(&self, clip_id: &str, claim_id: &str) -> Result<Clip> {
        self.end_export(clip_id, claim_id, ClipExportStatus::Ready, None)
            .await
    }

    /// Marks an export `failed` with a reason (kept up to 500 bytes) and
    /// returns the clip; it may be requested again. Errors as
    /// [`Db::set_clip_export_progress`].
    pub async fn fail_clip_export(
        &self,
        clip_id: &str,
        claim_id: &str,
        error: &str,
    ) -> Result<Clip> {
        self.end_export(clip_id, claim_id, ClipExportStatus::Failed, Some(error))
            .await
    }

    async fn end_export(
        &self,
        clip_id: &str,
        claim_id: &str,
        to: ClipExportStatus,
        error: Option<&str>,
    ) -> Result<Clip> {
        let updated = sqlx::query(
            "UPDATE clip SET export_status = $1, export_error = $2, \
             export_progress = CASE WHEN $1 = 'ready' THEN 100 ELSE export_progress END, \
             export_claim_id = NULL, export_lease_until_ms = NULL, updated_at_ms = $3 \
             WHERE clip_id = $4 AND export_claim_id = $5 AND export_status = 'running'",
        )
        .bind(to.as_str())
        .bind(error.map(truncate_error))
        .bind(self.now_ms())
        .bind(clip_id)
        .bind(claim_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(self.lost_claim(clip_id).await);
        }
        match error {
            Some(error) => tracing::warn!(%clip_id, %error, "clip export failed"),
            None => tracing::info!(%clip_id, "clip export ready"),
        }
        self.clip(clip_id)
            .await?
            .ok_or(Error::NotFound { what: "clip" })
    }

    /// Why a write guarded by a claim id touched no row.
    async fn lost_claim(&self, clip_id: &str) -> Error {
        match self.clip(clip_id).await {
            Ok(Some(_)) => Error::Conflict {
                what: "export claim",
            },
            Ok(None) => Error::NotFound { what: "clip" },
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_rules() {
        assert!(validate_range(0, 1).is_ok());
        assert!(validate_range(5_000, 5_000 + CLIP_MAX_DURATION_MS).is_ok());
        for (start, end, field) in [
            (-1, 10, "start_ms"),
            (10, 10, "end_ms"),
            (10, 5, "end_ms"),
            (0, CLIP_MAX_DURATION_MS + 1, "end_ms"),
        ] {
            match validate_range(start, end) {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field, "{start}..{end}"),
                other => panic!("{start}..{end}: {other:?}"),
            }
        }
    }

    #[test]
    fn export_errors_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(400);
        assert_eq!(truncate_error(&long).len(), EXPORT_ERROR_MAX_LEN);
        assert_eq!(truncate_error("short"), "short");
    }
}
