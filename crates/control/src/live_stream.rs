//! Live streams: one row per broadcast of a channel (DESIGN.md "Domain":
//! `idle → connected → active → disconnected → ... → ended`; "idle" is the
//! absence of a non-ended row).
//!
//! The database guarantees at most one non-ended live stream per channel
//! (a partial unique index), so a second publisher on a live key gets
//! [`Error::Busy`] even when two ingest nodes race. A publisher that drops
//! and comes back within the channel's reconnect window continues the same
//! row (`disconnected → active`); the `live` crate decides when the window
//! has elapsed and ends it.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::decode;
use crate::error::{Error, Result, Violation, violation};
use crate::ids::{new_id, now_ms};
use crate::text_enum::text_enum;

text_enum! {
    /// Where a broadcast is in its life.
    pub enum LiveStreamStatus for "status" {
        /// A publisher connected and was authorised; no media yet.
        Connected = "connected",
        /// Media is arriving and being packaged.
        Active = "active",
        /// The publisher dropped; waiting out the reconnect window.
        Disconnected = "disconnected",
        /// Over. Final: no transition leaves this state.
        Ended = "ended",
    }
}

/// What the publisher sends, as reported when media starts. All optional:
/// an audio-only or video-only stream leaves the other half empty.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct IngestInfo {
    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub video_codec: Option<String>,
    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub audio_codec: Option<String>,
    /// Pixels; > 0.
    pub width: Option<u32>,
    /// Pixels; > 0.
    pub height: Option<u32>,
    /// Frames per second; finite, > 0.
    pub fps: Option<f64>,
}

/// One broadcast.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LiveStream {
    /// UUIDv7.
    pub live_stream_id: String,
    pub channel_id: String,
    pub status: LiveStreamStatus,
    /// When the publisher connected, unix milliseconds.
    pub started_at_ms: i64,
    /// When media first arrived, unix milliseconds.
    pub active_at_ms: Option<i64>,
    /// When it ended, unix milliseconds; set iff `status` is `Ended`.
    pub ended_at_ms: Option<i64>,
    /// As last reported by [`Db::set_live_stream_active`].
    pub ingest: IngestInfo,
    /// Why it ended; set iff `status` is `Ended`.
    pub end_reason: Option<String>,
}

/// Longest codec string accepted, in bytes (real ones are ~20).
const CODEC_MAX_LEN: usize = 64;
/// Longest end reason kept, in bytes; longer ones are truncated.
const END_REASON_MAX_LEN: usize = 500;

fn validate_ingest(info: &IngestInfo) -> Result<()> {
    for (field, codec) in [
        ("video_codec", &info.video_codec),
        ("audio_codec", &info.audio_codec),
    ] {
        if let Some(codec) = codec
            && (codec.is_empty()
                || codec.len() > CODEC_MAX_LEN
                || codec.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            return Err(Error::invalid(
                field,
                format!("must be an RFC 6381 codec string of 1 to {CODEC_MAX_LEN} bytes"),
            ));
        }
    }
    for (field, pixels) in [("width", info.width), ("height", info.height)] {
        if pixels == Some(0) || pixels.is_some_and(|p| p > i32::MAX as u32) {
            return Err(Error::invalid(field, "must be a positive number of pixels"));
        }
    }
    if let Some(fps) = info.fps
        && !(fps.is_finite() && fps > 0.0)
    {
        return Err(Error::invalid(
            "fps",
            format!("must be positive, got {fps}"),
        ));
    }
    Ok(())
}

/// Cuts `reason` to at most [`END_REASON_MAX_LEN`] bytes on a char boundary.
fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= END_REASON_MAX_LEN {
        return reason;
    }
    let mut end = END_REASON_MAX_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// `SELECT` of every [`LiveStream`] column followed by `$tail` (a literal).
macro_rules! select_live_stream {
    ($tail:literal) => {
        concat!(
            "SELECT live_stream_id, channel_id, status, started_at_ms, active_at_ms, \
             ended_at_ms, video_codec, audio_codec, width, height, fps, end_reason \
             FROM live_stream ",
            $tail
        )
    };
}

fn live_stream_from_row(row: &AnyRow) -> Result<LiveStream> {
    Ok(LiveStream {
        live_stream_id: row.try_get("live_stream_id")?,
        channel_id: row.try_get("channel_id")?,
        status: decode::text_enum(row, "live_stream", "status")?,
        started_at_ms: row.try_get("started_at_ms")?,
        active_at_ms: row.try_get("active_at_ms")?,
        ended_at_ms: row.try_get("ended_at_ms")?,
        ingest: IngestInfo {
            video_codec: row.try_get("video_codec")?,
            audio_codec: row.try_get("audio_codec")?,
            width: decode::opt_int(row, "live_stream", "width")?,
            height: decode::opt_int(row, "live_stream", "height")?,
            fps: row.try_get("fps")?,
        },
        end_reason: row.try_get("end_reason")?,
    })
}

impl Db {
    /// Starts a broadcast on a channel: a new live stream in `connected`.
    ///
    /// [`Error::Busy`] if the channel already has one that has not ended (a
    /// second publisher on a live key; a reconnecting publisher continues
    /// the existing one instead, see [`Db::set_live_stream_active`]).
    /// [`Error::NotFound`] if there is no such channel. Whether the channel
    /// is enabled is the caller's check.
    pub async fn begin_live_stream(&self, channel_id: &str) -> Result<LiveStream> {
        let live_stream = LiveStream {
            live_stream_id: new_id(),
            channel_id: channel_id.to_owned(),
            status: LiveStreamStatus::Connected,
            started_at_ms: now_ms(),
            active_at_ms: None,
            ended_at_ms: None,
            ingest: IngestInfo::default(),
            end_reason: None,
        };
        sqlx::query(
            "INSERT INTO live_stream (live_stream_id, channel_id, status, started_at_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&live_stream.live_stream_id)
        .bind(&live_stream.channel_id)
        .bind(live_stream.status.as_str())
        .bind(live_stream.started_at_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::Unique(_)) => Error::Busy {
                channel_id: channel_id.to_owned(),
            },
            Some(Violation::ForeignKey) => Error::NotFound { what: "channel" },
            None => Error::Database(e),
        })?;
        tracing::info!(
            live_stream_id = %live_stream.live_stream_id,
            %channel_id,
            "live stream connected"
        );
        Ok(live_stream)
    }

    /// Marks a live stream `active` (media is arriving) and records what the
    /// publisher sends. Also the way back from `disconnected` when the
    /// publisher reconnects within the window. `active_at_ms` keeps the
    /// first time media arrived.
    ///
    /// [`Error::InvalidTransition`] if it has ended, [`Error::NotFound`] if
    /// there is no such live stream, [`Error::Invalid`] on bad ingest info.
    pub async fn set_live_stream_active(
        &self,
        live_stream_id: &str,
        ingest: IngestInfo,
    ) -> Result<()> {
        validate_ingest(&ingest)?;
        // sqlx 0.9's Any driver encodes a NULL f64 as a NULL *f32*
        // (`sqlx-core/src/any/arguments.rs` swaps Real and Double), and
        // PostgreSQL keeps the parameter types of the first execution of a
        // prepared statement: after one `fps = NULL` on a connection, binding
        // a real f64 there fails with "incorrect binary data format". So a
        // missing fps is written as a literal NULL in a statement of its own
        // and never bound.
        let sql = if ingest.fps.is_some() {
            "UPDATE live_stream SET status = 'active', \
             active_at_ms = COALESCE(active_at_ms, $1), video_codec = $2, audio_codec = $3, \
             width = $4, height = $5, fps = $6 \
             WHERE live_stream_id = $7 AND status <> 'ended'"
        } else {
            "UPDATE live_stream SET status = 'active', \
             active_at_ms = COALESCE(active_at_ms, $1), video_codec = $2, audio_codec = $3, \
             width = $4, height = $5, fps = NULL \
             WHERE live_stream_id = $6 AND status <> 'ended'"
        };
        let mut query = sqlx::query(sql)
            .bind(now_ms())
            .bind(ingest.video_codec)
            .bind(ingest.audio_codec)
            // validate_ingest bounded these to i32.
            .bind(ingest.width.map(|w| w as i32))
            .bind(ingest.height.map(|h| h as i32));
        if let Some(fps) = ingest.fps {
            query = query.bind(fps);
        }
        let updated = query.bind(live_stream_id).execute(&self.pool).await?;
        if updated.rows_affected() == 0 {
            return Err(self
                .transition_error(live_stream_id, LiveStreamStatus::Active)
                .await);
        }
        tracing::info!(%live_stream_id, "live stream active");
        Ok(())
    }

    /// Marks a live stream `disconnected`: the publisher dropped and the
    /// reconnect window is running. [`Error::InvalidTransition`] if it has
    /// ended, [`Error::NotFound`] if there is no such live stream.
    pub async fn set_live_stream_disconnected(&self, live_stream_id: &str) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE live_stream SET status = 'disconnected' \
             WHERE live_stream_id = $1 AND status <> 'ended'",
        )
        .bind(live_stream_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(self
                .transition_error(live_stream_id, LiveStreamStatus::Disconnected)
                .await);
        }
        tracing::info!(%live_stream_id, "live stream disconnected");
        Ok(())
    }

    /// Ends a live stream with a reason (kept up to 500 bytes) and returns
    /// it. Idempotent: ending an ended live stream changes nothing (the
    /// first reason and time stay) and returns it as it is.
    /// [`Error::NotFound`] if there is no such live stream.
    pub async fn end_live_stream(
        &self,
        live_stream_id: &str,
        end_reason: &str,
    ) -> Result<LiveStream> {
        let updated = sqlx::query(
            "UPDATE live_stream SET status = 'ended', ended_at_ms = $1, end_reason = $2 \
             WHERE live_stream_id = $3 AND status <> 'ended'",
        )
        .bind(now_ms())
        .bind(truncate_reason(end_reason))
        .bind(live_stream_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() > 0 {
            tracing::info!(%live_stream_id, %end_reason, "live stream ended");
        }
        self.live_stream(live_stream_id)
            .await?
            .ok_or(Error::NotFound {
                what: "live stream",
            })
    }

    /// The live stream with this id, if any.
    pub async fn live_stream(&self, live_stream_id: &str) -> Result<Option<LiveStream>> {
        let row = sqlx::query(select_live_stream!("WHERE live_stream_id = $1"))
            .bind(live_stream_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(live_stream_from_row).transpose()
    }

    /// The channel's most recent live stream (ended or not), if it ever
    /// broadcast. After a broadcast ends, its live URL keeps serving this
    /// one as a finished playlist until the next one starts.
    pub async fn latest_live_stream(&self, channel_id: &str) -> Result<Option<LiveStream>> {
        let row = sqlx::query(select_live_stream!(
            "WHERE channel_id = $1 ORDER BY started_at_ms DESC, live_stream_id DESC LIMIT 1"
        ))
        .bind(channel_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(live_stream_from_row).transpose()
    }

    /// A channel's live streams, newest first, at most `limit`.
    pub async fn list_live_streams(&self, channel_id: &str, limit: u32) -> Result<Vec<LiveStream>> {
        let rows = sqlx::query(select_live_stream!(
            "WHERE channel_id = $1 ORDER BY started_at_ms DESC, live_stream_id DESC LIMIT $2"
        ))
        .bind(channel_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(live_stream_from_row).collect()
    }

    /// Every live stream that has not ended, oldest first. At startup these
    /// are broadcasts a previous run of the server did not finish (it
    /// crashed or was killed): end them (and finish or fail their VODs).
    pub async fn unfinished_live_streams(&self) -> Result<Vec<LiveStream>> {
        let rows = sqlx::query(select_live_stream!(
            "WHERE status <> 'ended' ORDER BY started_at_ms, live_stream_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(live_stream_from_row).collect()
    }

    /// Why an update guarded by `status <> 'ended'` touched no row.
    async fn transition_error(&self, live_stream_id: &str, to: LiveStreamStatus) -> Error {
        match self.live_stream(live_stream_id).await {
            Ok(Some(current)) => Error::InvalidTransition {
                what: "live stream",
                id: live_stream_id.to_owned(),
                from: current.status.as_str(),
                to: to.as_str(),
            },
            Ok(None) => Error::NotFound {
                what: "live stream",
            },
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_validation() {
        assert!(validate_ingest(&IngestInfo::default()).is_ok());
        let good = IngestInfo {
            video_codec: Some("avc1.64001f".into()),
            audio_codec: Some("mp4a.40.2".into()),
            width: Some(1920),
            height: Some(1080),
            fps: Some(29.97),
        };
        assert!(validate_ingest(&good).is_ok());
        for (bad, field) in [
            (
                IngestInfo {
                    width: Some(0),
                    ..good.clone()
                },
                "width",
            ),
            (
                IngestInfo {
                    height: Some(u32::MAX),
                    ..good.clone()
                },
                "height",
            ),
            (
                IngestInfo {
                    fps: Some(f64::NAN),
                    ..good.clone()
                },
                "fps",
            ),
            (
                IngestInfo {
                    fps: Some(0.0),
                    ..good.clone()
                },
                "fps",
            ),
            (
                IngestInfo {
                    video_codec: Some(String::new()),
                    ..good.clone()
                },
                "video_codec",
            ),
            (
                IngestInfo {
                    audio_codec: Some("mp4a 40".into()),
                    ..good.clone()
                },
                "audio_codec",
            ),
        ] {
            match validate_ingest(&bad) {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn end_reason_is_truncated_on_a_char_boundary() {
        let long = "é".repeat(400); // 800 bytes
        let cut = truncate_reason(&long);
        assert!(cut.len() <= END_REASON_MAX_LEN);
        assert_eq!(cut.len(), END_REASON_MAX_LEN);
        assert_eq!(truncate_reason("short"), "short");
    }
}
