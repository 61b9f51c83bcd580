//! Keyset pagination for every list (Mux-style `limit` + cursor).
//!
//! Lists are ordered newest first by `(time, id)`: the row's creation time
//! in unix milliseconds (a live stream's `started_at_ms`) and its UUIDv7 id
//! as the tie-breaker, which makes the order total. A page ends with a
//! cursor naming its last row; the next page is the rows strictly after it
//! in that order:
//!
//! ```sql
//! WHERE (created_at_ms, x_id) < ($after_ms, $after_id)
//! ORDER BY created_at_ms DESC, x_id DESC LIMIT $limit + 1
//! ```
//!
//! Unlike `OFFSET`, this costs the same on page 1 and page 1000 (an index
//! range scan), and rows inserted or deleted meanwhile neither repeat nor
//! skip rows of later pages. The first page uses `(i64::MAX, "")` as its
//! bound, so every query has the same shape. One row more than the limit is
//! fetched to learn whether a next page exists without a `COUNT`.
//!
//! The cursor is opaque to clients: base64url (no padding) of
//! `"{time_ms}:{id}"`. It is not signed: forging one only moves the caller
//! to another position in a list it may read anyway.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};

/// Page size when the caller names none.
pub const PAGE_LIMIT_DEFAULT: u32 = 25;
/// Largest page size accepted.
pub const PAGE_LIMIT_MAX: u32 = 100;
/// Longest cursor accepted, in bytes (a real one is about 70).
const CURSOR_MAX_LEN: usize = 200;

/// Which page of a list to read: a size and where the previous page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    /// `(time_ms, id)` of the last row of the previous page.
    after: Option<(i64, String)>,
}

impl Default for PageRequest {
    /// The first page of [`PAGE_LIMIT_DEFAULT`] rows.
    fn default() -> Self {
        PageRequest {
            limit: PAGE_LIMIT_DEFAULT,
            after: None,
        }
    }
}

impl PageRequest {
    /// A page request from the API's query parameters. `limit` must be
    /// 1..=100 (default 25); `cursor` is a [`Page::next_cursor`] from a
    /// previous page of the same list (an empty string is no cursor).
    /// [`Error::Invalid`] naming "limit" or "cursor" otherwise.
    pub fn new(limit: Option<u32>, cursor: Option<&str>) -> Result<PageRequest> {
        let limit = limit.unwrap_or(PAGE_LIMIT_DEFAULT);
        if !(1..=PAGE_LIMIT_MAX).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be 1 to {PAGE_LIMIT_MAX}, got {limit}"),
            ));
        }
        let after = match cursor.filter(|c| !c.is_empty()) {
            Some(cursor) => Some(decode_cursor(cursor)?),
            None => None,
        };
        Ok(PageRequest { limit, after })
    }

    /// The first page of `limit` rows; `limit` is clamped to 1..=100.
    pub fn first(limit: u32) -> PageRequest {
        PageRequest {
            limit: limit.clamp(1, PAGE_LIMIT_MAX),
            after: None,
        }
    }

    /// Page size.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The rows to fetch: one more than the page holds.
    pub(crate) fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// The keyset bound `(time_ms, id)`: rows strictly before it (in the
    /// newest-first order) belong to this page.
    pub(crate) fn after_time_ms(&self) -> i64 {
        self.after.as_ref().map_or(i64::MAX, |(t, _)| *t)
    }

    /// See [`PageRequest::after_time_ms`].
    pub(crate) fn after_id(&self) -> &str {
        self.after.as_ref().map_or("", |(_, id)| id.as_str())
    }
}

/// One page of a list, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass to [`PageRequest::new`] for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `fetch_limit()` rows in list order: the
    /// extra row, if present, is dropped and means there is a next page,
    /// which starts after the last row kept. `key` gives a row's
    /// `(time_ms, id)`.
    pub(crate) fn from_rows(
        mut items: Vec<T>,
        request: &PageRequest,
        key: impl Fn(&T) -> (i64, &str),
    ) -> Page<T> {
        let limit = request.limit as usize;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| {
                let (time_ms, id) = key(last);
                encode_cursor(time_ms, id)
            })
        } else {
            None
        };
        Page { items, next_cursor }
    }

    /// The same page with each item converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

fn encode_cursor(time_ms: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{time_ms}:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String)> {
    let bad = || {
        Error::invalid(
            "cursor",
            "is not a cursor from a previous page of this list",
        )
    };
    if cursor.len() > CURSOR_MAX_LEN {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (time_ms, id) = text.split_once(':').ok_or_else(bad)?;
    let time_ms: i64 = time_ms.parse().map_err(|_| bad())?;
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !id_ok {
        return Err(bad());
    }
    Ok((time_ms, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(PageRequest::new(None, None).unwrap().limit(), 25);
        assert_eq!(PageRequest::new(Some(1), None).unwrap().limit(), 1);
        assert_eq!(PageRequest::new(Some(100), None).unwrap().limit(), 100);
        for bad in [0, 101, u32::MAX] {
            match PageRequest::new(Some(bad), None) {
                Err(Error::Invalid { field, message }) => {
                    assert_eq!(field, "limit");
                    assert!(message.contains("1 to 100"), "{message}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(PageRequest::first(0).limit(), 1);
        assert_eq!(PageRequest::first(1000).limit(), 100);
    }

    #[test]
    fn cursor_round_trip() {
        let id = "0190a3c4-1d2e-7f00-8000-000000000001";
        let cursor = encode_cursor(1_720_000_000_123, id);
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{cursor} must be URL-safe"
        );
        let request = PageRequest::new(Some(10), Some(&cursor)).unwrap();
        assert_eq!(request.after_time_ms(), 1_720_000_000_123);
        assert_eq!(request.after_id(), id);

        let first = PageRequest::new(Some(10), Some("")).unwrap();
        assert_eq!(first.after_time_ms(), i64::MAX);
        assert_eq!(first.after_id(), "");
    }

    #[test]
    fn bad_cursors_name_the_field() {
        for bad in [
            "!!!",
            &URL_SAFE_NO_PAD.encode("no-colon"),
            &URL_SAFE_NO_PAD.encode("abc:id"),
            &URL_SAFE_NO_PAD.encode("12:"),
            &URL_SAFE_NO_PAD.encode("12:it's"),
            &URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
            &"A".repeat(300),
        ] {
            assert!(
                matches!(
                    PageRequest::new(None, Some(bad)),
                    Err(Error::Invalid {
                        field: "cursor",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn pages_drop_the_lookahead_row() {
        let rows: Vec<(i64, String)> = (0..4).rev().map(|i| (i, format!("id{i}"))).collect();
        let request = PageRequest::first(3);
        let page = Page::from_rows(rows.clone(), &request, |(t, id)| (*t, id));
        assert_eq!(page.items.len(), 3);
        let next = PageRequest::new(Some(3), page.next_cursor.as_deref()).unwrap();
        assert_eq!((next.after_time_ms(), next.after_id()), (1, "id1"));

        let last = Page::from_rows(rows[..3].to_vec(), &request, |(t, id)| (*t, id));
        assert_eq!(last.items.len(), 3);
        assert_eq!(last.next_cursor, None);
        assert_eq!(last.map(|(t, _)| t).items, [3, 2, 1]);
    }
}
