//! Files made from finished recordings (Mux's static renditions and
//! images): `highest.mp4` and `audio.m4a` (remuxed, never re-encoded), the
//! storyboard sprite `storyboard.jpg` (its WebVTT is made from the stored
//! geometry) and `animated.gif`. One row per file; the asset-file runner
//! (`live`) claims `preparing` rows of ready recordings under a lease (any
//! number of runners and nodes), makes the file and reports it ready, or
//! failed: a failure is retried until [`ASSET_FILE_MAX_ATTEMPTS`], then the
//! file is `errored`.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::error::{Error, Result, Violation, map_write, violation};
use crate::ids::new_id;
use crate::text_enum::text_enum;
use crate::{Vod, decode};

/// Attempts at one file before it is `errored`.
pub const ASSET_FILE_MAX_ATTEMPTS: u32 = 3;

/// Longest error kept, in bytes.
const ERROR_MAX_LEN: usize = 500;

text_enum! {
    /// Which file.
    pub enum AssetFileName for "name" {
        /// The recording's source rendition as one MP4 (video and audio).
        HighestMp4 = "highest.mp4",
        /// The recording's audio as one M4A.
        AudioM4a = "audio.m4a",
        /// A sprite of thumbnails over the recording (with a WebVTT index).
        Storyboard = "storyboard.jpg",
        /// The first seconds as an animated GIF.
        AnimatedGif = "animated.gif",
    }
}

text_enum! {
    /// Where a file is.
    pub enum AssetFileStatus for "status" {
        /// Waiting to be made, or being made.
        Preparing = "preparing",
        Ready = "ready",
        /// Failed [`ASSET_FILE_MAX_ATTEMPTS`] times.
        Errored = "errored",
        /// Nothing to make it from (e.g. `audio.m4a` of a recording without
        /// audio).
        Skipped = "skipped",
    }
}

/// A file's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetFile {
    pub vod_id: String,
    pub name: AssetFileName,
    pub status: AssetFileStatus,
    pub size_bytes: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// JSON object text (the storyboard's geometry).
    pub meta: String,
    pub error: Option<String>,
    pub attempts: u32,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A file claimed by a runner, with its recording.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedAssetFile {
    pub file: AssetFile,
    pub vod: Vod,
    pub claim_id: String,
}

/// What a made file is: its size and, for images and video, its size in
/// pixels and any metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MadeAssetFile {
    pub size_bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// JSON object text; `{}` when there is nothing to say.
    pub meta: String,
}

macro_rules! asset_file_columns {
    () => {
        "vod_id, name, status, size_bytes, width, height, meta, error, attempts, \
         created_at_ms, updated_at_ms"
    };
}

fn asset_file_from_row(row: &AnyRow) -> Result<AssetFile> {
    let size: Option<i64> = row.try_get("size_bytes")?;
    Ok(AssetFile {
        vod_id: row.try_get("vod_id")?,
        name: decode::text_enum(row, "asset_file", "name")?,
        status: decode::text_enum(row, "asset_file", "status")?,
        size_bytes: size.map(|s| s.max(0) as u64),
        width: decode::opt_int(row, "asset_file", "width")?,
        height: decode::opt_int(row, "asset_file", "height")?,
        meta: row.try_get("meta")?,
        error: row.try_get("error")?,
        attempts: decode::int(row, "asset_file", "attempts")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

fn truncate(s: &str) -> &str {
    if s.len() <= ERROR_MAX_LEN {
        return s;
    }
    let mut end = ERROR_MAX_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Db {
    /// Asks for `names` of a recording (those already asked for stay as
    /// they are) and returns all of the recording's files.
    /// [`Error::NotFound`] if there is no such recording.
    pub async fn request_asset_files(
        &self,
        vod_id: &str,
        names: &[AssetFileName],
    ) -> Result<Vec<AssetFile>> {
        let now = self.now_ms();
        for name in names {
            sqlx::query(
                "INSERT INTO asset_file (vod_id, name, status, created_at_ms, updated_at_ms) \
                 VALUES ($1, $2, 'preparing', $3, $3) ON CONFLICT (vod_id, name) DO NOTHING",
            )
            .bind(vod_id)
            .bind(name.as_str())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| match violation(&e) {
                Some(Violation::ForeignKey) => Error::NotFound { what: "asset" },
                _ => map_write(e),
            })?;
        }
        self.asset_files(vod_id).await
    }

    /// A recording's files, in name order.
    pub async fn asset_files(&self, vod_id: &str) -> Result<Vec<AssetFile>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            asset_file_columns!(),
            " FROM asset_file WHERE vod_id = $1 ORDER BY name"
        ))
        .bind(vod_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(asset_file_from_row).collect()
    }

    /// One file of a recording, if asked for.
    pub async fn asset_file(&self, vod_id: &str, name: AssetFileName) -> Result<Option<AssetFile>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            asset_file_columns!(),
            " FROM asset_file WHERE vod_id = $1 AND name = $2"
        ))
        .bind(vod_id)
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(asset_file_from_row).transpose()
    }

    /// Forgets one file of a recording (its object is the caller's to
    /// delete). [`Error::NotFound`] if it was not asked for.
    pub async fn delete_asset_file(&self, vod_id: &str, name: AssetFileName) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM asset_file WHERE vod_id = $1 AND name = $2")
            .bind(vod_id)
            .bind(name.as_str())
            .execute(&self.pool)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "static rendition",
            });
        }
        Ok(())
    }

    /// Claims up to `limit` files to make at `now_ms`, for `lease_ms`:
    /// `preparing` files of ready recordings, not claimed or whose claim's
    /// lease ran out. Each claim counts as an attempt.
    pub async fn claim_asset_files(
        &self,
        now_ms: i64,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedAssetFile>> {
        if lease_ms <= 0 {
            return Err(Error::invalid("lease_ms", "must be positive"));
        }
        let claim_id = new_id();
        let lease_until_ms = now_ms.saturating_add(lease_ms);
        // As claim_clip_exports: a locking CTE on PostgreSQL, one
        // statement (one writer at a time) on SQLite.
        let picked = "SELECT f.vod_id AS picked_vod, f.name AS picked_name FROM asset_file f \
             JOIN vod v ON v.vod_id = f.vod_id \
             WHERE f.status = 'preparing' AND v.status = 'ready' \
               AND (f.lease_until_ms IS NULL OR f.lease_until_ms <= $3) \
             ORDER BY f.updated_at_ms, f.vod_id, f.name LIMIT $4";
        let sql = match self.backend() {
            crate::Backend::Postgres => format!(
                "WITH picked AS ({picked} FOR UPDATE OF f SKIP LOCKED) \
                 UPDATE asset_file SET claim_id = $1, lease_until_ms = $2, \
                 attempts = attempts + 1, updated_at_ms = $3 \
                 FROM picked WHERE vod_id = picked_vod AND name = picked_name \
                 AND status = 'preparing' AND (lease_until_ms IS NULL OR lease_until_ms <= $3) \
                 RETURNING {}",
                asset_file_columns!()
            ),
            crate::Backend::Sqlite => format!(
                "UPDATE asset_file SET claim_id = $1, lease_until_ms = $2, \
                 attempts = attempts + 1, updated_at_ms = $3 \
                 WHERE (vod_id, name) IN (SELECT picked_vod, picked_name FROM ({picked})) \
                 RETURNING {}",
                asset_file_columns!()
            ),
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&claim_id)
            .bind(lease_until_ms)
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let file = asset_file_from_row(row)?;
            let Some(vod) = self.vod(&file.vod_id).await? else {
                continue;
            };
            claimed.push(ClaimedAssetFile {
                file,
                vod,
                claim_id: claim_id.clone(),
            });
        }
        claimed.sort_by(|a, b| {
            (&a.file.vod_id, a.file.name.as_str()).cmp(&(&b.file.vod_id, b.file.name.as_str()))
        });
        Ok(claimed)
    }

    /// Renews a claim's lease to `now_ms + lease_ms` while the file is
    /// being made. [`Error::Conflict`] if the claim was lost (another
    /// runner took it over), [`Error::NotFound`] if the file is gone.
    pub async fn renew_asset_file(
        &self,
        vod_id: &str,
        name: AssetFileName,
        claim_id: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE asset_file SET lease_until_ms = $1 \
             WHERE vod_id = $2 AND name = $3 AND claim_id = $4 AND status = 'preparing'",
        )
        .bind(now_ms.saturating_add(lease_ms))
        .bind(vod_id)
        .bind(name.as_str())
        .bind(claim_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(self.lost(vod_id, name).await);
        }
        Ok(())
    }

    async fn lost(&self, vod_id: &str, name: AssetFileName) -> Error {
        match self.asset_file(vod_id, name).await {
            Ok(Some(_)) => Error::Conflict {
                what: "asset file claim",
            },
            Ok(None) => Error::NotFound {
                what: "static rendition",
            },
            Err(e) => e,
        }
    }

    /// Records a made file (`ready`), or one with nothing to make it from
    /// (`skipped`, when `made` is `None`). Errors as
    /// [`Db::renew_asset_file`].
    pub async fn finish_asset_file(
        &self,
        vod_id: &str,
        name: AssetFileName,
        claim_id: &str,
        made: Option<&MadeAssetFile>,
    ) -> Result<AssetFile> {
        let status = if made.is_some() {
            AssetFileStatus::Ready
        } else {
            AssetFileStatus::Skipped
        };
        let updated = sqlx::query(
            "UPDATE asset_file SET status = $1, size_bytes = $2, width = $3, height = $4, \
             meta = $5, error = NULL, claim_id = NULL, lease_until_ms = NULL, updated_at_ms = $6 \
             WHERE vod_id = $7 AND name = $8 AND claim_id = $9 AND status = 'preparing'",
        )
        .bind(status.as_str())
        .bind(made.map(|m| i64::try_from(m.size_bytes).unwrap_or(i64::MAX)))
        .bind(made.and_then(|m| m.width).map(i64::from))
        .bind(made.and_then(|m| m.height).map(i64::from))
        .bind(made.map_or("{}", |m| if m.meta.is_empty() { "{}" } else { &m.meta }))
        .bind(self.now_ms())
        .bind(vod_id)
        .bind(name.as_str())
        .bind(claim_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(self.lost(vod_id, name).await);
        }
        self.asset_file(vod_id, name).await?.ok_or(Error::NotFound {
            what: "static rendition",
        })
    }

    /// Records a failed attempt: the file is tried again (by any runner)
    /// until [`ASSET_FILE_MAX_ATTEMPTS`], then `errored` with `error`.
    /// Errors as [`Db::renew_asset_file`].
    pub async fn fail_asset_file(
        &self,
        vod_id: &str,
        name: AssetFileName,
        claim_id: &str,
        error: &str,
    ) -> Result<AssetFile> {
        let updated = sqlx::query(
            "UPDATE asset_file SET \
             status = CASE WHEN attempts >= $1 THEN 'errored' ELSE 'preparing' END, \
             error = $2, claim_id = NULL, lease_until_ms = NULL, updated_at_ms = $3 \
             WHERE vod_id = $4 AND name = $5 AND claim_id = $6 AND status = 'preparing'",
        )
        .bind(i64::from(ASSET_FILE_MAX_ATTEMPTS))
        .bind(truncate(error))
        .bind(self.now_ms())
        .bind(vod_id)
        .bind(name.as_str())
        .bind(claim_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(self.lost(vod_id, name).await);
        }
        self.asset_file(vod_id, name).await?.ok_or(Error::NotFound {
            what: "static rendition",
        })
    }
}
