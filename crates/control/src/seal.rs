//! Secrets the server must be able to show again (stream keys, as Mux
//! shows them on every read; simulcast targets' keys) are stored sealed:
//! AES-256-GCM under the server's sealing key, a random 96-bit nonce per
//! value, stored as base64 of `nonce || ciphertext || tag`.
//!
//! The key comes from the server (a file in the data directory, created
//! on first start with mode 600; see `server`); this crate never reads
//! files. A [`Db`](crate::Db) without one uses a random key that lives
//! only as long as the process: values sealed with it cannot be opened
//! after a restart, which [`Sealer::open`] reports as `None` (shown as
//! "unreadable, reset the key") rather than as an error.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;

/// Bytes of a sealing key.
pub const SEALING_KEY_LEN: usize = 32;

/// Seals and opens secrets with one key.
pub(crate) struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub(crate) fn new(key: &[u8; SEALING_KEY_LEN]) -> Sealer {
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte AES-256 key");
        Sealer {
            key: LessSafeKey::new(unbound),
        }
    }

    /// A key for this process only.
    pub(crate) fn ephemeral() -> Sealer {
        let mut key = [0u8; SEALING_KEY_LEN];
        rand::rng().fill(&mut key);
        Sealer::new(&key)
    }

    /// `secret` sealed, as base64 text.
    pub(crate) fn seal(&self, secret: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce);
        let mut in_out = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut in_out,
            )
            .expect("sealing a short secret");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        STANDARD.encode(out)
    }

    /// The secret `sealed` holds, or `None` if it was sealed with another
    /// key, or is damaged.
    pub(crate) fn open(&self, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut in_out)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_with_the_same_key() {
        let a = Sealer::new(&[7; 32]);
        let sealed = a.seal("live_abc");
        assert_ne!(sealed, a.seal("live_abc"), "a fresh nonce every time");
        assert!(!sealed.contains("live_abc"));
        assert_eq!(a.open(&sealed).as_deref(), Some("live_abc"));
        assert_eq!(Sealer::new(&[8; 32]).open(&sealed), None);
        assert_eq!(a.open("not base64!"), None);
        assert_eq!(a.open("AAAA"), None);
        let mut damaged = STANDARD.decode(&sealed).unwrap();
        *damaged.last_mut().unwrap() ^= 1;
        assert_eq!(a.open(&STANDARD.encode(damaged)), None);
    }
}
