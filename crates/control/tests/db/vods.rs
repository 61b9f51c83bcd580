use control::testutil::{self, each_backend};
use control::{Error, VodStatus};

#[tokio::test]
async fn vod_lifecycle() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "vods").await;
        let first = db.begin_live_stream(&channel.channel_id).await.unwrap();
        let vod = db.create_vod(&first.live_stream_id).await.unwrap();
        assert_eq!(vod.status, VodStatus::Recording);
        assert_eq!(vod.live_stream_id, first.live_stream_id);
        assert_eq!(vod.channel_id, channel.channel_id);
        assert_eq!(vod.title, channel.title);
        assert_eq!(
            (vod.duration_ms, vod.segment_count, vod.ready_at_ms),
            (0, 0, None)
        );
        assert_eq!(db.vod(&vod.vod_id).await.unwrap(), Some(vod.clone()));
        assert_eq!(
            db.vod_by_live_stream(&first.live_stream_id).await.unwrap(),
            Some(vod.clone())
        );

        // One recording per live stream.
        match db.create_vod(&first.live_stream_id).await {
            Err(Error::Conflict { what }) => assert_eq!(what, "recording"),
            other => panic!("{other:?}"),
        }

        db.end_live_stream(&first.live_stream_id, "done")
            .await
            .unwrap();
        let ready = db.finish_vod(&vod.vod_id, 3_600_500, 601).await.unwrap();
        assert_eq!(ready.status, VodStatus::Ready);
        assert_eq!((ready.duration_ms, ready.segment_count), (3_600_500, 601));
        assert!(ready.ready_at_ms.is_some_and(|t| t >= vod.created_at_ms));
        // Finishing again is a no-op; failing a ready VOD is refused.
        assert_eq!(db.finish_vod(&vod.vod_id, 1, 1).await.unwrap(), ready);
        match db.fail_vod(&vod.vod_id).await {
            Err(Error::InvalidTransition { what, from, to, .. }) => {
                assert_eq!((what, from, to), ("vod", "ready", "failed"))
            }
            other => panic!("{other:?}"),
        }

        // A second broadcast whose recording fails.
        let second = db.begin_live_stream(&channel.channel_id).await.unwrap();
        let broken = db.create_vod(&second.live_stream_id).await.unwrap();
        let failed = db.fail_vod(&broken.vod_id).await.unwrap();
        assert_eq!(failed.status, VodStatus::Failed);
        assert_eq!(db.fail_vod(&broken.vod_id).await.unwrap(), failed);
        assert!(matches!(
            db.finish_vod(&broken.vod_id, 10, 1).await,
            Err(Error::InvalidTransition { from: "failed", .. })
        ));

        let listed: Vec<_> = db
            .list_vods(&channel.channel_id)
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.vod_id)
            .collect();
        assert_eq!(
            listed,
            [broken.vod_id.clone(), vod.vod_id.clone()],
            "newest first"
        );
        assert!(db.list_vods("nope").await.unwrap().is_empty());

        // Unknown ids and bad input.
        assert!(matches!(
            db.create_vod("nope").await,
            Err(Error::NotFound {
                what: "live stream"
            })
        ));
        assert!(matches!(
            db.finish_vod("nope", 1, 1).await,
            Err(Error::NotFound { what: "vod" })
        ));
        assert!(matches!(
            db.fail_vod("nope").await,
            Err(Error::NotFound { what: "vod" })
        ));
        assert!(matches!(
            db.finish_vod(&vod.vod_id, -1, 1).await,
            Err(Error::Invalid {
                field: "duration_ms",
                ..
            })
        ));
        assert_eq!(db.vod("nope").await.unwrap(), None);
        assert_eq!(db.vod_by_live_stream("nope").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn unfinished_vods_of_ended_streams_are_listed_for_recovery() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "recover").await;
        let ls = db.begin_live_stream(&channel.channel_id).await.unwrap();
        let vod = db.create_vod(&ls.live_stream_id).await.unwrap();
        // Still live: not a recovery candidate.
        assert!(
            db.unfinished_vods_of_ended_streams()
                .await
                .unwrap()
                .is_empty()
        );
        db.end_live_stream(&ls.live_stream_id, "crash")
            .await
            .unwrap();
        let listed = db.unfinished_vods_of_ended_streams().await.unwrap();
        assert_eq!(listed, vec![vod.clone()]);
        db.finish_vod(&vod.vod_id, 2000, 1).await.unwrap();
        assert!(
            db.unfinished_vods_of_ended_streams()
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}
