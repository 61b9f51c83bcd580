//! Fresh databases for tests, on both backends. Shared with other crates'
//! tests (hence `pub`, and `#[doc(hidden)]` in `lib.rs`).
//!
//! * SQLite: a new file in a new temporary directory, removed on drop.
//! * PostgreSQL: a new database with a random name, created through the
//!   server at `AETHEX_TEST_PG_URL` (a role allowed to CREATE DATABASE) and
//!   dropped afterwards. When that variable is unset the PostgreSQL half is
//!   skipped with a note on stderr, unless `AETHEX_TEST_REQUIRE_PG=1`, in
//!   which case it panics: `scripts/test` sets both so CI cannot skip
//!   PostgreSQL silently.
//!
//! Databases are migrated and use the cheapest argon2 parameters, so a test
//! that creates users stays fast in debug builds.
//!
//! ```ignore
//! #[tokio::test]
//! async fn works_everywhere() {
//!     control::testutil::each_backend(async |db| {
//!         let user = control::testutil::user(&db, "alice").await;
//!         assert_eq!(user.username, "alice");
//!     })
//!     .await;
//! }
//! ```

use std::ops::Deref;

use rand::RngCore;
use sqlx::AnyConnection;
use sqlx::Connection;

use crate::{
    Backend, Channel, Db, DbConfig, LatencyMode, NewChannel, NewUser, PasswordConfig, Role, User,
};

/// Environment variable with the URL of a PostgreSQL server for tests.
pub const PG_URL_ENV: &str = "AETHEX_TEST_PG_URL";
/// Environment variable that, set to `1`, makes a missing PostgreSQL a
/// failure instead of a skip.
pub const REQUIRE_PG_ENV: &str = "AETHEX_TEST_REQUIRE_PG";

/// Password that [`user`] gives every user it creates.
pub const PASSWORD: &str = "correct horse battery staple";

/// A migrated database that disappears when dropped (or [`TestDb::close`]d).
/// Derefs to [`Db`].
pub struct TestDb {
    db: Db,
    /// The URL the database was opened with, for processes under test.
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The directory holding the SQLite file (and its -wal/-shm).
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    /// A database to drop through the admin URL; `None` once dropped.
    Postgres(Option<PgDatabase>),
}

struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Deref for TestDb {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

/// Settings for test databases: cheap password hashes, few connections (so
/// many parallel tests fit PostgreSQL's connection limit).
pub fn test_config(database_url: String) -> DbConfig {
    DbConfig {
        database_url,
        max_connections: 4,
        password: PasswordConfig::insecure_fast(),
        ..DbConfig::default()
    }
}

impl TestDb {
    /// A fresh, migrated SQLite database in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::Builder::new()
            .prefix("aethex-test-")
            .tempdir()
            .expect("create a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("aethex.db").display());
        let db = Db::connect_with(&test_config(url.clone()))
            .await
            .expect("open the SQLite test database");
        db.migrate()
            .await
            .expect("migrate the SQLite test database");
        TestDb {
            db,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A fresh, migrated PostgreSQL database, or `None` (with a note on
    /// stderr) when `AETHEX_TEST_PG_URL` is unset. Panics when it is unset
    /// but `AETHEX_TEST_REQUIRE_PG=1`, or when the server cannot be used.
    pub async fn postgres() -> Option<TestDb> {
        let Some(admin_url) = std::env::var(PG_URL_ENV).ok().filter(|u| !u.is_empty()) else {
            if std::env::var(REQUIRE_PG_ENV).is_ok_and(|v| v == "1") {
                panic!("{REQUIRE_PG_ENV}=1 but {PG_URL_ENV} is not set");
            }
            eprintln!("{PG_URL_ENV} is not set: skipping the PostgreSQL half of this test");
            return None;
        };
        sqlx::any::install_default_drivers();
        let mut random = [0u8; 8];
        rand::rng().fill_bytes(&mut random);
        let name = format!("aethex_test_{}", hex::encode(random));
        let mut admin = AnyConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {PG_URL_ENV}: {e}"));
        // The name is ours (fixed prefix + hex), not input: safe to splice.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("create test database {name}: {e}"));
        let _ = admin.close().await;
        // From here on, dropping `test_db` drops the database, even if
        // migrating panics.
        let url = with_database(&admin_url, &name);
        let test_db = TestDb {
            db: Db::connect_with(&test_config(url.clone()))
                .await
                .unwrap_or_else(|e| panic!("connect to test database {name}: {e}")),
            url,
            cleanup: Cleanup::Postgres(Some(PgDatabase { admin_url, name })),
        };
        test_db
            .db
            .migrate()
            .await
            .expect("migrate the PostgreSQL test database");
        Some(test_db)
    }

    /// The database's URL, to hand to a process under test (e.g. `aethex
    /// serve` via `AETHEX_DATABASE_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The handle (also reachable through `Deref`).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Closes the pool and removes the database.
    pub async fn close(mut self) {
        self.db.close().await;
        if let Cleanup::Postgres(pg) = &mut self.cleanup
            && let Some(pg) = pg.take()
        {
            pg.drop_database().await;
        }
    }
}

impl Drop for TestDb {
    /// Drops a PostgreSQL database that was not [`TestDb::close`]d (a test
    /// panicked). Drop cannot await and may run inside a runtime, so the
    /// drop runs on a thread with its own small runtime; `WITH (FORCE)`
    /// ends the connections the abandoned pool still holds.
    fn drop(&mut self) {
        if let Cleanup::Postgres(pg) = &mut self.cleanup
            && let Some(pg) = pg.take()
        {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(pg.drop_database());
                }
            })
            .join();
        }
    }
}

impl PgDatabase {
    async fn drop_database(self) {
        let result = async {
            let mut admin = AnyConnection::connect(&self.admin_url).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
                self.name
            )))
            .execute(&mut admin)
            .await?;
            admin.close().await
        }
        .await;
        if let Err(e) = result {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// `url` with its database (path) replaced by `database`, keeping any
/// query string: `postgres://u:p@h:5432/postgres?x=y` →
/// `postgres://u:p@h:5432/{database}?x=y`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Runs `test` against a fresh SQLite database, then a fresh PostgreSQL
/// database (skipped as [`TestDb::postgres`] says). Each run is announced on
/// stderr, so a failure shows which backend it was on.
pub async fn each_backend(mut test: impl AsyncFnMut(Db)) {
    let sqlite = TestDb::sqlite().await;
    eprintln!("--- running on {}", Backend::Sqlite);
    test(sqlite.db.clone()).await;
    sqlite.close().await;

    if let Some(pg) = TestDb::postgres().await {
        eprintln!("--- running on {}", Backend::Postgres);
        test(pg.db.clone()).await;
        pg.close().await;
    }
}

/// Creates a creator named `username` with password [`PASSWORD`]. Panics on
/// failure (test setup).
pub async fn user(db: &Db, username: &str) -> User {
    db.create_user(NewUser {
        username: username.to_owned(),
        email: None,
        password: PASSWORD.to_owned(),
        role: Role::Creator,
    })
    .await
    .expect("create test user")
}

/// Creates an admin named `username` with password [`PASSWORD`]. Panics on
/// failure (test setup).
pub async fn admin(db: &Db, username: &str) -> User {
    db.create_user(NewUser {
        username: username.to_owned(),
        email: None,
        password: PASSWORD.to_owned(),
        role: Role::Admin,
    })
    .await
    .expect("create test admin")
}

/// Creates an API token for `user_id` and returns its bearer secret.
/// Panics on failure (test setup).
pub async fn api_token(db: &Db, user_id: &str) -> String {
    db.create_api_token(user_id, "test")
        .await
        .expect("create test api token")
        .secret
}

/// Creates a channel `slug` owned by a new user `{slug}-owner`; returns it
/// and its stream key. Panics on failure (test setup).
pub async fn channel(db: &Db, slug: &str) -> (Channel, String) {
    let owner = user(db, &format!("{slug}-owner")).await;
    let created = db
        .create_channel(NewChannel {
            owner_user_id: owner.user_id,
            slug: slug.to_owned(),
            title: format!("{slug} live"),
            latency_mode: LatencyMode::Standard,
            segment_format: None,
            ladder: None,
        })
        .await
        .expect("create test channel");
    (created.channel, created.stream_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://a:b@127.0.0.1:5432/postgres", "t1"),
            "postgres://a:b@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://a:b@h/postgres?sslmode=disable", "t1"),
            "postgres://a:b@h/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t1"),
            "postgres://h:5432/t1"
        );
        assert_eq!(
            with_database("postgres://h?x=1", "t1"),
            "postgres://h/t1?x=1"
        );
    }

    /// A test that panics never reaches `close`: dropping must still remove
    /// its PostgreSQL database, open connections and all.
    #[tokio::test]
    async fn dropping_without_close_removes_the_postgres_database() {
        let Some(test_db) = TestDb::postgres().await else {
            return;
        };
        let Cleanup::Postgres(Some(pg)) = &test_db.cleanup else {
            panic!("not a PostgreSQL test database");
        };
        let (admin_url, name) = (pg.admin_url.clone(), pg.name.clone());
        user(&test_db, "alice").await; // the pool holds a connection
        drop(test_db);

        let mut admin = AnyConnection::connect(&admin_url).await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert_eq!(left, 0, "{name} was not dropped");
    }
}
