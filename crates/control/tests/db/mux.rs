//! What the Mux surface stores: sealed stream keys, further playback ids,
//! simulcast targets, and Mux-format webhook deliveries.

use control::testutil::{self, each_backend};
use control::{
    Error, NewSimulcastTarget, NewWebhookEndpoint, PLAYBACK_IDS_MAX, PlaybackObject,
    PlaybackPolicy, SIMULCAST_TARGETS_MAX, WebhookEventType, WebhookFormat,
};
use serde_json::json;

#[tokio::test]
async fn stream_keys_are_readable_only_with_the_sealing_key() {
    each_backend(async |db| {
        let (channel, key) = testutil::channel(&db, "sealed").await;
        assert_eq!(
            db.stream_key_of(&channel.channel_id).await.unwrap(),
            Some(key.clone())
        );
        let new_key = db.reset_stream_key(&channel.channel_id).await.unwrap();
        assert_eq!(
            db.stream_key_of(&channel.channel_id).await.unwrap(),
            Some(new_key.clone())
        );
        // Another server key (a lost key file) cannot open it; publishing
        // still finds the channel by the key's hash.
        let other = db.clone().with_sealing_key(&[9; 32]);
        assert_eq!(
            other.stream_key_of(&channel.channel_id).await.unwrap(),
            None
        );
        assert!(
            other
                .channel_by_stream_key(&new_key)
                .await
                .unwrap()
                .is_some()
        );
        assert!(db.channel_by_stream_key(&key).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn playback_ids_have_their_own_policies() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "pids").await;
        let live = PlaybackObject::LiveStream(channel.channel_id.clone());
        let ids = db.playback_ids_of(&live).await.unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].playback_id, channel.playback_id);
        let signed = db
            .add_playback_id(&live, PlaybackPolicy::Signed)
            .await
            .unwrap();
        let resolved = db
            .resolve_playback_id(&signed.playback_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resolved.policy, PlaybackPolicy::Signed);
        assert_eq!(resolved.channel.channel_id, channel.channel_id);
        assert!(resolved.vod.is_none());
        let own = db
            .resolve_playback_id(&channel.playback_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(own.policy, PlaybackPolicy::Public);
        // The owner of a further id is the channel's owner (for tokens).
        assert_eq!(
            db.playback_id_owner(&signed.playback_id)
                .await
                .unwrap()
                .as_deref(),
            Some(channel.owner_user_id.as_str())
        );
        // Deleting the channel's own id rotates it out of the list.
        db.delete_playback_id(&live, &channel.playback_id)
            .await
            .unwrap();
        assert!(
            db.resolve_playback_id(&channel.playback_id)
                .await
                .unwrap()
                .is_none()
        );
        let ids = db.playback_ids_of(&live).await.unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].playback_id, signed.playback_id);
        assert!(matches!(
            db.delete_playback_id(&live, "nope").await,
            Err(Error::NotFound { .. })
        ));
        for _ in 1..PLAYBACK_IDS_MAX {
            db.add_playback_id(&live, PlaybackPolicy::Public)
                .await
                .unwrap();
        }
        assert!(matches!(
            db.add_playback_id(&live, PlaybackPolicy::Public).await,
            Err(Error::LimitReached { .. })
        ));
        assert!(matches!(
            db.add_playback_id(
                &PlaybackObject::LiveStream("nope".into()),
                PlaybackPolicy::Public
            )
            .await,
            Err(Error::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn simulcast_targets_keep_their_keys_sealed_and_are_capped() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "simulcast").await;
        let new = |url: &str| NewSimulcastTarget {
            url: url.into(),
            stream_key: Some("target-key".into()),
            passthrough: "yt".into(),
        };
        assert!(matches!(
            db.create_simulcast_target(&channel.channel_id, new("http://example.com/x"))
                .await,
            Err(Error::Invalid { field: "url", .. })
        ));
        let t = db
            .create_simulcast_target(&channel.channel_id, new("rtmp://a.example/live"))
            .await
            .unwrap();
        let got = db
            .simulcast_target(&channel.channel_id, &t.simulcast_target_id)
            .await
            .unwrap();
        assert_eq!(got.stream_key.as_deref(), Some("target-key"));
        for _ in 1..SIMULCAST_TARGETS_MAX {
            db.create_simulcast_target(&channel.channel_id, new("rtmps://a.example/live"))
                .await
                .unwrap();
        }
        assert!(matches!(
            db.create_simulcast_target(&channel.channel_id, new("rtmp://a.example/live"))
                .await,
            Err(Error::LimitReached { .. })
        ));
        db.delete_simulcast_target(&channel.channel_id, &t.simulcast_target_id)
            .await
            .unwrap();
        assert_eq!(
            db.list_simulcast_targets(&channel.channel_id)
                .await
                .unwrap()
                .len(),
            5
        );
    })
    .await;
}

#[tokio::test]
async fn mux_endpoints_get_one_delivery_per_mux_event() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "muxhooks").await;
        let owner = &channel.owner_user_id;
        let native = db
            .create_webhook_endpoint(
                owner,
                NewWebhookEndpoint {
                    url: "https://example.com/native".into(),
                    event_types: vec![],
                    format: WebhookFormat::Native,
                },
            )
            .await
            .unwrap();
        let mux = db
            .create_webhook_endpoint(
                owner,
                NewWebhookEndpoint {
                    url: "https://example.com/mux".into(),
                    event_types: vec![],
                    format: WebhookFormat::Mux,
                },
            )
            .await
            .unwrap();
        assert_eq!(mux.format, WebhookFormat::Mux);
        let (_, deliveries) = db
            .enqueue_webhook_event(
                WebhookEventType::LiveStreamActive,
                owner,
                Some(&channel.channel_id),
                json!({}),
            )
            .await
            .unwrap();
        let mut types: Vec<(String, Option<String>)> = deliveries
            .iter()
            .map(|d| (d.webhook_endpoint_id.clone(), d.mux_type.clone()))
            .collect();
        types.sort();
        let mut want = vec![
            (native.webhook_endpoint_id.clone(), None),
            (
                mux.webhook_endpoint_id.clone(),
                Some("video.live_stream.recording".to_owned()),
            ),
            (
                mux.webhook_endpoint_id.clone(),
                Some("video.live_stream.active".to_owned()),
            ),
        ];
        want.sort();
        assert_eq!(types, want);
        // Events Mux has no name for reach native endpoints only.
        let (_, deliveries) = db
            .enqueue_webhook_event(WebhookEventType::ClipReady, owner, None, json!({}))
            .await
            .unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(
            deliveries[0].webhook_endpoint_id,
            native.webhook_endpoint_id
        );
        let due = db
            .claim_due_deliveries(i64::MAX / 4, 10, 60_000)
            .await
            .unwrap();
        assert_eq!(due.len(), 4);
        assert!(due.iter().any(|d| d.endpoint.format == WebhookFormat::Mux
            && d.delivery.mux_type.as_deref() == Some("video.live_stream.active")));
    })
    .await;
}

#[tokio::test]
async fn asset_files_are_claimed_once_and_retried_until_errored() {
    use control::{ASSET_FILE_MAX_ATTEMPTS, AssetFileName, AssetFileStatus, MadeAssetFile};
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "files").await;
        let ls = db.begin_live_stream(&channel.channel_id).await.unwrap();
        let vod = db.create_vod(&ls.live_stream_id).await.unwrap();
        let files = db
            .request_asset_files(
                &vod.vod_id,
                &[AssetFileName::HighestMp4, AssetFileName::Storyboard],
            )
            .await
            .unwrap();
        assert_eq!(files.len(), 2);
        assert!(files.iter().all(|f| f.status == AssetFileStatus::Preparing));
        // Asking again changes nothing.
        assert_eq!(
            db.request_asset_files(&vod.vod_id, &[AssetFileName::HighestMp4])
                .await
                .unwrap()
                .len(),
            2
        );
        // Not while recording.
        assert!(
            db.claim_asset_files(1_000, 10, 60_000)
                .await
                .unwrap()
                .is_empty()
        );
        db.end_live_stream(&ls.live_stream_id, "test")
            .await
            .unwrap();
        db.finish_vod(&vod.vod_id, 10_000, 5).await.unwrap();
        let claims = db.claim_asset_files(1_000, 10, 60_000).await.unwrap();
        assert_eq!(claims.len(), 2);
        // Claimed: nobody else gets them until the lease runs out.
        assert!(
            db.claim_asset_files(2_000, 10, 60_000)
                .await
                .unwrap()
                .is_empty()
        );
        let mp4 = claims
            .iter()
            .find(|c| c.file.name == AssetFileName::HighestMp4)
            .unwrap();
        let made = MadeAssetFile {
            size_bytes: 1234,
            width: Some(1280),
            height: Some(720),
            meta: "{}".into(),
        };
        let done = db
            .finish_asset_file(
                &vod.vod_id,
                AssetFileName::HighestMp4,
                &mp4.claim_id,
                Some(&made),
            )
            .await
            .unwrap();
        assert_eq!(
            (done.status, done.size_bytes),
            (AssetFileStatus::Ready, Some(1234))
        );
        // A stale claim cannot finish again.
        assert!(matches!(
            db.finish_asset_file(&vod.vod_id, AssetFileName::HighestMp4, &mp4.claim_id, None)
                .await,
            Err(Error::Conflict { .. })
        ));
        // The storyboard fails until it is errored.
        let mut now = 100_000;
        let mut claim = claims
            .into_iter()
            .find(|c| c.file.name == AssetFileName::Storyboard)
            .unwrap();
        for attempt in 1..=ASSET_FILE_MAX_ATTEMPTS {
            let f = db
                .fail_asset_file(
                    &vod.vod_id,
                    AssetFileName::Storyboard,
                    &claim.claim_id,
                    "ffmpeg failed",
                )
                .await
                .unwrap();
            if attempt < ASSET_FILE_MAX_ATTEMPTS {
                assert_eq!(f.status, AssetFileStatus::Preparing);
                now += 1;
                claim = db
                    .claim_asset_files(now, 10, 60_000)
                    .await
                    .unwrap()
                    .pop()
                    .unwrap();
            } else {
                assert_eq!(f.status, AssetFileStatus::Errored);
                assert_eq!(f.error.as_deref(), Some("ffmpeg failed"));
            }
        }
        assert!(
            db.claim_asset_files(now + 1, 10, 60_000)
                .await
                .unwrap()
                .is_empty()
        );
        db.delete_asset_file(&vod.vod_id, AssetFileName::Storyboard)
            .await
            .unwrap();
        assert_eq!(db.asset_files(&vod.vod_id).await.unwrap().len(), 1);
    })
    .await;
}
