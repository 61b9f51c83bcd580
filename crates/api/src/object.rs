//! Serving one stored media object (a segment, an initialization segment,
//! a part, an exported MP4): from the hot cache when the caller has it
//! there, else from storage; whole, or the one byte range of a `Range`
//! header (RFC 9110 §14), with `Accept-Ranges`, `Content-Range` and 416
//! for a range past the end. Shared by the HLS origin and clip playback.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::TryStreamExt;
use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE,
};
use http::{HeaderMap, HeaderValue, StatusCode};
use storage::ObjectStream;

use crate::{ApiError, AppState};

/// An immutable object (segment, init segment, MP4), whole or the one byte
/// range of a `Range` header. What is not in the hot cache is streamed from
/// storage as the client reads it: a 100 MB MP4 costs a few chunks of
/// memory per reader, not 100 MB.
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
    let object = match cached {
        Some(bytes) => {
            let total = bytes.len() as u64;
            match range.map(|spec| spec.resolve(total)) {
                // No Range, or one we do not understand (ignored, RFC 9110 §14.2).
                None => ObjectStream::from_bytes(bytes, 0..total, total),
                Some(None) => return Ok(unsatisfiable(total)),
                Some(Some(r)) => ObjectStream::from_bytes(
                    bytes.slice(r.start as usize..r.end as usize),
                    r,
                    total,
                ),
            }
        }
        None => {
            let wanted = match range {
                None => None,
                Some(spec) => {
                    // The length first, to resolve suffix and open ranges.
                    let total = state
                        .media
                        .get_stream(key, Some(0..0))
                        .await?
                        .ok_or_else(not_found)?
                        .total;
                    match spec.resolve(total) {
                        Some(r) => Some(r),
                        None => return Ok(unsatisfiable(total)),
                    }
                }
            };
            let object = state
                .media
                .get_stream(key, wanted.clone())
                .await?
                .ok_or_else(not_found)?;
            if wanted.is_some() && object.is_empty() {
                // Shrunk or replaced since the length was read.
                return Ok(unsatisfiable(object.total));
            }
            object
        }
    };
    let partial = range.is_some();
    let status = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let length = object.range.end - object.range.start;
    let content_range = format!(
        "bytes {}-{}/{}",
        object.range.start,
        object.range.end.saturating_sub(1),
        object.total
    );
    let key = key.to_owned();
    let body = Body::from_stream(object.body.map_err(move |e| {
        // The status line is gone: all that is left is to cut the body.
        tracing::warn!(key = %key, error = %e, "storage failed while streaming an object");
        e
    }));
    let mut response = (
        status,
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, cache_control),
            (ACCEPT_RANGES, HeaderValue::from_static("bytes")),
            (CONTENT_LENGTH, HeaderValue::from(length)),
        ],
        body,
    )
        .into_response();
    if partial && let Ok(v) = HeaderValue::from_str(&content_range) {
        response.headers_mut().insert(CONTENT_RANGE, v);
    }
    Ok(response)
}

/// 416 with the object's length.
fn unsatisfiable(total: u64) -> Response {
    (
        StatusCode::RANGE_NOT_SATISFIABLE,
        [(CONTENT_RANGE, format!("bytes */{total}"))],
    )
        .into_response()
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
