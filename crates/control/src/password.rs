//! Password hashing: argon2id (RFC 9106) with the hash stored as a PHC
//! string, so each hash carries its own parameters and raising the cost later
//! needs no migration.
//!
//! Hashing is deliberately slow (tens of milliseconds) and memory-hard
//! (19 MiB each), so it runs on tokio's blocking pool, never on an async
//! worker thread, and at most [`PasswordConfig::max_concurrent_hashes`]
//! at once: a flood of logins or sign-ups queues for a permit (and gets
//! [`Error::Overloaded`] after [`HASH_QUEUE_WAIT`]) instead of growing the
//! process by 19 MiB per request.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

use crate::error::{Error, Result};

/// Cost of argon2id for new hashes. Defaults are OWASP's recommendation for
/// argon2id (19 MiB, 2 passes, 1 lane), which is also the `argon2` crate's
/// default.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Memory per hash, in KiB. Default 19 456 (19 MiB).
    pub memory_kib: u32,
    /// Passes over the memory. Default 2.
    pub iterations: u32,
    /// Lanes. Default 1.
    pub parallelism: u32,
    /// Hashes computed at once (each holds `memory_kib`); more wait.
    /// 0: twice the number of CPU cores. Default 0.
    pub max_concurrent_hashes: u32,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
            max_concurrent_hashes: 0,
        }
    }
}

impl PasswordConfig {
    /// Checks the argon2 parameters.
    pub fn validate(&self) -> std::result::Result<(), String> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map(|_| ())
            .map_err(|e| format!("password.memory_kib/iterations/parallelism: {e}"))
    }

    /// [`PasswordConfig::max_concurrent_hashes`] with 0 resolved.
    pub fn effective_max_concurrent_hashes(&self) -> usize {
        match self.max_concurrent_hashes {
            0 => 2 * std::thread::available_parallelism().map_or(1, usize::from),
            n => n as usize,
        }
    }

    /// The cheapest parameters argon2 accepts. For tests only: a hash costs
    /// microseconds instead of a second in a debug build.
    #[doc(hidden)]
    pub fn insecure_fast() -> Self {
        PasswordConfig {
            memory_kib: Params::MIN_M_COST,
            iterations: Params::MIN_T_COST,
            parallelism: Params::MIN_P_COST,
            max_concurrent_hashes: 0,
        }
    }
}

/// How long a hash waits for a permit before the request is refused.
pub const HASH_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Shortest accepted password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Longest accepted password, in bytes: argon2 hashes any length, so this
/// only bounds the work an anonymous login request can cause.
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// Hashes and verifies passwords with one set of parameters.
pub(crate) struct Passwords {
    params: Params,
    /// A hash of a random password, verified against when a login names an
    /// unknown user so that "no such user" takes as long as "wrong password"
    /// and does not reveal which usernames exist. Computed on first use.
    dummy_hash: OnceLock<String>,
    /// Permits to hash: bounds the memory and CPU hashing takes at once.
    permits: Arc<tokio::sync::Semaphore>,
}

impl Passwords {
    pub(crate) fn new(config: &PasswordConfig) -> Result<Passwords> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| Error::invalid("password.memory_kib/iterations/parallelism", e.to_string()))?;
        Ok(Passwords {
            params,
            dummy_hash: OnceLock::new(),
            permits: Arc::new(tokio::sync::Semaphore::new(
                config.effective_max_concurrent_hashes(),
            )),
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes `password` with a fresh 128-bit salt; returns the PHC string.
    fn hash_blocking(&self, password: &str) -> Result<String> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| Error::PasswordHash(e.to_string()))?;
        let hash = self
            .argon2()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| Error::PasswordHash(e.to_string()))?;
        Ok(hash.to_string())
    }

    /// Checks `password` against a stored PHC string, using the parameters
    /// recorded in it. A malformed stored hash is an error, not a mismatch.
    fn verify_blocking(&self, password: &str, phc: &str) -> Result<bool> {
        let parsed = PasswordHash::new(phc).map_err(|e| Error::PasswordHash(e.to_string()))?;
        match self.argon2().verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(Error::PasswordHash(e.to_string())),
        }
    }

    /// Waits (at most [`HASH_QUEUE_WAIT`]) for a permit to hash.
    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        match tokio::time::timeout(HASH_QUEUE_WAIT, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) | Err(_) => Err(Error::Overloaded("password hashing")),
        }
    }

    /// Hashes on the blocking pool, holding a permit.
    pub(crate) async fn hash(self: &Arc<Self>, password: String) -> Result<String> {
        let permit = self.permit().await?;
        let this = Arc::clone(self);
        blocking(move || {
            let _permit = permit;
            this.hash_blocking(&password)
        })
        .await
    }

    /// Verifies on the blocking pool; `phc: None` (unknown user) verifies
    /// against the dummy hash and returns false, taking the same time.
    pub(crate) async fn verify(
        self: &Arc<Self>,
        password: String,
        phc: Option<String>,
    ) -> Result<bool> {
        let permit = self.permit().await?;
        let this = Arc::clone(self);
        blocking(move || {
            let _permit = permit;
            match phc {
                Some(phc) => this.verify_blocking(&password, &phc),
                None => {
                    let dummy = match this.dummy_hash.get() {
                        Some(dummy) => dummy.clone(),
                        None => {
                            let mut random = [0u8; 16];
                            rand::rng().fill_bytes(&mut random);
                            let dummy = this.hash_blocking(&hex::encode(random))?;
                            this.dummy_hash.get_or_init(|| dummy).clone()
                        }
                    };
                    this.verify_blocking(&password, &dummy)?;
                    Ok(false)
                }
            }
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::PasswordHash(format!("hashing task failed: {e}")))?
}

/// Checks a new password's length (the only rule: length beats composition
/// rules, per NIST SP 800-63B).
pub(crate) fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err(Error::invalid(
            "password",
            format!("must be at least {PASSWORD_MIN_CHARS} characters"),
        ));
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(Error::invalid(
            "password",
            format!("must be at most {PASSWORD_MAX_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_is_argon2id_phc_and_verifies() {
        let passwords = Arc::new(Passwords::new(&PasswordConfig::insecure_fast()).unwrap());
        let phc = passwords.hash("correct horse".to_owned()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(
            passwords
                .verify("correct horse".to_owned(), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("wrong horse".to_owned(), Some(phc.clone()))
                .await
                .unwrap()
        );
        // Salted: the same password hashes differently each time.
        assert_ne!(
            phc,
            passwords.hash("correct horse".to_owned()).await.unwrap()
        );
    }

    #[tokio::test]
    async fn verifies_hashes_made_with_other_parameters() {
        // A hash made with the production defaults verifies with a checker
        // configured for cheap hashes: parameters come from the PHC string.
        let strong = Arc::new(Passwords::new(&PasswordConfig::default()).unwrap());
        let fast = Arc::new(Passwords::new(&PasswordConfig::insecure_fast()).unwrap());
        let phc = strong.hash("hunter2hunter2".to_owned()).await.unwrap();
        assert!(phc.contains("m=19456,t=2,p=1"), "{phc}");
        assert!(
            fast.verify("hunter2hunter2".to_owned(), Some(phc))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let passwords = Arc::new(Passwords::new(&PasswordConfig::insecure_fast()).unwrap());
        assert!(
            !passwords
                .verify("anything at all".to_owned(), None)
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("anything at all".to_owned(), None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn malformed_stored_hash_is_an_error() {
        let passwords = Arc::new(Passwords::new(&PasswordConfig::insecure_fast()).unwrap());
        let result = passwords
            .verify("whatever1".to_owned(), Some("not a phc".to_owned()))
            .await;
        assert!(matches!(result, Err(Error::PasswordHash(_))));
    }

    #[test]
    fn password_length_rules() {
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"x".repeat(PASSWORD_MAX_BYTES + 1)).is_err());
        match validate_password("short") {
            Err(Error::Invalid { field, message }) => {
                assert_eq!(field, "password");
                assert!(message.contains("at least 8"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
