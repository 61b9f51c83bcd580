//! Who is calling: the [`Caller`] extractor, and the session cookies.
//!
//! Two kinds of credentials, checked in this order:
//!
//! * `Authorization: Bearer aethex_...`: an API token
//!   ([`control::Db::api_token_by_secret`]), or the same token as Mux's
//!   access tokens are sent, `Authorization: Basic base64(TOKEN_ID:SECRET)`
//!   (the id is `api_token_id`, so Mux SDKs configured with our token's id
//!   and secret authenticate unchanged). A header that is present but
//!   not a current token is a 401, never a fallback to anonymous: a script
//!   with a revoked token should fail loudly. Browsers never attach this
//!   header on their own, so token requests need no CSRF defence.
//! * The session cookie [`SESSION_COOKIE`] set by `POST /auth/login`
//!   (`HttpOnly; SameSite=Lax`, `Secure` per [`CookieSecure`]). An unknown
//!   or expired cookie counts as anonymous, so a stale cookie does not
//!   break public pages. Browsers *do* attach cookies on their own, so a
//!   cookie-authenticated POST, PATCH, PUT or DELETE must carry the
//!   session's CSRF token in [`CSRF_HEADER`] (403 otherwise), checked in
//!   constant time by [`control::Session::verify_csrf`]. The token comes
//!   in the login response, and also in the non-HttpOnly cookie
//!   [`CSRF_COOKIE`] so the web UI finds it again after a reload; a page
//!   on another site can make the browser send both cookies but can read
//!   neither, so it cannot fill in the header.
//!
//! Every handler that needs to know the caller extracts [`Caller`], so
//! the CSRF check cannot be forgotten by a write handler.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use base64::Engine;
use control::{ApiToken, Role, Session, User};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, header};

use super::Ctx;
use super::config::CookieSecure;
use crate::ApiError;

/// The session cookie (HttpOnly).
pub(crate) const SESSION_COOKIE: &str = "aethex_session";
/// The CSRF token, readable by the web UI's scripts.
pub(crate) const CSRF_COOKIE: &str = "aethex_csrf";
/// Where cookie-authenticated writes put the CSRF token.
pub(crate) const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub(crate) enum Credential {
    Session(Session),
    Token(ApiToken),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    pub user: User,
    pub credential: Credential,
}

/// The caller of a request: a user, or anonymous (`None`).
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub Option<Principal>);

impl Caller {
    /// The caller, or 401.
    pub(crate) fn require(&self) -> Result<&Principal, ApiError> {
        self.0.as_ref().ok_or_else(|| {
            ApiError::unauthorized(
                "unauthenticated",
                "log in, or send an API token as Authorization: Bearer",
            )
        })
    }

    pub(crate) fn user(&self) -> Option<&User> {
        self.0.as_ref().map(|p| &p.user)
    }

    pub(crate) fn user_id(&self) -> Option<&str> {
        self.user().map(|u| u.user_id.as_str())
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.user().is_some_and(|u| u.role == Role::Admin)
    }

    /// Whether the caller is `user_id`, or an admin.
    pub(crate) fn is_or_admin(&self, user_id: &str) -> bool {
        self.is_admin() || self.user_id() == Some(user_id)
    }
}

impl FromRequestParts<Ctx> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Caller, ApiError> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let invalid = || {
                ApiError::unauthorized(
                    "invalid_token",
                    "the Authorization header is not a current API token",
                )
            };
            let value = value.to_str().map_err(|_| invalid())?;
            let (scheme, credentials) = value.trim().split_once(' ').ok_or_else(invalid)?;
            // Bearer SECRET, or Mux's Basic base64(TOKEN_ID:SECRET): the
            // secret finds the token, and the id must then name it too.
            let (token_id, secret) = if scheme.eq_ignore_ascii_case("bearer") {
                (None, credentials.trim().to_owned())
            } else if scheme.eq_ignore_ascii_case("basic") {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(credentials.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(invalid)?;
                let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
                (Some(id.to_owned()), secret.to_owned())
            } else {
                return Err(invalid());
            };
            let (user, token) = ctx
                .db
                .api_token_by_secret(&secret)
                .await?
                .filter(|(_, token)| token_id.as_ref().is_none_or(|id| *id == token.api_token_id))
                .ok_or_else(invalid)?;
            let principal = Principal {
                user,
                credential: Credential::Token(token),
            };
            principal.log();
            return Ok(Caller(Some(principal)));
        }
        let Some(cookie) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(Caller(None));
        };
        let Some((user, session)) = ctx.db.session(cookie).await? else {
            return Ok(Caller(None));
        };
        if !parts.method.is_safe() {
            let token = parts
                .headers
                .get(&CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if token.is_empty() {
                return Err(ApiError::forbidden(
                    "csrf_token_missing",
                    "cookie-authenticated writes need the X-CSRF-Token header",
                ));
            }
            if !session.verify_csrf(token) {
                return Err(ApiError::forbidden(
                    "csrf_token_invalid",
                    "the X-CSRF-Token header is not this session's CSRF token",
                ));
            }
        }
        let principal = Principal {
            user,
            credential: Credential::Session(session),
        };
        principal.log();
        Ok(Caller(Some(principal)))
    }
}

impl Principal {
    /// Who the request acts as, in the request's log span (ids only: never
    /// the cookie or the token's secret).
    fn log(&self) {
        match &self.credential {
            Credential::Session(s) => tracing::debug!(
                user = %self.user.user_id,
                session = %s.session_id,
                "authenticated by session cookie"
            ),
            Credential::Token(t) => tracing::debug!(
                user = %self.user.user_id,
                api_token = %t.api_token_id,
                "authenticated by API token"
            ),
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// Whether the request came over HTTPS, as far as this server can tell.
fn came_over_https(parts: &Parts) -> bool {
    if parts.uri.scheme_str() == Some("https") {
        return true;
    }
    let forwarded_proto = parts
        .headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = parts
        .headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split([';', ','])
                .any(|kv| kv.trim().eq_ignore_ascii_case("proto=https"))
        });
    forwarded_proto || forwarded
}

/// The two `Set-Cookie` values of a login (or, with `None`, of a logout,
/// which expires both).
pub(crate) fn session_cookies(
    parts: &Parts,
    policy: CookieSecure,
    login: Option<(&str, &str, u64)>,
) -> [HeaderValue; 2] {
    let secure = match policy {
        CookieSecure::Always => true,
        CookieSecure::Never => false,
        CookieSecure::Auto => came_over_https(parts),
    };
    let secure = if secure { "; Secure" } else { "" };
    let (session, csrf, max_age) = login.unwrap_or(("", "", 0));
    // The values are alphanumeric tokens: nothing to quote or escape.
    let make = |name: &str, value: &str, http_only: &str| {
        let text =
            format!("{name}={value}; Path=/; Max-Age={max_age}{http_only}; SameSite=Lax{secure}");
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    };
    [
        make(SESSION_COOKIE, session, "; HttpOnly"),
        make(CSRF_COOKIE, csrf, ""),
    ]
}

/// The client's IP, for the login limit: the TCP peer (when the server
/// runs with connect info), or with `trust_forwarded_for` the last
/// `X-Forwarded-For` entry. `None` when unknown: the per-IP limit then
/// does not apply (one shared "unknown" bucket would let anyone lock
/// everyone out).
pub(crate) fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    crate::client_address(&parts.headers, peer, trust_forwarded_for)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::builder().uri("/api/v1/auth/login");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn finds_cookies_among_others() {
        let p = parts(&[
            ("cookie", "a=1; aethex_session=abc"),
            ("cookie", "aethex_csrf=xyz"),
        ]);
        assert_eq!(cookie(&p.headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&p.headers, CSRF_COOKIE), Some("xyz"));
        assert_eq!(cookie(&p.headers, "missing"), None);
        let p = parts(&[("cookie", "aethex_session=")]);
        assert_eq!(cookie(&p.headers, SESSION_COOKIE), None);
    }

    #[test]
    fn cookies_are_secure_when_asked_or_over_https() {
        let set = |p: &Parts, policy| session_cookies(p, policy, Some(("s", "c", 60)));
        let plain = parts(&[]);
        let [session, csrf] = set(&plain, CookieSecure::Auto);
        assert_eq!(
            session,
            "aethex_session=s; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
        assert_eq!(csrf, "aethex_csrf=c; Path=/; Max-Age=60; SameSite=Lax");
        let [session, _] = set(&plain, CookieSecure::Always);
        assert!(session.to_str().unwrap().ends_with("; Secure"));
        for header in [
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=1.2.3.4;proto=https"),
        ] {
            let [session, csrf] = set(&parts(&[header]), CookieSecure::Auto);
            assert!(
                session.to_str().unwrap().ends_with("; Secure"),
                "{header:?}"
            );
            assert!(csrf.to_str().unwrap().ends_with("; Secure"), "{header:?}");
        }
        let [session, _] = set(
            &parts(&[("x-forwarded-proto", "https")]),
            CookieSecure::Never,
        );
        assert!(!session.to_str().unwrap().contains("Secure"));
        let [session, _] = session_cookies(&plain, CookieSecure::Auto, None);
        assert_eq!(
            session,
            "aethex_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn client_ip_trusts_forwarded_for_only_when_told() {
        let mut p = parts(&[("x-forwarded-for", "10.0.0.1, 192.0.2.7")]);
        assert_eq!(client_ip(&p, true), Some(IpAddr::from([192, 0, 2, 7])));
        assert_eq!(client_ip(&p, false), None);
        p.extensions
            .insert(ConnectInfo(SocketAddr::from(([198, 51, 100, 1], 4000))));
        assert_eq!(client_ip(&p, false), Some(IpAddr::from([198, 51, 100, 1])));
    }
}
