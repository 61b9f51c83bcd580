//! Row ids and timestamps, the two values every insert needs.

use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh row id: a UUIDv7 (RFC 9562) in its hyphenated lowercase form.
/// v7 ids start with the creation time, so they sort by age and index well.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Now, in unix milliseconds, as stored in every `*_at_ms` column. A clock
/// before 1970 reads as 0 rather than failing.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v7_and_sort_by_time() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 7);
        assert!(a < b, "{a} !< {b}");
    }

    #[test]
    fn now_is_after_2024() {
        assert!(now_ms() > 1_704_067_200_000);
    }
}
