use control::testutil::{self, each_backend};
use control::{Error, IngestInfo, LiveStreamStatus, PageRequest};

fn ingest() -> IngestInfo {
    IngestInfo {
        video_codec: Some("avc1.64001f".into()),
        audio_codec: Some("mp4a.40.2".into()),
        width: Some(1280),
        height: Some(720),
        fps: Some(29.97),
    }
}

#[tokio::test]
async fn second_publisher_is_busy_until_the_first_ends() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "busy").await;
        let first = db.begin_live_stream(&channel.channel_id).await.unwrap();
        assert_eq!(first.status, LiveStreamStatus::Connected);
        assert_eq!(first.ended_at_ms, None);

        match db.begin_live_stream(&channel.channel_id).await {
            Err(Error::Busy { channel_id }) => assert_eq!(channel_id, channel.channel_id),
            other => panic!("{other:?}"),
        }
        // Still busy while active or disconnected (reconnect window).
        db.set_live_stream_active(&first.live_stream_id, ingest())
            .await
            .unwrap();
        assert!(matches!(
            db.begin_live_stream(&channel.channel_id).await,
            Err(Error::Busy { .. })
        ));
        db.set_live_stream_disconnected(&first.live_stream_id)
            .await
            .unwrap();
        assert!(matches!(
            db.begin_live_stream(&channel.channel_id).await,
            Err(Error::Busy { .. })
        ));

        let ended = db
            .end_live_stream(&first.live_stream_id, "publisher left")
            .await
            .unwrap();
        assert_eq!(ended.status, LiveStreamStatus::Ended);
        assert_eq!(ended.end_reason.as_deref(), Some("publisher left"));
        assert!(ended.ended_at_ms.is_some_and(|t| t >= first.started_at_ms));

        let second = db.begin_live_stream(&channel.channel_id).await.unwrap();
        assert_ne!(second.live_stream_id, first.live_stream_id);
        assert_eq!(
            db.latest_live_stream(&channel.channel_id).await.unwrap(),
            Some(second.clone())
        );

        // Other channels are independent.
        let (other, _) = testutil::channel(&db, "other").await;
        db.begin_live_stream(&other.channel_id).await.unwrap();

        match db.begin_live_stream("no-such-channel").await {
            Err(Error::NotFound { what }) => assert_eq!(what, "channel"),
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn racing_publishers_get_exactly_one_live_stream() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "race").await;
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                let channel_id = channel.channel_id.clone();
                tokio::spawn(async move { db.begin_live_stream(&channel_id).await })
            })
            .collect();
        let (mut won, mut busy) = (0, 0);
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(_) => won += 1,
                Err(Error::Busy { .. }) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((won, busy), (1, 7));
    })
    .await;
}

#[tokio::test]
async fn live_stream_lifecycle_records_ingest_and_times() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "life").await;
        let started = db.begin_live_stream(&channel.channel_id).await.unwrap();
        assert_eq!(
            db.live_stream(&started.live_stream_id).await.unwrap(),
            Some(started.clone())
        );

        db.set_live_stream_active(&started.live_stream_id, ingest())
            .await
            .unwrap();
        let active = db
            .live_stream(&started.live_stream_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(active.status, LiveStreamStatus::Active);
        assert_eq!(active.ingest, ingest());
        let first_active_at = active.active_at_ms.unwrap();
        assert!(first_active_at >= started.started_at_ms);

        // Drop and reconnect: same live stream, first active time kept,
        // ingest info replaced (including back to none).
        db.set_live_stream_disconnected(&started.live_stream_id)
            .await
            .unwrap();
        let disconnected = db
            .live_stream(&started.live_stream_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(disconnected.status, LiveStreamStatus::Disconnected);
        let audio_only = IngestInfo {
            audio_codec: Some("mp4a.40.2".into()),
            ..IngestInfo::default()
        };
        db.set_live_stream_active(&started.live_stream_id, audio_only.clone())
            .await
            .unwrap();
        let back = db
            .live_stream(&started.live_stream_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back.status, LiveStreamStatus::Active);
        assert_eq!(back.active_at_ms, Some(first_active_at));
        assert_eq!(back.ingest, audio_only);

        // Ending is idempotent: the first reason and time stay.
        let ended = db
            .end_live_stream(&started.live_stream_id, "publisher left")
            .await
            .unwrap();
        let again = db
            .end_live_stream(&started.live_stream_id, "server shutdown")
            .await
            .unwrap();
        assert_eq!(again, ended);
        assert_eq!(again.end_reason.as_deref(), Some("publisher left"));

        // Nothing leaves `ended`.
        match db
            .set_live_stream_active(&started.live_stream_id, ingest())
            .await
        {
            Err(Error::InvalidTransition { what, from, to, .. }) => {
                assert_eq!((what, from, to), ("live stream", "ended", "active"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            db.set_live_stream_disconnected(&started.live_stream_id)
                .await,
            Err(Error::InvalidTransition { .. })
        ));

        // Unknown ids and bad input.
        assert_eq!(db.live_stream("nope").await.unwrap(), None);
        assert_eq!(db.latest_live_stream("nope").await.unwrap(), None);
        for result in [
            db.set_live_stream_active("nope", ingest()).await,
            db.set_live_stream_disconnected("nope").await,
            db.end_live_stream("nope", "x").await.map(|_| ()),
        ] {
            assert!(
                matches!(
                    result,
                    Err(Error::NotFound {
                        what: "live stream"
                    })
                ),
                "{result:?}"
            );
        }
        let next = db.begin_live_stream(&channel.channel_id).await.unwrap();
        let bad = IngestInfo {
            width: Some(0),
            ..ingest()
        };
        assert!(matches!(
            db.set_live_stream_active(&next.live_stream_id, bad).await,
            Err(Error::Invalid { field: "width", .. })
        ));

        let history = db
            .list_live_streams(&channel.channel_id, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(history.next_cursor, None);
        let ids: Vec<_> = history
            .items
            .iter()
            .map(|ls| ls.live_stream_id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                next.live_stream_id.as_str(),
                started.live_stream_id.as_str()
            ]
        );
        let first = db
            .list_live_streams(&channel.channel_id, &PageRequest::first(1))
            .await
            .unwrap();
        assert_eq!(first.items.len(), 1);
        let second = db
            .list_live_streams(
                &channel.channel_id,
                &PageRequest::new(Some(1), first.next_cursor.as_deref()).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(second.items[0].live_stream_id, started.live_stream_id);
        assert_eq!(second.next_cursor, None);
    })
    .await;
}

#[tokio::test]
async fn unfinished_live_streams_are_the_ones_not_ended() {
    each_backend(async |db| {
        assert!(db.unfinished_live_streams().await.unwrap().is_empty());
        let (a, _) = testutil::channel(&db, "aaa").await;
        let (b, _) = testutil::channel(&db, "bbb").await;
        let (c, _) = testutil::channel(&db, "ccc").await;
        let ended = db.begin_live_stream(&a.channel_id).await.unwrap();
        db.end_live_stream(&ended.live_stream_id, "done")
            .await
            .unwrap();
        let connected = db.begin_live_stream(&b.channel_id).await.unwrap();
        let active = db.begin_live_stream(&c.channel_id).await.unwrap();
        db.set_live_stream_active(&active.live_stream_id, ingest())
            .await
            .unwrap();

        let unfinished = db.unfinished_live_streams().await.unwrap();
        let ids: Vec<_> = unfinished
            .iter()
            .map(|ls| ls.live_stream_id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                connected.live_stream_id.as_str(),
                active.live_stream_id.as_str()
            ]
        );

        // Crash recovery ends them; then there are none.
        for ls in &unfinished {
            db.end_live_stream(&ls.live_stream_id, "server restart")
                .await
                .unwrap();
        }
        assert!(db.unfinished_live_streams().await.unwrap().is_empty());
    })
    .await;
}

/// A stream without a frame rate, then one with, on the same pooled
/// connection: the missing fps must not poison the prepared statement
/// (sqlx 0.9 Any encodes a NULL f64 as a NULL f32 on PostgreSQL).
#[tokio::test]
async fn fps_can_be_missing_then_present() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "fps").await;
        for round in 0..6 {
            let ls = db.begin_live_stream(&channel.channel_id).await.unwrap();
            let fps = (round % 2 == 1).then_some(29.97);
            let info = IngestInfo {
                video_codec: Some("avc1.64001f".into()),
                fps,
                ..IngestInfo::default()
            };
            db.set_live_stream_active(&ls.live_stream_id, info.clone())
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            let back = db.live_stream(&ls.live_stream_id).await.unwrap().unwrap();
            assert_eq!(back.ingest, info);
            db.end_live_stream(&ls.live_stream_id, "done")
                .await
                .unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn stats_keep_the_peak_and_the_last_measurements() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "stats").await;
        let ls = db.begin_live_stream(&channel.channel_id).await.unwrap();
        assert_eq!(ls.stats, control::LiveStreamStats::default());
        let id = &ls.live_stream_id;

        db.update_live_stream_stats(id, Some(4_500_000), Some(2000), 12)
            .await
            .unwrap();
        db.update_live_stream_stats(id, None, None, 7)
            .await
            .unwrap();
        let stats = db.live_stream(id).await.unwrap().unwrap().stats;
        assert_eq!(stats.ingest_bitrate_bps, Some(4_500_000));
        assert_eq!(stats.keyframe_interval_ms, Some(2000));
        assert_eq!(stats.peak_viewers, 12);

        db.update_live_stream_stats(id, Some(6_000_000_000), Some(4000), 40)
            .await
            .unwrap();
        let stats = db.live_stream(id).await.unwrap().unwrap().stats;
        assert_eq!(
            (
                stats.ingest_bitrate_bps,
                stats.keyframe_interval_ms,
                stats.peak_viewers
            ),
            (Some(6_000_000_000), Some(4000), 40)
        );

        for (bitrate, keyframe, viewers, field) in [
            (None, Some(0), 1, "keyframe_interval_ms"),
            (None, Some(u32::MAX), 1, "keyframe_interval_ms"),
            (Some(u64::MAX), None, 1, "ingest_bitrate_bps"),
            (None, None, u32::MAX, "viewers"),
        ] {
            match db
                .update_live_stream_stats(id, bitrate, keyframe, viewers)
                .await
            {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }

        // A late report after the end changes nothing.
        db.end_live_stream(id, "done").await.unwrap();
        db.update_live_stream_stats(id, Some(1), Some(1), 1000)
            .await
            .unwrap();
        assert_eq!(db.live_stream(id).await.unwrap().unwrap().stats, stats);
        assert!(matches!(
            db.update_live_stream_stats("nope", None, None, 1).await,
            Err(Error::NotFound { .. })
        ));
    })
    .await;
}
