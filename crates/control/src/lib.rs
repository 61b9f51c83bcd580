//! Domain and persistence of AeThex LIVE's control plane: users and their
//! sessions and API tokens, channels and their stream keys, live streams
//! (one per broadcast), VODs, clips, playback signing keys and webhooks,
//! after Mux's model (DESIGN.md "Domain"). No HTTP: `api` and `live` call
//! [`Db`]'s methods; `server` connects and migrates.
//!
//! Lists page with an opaque cursor ([`PageRequest`] → [`Page`]); methods
//! acting on a user's own settings (API tokens, signing keys, webhook
//! endpoints and deliveries) take the acting owner and answer
//! [`Error::NotFound`] for anyone else's rows.
//!
//! # One code path, two databases
//!
//! The embedded default is SQLite; scaling out uses PostgreSQL. Both go
//! through sqlx's `Any` driver ([`sqlx::AnyPool`]) with runtime-checked
//! `sqlx::query`, so every query is written once and every test runs on
//! both. The alternative, an enum of a `SqlitePool` and a `PgPool`, would
//! give native types (BOOLEAN, UUID, TIMESTAMPTZ) at the cost of writing
//! each method twice or generically over `sqlx::Database` with heavy
//! bounds; this schema needs only text and integers, so `Any` costs little.
//! What it costs, and how the schema answers it (see also the comments in
//! `migrations/`):
//!
//! * Any carries only booleans, integers, floats, text and bytes. Ids are
//!   UUIDv7 as TEXT, times are unix milliseconds as BIGINT (`*_at_ms`),
//!   enumerations are TEXT with CHECK constraints.
//! * Booleans are INTEGER 0/1 on both databases: Any decodes a PostgreSQL
//!   BOOLEAN only as `bool` and a SQLite integer only as an integer, and
//!   refuses a SQLite column *declared* BOOLEAN outright. Tests pin this.
//! * Placeholders are `$1, $2, ...`: PostgreSQL's syntax, which SQLite also
//!   accepts as numbered parameters. Any does not rewrite SQL.
//! * Any cannot carry SQLite connection options, so the pragmas (foreign
//!   keys, busy timeout, WAL) are issued after connecting; see [`Db`].
//! * Constraint violations arrive as the driver's own error; the mapping to
//!   [`Error::Conflict`] / [`Error::Busy`] knows both spellings.
//!
//! # Secrets
//!
//! Stream keys, API tokens and session/CSRF tokens are CSPRNG alphanumerics
//! (~190 bits), shown once, stored as SHA-256 hex, looked up by hash and
//! compared in constant time. Passwords are argon2id PHC strings. Users'
//! playback signing keys are stored as public keys only; the server's own
//! playback key and webhook secrets are stored as they are, because the
//! server signs with them (see [`Db::mint_playback_token`] and the
//! `webhook` module).

mod api_token;
mod asset_file;
#[macro_use]
mod channel;
mod chat;
mod clip;
mod clip_range;
mod clock;
mod db;
mod decode;
mod error;
mod follow;
mod ids;
mod live_stream;
mod page;
mod password;
mod playback_ids;
mod playback_token;
mod seal;
mod secret;
mod segment;
mod session;
mod signing_key;
mod simulcast;
mod text_enum;
mod user;
mod vod;
mod webhook;
mod webhook_signature;

#[doc(hidden)]
pub mod testutil;

pub use api_token::{API_TOKEN_NAME_MAX_CHARS, ApiToken, CreatedApiToken};
pub use asset_file::{
    ASSET_FILE_MAX_ATTEMPTS, AssetFile, AssetFileName, AssetFileStatus, ClaimedAssetFile,
    MadeAssetFile,
};
pub use channel::{
    CATEGORY_MAX_CHARS, CHAT_BLOCKED_WORDS_MAX, CHAT_SLOW_MODE_MAX_S, Channel, ChannelFilter,
    ChannelUpdate, CreatedChannel, DEFAULT_LADDER, DeletedChannel, LatencyMode,
    MUX_SETTINGS_MAX_BYTES, NewChannel, PlaybackPolicy, RECONNECT_WINDOW_MAX_S, SLUG_MAX_LEN,
    SLUG_MIN_LEN, SegmentFormat, TITLE_MAX_CHARS, Visibility, normalize_blocked_words,
    normalize_slug, validate_ladder_name,
};
pub use chat::{
    CHAT_BAN_REASON_MAX_CHARS, CHAT_HISTORY_MAX, CHAT_MESSAGE_MAX_CHARS, ChatBan, ChatMessage,
    NewChatBan, normalize_chat_body,
};
pub use clip::{
    CLIP_MAX_DURATION_MS, ClaimedExport, Clip, ClipExportStatus, ClipFilter, ClipSource,
    ClipStatus, ClipViewer, NewClip,
};
pub use clip_range::{
    SOURCE_RENDITION, clip_event_data, clip_rendition, clip_segments, clip_timeline,
    segments_duration_ms, snap_clip_range,
};
pub use clock::Clock;
pub use db::{Backend, Db, DbConfig};
pub use error::{Error, Result};
pub use follow::{BROWSE_LIMIT_MAX, FollowedChannel, LiveChannel, SEARCH_MAX_CHARS};
pub use live_stream::{ChannelStatus, IngestInfo, LiveStream, LiveStreamStats, LiveStreamStatus};
pub use page::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Page, PageRequest};
pub use password::{PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS, PasswordConfig};
pub use playback_ids::{PLAYBACK_IDS_MAX, PlaybackIdRecord, PlaybackObject, ResolvedPlayback};
pub use playback_token::{
    CLOCK_SKEW_S, PlaybackAudience, PlaybackClaims, SigningAlgorithm, TokenError, VerifyingKey,
    sign_playback_token, token_key_id, verify_playback_token_with,
};
pub use seal::SEALING_KEY_LEN;
pub use secret::{
    API_TOKEN_PREFIX, API_TOKEN_RANDOM_LEN, PLAYBACK_ID_LEN, STREAM_KEY_PREFIX,
    STREAM_KEY_RANDOM_LEN, WEBHOOK_SECRET_PREFIX,
};
pub use segment::{NewSegment, SegmentRecord};
pub use session::{CreatedSession, SESSION_TTL_MAX, Session};
pub use signing_key::{CreatedSigningKey, MINTED_TOKEN_TTL_MAX, SigningKey};
pub use simulcast::{NewSimulcastTarget, SIMULCAST_TARGETS_MAX, SimulcastTarget};
pub use user::{
    EMAIL_MAX_LEN, NewUser, Role, USERNAME_MAX_LEN, USERNAME_MIN_LEN, User, UserUpdate,
    normalize_username,
};
pub use vod::{DeletedVod, Vod, VodFilter, VodStatus};
pub use webhook::{
    DueDelivery, NewWebhookEndpoint, WEBHOOK_CLAIM_MAX, WEBHOOK_DATA_MAX_BYTES,
    WEBHOOK_RETRY_FIRST_DELAY_MS, WEBHOOK_RETRY_MAX_DELAY_MS, WEBHOOK_RETRY_WINDOW_MS,
    WEBHOOK_URL_MAX_LEN, WebhookConfig, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint,
    WebhookEndpointUpdate, WebhookEvent, WebhookEventType, WebhookFormat, mux_event_types,
    webhook_retry_delay_ms,
};
pub use webhook_signature::{
    WEBHOOK_SIGNATURE_HEADER, verify_webhook_signature, webhook_signature, webhook_signature_header,
};
