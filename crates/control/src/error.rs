//! The one error type of the `control` crate, and the mapping from database
//! constraint violations to domain errors.
//!
//! `api` maps these to HTTP: `NotFound` → 404, `Conflict`/`Busy`/`InUse`/
//! `InvalidTransition` → 409, `Invalid` → 400 (or 422), everything else →
//! 500 without echoing the message.

/// Errors from the control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The row an operation needs does not exist. `what` names it ("channel",
    /// "live stream", ...). Lookups that may legitimately miss return
    /// `Ok(None)` instead.
    #[error("{what} not found")]
    NotFound { what: &'static str },

    /// A unique constraint refused the write: `what` names the field that is
    /// already taken ("username", "email", "slug", ...).
    #[error("{what} is already taken")]
    Conflict { what: &'static str },

    /// The channel already has a live stream that has not ended: a second
    /// publisher on a live key. Enforced by the database (partial unique
    /// index), so it also holds when two ingest nodes race.
    #[error("channel {channel_id} already has a live stream in progress")]
    Busy { channel_id: String },

    /// The row cannot be deleted (or changed so) while other rows depend on
    /// it: a user who still owns channels, the last admin. `what` names
    /// the row ("user"), `reason` says why, in words fit to show the user.
    #[error("{what} is in use: {reason}")]
    InUse { what: &'static str, reason: String },

    /// A per-user quota is used up: `what` names it ("webhook endpoints per
    /// user"), `limit` is the configured bound.
    #[error("limit reached: at most {limit} {what}")]
    LimitReached { what: &'static str, limit: u32 },
    /// Input failed validation: `field` is the offending input field and
    /// `message` says why, in words fit to show the user.
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },

    /// A state change that the row's current state does not allow: making
    /// an ended live stream active again, finishing a failed VOD. `what` is
    /// the kind of row ("live stream", "vod"), `from`/`to` are statuses.
    #[error("{what} {id} is {from}; cannot become {to}")]
    InvalidTransition {
        what: &'static str,
        id: String,
        from: &'static str,
        to: &'static str,
    },

    /// The database holds a value this code cannot interpret (an unknown
    /// enumeration string, an out-of-range integer). Means a schema/code
    /// mismatch or a hand-edited row; never silently defaulted.
    #[error("corrupt value in {table}.{column}: {value:?}")]
    Corrupt {
        table: &'static str,
        column: &'static str,
        value: String,
    },

    /// Too much of `0` is going on at once (e.g. password hashing): the
    /// request waited for its turn and gave up. Try again shortly.
    #[error("server busy: too many concurrent {0} requests")]
    Overloaded(&'static str),
    /// Password hashing failed (bad parameters or a malformed stored hash).
    #[error("password hashing: {0}")]
    PasswordHash(String),

    /// Key generation or signing failed inside the crypto library (never
    /// because of the input, which is [`Error::Invalid`]).
    #[error("cryptography: {0}")]
    Crypto(String),

    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// Any other database error (connection, I/O, SQL).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Result alias of the `control` crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// Unique indexes and the field each one protects.
///
/// PostgreSQL reports the index name as the error's constraint; SQLite
/// reports `UNIQUE constraint failed: table.column` for a column index and
/// `... index 'name'` for an expression index. Each entry lists both
/// spellings so one table serves both databases.
const UNIQUE_INDEXES: &[(&str, &str, &str)] = &[
    // (index name, SQLite "table.column", field)
    ("user_username_key", "user.username", "username"),
    ("user_email_key", "user.email", "email"),
    ("channel_slug_key", "channel.slug", "slug"),
    (
        "channel_playback_id_key",
        "channel.playback_id",
        "playback id",
    ),
    (
        "stream_key_key_hash_key",
        "stream_key.key_hash",
        "stream key",
    ),
    (
        "live_stream_channel_id_unended_key",
        "live_stream.channel_id",
        "live stream in progress",
    ),
    ("vod_live_stream_id_key", "vod.live_stream_id", "recording"),
    ("segment_pkey", "segment.sequence", "segment"),
    ("session_token_hash_key", "session.token_hash", "session"),
    (
        "api_token_secret_hash_key",
        "api_token.secret_hash",
        "api token",
    ),
    (
        "signing_key_server_key",
        "signing_key_server_key",
        "server key",
    ),
    (
        "webhook_delivery_event_endpoint_key",
        "webhook_delivery.webhook_endpoint_id",
        "delivery",
    ),
];

/// What a failed write violated, when it is a constraint we map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A unique index; the field it protects (from [`UNIQUE_INDEXES`], or
    /// "value" for an index not listed there, such as a primary key).
    Unique(&'static str),
    /// A foreign key: the referenced row does not exist.
    ForeignKey,
}

/// Classifies a database error as a constraint violation, if it is one.
pub(crate) fn violation(err: &sqlx::Error) -> Option<Violation> {
    let db = err.as_database_error()?;
    if db.is_foreign_key_violation() {
        return Some(Violation::ForeignKey);
    }
    if !db.is_unique_violation() {
        return None;
    }
    let constraint = db.constraint().unwrap_or_default();
    let message = db.message();
    let field = UNIQUE_INDEXES
        .iter()
        .find(|(index, column, _)| {
            constraint == *index || message.contains(index) || message.ends_with(column)
        })
        .map_or("value", |(_, _, field)| field);
    Some(Violation::Unique(field))
}

/// Maps unique violations to [`Error::Conflict`] and passes everything else
/// through as [`Error::Database`]. For writes with no more specific mapping.
pub(crate) fn map_write(err: sqlx::Error) -> Error {
    match violation(&err) {
        Some(Violation::Unique(what)) => Error::Conflict { what },
        _ => Error::Database(err),
    }
}
