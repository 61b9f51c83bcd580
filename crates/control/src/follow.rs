//! Follows, and the queries behind browse and a user's "following" list.
//!
//! A channel is *live* here when it has a broadcast receiving media
//! (`active`), as for [`crate::ChannelFilter::live_now`].

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use crate::channel::{Channel, channel_from_row};
use crate::db::Db;
use crate::decode;
use crate::error::{Error, Result, Violation, map_write, violation};

/// Most rows [`Db::list_following`] and [`Db::browse_live_channels`]
/// return.
pub const BROWSE_LIMIT_MAX: u32 = 200;

/// Longest browse search, in characters.
pub const SEARCH_MAX_CHARS: usize = 100;

/// A followed channel and whether it is live.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowedChannel {
    pub channel: Channel,
    /// Its broadcast in progress that is receiving media, if any.
    pub live_stream_id: Option<String>,
    /// Unix milliseconds.
    pub followed_at_ms: i64,
}

/// A channel broadcasting now, for browse.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveChannel {
    pub channel: Channel,
    /// Its active broadcast.
    pub live_stream_id: String,
    /// When that broadcast started (unix milliseconds).
    pub started_at_ms: i64,
    /// Whether the browsing user follows it (false when anonymous).
    pub followed: bool,
}

/// A case-insensitive substring pattern for `lower(x) LIKE $n ESCAPE '\'`:
/// `None` for an empty search. `%`, `_` and `\` in the search match
/// themselves. (SQLite's `lower` folds ASCII only, PostgreSQL's every
/// letter.)
pub(crate) fn like_pattern(search: Option<&str>) -> Result<Option<String>> {
    let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if search.chars().count() > SEARCH_MAX_CHARS {
        return Err(Error::invalid(
            "q",
            format!("must be at most {SEARCH_MAX_CHARS} characters"),
        ));
    }
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Ok(Some(pattern))
}

impl Db {
    /// `user_id` follows the channel; `false` if they already did.
    /// [`Error::NotFound`] if the channel (or user) does not exist.
    pub async fn follow_channel(&self, user_id: &str, channel_id: &str) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO follow (user_id, channel_id, created_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, channel_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(channel_id)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::ForeignKey) => Error::NotFound { what: "channel" },
            _ => map_write(e),
        })?;
        Ok(inserted.rows_affected() > 0)
    }

    /// `user_id` stops following the channel; `false` if they did not.
    pub async fn unfollow_channel(&self, user_id: &str, channel_id: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM follow WHERE user_id = $1 AND channel_id = $2")
            .bind(user_id)
            .bind(channel_id)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Whether `user_id` follows the channel.
    pub async fn is_following(&self, user_id: &str, channel_id: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM follow WHERE user_id = $1 AND channel_id = $2",
        )
        .bind(user_id)
        .bind(channel_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// How many users follow the channel.
    pub async fn follower_count(&self, channel_id: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM follow WHERE channel_id = $1")
            .bind(channel_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Follower counts of several channels in one query per 100 (for
    /// lists); channels without followers are absent.
    pub async fn follower_counts(&self, channel_ids: &[String]) -> Result<HashMap<String, u64>> {
        let mut counts = HashMap::new();
        for batch in channel_ids.chunks(100) {
            let placeholders = (1..=batch.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            // Only numbered placeholders are spliced in; the ids are bound.
            let sql = format!(
                "SELECT channel_id, COUNT(*) AS n FROM follow \
                 WHERE channel_id IN ({placeholders}) GROUP BY channel_id"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in batch {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.pool).await? {
                let n: i64 = row.try_get("n")?;
                counts.insert(row.try_get("channel_id")?, u64::try_from(n).unwrap_or(0));
            }
        }
        Ok(counts)
    }

    /// Which of `channel_ids` the user follows.
    pub async fn followed_among(
        &self,
        user_id: &str,
        channel_ids: &[String],
    ) -> Result<HashSet<String>> {
        let mut followed = HashSet::new();
        for batch in channel_ids.chunks(100) {
            let placeholders = (2..=batch.len() + 1)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT channel_id FROM follow WHERE user_id = $1 \
                 AND channel_id IN ({placeholders})"
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(user_id);
            for id in batch {
                query = query.bind(id);
            }
            followed.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(followed)
    }

    /// The channels `user_id` follows (at most `limit`, up to 200): live
    /// ones first, then by when they were followed, newest first.
    /// Visibility is the caller's business.
    pub async fn list_following(&self, user_id: &str, limit: u32) -> Result<Vec<FollowedChannel>> {
        let rows = sqlx::query(select_channel!(
            ", f.created_at_ms AS followed_at_ms, ls.live_stream_id AS active_live_stream_id",
            "JOIN follow f ON f.channel_id = c.channel_id \
             LEFT JOIN live_stream ls ON ls.channel_id = c.channel_id AND ls.status = 'active' \
             WHERE f.user_id = $1 \
             ORDER BY CASE WHEN ls.live_stream_id IS NULL THEN 1 ELSE 0 END, \
             f.created_at_ms DESC, c.channel_id DESC LIMIT $2"
        ))
        .bind(user_id)
        .bind(i64::from(limit.min(BROWSE_LIMIT_MAX)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(FollowedChannel {
                    channel: channel_from_row(row)?,
                    live_stream_id: row.try_get("active_live_stream_id")?,
                    followed_at_ms: row.try_get("followed_at_ms")?,
                })
            })
            .collect()
    }

    /// Public channels broadcasting now (at most `limit`, up to 200) whose
    /// title or slug contains `search` (ignoring case; `None` or blank:
    /// all). Channels `follower_user_id` follows come first, then the
    /// most recently started broadcasts. [`Error::Invalid`] (`field` =
    /// "q") on a search over 100 characters.
    pub async fn browse_live_channels(
        &self,
        search: Option<&str>,
        follower_user_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<LiveChannel>> {
        let pattern = like_pattern(search)?;
        let rows = sqlx::query(select_channel!(
            ", ls.live_stream_id AS active_live_stream_id, ls.started_at_ms AS ls_started_at_ms, \
             CASE WHEN f.user_id IS NULL THEN 0 ELSE 1 END AS followed",
            "JOIN live_stream ls ON ls.channel_id = c.channel_id AND ls.status = 'active' \
             LEFT JOIN follow f ON f.channel_id = c.channel_id AND f.user_id = $1 \
             WHERE c.visibility = 'public' \
             AND ($2 IS NULL OR lower(c.title) LIKE $2 ESCAPE '\\' OR c.slug LIKE $2 ESCAPE '\\') \
             ORDER BY followed DESC, ls.started_at_ms DESC, c.channel_id DESC LIMIT $3"
        ))
        .bind(follower_user_id)
        .bind(pattern)
        .bind(i64::from(limit.min(BROWSE_LIMIT_MAX)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LiveChannel {
                    channel: channel_from_row(row)?,
                    live_stream_id: row.try_get("active_live_stream_id")?,
                    started_at_ms: row.try_get("ls_started_at_ms")?,
                    followed: decode::flag(row, "follow", "followed")?,
                })
            })
            .collect()
    }
}
