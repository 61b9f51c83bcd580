//! Chat: messages, bans and timeouts, and a channel's moderators.
//!
//! The rules of who may post what (rate limits, slow mode, blocked words,
//! who moderates) are applied by the chat server in `api`; this module
//! stores and validates what it is given. Deleting a message only marks it
//! (`deleted_at_ms`): it is never shown again but stays on record.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::error::{Error, Result, Violation, map_write, violation};
use crate::ids::new_id;

/// Longest chat message, in characters (after trimming).
pub const CHAT_MESSAGE_MAX_CHARS: usize = 500;
/// Most messages [`Db::recent_chat_messages`] returns.
pub const CHAT_HISTORY_MAX: u32 = 200;
/// Longest ban reason, in characters.
pub const CHAT_BAN_REASON_MAX_CHARS: usize = 200;

/// A chat message, with its author's username.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChatMessage {
    /// UUIDv7.
    pub message_id: String,
    pub channel_id: String,
    pub user_id: String,
    pub username: String,
    /// 1-500 characters, trimmed.
    pub body: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// When a moderator deleted it.
    pub deleted_at_ms: Option<i64>,
}

/// A ban (`until_ms` `None`) or timeout of a user in a channel's chat.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChatBan {
    pub channel_id: String,
    pub user_id: String,
    /// End of a timeout (unix milliseconds); `None`: banned until unbanned.
    pub until_ms: Option<i64>,
    pub reason: String,
    pub created_by_user_id: Option<String>,
    pub created_at_ms: i64,
}

/// Input of [`Db::set_chat_ban`].
#[derive(Debug, Clone)]
pub struct NewChatBan {
    pub channel_id: String,
    pub user_id: String,
    /// `None`: a ban; else the end of a timeout (unix milliseconds).
    pub until_ms: Option<i64>,
    /// Trimmed; at most 200 characters.
    pub reason: String,
    pub created_by_user_id: Option<String>,
}

/// Trims and validates a message body: 1-500 characters, no control
/// characters other than newlines and tabs. `field` is "body"; the
/// message says "too long" or "empty".
pub fn normalize_chat_body(body: &str) -> Result<String> {
    let body = body.trim();
    if body.is_empty() {
        return Err(Error::invalid("body", "empty"));
    }
    let len = body.chars().count();
    if len > CHAT_MESSAGE_MAX_CHARS {
        return Err(Error::invalid(
            "body",
            format!("too long: at most {CHAT_MESSAGE_MAX_CHARS} characters, got {len}"),
        ));
    }
    if body
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Error::invalid(
            "body",
            "must not contain control characters",
        ));
    }
    Ok(body.to_owned())
}

/// `SELECT` of a [`ChatMessage`] followed by `$tail` (a literal, so the
/// statement stays a `&'static str`).
macro_rules! select_message {
    ($tail:literal) => {
        concat!(
            "SELECT m.chat_message_id, m.channel_id, m.user_id, u.username, m.body, \
             m.created_at_ms, m.deleted_at_ms \
             FROM chat_message m JOIN \"user\" u ON u.user_id = m.user_id ",
            $tail
        )
    };
}

fn message_from_row(row: &AnyRow) -> Result<ChatMessage> {
    Ok(ChatMessage {
        message_id: row.try_get("chat_message_id")?,
        channel_id: row.try_get("channel_id")?,
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        body: row.try_get("body")?,
        created_at_ms: row.try_get("created_at_ms")?,
        deleted_at_ms: row.try_get("deleted_at_ms")?,
    })
}

fn ban_from_row(row: &AnyRow) -> Result<ChatBan> {
    Ok(ChatBan {
        channel_id: row.try_get("channel_id")?,
        user_id: row.try_get("user_id")?,
        until_ms: row.try_get("until_ms")?,
        reason: row.try_get("reason")?,
        created_by_user_id: row.try_get("created_by_user_id")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

impl Db {
    /// Stores a message and returns it. [`Error::Invalid`] (`field` =
    /// "body") on an empty or too long body, [`Error::NotFound`] if the
    /// channel or user does not exist.
    pub async fn post_chat_message(
        &self,
        channel_id: &str,
        user_id: &str,
        body: &str,
    ) -> Result<ChatMessage> {
        let body = normalize_chat_body(body)?;
        let message_id = new_id();
        sqlx::query(
            "INSERT INTO chat_message (chat_message_id, channel_id, user_id, body, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&message_id)
        .bind(channel_id)
        .bind(user_id)
        .bind(&body)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::ForeignKey) => Error::NotFound {
                what: "channel or user",
            },
            _ => map_write(e),
        })?;
        self.chat_message(&message_id)
            .await?
            .ok_or(Error::NotFound {
                what: "chat message",
            })
    }

    /// The message with this id (deleted or not), if any.
    pub async fn chat_message(&self, message_id: &str) -> Result<Option<ChatMessage>> {
        let row = sqlx::query(select_message!("WHERE m.chat_message_id = $1"))
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    /// The channel's latest `limit` (at most 200) messages that are not
    /// deleted, oldest first.
    pub async fn recent_chat_messages(
        &self,
        channel_id: &str,
        limit: u32,
    ) -> Result<Vec<ChatMessage>> {
        let rows = sqlx::query(select_message!(
            "WHERE m.channel_id = $1 AND m.deleted_at_ms IS NULL \
             ORDER BY m.created_at_ms DESC, m.chat_message_id DESC LIMIT $2"
        ))
        .bind(channel_id)
        .bind(i64::from(limit.min(CHAT_HISTORY_MAX)))
        .fetch_all(&self.pool)
        .await?;
        let mut messages = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>>>()?;
        messages.reverse();
        Ok(messages)
    }

    /// Marks a message of this channel deleted. `Ok(false)` if it already
    /// was; [`Error::NotFound`] if the channel has no such message.
    pub async fn delete_chat_message(&self, channel_id: &str, message_id: &str) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE chat_message SET deleted_at_ms = $1 \
             WHERE chat_message_id = $2 AND channel_id = $3 AND deleted_at_ms IS NULL",
        )
        .bind(self.now_ms())
        .bind(message_id)
        .bind(channel_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() > 0 {
            return Ok(true);
        }
        match self.chat_message(message_id).await? {
            Some(m) if m.channel_id == channel_id => Ok(false),
            _ => Err(Error::NotFound {
                what: "chat message",
            }),
        }
    }

    /// Bans or times out a user in a channel's chat, replacing any earlier
    /// ban or timeout of theirs there. [`Error::NotFound`] if the user or
    /// channel does not exist, [`Error::Invalid`] on a long reason.
    pub async fn set_chat_ban(&self, ban: NewChatBan) -> Result<ChatBan> {
        let reason = ban.reason.trim().to_owned();
        if reason.chars().count() > CHAT_BAN_REASON_MAX_CHARS {
            return Err(Error::invalid(
                "reason",
                format!("must be at most {CHAT_BAN_REASON_MAX_CHARS} characters"),
            ));
        }
        let row = ChatBan {
            channel_id: ban.channel_id,
            user_id: ban.user_id,
            until_ms: ban.until_ms,
            reason,
            created_by_user_id: ban.created_by_user_id,
            created_at_ms: self.now_ms(),
        };
        sqlx::query(
            "INSERT INTO chat_ban (channel_id, user_id, until_ms, reason, created_by_user_id, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (channel_id, user_id) DO UPDATE SET until_ms = excluded.until_ms, \
             reason = excluded.reason, created_by_user_id = excluded.created_by_user_id, \
             created_at_ms = excluded.created_at_ms",
        )
        .bind(&row.channel_id)
        .bind(&row.user_id)
        .bind(row.until_ms)
        .bind(&row.reason)
        .bind(row.created_by_user_id.as_deref())
        .bind(row.created_at_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::ForeignKey) => Error::NotFound { what: "user" },
            _ => map_write(e),
        })?;
        tracing::info!(channel_id = %row.channel_id, user_id = %row.user_id,
            until_ms = ?row.until_ms, "chat ban set");
        Ok(row)
    }

    /// Lifts a user's ban or timeout in a channel's chat; `false` if there
    /// was none.
    pub async fn remove_chat_ban(&self, channel_id: &str, user_id: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM chat_ban WHERE channel_id = $1 AND user_id = $2")
            .bind(channel_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// The user's ban, or timeout still running at `now_ms`, in the
    /// channel's chat.
    pub async fn active_chat_ban(
        &self,
        channel_id: &str,
        user_id: &str,
        now_ms: i64,
    ) -> Result<Option<ChatBan>> {
        let row = sqlx::query(
            "SELECT channel_id, user_id, until_ms, reason, created_by_user_id, created_at_ms \
             FROM chat_ban WHERE channel_id = $1 AND user_id = $2 \
             AND (until_ms IS NULL OR until_ms > $3)",
        )
        .bind(channel_id)
        .bind(user_id)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(ban_from_row).transpose()
    }

    /// Makes a user a moderator of a channel's chat; `false` if they
    /// already were. [`Error::NotFound`] if the user or channel does not
    /// exist.
    pub async fn add_channel_moderator(&self, channel_id: &str, user_id: &str) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO channel_moderator (channel_id, user_id, created_at_ms) \
             VALUES ($1, $2, $3) ON CONFLICT (channel_id, user_id) DO NOTHING",
        )
        .bind(channel_id)
        .bind(user_id)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::ForeignKey) => Error::NotFound { what: "user" },
            _ => map_write(e),
        })?;
        Ok(inserted.rows_affected() > 0)
    }

    /// Removes a moderator; `false` if they were not one.
    pub async fn remove_channel_moderator(&self, channel_id: &str, user_id: &str) -> Result<bool> {
        let deleted =
            sqlx::query("DELETE FROM channel_moderator WHERE channel_id = $1 AND user_id = $2")
                .bind(channel_id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Whether the user moderates the channel's chat (owners and admins
    /// are the caller's business).
    pub async fn is_channel_moderator(&self, channel_id: &str, user_id: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM channel_moderator WHERE channel_id = $1 AND user_id = $2",
        )
        .bind(channel_id)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// The ids of the channel's moderators, in the order they were added.
    pub async fn channel_moderators(&self, channel_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM channel_moderator WHERE channel_id = $1 \
             ORDER BY created_at_ms, user_id",
        )
        .bind(channel_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
