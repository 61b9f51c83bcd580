//! Channels (Mux's `live_stream`) and their stream keys.
//!
//! A channel is what a creator streams to: a slug for URLs, a random
//! playback id for the HLS output, settings, and a stream key. The key is a
//! secret shown once (by [`Db::create_channel`] and [`Db::reset_stream_key`])
//! and stored only as its SHA-256; RTMP publish finds the channel with
//! [`Db::channel_by_stream_key`].
//!
//! # Playback policy and visibility
//!
//! Visibility says who may *find* a channel (browse lists public ones);
//! the playback policy says whether its playback URLs need a signed token
//! (Mux's `public` / `signed`). They are independent except that a private
//! channel is always signed: setting visibility to private *derives*
//! `signed` in the same update, an update asking for a private channel with
//! public playback is refused ([`Error::Invalid`] on "playback_policy"), and
//! the database *enforces* it too (a CHECK on PostgreSQL, triggers on
//! SQLite). Making a private channel unlisted or public again keeps it
//! signed until the owner says otherwise: opening it up takes an explicit
//! change.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::decode;
use crate::error::{Error, Result, Violation, map_write, violation};
use crate::ids::new_id;
use crate::page::{Page, PageRequest};
use crate::seal::Sealer;
use crate::secret::{hash_stream_key, hashes_equal, new_playback_id, new_stream_key};
use crate::text_enum::text_enum;

text_enum! {
    /// HLS segment container of a channel's broadcasts.
    pub enum SegmentFormat for "segment_format" {
        /// MPEG-TS (`.ts`): plays everywhere.
        Ts = "ts",
        /// Fragmented MP4 / CMAF (`.m4s` + `init.mp4`): required for
        /// Low-Latency HLS parts.
        Fmp4 = "fmp4",
    }
}

text_enum! {
    /// Trade-off between glass-to-glass latency and robustness to a poor
    /// viewer connection.
    pub enum LatencyMode for "latency_mode" {
        /// Classic HLS, ~6 s segments: the most robust.
        Standard = "standard",
        /// LL-HLS with partial segments: a few seconds behind live.
        Low = "low",
    }
}

text_enum! {
    /// Who may watch.
    pub enum Visibility for "visibility" {
        /// Listed in browse; anyone may watch.
        Public = "public",
        /// Not listed; anyone with the link may watch.
        Unlisted = "unlisted",
        /// Playback needs a signed URL.
        Private = "private",
    }
}

text_enum! {
    /// Whether playback URLs need a signed token (Mux's playback policy).
    pub enum PlaybackPolicy for "playback_policy" {
        /// Anyone with the playback id may watch.
        Public = "public",
        /// Playback needs a JWT signed by one of the owner's signing keys
        /// (or by the server, for the web UI); see `Db::verify_playback_token`.
        Signed = "signed",
    }
}

/// A channel as stored. Carries no key material.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Channel {
    /// UUIDv7.
    pub channel_id: String,
    /// The owning user's id.
    pub owner_user_id: String,
    /// Lowercase, 3–40 of `[a-z0-9-]`, no leading/trailing '-'; unique.
    pub slug: String,
    /// 1–200 characters, no control characters.
    pub title: String,
    pub latency_mode: LatencyMode,
    /// Segment container of its broadcasts.
    pub segment_format: SegmentFormat,
    /// Name of the transcoding ladder preset (server configuration).
    pub ladder: String,
    /// 24 random alphanumerics; unique. Names the live output:
    /// `/hls/{playback_id}/master.m3u8`.
    pub playback_id: String,
    /// A disabled channel refuses publishers (checked by ingest). The
    /// owner's switch.
    pub enabled: bool,
    /// Suspended by an administrator: refuses publishers whatever
    /// `enabled` says, and only an administrator lifts it.
    pub suspended: bool,
    /// Record each broadcast as a VOD. Default true.
    pub record: bool,
    /// Default public.
    pub visibility: Visibility,
    /// Default public; always signed while `visibility` is private.
    pub playback_policy: PlaybackPolicy,
    /// How long a dropped publisher may come back and continue the same live
    /// stream, in seconds. Default 60; at most 1800.
    pub reconnect_window_s: u32,
    /// Free text shown on browse ("Music"); empty when unset. At most 50
    /// characters.
    pub category: String,
    /// Chat slow mode: non-moderators post at most once per this many
    /// seconds; 0 is off. At most 3600.
    pub chat_slow_mode_s: u32,
    /// Words refused in chat (whole words, ignoring case); lowercase.
    pub chat_blocked_words: Vec<String>,
    /// Playback tokens issued before this instant (unix milliseconds) are
    /// refused; `None`: none revoked. Set by [`Db::revoke_playback_tokens`],
    /// [`Db::rotate_playback_id`] and by becoming private or signed.
    pub playback_tokens_not_before_ms: Option<i64>,
    /// Settings only the Mux surface reads and writes (`passthrough`,
    /// `test`, `new_asset_settings`, ...), as JSON object text; `{}` for
    /// native channels. Opaque to this crate.
    #[serde(skip)]
    pub mux_settings: String,
    /// Policies of the playback ids each new recording gets (Mux's
    /// `new_asset_settings.playback_policies`); empty: none.
    pub new_asset_playback_policies: Vec<PlaybackPolicy>,
    /// Whether `playback_id` is listed among the channel's Mux playback
    /// ids (false once deleted there, see [`Db::delete_playback_id`]).
    pub playback_id_listed: bool,
    /// Mux's reconnect semantics: the reconnect window runs after a clean
    /// unpublish too, and only `complete` ends a broadcast at once. False
    /// for native channels, which end on a clean unpublish.
    pub reconnect_after_unpublish: bool,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds; bumped by every settings change and key reset.
    pub updated_at_ms: i64,
}

impl Channel {
    /// Whether publishers are accepted: enabled and not suspended.
    pub fn accepts_publishers(&self) -> bool {
        self.enabled && !self.suspended
    }
}

/// Input of [`Db::create_channel`]. Other settings start at their defaults
/// (enabled, recording, public, 60 s reconnect window); change them with
/// [`Db::update_channel`].
#[derive(Debug, Clone)]
pub struct NewChannel {
    /// Must be an existing user's id.
    pub owner_user_id: String,
    /// Lowercased before validation.
    pub slug: String,
    /// Trimmed; an empty title becomes the slug.
    pub title: String,
    pub latency_mode: LatencyMode,
    /// `None`: fMP4 for low-latency channels (LL-HLS needs it), else TS.
    pub segment_format: Option<SegmentFormat>,
    /// Ladder preset name; `None`: "default".
    pub ladder: Option<String>,
}

/// What [`Db::create_channel`] returns: the channel and its stream key, the
/// only time (besides a reset) that the key is available.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CreatedChannel {
    pub channel: Channel,
    /// The plain-text stream key. Not stored; show it to the user now.
    pub stream_key: String,
}

/// Settings changes for [`Db::update_channel`]; `None` leaves a setting as
/// it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelUpdate {
    pub title: Option<String>,
    pub latency_mode: Option<LatencyMode>,
    pub segment_format: Option<SegmentFormat>,
    pub ladder: Option<String>,
    pub enabled: Option<bool>,
    /// An administrator's decision (the API allows no one else).
    pub suspended: Option<bool>,
    pub record: Option<bool>,
    /// Private also makes playback signed (see the module docs).
    pub visibility: Option<Visibility>,
    /// Public is refused for a channel that is or becomes private.
    pub playback_policy: Option<PlaybackPolicy>,
    pub reconnect_window_s: Option<u32>,
    /// Trimmed; empty clears it.
    pub category: Option<String>,
    pub chat_slow_mode_s: Option<u32>,
    /// Replaces the list (normalised: trimmed, lowercased, deduplicated).
    pub chat_blocked_words: Option<Vec<String>>,
    /// JSON object text (see [`Channel::mux_settings`]); at most 16 KiB.
    pub mux_settings: Option<String>,
    pub new_asset_playback_policies: Option<Vec<PlaybackPolicy>>,
    pub playback_id_listed: Option<bool>,
    pub reconnect_after_unpublish: Option<bool>,
}

/// Which channels [`Db::list_channels`] returns; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelFilter {
    /// Only this user's channels.
    pub owner_user_id: Option<String>,
    /// Only channels with this visibility (browse asks for public).
    pub visibility: Option<Visibility>,
    /// Only channels broadcasting now: a live stream receiving media
    /// (`active`; not one merely connected or in its reconnect window).
    pub live_now: bool,
}

/// What [`Db::delete_channel`] deleted: what the caller needs to delete the
/// channel's objects from storage.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeletedChannel {
    /// The channel as it was.
    pub channel: Channel,
    /// Every broadcast it had (their segments, playlists, thumbnails and
    /// posters live under these ids), oldest first.
    pub live_stream_ids: Vec<String>,
    /// Every clip it had (`clips/{clip_id}*`), oldest first.
    pub clip_ids: Vec<String>,
}

/// Shortest slug, in characters.
pub const SLUG_MIN_LEN: usize = 3;
/// Longest slug, in characters.
pub const SLUG_MAX_LEN: usize = 40;
/// Longest title, in characters.
pub const TITLE_MAX_CHARS: usize = 200;
/// Longest reconnect window, in seconds (also a CHECK in the schema).
pub const RECONNECT_WINDOW_MAX_S: u32 = 1800;
/// Longest category, in characters.
pub const CATEGORY_MAX_CHARS: usize = 50;
/// Longest chat slow mode, in seconds (also a CHECK in the schema).
pub const CHAT_SLOW_MODE_MAX_S: u32 = 3600;
/// Most blocked words a channel may have.
pub const CHAT_BLOCKED_WORDS_MAX: usize = 200;
/// Longest blocked word, in characters.
pub const CHAT_BLOCKED_WORD_MAX_CHARS: usize = 50;
/// Longer than any key we issue; a longer candidate is refused unhashed.
const STREAM_KEY_MAX_LEN: usize = 256;

/// Lowercases and validates a slug: 3–40 of `[a-z0-9-]`, not starting or
/// ending with '-' (slugs appear in URLs and chat room names).
pub fn normalize_slug(slug: &str) -> Result<String> {
    let slug = slug.trim().to_ascii_lowercase();
    let len = slug.chars().count();
    if !(SLUG_MIN_LEN..=SLUG_MAX_LEN).contains(&len) {
        return Err(Error::invalid(
            "slug",
            format!("must be {SLUG_MIN_LEN} to {SLUG_MAX_LEN} characters, got {len}"),
        ));
    }
    if let Some(bad) = slug
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        return Err(Error::invalid(
            "slug",
            format!("may contain only a-z, 0-9 and '-', not {bad:?}"),
        ));
    }
    if slug.starts_with('-') || slug.ends_with('-') {
        return Err(Error::invalid("slug", "must not start or end with '-'"));
    }
    Ok(slug)
}

/// Trims and validates a title: 1–200 characters, no control characters.
pub(crate) fn normalize_title(title: &str) -> Result<String> {
    let title = title.trim();
    let len = title.chars().count();
    if len == 0 {
        return Err(Error::invalid("title", "must not be empty"));
    }
    if len > TITLE_MAX_CHARS {
        return Err(Error::invalid(
            "title",
            format!("must be at most {TITLE_MAX_CHARS} characters, got {len}"),
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(Error::invalid(
            "title",
            "must not contain control characters",
        ));
    }
    Ok(title.to_owned())
}

/// Trims and validates a category: at most 50 characters, no control
/// characters; empty means none.
pub(crate) fn normalize_category(category: &str) -> Result<String> {
    let category = category.trim();
    let len = category.chars().count();
    if len > CATEGORY_MAX_CHARS {
        return Err(Error::invalid(
            "category",
            format!("must be at most {CATEGORY_MAX_CHARS} characters, got {len}"),
        ));
    }
    if category.chars().any(char::is_control) {
        return Err(Error::invalid(
            "category",
            "must not contain control characters",
        ));
    }
    Ok(category.to_owned())
}

/// Normalises a blocked-words list: each word trimmed and lowercased, 1-50
/// characters without control characters, duplicates and empty entries
/// dropped, at most 200 words; sorted.
pub fn normalize_blocked_words(words: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for word in words {
        let word = word.trim().to_lowercase();
        if word.is_empty() {
            continue;
        }
        if word.chars().count() > CHAT_BLOCKED_WORD_MAX_CHARS || word.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                "chat_blocked_words",
                format!(
                    "each word must be 1 to {CHAT_BLOCKED_WORD_MAX_CHARS} characters without control characters"
                ),
            ));
        }
        out.push(word);
    }
    out.sort();
    out.dedup();
    if out.len() > CHAT_BLOCKED_WORDS_MAX {
        return Err(Error::invalid(
            "chat_blocked_words",
            format!("at most {CHAT_BLOCKED_WORDS_MAX} words"),
        ));
    }
    Ok(out)
}

fn validate_slow_mode(seconds: u32) -> Result<u32> {
    if seconds > CHAT_SLOW_MODE_MAX_S {
        return Err(Error::invalid(
            "chat_slow_mode_s",
            format!("must be 0 to {CHAT_SLOW_MODE_MAX_S} seconds"),
        ));
    }
    Ok(seconds)
}

fn validate_reconnect_window(seconds: u32) -> Result<u32> {
    if seconds > RECONNECT_WINDOW_MAX_S {
        return Err(Error::invalid(
            "reconnect_window_s",
            format!("must be at most {RECONNECT_WINDOW_MAX_S} seconds"),
        ));
    }
    Ok(seconds)
}

/// The ladder preset of a new channel unless one is named.
pub const DEFAULT_LADDER: &str = "default";

/// A ladder preset name: 1-64 of `[a-z0-9_-]` (the server checks that the
/// preset exists in its configuration).
pub fn validate_ladder_name(name: &str) -> Result<String> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(name.to_string())
    } else {
        Err(Error::invalid(
            "ladder",
            "must be 1-64 characters of a-z, 0-9, '-' and '_'",
        ))
    }
}

/// Longest [`Channel::mux_settings`], in bytes.
pub const MUX_SETTINGS_MAX_BYTES: usize = 16 * 1024;

/// `public,signed` → policies; `None` on an unknown one.
fn decode_policies(text: &str) -> Option<Vec<PlaybackPolicy>> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().ok())
        .collect()
}

fn encode_policies(policies: &[PlaybackPolicy]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for p in policies {
        if !out.contains(&p.as_str()) {
            out.push(p.as_str());
        }
    }
    out.join(",")
}

/// `SELECT` of every [`Channel`] column (then `$extra` columns) from
/// `channel c` followed by `$tail`. Literals only, so the statement stays a
/// `&'static str`, which is what sqlx 0.9 takes without `AssertSqlSafe`.
macro_rules! select_channel {
    ($tail:literal) => {
        select_channel!("", $tail)
    };
    ($extra:literal, $tail:literal) => {
        concat!(
            "SELECT c.channel_id, c.owner_user_id, c.slug, c.title, c.latency_mode, \
             c.segment_format, c.ladder, c.playback_id, c.enabled, c.record, c.visibility, \
             c.playback_policy, c.reconnect_window_s, c.created_at_ms, c.updated_at_ms, \
             c.category, c.chat_slow_mode_s, c.chat_blocked_words, c.suspended, \
             c.playback_tokens_not_before_ms, c.mux_settings, c.new_asset_playback_policies, \
             c.playback_id_listed, c.reconnect_after_unpublish",
            $extra,
            " FROM channel c ",
            $tail
        )
    };
}

pub(crate) fn channel_from_row(row: &AnyRow) -> Result<Channel> {
    Ok(Channel {
        channel_id: row.try_get("channel_id")?,
        owner_user_id: row.try_get("owner_user_id")?,
        slug: row.try_get("slug")?,
        title: row.try_get("title")?,
        latency_mode: decode::text_enum(row, "channel", "latency_mode")?,
        segment_format: decode::text_enum(row, "channel", "segment_format")?,
        ladder: row.try_get("ladder")?,
        playback_id: row.try_get("playback_id")?,
        enabled: decode::flag(row, "channel", "enabled")?,
        suspended: decode::flag(row, "channel", "suspended")?,
        record: decode::flag(row, "channel", "record")?,
        visibility: decode::text_enum(row, "channel", "visibility")?,
        playback_policy: decode::text_enum(row, "channel", "playback_policy")?,
        reconnect_window_s: decode::int(row, "channel", "reconnect_window_s")?,
        category: row.try_get("category")?,
        chat_slow_mode_s: decode::int(row, "channel", "chat_slow_mode_s")?,
        chat_blocked_words: {
            let text: String = row.try_get("chat_blocked_words")?;
            serde_json::from_str(&text).map_err(|_| Error::Corrupt {
                table: "channel",
                column: "chat_blocked_words",
                value: text,
            })?
        },
        playback_tokens_not_before_ms: row.try_get("playback_tokens_not_before_ms")?,
        mux_settings: row.try_get("mux_settings")?,
        new_asset_playback_policies: {
            let text: String = row.try_get("new_asset_playback_policies")?;
            decode_policies(&text).ok_or(Error::Corrupt {
                table: "channel",
                column: "new_asset_playback_policies",
                value: text,
            })?
        },
        playback_id_listed: decode::flag(row, "channel", "playback_id_listed")?,
        reconnect_after_unpublish: decode::flag(row, "channel", "reconnect_after_unpublish")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

impl Db {
    /// Creates a channel and its first stream key, in one transaction.
    ///
    /// Fails with [`Error::Invalid`] on a bad slug or title or an unknown
    /// owner (`field` = "owner_user_id"), and [`Error::Conflict`]
    /// (`what` = "slug") when the slug is taken.
    pub async fn create_channel(&self, new: NewChannel) -> Result<CreatedChannel> {
        let _changed = self.channel_write();
        let slug = normalize_slug(&new.slug)?;
        let title = if new.title.trim().is_empty() {
            slug.clone()
        } else {
            normalize_title(&new.title)?
        };
        let now = self.now_ms();
        let channel = Channel {
            channel_id: new_id(),
            owner_user_id: new.owner_user_id,
            slug,
            title,
            latency_mode: new.latency_mode,
            segment_format: new.segment_format.unwrap_or(match new.latency_mode {
                LatencyMode::Low => SegmentFormat::Fmp4,
                LatencyMode::Standard => SegmentFormat::Ts,
            }),
            ladder: new
                .ladder
                .map(|l| validate_ladder_name(&l))
                .transpose()?
                .unwrap_or_else(|| DEFAULT_LADDER.to_string()),
            playback_id: new_playback_id(),
            enabled: true,
            suspended: false,
            record: true,
            visibility: Visibility::Public,
            playback_policy: PlaybackPolicy::Public,
            reconnect_window_s: 60,
            category: String::new(),
            chat_slow_mode_s: 0,
            chat_blocked_words: Vec::new(),
            playback_tokens_not_before_ms: None,
            mux_settings: "{}".to_owned(),
            new_asset_playback_policies: Vec::new(),
            playback_id_listed: true,
            reconnect_after_unpublish: false,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let stream_key = new_stream_key();

        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO channel (channel_id, owner_user_id, slug, title, latency_mode, \
             playback_id, enabled, record, visibility, reconnect_window_s, created_at_ms, \
             updated_at_ms, segment_format, ladder, playback_policy) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&channel.channel_id)
        .bind(&channel.owner_user_id)
        .bind(&channel.slug)
        .bind(&channel.title)
        .bind(channel.latency_mode.as_str())
        .bind(&channel.playback_id)
        .bind(decode::flag_param(channel.enabled))
        .bind(decode::flag_param(channel.record))
        .bind(channel.visibility.as_str())
        .bind(channel.reconnect_window_s as i32)
        .bind(channel.created_at_ms)
        .bind(channel.updated_at_ms)
        .bind(channel.segment_format.as_str())
        .bind(&channel.ladder)
        .bind(channel.playback_policy.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::ForeignKey) => Error::invalid("owner_user_id", "no such user"),
            _ => map_write(e),
        })?;
        insert_stream_key(&mut tx, &self.sealer, &channel.channel_id, &stream_key, now).await?;
        tx.commit().await?;

        tracing::info!(channel_id = %channel.channel_id, slug = %channel.slug, "channel created");
        Ok(CreatedChannel {
            channel,
            stream_key,
        })
    }

    /// The channel with this id, if any.
    pub async fn channel(&self, channel_id: &str) -> Result<Option<Channel>> {
        let row = sqlx::query(select_channel!("WHERE c.channel_id = $1"))
            .bind(channel_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    /// The channel with this slug (compared ignoring case), if any.
    pub async fn channel_by_slug(&self, slug: &str) -> Result<Option<Channel>> {
        let slug = slug.trim().to_ascii_lowercase();
        let row = sqlx::query(select_channel!("WHERE c.slug = $1"))
            .bind(&slug)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    /// The channel with this playback id (exact match), if any.
    pub async fn channel_by_playback_id(&self, playback_id: &str) -> Result<Option<Channel>> {
        let row = sqlx::query(select_channel!("WHERE c.playback_id = $1"))
            .bind(playback_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    /// The channel a stream key belongs to, if the key is current.
    ///
    /// The key is hashed, the hash looked up through its unique index, and
    /// the stored hash then compared with the computed one in constant time.
    /// Whether the channel is enabled is the caller's (ingest's) decision:
    /// a disabled channel is still returned.
    pub async fn channel_by_stream_key(&self, stream_key: &str) -> Result<Option<Channel>> {
        if stream_key.is_empty() || stream_key.len() > STREAM_KEY_MAX_LEN {
            return Ok(None);
        }
        let key_hash = hash_stream_key(stream_key);
        let row = sqlx::query(select_channel!(
            ", k.key_hash",
            "JOIN stream_key k ON k.channel_id = c.channel_id WHERE k.key_hash = $1"
        ))
        .bind(&key_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        // The index lookup already matched on equality; comparing again in
        // constant time means that even a database comparing more loosely
        // than bytes (a collation, a prefix index) cannot admit a wrong key,
        // and this code never branches early on a partial match.
        let stored: String = row.try_get("key_hash")?;
        if !hashes_equal(&stored, &key_hash) {
            return Ok(None);
        }
        channel_from_row(&row).map(Some)
    }

    /// The channel's current stream key, opened from its sealed copy (the
    /// Mux surface shows it on every read). `None` if the channel has no
    /// key that can be shown: made before keys were sealed, or sealed
    /// under another server key; resetting the key makes it readable.
    pub async fn stream_key_of(&self, channel_id: &str) -> Result<Option<String>> {
        let sealed: Option<Option<String>> = sqlx::query_scalar(
            "SELECT key_sealed FROM stream_key WHERE channel_id = $1 \
             ORDER BY created_at_ms DESC LIMIT 1",
        )
        .bind(channel_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(sealed.flatten().and_then(|s| self.sealer.open(&s)))
    }

    /// Replaces the channel's stream key(s) with a fresh one and returns it.
    /// The old key stops working when this returns (one transaction).
    /// [`Error::NotFound`] if there is no such channel.
    pub async fn reset_stream_key(&self, channel_id: &str) -> Result<String> {
        let now = self.now_ms();
        let stream_key = new_stream_key();
        let mut tx = self.pool.begin().await?;
        // Write first: on SQLite a transaction that starts with a read and
        // then writes can fail with SQLITE_BUSY without waiting.
        let updated = sqlx::query("UPDATE channel SET updated_at_ms = $1 WHERE channel_id = $2")
            .bind(now)
            .bind(channel_id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound { what: "channel" });
        }
        sqlx::query("DELETE FROM stream_key WHERE channel_id = $1")
            .bind(channel_id)
            .execute(&mut *tx)
            .await?;
        insert_stream_key(&mut tx, &self.sealer, channel_id, &stream_key, now).await?;
        tx.commit().await?;
        tracing::info!(%channel_id, "stream key reset");
        Ok(stream_key)
    }

    /// A page of channels matching `filter`, newest first.
    pub async fn list_channels(
        &self,
        filter: &ChannelFilter,
        page: &PageRequest,
    ) -> Result<Page<Channel>> {
        // A NULL filter parameter matches every row; the statement stays one
        // static string whatever the filter.
        let rows = sqlx::query(select_channel!(
            "WHERE ($1 IS NULL OR c.owner_user_id = $1) AND ($2 IS NULL OR c.visibility = $2) \
             AND ($3 = 0 OR EXISTS (SELECT 1 FROM live_stream ls \
                  WHERE ls.channel_id = c.channel_id AND ls.status = 'active')) \
             AND (c.created_at_ms, c.channel_id) < ($4, $5) \
             ORDER BY c.created_at_ms DESC, c.channel_id DESC LIMIT $6"
        ))
        .bind(filter.owner_user_id.as_deref())
        .bind(filter.visibility.map(Visibility::as_str))
        .bind(decode::flag_param(filter.live_now))
        .bind(page.after_time_ms())
        .bind(page.after_id())
        .bind(page.fetch_limit())
        .fetch_all(&self.pool)
        .await?;
        let channels = rows.iter().map(channel_from_row).collect::<Result<_>>()?;
        Ok(Page::from_rows(channels, page, |c: &Channel| {
            (c.created_at_ms, &c.channel_id)
        }))
    }

    /// One page of an owner's channels by offset, newest first, for lists
    /// paged by number (Mux's `?limit=&page=`). `status` filters on Mux's
    /// live stream status: `disabled` (not enabled, or suspended),
    /// `active` (a broadcast in progress) or `idle` (neither). At most
    /// [`crate::PAGE_LIMIT_MAX`] per page.
    pub async fn list_channels_by_offset(
        &self,
        owner_user_id: &str,
        status: Option<&str>,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<Channel>> {
        let limit = limit.clamp(1, crate::PAGE_LIMIT_MAX);
        let rows = sqlx::query(select_channel!(
            "WHERE c.owner_user_id = $1 AND ($2 IS NULL \
               OR ($2 = 'disabled' AND (c.enabled = 0 OR c.suspended = 1)) \
               OR ($2 <> 'disabled' AND c.enabled = 1 AND c.suspended = 0 AND \
                   (EXISTS (SELECT 1 FROM live_stream ls WHERE ls.channel_id = c.channel_id \
                            AND ls.status <> 'ended')) = ($2 = 'active'))) \
             ORDER BY c.created_at_ms DESC, c.channel_id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(owner_user_id)
        .bind(status)
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    /// Deletes a channel and everything recorded under it, in one
    /// transaction and in dependency order: segments, clips, VODs, live
    /// streams, stream keys, the channel. Webhook events about it stay
    /// (their deliveries still go out). Returns what the caller must delete
    /// from storage.
    ///
    /// [`Error::Busy`] while a broadcast is in progress (connected, active
    /// or in its reconnect window; end it first), [`Error::NotFound`] if
    /// there is no such channel.
    pub async fn delete_channel(&self, channel_id: &str) -> Result<DeletedChannel> {
        let _changed = self.channel_write();
        let mut tx = self.pool.begin().await?;
        // Lock the channel before looking for broadcasts, so none can start
        // between the check and the deletes. SQLite: the first write takes
        // the database's write lock (and a read-then-write transaction could
        // fail with SQLITE_BUSY instead of waiting). PostgreSQL: FOR UPDATE
        // conflicts with the KEY SHARE lock that inserting a live stream
        // takes on its channel, which a plain UPDATE would not.
        let locked = match self.backend() {
            crate::Backend::Sqlite => {
                sqlx::query(
                    "UPDATE channel SET updated_at_ms = updated_at_ms WHERE channel_id = $1",
                )
                .bind(channel_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0
            }
            crate::Backend::Postgres => {
                sqlx::query("SELECT channel_id FROM channel WHERE channel_id = $1 FOR UPDATE")
                    .bind(channel_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some()
            }
        };
        if !locked {
            return Err(Error::NotFound { what: "channel" });
        }
        let row = sqlx::query(select_channel!("WHERE c.channel_id = $1"))
            .bind(channel_id)
            .fetch_one(&mut *tx)
            .await?;
        let channel = channel_from_row(&row)?;
        let unended: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM live_stream WHERE channel_id = $1 AND status <> 'ended'",
        )
        .bind(channel_id)
        .fetch_one(&mut *tx)
        .await?;
        if unended > 0 {
            return Err(Error::Busy {
                channel_id: channel_id.to_owned(),
            });
        }
        let live_stream_ids: Vec<String> = sqlx::query_scalar(
            "SELECT live_stream_id FROM live_stream WHERE channel_id = $1 \
             ORDER BY started_at_ms, live_stream_id",
        )
        .bind(channel_id)
        .fetch_all(&mut *tx)
        .await?;
        let clip_ids: Vec<String> = sqlx::query_scalar(
            "SELECT clip_id FROM clip WHERE channel_id = $1 ORDER BY created_at_ms, clip_id",
        )
        .bind(channel_id)
        .fetch_all(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM segment WHERE live_stream_id IN \
             (SELECT live_stream_id FROM live_stream WHERE channel_id = $1)",
            "DELETE FROM clip WHERE channel_id = $1",
            "DELETE FROM vod WHERE channel_id = $1",
            "DELETE FROM live_stream WHERE channel_id = $1",
            "DELETE FROM stream_key WHERE channel_id = $1",
            "DELETE FROM channel WHERE channel_id = $1",
        ] {
            sqlx::query(sql)
                .bind(channel_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| match violation(&e) {
                    // Cannot happen with the lock above; if a row appeared
                    // anyway, refuse rather than delete around it.
                    Some(Violation::ForeignKey) => Error::Busy {
                        channel_id: channel_id.to_owned(),
                    },
                    _ => Error::Database(e),
                })?;
        }
        tx.commit().await?;
        tracing::info!(
            %channel_id,
            live_streams = live_stream_ids.len(),
            clips = clip_ids.len(),
            "channel deleted"
        );
        Ok(DeletedChannel {
            channel,
            live_stream_ids,
            clip_ids,
        })
    }

    /// Changes a channel's settings and returns it as updated.
    /// [`Error::NotFound`] if there is no such channel, [`Error::Invalid`]
    /// on a bad title, ladder or reconnect window, or on public playback for
    /// a private channel (`field` = "playback_policy"; see the module docs).
    pub async fn update_channel(&self, channel_id: &str, update: ChannelUpdate) -> Result<Channel> {
        let _changed = self.channel_write();
        let title = update.title.as_deref().map(normalize_title).transpose()?;
        let ladder = update
            .ladder
            .as_deref()
            .map(validate_ladder_name)
            .transpose()?;
        let reconnect_window_s = update
            .reconnect_window_s
            .map(validate_reconnect_window)
            .transpose()?;
        let category = update
            .category
            .as_deref()
            .map(normalize_category)
            .transpose()?;
        let slow_mode = update
            .chat_slow_mode_s
            .map(validate_slow_mode)
            .transpose()?;
        let blocked_words = update
            .chat_blocked_words
            .as_deref()
            .map(normalize_blocked_words)
            .transpose()?
            .map(|w| serde_json::Value::from(w).to_string());
        let mux_settings = match update.mux_settings {
            Some(text) => {
                let valid = text.len() <= MUX_SETTINGS_MAX_BYTES
                    && serde_json::from_str::<serde_json::Value>(&text)
                        .is_ok_and(|v| v.is_object());
                if !valid {
                    return Err(Error::invalid(
                        "mux_settings",
                        format!("must be a JSON object of at most {MUX_SETTINGS_MAX_BYTES} bytes"),
                    ));
                }
                Some(text)
            }
            None => None,
        };
        let private_is_signed = || {
            Error::invalid(
                "playback_policy",
                "a private channel's playback is always signed",
            )
        };
        if update.visibility == Some(Visibility::Private)
            && update.playback_policy == Some(PlaybackPolicy::Public)
        {
            return Err(private_is_signed());
        }
        // COALESCE($n, column): a NULL parameter keeps the current value.
        // Becoming private derives signed playback; the last condition
        // refuses public playback on a channel that stays private. Becoming
        // private or signed also revokes the playback tokens issued so far
        // (the right-hand sides read the row as it was): whoever was let
        // in under the old rules must ask again under the new ones.
        let now = self.now_ms();
        let updated = sqlx::query(
            "UPDATE channel SET title = COALESCE($1, title), \
             latency_mode = COALESCE($2, latency_mode), enabled = COALESCE($3, enabled), \
             record = COALESCE($4, record), visibility = COALESCE($5, visibility), \
             reconnect_window_s = COALESCE($6, reconnect_window_s), updated_at_ms = $7, \
             segment_format = COALESCE($9, segment_format), ladder = COALESCE($10, ladder), \
             playback_policy = CASE WHEN $5 = 'private' THEN 'signed' \
                                    ELSE COALESCE($11, playback_policy) END, \
             category = COALESCE($12, category), \
             chat_slow_mode_s = COALESCE($13, chat_slow_mode_s), \
             chat_blocked_words = COALESCE($14, chat_blocked_words), \
             suspended = COALESCE($15, suspended), \
             mux_settings = COALESCE($16, mux_settings), \
             new_asset_playback_policies = COALESCE($17, new_asset_playback_policies), \
             playback_id_listed = COALESCE($18, playback_id_listed), \
             reconnect_after_unpublish = COALESCE($19, reconnect_after_unpublish), \
             playback_tokens_not_before_ms = CASE \
               WHEN (COALESCE($5, visibility) = 'private' AND visibility <> 'private') \
                 OR (COALESCE($11, playback_policy) = 'signed' AND playback_policy <> 'signed') \
               THEN $7 ELSE playback_tokens_not_before_ms END \
             WHERE channel_id = $8 \
             AND NOT (COALESCE($11, '') = 'public' AND COALESCE($5, visibility) = 'private')",
        )
        .bind(title)
        .bind(update.latency_mode.map(|m| m.as_str()))
        .bind(update.enabled.map(decode::flag_param))
        .bind(update.record.map(decode::flag_param))
        .bind(update.visibility.map(|v| v.as_str()))
        .bind(reconnect_window_s.map(|s| s as i32))
        .bind(now)
        .bind(channel_id)
        .bind(update.segment_format.map(|f| f.as_str()))
        .bind(ladder)
        .bind(update.playback_policy.map(|p| p.as_str()))
        .bind(category)
        .bind(slow_mode.map(|s| s as i32))
        .bind(blocked_words)
        .bind(update.suspended.map(decode::flag_param))
        .bind(mux_settings)
        .bind(
            update
                .new_asset_playback_policies
                .as_deref()
                .map(encode_policies),
        )
        .bind(update.playback_id_listed.map(decode::flag_param))
        .bind(update.reconnect_after_unpublish.map(decode::flag_param))
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(match self.channel(channel_id).await? {
                None => Error::NotFound { what: "channel" },
                Some(_) => private_is_signed(),
            });
        }
        self.channel(channel_id)
            .await?
            .ok_or(Error::NotFound { what: "channel" })
    }

    /// Refuses every playback token of the channel issued before now (its
    /// `iat`; tokens without one are refused too) and returns the channel.
    /// [`Error::NotFound`] if there is no such channel.
    pub async fn revoke_playback_tokens(&self, channel_id: &str) -> Result<Channel> {
        let _changed = self.channel_write();
        let now = self.now_ms();
        let updated = sqlx::query(
            "UPDATE channel SET playback_tokens_not_before_ms = $1, updated_at_ms = $1 \
             WHERE channel_id = $2",
        )
        .bind(now)
        .bind(channel_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound { what: "channel" });
        }
        tracing::info!(%channel_id, "playback tokens revoked");
        self.channel(channel_id)
            .await?
            .ok_or(Error::NotFound { what: "channel" })
    }

    /// Gives the channel a new playback id (the old one stops playing at
    /// once: nothing answers to it any more) and revokes the tokens issued
    /// so far. Returns the channel. [`Error::NotFound`] if there is no such
    /// channel.
    pub async fn rotate_playback_id(&self, channel_id: &str) -> Result<Channel> {
        let _changed = self.channel_write();
        let now = self.now_ms();
        let updated = sqlx::query(
            "UPDATE channel SET playback_id = $1, playback_tokens_not_before_ms = $2, \
             updated_at_ms = $2 WHERE channel_id = $3",
        )
        .bind(new_playback_id())
        .bind(now)
        .bind(channel_id)
        .execute(&self.pool)
        .await
        .map_err(map_write)?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound { what: "channel" });
        }
        tracing::info!(%channel_id, "playback id rotated");
        self.channel(channel_id)
            .await?
            .ok_or(Error::NotFound { what: "channel" })
    }
}

async fn insert_stream_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sealer: &Sealer,
    channel_id: &str,
    stream_key: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO stream_key (stream_key_id, channel_id, key_hash, created_at_ms, key_sealed) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(channel_id)
    .bind(hash_stream_key(stream_key))
    .bind(now)
    .bind(sealer.seal(stream_key))
    .execute(&mut **tx)
    .await
    .map_err(map_write)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rules() {
        assert_eq!(normalize_slug("My-Channel").unwrap(), "my-channel");
        assert_eq!(normalize_slug("abc").unwrap(), "abc");
        assert_eq!(normalize_slug(&"a".repeat(40)).unwrap(), "a".repeat(40));
        for (bad, why) in [
            ("ab", "3 to 40"),
            (&*"a".repeat(41), "3 to 40"),
            ("my_channel", "'_'"),
            ("my channel", "' '"),
            ("-abc", "start or end"),
            ("abc-", "start or end"),
            ("chaîne", "'î'"),
        ] {
            match normalize_slug(bad) {
                Err(Error::Invalid { field, message }) => {
                    assert_eq!(field, "slug");
                    assert!(message.contains(why), "{bad:?}: {message}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn title_rules() {
        assert_eq!(normalize_title("  Hello  ").unwrap(), "Hello");
        assert!(normalize_title(&"é".repeat(200)).is_ok());
        for bad in ["", "   ", "a\nb", &"x".repeat(201)] {
            assert!(
                matches!(
                    normalize_title(bad),
                    Err(Error::Invalid { field: "title", .. })
                ),
                "{bad:?}"
            );
        }
    }
}

#[cfg(test)]
mod db_tests {
    use crate::testutil::{self, each_backend};

    #[tokio::test]
    async fn stream_key_is_stored_only_as_its_sha256() {
        each_backend(async |db| {
            let (channel, key) = testutil::channel(&db, "hashed").await;
            let stored: Vec<String> =
                sqlx::query_scalar("SELECT key_hash FROM stream_key WHERE channel_id = $1")
                    .bind(&channel.channel_id)
                    .fetch_all(&db.pool)
                    .await
                    .unwrap();
            assert_eq!(stored, [crate::secret::hash_stream_key(&key)]);
            assert!(!stored[0].contains(&key));

            // A reset leaves exactly one key.
            let new_key = db.reset_stream_key(&channel.channel_id).await.unwrap();
            let stored: Vec<String> =
                sqlx::query_scalar("SELECT key_hash FROM stream_key WHERE channel_id = $1")
                    .bind(&channel.channel_id)
                    .fetch_all(&db.pool)
                    .await
                    .unwrap();
            assert_eq!(stored, [crate::secret::hash_stream_key(&new_key)]);
        })
        .await;
    }
}

#[cfg(test)]
mod policy_tests {
    use crate::testutil::{self, each_backend};

    /// Rust never writes a private channel with public playback; the
    /// database refuses it too (a CHECK on PostgreSQL, triggers on SQLite).
    #[tokio::test]
    async fn database_refuses_private_public_playback() {
        each_backend(async |db| {
            let (channel, _) = testutil::channel(&db, "raw").await;
            for sql in [
                "UPDATE channel SET visibility = 'private' WHERE channel_id = $1",
                "UPDATE channel SET visibility = 'private', playback_policy = 'public' \
                 WHERE channel_id = $1",
            ] {
                let result = sqlx::query(sql)
                    .bind(&channel.channel_id)
                    .execute(&db.pool)
                    .await;
                let err = result.expect_err(sql);
                assert!(
                    err.to_string().contains("channel_private_is_signed"),
                    "{err}"
                );
            }
            sqlx::query(
                "UPDATE channel SET visibility = 'private', playback_policy = 'signed' \
                 WHERE channel_id = $1",
            )
            .bind(&channel.channel_id)
            .execute(&db.pool)
            .await
            .unwrap();
        })
        .await;
    }
}
