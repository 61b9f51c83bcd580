//! Users: accounts that log in to the web UI and API, own channels, chat.
//!
//! Usernames are case-insensitive: they are lowercased on the way in (and in
//! lookups) and stored lowercase. Passwords are kept only as argon2id hashes
//! (see [`crate::password`]).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::decode;
use crate::error::{Error, Result, Violation, map_write, violation};
use crate::ids::new_id;
use crate::page::{Page, PageRequest};
use crate::password::validate_password;
use crate::text_enum::text_enum;

text_enum! {
    /// What a user may do.
    pub enum Role for "role" {
        /// Everything, including other users' channels and server settings.
        Admin = "admin",
        /// Owns and streams to channels.
        Creator = "creator",
        /// Watches, chats, follows.
        Viewer = "viewer",
    }
}

/// A user as stored, minus the password hash (which never leaves this
/// crate).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// UUIDv7.
    pub user_id: String,
    /// Lowercase, 3–32 of `[a-z0-9_-]`; unique.
    pub username: String,
    /// Unique ignoring case, stored as given.
    pub email: Option<String>,
    pub role: Role,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// Input of [`Db::create_user`].
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Lowercased before validation, so `Alice` becomes `alice`.
    pub username: String,
    /// Optional; surrounding whitespace is trimmed, an empty string is none.
    pub email: Option<String>,
    /// Plain text; at least 8 characters. Only its hash is stored.
    pub password: String,
    pub role: Role,
}

/// Changes for [`Db::update_user`]; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// New address; `Some("")` removes it. Validated as in [`NewUser`].
    pub email: Option<String>,
    /// New role. The last admin cannot stop being one.
    pub role: Option<Role>,
    /// New password (plain text, at least 8 characters). Changing it ends
    /// every session of the user and revokes their API tokens, unless
    /// `keep_api_tokens`.
    pub password: Option<String>,
    /// With a new password: keep the user's API tokens (a routine change,
    /// not a suspected compromise). Default false.
    pub keep_api_tokens: bool,
}

/// Shortest username, in characters.
pub const USERNAME_MIN_LEN: usize = 3;
/// Longest username, in characters.
pub const USERNAME_MAX_LEN: usize = 32;
/// Longest email address, in bytes (RFC 5321's path limit).
pub const EMAIL_MAX_LEN: usize = 254;

/// Lowercases and validates a username: 3–32 of `[a-z0-9_-]`.
pub fn normalize_username(username: &str) -> Result<String> {
    let username = username.trim().to_ascii_lowercase();
    let len = username.chars().count();
    if !(USERNAME_MIN_LEN..=USERNAME_MAX_LEN).contains(&len) {
        return Err(Error::invalid(
            "username",
            format!("must be {USERNAME_MIN_LEN} to {USERNAME_MAX_LEN} characters, got {len}"),
        ));
    }
    if let Some(bad) = username
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        return Err(Error::invalid(
            "username",
            format!("may contain only a-z, 0-9, '_' and '-', not {bad:?}"),
        ));
    }
    Ok(username)
}

/// Trims and sanity-checks an email address: one `@` with something on both
/// sides, a dot in the domain, no whitespace. Deliverability is for a
/// confirmation mail to prove, not a regex.
fn normalize_email(email: Option<&str>) -> Result<Option<String>> {
    let Some(email) = email.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    if email.len() > EMAIL_MAX_LEN {
        return Err(Error::invalid(
            "email",
            format!("must be at most {EMAIL_MAX_LEN} bytes"),
        ));
    }
    let well_formed = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !well_formed {
        return Err(Error::invalid("email", "must look like name@example.com"));
    }
    Ok(Some(email.to_owned()))
}

/// `SELECT` of every [`User`] column from "user" followed by `$tail`, as one
/// `'static` string (sqlx 0.9 takes only `&'static str` SQL unless wrapped
/// in `AssertSqlSafe`, and `concat!` keeps it a literal).
macro_rules! select_user {
    ($tail:literal) => {
        concat!(
            r#"SELECT user_id, username, email, role, created_at_ms FROM "user" "#,
            $tail
        )
    };
}

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        role: decode::text_enum(row, "user", "role")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

impl Db {
    /// Creates a user. Fails with [`Error::Invalid`] on a bad username, email
    /// or password, and [`Error::Conflict`] (`what` = "username" or "email")
    /// when either is taken (emails compare ignoring case).
    pub async fn create_user(&self, new: NewUser) -> Result<User> {
        let username = normalize_username(&new.username)?;
        let email = normalize_email(new.email.as_deref())?;
        validate_password(&new.password)?;
        let password_hash = self.passwords.hash(new.password).await?;
        let user = User {
            user_id: new_id(),
            username,
            email,
            role: new.role,
            created_at_ms: self.now_ms(),
        };
        sqlx::query(
            r#"INSERT INTO "user" (user_id, username, email, password_hash, role, created_at_ms)
               VALUES ($1, $2, $3, $4, $5, $6)"#,
        )
        .bind(&user.user_id)
        .bind(&user.username)
        .bind(&user.email)
        .bind(&password_hash)
        .bind(user.role.as_str())
        .bind(user.created_at_ms)
        .execute(&self.pool)
        .await
        .map_err(map_write)?;
        tracing::info!(user_id = %user.user_id, username = %user.username, role = %user.role, "user created");
        Ok(user)
    }

    /// The user with this id, if any.
    pub async fn user(&self, user_id: &str) -> Result<Option<User>> {
        let row = sqlx::query(select_user!("WHERE user_id = $1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The user with this username, compared ignoring case. A string that
    /// cannot be a username is simply not found.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let Ok(username) = normalize_username(username) else {
            return Ok(None);
        };
        let row = sqlx::query(select_user!("WHERE username = $1"))
            .bind(&username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Checks a login. `Some(user)` when the username exists and the password
    /// matches; `None` otherwise, taking about as long either way so the
    /// answer does not reveal which usernames exist.
    pub async fn verify_password(&self, username: &str, password: &str) -> Result<Option<User>> {
        let found = match normalize_username(username) {
            Ok(username) => sqlx::query(
                r#"SELECT user_id, username, email, role, created_at_ms, password_hash
                   FROM "user" WHERE username = $1"#,
            )
            .bind(&username)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| -> Result<(User, String)> {
                Ok((user_from_row(&row)?, row.try_get("password_hash")?))
            })
            .transpose()?,
            Err(_) => None,
        };
        let (user, phc) = match found {
            Some((user, phc)) => (Some(user), Some(phc)),
            None => (None, None),
        };
        let ok = self.passwords.verify(password.to_owned(), phc).await?;
        Ok(user.filter(|_| ok))
    }

    /// A page of users, newest first.
    pub async fn list_users(&self, page: &PageRequest) -> Result<Page<User>> {
        let rows = sqlx::query(select_user!(
            "WHERE (created_at_ms, user_id) < ($1, $2) \
             ORDER BY created_at_ms DESC, user_id DESC LIMIT $3"
        ))
        .bind(page.after_time_ms())
        .bind(page.after_id())
        .bind(page.fetch_limit())
        .fetch_all(&self.pool)
        .await?;
        let users = rows.iter().map(user_from_row).collect::<Result<_>>()?;
        Ok(Page::from_rows(users, page, |u: &User| {
            (u.created_at_ms, &u.user_id)
        }))
    }

    /// How many users exist (zero on a fresh install: the first-run setup
    /// creates an admin).
    pub async fn count_users(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(r#"SELECT COUNT(*) FROM "user""#)
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(count).map_err(|_| Error::Corrupt {
            table: "user",
            column: "count",
            value: count.to_string(),
        })
    }

    /// Changes a user's email, role or password and returns the user as
    /// updated. A password change also ends all of the user's sessions and
    /// (unless [`UserUpdate::keep_api_tokens`]) revokes their API tokens,
    /// in the same transaction: whoever learned the old password, or a
    /// token minted with it, is locked out.
    ///
    /// [`Error::NotFound`] if there is no such user, [`Error::Invalid`] on a
    /// bad email or password, [`Error::Conflict`] (`what` = "email") when
    /// the address is taken, [`Error::InUse`] when this would leave no
    /// admin. (Two admins demoting each other at the same instant on
    /// PostgreSQL can still both succeed; the guard is against mistakes,
    /// not a race.)
    pub async fn update_user(&self, user_id: &str, update: UserUpdate) -> Result<User> {
        let email = match &update.email {
            Some(email) => Some(normalize_email(Some(email))?),
            None => None,
        };
        let password_hash = match update.password {
            Some(password) => {
                validate_password(&password)?;
                Some(self.passwords.hash(password).await?)
            }
            None => None,
        };
        let mut tx = self.pool.begin().await?;
        // The guard in the WHERE clause keeps one admin: it refuses to turn
        // the only admin into something else.
        let updated = sqlx::query(
            r#"UPDATE "user" SET email = CASE WHEN $1 = 1 THEN $2 ELSE email END,
               role = COALESCE($3, role), password_hash = COALESCE($4, password_hash)
               WHERE user_id = $5
               AND NOT (role = 'admin' AND COALESCE($3, role) <> 'admin'
                        AND (SELECT COUNT(*) FROM "user" WHERE role = 'admin') <= 1)"#,
        )
        .bind(decode::flag_param(email.is_some()))
        .bind(email.flatten())
        .bind(update.role.map(Role::as_str))
        .bind(&password_hash)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(map_write)?;
        if updated.rows_affected() == 0 {
            drop(tx);
            return Err(match self.user(user_id).await? {
                None => Error::NotFound { what: "user" },
                Some(_) => Error::InUse {
                    what: "user",
                    reason: "it is the only admin; make another user admin first".into(),
                },
            });
        }
        if password_hash.is_some() {
            sqlx::query("DELETE FROM session WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            if !update.keep_api_tokens {
                let revoked = sqlx::query("DELETE FROM api_token WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                tracing::info!(%user_id, tokens = revoked.rows_affected(), "password changed; API tokens revoked");
            }
        }
        tx.commit().await?;
        tracing::info!(%user_id, "user updated");
        self.user(user_id)
            .await?
            .ok_or(Error::NotFound { what: "user" })
    }

    /// Deletes a user with their sessions, API tokens, signing keys,
    /// webhook endpoints and webhook events (the schema cascades); clips
    /// they made stay, without a creator.
    ///
    /// [`Error::InUse`] while they own channels (delete those first: their
    /// media must go too) or when they are the only admin;
    /// [`Error::NotFound`] if there is no such user.
    pub async fn delete_user(&self, user_id: &str) -> Result<()> {
        let deleted = sqlx::query(
            r#"DELETE FROM "user" WHERE user_id = $1
               AND NOT EXISTS (SELECT 1 FROM channel WHERE owner_user_id = $1)
               AND NOT (role = 'admin'
                        AND (SELECT COUNT(*) FROM "user" WHERE role = 'admin') <= 1)"#,
        )
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            // A channel created for them since the guard ran.
            Some(Violation::ForeignKey) => Error::InUse {
                what: "user",
                reason: "they own channels; delete those first".into(),
            },
            _ => map_write(e),
        })?;
        if deleted.rows_affected() > 0 {
            tracing::info!(%user_id, "user deleted");
            return Ok(());
        }
        if self.user(user_id).await?.is_none() {
            return Err(Error::NotFound { what: "user" });
        }
        let channels: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM channel WHERE owner_user_id = $1")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
        let reason = if channels > 0 {
            format!(
                "they own {channels} channel{}; delete {} first",
                if channels == 1 { "" } else { "s" },
                if channels == 1 { "it" } else { "them" },
            )
        } else {
            "it is the only admin; make another user admin first".to_owned()
        };
        Err(Error::InUse {
            what: "user",
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        assert_eq!(normalize_username("Alice_99").unwrap(), "alice_99");
        assert_eq!(normalize_username("a-b").unwrap(), "a-b");
        assert_eq!(normalize_username(&"x".repeat(32)).unwrap(), "x".repeat(32));
        for (bad, why) in [
            ("ab", "3 to 32"),
            (&*"x".repeat(33), "3 to 32"),
            ("al ice", "' '"),
            ("alice!", "'!'"),
            ("ålice", "'å'"),
            ("", "3 to 32"),
        ] {
            match normalize_username(bad) {
                Err(Error::Invalid { field, message }) => {
                    assert_eq!(field, "username");
                    assert!(message.contains(why), "{bad:?}: {message}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn email_rules() {
        assert_eq!(normalize_email(None).unwrap(), None);
        assert_eq!(normalize_email(Some("  ")).unwrap(), None);
        assert_eq!(
            normalize_email(Some(" Bob@Example.com "))
                .unwrap()
                .as_deref(),
            Some("Bob@Example.com")
        );
        for bad in [
            "bob",
            "bob@",
            "@example.com",
            "bob@localhost",
            "b ob@x.com",
            "a@b@c.com",
        ] {
            assert!(
                matches!(
                    normalize_email(Some(bad)),
                    Err(Error::Invalid { field: "email", .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn role_strings() {
        assert_eq!("creator".parse::<Role>().unwrap(), Role::Creator);
        assert_eq!(Role::Admin.to_string(), "admin");
        match "root".parse::<Role>() {
            Err(Error::Invalid { field, message }) => {
                assert_eq!(field, "role");
                assert!(message.contains("admin, creator, viewer"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(serde_json::to_string(&Role::Viewer).unwrap(), r#""viewer""#);
    }
}
