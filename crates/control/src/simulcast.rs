//! Simulcast targets (Mux's): where a channel's broadcasts are to be
//! restreamed, an `rtmp://` or `rtmps://` URL and a stream key. Stored and
//! reported; the restreaming itself comes with a later issue. The target's
//! key is a secret of another platform, so it is stored sealed (see
//! [`crate::seal`]) and never logged.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::error::{Error, Result, Violation, map_write, violation};
use crate::ids::new_id;

/// Most simulcast targets per channel (Mux's limit is 6).
pub const SIMULCAST_TARGETS_MAX: u32 = 6;

/// Longest target URL, in bytes.
const URL_MAX_LEN: usize = 2048;

/// Longest target stream key, in bytes.
const KEY_MAX_LEN: usize = 512;

/// Longest passthrough, in bytes (Mux's).
const PASSTHROUGH_MAX_LEN: usize = 255;

/// A stored target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulcastTarget {
    pub simulcast_target_id: String,
    pub channel_id: String,
    pub url: String,
    /// The target's stream key; `None` if none was given (or it cannot be
    /// opened with this server's key).
    pub stream_key: Option<String>,
    pub passthrough: String,
    pub created_at_ms: i64,
}

/// Input of [`Db::create_simulcast_target`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewSimulcastTarget {
    pub url: String,
    pub stream_key: Option<String>,
    pub passthrough: String,
}

impl Db {
    fn target_from_row(&self, row: &AnyRow) -> Result<SimulcastTarget> {
        let sealed: Option<String> = row.try_get("stream_key_sealed")?;
        Ok(SimulcastTarget {
            simulcast_target_id: row.try_get("simulcast_target_id")?,
            channel_id: row.try_get("channel_id")?,
            url: row.try_get("url")?,
            stream_key: sealed.and_then(|s| self.sealer.open(&s)),
            passthrough: row.try_get("passthrough")?,
            created_at_ms: row.try_get("created_at_ms")?,
        })
    }

    /// Adds a target to a channel. [`Error::Invalid`] on a URL that is not
    /// `rtmp://` or `rtmps://` with a host, or on over-long fields;
    /// [`Error::NotFound`] if there is no such channel;
    /// [`Error::LimitReached`] past [`SIMULCAST_TARGETS_MAX`].
    pub async fn create_simulcast_target(
        &self,
        channel_id: &str,
        new: NewSimulcastTarget,
    ) -> Result<SimulcastTarget> {
        let url = new.url.trim().to_owned();
        let parsed = url::Url::parse(&url)
            .map_err(|_| Error::invalid("url", "must be an rtmp:// or rtmps:// URL"))?;
        if !matches!(parsed.scheme(), "rtmp" | "rtmps")
            || parsed.host_str().is_none_or(str::is_empty)
            || url.len() > URL_MAX_LEN
        {
            return Err(Error::invalid(
                "url",
                format!(
                    "must be an rtmp:// or rtmps:// URL with a host, at most {URL_MAX_LEN} bytes"
                ),
            ));
        }
        if new
            .stream_key
            .as_ref()
            .is_some_and(|k| k.len() > KEY_MAX_LEN)
        {
            return Err(Error::invalid(
                "stream_key",
                format!("must be at most {KEY_MAX_LEN} bytes"),
            ));
        }
        if new.passthrough.len() > PASSTHROUGH_MAX_LEN {
            return Err(Error::invalid(
                "passthrough",
                format!("must be at most {PASSTHROUGH_MAX_LEN} bytes"),
            ));
        }
        let existing = self.list_simulcast_targets(channel_id).await?;
        if existing.len() as u32 >= SIMULCAST_TARGETS_MAX {
            return Err(Error::LimitReached {
                what: "simulcast targets",
                limit: SIMULCAST_TARGETS_MAX,
            });
        }
        let target = SimulcastTarget {
            simulcast_target_id: new_id(),
            channel_id: channel_id.to_owned(),
            url,
            stream_key: new.stream_key.filter(|k| !k.is_empty()),
            passthrough: new.passthrough,
            created_at_ms: self.now_ms(),
        };
        sqlx::query(
            "INSERT INTO simulcast_target (simulcast_target_id, channel_id, url, \
             stream_key_sealed, passthrough, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&target.simulcast_target_id)
        .bind(channel_id)
        .bind(&target.url)
        .bind(target.stream_key.as_deref().map(|k| self.sealer.seal(k)))
        .bind(&target.passthrough)
        .bind(target.created_at_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::ForeignKey) => Error::NotFound {
                what: "live stream",
            },
            _ => map_write(e),
        })?;
        tracing::info!(%channel_id, simulcast_target_id = %target.simulcast_target_id, "simulcast target added");
        Ok(target)
    }

    /// A channel's targets, oldest first.
    pub async fn list_simulcast_targets(&self, channel_id: &str) -> Result<Vec<SimulcastTarget>> {
        let rows = sqlx::query(
            "SELECT simulcast_target_id, channel_id, url, stream_key_sealed, passthrough, \
             created_at_ms FROM simulcast_target WHERE channel_id = $1 \
             ORDER BY created_at_ms, simulcast_target_id",
        )
        .bind(channel_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| self.target_from_row(r)).collect()
    }

    /// One target of a channel. [`Error::NotFound`] if the channel has no
    /// such target.
    pub async fn simulcast_target(
        &self,
        channel_id: &str,
        simulcast_target_id: &str,
    ) -> Result<SimulcastTarget> {
        let row = sqlx::query(
            "SELECT simulcast_target_id, channel_id, url, stream_key_sealed, passthrough, \
             created_at_ms FROM simulcast_target WHERE channel_id = $1 AND simulcast_target_id = $2",
        )
        .bind(channel_id)
        .bind(simulcast_target_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => self.target_from_row(&row),
            None => Err(Error::NotFound {
                what: "simulcast target",
            }),
        }
    }

    /// Deletes one target of a channel. [`Error::NotFound`] if the channel
    /// has no such target.
    pub async fn delete_simulcast_target(
        &self,
        channel_id: &str,
        simulcast_target_id: &str,
    ) -> Result<()> {
        let deleted = sqlx::query(
            "DELETE FROM simulcast_target WHERE channel_id = $1 AND simulcast_target_id = $2",
        )
        .bind(channel_id)
        .bind(simulcast_target_id)
        .execute(&self.pool)
        .await?;
        if deleted.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "simulcast target",
            });
        }
        Ok(())
    }
}
