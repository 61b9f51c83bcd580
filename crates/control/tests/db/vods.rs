use control::testutil::{self, each_backend};
use control::{ChannelUpdate, ClipSource, Error, NewClip, Visibility, VodFilter, VodStatus};

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

#[tokio::test]
async fn vods_page_with_filters() {
    each_backend(async |db| {
        let (a, _, a_vod) = crate::common::recorded(&db, "vod-a").await;
        let (b, _, b_vod) = crate::common::recorded(&db, "vod-b").await;
        // A second, still recording, broadcast on a.
        let live = db.begin_live_stream(&a.channel_id).await.unwrap();
        let recording = db.create_vod(&live.live_stream_id).await.unwrap();
        db.update_channel(
            &b.channel_id,
            ChannelUpdate {
                visibility: Some(Visibility::Private),
                ..ChannelUpdate::default()
            },
        )
        .await
        .unwrap();

        let ids = |filter: VodFilter| {
            let db = db.clone();
            async move {
                crate::common::all_pages(1, |page| {
                    let (db, filter) = (db.clone(), filter.clone());
                    async move { db.list_vods_page(&filter, &page).await }
                })
                .await
                .into_iter()
                .map(|v| v.vod_id)
                .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            ids(VodFilter::default()).await,
            [
                recording.vod_id.as_str(),
                b_vod.vod_id.as_str(),
                a_vod.vod_id.as_str()
            ]
        );
        assert_eq!(
            ids(VodFilter {
                channel_id: Some(a.channel_id.clone()),
                ..VodFilter::default()
            })
            .await,
            [recording.vod_id.as_str(), a_vod.vod_id.as_str()]
        );
        assert_eq!(
            ids(VodFilter {
                status: Some(VodStatus::Ready),
                ..VodFilter::default()
            })
            .await,
            [b_vod.vod_id.as_str(), a_vod.vod_id.as_str()]
        );
        assert_eq!(
            ids(VodFilter {
                visibility: Some(Visibility::Public),
                status: Some(VodStatus::Ready),
                ..VodFilter::default()
            })
            .await,
            [a_vod.vod_id.as_str()]
        );
        assert_eq!(
            ids(VodFilter {
                owner_user_id: Some(b.owner_user_id.clone()),
                ..VodFilter::default()
            })
            .await,
            [b_vod.vod_id.as_str()]
        );
        assert_eq!(
            ids(VodFilter {
                owner_user_id: Some(b.owner_user_id.clone()),
                visibility: Some(Visibility::Public),
                ..VodFilter::default()
            })
            .await,
            Vec::<String>::new()
        );
    })
    .await;
}

#[tokio::test]
async fn vod_title_and_delete() {
    each_backend(async |db| {
        let (channel, ls, vod) = crate::common::recorded(&db, "vod-del").await;
        let renamed = db
            .update_vod_title(&vod.vod_id, "  Best of  ")
            .await
            .unwrap();
        assert_eq!(renamed.title, "Best of");
        assert!(matches!(
            db.update_vod_title(&vod.vod_id, "").await,
            Err(Error::Invalid { field: "title", .. })
        ));
        assert!(matches!(
            db.update_vod_title("nope", "x").await,
            Err(Error::NotFound { what: "vod" })
        ));

        // A clip of the VOD and one of the DVR window go with it.
        let clip = |source| {
            let db = db.clone();
            async move {
                db.create_clip(NewClip {
                    source,
                    start_ms: 0,
                    end_ms: 1000,
                    title: String::new(),
                    created_by_user_id: None,
                })
                .await
                .unwrap()
            }
        };
        let of_vod = clip(ClipSource::Vod {
            vod_id: vod.vod_id.clone(),
        })
        .await;
        let of_dvr = clip(ClipSource::LiveStream {
            live_stream_id: ls.live_stream_id.clone(),
        })
        .await;
        let deleted = db.delete_vod(&vod.vod_id).await.unwrap();
        assert_eq!(deleted.live_stream_id, ls.live_stream_id);
        assert_eq!(deleted.vod, renamed);
        let mut expected = vec![of_vod.clip_id, of_dvr.clip_id];
        expected.sort();
        let mut got = deleted.clip_ids.clone();
        got.sort();
        assert_eq!(got, expected);
        assert_eq!(db.vod(&vod.vod_id).await.unwrap(), None);
        assert!(
            db.segments(&ls.live_stream_id, "source")
                .await
                .unwrap()
                .is_empty()
        );
        // The broadcast stays, as history.
        assert!(db.live_stream(&ls.live_stream_id).await.unwrap().is_some());
        assert!(matches!(
            db.delete_vod(&vod.vod_id).await,
            Err(Error::NotFound { what: "vod" })
        ));

        // Not while its broadcast is in progress.
        let live = db.begin_live_stream(&channel.channel_id).await.unwrap();
        let recording = db.create_vod(&live.live_stream_id).await.unwrap();
        assert!(matches!(
            db.delete_vod(&recording.vod_id).await,
            Err(Error::Busy { .. })
        ));
        db.end_live_stream(&live.live_stream_id, "done")
            .await
            .unwrap();
        db.delete_vod(&recording.vod_id).await.unwrap();
    })
    .await;
}
