//! LL-HLS: parts in the hot cache, listed in order, evicted.

use super::*;

fn low_latency() -> BroadcastConfig {
    BroadcastConfig {
        segmenter: SegmenterConfig {
            target_duration: Time90k::from_secs_f64(1.0),
            format: SegmentFormat::Fmp4,
            part_target: Some(Time90k::from_secs_f64(0.25)),
        },
        low_latency: true,
        window_segments: 7,
        cache_segments: true,
        ..config()
    }
}

#[test]
fn low_latency_parts_are_cached_listed_and_evicted() {
    let mut sim = Sim::new(low_latency());
    sim.feed(media(1));
    let actions = sim.take();
    // The init segment goes to the cache and the store.
    assert!(actions.iter().any(|a| matches!(a, Action::Store { path, cache: true, ack: None, .. } if path == "source/init.mp4")));
    // Segments to both (a remote store).
    assert!(actions.iter().any(|a| matches!(a, Action::Store { path, cache: true, ack: Some(_), .. } if path == "source/0.m4s")));
    let parts: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Cache { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        parts.contains(&"source/0.0.m4s") && parts.len() >= 16,
        "{parts:?}"
    );
    // Parts of segments four behind the newest leave the cache.
    let evicted: Vec<&String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Uncache { paths } => Some(paths),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        evicted.iter().any(|p| *p == "source/0.0.m4s"),
        "{evicted:?}"
    );
    let playlists = last_playlists(&actions);
    assert!(playlists.low_latency);
    let live = body(&playlists, "source");
    assert!(
        live.contains("#EXT-X-PART:") && live.contains("#EXT-X-PRELOAD-HINT"),
        "{live}"
    );
    assert!(playlists.media["source"].delta.is_some());
    assert!(playlists.edge_received_at.is_some());
}

#[test]
fn parts_of_a_segment_wait_for_the_segments_before_it() {
    let mut sim = Sim::new(low_latency());
    sim.auto_ack = false;
    // Past the first segment's end and into the second's parts.
    sim.feed(media(1).into_iter().take(110));
    let (ack, data) = sim.unanswered.remove(0);
    let before = sim.take();
    let listed_before = last_playlists(&before);
    assert!(
        !body(&listed_before, "source").contains("1.0.m4s"),
        "a part of segment 1 is listed before segment 0"
    );
    sim.push(Input::Stored {
        ack,
        ok: true,
        data,
    });
    let after = body(&last_playlists(&sim.take()), "source");
    assert!(
        after.contains("0.m4s") && after.contains("1.0.m4s"),
        "{after}"
    );
}
