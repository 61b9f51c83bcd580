//! Serving one stored media object (a segment, an initialization segment,
//! a part, an exported MP4): from the hot cache when the caller has it
//! there, else from storage; whole, or the one byte range of a `Range`
//! header (RFC 9110 §14), with `Accept-Ranges`, `Content-Range` and 416
//! for a range past the end. Shared by the HLS origin and clip playback.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{ACCEPT_RANGES, CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::{ApiError, AppState};

/// An immutable object (segment, init segment, MP4), whole or the one byte
/// range of a `Range` header.
pub(crate) async fn serve(
    state: &AppState,
    key: &str,
    cached: Option<Bytes>,
    headers: &HeaderMap,
    content_type: HeaderValue,
    cache_control: HeaderValue,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found("not_found", "the media object is missing");
    let range = headers
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_range);
    let (status, body, content_range) = match range {
        // No Range, or one we do not understand (ignored, RFC 9110 §14.2).
        None => {
            let body = match cached {
                Some(body) => body,
                None => state.media.get(key).await?.ok_or_else(not_found)?,
            };
            (StatusCode::OK, body, None)
        }
        Some(spec) => {
            let total = match &cached {
                Some(body) => body.len() as u64,
                None => {
                    state
                        .media
                        .get_range(key, 0..0)
                        .await?
                        .ok_or_else(not_found)?
                        .1
                }
            };
            let Some(range) = spec.resolve(total) else {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(CONTENT_RANGE, format!("bytes */{total}"))],
                )
                    .into_response());
            };
            let body = match cached {
                Some(body) => body.slice(range.start as usize..range.end as usize),
                None => {
                    state
                        .media
                        .get_range(key, range.clone())
                        .await?
                        .ok_or_else(not_found)?
                        .0
                }
            };
            let header = format!("bytes {}-{}/{total}", range.start, range.end - 1);
            (StatusCode::PARTIAL_CONTENT, body, Some(header))
        }
    };
    let mut response = (
        status,
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, cache_control),
            (ACCEPT_RANGES, HeaderValue::from_static("bytes")),
        ],
        body,
    )
        .into_response();
    if let Some(v) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(CONTENT_RANGE, v);
    }
    Ok(response)
}

/// One byte range of a `Range: bytes=...` header (RFC 9110 §14.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RangeSpec {
    /// `bytes=first-` or `bytes=first-last` (last inclusive).
    From { first: u64, last: Option<u64> },
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl RangeSpec {
    /// The half-open range within `total` bytes; `None` if unsatisfiable.
    fn resolve(self, total: u64) -> Option<std::ops::Range<u64>> {
        match self {
            RangeSpec::From { first, last } => {
                if first >= total {
                    return None;
                }
                let end = last.map_or(total, |l| l.saturating_add(1).min(total));
                (end > first).then_some(first..end)
            }
            RangeSpec::Suffix(n) => (n > 0 && total > 0).then(|| total.saturating_sub(n)..total),
        }
    }
}

/// A single-range `Range` header; multiple ranges are not supported (the
/// whole object is served instead, which RFC 9110 allows).
fn parse_range(value: &str) -> Option<RangeSpec> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return last.parse().ok().map(RangeSpec::Suffix);
    }
    let first: u64 = first.parse().ok()?;
    let last = match last {
        "" => None,
        l => Some(l.parse::<u64>().ok().filter(|l| *l >= first)?),
    };
    Some(RangeSpec::From { first, last })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        assert_eq!(
            parse_range("bytes=0-99"),
            Some(RangeSpec::From {
                first: 0,
                last: Some(99)
            })
        );
        assert_eq!(
            parse_range("bytes=100-"),
            Some(RangeSpec::From {
                first: 100,
                last: None
            })
        );
        assert_eq!(parse_range("bytes=-50"), Some(RangeSpec::Suffix(50)));
        assert_eq!(parse_range("bytes=5-1"), None);
        assert_eq!(parse_range("bytes=0-1,5-6"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=x-1"), None);
        let r = |s| parse_range(s).unwrap().resolve(1000);
        assert_eq!(r("bytes=0-99"), Some(0..100));
        assert_eq!(r("bytes=990-2000"), Some(990..1000));
        assert_eq!(r("bytes=-50"), Some(950..1000));
        assert_eq!(r("bytes=-5000"), Some(0..1000));
        assert_eq!(r("bytes=1000-"), None);
    }
}
