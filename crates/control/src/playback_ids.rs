//! Playback ids beyond a channel's own (Mux's model: a live stream and an
//! asset each have any number of playback ids, each `public` or `signed`).
//!
//! A channel's own id (`channel.playback_id`) keeps its policy in the
//! channel (`playback_policy`, always signed while private) and is listed
//! unless deleted through the Mux surface, which rotates it to a fresh,
//! unlisted id (the native API and the web UI keep working). Further ids
//! live in the `playback_id` table, for a channel (its live output) or for
//! a recording (the VOD as an asset). A private channel's ids are all
//! signed, whatever their row says.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::error::{Error, Result, Violation, map_write, violation};
use crate::secret::new_playback_id;
use crate::{Channel, PlaybackPolicy, Visibility, Vod, decode};

/// Most playback ids one live stream or asset may have.
pub const PLAYBACK_IDS_MAX: u32 = 10;

/// What a playback id plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybackObject {
    /// A channel's live output (Mux's `live_stream`); the channel id.
    LiveStream(String),
    /// A recording (Mux's `asset`); the VOD id.
    Asset(String),
}

/// One playback id as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybackIdRecord {
    pub playback_id: String,
    pub object: PlaybackObject,
    pub policy: PlaybackPolicy,
}

/// What a playback id in a media URL resolves to.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPlayback {
    /// The channel whose media this is (of the live stream, or of the
    /// recording).
    pub channel: Channel,
    /// The recording, for an asset's playback id.
    pub vod: Option<Vod>,
    /// The id's policy (signed for a private channel's ids).
    pub policy: PlaybackPolicy,
}

fn effective(channel: &Channel, policy: PlaybackPolicy) -> PlaybackPolicy {
    if channel.visibility == Visibility::Private {
        PlaybackPolicy::Signed
    } else {
        policy
    }
}

fn record_from_row(row: &AnyRow) -> Result<PlaybackIdRecord> {
    let channel_id: Option<String> = row.try_get("channel_id")?;
    let vod_id: Option<String> = row.try_get("vod_id")?;
    let object = match (channel_id, vod_id) {
        (Some(c), None) => PlaybackObject::LiveStream(c),
        (None, Some(v)) => PlaybackObject::Asset(v),
        _ => {
            return Err(Error::Corrupt {
                table: "playback_id",
                column: "channel_id",
                value: row.try_get("playback_id")?,
            });
        }
    };
    Ok(PlaybackIdRecord {
        playback_id: row.try_get("playback_id")?,
        object,
        policy: decode::text_enum(row, "playback_id", "policy")?,
    })
}

impl Db {
    /// The playback ids of a live stream (its channel's own id first, if
    /// listed) or of an asset, oldest first. [`Error::NotFound`] if the
    /// channel or VOD does not exist.
    pub async fn playback_ids_of(&self, object: &PlaybackObject) -> Result<Vec<PlaybackIdRecord>> {
        let mut out = Vec::new();
        let (column, id, channel) = match object {
            PlaybackObject::LiveStream(channel_id) => {
                let channel = self.channel(channel_id).await?.ok_or(Error::NotFound {
                    what: "live stream",
                })?;
                if channel.playback_id_listed {
                    out.push(PlaybackIdRecord {
                        playback_id: channel.playback_id.clone(),
                        object: object.clone(),
                        policy: effective(&channel, channel.playback_policy),
                    });
                }
                ("channel_id", channel_id, channel)
            }
            PlaybackObject::Asset(vod_id) => {
                let vod = self
                    .vod(vod_id)
                    .await?
                    .ok_or(Error::NotFound { what: "asset" })?;
                let channel = self
                    .channel(&vod.channel_id)
                    .await?
                    .ok_or(Error::NotFound { what: "asset" })?;
                ("vod_id", vod_id, channel)
            }
        };
        let sql = if column == "channel_id" {
            "SELECT playback_id, channel_id, vod_id, policy FROM playback_id \
             WHERE channel_id = $1 ORDER BY created_at_ms, playback_id"
        } else {
            "SELECT playback_id, channel_id, vod_id, policy FROM playback_id \
             WHERE vod_id = $1 ORDER BY created_at_ms, playback_id"
        };
        let rows = sqlx::query(sql).bind(id).fetch_all(&self.pool).await?;
        for row in &rows {
            let mut record = record_from_row(row)?;
            record.policy = effective(&channel, record.policy);
            out.push(record);
        }
        Ok(out)
    }

    /// Adds a playback id with `policy` to a live stream or an asset and
    /// returns it. [`Error::NotFound`] if the object does not exist,
    /// [`Error::LimitReached`] past [`PLAYBACK_IDS_MAX`].
    pub async fn add_playback_id(
        &self,
        object: &PlaybackObject,
        policy: PlaybackPolicy,
    ) -> Result<PlaybackIdRecord> {
        let _changed = self.channel_write();
        let existing = self.playback_ids_of(object).await?;
        if existing.len() as u32 >= PLAYBACK_IDS_MAX {
            return Err(Error::LimitReached {
                what: "playback ids",
                limit: PLAYBACK_IDS_MAX,
            });
        }
        let playback_id = new_playback_id();
        let (channel_id, vod_id) = match object {
            PlaybackObject::LiveStream(c) => (Some(c.as_str()), None),
            PlaybackObject::Asset(v) => (None, Some(v.as_str())),
        };
        sqlx::query(
            "INSERT INTO playback_id (playback_id, channel_id, vod_id, policy, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&playback_id)
        .bind(channel_id)
        .bind(vod_id)
        .bind(policy.as_str())
        .bind(self.now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::ForeignKey) => Error::NotFound {
                what: match object {
                    PlaybackObject::LiveStream(_) => "live stream",
                    PlaybackObject::Asset(_) => "asset",
                },
            },
            _ => map_write(e),
        })?;
        tracing::info!(%playback_id, ?object, policy = %policy, "playback id added");
        let channel = match object {
            PlaybackObject::LiveStream(c) => self.channel(c).await?,
            PlaybackObject::Asset(v) => match self.vod(v).await? {
                Some(vod) => self.channel(&vod.channel_id).await?,
                None => None,
            },
        };
        Ok(PlaybackIdRecord {
            playback_id,
            object: object.clone(),
            policy: channel.map_or(policy, |c| effective(&c, policy)),
        })
    }

    /// Deletes one playback id of a live stream or asset: it stops playing
    /// at once. A channel's own id is rotated to a fresh id that is no
    /// longer listed (and tokens issued so far are revoked). [`Error::NotFound`]
    /// if the object has no such playback id.
    pub async fn delete_playback_id(
        &self,
        object: &PlaybackObject,
        playback_id: &str,
    ) -> Result<()> {
        let _changed = self.channel_write();
        if let PlaybackObject::LiveStream(channel_id) = object
            && let Some(channel) = self.channel(channel_id).await?
            && channel.playback_id == playback_id
            && channel.playback_id_listed
        {
            let now = self.now_ms();
            sqlx::query(
                "UPDATE channel SET playback_id = $1, playback_id_listed = 0, \
                 playback_tokens_not_before_ms = $2, updated_at_ms = $2 WHERE channel_id = $3",
            )
            .bind(new_playback_id())
            .bind(now)
            .bind(channel_id)
            .execute(&self.pool)
            .await
            .map_err(map_write)?;
            tracing::info!(%channel_id, "channel's own playback id deleted (rotated, unlisted)");
            return Ok(());
        }
        let deleted = match object {
            PlaybackObject::LiveStream(c) => {
                sqlx::query("DELETE FROM playback_id WHERE playback_id = $1 AND channel_id = $2")
                    .bind(playback_id)
                    .bind(c)
                    .execute(&self.pool)
                    .await?
            }
            PlaybackObject::Asset(v) => {
                sqlx::query("DELETE FROM playback_id WHERE playback_id = $1 AND vod_id = $2")
                    .bind(playback_id)
                    .bind(v)
                    .execute(&self.pool)
                    .await?
            }
        };
        if deleted.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "playback id",
            });
        }
        tracing::info!(%playback_id, "playback id deleted");
        Ok(())
    }

    /// What a playback id plays: a channel's own id, or a further id of a
    /// channel or a recording. `None` if nothing answers to it.
    pub async fn resolve_playback_id(&self, playback_id: &str) -> Result<Option<ResolvedPlayback>> {
        if let Some(channel) = self.channel_by_playback_id(playback_id).await? {
            let policy = effective(&channel, channel.playback_policy);
            return Ok(Some(ResolvedPlayback {
                channel,
                vod: None,
                policy,
            }));
        }
        let row = sqlx::query(
            "SELECT playback_id, channel_id, vod_id, policy FROM playback_id WHERE playback_id = $1",
        )
        .bind(playback_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let record = record_from_row(&row)?;
        let (channel_id, vod) = match &record.object {
            PlaybackObject::LiveStream(c) => (c.clone(), None),
            PlaybackObject::Asset(v) => match self.vod(v).await? {
                Some(vod) => (vod.channel_id.clone(), Some(vod)),
                None => return Ok(None),
            },
        };
        let Some(channel) = self.channel(&channel_id).await? else {
            return Ok(None);
        };
        let policy = effective(&channel, record.policy);
        Ok(Some(ResolvedPlayback {
            channel,
            vod,
            policy,
        }))
    }

    /// Gives a new recording the playback ids its channel asks for
    /// (`new_asset_playback_policies`). Called when the VOD is created.
    pub(crate) async fn add_new_asset_playback_ids(
        &self,
        channel_id: &str,
        vod_id: &str,
    ) -> Result<()> {
        let Some(channel) = self.channel(channel_id).await? else {
            return Ok(());
        };
        for policy in &channel.new_asset_playback_policies {
            self.add_playback_id(&PlaybackObject::Asset(vod_id.to_owned()), *policy)
                .await?;
        }
        Ok(())
    }
}
