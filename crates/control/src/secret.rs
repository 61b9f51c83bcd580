//! Random public identifiers and secrets: playback ids, stream keys, API
//! tokens, session and CSRF tokens, webhook signing secrets.
//!
//! Both are drawn from `rand::rng()`, a CSPRNG (ChaCha12 seeded and
//! periodically reseeded from the OS), over the 62 ASCII alphanumerics: safe
//! in URLs, in RTMP stream names and in OBS's key field without escaping,
//! and easy to double-click-select.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of a playback id: 24 × log2(62) ≈ 143 bits, unguessable.
pub const PLAYBACK_ID_LEN: usize = 24;

/// Prefix of every stream key. Tells a leaked string's kind at a glance (and
/// to secret scanners); carries no entropy.
pub const STREAM_KEY_PREFIX: &str = "live_";

/// Random characters in a stream key after the prefix: 32 × log2(62) ≈ 190
/// bits (the floor is 160).
pub const STREAM_KEY_RANDOM_LEN: usize = 32;

/// Prefix of every API token secret (`Authorization: Bearer aethex_...`).
/// Carries no entropy; lets secret scanners and people recognise a leak.
pub const API_TOKEN_PREFIX: &str = "aethex_";

/// Random characters of an API token after its prefix: ≈ 190 bits.
pub const API_TOKEN_RANDOM_LEN: usize = 32;

/// Prefix of every webhook signing secret (Stripe's spelling).
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// Random characters of session tokens, CSRF tokens and webhook secrets
/// (after any prefix): ≈ 190 bits.
pub(crate) const TOKEN_RANDOM_LEN: usize = 32;

pub(crate) fn alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A fresh playback id.
pub(crate) fn new_playback_id() -> String {
    alphanumeric(PLAYBACK_ID_LEN)
}

/// A fresh stream key, `live_` followed by 32 alphanumerics. Shown to the
/// user once; only [`hash_stream_key`] of it is stored.
pub(crate) fn new_stream_key() -> String {
    let mut key = String::with_capacity(STREAM_KEY_PREFIX.len() + STREAM_KEY_RANDOM_LEN);
    key.push_str(STREAM_KEY_PREFIX);
    key.push_str(&alphanumeric(STREAM_KEY_RANDOM_LEN));
    key
}

/// A fresh API token secret, `aethex_` followed by 32 alphanumerics.
pub(crate) fn new_api_token_secret() -> String {
    format!("{API_TOKEN_PREFIX}{}", alphanumeric(API_TOKEN_RANDOM_LEN))
}

/// A fresh webhook signing secret, `whsec_` followed by 32 alphanumerics.
pub(crate) fn new_webhook_secret() -> String {
    format!("{WEBHOOK_SECRET_PREFIX}{}", alphanumeric(TOKEN_RANDOM_LEN))
}

/// A fresh session or CSRF token: 32 alphanumerics.
pub(crate) fn new_token() -> String {
    alphanumeric(TOKEN_RANDOM_LEN)
}

/// Lowercase hex SHA-256 of a secret, as stored in the `*_hash` columns.
/// Every secret hashed so has ≥ 160 random bits, so a fast unsalted hash is
/// enough: there is no dictionary to try.
pub(crate) fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Lowercase hex SHA-256 of a stream key, as stored in `stream_key.key_hash`.
pub(crate) fn hash_stream_key(key: &str) -> String {
    sha256_hex(key)
}

/// Constant-time equality of two stored/computed hashes, so that comparing
/// a candidate hash leaks nothing about how many leading characters match.
pub(crate) fn hashes_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_key_shape() {
        let key = new_stream_key();
        assert_eq!(key.len(), STREAM_KEY_PREFIX.len() + STREAM_KEY_RANDOM_LEN);
        let random = key.strip_prefix(STREAM_KEY_PREFIX).unwrap();
        assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
        assert_ne!(key, new_stream_key());
        // ≥ 160 bits of entropy.
        assert!(STREAM_KEY_RANDOM_LEN as f64 * 62f64.log2() >= 160.0);
    }

    #[test]
    fn api_token_and_webhook_secret_shapes() {
        let token = new_api_token_secret();
        let random = token.strip_prefix(API_TOKEN_PREFIX).unwrap();
        assert_eq!(random.len(), API_TOKEN_RANDOM_LEN);
        assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
        assert!(API_TOKEN_RANDOM_LEN as f64 * 62f64.log2() >= 160.0);
        assert_ne!(token, new_api_token_secret());

        let secret = new_webhook_secret();
        assert_eq!(
            secret.strip_prefix(WEBHOOK_SECRET_PREFIX).unwrap().len(),
            TOKEN_RANDOM_LEN
        );
        assert_eq!(new_token().len(), TOKEN_RANDOM_LEN);
        assert_ne!(new_token(), new_token());
    }

    #[test]
    fn playback_id_shape() {
        let id = new_playback_id();
        assert_eq!(id.len(), PLAYBACK_ID_LEN);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        assert_ne!(id, new_playback_id());
    }

    #[test]
    fn stream_key_hash_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hash_stream_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(hashes_equal(
            &hash_stream_key("abc"),
            &hash_stream_key("abc")
        ));
        assert!(!hashes_equal(
            &hash_stream_key("abc"),
            &hash_stream_key("abd")
        ));
        assert!(!hashes_equal("ab", "abc"));
    }
}
