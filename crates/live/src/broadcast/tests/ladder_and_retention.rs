//! The ladder, retention, thumbnails, ingest measurements, the file layout
//! and crash recovery.

use super::*;

#[test]
fn a_lagging_ladder_loses_its_lowest_rendition_first() {
    let mut sim = Sim::new(config());
    sim.rungs = vec![("360p".into(), 800), ("160p".into(), 200)];
    let events = media(1);
    let video = match &events[0] {
        DemuxEvent::VideoConfig(c) => c.clone(),
        _ => panic!("configuration first"),
    };
    sim.feed(events.iter().take(40).cloned());
    let actions = sim.take();
    assert!(actions.iter().any(|a| matches!(a, Action::StartLadder(_))));
    let fed: Vec<AccessUnit> = actions
        .iter()
        .filter_map(|a| match a {
            Action::FeedLadder(au) => Some(au.clone()),
            _ => None,
        })
        .collect();
    assert!(!fed.is_empty() && fed.iter().all(|au| au.track == TrackKind::Video));
    // The ladder delivers a rung (here: the source's own video, as if
    // encoded) with the source's audio interleaved.
    sim.push(Input::Ladder(LadderEvent::Config {
        rung: 0,
        config: video,
    }));
    for unit in fed {
        sim.push(Input::Ladder(LadderEvent::Unit { rung: 0, unit }));
    }
    // Early lag does not count (encoders warm up).
    sim.push(Input::LadderLag(Duration::from_secs(5)));
    assert!(!sim.take().iter().any(|a| matches!(a, Action::DropRung(_))));
    sim.feed(events.iter().skip(40).cloned());
    sim.push(Input::LadderLag(Duration::from_secs(1)));
    let actions = sim.take();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Measure(Measure::TranscodeLag(_))))
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::DropRung(_))));
    sim.push(Input::LadderLag(Duration::from_secs(3)));
    let actions = sim.take();
    assert!(actions.iter().any(|a| matches!(a, Action::DropRung(1))));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Measure(Measure::RenditionDropped(r)) if &**r == "160p"))
    );
    let master =
        String::from_utf8(last_playlists(&actions).master.clone().unwrap().to_vec()).unwrap();
    assert!(
        master.contains("360p/index.m3u8") && !master.contains("160p"),
        "{master}"
    );
    sim.push(Input::LadderLag(Duration::from_secs(3)));
    assert!(sim.take().iter().any(|a| matches!(a, Action::DropRung(0))));
    sim.push(Input::LadderLag(Duration::from_secs(3)));
    assert!(!sim.take().iter().any(|a| matches!(a, Action::DropRung(_))));
    // The end waits for the ladder to flush, then releases it.
    sim.push(Input::Stop);
    let actions = sim.take();
    assert!(
        matches!(actions.as_slice(), [Action::FlushLadder]),
        "{actions:?}"
    );
    sim.push(Input::Ladder(LadderEvent::Finished));
    assert!(matches!(sim.log.first(), Some(Action::StopLadder)));
    let ending = sim.ending().unwrap();
    assert!(ending.renditions.iter().any(|r| &**r == "360p"));
}

#[test]
fn a_ladder_that_fails_or_never_flushes_is_released() {
    let mut sim = Sim::new(config());
    sim.rungs = vec![("160p".into(), 200)];
    sim.feed(media(1).into_iter().take(40));
    sim.push(Input::Ladder(LadderEvent::Error("x264enc failed".into())));
    assert!(sim.take().iter().any(|a| matches!(a, Action::StopLadder)));
    // No ladder: the end does not wait for one.
    sim.push(Input::Stop);
    assert!(sim.ending().is_some());

    let mut sim = Sim::new(config());
    sim.rungs = vec![("160p".into(), 200)];
    sim.feed(media(1).into_iter().take(40));
    sim.push(Input::Stop);
    let flush_deadline = sim.b.next_deadline().expect("the flush is bounded");
    assert_eq!(flush_deadline, sim.now().at + Duration::from_secs(10));
    sim.advance(Duration::from_secs(10));
    assert!(sim.log.iter().any(|a| matches!(a, Action::StopLadder)));
    assert!(sim.ending().is_some());
}

#[test]
fn a_channel_that_does_not_record_deletes_segments_after_the_grace_period() {
    let mut sim = Sim::new(BroadcastConfig {
        record: false,
        ..config()
    });
    sim.feed(media(1));
    // 5 segments listed, a window of 3: two left it, due 30 s later.
    assert!(
        !sim.take()
            .iter()
            .any(|a| matches!(a, Action::Delete { .. }))
    );
    let due = sim.b.next_deadline().expect("a deletion is scheduled");
    assert!(due > sim.now().at + Duration::from_secs(25), "{due:?}");
    sim.advance(Duration::from_secs(31));
    let deleted: Vec<String> = sim
        .take()
        .into_iter()
        .filter_map(|a| match a {
            Action::Delete { path } => Some(path),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, ["source/0.ts", "source/1.ts"]);
    sim.push(Input::Stop);
    assert_eq!(
        sim.ending().unwrap().delete_after,
        Some(Duration::from_secs(30))
    );
    assert_eq!(sim.b.next_deadline(), None);
}

#[test]
fn thumbnails_follow_demand() {
    let mut sim = Sim::new(BroadcastConfig {
        thumbnail_interval: Duration::from_secs(2),
        thumbnail_idle_interval: Duration::from_secs(60),
        ..config()
    });
    let thumbnails = |actions: &[Action]| {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Thumbnail { poster, unit, .. } => Some((*poster, unit.keyframe)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    sim.feed(media(1));
    // The first keyframe makes the poster; then nobody looks: idle interval.
    assert_eq!(thumbnails(&sim.take()), [(true, true)]);
    sim.push(Input::ThumbnailWanted(sim.now().at));
    sim.t = Duration::ZERO;
    let events: Vec<DemuxEvent> = media(2).into_iter().skip(2).collect();
    sim.feed(events.into_iter().map(|e| match e {
        DemuxEvent::Unit(mut au) => {
            au.dts += Time90k::from_millis(6_100);
            au.pts += Time90k::from_millis(6_100);
            DemuxEvent::Unit(au)
        }
        e => e,
    }));
    let made = thumbnails(&sim.take());
    assert!(
        made.len() >= 4 && made.iter().all(|&(poster, _)| !poster),
        "{made:?}"
    );
}

#[test]
fn the_publisher_is_measured_every_second_and_recorded_every_five() {
    let mut sim = Sim::new(config());
    sim.feed(media(2));
    let readings: Vec<(bool, bool)> = sim
        .take()
        .iter()
        .filter_map(|a| match a {
            Action::Measure(Measure::Ingest { reading, store }) => {
                Some((reading.bitrate_bps.is_some(), *store))
            }
            _ => None,
        })
        .collect();
    assert!((11..=13).contains(&readings.len()), "{readings:?}");
    let stored = readings.iter().filter(|(_, s)| *s).count();
    assert!((2..=3).contains(&stored), "{readings:?}");
    assert!(readings.iter().all(|(measured, store)| measured | !store));
}

#[test]
fn a_file_layout_writes_one_vod_playlist_per_rendition() {
    let mut sim = Sim::new(BroadcastConfig {
        live_playlists: false,
        program_date_time: false,
        measure_ingest: false,
        flat: true,
        ..config()
    });
    sim.feed(media(1));
    sim.push(Input::Stop);
    let actions = sim.take();
    assert!(!actions.iter().any(|a| matches!(
        a,
        Action::Publish(_) | Action::Status(_) | Action::Measure(Measure::Ingest { .. })
    )));
    let stored: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Store { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        stored,
        [
            "0.ts",
            "1.ts",
            "2.ts",
            "3.ts",
            "4.ts",
            "5.ts",
            "index.m3u8",
            "master.m3u8"
        ]
    );
    let master = actions.iter().find_map(|a| match a {
        Action::Store { path, data, .. } if path == "master.m3u8" => {
            Some(String::from_utf8(data[0].to_vec()).unwrap())
        }
        _ => None,
    });
    let master = master.unwrap();
    assert!(
        master.contains("\nindex.m3u8\n") && !master.contains("NAME="),
        "{master}"
    );
    assert!(
        indexed(&actions, "source")
            .iter()
            .all(|s| s.program_date_time_ms.is_none())
    );
}

#[test]
fn crash_recovery_rebuilds_what_the_index_lists() {
    let row = |rendition: &str, sequence: i64, gap: bool| control::SegmentRecord {
        live_stream_id: "ls".into(),
        rendition: rendition.into(),
        sequence,
        duration_90k: 90_000,
        size_bytes: 1000,
        discontinuity: false,
        uri: format!("{sequence}.ts"),
        map_uri: None,
        gap,
        program_date_time_ms: None,
        created_at_ms: 0,
    };
    let rebuilt = crate::recover::rebuild(
        Time90k::from_secs_f64(1.0),
        vec![
            (
                "360p".into(),
                vec![
                    row("360p", 0, false),
                    row("360p", 1, false),
                    row("360p", 3, false),
                ],
            ),
            ("160p".into(), vec![]),
            (
                "source".into(),
                vec![
                    row("source", 0, false),
                    row("source", 1, true),
                    row("source", 2, false),
                ],
            ),
        ],
    );
    let summary: Vec<(&str, usize, bool)> = rebuilt
        .iter()
        .map(|(name, playlist, _)| {
            (
                name.as_str(),
                playlist.segments().len(),
                playlist.is_ended(),
            )
        })
        .collect();
    // The source first; 360p stops at the hole in its index; 160p has nothing.
    assert_eq!(summary, [("source", 3, true), ("360p", 2, true)]);
    assert!(rebuilt[0].1.render_vod().contains("#EXT-X-GAP"));
}
