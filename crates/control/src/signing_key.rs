//! Signing keys for signed playback (Mux's "signing keys"), and verifying
//! playback tokens against them.
//!
//! A user creates keys through the API and signs tokens for their own
//! playback ids in their own backend: [`Db::create_signing_key`] returns
//! the private key once and stores only the public key. A key signs only
//! for playback ids of channels its owner owns (their channels' playback
//! ids, VOD ids and clip ids): in a multi-tenant server one creator's key
//! must not open another creator's private channel.
//!
//! # The server's own key
//!
//! The web UI's players need tokens too (the owner watching their private
//! channel, a viewer an admin let in), and the server mints those itself
//! with [`Db::mint_playback_token`], after its own authorization check.
//! For that it keeps **one** key pair of its own, ES256, in the same table
//! (owner NULL, private key stored, created on first use; a unique index
//! keeps it to one when nodes race), valid for every playback id. One key
//! rather than one per owner: every node needs the private key, so it
//! lives in the database either way, and per-owner copies there would
//! isolate nothing. Whoever can read the database can mint playback tokens
//! (as they can read webhook secrets); tokens only grant watching.

use std::time::Duration;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::decode;
use crate::error::{Error, Result, Violation, map_write, violation};
use crate::ids::new_id;
use crate::page::{Page, PageRequest};
use crate::playback_token::{
    PlaybackAudience, PlaybackClaims, SigningAlgorithm, TokenError, VerifyingKey,
    generate_key_pair, sign_playback_token_for, token_key_id, verify_playback_token_with,
};

/// Longest lifetime of a token minted by the server: one day.
pub const MINTED_TOKEN_TTL_MAX: Duration = Duration::from_secs(24 * 3600);

/// A user's signing key, as listed. Carries no key material.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SigningKey {
    /// UUIDv7; the JWT `kid`.
    pub signing_key_id: String,
    pub owner_user_id: String,
    pub algorithm: SigningAlgorithm,
    /// SubjectPublicKeyInfo PEM (public; handy to verify tokens elsewhere).
    pub public_key_pem: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// What [`Db::create_signing_key`] returns: the only time the private key
/// exists outside the caller's hands.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct CreatedSigningKey {
    pub key: SigningKey,
    /// PKCS#8 PEM. Not stored; show it to the user now. (Mux hands out the
    /// same PEM base64-encoded; callers that want that format encode it.)
    pub private_key_pem: String,
}

impl std::fmt::Debug for CreatedSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedSigningKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn signing_key_from_row(row: &AnyRow) -> Result<SigningKey> {
    Ok(SigningKey {
        signing_key_id: row.try_get("signing_key_id")?,
        owner_user_id: row.try_get("owner_user_id")?,
        algorithm: decode::text_enum(row, "signing_key", "algorithm")?,
        public_key_pem: row.try_get("public_key_pem")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

async fn generate(algorithm: SigningAlgorithm) -> Result<crate::playback_token::GeneratedKeyPair> {
    // RSA generation takes tens of milliseconds: keep it off the async
    // workers.
    tokio::task::spawn_blocking(move || generate_key_pair(algorithm))
        .await
        .map_err(|e| Error::Crypto(format!("key generation task failed: {e}")))?
}

impl Db {
    /// Creates a signing key for `owner_user_id` (RS256 is
    /// [`SigningAlgorithm::default`], like Mux's). [`Error::NotFound`] if
    /// there is no such user.
    pub async fn create_signing_key(
        &self,
        owner_user_id: &str,
        algorithm: SigningAlgorithm,
    ) -> Result<CreatedSigningKey> {
        let pair = generate(algorithm).await?;
        let key = SigningKey {
            signing_key_id: new_id(),
            owner_user_id: owner_user_id.to_owned(),
            algorithm,
            public_key_pem: pair.public_key_pem.clone(),
            created_at_ms: self.now_ms(),
        };
        sqlx::query(
            "INSERT INTO signing_key (signing_key_id, owner_user_id, algorithm, public_key_pem, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.signing_key_id)
        .bind(&key.owner_user_id)
        .bind(key.algorithm.as_str())
        .bind(&key.public_key_pem)
        .bind(key.created_at_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::ForeignKey) => Error::NotFound { what: "user" },
            _ => map_write(e),
        })?;
        tracing::info!(signing_key_id = %key.signing_key_id, %owner_user_id, "signing key created");
        Ok(CreatedSigningKey {
            key,
            private_key_pem: pair.private_key_pem,
        })
    }

    /// One page of an owner's signing keys by offset, newest first (Mux's
    /// `?limit=&page=`). At most [`crate::PAGE_LIMIT_MAX`] per page.
    pub async fn list_signing_keys_by_offset(
        &self,
        owner_user_id: &str,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<SigningKey>> {
        let rows = sqlx::query(
            "SELECT signing_key_id, owner_user_id, algorithm, public_key_pem, created_at_ms \
             FROM signing_key WHERE owner_user_id = $1 \
             ORDER BY created_at_ms DESC, signing_key_id DESC LIMIT $2 OFFSET $3",
        )
        .bind(owner_user_id)
        .bind(i64::from(limit.clamp(1, crate::PAGE_LIMIT_MAX)))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(signing_key_from_row).collect()
    }

    /// One of `owner_user_id`'s signing keys. [`Error::NotFound`] if there
    /// is no such key or it is someone else's.
    pub async fn signing_key(
        &self,
        owner_user_id: &str,
        signing_key_id: &str,
    ) -> Result<SigningKey> {
        let row = sqlx::query(
            "SELECT signing_key_id, owner_user_id, algorithm, public_key_pem, created_at_ms \
             FROM signing_key WHERE signing_key_id = $1 AND owner_user_id = $2",
        )
        .bind(signing_key_id)
        .bind(owner_user_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => signing_key_from_row(&row),
            None => Err(Error::NotFound {
                what: "signing key",
            }),
        }
    }

    /// Who signing key `signing_key_id` belongs to, or `None` if there is
    /// no such user key (the server's own key has no owner and counts as
    /// none): for admins acting on another user's key.
    pub async fn signing_key_owner(&self, signing_key_id: &str) -> Result<Option<String>> {
        let owner: Option<Option<String>> =
            sqlx::query_scalar("SELECT owner_user_id FROM signing_key WHERE signing_key_id = $1")
                .bind(signing_key_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(owner.flatten())
    }

    /// A page of `owner_user_id`'s signing keys, newest first.
    pub async fn list_signing_keys(
        &self,
        owner_user_id: &str,
        page: &PageRequest,
    ) -> Result<Page<SigningKey>> {
        let rows = sqlx::query(
            "SELECT signing_key_id, owner_user_id, algorithm, public_key_pem, created_at_ms \
             FROM signing_key WHERE owner_user_id = $1 \
             AND (created_at_ms, signing_key_id) < ($2, $3) \
             ORDER BY created_at_ms DESC, signing_key_id DESC LIMIT $4",
        )
        .bind(owner_user_id)
        .bind(page.after_time_ms())
        .bind(page.after_id())
        .bind(page.fetch_limit())
        .fetch_all(&self.pool)
        .await?;
        let keys = rows
            .iter()
            .map(signing_key_from_row)
            .collect::<Result<_>>()?;
        Ok(Page::from_rows(keys, page, |k: &SigningKey| {
            (k.created_at_ms, &k.signing_key_id)
        }))
    }

    /// Deletes one of `owner_user_id`'s signing keys: tokens it signed stop
    /// verifying at once. [`Error::NotFound`] if there is no such key or it
    /// is someone else's.
    pub async fn delete_signing_key(
        &self,
        owner_user_id: &str,
        signing_key_id: &str,
    ) -> Result<()> {
        let deleted =
            sqlx::query("DELETE FROM signing_key WHERE signing_key_id = $1 AND owner_user_id = $2")
                .bind(signing_key_id)
                .bind(owner_user_id)
                .execute(&self.pool)
                .await?;
        if deleted.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "signing key",
            });
        }
        tracing::info!(%signing_key_id, %owner_user_id, "signing key deleted");
        Ok(())
    }

    /// The public key with this id and its owner (`None`: the server's own
    /// key), for verifying; `Ok(None)` if there is no such key.
    pub async fn verifying_key(
        &self,
        signing_key_id: &str,
    ) -> Result<Option<(VerifyingKey, Option<String>)>> {
        let row = sqlx::query(
            "SELECT algorithm, public_key_pem, owner_user_id FROM signing_key \
             WHERE signing_key_id = $1",
        )
        .bind(signing_key_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let algorithm = decode::text_enum(&row, "signing_key", "algorithm")?;
        let pem: String = row.try_get("public_key_pem")?;
        let key = VerifyingKey::from_pem(signing_key_id, algorithm, &pem).map_err(|_| {
            Error::Corrupt {
                table: "signing_key",
                column: "public_key_pem",
                value: signing_key_id.to_owned(),
            }
        })?;
        Ok(Some((key, row.try_get("owner_user_id")?)))
    }

    /// The user who owns a playback id: the owner of the channel with that
    /// playback id, or of the channel of the VOD or clip with that id, or
    /// of what a further (Mux) playback id plays.
    pub async fn playback_id_owner(&self, playback_id: &str) -> Result<Option<String>> {
        let owner: Option<String> = sqlx::query_scalar(
            "SELECT owner_user_id FROM channel WHERE playback_id = $1 \
             UNION ALL SELECT c.owner_user_id FROM vod v \
               JOIN channel c ON c.channel_id = v.channel_id WHERE v.vod_id = $1 \
             UNION ALL SELECT c.owner_user_id FROM clip k \
               JOIN channel c ON c.channel_id = k.channel_id WHERE k.clip_id = $1 \
             UNION ALL SELECT c.owner_user_id FROM playback_id p \
               JOIN channel c ON c.channel_id = p.channel_id WHERE p.playback_id = $1 \
             UNION ALL SELECT c.owner_user_id FROM playback_id p JOIN vod v ON v.vod_id = p.vod_id \
               JOIN channel c ON c.channel_id = v.channel_id WHERE p.playback_id = $1 \
             LIMIT 1",
        )
        .bind(playback_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(owner)
    }

    /// Verifies a playback token for `playback_id` (a channel playback id,
    /// VOD id or clip id) and `audience` at `now_ms` (unix milliseconds):
    /// the key it names must exist, the signature and claims must check out
    /// (see [`verify_playback_token_with`]), and the key must be the
    /// server's or belong to the playback id's owner.
    ///
    /// Two indexed lookups per call; a caller verifying on every segment
    /// request may cache [`Db::verifying_key`] results briefly (a deleted
    /// key then keeps working until its cache entry expires).
    pub async fn verify_playback_token(
        &self,
        token: &str,
        playback_id: &str,
        audience: PlaybackAudience,
        now_ms: i64,
    ) -> Result<PlaybackClaims, TokenError> {
        let key_id = token_key_id(token)?;
        let Some((key, key_owner)) = self.verifying_key(&key_id).await? else {
            return Err(TokenError::UnknownKey(key_id));
        };
        let mut claims = verify_playback_token_with(token, &key, playback_id, audience, now_ms)?;
        let Some(owner) = self.playback_id_owner(playback_id).await? else {
            return Err(TokenError::UnknownPlaybackId);
        };
        match key_owner {
            None => Ok(claims),
            Some(key_owner) if key_owner == owner => {
                // A user's key vouches for nothing about our users.
                claims.minted_for = None;
                Ok(claims)
            }
            Some(_) => Err(TokenError::KeyNotAllowed),
        }
    }

    /// Mints a token for `playback_id` with the server's own key (created
    /// on first use), valid for `ttl` (1 s to a day). For the web UI's
    /// players, after the API has decided the viewer may watch.
    /// [`Error::Invalid`] (`field` = "ttl") on a lifetime out of range.
    pub async fn mint_playback_token(
        &self,
        playback_id: &str,
        audience: PlaybackAudience,
        ttl: Duration,
    ) -> Result<String> {
        self.mint_playback_token_for(playback_id, audience, ttl, None)
            .await
    }

    /// [`Db::mint_playback_token`] for `user_id` (`uid` claim): the token
    /// stops working when that user may no longer see the channel (the
    /// API's check).
    pub async fn mint_playback_token_for(
        &self,
        playback_id: &str,
        audience: PlaybackAudience,
        ttl: Duration,
        user_id: Option<&str>,
    ) -> Result<String> {
        if ttl < Duration::from_secs(1) || ttl > MINTED_TOKEN_TTL_MAX {
            return Err(Error::invalid("ttl", "must be 1 second to 1 day"));
        }
        let (key_id, private_key_pem) = self.server_signing_key().await?;
        // Bounded above, so the cast cannot overflow.
        let exp = self.now_ms() / 1000 + ttl.as_secs() as i64;
        sign_playback_token_for(
            &private_key_pem,
            &key_id,
            playback_id,
            audience,
            exp,
            user_id,
        )
    }

    /// The server's key id and private key, creating them on first use.
    async fn server_signing_key(&self) -> Result<(String, String)> {
        async fn load(db: &Db) -> Result<Option<(String, String)>> {
            let row = sqlx::query(
                "SELECT signing_key_id, private_key_pem FROM signing_key \
                 WHERE owner_user_id IS NULL",
            )
            .fetch_optional(&db.pool)
            .await?;
            row.map(|row| -> Result<(String, String)> {
                let id: String = row.try_get("signing_key_id")?;
                let pem: Option<String> = row.try_get("private_key_pem")?;
                let pem = pem.ok_or_else(|| Error::Corrupt {
                    table: "signing_key",
                    column: "private_key_pem",
                    value: "NULL".into(),
                })?;
                Ok((id, pem))
            })
            .transpose()
        }
        if let Some(key) = load(self).await? {
            return Ok(key);
        }
        let pair = generate(SigningAlgorithm::Es256).await?;
        let key_id = new_id();
        let inserted = sqlx::query(
            "INSERT INTO signing_key (signing_key_id, owner_user_id, algorithm, public_key_pem, \
             private_key_pem, created_at_ms) VALUES ($1, NULL, $2, $3, $4, $5)",
        )
        .bind(&key_id)
        .bind(pair.algorithm.as_str())
        .bind(&pair.public_key_pem)
        .bind(&pair.private_key_pem)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {
                tracing::info!(signing_key_id = %key_id, "server signing key created");
                Ok((key_id, pair.private_key_pem))
            }
            // Another node created it first: use theirs.
            Err(e) if matches!(violation(&e), Some(Violation::Unique(_))) => {
                load(self).await?.ok_or(Error::NotFound {
                    what: "server signing key",
                })
            }
            Err(e) => Err(Error::Database(e)),
        }
    }
}

#[cfg(test)]
mod db_tests {
    use crate::playback_token::SigningAlgorithm;
    use crate::testutil::{self, each_backend};

    #[tokio::test]
    async fn user_private_keys_are_never_stored() {
        each_backend(async |db| {
            let alice = testutil::user(&db, "alice").await;
            let created = db
                .create_signing_key(&alice.user_id, SigningAlgorithm::Rs256)
                .await
                .unwrap();
            let stored: Vec<(Option<String>, String)> =
                sqlx::query_as("SELECT private_key_pem, public_key_pem FROM signing_key")
                    .fetch_all(&db.pool)
                    .await
                    .unwrap();
            assert_eq!(stored, [(None, created.key.public_key_pem.clone())]);
        })
        .await;
    }
}
