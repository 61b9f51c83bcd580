//! Signed playback: the check every media route (HLS origin, recordings,
//! clips, thumbnails) makes before serving a channel's media, and what a
//! granted request changes in the answer.
//!
//! A channel whose playback policy is `signed` (always the case for private
//! channels) serves media only to requests carrying `?token=JWT`, a token
//! for the media's playback id signed by one of its owner's signing keys
//! (or the server's own, minted by the API for the web UI), for the right
//! audience (`v`: playlists and segments, `t`: thumbnails and posters),
//! not expired. Public channels need nothing and cost nothing here.
//!
//! A playlist served to a token holder carries the token on every relative
//! URI it contains ([`Grant::playlist`]): variant playlists, segments,
//! `EXT-X-MAP` init segments, LL-HLS parts, preload hints and rendition
//! reports, so players (hls.js, ffplay, Safari) follow them without knowing
//! about tokens. Blocking-reload directives (`_HLS_msn`, ...) are added by
//! players after the token (`?token=..&_HLS_msn=..`), which the origin
//! accepts in any order.
//!
//! # Verification cache
//!
//! [`control::Db::verify_playback_token`] costs two indexed lookups, and a
//! player asks for a segment every few seconds (LL-HLS: a part or a
//! blocking reload several times a second). A token that verified for a
//! playback id and audience is therefore remembered for
//! [`VERIFIED_TTL`] (never past its own expiry). Refusals are not cached.
//! Deleting a signing key through the API forgets its tokens on this node
//! at once ([`forget_signing_key`]); other nodes of a cluster stop
//! accepting them within [`VERIFIED_TTL`].
//!
//! # Revocation
//!
//! What the cache remembers is the signature's verdict, not the channel's:
//! every request compares the token's `iat` with the channel's
//! `playback_tokens_not_before_ms` (read with the channel, so revoking,
//! rotating the playback id, or making the channel private or signed
//! refuses older tokens at once on the node that made the change, and
//! within a second on the others: live routes reuse a channel read for
//! up to [`crate::lookups::TTL`]), and a token the server
//! minted for a user is refused once that user may not see the channel
//! (the user's role is cached with the verdict, so a deleted user's
//! tokens stop within [`VERIFIED_TTL`]). A rotated playback id stops
//! playing at once, since no channel answers to it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use control::{Channel, PlaybackAudience, PlaybackPolicy, Role, TokenError, Visibility};
use http::HeaderValue;

use crate::{ApiError, AppState};

/// How long a verified token is accepted without asking the database again.
pub(crate) const VERIFIED_TTL: Duration = Duration::from_secs(15);

/// Most tokens remembered at once; past this, expired entries are dropped,
/// and if that is not enough, all of them.
const VERIFIED_MAX_ENTRIES: usize = 8192;

/// What a media request may be given, once [`check_playback`] allowed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Grant {
    /// The channel's playback is public: serve as always.
    Public,
    /// Signed playback, allowed by this (verified) token.
    Token(String),
}

impl Grant {
    /// The token to propagate, for signed playback.
    pub(crate) fn token(&self) -> Option<&str> {
        match self {
            Grant::Public => None,
            Grant::Token(token) => Some(token),
        }
    }

    /// The playlist as served to this request: unchanged for public
    /// playback, else with `token=` on every relative URI.
    pub(crate) fn playlist(&self, playlist: Bytes) -> Bytes {
        match self.token() {
            None => playlist,
            Some(token) => rewrite_uris(&playlist, None, Some(token)),
        }
    }

    /// The `Cache-Control` of a response to this request: signed media is
    /// only for whoever holds the token, so shared caches must not keep it
    /// (`public` becomes `private`; `no-cache` stays as it is).
    pub(crate) fn cache_control(&self, value: HeaderValue) -> HeaderValue {
        match self {
            Grant::Public => value,
            Grant::Token(_) => match value.to_str() {
                Ok(v) if v.contains("public") => {
                    HeaderValue::from_str(&v.replace("public", "private")).unwrap_or(value)
                }
                _ => value,
            },
        }
    }
}

/// Whether `channel`'s media may be served to a request with `token`
/// for the channel's playback id; see [`check_playback_for`].
pub(crate) async fn check_playback(
    state: &AppState,
    channel: &Channel,
    token: Option<&str>,
    audience: PlaybackAudience,
) -> Result<Grant, ApiError> {
    check_playback_for(
        state,
        channel,
        &[channel.playback_id.as_str()],
        token,
        audience,
    )
    .await
}

/// Whether `channel`'s media may be served to a request with `token`: for
/// a public channel always ([`Grant::Public`]); for a signed one (or a
/// private one: private playback is always signed) only with a token for
/// one of `playback_ids` (e.g. a recording's VOD id, then its channel's
/// playback id) and `audience`.
///
/// 403 `playback_token_required` without a token, 403
/// `invalid_playback_token` with one that does not verify (the message
/// says why: expired, wrong playback id, bad signature, unknown key, ...).
pub(crate) async fn check_playback_for(
    state: &AppState,
    channel: &Channel,
    playback_ids: &[&str],
    token: Option<&str>,
    audience: PlaybackAudience,
) -> Result<Grant, ApiError> {
    if channel.playback_policy == PlaybackPolicy::Public
        && channel.visibility != Visibility::Private
    {
        return Ok(Grant::Public);
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(ApiError::forbidden(
            "playback_token_required",
            "this channel's playback is signed: add ?token= with a playback token",
        ));
    };
    let now_ms = now_ms();
    if let Some(verified) = playback_ids
        .iter()
        .find_map(|id| cached(&state.caches.verified, token, id, audience, now_ms))
    {
        return admit(channel, token, &verified);
    }
    let mut refusal = TokenError::WrongPlaybackId;
    for playback_id in playback_ids {
        match state
            .db
            .verify_playback_token(token, playback_id, audience, now_ms)
            .await
        {
            Ok(claims) => {
                let minted_for = match &claims.minted_for {
                    Some(user_id) => Some((
                        user_id.clone(),
                        state.db.user(user_id).await?.map(|u| u.role),
                    )),
                    None => None,
                };
                let verified = remember(
                    &state.caches.verified,
                    token,
                    playback_id,
                    audience,
                    &claims,
                    minted_for,
                    now_ms,
                );
                return admit(channel, token, &verified);
            }
            // A token for another of the accepted ids may still pass.
            Err(TokenError::WrongPlaybackId) => {}
            Err(TokenError::Database(e)) => return Err(e.into()),
            Err(e) => {
                refusal = e;
                break;
            }
        }
    }
    Err(ApiError::forbidden(
        "invalid_playback_token",
        format!("playback token refused: {refusal}"),
    ))
}

/// A verified token against the channel as it is now: refused if the
/// channel revoked tokens issued before it, or if the server minted it for
/// a user who may no longer see the channel (gone, or the channel went
/// private and they are neither its owner nor an admin).
fn admit(channel: &Channel, token: &str, verified: &Verified) -> Result<Grant, ApiError> {
    let refused = |why: &str| {
        Err(ApiError::forbidden(
            "invalid_playback_token",
            format!("playback token refused: {why}"),
        ))
    };
    // A tie counts as before: revocation wins (a token issued in the same
    // millisecond, or the same second for a whole-second `iat`, needs to be
    // issued again).
    if let Some(cutoff_ms) = channel.playback_tokens_not_before_ms
        && verified.issued_at_ms.is_none_or(|iat| iat <= cutoff_ms)
    {
        return refused("the channel revoked the tokens issued before it (ask for a new one)");
    }
    if let Some((user_id, role)) = &verified.minted_for {
        let may_see = match role {
            None => false,
            Some(role) => {
                channel.visibility != Visibility::Private
                    || *role == Role::Admin
                    || *user_id == channel.owner_user_id
            }
        };
        if !may_see {
            return refused("the user it was issued to may no longer watch this channel");
        }
    }
    Ok(Grant::Token(token.to_owned()))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    token: String,
    playback_id: String,
    audience: PlaybackAudience,
}

#[derive(Clone)]
struct Verified {
    key_id: String,
    /// Unix milliseconds.
    valid_until_ms: i64,
    /// The token's `iat`, unix milliseconds.
    issued_at_ms: Option<i64>,
    /// The user a server-minted token was issued to, and their role when
    /// it was verified (`None`: no such user any more).
    minted_for: Option<(String, Option<Role>)>,
}

/// Tokens verified lately, per application (in [`crate::AppState`]).
#[derive(Default)]
pub(crate) struct VerifiedCache(Mutex<HashMap<CacheKey, Verified>>);

impl VerifiedCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Verified>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn cached(
    cache: &VerifiedCache,
    token: &str,
    playback_id: &str,
    audience: PlaybackAudience,
    now_ms: i64,
) -> Option<Verified> {
    let key = CacheKey {
        token: token.to_owned(),
        playback_id: playback_id.to_owned(),
        audience,
    };
    let mut map = cache.lock();
    match map.get(&key) {
        Some(v) if v.valid_until_ms > now_ms => Some(v.clone()),
        Some(_) => {
            map.remove(&key);
            None
        }
        None => None,
    }
}

fn remember(
    cache: &VerifiedCache,
    token: &str,
    playback_id: &str,
    audience: PlaybackAudience,
    claims: &control::PlaybackClaims,
    minted_for: Option<(String, Option<Role>)>,
    now_ms: i64,
) -> Verified {
    // Accepted until `exp` plus the clock allowance, as the verifier does.
    let expires_ms = claims
        .exp
        .saturating_add(control::CLOCK_SKEW_S)
        .saturating_mul(1000);
    let ttl_ms = i64::try_from(VERIFIED_TTL.as_millis()).unwrap_or(i64::MAX);
    let valid_until_ms = now_ms.saturating_add(ttl_ms).min(expires_ms);
    let mut map = cache.lock();
    if map.len() >= VERIFIED_MAX_ENTRIES {
        map.retain(|_, v| v.valid_until_ms > now_ms);
        if map.len() >= VERIFIED_MAX_ENTRIES {
            map.clear();
        }
    }
    let verified = Verified {
        key_id: claims.key_id.clone(),
        valid_until_ms,
        issued_at_ms: claims.issued_at_ms,
        minted_for,
    };
    map.insert(
        CacheKey {
            token: token.to_owned(),
            playback_id: playback_id.to_owned(),
            audience,
        },
        verified.clone(),
    );
    verified
}

/// Forgets every token signed by `signing_key_id` (called when it is
/// deleted, so its tokens stop working on this node at once).
pub(crate) fn forget_signing_key(state: &AppState, signing_key_id: &str) {
    state
        .caches
        .verified
        .lock()
        .retain(|_, v| v.key_id != signing_key_id);
}

/// Rewrites every URI of a playlist (URI lines and `URI="..."` attributes):
/// with `prefix`, `{prefix}/` goes before it (`source/index.m3u8` becomes
/// `{live_stream_id}/source/index.m3u8`); with `token`, `token=...` is
/// added to its query (`?token=` or `&token=`). Absolute URIs
/// (`scheme://...`) never get the token: it is for this origin only.
pub(crate) fn rewrite_uris(playlist: &[u8], prefix: Option<&str>, token: Option<&str>) -> Bytes {
    let query = token.map(|t| format!("token={}", percent_encode(t)));
    let extra = prefix.map_or(0, |p| p.len() + 1) + query.as_ref().map_or(0, |q| q.len() + 1);
    let mut out = BytesMut::with_capacity(playlist.len() + 16 * extra);
    let put_uri = |out: &mut BytesMut, uri: &[u8]| {
        if let Some(prefix) = prefix {
            out.put_slice(prefix.as_bytes());
            out.put_u8(b'/');
        }
        out.put_slice(uri);
        if let Some(query) = &query
            && !uri.is_empty()
            && find(uri, b"://").is_none()
        {
            out.put_u8(if uri.contains(&b'?') { b'&' } else { b'?' });
            out.put_slice(query.as_bytes());
        }
    };
    for line in playlist.split_inclusive(|b| *b == b'\n') {
        let content_len = line.trim_ascii_end().len();
        let (content, ending) = line.split_at(content_len);
        if content.trim_ascii().is_empty() {
            out.put_slice(line);
        } else if content.trim_ascii_start().starts_with(b"#") {
            let mut rest = content;
            while let Some(at) = find(rest, b"URI=\"") {
                let (head, tail) = rest.split_at(at + 5);
                out.put_slice(head);
                let Some(end) = tail.iter().position(|b| *b == b'"') else {
                    // Unterminated: prefix it, but add nothing after it.
                    if let Some(prefix) = prefix {
                        out.put_slice(prefix.as_bytes());
                        out.put_u8(b'/');
                    }
                    rest = tail;
                    break;
                };
                put_uri(&mut out, &tail[..end]);
                rest = &tail[end..];
            }
            out.put_slice(rest);
            out.put_slice(ending);
        } else {
            put_uri(&mut out, content);
            out.put_slice(ending);
        }
    }
    out.freeze()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Percent-encodes everything but RFC 3986 unreserved characters (a JWT is
/// base64url and dots, so it passes unchanged).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(playlist: &str, prefix: Option<&str>, token: Option<&str>) -> String {
        String::from_utf8(rewrite_uris(playlist.as_bytes(), prefix, token).to_vec()).unwrap()
    }

    #[test]
    fn adds_the_token_to_every_uri() {
        let media = "#EXTM3U\r\n#EXT-X-VERSION:9\n#EXT-X-MAP:URI=\"init.mp4\"\n\
                     #EXT-X-PART:DURATION=0.33,URI=\"4.0.m4s\",INDEPENDENT=YES\n\
                     #EXTINF:2.0,\n3.m4s\r\n#EXTINF:2.0,\n4.m4s\n\n\
                     #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"5.1.m4s\"\n\
                     #EXT-X-RENDITION-REPORT:URI=\"../720p/index.m3u8?x=1\",LAST-MSN=4\n\
                     https://cdn.example/abs.ts\n";
        assert_eq!(
            rewrite(media, None, Some("a.b-c_d")),
            "#EXTM3U\r\n#EXT-X-VERSION:9\n#EXT-X-MAP:URI=\"init.mp4?token=a.b-c_d\"\n\
             #EXT-X-PART:DURATION=0.33,URI=\"4.0.m4s?token=a.b-c_d\",INDEPENDENT=YES\n\
             #EXTINF:2.0,\n3.m4s?token=a.b-c_d\r\n#EXTINF:2.0,\n4.m4s?token=a.b-c_d\n\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"5.1.m4s?token=a.b-c_d\"\n\
             #EXT-X-RENDITION-REPORT:URI=\"../720p/index.m3u8?x=1&token=a.b-c_d\",LAST-MSN=4\n\
             https://cdn.example/abs.ts\n"
        );
        // Nothing to do: the same bytes.
        assert_eq!(rewrite(media, None, None), media);
    }

    #[test]
    fn prefixes_and_adds_the_token() {
        let master = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"audio/index.m3u8\"\n\
                      #EXT-X-STREAM-INF:BANDWIDTH=1\nsource/index.m3u8";
        assert_eq!(
            rewrite(master, Some("ls1"), Some("t/k")),
            "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"ls1/audio/index.m3u8?token=t%2Fk\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1\nls1/source/index.m3u8?token=t%2Fk"
        );
    }

    #[test]
    fn signed_responses_are_private() {
        let grant = Grant::Token("t".into());
        assert_eq!(
            grant.cache_control(HeaderValue::from_static("public, max-age=10")),
            "private, max-age=10"
        );
        assert_eq!(
            grant.cache_control(HeaderValue::from_static("no-cache")),
            "no-cache"
        );
        assert_eq!(
            Grant::Public.cache_control(HeaderValue::from_static("public, max-age=10")),
            "public, max-age=10"
        );
    }
}
