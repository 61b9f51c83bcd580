//! Signed playback tokens (Mux's signed playback URLs): a JWT (RFC 7519) in
//! JWS compact serialization (RFC 7515), signed with RS256 (RSASSA-PKCS1-v1_5
//! with SHA-256) or ES256 (ECDSA P-256 with SHA-256, fixed-width `r || s`),
//! RFC 7518 §3.3 and §3.4.
//!
//! ```text
//! header  {"alg":"RS256","typ":"JWT","kid":"<signing key id>"}
//! claims  {"sub":"<playback id>","aud":"v","exp":<unix seconds>,"kid":"<signing key id>",
//!          "iat":<unix seconds, may be fractional>, "uid":"<user id>"}
//! ```
//!
//! `iat` (issued at) is optional, but a channel that revoked its tokens
//! (`Channel::playback_tokens_not_before_ms`) accepts only tokens with an
//! `iat` at or after the revocation; tokens this server signs carry it with
//! millisecond precision. `uid` is put in tokens the server mints for a
//! user (the web UI's players): such a token stops working when that user
//! may no longer see the channel. It is ignored in tokens signed with a
//! user's own key, since the key holder could write anything there.
//!
//! `sub` names what may be played: a channel's playback id, a VOD id or a
//! clip id. `aud` is `v` for video (playlists and segments) and `t` for
//! thumbnails, as on Mux. `exp` is required; how short-lived a token is is
//! the issuer's choice. The key is named by the header's `kid`; Mux puts
//! `kid` in the claims instead, so that is accepted too (both, if present,
//! must agree), and tokens made here carry both, so Mux's own signing
//! helpers and code written for them work unchanged.
//!
//! # Why hand-rolled rather than `jsonwebtoken`
//!
//! Verification is about sixty lines over aws-lc-rs (already in the tree),
//! takes "now" as an argument (`jsonwebtoken` reads the system clock), and
//! accepts exactly one algorithm: the one stored with the key, whatever the
//! header claims, so `alg: none` and RS/HS confusion cannot arise. The tests
//! cross-check against `jsonwebtoken` in both directions.
//!
//! Keys are PEM: PKCS#8 (`BEGIN PRIVATE KEY`) for private keys, X.509
//! SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`) for public ones.

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::error::{Error, Result};
use crate::text_enum::text_enum;

text_enum! {
    /// JWS algorithm of a signing key.
    pub enum SigningAlgorithm for "algorithm" {
        /// RSA 2048, PKCS#1 v1.5, SHA-256: what Mux's signing keys are, so
        /// code written against Mux signs with these unchanged.
        Rs256 = "RS256",
        /// ECDSA P-256, SHA-256: smaller keys and tokens, cheaper to make.
        Es256 = "ES256",
    }
}

impl Default for SigningAlgorithm {
    /// RS256, for compatibility with Mux's tooling.
    fn default() -> Self {
        SigningAlgorithm::Rs256
    }
}

text_enum! {
    /// What a playback token grants (its `aud` claim, Mux's values).
    pub enum PlaybackAudience for "aud" {
        /// Playlists and media segments.
        Video = "v",
        /// Thumbnails and posters.
        Thumbnail = "t",
        /// Animated GIFs (Mux's `g`).
        Gif = "g",
        /// Storyboards (Mux's `s`).
        Storyboard = "s",
    }
}

/// Allowed clock difference between the issuer and this server when
/// checking `exp` and `nbf`, in seconds.
pub const CLOCK_SKEW_S: i64 = 30;

/// Longest token accepted, in bytes: an RS256 token is about 450.
const TOKEN_MAX_LEN: usize = 4096;

/// Why a playback token was refused. The API answers 403 for all but
/// [`TokenError::Database`], whose detail it logs and does not echo.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed JWS compact JWT with the required fields.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The `kid` names no signing key (never existed or was deleted).
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    /// The header's `alg` is not the key's algorithm.
    #[error("algorithm {found:?} does not match the key's {expected}")]
    WrongAlgorithm {
        expected: SigningAlgorithm,
        found: String,
    },
    /// The signature does not verify with the key.
    #[error("bad signature")]
    BadSignature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` has not come yet.
    #[error("token not valid yet")]
    NotYetValid,
    /// `sub` is another playback id.
    #[error("token is for another playback id")]
    WrongPlaybackId,
    /// `aud` is not what this URL serves (a thumbnail token on a playlist).
    #[error("token is for another kind of playback")]
    WrongAudience,
    /// The playback id exists nowhere (no channel, VOD or clip).
    #[error("unknown playback id")]
    UnknownPlaybackId,
    /// The key belongs to a user who does not own the playback id.
    #[error("the signing key may not sign for this playback id")]
    KeyNotAllowed,
    /// Looking the key or the playback id up failed.
    #[error(transparent)]
    Database(#[from] Error),
}

/// The verified claims of a playback token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlaybackClaims {
    /// The playback id (channel playback id, VOD id or clip id).
    pub sub: String,
    pub aud: PlaybackAudience,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// When it was issued (`iat`), unix milliseconds, if it says.
    pub issued_at_ms: Option<i64>,
    /// The user the server minted it for (`uid`), for tokens signed with
    /// the server's own key; `None` otherwise.
    pub minted_for: Option<String>,
    /// The signing key that verified it.
    pub key_id: String,
}

/// A freshly generated key pair, PEM-encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedKeyPair {
    pub algorithm: SigningAlgorithm,
    /// PKCS#8 PEM. Secret.
    pub private_key_pem: String,
    /// SubjectPublicKeyInfo PEM.
    pub public_key_pem: String,
}

impl std::fmt::Debug for GeneratedKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKeyPair")
            .field("algorithm", &self.algorithm)
            .field("public_key_pem", &self.public_key_pem)
            .finish_non_exhaustive()
    }
}

/// Generates a key pair: RSA 2048 (RS256) or P-256 (ES256) from aws-lc's
/// CSPRNG. RSA generation takes tens of milliseconds: call it off the async
/// workers (the `Db` methods use `spawn_blocking`).
pub(crate) fn generate_key_pair(algorithm: SigningAlgorithm) -> Result<GeneratedKeyPair> {
    let failed = |what: &str| Error::Crypto(format!("{what} failed"));
    let (pkcs8, spki): (Vec<u8>, Vec<u8>) = match algorithm {
        SigningAlgorithm::Rs256 => {
            let pair =
                RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| failed("RSA key generation"))?;
            let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
                pair.as_der().map_err(|_| failed("RSA key encoding"))?;
            let spki: PublicKeyX509Der<'_> = pair
                .public_key()
                .as_der()
                .map_err(|_| failed("RSA key encoding"))?;
            (pkcs8.as_ref().to_vec(), spki.as_ref().to_vec())
        }
        SigningAlgorithm::Es256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(|_| failed("ECDSA key generation"))?;
            let pkcs8 = pair
                .to_pkcs8v1()
                .map_err(|_| failed("ECDSA key encoding"))?;
            let spki: PublicKeyX509Der<'_> = pair
                .public_key()
                .as_der()
                .map_err(|_| failed("ECDSA key encoding"))?;
            (pkcs8.as_ref().to_vec(), spki.as_ref().to_vec())
        }
    };
    Ok(GeneratedKeyPair {
        algorithm,
        private_key_pem: pem_encode("PRIVATE KEY", &pkcs8),
        public_key_pem: pem_encode("PUBLIC KEY", &spki),
    })
}

/// RFC 7468 textual encoding: base64 in 64-character lines between
/// `-----BEGIN {label}-----` and `-----END {label}-----`.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so any chunk is valid UTF-8.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// The DER inside a PEM block labelled `label` (whitespace and line
/// lengths are forgiven; the label is not).
fn pem_decode(label: &str, pem: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

/// A public key ready to verify tokens (parsed once: cheap to keep and
/// clone, for a caller that caches keys).
#[derive(Clone)]
pub struct VerifyingKey {
    pub key_id: String,
    pub algorithm: SigningAlgorithm,
    key: ParsedPublicKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Parses a SubjectPublicKeyInfo PEM. [`Error::Invalid`] (`field` =
    /// "public_key") if it is not one, or not a key of `algorithm`.
    pub fn from_pem(
        key_id: &str,
        algorithm: SigningAlgorithm,
        public_key_pem: &str,
    ) -> Result<VerifyingKey> {
        let spki_der = pem_decode("PUBLIC KEY", public_key_pem)
            .ok_or_else(|| Error::invalid("public_key", "is not a PEM public key"))?;
        let verification: &'static dyn aws_lc_rs::signature::VerificationAlgorithm = match algorithm
        {
            SigningAlgorithm::Rs256 => &RSA_PKCS1_2048_8192_SHA256,
            SigningAlgorithm::Es256 => &ECDSA_P256_SHA256_FIXED,
        };
        let key = ParsedPublicKey::new(verification, &spki_der).map_err(|_| {
            Error::invalid("public_key", format!("is not an {algorithm} public key"))
        })?;
        Ok(VerifyingKey {
            key_id: key_id.to_owned(),
            algorithm,
            key,
        })
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    /// Extensions the verifier must understand (RFC 7515 §4.1.11): we
    /// understand none, so any makes the token invalid.
    #[serde(default, skip_serializing)]
    crit: Option<serde_json::Value>,
}

/// `aud` may be a string or an array of strings (RFC 7519 §4.1.3).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: Option<String>,
    aud: Option<Audience>,
    /// NumericDate: seconds, possibly fractional.
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<f64>,
    uid: Option<String>,
    kid: Option<String>,
}

/// The three parts of a compact JWS, split and the JSON ones decoded.
struct Parsed<'a> {
    header: Header,
    claims: Claims,
    /// `header.payload`, the signing input.
    signing_input: &'a str,
    signature: Vec<u8>,
    /// The key id from the header, else from the claims.
    key_id: String,
}

fn parse(token: &str) -> Result<Parsed<'_>, TokenError> {
    if token.len() > TOKEN_MAX_LEN {
        return Err(TokenError::Malformed("too long"));
    }
    let (signing_input, signature) = token
        .rsplit_once('.')
        .ok_or(TokenError::Malformed("not three dot-separated parts"))?;
    let (header, payload) = signing_input
        .split_once('.')
        .ok_or(TokenError::Malformed("not three dot-separated parts"))?;
    if payload.contains('.') {
        return Err(TokenError::Malformed("not three dot-separated parts"));
    }
    let decode = |part: &str, what: &'static str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::Malformed(what))
    };
    let header: Header = serde_json::from_slice(&decode(header, "header is not base64url")?)
        .map_err(|_| TokenError::Malformed("header is not a JWS header"))?;
    if header.crit.is_some() {
        return Err(TokenError::Malformed("unsupported critical header"));
    }
    let claims: Claims = serde_json::from_slice(&decode(payload, "claims are not base64url")?)
        .map_err(|_| TokenError::Malformed("claims are not a JSON object of the right types"))?;
    let signature = decode(signature, "signature is not base64url")?;
    let key_id = match (&header.kid, &claims.kid) {
        (Some(h), Some(c)) if h != c => {
            return Err(TokenError::Malformed(
                "header and claims name different keys",
            ));
        }
        (Some(kid), _) | (None, Some(kid)) => kid.clone(),
        (None, None) => return Err(TokenError::Malformed("no kid")),
    };
    if key_id.is_empty() || key_id.len() > 128 {
        return Err(TokenError::Malformed("kid"));
    }
    Ok(Parsed {
        header,
        claims,
        signing_input,
        signature,
        key_id,
    })
}

/// The signing key a token names (header `kid`, else claims `kid`),
/// without verifying anything: to look the key up before
/// [`verify_playback_token_with`].
pub fn token_key_id(token: &str) -> Result<String, TokenError> {
    parse(token).map(|p| p.key_id)
}

/// Verifies a playback token with a known key: the algorithm is the key's,
/// the signature must verify, `sub` must be `playback_id`, `aud` must be
/// `audience`, `exp` must be present and not passed and `nbf`, if present,
/// reached, both within [`CLOCK_SKEW_S`]. `now_ms` is unix milliseconds.
/// Says nothing about whether the key may sign for this playback id: that
/// is [`Db::verify_playback_token`](crate::Db::verify_playback_token)'s
/// business.
pub fn verify_playback_token_with(
    token: &str,
    key: &VerifyingKey,
    playback_id: &str,
    audience: PlaybackAudience,
    now_ms: i64,
) -> Result<PlaybackClaims, TokenError> {
    let parsed = parse(token)?;
    if parsed.key_id != key.key_id {
        return Err(TokenError::UnknownKey(parsed.key_id));
    }
    if parsed.header.alg != key.algorithm.as_str() {
        return Err(TokenError::WrongAlgorithm {
            expected: key.algorithm,
            found: parsed.header.alg,
        });
    }
    if !key.verify(parsed.signing_input.as_bytes(), &parsed.signature) {
        return Err(TokenError::BadSignature);
    }
    // Only now are the claims the key holder's word.
    let claims = parsed.claims;
    let now_s = now_ms.div_euclid(1000);
    let exp = claims
        .exp
        .filter(|e| e.is_finite())
        .ok_or(TokenError::Malformed("no exp"))?;
    // Seconds fit an f64 exactly for any date that matters; `as` saturates.
    let exp = exp.floor() as i64;
    if now_s > exp.saturating_add(CLOCK_SKEW_S) {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = claims.nbf
        && (!nbf.is_finite() || now_s.saturating_add(CLOCK_SKEW_S) < nbf.ceil() as i64)
    {
        return Err(TokenError::NotYetValid);
    }
    let sub = claims.sub.ok_or(TokenError::Malformed("no sub"))?;
    if sub != playback_id {
        return Err(TokenError::WrongPlaybackId);
    }
    let audience_ok = match claims.aud.ok_or(TokenError::Malformed("no aud"))? {
        Audience::One(aud) => aud == audience.as_str(),
        Audience::Many(auds) => auds.iter().any(|a| a == audience.as_str()),
    };
    if !audience_ok {
        return Err(TokenError::WrongAudience);
    }
    let issued_at_ms = match claims.iat {
        None => None,
        Some(iat) if iat.is_finite() => Some((iat * 1000.0).floor() as i64),
        Some(_) => return Err(TokenError::Malformed("iat")),
    };
    Ok(PlaybackClaims {
        sub,
        aud: audience,
        exp,
        issued_at_ms,
        minted_for: claims.uid,
        key_id: parsed.key_id,
    })
}

/// Signs a playback token for `playback_id` with a PKCS#8 PEM private key
/// (RSA → RS256, P-256 → ES256), naming `key_id` in the header and the
/// claims. `exp` is unix seconds. For tests, for users' own backends (it
/// is what Mux's SDK helpers do) and for the server's own key.
/// [`Error::Invalid`] naming "private_key" or "key_id" on bad input.
pub fn sign_playback_token(
    private_key_pem: &str,
    key_id: &str,
    playback_id: &str,
    audience: PlaybackAudience,
    exp: i64,
) -> Result<String> {
    sign_playback_token_for(private_key_pem, key_id, playback_id, audience, exp, None)
}

/// [`sign_playback_token`] with `uid` = `user_id` when given; `iat` is
/// now, to the millisecond.
pub(crate) fn sign_playback_token_for(
    private_key_pem: &str,
    key_id: &str,
    playback_id: &str,
    audience: PlaybackAudience,
    exp: i64,
    user_id: Option<&str>,
) -> Result<String> {
    if key_id.is_empty() || key_id.len() > 128 {
        return Err(Error::invalid("key_id", "must be 1 to 128 bytes"));
    }
    let der = pem_decode("PRIVATE KEY", private_key_pem)
        .ok_or_else(|| Error::invalid("private_key", "is not a PKCS#8 PEM private key"))?;
    // Try the two key types this server issues.
    enum Signer {
        Rsa(RsaKeyPair),
        Ec(EcdsaKeyPair),
    }
    let signer = if let Ok(pair) = RsaKeyPair::from_pkcs8(&der) {
        Signer::Rsa(pair)
    } else if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der) {
        Signer::Ec(pair)
    } else {
        return Err(Error::invalid(
            "private_key",
            "is neither an RSA nor a P-256 key",
        ));
    };
    let alg = match signer {
        Signer::Rsa(_) => SigningAlgorithm::Rs256,
        Signer::Ec(_) => SigningAlgorithm::Es256,
    };
    let header = serde_json::json!({ "alg": alg.as_str(), "typ": "JWT", "kid": key_id });
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut claims = serde_json::json!({
        "sub": playback_id,
        "aud": audience.as_str(),
        "exp": exp,
        "iat": iat as f64 / 1000.0,
        "kid": key_id,
    });
    if let Some(user_id) = user_id {
        claims["uid"] = user_id.into();
    }
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let rng = SystemRandom::new();
    let signature = match signer {
        Signer::Rsa(pair) => {
            let mut signature = vec![0; pair.public_modulus_len()];
            pair.sign(
                &RSA_PKCS1_SHA256,
                &rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::Crypto("RSA signing failed".into()))?;
            signature
        }
        Signer::Ec(pair) => pair
            .sign(&rng, signing_input.as_bytes())
            .map_err(|_| Error::Crypto("ECDSA signing failed".into()))?
            .as_ref()
            .to_vec(),
    };
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_750_000_000_000;
    const NOW_S: i64 = NOW_MS / 1000;

    fn key(pair: &GeneratedKeyPair, key_id: &str) -> VerifyingKey {
        VerifyingKey::from_pem(key_id, pair.algorithm, &pair.public_key_pem).unwrap()
    }

    fn verify(token: &str, key: &VerifyingKey) -> Result<PlaybackClaims, TokenError> {
        verify_playback_token_with(token, key, "pb1", PlaybackAudience::Video, NOW_MS)
    }

    #[test]
    fn round_trip_both_algorithms() {
        for alg in SigningAlgorithm::ALL {
            let pair = generate_key_pair(*alg).unwrap();
            assert!(
                pair.private_key_pem
                    .starts_with("-----BEGIN PRIVATE KEY-----\n")
            );
            assert!(
                pair.public_key_pem
                    .starts_with("-----BEGIN PUBLIC KEY-----\n")
            );
            let k = key(&pair, "k1");
            let token = sign_playback_token(
                &pair.private_key_pem,
                "k1",
                "pb1",
                PlaybackAudience::Video,
                NOW_S + 60,
            )
            .unwrap();
            let claims = verify(&token, &k).unwrap();
            assert_eq!(
                claims,
                PlaybackClaims {
                    sub: "pb1".into(),
                    aud: PlaybackAudience::Video,
                    exp: NOW_S + 60,
                    issued_at_ms: claims.issued_at_ms,
                    minted_for: None,
                    key_id: "k1".into(),
                }
            );
            assert_eq!(token_key_id(&token).unwrap(), "k1");
        }
    }

    #[test]
    fn claims_are_checked() {
        let pair = generate_key_pair(SigningAlgorithm::Es256).unwrap();
        let k = key(&pair, "k1");
        let sign = |sub: &str, aud, exp| {
            sign_playback_token(&pair.private_key_pem, "k1", sub, aud, exp).unwrap()
        };
        // Within the skew allowance, then past it.
        assert!(
            verify(
                &sign("pb1", PlaybackAudience::Video, NOW_S - CLOCK_SKEW_S),
                &k
            )
            .is_ok()
        );
        assert!(matches!(
            verify(
                &sign("pb1", PlaybackAudience::Video, NOW_S - CLOCK_SKEW_S - 1),
                &k
            ),
            Err(TokenError::Expired)
        ));
        assert!(matches!(
            verify(&sign("pb2", PlaybackAudience::Video, NOW_S + 60), &k),
            Err(TokenError::WrongPlaybackId)
        ));
        assert!(matches!(
            verify(&sign("pb1", PlaybackAudience::Thumbnail, NOW_S + 60), &k),
            Err(TokenError::WrongAudience)
        ));
        let thumb = sign("pb1", PlaybackAudience::Thumbnail, NOW_S + 60);
        assert!(
            verify_playback_token_with(&thumb, &k, "pb1", PlaybackAudience::Thumbnail, NOW_MS)
                .is_ok()
        );
    }

    /// A token with hand-made claims, signed properly.
    fn forge(
        pair: &GeneratedKeyPair,
        header: serde_json::Value,
        claims: serde_json::Value,
    ) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let der = pem_decode("PRIVATE KEY", &pair.private_key_pem).unwrap();
        let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).unwrap();
        let sig = ec.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    #[test]
    fn header_and_claim_shapes() {
        let pair = generate_key_pair(SigningAlgorithm::Es256).unwrap();
        let k = key(&pair, "k1");
        let h = serde_json::json!({"alg": "ES256", "kid": "k1"});
        let ok = serde_json::json!({"sub": "pb1", "aud": "v", "exp": NOW_S + 60});
        assert!(verify(&forge(&pair, h.clone(), ok.clone()), &k).is_ok());
        // Mux style: kid only in the claims; aud as an array; fractional exp.
        let mux = forge(
            &pair,
            serde_json::json!({"alg": "ES256", "typ": "JWT"}),
            serde_json::json!({"sub": "pb1", "aud": ["t", "v"], "exp": (NOW_S + 60) as f64 + 0.5, "kid": "k1"}),
        );
        assert!(verify(&mux, &k).is_ok());

        for (header, claims, expect) in [
            (
                h.clone(),
                serde_json::json!({"sub": "pb1", "aud": "v"}),
                "no exp",
            ),
            (
                h.clone(),
                serde_json::json!({"aud": "v", "exp": NOW_S + 60}),
                "no sub",
            ),
            (
                h.clone(),
                serde_json::json!({"sub": "pb1", "exp": NOW_S + 60}),
                "no aud",
            ),
            (
                h.clone(),
                serde_json::json!({"sub": "pb1", "aud": "v", "exp": "soon"}),
                "claims",
            ),
            (serde_json::json!({"alg": "ES256"}), ok.clone(), "no kid"),
            (
                serde_json::json!({"alg": "ES256", "kid": "k1"}),
                serde_json::json!({"sub": "pb1", "aud": "v", "exp": NOW_S + 60, "kid": "k2"}),
                "different keys",
            ),
            (
                serde_json::json!({"alg": "ES256", "kid": "k1", "crit": ["b64"]}),
                ok.clone(),
                "critical",
            ),
        ] {
            match verify(&forge(&pair, header, claims), &k) {
                Err(TokenError::Malformed(why)) => {
                    assert!(why.contains(expect), "{why} / {expect}")
                }
                other => panic!("{expect}: {other:?}"),
            }
        }
        let nbf =
            serde_json::json!({"sub": "pb1", "aud": "v", "exp": NOW_S + 600, "nbf": NOW_S + 300});
        assert!(matches!(
            verify(&forge(&pair, h, nbf), &k),
            Err(TokenError::NotYetValid)
        ));
    }

    #[test]
    fn algorithm_is_the_keys_not_the_headers() {
        let pair = generate_key_pair(SigningAlgorithm::Es256).unwrap();
        let k = key(&pair, "k1");
        let claims = serde_json::json!({"sub": "pb1", "aud": "v", "exp": NOW_S + 60});
        for alg in ["none", "HS256", "RS256", "es256"] {
            let token = forge(
                &pair,
                serde_json::json!({"alg": alg, "kid": "k1"}),
                claims.clone(),
            );
            assert!(
                matches!(verify(&token, &k), Err(TokenError::WrongAlgorithm { .. })),
                "{alg}"
            );
        }
        // An unsigned token: empty signature.
        let input = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        assert!(matches!(verify(&input, &k), Err(TokenError::BadSignature)));
    }

    #[test]
    fn tampering_and_wrong_keys_fail() {
        let pair = generate_key_pair(SigningAlgorithm::Rs256).unwrap();
        let other = generate_key_pair(SigningAlgorithm::Rs256).unwrap();
        let token = sign_playback_token(
            &pair.private_key_pem,
            "k1",
            "pb1",
            PlaybackAudience::Video,
            NOW_S + 60,
        )
        .unwrap();
        assert!(matches!(
            verify(&token, &key(&other, "k1")),
            Err(TokenError::BadSignature)
        ));
        assert!(matches!(
            verify(&token, &key(&pair, "k2")),
            Err(TokenError::UnknownKey(_))
        ));

        // Swap in claims for another playback id, keep the signature.
        let parts: Vec<&str> = token.split('.').collect();
        let evil = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"sub": "pb1", "aud": "v", "exp": NOW_S + 6000, "kid": "k1"})
                .to_string(),
        );
        let tampered = format!("{}.{evil}.{}", parts[0], parts[2]);
        assert!(matches!(
            verify(&tampered, &key(&pair, "k1")),
            Err(TokenError::BadSignature)
        ));

        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!", &"a".repeat(5000)] {
            assert!(
                matches!(token_key_id(bad), Err(TokenError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bad_keys_name_the_field() {
        let pair = generate_key_pair(SigningAlgorithm::Es256).unwrap();
        assert!(matches!(
            VerifyingKey::from_pem("k", SigningAlgorithm::Rs256, &pair.public_key_pem),
            Err(Error::Invalid {
                field: "public_key",
                ..
            })
        ));
        assert!(matches!(
            VerifyingKey::from_pem("k", SigningAlgorithm::Es256, "nope"),
            Err(Error::Invalid {
                field: "public_key",
                ..
            })
        ));
        assert!(matches!(
            sign_playback_token(&pair.public_key_pem, "k", "pb", PlaybackAudience::Video, 1),
            Err(Error::Invalid {
                field: "private_key",
                ..
            })
        ));
        assert!(matches!(
            sign_playback_token(&pair.private_key_pem, "", "pb", PlaybackAudience::Video, 1),
            Err(Error::Invalid {
                field: "key_id",
                ..
            })
        ));
    }

    /// `jsonwebtoken` is an independent implementation: what we sign, it
    /// verifies, and what it signs with our keys, we verify.
    #[test]
    fn interoperates_with_jsonwebtoken() {
        use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

        #[derive(serde::Serialize, serde::Deserialize)]
        struct C {
            sub: String,
            aud: String,
            exp: i64,
        }
        // jsonwebtoken checks exp against the real clock.
        let exp = crate::Clock::system().now_ms() / 1000 + 600;
        let now_ms = crate::Clock::system().now_ms();
        for (alg, jwt_alg) in [
            (SigningAlgorithm::Rs256, Algorithm::RS256),
            (SigningAlgorithm::Es256, Algorithm::ES256),
        ] {
            let pair = generate_key_pair(alg).unwrap();
            let (enc, dec) = match alg {
                SigningAlgorithm::Rs256 => (
                    EncodingKey::from_rsa_pem(pair.private_key_pem.as_bytes()).unwrap(),
                    DecodingKey::from_rsa_pem(pair.public_key_pem.as_bytes()).unwrap(),
                ),
                SigningAlgorithm::Es256 => (
                    EncodingKey::from_ec_pem(pair.private_key_pem.as_bytes()).unwrap(),
                    DecodingKey::from_ec_pem(pair.public_key_pem.as_bytes()).unwrap(),
                ),
            };
            let ours = sign_playback_token(
                &pair.private_key_pem,
                "k1",
                "pb1",
                PlaybackAudience::Video,
                exp,
            )
            .unwrap();
            let mut validation = Validation::new(jwt_alg);
            validation.set_audience(&["v"]);
            let decoded = jsonwebtoken::decode::<C>(&ours, &dec, &validation).unwrap();
            assert_eq!(decoded.claims.sub, "pb1");
            assert_eq!(decoded.header.kid.as_deref(), Some("k1"));

            let mut header = Header::new(jwt_alg);
            header.kid = Some("k1".into());
            let theirs = jsonwebtoken::encode(
                &header,
                &C {
                    sub: "pb1".into(),
                    aud: "v".into(),
                    exp,
                },
                &enc,
            )
            .unwrap();
            let claims = verify_playback_token_with(
                &theirs,
                &key(&pair, "k1"),
                "pb1",
                PlaybackAudience::Video,
                now_ms,
            )
            .unwrap();
            assert_eq!(claims.exp, exp);
        }
    }
}
