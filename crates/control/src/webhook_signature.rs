//! Webhook request signatures, after Stripe's scheme.
//!
//! Every delivery is a `POST` of the event's JSON body with the header
//!
//! ```text
//! X-Aethex-Signature: t=1718000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//! ```
//!
//! where `t` is the unix time in seconds when the request was signed and
//! `v1` is the lowercase hex HMAC-SHA256, keyed with the endpoint's secret
//! (the whole `whsec_...` string, as bytes), of `"{t}.{body}"`. A receiver
//! recomputes it over the raw body it received, compares in constant time,
//! and refuses timestamps too far from its own clock (replays). `v1` names
//! the scheme so a later one can be sent alongside during a migration;
//! receivers ignore keys they do not know.

use aws_lc_rs::hmac;

/// Name of the signature header.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "X-Aethex-Signature";

/// Lowercase hex HMAC-SHA256 of `"{timestamp}.{body}"` keyed with `secret`.
pub fn webhook_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    hex::encode(ctx.sign().as_ref())
}

/// The value of the [`WEBHOOK_SIGNATURE_HEADER`] header:
/// `t={timestamp},v1={signature}`.
pub fn webhook_signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        webhook_signature(secret, timestamp, body)
    )
}

/// What a receiver does, for tests and as a reference: parses the header,
/// refuses a timestamp more than `tolerance_s` seconds from `now_s`, and
/// compares each `v1` in constant time.
pub fn verify_webhook_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now_s: i64,
    tolerance_s: i64,
) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if now_s.abs_diff(timestamp) > tolerance_s.unsigned_abs() {
        return false;
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut message = Vec::with_capacity(body.len() + 21);
    message.extend_from_slice(timestamp.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    signatures
        .iter()
        .any(|sig| hmac::verify(&key, &message, sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_4231_test_case_2() {
        // The primitive: RFC 4231 §4.3 (key "Jefe").
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let tag = hmac::sign(&key, b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(tag.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // The signed message is exactly "{timestamp}.{body}".
        let direct = hex::encode(
            hmac::sign(
                &hmac::Key::new(hmac::HMAC_SHA256, b"whsec_x"),
                b"1718000000.{\"a\":1}",
            )
            .as_ref(),
        );
        assert_eq!(
            webhook_signature("whsec_x", 1_718_000_000, br#"{"a":1}"#),
            direct
        );
    }

    #[test]
    fn header_round_trip() {
        let body = br#"{"type":"vod.ready"}"#;
        let header = webhook_signature_header("whsec_abc", 1_718_000_000, body);
        assert!(header.starts_with("t=1718000000,v1="));
        assert_eq!(header.len(), "t=1718000000,v1=".len() + 64);
        assert!(verify_webhook_signature(
            "whsec_abc",
            &header,
            body,
            1_718_000_100,
            300
        ));
        // Another secret, a changed body, a stale timestamp, garbage.
        assert!(!verify_webhook_signature(
            "whsec_abd",
            &header,
            body,
            1_718_000_000,
            300
        ));
        assert!(!verify_webhook_signature(
            "whsec_abc",
            &header,
            b"{}",
            1_718_000_000,
            300
        ));
        assert!(!verify_webhook_signature(
            "whsec_abc",
            &header,
            body,
            1_718_000_301,
            300
        ));
        assert!(!verify_webhook_signature(
            "whsec_abc",
            "v1=00",
            body,
            1_718_000_000,
            300
        ));
        // Extra schemes and spaces are tolerated.
        let spaced = header.replace(",v1=", ", v0=zz, v1=");
        assert!(verify_webhook_signature(
            "whsec_abc",
            &spaced,
            body,
            1_718_000_000,
            300
        ));
    }
}
