//! Domain and persistence of AeThex LIVE's control plane: users, channels
//! and their stream keys, live streams (one per broadcast) and VODs, after
//! Mux's model (DESIGN.md "Domain"). No HTTP: `api` and `live` call
//! [`Db`]'s methods; `server` connects and migrates.
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
//! Stream keys are CSPRNG alphanumerics (~190 bits), shown once, stored as
//! SHA-256 hex, looked up by hash and compared in constant time. Passwords
//! are argon2id PHC strings.

mod channel;
mod db;
mod decode;
mod error;
mod ids;
mod live_stream;
mod password;
mod secret;
mod segment;
mod text_enum;
mod user;
mod vod;

#[doc(hidden)]
pub mod testutil;

pub use channel::{
    Channel, ChannelUpdate, CreatedChannel, DEFAULT_LADDER, LatencyMode, NewChannel,
    RECONNECT_WINDOW_MAX_S, SLUG_MAX_LEN, SLUG_MIN_LEN, SegmentFormat, TITLE_MAX_CHARS, Visibility,
    normalize_slug, validate_ladder_name,
};
pub use db::{Backend, Db, DbConfig};
pub use error::{Error, Result};
pub use live_stream::{IngestInfo, LiveStream, LiveStreamStatus};
pub use password::{PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS, PasswordConfig};
pub use secret::{PLAYBACK_ID_LEN, STREAM_KEY_PREFIX, STREAM_KEY_RANDOM_LEN};
pub use segment::{NewSegment, SegmentRecord};
pub use user::{
    EMAIL_MAX_LEN, NewUser, Role, USERNAME_MAX_LEN, USERNAME_MIN_LEN, User, normalize_username,
};
pub use vod::{Vod, VodStatus};
