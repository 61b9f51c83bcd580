//! The segment index (DESIGN.md data flow: "live ──state & segment index──▶
//! control"): which media segments of a broadcast are durably stored. Crash
//! recovery rebuilds playlists from it.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::decode;
use crate::error::{Error, Result, map_write};

/// A stored media segment, as recorded in the index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SegmentRecord {
    pub live_stream_id: String,
    pub rendition: String,
    /// Media sequence number.
    pub sequence: i64,
    /// Duration in 90 kHz ticks.
    pub duration_90k: i64,
    pub size_bytes: i64,
    /// Follows a gap or format change (EXT-X-DISCONTINUITY).
    pub discontinuity: bool,
    /// URI relative to the media playlist, e.g. `12.ts` or `12.m4s`.
    pub uri: String,
    /// The initialization segment it needs (`EXT-X-MAP`), fMP4 only.
    pub map_uri: Option<String>,
    /// The store refused it: listed with `EXT-X-GAP`.
    pub gap: bool,
    /// Wall-clock start, unix milliseconds (`EXT-X-PROGRAM-DATE-TIME`).
    pub program_date_time_ms: Option<i64>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// A segment to add to the index, once its object is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSegment {
    pub live_stream_id: String,
    pub rendition: String,
    pub sequence: i64,
    pub duration_90k: i64,
    pub size_bytes: i64,
    pub discontinuity: bool,
    pub uri: String,
    pub map_uri: Option<String>,
    pub gap: bool,
    pub program_date_time_ms: Option<i64>,
}

fn segment_from_row(row: &AnyRow) -> Result<SegmentRecord> {
    let sequence: i64 = row.try_get("sequence")?;
    Ok(SegmentRecord {
        live_stream_id: row.try_get("live_stream_id")?,
        rendition: row.try_get("rendition")?,
        sequence,
        duration_90k: row.try_get("duration_90k")?,
        size_bytes: row.try_get("size_bytes")?,
        discontinuity: decode::flag(row, "segment", "discontinuity")?,
        uri: row
            .try_get::<Option<String>, _>("uri")?
            .unwrap_or_else(|| format!("{sequence}.ts")),
        map_uri: row.try_get("map_uri")?,
        gap: decode::flag(row, "segment", "gap")?,
        program_date_time_ms: row.try_get("program_date_time_ms")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

impl Db {
    /// Records a stored segment. Call only after the object store confirmed
    /// the write. [`Error::Conflict`] (`what` = "segment") if that sequence
    /// number is already indexed, [`Error::NotFound`] for an unknown live
    /// stream, [`Error::Invalid`] for impossible values.
    pub async fn add_segment(&self, segment: NewSegment) -> Result<()> {
        if segment.sequence < 0 {
            return Err(Error::invalid("sequence", "must not be negative"));
        }
        if segment.duration_90k <= 0 {
            return Err(Error::invalid("duration_90k", "must be positive"));
        }
        if segment.size_bytes <= 0 {
            return Err(Error::invalid("size_bytes", "must be positive"));
        }
        if segment.rendition.is_empty() || segment.rendition.len() > 32 {
            return Err(Error::invalid("rendition", "must be 1-32 bytes"));
        }
        if segment.uri.is_empty() || segment.uri.len() > 128 {
            return Err(Error::invalid("uri", "must be 1-128 bytes"));
        }
        if segment
            .map_uri
            .as_ref()
            .is_some_and(|m| m.is_empty() || m.len() > 128)
        {
            return Err(Error::invalid("map_uri", "must be 1-128 bytes"));
        }
        let inserted = sqlx::query(
            "INSERT INTO segment (live_stream_id, rendition, sequence, duration_90k, size_bytes, \
             discontinuity, created_at_ms, uri, map_uri, gap, program_date_time_ms) \
             SELECT live_stream_id, $1, $2, $3, $4, $5, $6, $8, $9, $10, $11 \
             FROM live_stream WHERE live_stream_id = $7",
        )
        .bind(&segment.rendition)
        .bind(segment.sequence)
        .bind(segment.duration_90k)
        .bind(segment.size_bytes)
        .bind(decode::flag_param(segment.discontinuity))
        .bind(self.now_ms())
        .bind(&segment.live_stream_id)
        .bind(&segment.uri)
        .bind(&segment.map_uri)
        .bind(decode::flag_param(segment.gap))
        .bind(segment.program_date_time_ms)
        .execute(&self.pool)
        .await
        .map_err(map_write)?;
        if inserted.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "live stream",
            });
        }
        Ok(())
    }

    /// The indexed segments of one rendition of a broadcast, by sequence.
    pub async fn segments(
        &self,
        live_stream_id: &str,
        rendition: &str,
    ) -> Result<Vec<SegmentRecord>> {
        let rows = sqlx::query(
            "SELECT live_stream_id, rendition, sequence, duration_90k, size_bytes, discontinuity, \
             created_at_ms, uri, map_uri, gap, program_date_time_ms FROM segment WHERE live_stream_id = $1 AND rendition = $2 \
             ORDER BY sequence",
        )
        .bind(live_stream_id)
        .bind(rendition)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(segment_from_row).collect()
    }

    /// The renditions of a broadcast that have indexed segments, by name.
    pub async fn segment_renditions(&self, live_stream_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT rendition FROM segment WHERE live_stream_id = $1 ORDER BY rendition",
        )
        .bind(live_stream_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("rendition").map_err(Into::into))
            .collect()
    }
}
