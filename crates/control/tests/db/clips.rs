use control::testutil::{self, each_backend};
use control::{
    CLIP_MAX_DURATION_MS, ClipExportStatus, ClipFilter, ClipSource, ClipStatus, Error, NewClip,
    PageRequest,
};

use crate::common::recorded;

fn of_vod(vod_id: &str, start_ms: i64, end_ms: i64) -> NewClip {
    NewClip {
        source: ClipSource::Vod {
            vod_id: vod_id.to_owned(),
        },
        start_ms,
        end_ms,
        title: String::new(),
        created_by_user_id: None,
    }
}

#[tokio::test]
async fn create_clips_from_vods_and_dvr_windows() {
    each_backend(async |db| {
        let (channel, ls, vod) = recorded(&db, "clips").await;
        let viewer = testutil::user(&db, "viewer").await;
        let clip = db
            .create_clip(NewClip {
                title: "  Nice play ".into(),
                created_by_user_id: Some(viewer.user_id.clone()),
                ..of_vod(&vod.vod_id, 1000, 5000)
            })
            .await
            .unwrap();
        assert_eq!(clip.title, "Nice play");
        assert_eq!(clip.channel_id, channel.channel_id);
        assert_eq!(clip.live_stream_id, ls.live_stream_id);
        assert_eq!(clip.vod_id.as_deref(), Some(vod.vod_id.as_str()));
        assert_eq!(
            clip.source(),
            ClipSource::Vod {
                vod_id: vod.vod_id.clone()
            }
        );
        assert_eq!(clip.duration_ms(), 4000);
        assert_eq!(clip.status, ClipStatus::Preparing);
        assert_eq!(
            (
                clip.export_status,
                clip.export_progress,
                clip.export_error.as_deref()
            ),
            (ClipExportStatus::None, 0, None)
        );
        assert_eq!(db.clip(&clip.clip_id).await.unwrap(), Some(clip.clone()));

        // A DVR clip defaults to the channel's title.
        let dvr = db
            .create_clip(NewClip {
                source: ClipSource::LiveStream {
                    live_stream_id: ls.live_stream_id.clone(),
                },
                start_ms: 0,
                end_ms: CLIP_MAX_DURATION_MS,
                title: String::new(),
                created_by_user_id: None,
            })
            .await
            .unwrap();
        assert_eq!(dvr.title, channel.title);
        assert_eq!(dvr.vod_id, None);
        // An untitled VOD clip takes the VOD's title.
        let untitled = db.create_clip(of_vod(&vod.vod_id, 0, 1)).await.unwrap();
        assert_eq!(untitled.title, vod.title);

        // Ready / failed transitions.
        let ready = db.finish_clip(&clip.clip_id).await.unwrap();
        assert_eq!(ready.status, ClipStatus::Ready);
        assert_eq!(
            db.finish_clip(&clip.clip_id).await.unwrap().status,
            ClipStatus::Ready
        );
        assert!(matches!(
            db.fail_clip(&clip.clip_id).await,
            Err(Error::InvalidTransition {
                from: "ready",
                to: "failed",
                ..
            })
        ));
        assert_eq!(
            db.fail_clip(&dvr.clip_id).await.unwrap().status,
            ClipStatus::Failed
        );
        assert!(matches!(
            db.finish_clip("nope").await,
            Err(Error::NotFound { what: "clip" })
        ));
        let renamed = db
            .update_clip_title(&clip.clip_id, "Renamed")
            .await
            .unwrap();
        assert_eq!(renamed.title, "Renamed");

        // Deleting the creator keeps the clip.
        db.delete_user(&viewer.user_id).await.unwrap();
        assert_eq!(
            db.clip(&clip.clip_id)
                .await
                .unwrap()
                .unwrap()
                .created_by_user_id,
            None
        );

        // Listing: per channel, per VOD, per broadcast.
        let list = |filter: ClipFilter| {
            let db = db.clone();
            async move {
                db.list_clips(&filter, &PageRequest::default())
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|c| c.clip_id)
                    .collect::<Vec<_>>()
            }
        };
        let all = [
            untitled.clip_id.as_str(),
            dvr.clip_id.as_str(),
            clip.clip_id.as_str(),
        ];
        assert_eq!(
            list(ClipFilter {
                channel_id: Some(channel.channel_id.clone()),
                ..ClipFilter::default()
            })
            .await,
            all
        );
        assert_eq!(
            list(ClipFilter {
                vod_id: Some(vod.vod_id.clone()),
                ..ClipFilter::default()
            })
            .await,
            [untitled.clip_id.as_str(), clip.clip_id.as_str()]
        );
        assert_eq!(
            list(ClipFilter {
                live_stream_id: Some(ls.live_stream_id.clone()),
                ..ClipFilter::default()
            })
            .await,
            all
        );
        let page = db
            .list_clips(&ClipFilter::default(), &PageRequest::first(2))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 2);
        let rest = db
            .list_clips(
                &ClipFilter::default(),
                &PageRequest::new(Some(2), page.next_cursor.as_deref()).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(rest.items.len(), 1);
        assert_eq!(rest.next_cursor, None);

        let deleted = db.delete_clip(&dvr.clip_id).await.unwrap();
        assert_eq!(deleted.clip_id, dvr.clip_id);
        assert!(matches!(
            db.delete_clip(&dvr.clip_id).await,
            Err(Error::NotFound { what: "clip" })
        ));
    })
    .await;
}

#[tokio::test]
async fn clip_input_is_validated_with_the_field_named() {
    each_backend(async |db| {
        let (channel, _, vod) = recorded(&db, "clip-bad").await;
        for (input, field) in [
            (of_vod(&vod.vod_id, -1, 10), "start_ms"),
            (of_vod(&vod.vod_id, 10, 10), "end_ms"),
            (of_vod(&vod.vod_id, 0, CLIP_MAX_DURATION_MS + 1), "end_ms"),
            // Past the end of a ready VOD (6 000 ms).
            (of_vod(&vod.vod_id, 5000, 6001), "end_ms"),
            (
                NewClip {
                    title: "a\nb".into(),
                    ..of_vod(&vod.vod_id, 0, 10)
                },
                "title",
            ),
            (
                NewClip {
                    created_by_user_id: Some("nobody".into()),
                    ..of_vod(&vod.vod_id, 0, 10)
                },
                "created_by_user_id",
            ),
        ] {
            match db.create_clip(input.clone()).await {
                Err(Error::Invalid { field: f, message }) => {
                    assert_eq!(f, field, "{input:?}: {message}")
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
        assert!(matches!(
            db.create_clip(of_vod("nope", 0, 10)).await,
            Err(Error::NotFound { what: "vod" })
        ));
        assert!(matches!(
            db.create_clip(NewClip {
                source: ClipSource::LiveStream {
                    live_stream_id: "nope".into()
                },
                ..of_vod("x", 0, 10)
            })
            .await,
            Err(Error::NotFound {
                what: "live stream"
            })
        ));
        // A failed recording cannot be clipped.
        let ls = db.begin_live_stream(&channel.channel_id).await.unwrap();
        let broken = db.create_vod(&ls.live_stream_id).await.unwrap();
        db.fail_vod(&broken.vod_id).await.unwrap();
        assert!(matches!(
            db.create_clip(of_vod(&broken.vod_id, 0, 10)).await,
            Err(Error::Invalid {
                field: "vod_id",
                ..
            })
        ));
        // A recording in progress has no known end yet.
        let ls2 = db.end_live_stream(&ls.live_stream_id, "x").await.unwrap();
        let live = db.begin_live_stream(&channel.channel_id).await.unwrap();
        let recording = db.create_vod(&live.live_stream_id).await.unwrap();
        assert!(
            db.create_clip(of_vod(&recording.vod_id, 0, 60_000))
                .await
                .is_ok()
        );
        assert_eq!(ls2.status, control::LiveStreamStatus::Ended);
    })
    .await;
}

#[tokio::test]
async fn export_jobs_are_claimed_with_leases() {
    each_backend(async |db| {
        let (_, _, vod) = recorded(&db, "exports").await;
        let a = db.create_clip(of_vod(&vod.vod_id, 0, 1000)).await.unwrap();
        let b = db.create_clip(of_vod(&vod.vod_id, 0, 2000)).await.unwrap();
        let now = control_now();

        // Nothing requested, nothing to claim.
        assert!(
            db.claim_clip_exports(now, 10, 60_000)
                .await
                .unwrap()
                .is_empty()
        );
        let pending = db.request_clip_export(&a.clip_id).await.unwrap();
        assert_eq!(pending.export_status, ClipExportStatus::Pending);
        // Requesting again is a no-op.
        assert_eq!(
            db.request_clip_export(&a.clip_id)
                .await
                .unwrap()
                .export_status,
            ClipExportStatus::Pending
        );
        db.request_clip_export(&b.clip_id).await.unwrap();

        let first = db.claim_clip_exports(now, 1, 60_000).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].clip.clip_id, a.clip_id, "oldest request first");
        assert_eq!(first[0].clip.export_status, ClipExportStatus::Running);
        assert_eq!(first[0].lease_until_ms, now + 60_000);
        let second = db.claim_clip_exports(now, 10, 60_000).await.unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].clip.clip_id, b.clip_id);
        assert_ne!(first[0].claim_id, second[0].claim_id);
        // Both held: nothing left.
        assert!(
            db.claim_clip_exports(now + 59_999, 10, 60_000)
                .await
                .unwrap()
                .is_empty()
        );

        // Progress renews the lease.
        let (a_claim, b_claim) = (&first[0].claim_id, &second[0].claim_id);
        db.set_clip_export_progress(&a.clip_id, a_claim, 40, now + 50_000, 60_000)
            .await
            .unwrap();
        assert_eq!(
            db.clip(&a.clip_id).await.unwrap().unwrap().export_progress,
            40
        );
        assert!(matches!(
            db.set_clip_export_progress(&a.clip_id, a_claim, 101, now, 60_000)
                .await,
            Err(Error::Invalid {
                field: "export_progress",
                ..
            })
        ));

        // b's runner went quiet: its lease runs out and b is claimed again;
        // the old runner's writes now fail.
        let retaken = db
            .claim_clip_exports(now + 60_000, 10, 60_000)
            .await
            .unwrap();
        assert_eq!(retaken.len(), 1);
        assert_eq!(retaken[0].clip.clip_id, b.clip_id);
        assert_eq!(retaken[0].clip.export_progress, 0);
        for result in [
            db.set_clip_export_progress(&b.clip_id, b_claim, 90, now + 60_001, 60_000)
                .await
                .map(|_| ()),
            db.finish_clip_export(&b.clip_id, b_claim).await.map(|_| ()),
        ] {
            assert!(
                matches!(
                    result,
                    Err(Error::Conflict {
                        what: "export claim"
                    })
                ),
                "{result:?}"
            );
        }

        let done = db.finish_clip_export(&a.clip_id, a_claim).await.unwrap();
        assert_eq!(
            (done.export_status, done.export_progress, done.export_error),
            (ClipExportStatus::Ready, 100, None)
        );
        assert!(matches!(
            db.finish_clip_export(&a.clip_id, a_claim).await,
            Err(Error::Conflict { .. })
        ));
        // Exported clips are not exported again.
        assert_eq!(
            db.request_clip_export(&a.clip_id)
                .await
                .unwrap()
                .export_status,
            ClipExportStatus::Ready
        );

        let failed = db
            .fail_clip_export(&b.clip_id, &retaken[0].claim_id, &"é".repeat(400))
            .await
            .unwrap();
        assert_eq!(failed.export_status, ClipExportStatus::Failed);
        assert_eq!(failed.export_error.as_deref().map(str::len), Some(500));
        let again = db.request_clip_export(&b.clip_id).await.unwrap();
        assert_eq!(
            (again.export_status, again.export_error),
            (ClipExportStatus::Pending, None)
        );

        // A deleted clip's runner gets NotFound.
        let claimed = db
            .claim_clip_exports(now + 60_000, 10, 60_000)
            .await
            .unwrap();
        db.delete_clip(&b.clip_id).await.unwrap();
        assert!(matches!(
            db.set_clip_export_progress(&b.clip_id, &claimed[0].claim_id, 1, now, 1)
                .await,
            Err(Error::NotFound { what: "clip" })
        ));
    })
    .await;
}

#[tokio::test]
async fn concurrent_claims_never_share_a_job() {
    each_backend(async |db| {
        let (_, _, vod) = recorded(&db, "race").await;
        let mut ids = Vec::new();
        for i in 0..20 {
            let clip = db
                .create_clip(of_vod(&vod.vod_id, i, i + 100))
                .await
                .unwrap();
            db.request_clip_export(&clip.clip_id).await.unwrap();
            ids.push(clip.clip_id);
        }
        let now = control_now();
        let claims = futures_join(
            (0..4)
                .map(|_| {
                    let db = db.clone();
                    tokio::spawn(async move { db.claim_clip_exports(now, 7, 60_000).await })
                })
                .collect(),
        )
        .await;
        let mut claimed: Vec<String> = claims
            .into_iter()
            .flat_map(|c| c.into_iter().map(|e| e.clip.clip_id))
            .collect();
        claimed.sort();
        ids.sort();
        assert_eq!(claimed, ids, "every job claimed exactly once");
    })
    .await;
}

/// Unix milliseconds now.
pub(crate) fn control_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Awaits spawned claims, each of which must succeed.
pub(crate) async fn futures_join<T: Send + 'static>(
    handles: Vec<tokio::task::JoinHandle<control::Result<Vec<T>>>>,
) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap().unwrap());
    }
    out
}

/// Per-user quotas hold under concurrency: ten clips made at once against
/// a limit of three, and ten exports asked at once against a queue of two.
#[tokio::test]
async fn clip_and_export_quotas_hold_under_concurrency() {
    each_backend(async |db| {
        let (_, _, vod) = recorded(&db, "quota").await;
        let maker = testutil::user(&db, "maker").await;
        let since = control_now() - 3_600_000;
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let db = db.clone();
                let new = NewClip {
                    created_by_user_id: Some(maker.user_id.clone()),
                    ..of_vod(&vod.vod_id, i * 100, i * 100 + 1000)
                };
                tokio::spawn(async move { db.create_clip_limited(new, Some((3, since))).await })
            })
            .collect();
        let mut made = Vec::new();
        for handle in handles {
            match handle.await.unwrap() {
                Ok(clip) => made.push(clip),
                Err(Error::LimitReached { limit: 3, .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(made.len(), 3);
        assert_eq!(
            db.clips_made_since(&maker.user_id, since).await.unwrap().0,
            3
        );

        // Exports: more clips (by someone unlimited), then ten asks at once.
        let mut clips = Vec::new();
        for i in 0..10 {
            clips.push(
                db.create_clip(of_vod(&vod.vod_id, i * 100, i * 100 + 1000))
                    .await
                    .unwrap(),
            );
        }
        let handles: Vec<_> = clips
            .iter()
            .map(|clip| {
                let db = db.clone();
                let (id, user) = (clip.clip_id.clone(), maker.user_id.clone());
                tokio::spawn(
                    async move { db.request_clip_export_by(&id, Some(&user), Some(2)).await },
                )
            })
            .collect();
        let mut queued = 0;
        for handle in handles {
            match handle.await.unwrap() {
                Ok(clip) => {
                    assert_eq!(clip.export_status, ClipExportStatus::Pending);
                    queued += 1;
                }
                Err(Error::LimitReached { limit: 2, .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(queued, 2);
        assert_eq!(db.queued_exports_of(&maker.user_id).await.unwrap(), 2);
    })
    .await;
}
