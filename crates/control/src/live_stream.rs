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
use crate::ids::new_id;
use crate::page::{Page, PageRequest};
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

text_enum! {
    /// A channel's broadcast state, Mux's live stream `status`: its
    /// unfinished live stream's status, or idle when it has none.
    pub enum ChannelStatus for "status" {
        /// No broadcast in progress.
        Idle = "idle",
        /// A publisher connected; no media yet.
        Connected = "connected",
        /// Media is arriving: live.
        Active = "active",
        /// The publisher dropped; the reconnect window is running.
        Disconnected = "disconnected",
    }
}

impl ChannelStatus {
    fn of(status: Option<LiveStreamStatus>) -> ChannelStatus {
        match status {
            None | Some(LiveStreamStatus::Ended) => ChannelStatus::Idle,
            Some(LiveStreamStatus::Connected) => ChannelStatus::Connected,
            Some(LiveStreamStatus::Active) => ChannelStatus::Active,
            Some(LiveStreamStatus::Disconnected) => ChannelStatus::Disconnected,
        }
    }
}

/// What ingest measures during a broadcast (Mux's stream health), as last
/// reported by [`Db::update_live_stream_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveStreamStats {
    /// The publisher's bitrate, in bits per second; `None` until measured.
    pub ingest_bitrate_bps: Option<u64>,
    /// Time between the publisher's keyframes, in milliseconds (segments
    /// cannot be shorter); `None` until measured.
    pub keyframe_interval_ms: Option<u32>,
    /// The most concurrent viewers seen. (Current viewers are the live
    /// crate's, in memory.)
    pub peak_viewers: u32,
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
    /// Ingest statistics.
    pub stats: LiveStreamStats,
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
             ended_at_ms, video_codec, audio_codec, width, height, fps, end_reason, \
             ingest_bitrate_bps, keyframe_interval_ms, peak_viewers FROM live_stream ",
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
        stats: LiveStreamStats {
            ingest_bitrate_bps: decode::opt_int(row, "live_stream", "ingest_bitrate_bps")?,
            keyframe_interval_ms: decode::opt_int(row, "live_stream", "keyframe_interval_ms")?,
            peak_viewers: decode::int(row, "live_stream", "peak_viewers")?,
        },
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
            started_at_ms: self.now_ms(),
            active_at_ms: None,
            ended_at_ms: None,
            ingest: IngestInfo::default(),
            end_reason: None,
            stats: LiveStreamStats::default(),
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
            .bind(self.now_ms())
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
        .bind(self.now_ms())
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

    /// A page of a channel's live streams, newest first (by start time).
    pub async fn list_live_streams(
        &self,
        channel_id: &str,
        page: &PageRequest,
    ) -> Result<Page<LiveStream>> {
        let rows = sqlx::query(select_live_stream!(
            "WHERE channel_id = $1 AND (started_at_ms, live_stream_id) < ($2, $3) \
             ORDER BY started_at_ms DESC, live_stream_id DESC LIMIT $4"
        ))
        .bind(channel_id)
        .bind(page.after_time_ms())
        .bind(page.after_id())
        .bind(page.fetch_limit())
        .fetch_all(&self.pool)
        .await?;
        let streams = rows
            .iter()
            .map(live_stream_from_row)
            .collect::<Result<_>>()?;
        Ok(Page::from_rows(streams, page, |ls: &LiveStream| {
            (ls.started_at_ms, &ls.live_stream_id)
        }))
    }

    /// Records ingest measurements of a broadcast in progress: the bitrate
    /// and keyframe interval replace the previous ones (`None` keeps them),
    /// and `viewers` (current concurrent viewers) raises `peak_viewers` if
    /// higher. A late report for an ended broadcast changes nothing.
    /// [`Error::NotFound`] if there is no such live stream,
    /// [`Error::Invalid`] on a zero keyframe interval or out-of-range value.
    pub async fn update_live_stream_stats(
        &self,
        live_stream_id: &str,
        ingest_bitrate_bps: Option<u64>,
        keyframe_interval_ms: Option<u32>,
        viewers: u32,
    ) -> Result<()> {
        let bitrate = ingest_bitrate_bps
            .map(|b| {
                i64::try_from(b)
                    .map_err(|_| Error::invalid("ingest_bitrate_bps", "must be below 2^63"))
            })
            .transpose()?;
        let keyframe_interval = keyframe_interval_ms
            .map(|k| match i32::try_from(k) {
                Ok(k) if k > 0 => Ok(k),
                _ => Err(Error::invalid(
                    "keyframe_interval_ms",
                    "must be 1 to 2^31-1 milliseconds",
                )),
            })
            .transpose()?;
        let viewers =
            i32::try_from(viewers).map_err(|_| Error::invalid("viewers", "must be below 2^31"))?;
        // CASE rather than MAX()/GREATEST(): SQLite and PostgreSQL spell
        // the two-argument maximum differently.
        let updated = sqlx::query(
            "UPDATE live_stream SET ingest_bitrate_bps = COALESCE($1, ingest_bitrate_bps), \
             keyframe_interval_ms = COALESCE($2, keyframe_interval_ms), \
             peak_viewers = CASE WHEN $3 > peak_viewers THEN $3 ELSE peak_viewers END \
             WHERE live_stream_id = $4 AND status <> 'ended'",
        )
        .bind(bitrate)
        .bind(keyframe_interval)
        .bind(viewers)
        .bind(live_stream_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 && self.live_stream(live_stream_id).await?.is_none() {
            return Err(Error::NotFound {
                what: "live stream",
            });
        }
        Ok(())
    }

    /// A channel's broadcast state: its unfinished live stream's status, or
    /// idle. [`Error::NotFound`] if there is no such channel.
    pub async fn channel_status(&self, channel_id: &str) -> Result<ChannelStatus> {
        let row = sqlx::query(
            "SELECT c.channel_id, ls.status FROM channel c \
             LEFT JOIN live_stream ls ON ls.channel_id = c.channel_id AND ls.status <> 'ended' \
             WHERE c.channel_id = $1",
        )
        .bind(channel_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Err(Error::NotFound { what: "channel" });
        };
        let status: Option<String> = row.try_get("status")?;
        let status = status
            .map(|s| {
                s.parse::<LiveStreamStatus>().map_err(|_| Error::Corrupt {
                    table: "live_stream",
                    column: "status",
                    value: s,
                })
            })
            .transpose()?;
        Ok(ChannelStatus::of(status))
    }

    /// The broadcast state of each of `channel_ids` that has an unfinished
    /// live stream, in one query (for list pages); channels absent from the
    /// map are idle (or do not exist).
    pub async fn channel_statuses(
        &self,
        channel_ids: &[String],
    ) -> Result<std::collections::HashMap<String, ChannelStatus>> {
        let mut statuses = std::collections::HashMap::new();
        // Bounded batches keep well under both databases' parameter limits.
        for batch in channel_ids.chunks(100) {
            let placeholders = (1..=batch.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            // Only numbered placeholders are spliced in; the ids are bound.
            let sql = format!(
                "SELECT channel_id, status FROM live_stream \
                 WHERE status <> 'ended' AND channel_id IN ({placeholders})"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in batch {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.pool).await? {
                let status: LiveStreamStatus = decode::text_enum(&row, "live_stream", "status")?;
                statuses.insert(row.try_get("channel_id")?, ChannelStatus::of(Some(status)));
            }
        }
        Ok(statuses)
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
