//! VODs: the recording of one live stream (DESIGN.md "Domain":
//! `recording → ready`, or `failed`). The segments are the live stream's own;
//! this row tracks the state and the totals the VOD playlist needs.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::channel::{Visibility, normalize_title};
use crate::db::Db;
use crate::decode;
use crate::error::{Error, Result, map_write};
use crate::error::{Violation, violation};
use crate::ids::new_id;
use crate::page::{Page, PageRequest};
use crate::text_enum::text_enum;

text_enum! {
    /// Where a recording is in its life.
    pub enum VodStatus for "status" {
        /// The broadcast is still being recorded.
        Recording = "recording",
        /// Finished: `/vod/{vod_id}/master.m3u8` serves it with ENDLIST.
        Ready = "ready",
        /// The recording could not be completed.
        Failed = "failed",
    }
}

/// A recording.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Vod {
    /// UUIDv7.
    pub vod_id: String,
    /// The broadcast recorded; one VOD per live stream.
    pub live_stream_id: String,
    pub channel_id: String,
    pub status: VodStatus,
    /// The channel's title when recording started.
    pub title: String,
    /// Total media duration, in milliseconds; 0 until ready.
    pub duration_ms: i64,
    /// Number of media segments; 0 until ready.
    pub segment_count: u32,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// When it became ready, unix milliseconds.
    pub ready_at_ms: Option<i64>,
}

/// Which VODs [`Db::list_vods_page`] returns; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VodFilter {
    /// Only this channel's.
    pub channel_id: Option<String>,
    /// Only VODs of this user's channels.
    pub owner_user_id: Option<String>,
    /// Only VODs of channels with this visibility (browse asks for public).
    pub visibility: Option<Visibility>,
    /// Only VODs in this status (viewers see ready ones).
    pub status: Option<VodStatus>,
}

/// What [`Db::delete_vod`] deleted: what the caller needs to delete its
/// objects from storage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeletedVod {
    /// The VOD as it was.
    pub vod: Vod,
    /// The broadcast whose segments (and playlists, thumbnails, poster) were
    /// the recording: its objects go. The live stream row stays, as
    /// history, with no segments.
    pub live_stream_id: String,
    /// Clips over those segments (of the VOD or of the broadcast's DVR
    /// window), deleted with it: `clips/{clip_id}*`.
    pub clip_ids: Vec<String>,
}

/// `SELECT` of every [`Vod`] column followed by `$tail` (a literal).
macro_rules! select_vod {
    ($tail:literal) => {
        concat!(
            "SELECT vod_id, live_stream_id, channel_id, status, title, duration_ms, \
             segment_count, created_at_ms, ready_at_ms FROM vod ",
            $tail
        )
    };
}

fn vod_from_row(row: &AnyRow) -> Result<Vod> {
    Ok(Vod {
        vod_id: row.try_get("vod_id")?,
        live_stream_id: row.try_get("live_stream_id")?,
        channel_id: row.try_get("channel_id")?,
        status: decode::text_enum(row, "vod", "status")?,
        title: row.try_get("title")?,
        duration_ms: row.try_get("duration_ms")?,
        segment_count: decode::int(row, "vod", "segment_count")?,
        created_at_ms: row.try_get("created_at_ms")?,
        ready_at_ms: row.try_get("ready_at_ms")?,
    })
}

impl Db {
    /// Starts the recording of a live stream: a VOD in `recording`, titled
    /// after its channel. [`Error::NotFound`] if there is no such live
    /// stream, [`Error::Conflict`] (`what` = "recording") if it already has
    /// a VOD.
    pub async fn create_vod(&self, live_stream_id: &str) -> Result<Vod> {
        let vod_id = new_id();
        // One statement reads the channel and inserts, so the title and
        // channel come from the same snapshot as the existence check.
        let inserted = sqlx::query(
            "INSERT INTO vod (vod_id, live_stream_id, channel_id, status, title, created_at_ms) \
             SELECT $1, ls.live_stream_id, ls.channel_id, 'recording', c.title, $2 \
             FROM live_stream ls JOIN channel c ON c.channel_id = ls.channel_id \
             WHERE ls.live_stream_id = $3",
        )
        .bind(&vod_id)
        .bind(self.now_ms())
        .bind(live_stream_id)
        .execute(&self.pool)
        .await
        .map_err(map_write)?;
        if inserted.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "live stream",
            });
        }
        tracing::info!(%vod_id, %live_stream_id, "vod recording");
        let vod = self
            .vod(&vod_id)
            .await?
            .ok_or(Error::NotFound { what: "vod" })?;
        // The asset's playback ids (Mux's new_asset_settings). A failure
        // here must not lose the recording: it is logged, and the asset can
        // get ids through the API later.
        if let Err(e) = self
            .add_new_asset_playback_ids(&vod.channel_id, &vod_id)
            .await
        {
            tracing::warn!(%vod_id, error = %e, "could not give the recording its playback ids");
        }
        Ok(vod)
    }

    /// Marks a recording `ready` with its totals and returns it.
    /// Idempotent for a VOD already ready (the first totals stay).
    /// [`Error::InvalidTransition`] if it failed, [`Error::NotFound`] if
    /// there is no such VOD, [`Error::Invalid`] on a negative duration.
    pub async fn finish_vod(
        &self,
        vod_id: &str,
        duration_ms: i64,
        segment_count: u32,
    ) -> Result<Vod> {
        if duration_ms < 0 {
            return Err(Error::invalid("duration_ms", "must not be negative"));
        }
        // The column is a 32-bit INTEGER on PostgreSQL.
        let segment_count = i32::try_from(segment_count)
            .map_err(|_| Error::invalid("segment_count", "must be below 2^31"))?;
        sqlx::query(
            "UPDATE vod SET status = 'ready', duration_ms = $1, segment_count = $2, \
             ready_at_ms = $3 WHERE vod_id = $4 AND status = 'recording'",
        )
        .bind(duration_ms)
        .bind(segment_count)
        .bind(self.now_ms())
        .bind(vod_id)
        .execute(&self.pool)
        .await?;
        let vod = self
            .vod(vod_id)
            .await?
            .ok_or(Error::NotFound { what: "vod" })?;
        match vod.status {
            VodStatus::Ready => {
                tracing::info!(%vod_id, duration_ms, segment_count, "vod ready");
                Ok(vod)
            }
            other => Err(Error::InvalidTransition {
                what: "vod",
                id: vod_id.to_owned(),
                from: other.as_str(),
                to: VodStatus::Ready.as_str(),
            }),
        }
    }

    /// Marks a recording `failed` and returns it. Idempotent for a VOD
    /// already failed. [`Error::InvalidTransition`] if it is ready,
    /// [`Error::NotFound`] if there is no such VOD.
    pub async fn fail_vod(&self, vod_id: &str) -> Result<Vod> {
        sqlx::query("UPDATE vod SET status = 'failed' WHERE vod_id = $1 AND status = 'recording'")
            .bind(vod_id)
            .execute(&self.pool)
            .await?;
        let vod = self
            .vod(vod_id)
            .await?
            .ok_or(Error::NotFound { what: "vod" })?;
        match vod.status {
            VodStatus::Failed => {
                tracing::warn!(%vod_id, "vod failed");
                Ok(vod)
            }
            other => Err(Error::InvalidTransition {
                what: "vod",
                id: vod_id.to_owned(),
                from: other.as_str(),
                to: VodStatus::Failed.as_str(),
            }),
        }
    }

    /// The VOD with this id, if any.
    pub async fn vod(&self, vod_id: &str) -> Result<Option<Vod>> {
        let row = sqlx::query(select_vod!("WHERE vod_id = $1"))
            .bind(vod_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(vod_from_row).transpose()
    }

    /// The recording of a live stream, if it was recorded.
    pub async fn vod_by_live_stream(&self, live_stream_id: &str) -> Result<Option<Vod>> {
        let row = sqlx::query(select_vod!("WHERE live_stream_id = $1"))
            .bind(live_stream_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(vod_from_row).transpose()
    }

    /// A page of VODs matching `filter`, newest first.
    pub async fn list_vods_page(
        &self,
        filter: &VodFilter,
        page: &PageRequest,
    ) -> Result<Page<Vod>> {
        // A NULL filter parameter matches every row.
        let rows = sqlx::query(select_vod!(
            "WHERE ($1 IS NULL OR channel_id = $1) AND ($2 IS NULL OR status = $2) \
             AND (($3 IS NULL AND $4 IS NULL) OR EXISTS (SELECT 1 FROM channel c \
                  WHERE c.channel_id = vod.channel_id \
                  AND ($3 IS NULL OR c.owner_user_id = $3) AND ($4 IS NULL OR c.visibility = $4))) \
             AND (created_at_ms, vod_id) < ($5, $6) \
             ORDER BY created_at_ms DESC, vod_id DESC LIMIT $7"
        ))
        .bind(filter.channel_id.as_deref())
        .bind(filter.status.map(VodStatus::as_str))
        .bind(filter.owner_user_id.as_deref())
        .bind(filter.visibility.map(Visibility::as_str))
        .bind(page.after_time_ms())
        .bind(page.after_id())
        .bind(page.fetch_limit())
        .fetch_all(&self.pool)
        .await?;
        let vods = rows.iter().map(vod_from_row).collect::<Result<_>>()?;
        Ok(Page::from_rows(vods, page, |v: &Vod| {
            (v.created_at_ms, &v.vod_id)
        }))
    }

    /// Ready VODs of public channels, newest first (at most `limit`, up to
    /// 200), whose title or channel's title or slug contains `search`
    /// (ignoring case; `None` or blank: all). For browse.
    pub async fn browse_vods(&self, search: Option<&str>, limit: u32) -> Result<Vec<Vod>> {
        let pattern = crate::follow::like_pattern(search)?;
        let rows = sqlx::query(select_vod!(
            "WHERE status = 'ready' AND EXISTS (SELECT 1 FROM channel c \
                 WHERE c.channel_id = vod.channel_id AND c.visibility = 'public' \
                 AND ($1 IS NULL OR lower(vod.title) LIKE $1 ESCAPE '\\' \
                      OR lower(c.title) LIKE $1 ESCAPE '\\' OR c.slug LIKE $1 ESCAPE '\\')) \
             ORDER BY created_at_ms DESC, vod_id DESC LIMIT $2"
        ))
        .bind(pattern)
        .bind(i64::from(limit.min(crate::follow::BROWSE_LIMIT_MAX)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(vod_from_row).collect()
    }

    /// Renames a VOD and returns it. [`Error::NotFound`] if there is no
    /// such VOD, [`Error::Invalid`] (`field` = "title") on a bad title
    /// (1-200 characters, no control characters).
    pub async fn update_vod_title(&self, vod_id: &str, title: &str) -> Result<Vod> {
        let title = normalize_title(title)?;
        let updated = sqlx::query("UPDATE vod SET title = $1 WHERE vod_id = $2")
            .bind(&title)
            .bind(vod_id)
            .execute(&self.pool)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound { what: "vod" });
        }
        self.vod(vod_id)
            .await?
            .ok_or(Error::NotFound { what: "vod" })
    }

    /// Deletes a VOD, its broadcast's segment index and the clips over those
    /// segments, in one transaction, and returns what the caller must delete
    /// from storage. The live stream row stays, as history.
    ///
    /// [`Error::Busy`] while its broadcast is still in progress (end it
    /// first), [`Error::NotFound`] if there is no such VOD.
    pub async fn delete_vod(&self, vod_id: &str) -> Result<DeletedVod> {
        let mut tx = self.pool.begin().await?;
        // Lock first (see Db::delete_channel): on PostgreSQL, FOR UPDATE on
        // the VOD and its live stream blocks clips being created over them
        // meanwhile (their foreign keys take KEY SHARE locks).
        let found = match self.backend() {
            crate::Backend::Sqlite => {
                sqlx::query("UPDATE vod SET title = title WHERE vod_id = $1")
                    .bind(vod_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    > 0
            }
            crate::Backend::Postgres => sqlx::query(
                "SELECT v.vod_id FROM vod v JOIN live_stream ls \
                 ON ls.live_stream_id = v.live_stream_id WHERE v.vod_id = $1 FOR UPDATE",
            )
            .bind(vod_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some(),
        };
        if !found {
            return Err(Error::NotFound { what: "vod" });
        }
        let row = sqlx::query(select_vod!("WHERE vod_id = $1"))
            .bind(vod_id)
            .fetch_one(&mut *tx)
            .await?;
        let vod = vod_from_row(&row)?;
        let live_stream_status: String =
            sqlx::query_scalar("SELECT status FROM live_stream WHERE live_stream_id = $1")
                .bind(&vod.live_stream_id)
                .fetch_one(&mut *tx)
                .await?;
        if live_stream_status != "ended" {
            return Err(Error::Busy {
                channel_id: vod.channel_id.clone(),
            });
        }
        let clip_ids: Vec<String> = sqlx::query_scalar(
            "SELECT clip_id FROM clip WHERE live_stream_id = $1 ORDER BY created_at_ms, clip_id",
        )
        .bind(&vod.live_stream_id)
        .fetch_all(&mut *tx)
        .await?;
        for (sql, id) in [
            (
                "DELETE FROM clip WHERE live_stream_id = $1",
                &vod.live_stream_id,
            ),
            (
                "DELETE FROM segment WHERE live_stream_id = $1",
                &vod.live_stream_id,
            ),
            ("DELETE FROM vod WHERE vod_id = $1", &vod.vod_id),
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| match violation(&e) {
                    // Cannot happen with the lock above.
                    Some(Violation::ForeignKey) => Error::Busy {
                        channel_id: vod.channel_id.clone(),
                    },
                    _ => Error::Database(e),
                })?;
        }
        tx.commit().await?;
        tracing::info!(%vod_id, clips = clip_ids.len(), "vod deleted");
        Ok(DeletedVod {
            live_stream_id: vod.live_stream_id.clone(),
            vod,
            clip_ids,
        })
    }

    /// A channel's VODs in every status, newest first, all at once (crash
    /// recovery and tests; the API pages with [`Db::list_vods_page`]).
    pub async fn list_vods(&self, channel_id: &str) -> Result<Vec<Vod>> {
        let rows = sqlx::query(select_vod!(
            "WHERE channel_id = $1 ORDER BY created_at_ms DESC, vod_id DESC"
        ))
        .bind(channel_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(vod_from_row).collect()
    }

    /// VODs still `recording` whose broadcast has ended: recordings a
    /// previous run could not finalize (crash recovery completes them).
    pub async fn unfinished_vods_of_ended_streams(&self) -> Result<Vec<Vod>> {
        let rows = sqlx::query(select_vod!(
            "WHERE status = 'recording' AND live_stream_id IN \
             (SELECT live_stream_id FROM live_stream WHERE status = 'ended') \
             ORDER BY created_at_ms, vod_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(vod_from_row).collect()
    }
}
