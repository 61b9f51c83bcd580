//! Setup shared by the test modules.

use control::testutil;
use control::{Channel, Db, LiveStream, NewSegment, Vod};

/// A channel with one ended broadcast of three 2-second segments, recorded
/// as a ready VOD (6 000 ms).
pub(crate) async fn recorded(db: &Db, slug: &str) -> (Channel, LiveStream, Vod) {
    let (channel, _) = testutil::channel(db, slug).await;
    let ls = db.begin_live_stream(&channel.channel_id).await.unwrap();
    let vod = db.create_vod(&ls.live_stream_id).await.unwrap();
    for sequence in 0..3 {
        db.add_segment(NewSegment {
            live_stream_id: ls.live_stream_id.clone(),
            rendition: "source".into(),
            sequence,
            duration_90k: 180_000,
            size_bytes: 1000,
            discontinuity: false,
            uri: format!("{sequence}.ts"),
            map_uri: None,
            gap: false,
            program_date_time_ms: None,
        })
        .await
        .unwrap();
    }
    let ls = db
        .end_live_stream(&ls.live_stream_id, "done")
        .await
        .unwrap();
    let vod = db.finish_vod(&vod.vod_id, 6_000, 3).await.unwrap();
    (channel, ls, vod)
}

/// Every item of a paginated list, following cursors `limit` at a time,
/// checking that every page but the last is full.
pub(crate) async fn all_pages<T, F, Fut>(limit: u32, mut fetch: F) -> Vec<T>
where
    F: FnMut(control::PageRequest) -> Fut,
    Fut: std::future::Future<Output = control::Result<control::Page<T>>>,
{
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let request = control::PageRequest::new(Some(limit), cursor.as_deref()).unwrap();
        let page = fetch(request).await.unwrap();
        let full = page.items.len() == limit as usize;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => {
                assert!(full, "a page with a next cursor must be full");
                cursor = Some(next);
            }
            None => return items,
        }
    }
}
