use control::testutil::{self, each_backend};
use control::{
    ChannelFilter, ChannelUpdate, Error, LatencyMode, NewChannel, PLAYBACK_ID_LEN, PageRequest,
    PlaybackPolicy, STREAM_KEY_PREFIX, SegmentFormat, Visibility,
};

use crate::users::uuid_version;

/// The first page of every channel (tests make fewer than 100).
pub(crate) async fn all_channels(db: &control::Db) -> Vec<control::Channel> {
    db.list_channels(&ChannelFilter::default(), &PageRequest::first(100))
        .await
        .unwrap()
        .items
}

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
        // Newest first.
        assert_eq!(all_channels(&db).await, vec![other, channel.clone()]);
        let mine = ChannelFilter {
            owner_user_id: Some(owner.user_id.clone()),
            ..ChannelFilter::default()
        };
        assert_eq!(
            db.list_channels(&mine, &PageRequest::default())
                .await
                .unwrap()
                .items,
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
        assert_eq!(all_channels(&db).await.len(), 1);
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
        assert!(all_channels(&db).await.is_empty());
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
                    suspended: Some(true),
                    record: Some(false),
                    visibility: Some(Visibility::Private),
                    latency_mode: Some(LatencyMode::Low),
                    segment_format: Some(SegmentFormat::Fmp4),
                    ladder: Some("small".into()),
                    reconnect_window_s: Some(0),
                    title: Some("  New title ".into()),
                    playback_policy: None,
                    category: Some("  Music ".into()),
                    chat_slow_mode_s: Some(30),
                    chat_blocked_words: Some(vec![" Spam ".into(), "spam".into(), "Eggs".into()]),
                    mux_settings: Some(r#"{"test":true}"#.into()),
                    new_asset_playback_policies: Some(vec![
                        PlaybackPolicy::Signed,
                        PlaybackPolicy::Public,
                        PlaybackPolicy::Signed,
                    ]),
                    playback_id_listed: Some(false),
                    reconnect_after_unpublish: Some(true),
                },
            )
            .await
            .unwrap();
        assert_eq!(off.mux_settings, r#"{"test":true}"#);
        assert_eq!(
            off.new_asset_playback_policies,
            [PlaybackPolicy::Signed, PlaybackPolicy::Public]
        );
        assert!(!off.playback_id_listed && off.reconnect_after_unpublish);
        assert!(!off.enabled);
        assert!(off.suspended && !off.accepts_publishers());
        // Becoming private revokes the tokens issued so far.
        assert!(off.playback_tokens_not_before_ms.is_some());
        // Private derives signed playback.
        assert_eq!(off.playback_policy, PlaybackPolicy::Signed);
        assert!(!off.record);
        assert_eq!(off.visibility, Visibility::Private);
        assert_eq!(off.latency_mode, LatencyMode::Low);
        assert_eq!(off.reconnect_window_s, 0);
        assert_eq!(off.segment_format, SegmentFormat::Fmp4);
        assert_eq!(off.ladder, "small");
        assert_eq!(off.title, "New title");
        assert_eq!(off.category, "Music");
        assert_eq!(off.chat_slow_mode_s, 30);
        assert_eq!(off.chat_blocked_words, ["eggs", "spam"]);
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

#[tokio::test]
async fn list_channels_filters_and_pages() {
    each_backend(async |db| {
        let alice = testutil::user(&db, "alice").await;
        let mut alices = Vec::new();
        for i in 0..5 {
            alices.push(
                db.create_channel(new_channel(&alice.user_id, &format!("alice-{i}")))
                    .await
                    .unwrap()
                    .channel,
            );
        }
        let (bobs, _) = testutil::channel(&db, "bob").await;
        let unlisted = db
            .update_channel(
                &alices[1].channel_id,
                ChannelUpdate {
                    visibility: Some(Visibility::Unlisted),
                    ..ChannelUpdate::default()
                },
            )
            .await
            .unwrap();
        alices[1] = unlisted.clone();

        let mine = ChannelFilter {
            owner_user_id: Some(alice.user_id.clone()),
            ..ChannelFilter::default()
        };
        let listed = crate::common::all_pages(2, |page| {
            let (db, filter) = (db.clone(), mine.clone());
            async move { db.list_channels(&filter, &page).await }
        })
        .await;
        let mut expected = alices.clone();
        expected.reverse();
        assert_eq!(listed, expected);

        let public = ChannelFilter {
            visibility: Some(Visibility::Public),
            ..ChannelFilter::default()
        };
        let listed = db
            .list_channels(&public, &PageRequest::first(100))
            .await
            .unwrap()
            .items;
        assert_eq!(listed.len(), 5);
        assert!(!listed.contains(&unlisted));
        let only_unlisted = ChannelFilter {
            owner_user_id: Some(alice.user_id.clone()),
            visibility: Some(Visibility::Unlisted),
            ..ChannelFilter::default()
        };
        assert_eq!(
            db.list_channels(&only_unlisted, &PageRequest::default())
                .await
                .unwrap()
                .items,
            vec![unlisted]
        );

        // Live now: active only, not connected or disconnected.
        let live_now = ChannelFilter {
            live_now: true,
            ..ChannelFilter::default()
        };
        let live = |db: control::Db, filter: ChannelFilter| async move {
            db.list_channels(&filter, &PageRequest::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|c| c.slug)
                .collect::<Vec<_>>()
        };
        assert!(live(db.clone(), live_now.clone()).await.is_empty());
        let ls = db.begin_live_stream(&bobs.channel_id).await.unwrap();
        assert!(live(db.clone(), live_now.clone()).await.is_empty());
        db.set_live_stream_active(&ls.live_stream_id, control::IngestInfo::default())
            .await
            .unwrap();
        assert_eq!(live(db.clone(), live_now.clone()).await, ["bob"]);
        let alice_live = ChannelFilter {
            owner_user_id: Some(alice.user_id.clone()),
            live_now: true,
            ..ChannelFilter::default()
        };
        assert!(live(db.clone(), alice_live).await.is_empty());
        db.set_live_stream_disconnected(&ls.live_stream_id)
            .await
            .unwrap();
        assert!(live(db.clone(), live_now).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn playback_policy_and_visibility() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "policy").await;
        assert_eq!(channel.playback_policy, PlaybackPolicy::Public);
        let update = |visibility, playback_policy| ChannelUpdate {
            visibility,
            playback_policy,
            ..ChannelUpdate::default()
        };
        let id = &channel.channel_id;

        // A public channel may require signed playback.
        let signed = db
            .update_channel(id, update(None, Some(PlaybackPolicy::Signed)))
            .await
            .unwrap();
        assert_eq!(
            (signed.visibility, signed.playback_policy),
            (Visibility::Public, PlaybackPolicy::Signed)
        );
        let public = db
            .update_channel(id, update(None, Some(PlaybackPolicy::Public)))
            .await
            .unwrap();
        assert_eq!(public.playback_policy, PlaybackPolicy::Public);

        // Private derives signed, and refuses public, in the same update or
        // a later one.
        let private = db
            .update_channel(id, update(Some(Visibility::Private), None))
            .await
            .unwrap();
        assert_eq!(private.playback_policy, PlaybackPolicy::Signed);
        for bad in [
            update(None, Some(PlaybackPolicy::Public)),
            update(Some(Visibility::Private), Some(PlaybackPolicy::Public)),
        ] {
            match db.update_channel(id, bad).await {
                Err(Error::Invalid { field, message }) => {
                    assert_eq!(field, "playback_policy");
                    assert!(message.contains("private"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(db.channel(id).await.unwrap(), Some(private));

        // Opening it up keeps it signed until said otherwise.
        let unlisted = db
            .update_channel(id, update(Some(Visibility::Unlisted), None))
            .await
            .unwrap();
        assert_eq!(unlisted.playback_policy, PlaybackPolicy::Signed);
        let open = db
            .update_channel(
                id,
                update(Some(Visibility::Public), Some(PlaybackPolicy::Public)),
            )
            .await
            .unwrap();
        assert_eq!(
            (open.visibility, open.playback_policy),
            (Visibility::Public, PlaybackPolicy::Public)
        );
        assert!(matches!(
            db.update_channel("nope", update(None, Some(PlaybackPolicy::Public)))
                .await,
            Err(Error::NotFound { what: "channel" })
        ));
    })
    .await;
}

#[tokio::test]
async fn delete_channel_removes_everything_but_not_while_live() {
    each_backend(async |db| {
        let (channel, ls, vod) = crate::common::recorded(&db, "doomed").await;
        let (other, _) = testutil::channel(&db, "survivor").await;
        let clip = db
            .create_clip(control::NewClip {
                source: control::ClipSource::Vod {
                    vod_id: vod.vod_id.clone(),
                },
                start_ms: 0,
                end_ms: 2000,
                title: String::new(),
                created_by_user_id: None,
            })
            .await
            .unwrap();

        // Busy while a broadcast is in progress.
        let live = db.begin_live_stream(&channel.channel_id).await.unwrap();
        match db.delete_channel(&channel.channel_id).await {
            Err(Error::Busy { channel_id }) => assert_eq!(channel_id, channel.channel_id),
            other => panic!("{other:?}"),
        }
        assert!(db.channel(&channel.channel_id).await.unwrap().is_some());
        db.end_live_stream(&live.live_stream_id, "done")
            .await
            .unwrap();

        let deleted = db.delete_channel(&channel.channel_id).await.unwrap();
        assert_eq!(deleted.channel.channel_id, channel.channel_id);
        assert_eq!(
            deleted.live_stream_ids,
            [ls.live_stream_id.clone(), live.live_stream_id.clone()]
        );
        assert_eq!(deleted.clip_ids, [clip.clip_id.as_str()]);
        assert_eq!(db.channel(&channel.channel_id).await.unwrap(), None);
        assert_eq!(db.live_stream(&ls.live_stream_id).await.unwrap(), None);
        assert_eq!(db.vod(&vod.vod_id).await.unwrap(), None);
        assert_eq!(db.clip(&clip.clip_id).await.unwrap(), None);
        assert!(
            db.segments(&ls.live_stream_id, "source")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            db.delete_channel(&channel.channel_id).await,
            Err(Error::NotFound { what: "channel" })
        ));
        // Others are untouched, and the slug is free again.
        assert!(db.channel(&other.channel_id).await.unwrap().is_some());
        db.create_channel(new_channel(&channel.owner_user_id, "doomed"))
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn channel_status_follows_the_broadcast() {
    each_backend(async |db| {
        use control::ChannelStatus;
        let (a, _) = testutil::channel(&db, "status-a").await;
        let (b, _) = testutil::channel(&db, "status-b").await;
        let status = |id: String| {
            let db = db.clone();
            async move { db.channel_status(&id).await.unwrap() }
        };
        assert_eq!(status(a.channel_id.clone()).await, ChannelStatus::Idle);
        let ls = db.begin_live_stream(&a.channel_id).await.unwrap();
        assert_eq!(status(a.channel_id.clone()).await, ChannelStatus::Connected);
        db.set_live_stream_active(&ls.live_stream_id, control::IngestInfo::default())
            .await
            .unwrap();
        assert_eq!(status(a.channel_id.clone()).await, ChannelStatus::Active);
        let both = db
            .channel_statuses(&[a.channel_id.clone(), b.channel_id.clone(), "nope".into()])
            .await
            .unwrap();
        assert_eq!(both.len(), 1);
        assert_eq!(both.get(&a.channel_id), Some(&ChannelStatus::Active));
        db.set_live_stream_disconnected(&ls.live_stream_id)
            .await
            .unwrap();
        assert_eq!(
            status(a.channel_id.clone()).await,
            ChannelStatus::Disconnected
        );
        db.end_live_stream(&ls.live_stream_id, "done")
            .await
            .unwrap();
        assert_eq!(status(a.channel_id.clone()).await, ChannelStatus::Idle);
        assert!(db.channel_statuses(&[]).await.unwrap().is_empty());
        assert!(matches!(
            db.channel_status("nope").await,
            Err(Error::NotFound { what: "channel" })
        ));
    })
    .await;
}
