//! Orphaned objects: media in the store that belongs to no broadcast the
//! database knows (a crash between creating objects and the row, a restored
//! database backup, a deleted channel whose objects were not removed).

use std::collections::BTreeMap;

use control::Db;
use storage::Media;
use tracing::{info, warn};

/// Objects under `live/` grouped by live stream id, for the ids the
/// database does not know.
pub async fn orphans(db: &Db, media: &Media) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut by_stream: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in media.list("live").await? {
        let Some(id) = key.strip_prefix("live/").and_then(|k| k.split('/').next()) else {
            continue;
        };
        by_stream.entry(id.to_string()).or_default().push(key);
    }
    let mut orphans = BTreeMap::new();
    for (id, keys) in by_stream {
        if db.live_stream(&id).await?.is_none() {
            orphans.insert(id, keys);
        }
    }
    Ok(orphans)
}

/// At startup: logs what `aethex storage sweep` would delete (deleting is
/// an operator's decision).
pub async fn report_orphans(db: Db, media: Media) {
    match orphans(&db, &media).await {
        Ok(found) if found.is_empty() => info!("storage sweep: no orphaned objects"),
        Ok(found) => {
            let objects: usize = found.values().map(Vec::len).sum();
            warn!(
                broadcasts = found.len(),
                objects,
                "storage sweep: objects of broadcasts the database does not know; \
                 `aethex storage sweep --delete` removes them"
            );
        }
        Err(e) => warn!(error = %e, "storage sweep failed"),
    }
}
