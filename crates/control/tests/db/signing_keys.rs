use std::time::Duration;

use control::testutil::{self, each_backend};
use control::{
    Error, PageRequest, PlaybackAudience, SigningAlgorithm, TokenError, sign_playback_token,
};

use crate::clips::control_now;
use crate::common::recorded;

#[tokio::test]
async fn signing_keys_verify_their_owners_playback_ids_only() {
    each_backend(async |db| {
        let (channel, _, vod) = recorded(&db, "signed").await;
        let (others, _) = testutil::channel(&db, "others").await;
        let owner = channel.owner_user_id.clone();
        let clip = db
            .create_clip(control::NewClip {
                source: control::ClipSource::Vod {
                    vod_id: vod.vod_id.clone(),
                },
                start_ms: 0,
                end_ms: 1000,
                title: String::new(),
                created_by_user_id: None,
            })
            .await
            .unwrap();
        let now = control_now();
        let exp = now / 1000 + 300;

        for algorithm in SigningAlgorithm::ALL.iter().copied() {
            let created = db.create_signing_key(&owner, algorithm).await.unwrap();
            assert_eq!(created.key.algorithm, algorithm);
            assert!(created.private_key_pem.contains("BEGIN PRIVATE KEY"));
            assert!(created.key.public_key_pem.contains("BEGIN PUBLIC KEY"));
            assert!(!format!("{created:?}").contains("PRIVATE"));
            let kid = &created.key.signing_key_id;
            let sign = |playback_id: &str, aud| {
                sign_playback_token(&created.private_key_pem, kid, playback_id, aud, exp).unwrap()
            };

            // The channel's playback id, its VOD and its clip.
            for playback_id in [&channel.playback_id, &vod.vod_id, &clip.clip_id] {
                let token = sign(playback_id, PlaybackAudience::Video);
                let claims = db
                    .verify_playback_token(&token, playback_id, PlaybackAudience::Video, now)
                    .await
                    .unwrap();
                assert_eq!((&claims.sub, &claims.key_id), (playback_id, kid));
            }
            let thumb = sign(&channel.playback_id, PlaybackAudience::Thumbnail);
            assert!(matches!(
                db.verify_playback_token(
                    &thumb,
                    &channel.playback_id,
                    PlaybackAudience::Video,
                    now
                )
                .await,
                Err(TokenError::WrongAudience)
            ));
            let token = sign(&channel.playback_id, PlaybackAudience::Video);
            assert!(matches!(
                db.verify_playback_token(&token, &vod.vod_id, PlaybackAudience::Video, now)
                    .await,
                Err(TokenError::WrongPlaybackId)
            ));
            assert!(matches!(
                db.verify_playback_token(
                    &token,
                    &channel.playback_id,
                    PlaybackAudience::Video,
                    now + 3_600_000
                )
                .await,
                Err(TokenError::Expired)
            ));
            // Someone else's channel: the key may not sign for it.
            let foreign = sign(&others.playback_id, PlaybackAudience::Video);
            assert!(matches!(
                db.verify_playback_token(
                    &foreign,
                    &others.playback_id,
                    PlaybackAudience::Video,
                    now
                )
                .await,
                Err(TokenError::KeyNotAllowed)
            ));
            let nowhere = sign("nowhere", PlaybackAudience::Video);
            assert!(matches!(
                db.verify_playback_token(&nowhere, "nowhere", PlaybackAudience::Video, now)
                    .await,
                Err(TokenError::UnknownPlaybackId)
            ));

            // Deleting the key revokes its tokens.
            db.delete_signing_key(&owner, kid).await.unwrap();
            assert!(matches!(
                db.verify_playback_token(&token, &channel.playback_id, PlaybackAudience::Video, now)
                    .await,
                Err(TokenError::UnknownKey(k)) if &k == kid
            ));
        }
        assert!(matches!(
            db.verify_playback_token("garbage", "x", PlaybackAudience::Video, now)
                .await,
            Err(TokenError::Malformed(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn signing_keys_are_owner_scoped() {
    each_backend(async |db| {
        let alice = testutil::user(&db, "alice").await;
        let bob = testutil::user(&db, "bob").await;
        let mut keys = Vec::new();
        for _ in 0..3 {
            keys.push(
                db.create_signing_key(&alice.user_id, SigningAlgorithm::Es256)
                    .await
                    .unwrap()
                    .key,
            );
        }
        let page = db
            .list_signing_keys(&alice.user_id, &PageRequest::first(2))
            .await
            .unwrap();
        assert_eq!(page.items, [keys[2].clone(), keys[1].clone()]);
        assert!(page.next_cursor.is_some());
        assert!(
            db.list_signing_keys(&bob.user_id, &PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        let id = &keys[0].signing_key_id;
        assert_eq!(db.signing_key(&alice.user_id, id).await.unwrap(), keys[0]);
        for result in [
            db.signing_key(&bob.user_id, id).await.map(|_| ()),
            db.delete_signing_key(&bob.user_id, id).await,
        ] {
            assert!(matches!(
                result,
                Err(Error::NotFound {
                    what: "signing key"
                })
            ));
        }
        assert!(matches!(
            db.create_signing_key("nobody", SigningAlgorithm::Es256)
                .await,
            Err(Error::NotFound { what: "user" })
        ));
        // Keys go with their user.
        db.delete_user(&alice.user_id).await.unwrap();
        assert!(db.verifying_key(id).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn the_server_mints_tokens_for_any_playback_id() {
    each_backend(async |db| {
        let (a, _) = testutil::channel(&db, "mint-a").await;
        let (b, _) = testutil::channel(&db, "mint-b").await;
        // Several at once create one server key between them.
        let mut handles = Vec::new();
        for channel in [&a, &b, &a, &b] {
            let (db, playback_id) = (db.clone(), channel.playback_id.clone());
            handles.push(tokio::spawn(async move {
                let token = db
                    .mint_playback_token(
                        &playback_id,
                        PlaybackAudience::Video,
                        Duration::from_secs(60),
                    )
                    .await
                    .unwrap();
                (playback_id, token)
            }));
        }
        let mut key_ids = Vec::new();
        for handle in handles {
            let (playback_id, token) = handle.await.unwrap();
            let claims = db
                .verify_playback_token(&token, &playback_id, PlaybackAudience::Video, control_now())
                .await
                .unwrap();
            key_ids.push(claims.key_id);
        }
        key_ids.dedup();
        assert_eq!(key_ids.len(), 1, "one server key");
        // The server key is nobody's: not listed, not deletable.
        for user in [&a.owner_user_id, &b.owner_user_id] {
            assert!(
                db.list_signing_keys(user, &PageRequest::default())
                    .await
                    .unwrap()
                    .items
                    .is_empty()
            );
            assert!(db.delete_signing_key(user, &key_ids[0]).await.is_err());
        }
        for ttl in [Duration::ZERO, Duration::from_secs(86_401)] {
            assert!(matches!(
                db.mint_playback_token(&a.playback_id, PlaybackAudience::Video, ttl)
                    .await,
                Err(Error::Invalid { field: "ttl", .. })
            ));
        }
    })
    .await;
}

#[tokio::test]
async fn signing_key_owner_names_the_owner_and_not_the_server_key() {
    each_backend(async |db| {
        let (a, _) = testutil::channel(&db, "owner-a").await;
        let (b, _) = testutil::channel(&db, "owner-b").await;
        let ka = db
            .create_signing_key(&a.owner_user_id, SigningAlgorithm::Es256)
            .await
            .unwrap();
        let kb = db
            .create_signing_key(&b.owner_user_id, SigningAlgorithm::Es256)
            .await
            .unwrap();
        let ka_id = &ka.key.signing_key_id;
        assert_eq!(
            db.signing_key_owner(ka_id).await.unwrap().as_deref(),
            Some(a.owner_user_id.as_str())
        );
        assert_eq!(
            db.signing_key_owner(&kb.key.signing_key_id)
                .await
                .unwrap()
                .as_deref(),
            Some(b.owner_user_id.as_str())
        );
        assert_eq!(db.signing_key_owner("no-such-key").await.unwrap(), None);
        // The server's own key has no owner.
        let token = db
            .mint_playback_token(
                &a.playback_id,
                PlaybackAudience::Video,
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        let server_kid = control::token_key_id(&token).unwrap();
        assert_eq!(db.signing_key_owner(&server_kid).await.unwrap(), None);
        db.delete_signing_key(&a.owner_user_id, ka_id)
            .await
            .unwrap();
        assert_eq!(db.signing_key_owner(ka_id).await.unwrap(), None);
    })
    .await;
}
