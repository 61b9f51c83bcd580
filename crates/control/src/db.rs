//! The database handle: connecting, per-connection setup, migrations.
//!
//! One [`AnyPool`] serves SQLite and PostgreSQL. The backend is chosen by the
//! URL scheme; the only backend-specific code is here (SQLite pragmas, which
//! migration set to run) and in the schema files.

use crate::clock::Clock;
use crate::seal::{SEALING_KEY_LEN, Sealer};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

use crate::error::{Error, Result};
use crate::password::{PasswordConfig, Passwords};

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite file (the single-box default).
    Sqlite,
    /// PostgreSQL (shared state when scaling out).
    Postgres,
}

impl Backend {
    /// Picks the backend from a database URL's scheme.
    pub fn from_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::invalid(
                "database_url",
                "must start with sqlite:// or postgres://",
            ))
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Database settings. `server` fills this from `aethex.toml` and the
/// environment (`AETHEX_DATABASE_URL`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbConfig {
    /// `sqlite://PATH` (the file is created if missing; its directory must
    /// exist) or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    /// Default `sqlite://data/aethex.db`.
    pub database_url: String,
    /// Upper bound on pooled connections. Default 10. SQLite serialises
    /// writers anyway; more connections help concurrent readers (WAL).
    pub max_connections: u32,
    /// How long a caller waits for a pooled connection before failing, in
    /// milliseconds. Default 10 000.
    pub acquire_timeout_ms: u64,
    /// SQLite only: how long a writer waits for another writer's lock before
    /// failing with "database is locked", in milliseconds. Default 5 000.
    pub sqlite_busy_timeout_ms: u64,
    /// Cost of password hashes for new passwords.
    pub password: PasswordConfig,
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            database_url: "sqlite://data/aethex.db".to_owned(),
            max_connections: 10,
            acquire_timeout_ms: 10_000,
            sqlite_busy_timeout_ms: 5_000,
            password: PasswordConfig::default(),
        }
    }
}

/// The control plane's handle on its database. Cheap to clone (a pool and an
/// `Arc`); every method is one short query or one short transaction.
#[derive(Clone)]
pub struct Db {
    pub(crate) pool: AnyPool,
    backend: Backend,
    pub(crate) passwords: Arc<Passwords>,
    pub(crate) sealer: Arc<Sealer>,
    clock: Clock,
    /// Bumped after every write that can change what a playback id
    /// resolves to (see [`Db::channels_generation`]).
    channel_writes: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// See [`Db::channel_write`].
pub(crate) struct ChannelWrite<'a>(&'a std::sync::atomic::AtomicU64);

impl Drop for ChannelWrite<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Both migration sets, embedded at compile time (see `build.rs` for why a
/// migration edit triggers a rebuild).
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

impl Db {
    /// This handle, reading the time from `clock` (a manual clock in tests;
    /// the system clock by default).
    pub fn with_clock(mut self, clock: Clock) -> Db {
        self.clock = clock;
        self
    }

    /// The clock every timestamp, expiry and lease is decided by.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// A number that changes after every write through this handle (or a
    /// clone of it) to a channel or a playback id: creating, updating,
    /// deleting, rotating or revoking. Callers that cache what a playback
    /// id resolves to drop the answer when it changed; writes by other
    /// processes (other nodes, `aethex` CLI commands) are not seen, so such
    /// caches must also expire.
    pub fn channels_generation(&self) -> u64 {
        self.channel_writes
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Held through a write that [`Db::channels_generation`] must reflect:
    /// bumps it when dropped, after the write committed (or failed: it may
    /// have been partly applied).
    pub(crate) fn channel_write(&self) -> ChannelWrite<'_> {
        ChannelWrite(&self.channel_writes)
    }

    /// Now, in unix milliseconds, by [`Db::clock`].
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// This handle, sealing and opening stored secrets (stream keys shown
    /// again on the Mux surface) with `key`: the server's key from its data
    /// directory. Without it a random per-process key is used (see
    /// [`crate::seal`]).
    pub fn with_sealing_key(mut self, key: &[u8; SEALING_KEY_LEN]) -> Db {
        self.sealer = Arc::new(Sealer::new(key));
        self
    }

    /// Connects with default settings to `sqlite://PATH` or `postgres://...`.
    /// Does not migrate: call [`Db::migrate`].
    pub async fn connect(url: &str) -> Result<Db> {
        Db::connect_with(&DbConfig {
            database_url: url.to_owned(),
            ..DbConfig::default()
        })
        .await
    }

    /// Connects with explicit settings.
    ///
    /// SQLite: `mode=rwc` is added to the URL unless it names a `mode`, so the
    /// file is created on first start; every connection gets
    /// `foreign_keys=ON`, the busy timeout and `synchronous=NORMAL`, and the
    /// file is switched to WAL (persistent, so done once here) so readers do
    /// not block the writer.
    pub async fn connect_with(config: &DbConfig) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(&config.database_url)?;
        let passwords = Arc::new(Passwords::new(&config.password)?);
        let options = AnyPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms));
        let pool = match backend {
            Backend::Postgres => options.connect(&config.database_url).await?,
            Backend::Sqlite => {
                let url = sqlite_url_with_mode(&config.database_url);
                let busy_timeout_ms = config.sqlite_busy_timeout_ms;
                let pool = options
                    .after_connect(move |conn, _meta| {
                        Box::pin(async move {
                            // Pragmas cannot take bind parameters; the number
                            // is ours, not user input.
                            let pragmas = format!(
                                "PRAGMA foreign_keys = ON; \
                                 PRAGMA busy_timeout = {busy_timeout_ms}; \
                                 PRAGMA synchronous = NORMAL;"
                            );
                            sqlx::raw_sql(sqlx::AssertSqlSafe(pragmas))
                                .execute(conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
                    .fetch_one(&pool)
                    .await?;
                if !mode.eq_ignore_ascii_case("wal") {
                    tracing::warn!(journal_mode = %mode, "SQLite did not switch to WAL");
                }
                pool
            }
        };
        tracing::debug!(%backend, "connected to the control database");
        Ok(Db {
            pool,
            backend,
            passwords,
            sealer: Arc::new(Sealer::ephemeral()),
            clock: Clock::system(),
            channel_writes: Arc::default(),
        })
    }

    /// Applies the embedded migrations of this backend that have not been
    /// applied yet (`migrations/sqlite` or `migrations/postgres`). Safe to
    /// call on every start and from several nodes at once (PostgreSQL takes
    /// an advisory lock).
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Checks that the database answers (a `SELECT 1`), for health checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Which database this handle talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Serializes a user's quota-limited writes (count, then insert) inside
    /// `tx`: on PostgreSQL by locking the user's row until the transaction
    /// ends, so two requests cannot both see the count under the limit;
    /// SQLite runs one writer at a time, and the conditional insert or
    /// update that follows is atomic there by itself.
    pub(crate) async fn lock_user_for_quota(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user_id: &str,
    ) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query(r#"SELECT 1 FROM "user" WHERE user_id = $1 FOR UPDATE"#)
                .bind(user_id)
                .fetch_optional(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Closes every pooled connection and waits for them to finish. Other
    /// clones of this `Db` fail afterwards.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Adds `mode=rwc` (read, write, create) to a SQLite URL that names no mode:
/// sqlx's default is `rw`, which fails on a first start with no file yet.
fn sqlite_url_with_mode(url: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q);
    let has_mode = query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("mode=")));
    if has_mode {
        url.to_owned()
    } else if query.is_some() {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{TestDb, each_backend, test_config};

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("sqlite://x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(Backend::from_url("sqlite:x.db").ok(), Some(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgres://u:p@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(matches!(
            Backend::from_url("mysql://h/db"),
            Err(Error::Invalid {
                field: "database_url",
                ..
            })
        ));
    }

    #[test]
    fn sqlite_mode_is_added_only_when_missing() {
        assert_eq!(
            sqlite_url_with_mode("sqlite://a.db"),
            "sqlite://a.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url_with_mode("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_url_with_mode("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
    }

    /// Every table and its columns, and every index that is not a primary
    /// key's, as the database itself reports them (`_sqlx_migrations`
    /// excluded).
    async fn schema(db: &Db) -> (Vec<(String, String)>, Vec<String>) {
        let (columns_sql, indexes_sql) = match db.backend() {
            Backend::Sqlite => (
                "SELECT m.name AS table_name, p.name AS column_name \
                 FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                 AND m.name <> '_sqlx_migrations'",
                "SELECT name FROM sqlite_master WHERE type = 'index' \
                 AND name NOT LIKE 'sqlite_autoindex_%'",
            ),
            // information_schema and pg_indexes use the `name` type, which Any
            // cannot decode: cast to text.
            Backend::Postgres => (
                "SELECT CAST(table_name AS TEXT) AS table_name, \
                 CAST(column_name AS TEXT) AS column_name \
                 FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
                "SELECT CAST(indexname AS TEXT) FROM pg_indexes \
                 WHERE schemaname = current_schema() AND indexname NOT LIKE '%_pkey'",
            ),
        };
        let mut columns: Vec<(String, String)> = sqlx::query_as(columns_sql)
            .fetch_all(&db.pool)
            .await
            .unwrap();
        let mut indexes: Vec<String> = sqlx::query_scalar(indexes_sql)
            .fetch_all(&db.pool)
            .await
            .unwrap();
        columns.sort();
        indexes.sort();
        (columns, indexes)
    }

    #[tokio::test]
    async fn sqlite_and_postgres_migrations_make_the_same_schema() {
        let sqlite = TestDb::sqlite().await;
        let (sqlite_columns, sqlite_indexes) = schema(&sqlite).await;
        sqlite.close().await;
        let tables: std::collections::BTreeSet<_> =
            sqlite_columns.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            tables.into_iter().collect::<Vec<_>>(),
            [
                "api_token",
                "asset_file",
                "channel",
                "channel_moderator",
                "chat_ban",
                "chat_message",
                "clip",
                "follow",
                "live_stream",
                "playback_id",
                "segment",
                "session",
                "signing_key",
                "simulcast_target",
                "stream_key",
                "user",
                "vod",
                "webhook_delivery",
                "webhook_endpoint",
                "webhook_event",
            ]
        );
        assert!(sqlite_indexes.contains(&"live_stream_channel_id_unended_key".to_owned()));

        let Some(pg) = TestDb::postgres().await else {
            return;
        };
        let (pg_columns, pg_indexes) = schema(&pg).await;
        pg.close().await;
        assert_eq!(sqlite_columns, pg_columns);
        assert_eq!(sqlite_indexes, pg_indexes);
    }

    #[tokio::test]
    async fn migrate_is_idempotent_and_checks_are_enforced() {
        each_backend(async |db| {
            db.migrate().await.unwrap();
            db.migrate().await.unwrap();
            // The CHECKs guard enumerations and flags on both databases,
            // not only Rust's parsing.
            for sql in [
                r#"INSERT INTO "user" (user_id, username, password_hash, role, created_at_ms)
                   VALUES ('u1', 'alice', 'x', 'root', 0)"#,
                r#"INSERT INTO "user" (user_id, username, password_hash, role, created_at_ms)
                   VALUES ('u1', 'Alice', 'x', 'admin', 0)"#,
            ] {
                let err = sqlx::query(sql).execute(&db.pool).await.unwrap_err();
                let kind = err.as_database_error().map(|e| e.kind());
                assert_eq!(kind, Some(sqlx::error::ErrorKind::CheckViolation), "{err}");
            }
        })
        .await;
    }

    #[tokio::test]
    async fn sqlite_file_is_created_in_wal_mode_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("new.db").display());
        let db = Db::connect_with(&test_config(url.clone())).await.unwrap();
        db.migrate().await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(foreign_keys, 1);
        let user = crate::testutil::user(&db, "alice").await;
        db.close().await;

        let db = Db::connect_with(&test_config(url)).await.unwrap();
        db.migrate().await.unwrap();
        assert_eq!(db.user(&user.user_id).await.unwrap(), Some(user));
        db.close().await;
    }

    #[test]
    fn config_rejects_unknown_fields() {
        let err = serde_json::from_str::<DbConfig>(r#"{"database_ur": "x"}"#);
        assert!(err.is_err());
        let config: DbConfig = serde_json::from_str(r#"{"max_connections": 3}"#).unwrap();
        assert_eq!(config.max_connections, 3);
        assert_eq!(config.database_url, DbConfig::default().database_url);
    }
}
