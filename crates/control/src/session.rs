//! Web UI login sessions.
//!
//! A session is a random token (the cookie value) and a CSRF token issued
//! with it, both shown once by [`Db::create_session`] and stored only as
//! SHA-256 (≥ 160 random bits each, so no salt or slow hash is needed).
//! Looking a session up hashes the cookie, finds the row through its unique
//! index and compares the hashes again in constant time, as for stream
//! keys. The CSRF token is checked against its stored hash in constant time
//! by [`Session::verify_csrf`] (synchronizer-token pattern: the web UI reads
//! it from the login response and echoes it in a header on every unsafe
//! request; a cross-site page can send the cookie but cannot read the
//! token).
//!
//! Sessions expire at a fixed time chosen at creation (no sliding renewal):
//! expired rows are ignored by lookups and deleted by
//! [`Db::purge_expired_sessions`], which a periodic task calls.

use std::time::Duration;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::error::{Error, Result, Violation, map_write, violation};
use crate::ids::new_id;
use crate::secret::{TOKEN_RANDOM_LEN, hashes_equal, new_token, sha256_hex};
use crate::user::{User, user_from_row};

/// Longest session lifetime accepted: one year.
pub const SESSION_TTL_MAX: Duration = Duration::from_secs(366 * 24 * 3600);

/// A login session as stored. Carries no secret, only the CSRF token's hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// UUIDv7; safe to log (it is not the cookie).
    pub session_id: String,
    pub user_id: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds; the session is ignored from then on.
    pub expires_at_ms: i64,
    /// Lowercase hex SHA-256 of the CSRF token.
    csrf_token_hash: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("session_id", &self.session_id)
            .field("user_id", &self.user_id)
            .field("created_at_ms", &self.created_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether `candidate` is this session's CSRF token, compared in
    /// constant time (as hashes, so the comparison time does not depend on
    /// where a wrong token first differs either).
    pub fn verify_csrf(&self, candidate: &str) -> bool {
        if candidate.is_empty() || candidate.len() > 2 * TOKEN_RANDOM_LEN {
            return false;
        }
        hashes_equal(&sha256_hex(candidate), &self.csrf_token_hash)
    }
}

/// What [`Db::create_session`] returns: the only time the two tokens are
/// available in plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedSession {
    pub session: Session,
    /// The cookie value (32 alphanumerics). Set it `HttpOnly; Secure;
    /// SameSite=Lax`.
    pub token: String,
    /// The CSRF token (32 alphanumerics), for the web UI to echo in a
    /// header on unsafe requests.
    pub csrf_token: String,
}

fn session_from_row(row: &AnyRow) -> Result<Session> {
    Ok(Session {
        session_id: row.try_get("session_id")?,
        user_id: row.try_get("user_id")?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        csrf_token_hash: row.try_get("csrf_token_hash")?,
    })
}

impl Db {
    /// Logs a user in: a new session valid for `ttl` (1 ms to one year).
    /// [`Error::NotFound`] if there is no such user, [`Error::Invalid`]
    /// (`field` = "ttl") on a zero or too long lifetime.
    pub async fn create_session(&self, user_id: &str, ttl: Duration) -> Result<CreatedSession> {
        if ttl.is_zero() || ttl > SESSION_TTL_MAX {
            return Err(Error::invalid(
                "ttl",
                "must be more than zero and at most a year",
            ));
        }
        // Bounded above, so the cast and the sum cannot overflow.
        let ttl_ms = ttl.as_millis().max(1) as i64;
        let now = self.now_ms();
        let token = new_token();
        let csrf_token = new_token();
        let session = Session {
            session_id: new_id(),
            user_id: user_id.to_owned(),
            created_at_ms: now,
            expires_at_ms: now + ttl_ms,
            csrf_token_hash: sha256_hex(&csrf_token),
        };
        sqlx::query(
            "INSERT INTO session (session_id, user_id, token_hash, csrf_token_hash, \
             created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.session_id)
        .bind(&session.user_id)
        .bind(sha256_hex(&token))
        .bind(&session.csrf_token_hash)
        .bind(session.created_at_ms)
        .bind(session.expires_at_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::ForeignKey) => Error::NotFound { what: "user" },
            _ => map_write(e),
        })?;
        tracing::info!(session_id = %session.session_id, %user_id, "session created");
        Ok(CreatedSession {
            session,
            token,
            csrf_token,
        })
    }

    /// The user and session of a cookie value, unless it is unknown or
    /// expired.
    pub async fn session(&self, token: &str) -> Result<Option<(User, Session)>> {
        if token.is_empty() || token.len() > 2 * TOKEN_RANDOM_LEN {
            return Ok(None);
        }
        let token_hash = sha256_hex(token);
        let row = sqlx::query(
            r#"SELECT s.session_id, s.user_id, s.created_at_ms AS session_created_at_ms,
               s.expires_at_ms, s.csrf_token_hash, s.token_hash,
               u.username, u.email, u.role, u.created_at_ms
               FROM session s JOIN "user" u ON u.user_id = s.user_id
               WHERE s.token_hash = $1 AND s.expires_at_ms > $2"#,
        )
        .bind(&token_hash)
        .bind(self.now_ms())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        // See Db::channel_by_stream_key for why the index hit is compared
        // again.
        let stored: String = row.try_get("token_hash")?;
        if !hashes_equal(&stored, &token_hash) {
            return Ok(None);
        }
        let user = user_from_row(&row)?;
        let session = Session {
            session_id: row.try_get("session_id")?,
            user_id: row.try_get("user_id")?,
            created_at_ms: row.try_get("session_created_at_ms")?,
            expires_at_ms: row.try_get("expires_at_ms")?,
            csrf_token_hash: row.try_get("csrf_token_hash")?,
        };
        Ok(Some((user, session)))
    }

    /// Logs a session out. `true` if it existed (expired or not).
    pub async fn delete_session(&self, token: &str) -> Result<bool> {
        if token.is_empty() || token.len() > 2 * TOKEN_RANDOM_LEN {
            return Ok(false);
        }
        let deleted = sqlx::query("DELETE FROM session WHERE token_hash = $1")
            .bind(sha256_hex(token))
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Logs a user out everywhere; returns how many sessions ended.
    pub async fn delete_user_sessions(&self, user_id: &str) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM session WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }

    /// A user's sessions that have not expired, newest first (for a "where
    /// you are logged in" page).
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        let rows = sqlx::query(
            "SELECT session_id, user_id, created_at_ms, expires_at_ms, csrf_token_hash \
             FROM session WHERE user_id = $1 AND expires_at_ms > $2 \
             ORDER BY created_at_ms DESC, session_id DESC",
        )
        .bind(user_id)
        .bind(self.now_ms())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Deletes every expired session; returns how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM session WHERE expires_at_ms <= $1")
            .bind(self.now_ms())
            .execute(&self.pool)
            .await?;
        if deleted.rows_affected() > 0 {
            tracing::debug!(count = deleted.rows_affected(), "expired sessions purged");
        }
        Ok(deleted.rows_affected())
    }
}

#[cfg(test)]
mod db_tests {
    use std::time::Duration;

    use crate::secret::sha256_hex;
    use crate::testutil::{self, each_backend};

    #[tokio::test]
    async fn tokens_are_stored_only_as_sha256() {
        each_backend(async |db| {
            let alice = testutil::user(&db, "alice").await;
            let created = db
                .create_session(&alice.user_id, Duration::from_secs(60))
                .await
                .unwrap();
            let stored: Vec<(String, String)> =
                sqlx::query_as("SELECT token_hash, csrf_token_hash FROM session")
                    .fetch_all(&db.pool)
                    .await
                    .unwrap();
            assert_eq!(
                stored,
                [(sha256_hex(&created.token), sha256_hex(&created.csrf_token))]
            );
        })
        .await;
    }
}
