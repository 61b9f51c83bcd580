//! Row ids and timestamps, the two values every insert needs.

/// A fresh row id: a UUIDv7 (RFC 9562) in its hyphenated lowercase form.
/// v7 ids start with the creation time, so they sort by age and index well.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
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
}
