use control::testutil::{self, each_backend};
use control::{
    ChannelUpdate, Error, LatencyMode, NewChannel, PLAYBACK_ID_LEN, STREAM_KEY_PREFIX,
    SegmentFormat, Visibility,
};

use crate::users::uuid_version;

fn new_channel(owner_user_id: &str, slug: &str) -> NewChannel {
    NewChannel {
        owner_user_id: owner_user_id.to_owned(),
        slug: slug.to_owned(),
        title: String::new(),
        latency_mode: LatencyMode::Low,
        segment_format: None,
        ladder: None,
    }
}

#[tokio::test]
async fn create_channel_with_defaults_and_look_it_up() {
    each_backend(async |db| {
        let owner = testutil::user(&db, "alice").await;
        let created = db
            .create_channel(new_channel(&owner.user_id, "Alice-Live"))
            .await
            .unwrap();
        let channel = created.channel;
        assert_eq!(uuid_version(&channel.channel_id), 7);
        assert_eq!(channel.slug, "alice-live");
        assert_eq!(
            channel.title, "alice-live",
            "empty title defaults to the slug"
        );
        assert_eq!(channel.latency_mode, LatencyMode::Low);
        assert_eq!(channel.ladder, "default");
        // Low latency needs fMP4 parts: the default follows the mode.
        assert_eq!(channel.segment_format, SegmentFormat::Fmp4);
        assert!(channel.enabled);
        assert!(channel.record);
        assert_eq!(channel.visibility, Visibility::Public);
        assert_eq!(channel.reconnect_window_s, 60);
        assert_eq!(channel.playback_id.len(), PLAYBACK_ID_LEN);
        assert_eq!(channel.created_at_ms, channel.updated_at_ms);
        assert!(created.stream_key.starts_with(STREAM_KEY_PREFIX));

        let found = Some(channel.clone());
        assert_eq!(db.channel(&channel.channel_id).await.unwrap(), found);
        assert_eq!(db.channel_by_slug("ALICE-live").await.unwrap(), found);
        assert_eq!(
            db.channel_by_playback_id(&channel.playback_id)
                .await
                .unwrap(),
            found
        );
        assert_eq!(
            db.channel_by_stream_key(&created.stream_key).await.unwrap(),
            found
        );
        assert_eq!(db.channel("nope").await.unwrap(), None);
        assert_eq!(db.channel_by_slug("nope").await.unwrap(), None);
        assert_eq!(db.channel_by_playback_id("nope").await.unwrap(), None);

        let (other, _) = testutil::channel(&db, "other").await;
        assert_eq!(
            db.list_channels().await.unwrap(),
            vec![channel.clone(), other]
        );
        assert_eq!(
            db.list_channels_by_owner(&owner.user_id).await.unwrap(),
            vec![channel]
        );
    })
    .await;
}

#[tokio::test]
async fn duplicate_slug_conflicts() {
    each_backend(async |db| {
        let owner = testutil::user(&db, "alice").await;
        db.create_channel(new_channel(&owner.user_id, "games"))
            .await
            .unwrap();
        for slug in ["games", "GAMES"] {
            match db.create_channel(new_channel(&owner.user_id, slug)).await {
                Err(Error::Conflict { what }) => assert_eq!(what, "slug"),
                other => panic!("{slug}: {other:?}"),
            }
        }
        // The failed transactions left nothing behind.
        assert_eq!(db.list_channels().await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn channel_input_is_validated_with_the_field_named() {
    each_backend(async |db| {
        let owner = testutil::user(&db, "alice").await;
        for (input, field) in [
            (new_channel(&owner.user_id, "ab"), "slug"),
            (new_channel(&owner.user_id, "under_score"), "slug"),
            (new_channel(&owner.user_id, "-dash"), "slug"),
            (new_channel(&owner.user_id, &"a".repeat(41)), "slug"),
            (
                NewChannel {
                    title: "x".repeat(201),
                    ..new_channel(&owner.user_id, "fine")
                },
                "title",
            ),
            (new_channel("no-such-user", "fine"), "owner_user_id"),
        ] {
            match db.create_channel(input.clone()).await {
                Err(Error::Invalid { field: f, message }) => {
                    assert_eq!(f, field, "{input:?}: {message}")
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
        assert!(db.list_channels().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn stream_key_lookup_and_reset() {
    each_backend(async |db| {
        let (a, key_a) = testutil::channel(&db, "aaa").await;
        let (b, key_b) = testutil::channel(&db, "bbb").await;
        assert_ne!(key_a, key_b);
        assert_eq!(
            db.channel_by_stream_key(&key_a).await.unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            db.channel_by_stream_key(&key_b).await.unwrap(),
            Some(b.clone())
        );

        // Wrong keys: off by one character, truncated, empty, huge.
        let mut wrong = key_a.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'x' { 'y' } else { 'x' });
        for candidate in [
            wrong.as_str(),
            &key_a[..key_a.len() - 1],
            "",
            &"k".repeat(10_000),
        ] {
            assert_eq!(
                db.channel_by_stream_key(candidate).await.unwrap(),
                None,
                "{candidate:.40}"
            );
        }

        // Reset: the new key works, the old one stops at once, the other
        // channel is untouched.
        let new_key = db.reset_stream_key(&a.channel_id).await.unwrap();
        assert_ne!(new_key, key_a);
        assert_eq!(db.channel_by_stream_key(&key_a).await.unwrap(), None);
        let after = db.channel_by_stream_key(&new_key).await.unwrap().unwrap();
        assert_eq!(after.channel_id, a.channel_id);
        assert!(after.updated_at_ms >= a.updated_at_ms);
        assert_eq!(db.channel_by_stream_key(&key_b).await.unwrap(), Some(b));

        match db.reset_stream_key("no-such-channel").await {
            Err(Error::NotFound { what }) => assert_eq!(what, "channel"),
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn update_channel_round_trips_booleans_and_settings() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "settings").await;
        let off = db
            .update_channel(
                &channel.channel_id,
                ChannelUpdate {
                    enabled: Some(false),
                    record: Some(false),
                    visibility: Some(Visibility::Private),
                    latency_mode: Some(LatencyMode::Low),
                    segment_format: Some(SegmentFormat::Fmp4),
                    ladder: Some("small".into()),
                    reconnect_window_s: Some(0),
                    title: Some("  New title ".into()),
                },
            )
            .await
            .unwrap();
        assert!(!off.enabled);
        assert!(!off.record);
        assert_eq!(off.visibility, Visibility::Private);
        assert_eq!(off.latency_mode, LatencyMode::Low);
        assert_eq!(off.reconnect_window_s, 0);
        assert_eq!(off.segment_format, SegmentFormat::Fmp4);
        assert_eq!(off.ladder, "small");
        assert_eq!(off.title, "New title");
        assert_eq!(
            db.channel(&channel.channel_id).await.unwrap(),
            Some(off.clone())
        );

        // An empty update changes nothing but the timestamp; a partial one
        // changes only what it names.
        let same = db
            .update_channel(&channel.channel_id, ChannelUpdate::default())
            .await
            .unwrap();
        assert_eq!(
            (same.enabled, same.record, &same.title),
            (false, false, &off.title)
        );
        let on = db
            .update_channel(
                &channel.channel_id,
                ChannelUpdate {
                    enabled: Some(true),
                    ..ChannelUpdate::default()
                },
            )
            .await
            .unwrap();
        assert!(on.enabled);
        assert!(!on.record);

        for (update, field) in [
            (
                ChannelUpdate {
                    title: Some(String::new()),
                    ..ChannelUpdate::default()
                },
                "title",
            ),
            (
                ChannelUpdate {
                    reconnect_window_s: Some(1801),
                    ..ChannelUpdate::default()
                },
                "reconnect_window_s",
            ),
        ] {
            match db.update_channel(&channel.channel_id, update).await {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        match db.update_channel("nope", ChannelUpdate::default()).await {
            Err(Error::NotFound { what: "channel" }) => {}
            other => panic!("{other:?}"),
        }
    })
    .await;
}
