//! API tokens: bearer secrets for `/api/v1` (Mux's access tokens), each
//! acting as the user who made it.
//!
//! The secret is `aethex_` + 32 alphanumerics (≈ 190 bits), shown once by
//! [`Db::create_api_token`] and stored as SHA-256; authenticating looks the
//! hash up through its unique index and compares it again in constant time,
//! as for stream keys. The prefix makes leaked tokens recognisable (secret
//! scanners, logs); the first four random characters are kept in clear
//! (`secret_prefix`) so a user can tell their tokens apart.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::error::{Error, Result, Violation, map_write, violation};
use crate::ids::new_id;
use crate::page::{Page, PageRequest};
use crate::secret::{
    API_TOKEN_PREFIX, API_TOKEN_RANDOM_LEN, hashes_equal, new_api_token_secret, sha256_hex,
};
use crate::user::{User, user_from_row};

/// Longest token name, in characters.
pub const API_TOKEN_NAME_MAX_CHARS: usize = 100;

/// How stale `last_used_at_ms` may get before a use writes it again, in
/// milliseconds: authenticating is then a write at most once a minute per
/// token rather than once per request.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// Characters of the secret kept in clear: the prefix and 4 random ones.
const SECRET_PREFIX_CHARS: usize = API_TOKEN_PREFIX.len() + 4;

/// An API token as stored. Carries no secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiToken {
    /// UUIDv7.
    pub api_token_id: String,
    /// The user it acts as.
    pub user_id: String,
    /// The owner's label; 1-100 characters.
    pub name: String,
    /// The secret's first characters (`aethex_AbCd`), to recognise it.
    pub secret_prefix: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds, to the minute; `None` if never used.
    pub last_used_at_ms: Option<i64>,
}

/// What [`Db::create_api_token`] returns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CreatedApiToken {
    pub token: ApiToken,
    /// The bearer secret. Not stored; show it to the user now.
    pub secret: String,
}

fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > API_TOKEN_NAME_MAX_CHARS {
        return Err(Error::invalid(
            "name",
            format!("must be 1 to {API_TOKEN_NAME_MAX_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

macro_rules! select_api_token {
    ($tail:literal) => {
        concat!(
            "SELECT api_token_id, user_id, name, secret_prefix, created_at_ms, last_used_at_ms \
             FROM api_token ",
            $tail
        )
    };
}

fn api_token_from_row(row: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        api_token_id: row.try_get("api_token_id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        secret_prefix: row.try_get("secret_prefix")?,
        created_at_ms: row.try_get("created_at_ms")?,
        last_used_at_ms: row.try_get("last_used_at_ms")?,
    })
}

impl Db {
    /// Creates an API token acting as `user_id`. [`Error::NotFound`] if
    /// there is no such user, [`Error::Invalid`] (`field` = "name") on an
    /// empty, too long or control-character name.
    pub async fn create_api_token(&self, user_id: &str, name: &str) -> Result<CreatedApiToken> {
        let name = validate_name(name)?;
        let secret = new_api_token_secret();
        let token = ApiToken {
            api_token_id: new_id(),
            user_id: user_id.to_owned(),
            name,
            secret_prefix: secret[..SECRET_PREFIX_CHARS].to_owned(),
            created_at_ms: self.now_ms(),
            last_used_at_ms: None,
        };
        sqlx::query(
            "INSERT INTO api_token (api_token_id, user_id, name, secret_prefix, secret_hash, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.api_token_id)
        .bind(&token.user_id)
        .bind(&token.name)
        .bind(&token.secret_prefix)
        .bind(sha256_hex(&secret))
        .bind(token.created_at_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::ForeignKey) => Error::NotFound { what: "user" },
            _ => map_write(e),
        })?;
        tracing::info!(api_token_id = %token.api_token_id, %user_id, "api token created");
        Ok(CreatedApiToken { token, secret })
    }

    /// The user and token of a bearer secret, if it is a current token.
    /// Records the use (at most once a minute per token).
    pub async fn api_token_by_secret(&self, secret: &str) -> Result<Option<(User, ApiToken)>> {
        if !secret.starts_with(API_TOKEN_PREFIX)
            || secret.len() > 2 * (API_TOKEN_PREFIX.len() + API_TOKEN_RANDOM_LEN)
        {
            return Ok(None);
        }
        let secret_hash = sha256_hex(secret);
        let row = sqlx::query(
            r#"SELECT t.api_token_id, t.name, t.secret_prefix, t.secret_hash,
               t.created_at_ms AS token_created_at_ms, t.last_used_at_ms,
               u.user_id, u.username, u.email, u.role, u.created_at_ms
               FROM api_token t JOIN "user" u ON u.user_id = t.user_id
               WHERE t.secret_hash = $1"#,
        )
        .bind(&secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        // See Db::channel_by_stream_key for why the index hit is compared
        // again.
        let stored: String = row.try_get("secret_hash")?;
        if !hashes_equal(&stored, &secret_hash) {
            return Ok(None);
        }
        let user = user_from_row(&row)?;
        let mut token = ApiToken {
            api_token_id: row.try_get("api_token_id")?,
            user_id: user.user_id.clone(),
            name: row.try_get("name")?,
            secret_prefix: row.try_get("secret_prefix")?,
            created_at_ms: row.try_get("token_created_at_ms")?,
            last_used_at_ms: row.try_get("last_used_at_ms")?,
        };
        let now = self.now_ms();
        if token
            .last_used_at_ms
            .is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS)
        {
            // The guard repeats the staleness test so that concurrent
            // requests write once.
            sqlx::query(
                "UPDATE api_token SET last_used_at_ms = $1 WHERE api_token_id = $2 \
                 AND (last_used_at_ms IS NULL OR last_used_at_ms <= $3)",
            )
            .bind(now)
            .bind(&token.api_token_id)
            .bind(now - LAST_USED_RESOLUTION_MS)
            .execute(&self.pool)
            .await?;
            token.last_used_at_ms = Some(now);
        }
        Ok(Some((user, token)))
    }

    /// A page of one user's API tokens, newest first.
    pub async fn list_api_tokens(
        &self,
        user_id: &str,
        page: &PageRequest,
    ) -> Result<Page<ApiToken>> {
        let rows = sqlx::query(select_api_token!(
            "WHERE user_id = $1 AND (created_at_ms, api_token_id) < ($2, $3) \
             ORDER BY created_at_ms DESC, api_token_id DESC LIMIT $4"
        ))
        .bind(user_id)
        .bind(page.after_time_ms())
        .bind(page.after_id())
        .bind(page.fetch_limit())
        .fetch_all(&self.pool)
        .await?;
        let tokens = rows.iter().map(api_token_from_row).collect::<Result<_>>()?;
        Ok(Page::from_rows(tokens, page, |t: &ApiToken| {
            (t.created_at_ms, &t.api_token_id)
        }))
    }

    /// Who token `api_token_id` belongs to, or `None` if there is no such
    /// token: for admins acting on another user's token.
    pub async fn api_token_owner(&self, api_token_id: &str) -> Result<Option<String>> {
        let owner = sqlx::query_scalar("SELECT user_id FROM api_token WHERE api_token_id = $1")
            .bind(api_token_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(owner)
    }

    /// Revokes (deletes) one of `owner_user_id`'s tokens; it stops working
    /// at once. [`Error::NotFound`] if there is no such token or it is
    /// someone else's.
    pub async fn delete_api_token(&self, owner_user_id: &str, api_token_id: &str) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM api_token WHERE api_token_id = $1 AND user_id = $2")
            .bind(api_token_id)
            .bind(owner_user_id)
            .execute(&self.pool)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(Error::NotFound { what: "api token" });
        }
        tracing::info!(%api_token_id, user_id = %owner_user_id, "api token revoked");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert_eq!(validate_name("  CI  ").unwrap(), "CI");
        assert!(validate_name(&"é".repeat(100)).is_ok());
        for bad in ["", "   ", "a\tb", &"x".repeat(101)] {
            assert!(
                matches!(
                    validate_name(bad),
                    Err(Error::Invalid { field: "name", .. })
                ),
                "{bad:?}"
            );
        }
    }
}

#[cfg(test)]
mod db_tests {
    use crate::secret::sha256_hex;
    use crate::testutil::{self, each_backend};

    #[tokio::test]
    async fn secrets_are_stored_only_as_sha256() {
        each_backend(async |db| {
            let alice = testutil::user(&db, "alice").await;
            let created = db.create_api_token(&alice.user_id, "ci").await.unwrap();
            let stored: Vec<String> = sqlx::query_scalar("SELECT secret_hash FROM api_token")
                .fetch_all(&db.pool)
                .await
                .unwrap();
            assert_eq!(stored, [sha256_hex(&created.secret)]);
        })
        .await;
    }
}
