//! Chat (messages, bans, moderators), follows and browse.

use control::testutil::{self, each_backend};
use control::{
    ChannelUpdate, ClipSource, Clock, Error, IngestInfo, NewChatBan, NewClip, Visibility,
    normalize_chat_body,
};

use crate::common::recorded;

#[tokio::test]
async fn chat_messages_history_and_deletion() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "chatty").await;
        let (other, _) = testutil::channel(&db, "other").await;
        let alice = testutil::user(&db, "alice").await;
        let id = &channel.channel_id;

        let first = db
            .post_chat_message(id, &alice.user_id, "  hi there ")
            .await
            .unwrap();
        assert_eq!(first.body, "hi there");
        assert_eq!(first.username, "alice");
        assert_eq!(first.deleted_at_ms, None);
        let mut posted = vec![first.clone()];
        for i in 0..4 {
            posted.push(
                db.post_chat_message(id, &alice.user_id, &format!("m{i}"))
                    .await
                    .unwrap(),
            );
        }
        db.post_chat_message(&other.channel_id, &alice.user_id, "elsewhere")
            .await
            .unwrap();

        // Oldest first, the latest `limit`, only this channel's.
        assert_eq!(db.recent_chat_messages(id, 50).await.unwrap(), posted);
        assert_eq!(db.recent_chat_messages(id, 2).await.unwrap(), posted[3..]);

        // Validation.
        for (body, why) in [
            ("   ", "empty"),
            (&*"x".repeat(501), "too long"),
            ("a\u{7}b", "control"),
        ] {
            match db.post_chat_message(id, &alice.user_id, body).await {
                Err(Error::Invalid {
                    field: "body",
                    message,
                }) => {
                    assert!(message.contains(why), "{body:?}: {message}")
                }
                other => panic!("{body:?}: {other:?}"),
            }
        }
        assert_eq!(
            normalize_chat_body(&"é".repeat(500))
                .unwrap()
                .chars()
                .count(),
            500
        );
        assert!(matches!(
            db.post_chat_message("nope", &alice.user_id, "x").await,
            Err(Error::NotFound { .. })
        ));

        // Deleting marks the message; history skips it; a second delete
        // says so; another channel cannot delete it.
        let victim = &posted[1].message_id;
        assert!(matches!(
            db.delete_chat_message(&other.channel_id, victim).await,
            Err(Error::NotFound {
                what: "chat message"
            })
        ));
        assert!(db.delete_chat_message(id, victim).await.unwrap());
        assert!(!db.delete_chat_message(id, victim).await.unwrap());
        let deleted = db.chat_message(victim).await.unwrap().unwrap();
        assert!(deleted.deleted_at_ms.is_some());
        let history = db.recent_chat_messages(id, 50).await.unwrap();
        assert_eq!(history.len(), 4);
        assert!(history.iter().all(|m| &m.message_id != victim));
    })
    .await;
}

#[tokio::test]
async fn bans_timeouts_and_moderators() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "modded").await;
        let id = &channel.channel_id;
        let bob = testutil::user(&db, "bob").await;
        let carol = testutil::user(&db, "carol").await;
        let now = 1_000_000;

        assert_eq!(
            db.active_chat_ban(id, &bob.user_id, now).await.unwrap(),
            None
        );
        let timeout = db
            .set_chat_ban(NewChatBan {
                channel_id: id.clone(),
                user_id: bob.user_id.clone(),
                until_ms: Some(now + 60_000),
                reason: " spam ".into(),
                created_by_user_id: Some(channel.owner_user_id.clone()),
            })
            .await
            .unwrap();
        assert_eq!(timeout.reason, "spam");
        assert_eq!(
            db.active_chat_ban(id, &bob.user_id, now).await.unwrap(),
            Some(timeout.clone())
        );
        // A timeout runs out.
        assert_eq!(
            db.active_chat_ban(id, &bob.user_id, now + 60_000)
                .await
                .unwrap(),
            None
        );
        // A ban replaces it and does not run out.
        let ban = db
            .set_chat_ban(NewChatBan {
                channel_id: id.clone(),
                user_id: bob.user_id.clone(),
                until_ms: None,
                reason: String::new(),
                created_by_user_id: None,
            })
            .await
            .unwrap();
        assert_eq!(ban.until_ms, None);
        assert_eq!(
            db.active_chat_ban(id, &bob.user_id, i64::MAX - 1)
                .await
                .unwrap(),
            Some(ban)
        );
        assert_eq!(
            db.active_chat_ban(id, &carol.user_id, now).await.unwrap(),
            None
        );
        assert!(db.remove_chat_ban(id, &bob.user_id).await.unwrap());
        assert!(!db.remove_chat_ban(id, &bob.user_id).await.unwrap());
        assert_eq!(
            db.active_chat_ban(id, &bob.user_id, now).await.unwrap(),
            None
        );
        assert!(matches!(
            db.set_chat_ban(NewChatBan {
                channel_id: id.clone(),
                user_id: "nobody".into(),
                until_ms: None,
                reason: String::new(),
                created_by_user_id: None,
            })
            .await,
            Err(Error::NotFound { what: "user" })
        ));

        // Moderators.
        assert!(!db.is_channel_moderator(id, &carol.user_id).await.unwrap());
        assert!(db.add_channel_moderator(id, &carol.user_id).await.unwrap());
        assert!(!db.add_channel_moderator(id, &carol.user_id).await.unwrap());
        assert!(db.add_channel_moderator(id, &bob.user_id).await.unwrap());
        assert!(db.is_channel_moderator(id, &carol.user_id).await.unwrap());
        assert_eq!(db.channel_moderators(id).await.unwrap().len(), 2,);
        assert!(
            db.remove_channel_moderator(id, &carol.user_id)
                .await
                .unwrap()
        );
        assert!(
            !db.remove_channel_moderator(id, &carol.user_id)
                .await
                .unwrap()
        );
        assert_eq!(
            db.channel_moderators(id).await.unwrap(),
            [bob.user_id.as_str()]
        );
        assert!(matches!(
            db.add_channel_moderator(id, "nobody").await,
            Err(Error::NotFound { .. })
        ));

        // Deleting the channel takes its chat with it.
        db.post_chat_message(id, &bob.user_id, "bye").await.unwrap();
        db.follow_channel(&carol.user_id, id).await.unwrap();
        db.delete_channel(id).await.unwrap();
        assert!(db.channel_moderators(id).await.unwrap().is_empty());
        assert!(db.recent_chat_messages(id, 50).await.unwrap().is_empty());
        assert_eq!(db.follower_count(id).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn follows_counts_and_following_lists_live_first() {
    each_backend(async |db| {
        let db = db.with_clock(Clock::manual(1_800_000_000_000));
        let (quiet, _) = testutil::channel(&db, "quiet").await;
        let (loud, _) = testutil::channel(&db, "loud").await;
        let (later, _) = testutil::channel(&db, "later").await;
        let alice = testutil::user(&db, "alice").await;
        let bob = testutil::user(&db, "bob").await;

        assert!(
            db.follow_channel(&alice.user_id, &loud.channel_id)
                .await
                .unwrap()
        );
        assert!(
            !db.follow_channel(&alice.user_id, &loud.channel_id)
                .await
                .unwrap()
        );
        // Distinct follow times order the list.
        db.clock().advance(std::time::Duration::from_millis(3));
        assert!(
            db.follow_channel(&alice.user_id, &quiet.channel_id)
                .await
                .unwrap()
        );
        assert!(
            db.follow_channel(&bob.user_id, &quiet.channel_id)
                .await
                .unwrap()
        );
        assert!(matches!(
            db.follow_channel(&alice.user_id, "nope").await,
            Err(Error::NotFound { what: "channel" })
        ));
        assert!(
            db.is_following(&alice.user_id, &loud.channel_id)
                .await
                .unwrap()
        );
        assert!(
            !db.is_following(&bob.user_id, &loud.channel_id)
                .await
                .unwrap()
        );
        assert_eq!(db.follower_count(&quiet.channel_id).await.unwrap(), 2);
        assert_eq!(db.follower_count(&later.channel_id).await.unwrap(), 0);
        let ids = [
            quiet.channel_id.clone(),
            loud.channel_id.clone(),
            later.channel_id.clone(),
        ];
        let counts = db.follower_counts(&ids).await.unwrap();
        assert_eq!(counts.get(&quiet.channel_id), Some(&2));
        assert_eq!(counts.get(&loud.channel_id), Some(&1));
        assert_eq!(counts.get(&later.channel_id), None);
        let followed = db.followed_among(&bob.user_id, &ids).await.unwrap();
        assert_eq!(
            followed.into_iter().collect::<Vec<_>>(),
            [quiet.channel_id.as_str()]
        );

        // Newest follow first while nothing is live...
        let slugs = |list: Vec<control::FollowedChannel>| {
            list.into_iter()
                .map(|f| (f.channel.slug, f.live_stream_id.is_some()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            slugs(db.list_following(&alice.user_id, 50).await.unwrap()),
            [("quiet".to_owned(), false), ("loud".to_owned(), false)]
        );
        // ...live first once "loud" receives media (connected is not live).
        let ls = db.begin_live_stream(&loud.channel_id).await.unwrap();
        assert_eq!(
            slugs(db.list_following(&alice.user_id, 50).await.unwrap())[0],
            ("quiet".to_owned(), false)
        );
        db.set_live_stream_active(&ls.live_stream_id, IngestInfo::default())
            .await
            .unwrap();
        assert_eq!(
            slugs(db.list_following(&alice.user_id, 50).await.unwrap()),
            [("loud".to_owned(), true), ("quiet".to_owned(), false)]
        );

        assert!(
            db.unfollow_channel(&alice.user_id, &loud.channel_id)
                .await
                .unwrap()
        );
        assert!(
            !db.unfollow_channel(&alice.user_id, &loud.channel_id)
                .await
                .unwrap()
        );
        assert_eq!(db.follower_count(&loud.channel_id).await.unwrap(), 0);
        assert_eq!(
            slugs(db.list_following(&alice.user_id, 50).await.unwrap()),
            [("quiet".to_owned(), false)]
        );
    })
    .await;
}

#[tokio::test]
async fn browse_lists_public_live_channels_vods_and_clips() {
    each_backend(async |db| {
        let db = db.with_clock(Clock::manual(1_800_000_000_000));
        let alice = testutil::user(&db, "alice").await;
        let mut live = Vec::new();
        for (slug, title) in [
            ("first-one", "Morning Coffee"),
            ("second", "Speedrun 100%"),
            ("hidden", "Secret"),
        ] {
            let (channel, _) = testutil::channel(&db, slug).await;
            db.update_channel(
                &channel.channel_id,
                ChannelUpdate {
                    title: Some(title.into()),
                    visibility: (slug == "hidden").then_some(Visibility::Private),
                    ..ChannelUpdate::default()
                },
            )
            .await
            .unwrap();
            let ls = db.begin_live_stream(&channel.channel_id).await.unwrap();
            db.set_live_stream_active(&ls.live_stream_id, IngestInfo::default())
                .await
                .unwrap();
            live.push(channel);
            // Distinct start times order the list.
            db.clock().advance(std::time::Duration::from_millis(3));
        }
        // Connected but not receiving media: not listed.
        let (idle, _) = testutil::channel(&db, "connecting").await;
        db.begin_live_stream(&idle.channel_id).await.unwrap();

        let slugs = |list: Vec<control::LiveChannel>| {
            list.into_iter()
                .map(|l| (l.channel.slug, l.followed))
                .collect::<Vec<_>>()
        };
        let all = slugs(db.browse_live_channels(None, None, 50).await.unwrap());
        assert_eq!(
            all,
            [
                ("second".to_owned(), false),
                ("first-one".to_owned(), false)
            ]
        );
        db.follow_channel(&alice.user_id, &live[0].channel_id)
            .await
            .unwrap();
        assert_eq!(
            slugs(
                db.browse_live_channels(Some(" "), Some(&alice.user_id), 50)
                    .await
                    .unwrap()
            ),
            [("first-one".to_owned(), true), ("second".to_owned(), false)]
        );
        // Title or slug, ignoring case; LIKE wildcards match themselves.
        for (q, expected) in [
            ("COFFEE", vec!["first-one"]),
            ("sec", vec!["second"]),
            ("100%", vec!["second"]),
            ("%", vec!["second"]),
            ("_", vec![]),
            ("secret", vec![]),
            ("-one", vec!["first-one"]),
        ] {
            let found: Vec<String> = db
                .browse_live_channels(Some(q), None, 50)
                .await
                .unwrap()
                .into_iter()
                .map(|l| l.channel.slug)
                .collect();
            assert_eq!(found, expected, "{q:?}");
        }
        assert!(matches!(
            db.browse_live_channels(Some(&"x".repeat(101)), None, 50)
                .await,
            Err(Error::Invalid { field: "q", .. })
        ));

        // Ready VODs and clips of public channels only.
        let (public, _, vod) = recorded(&db, "vods-public").await;
        let (private, _, private_vod) = recorded(&db, "vods-private").await;
        db.update_channel(
            &private.channel_id,
            ChannelUpdate {
                visibility: Some(Visibility::Private),
                ..ChannelUpdate::default()
            },
        )
        .await
        .unwrap();
        let clip_of = async |vod_id: &str, title: &str| {
            let clip = db
                .create_clip(NewClip {
                    source: ClipSource::Vod {
                        vod_id: vod_id.to_owned(),
                    },
                    start_ms: 0,
                    end_ms: 1000,
                    title: title.to_owned(),
                    created_by_user_id: None,
                })
                .await
                .unwrap();
            db.finish_clip(&clip.clip_id).await.unwrap()
        };
        let clip = clip_of(&vod.vod_id, "Great Goal").await;
        clip_of(&private_vod.vod_id, "Great Secret").await;
        let preparing = db
            .create_clip(NewClip {
                source: ClipSource::Vod {
                    vod_id: vod.vod_id.clone(),
                },
                start_ms: 0,
                end_ms: 1000,
                title: "Great unfinished".into(),
                created_by_user_id: None,
            })
            .await
            .unwrap();
        let vod_ids = |v: Vec<control::Vod>| v.into_iter().map(|v| v.vod_id).collect::<Vec<_>>();
        assert_eq!(
            vod_ids(db.browse_vods(None, 50).await.unwrap()),
            [vod.vod_id.as_str()]
        );
        assert_eq!(
            vod_ids(db.browse_vods(Some("VODS-PUB"), 50).await.unwrap()),
            [vod.vod_id.as_str()]
        );
        assert!(
            db.browse_vods(Some("nothing"), 50)
                .await
                .unwrap()
                .is_empty()
        );
        let clip_ids = |c: Vec<control::Clip>| c.into_iter().map(|c| c.clip_id).collect::<Vec<_>>();
        assert_eq!(
            clip_ids(db.browse_clips(Some("great"), 50).await.unwrap()),
            [clip.clip_id.as_str()]
        );
        assert_eq!(
            clip_ids(db.browse_clips(None, 50).await.unwrap()),
            [clip.clip_id.as_str()]
        );
        assert_ne!(preparing.clip_id, clip.clip_id);
        assert_eq!(public.visibility, Visibility::Public);
    })
    .await;
}
