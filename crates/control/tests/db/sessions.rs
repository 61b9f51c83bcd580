use std::time::Duration;

use control::testutil::{self, each_backend};
use control::{Clock, Error, SESSION_TTL_MAX};

#[tokio::test]
async fn session_lifecycle_and_csrf() {
    each_backend(async |db| {
        let alice = testutil::user(&db, "alice").await;
        let created = db
            .create_session(&alice.user_id, Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(created.token.len(), 32);
        assert_eq!(created.csrf_token.len(), 32);
        assert_ne!(created.token, created.csrf_token);
        assert_eq!(
            created.session.expires_at_ms - created.session.created_at_ms,
            3_600_000
        );

        let (user, session) = db.session(&created.token).await.unwrap().unwrap();
        assert_eq!(user, alice);
        assert_eq!(session, created.session);
        assert!(session.verify_csrf(&created.csrf_token));
        assert!(!session.verify_csrf(&created.token));
        assert!(!session.verify_csrf(""));
        assert!(!session.verify_csrf(&"x".repeat(1000)));
        // Debug output shows no hash.
        assert!(!format!("{session:?}").contains("csrf_token_hash"));

        // Unknown and malformed tokens are simply not found.
        assert!(db.session("nope").await.unwrap().is_none());
        assert!(db.session("").await.unwrap().is_none());
        assert!(db.session(&"a".repeat(500)).await.unwrap().is_none());

        let second = db
            .create_session(&alice.user_id, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(db.list_sessions(&alice.user_id).await.unwrap().len(), 2);
        assert!(db.delete_session(&created.token).await.unwrap());
        assert!(!db.delete_session(&created.token).await.unwrap());
        assert!(db.session(&created.token).await.unwrap().is_none());
        assert!(db.session(&second.token).await.unwrap().is_some());
        assert_eq!(db.delete_user_sessions(&alice.user_id).await.unwrap(), 1);
        assert!(db.session(&second.token).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn expired_sessions_are_ignored_then_purged() {
    each_backend(async |db| {
        // Expiry is decided by the database handle's clock: moved, not waited for.
        let db = db.with_clock(Clock::manual(1_800_000_000_000));
        let alice = testutil::user(&db, "alice").await;
        let short = db
            .create_session(&alice.user_id, Duration::from_millis(1))
            .await
            .unwrap();
        let long = db
            .create_session(&alice.user_id, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(db.session(&short.token).await.unwrap().is_some());
        db.clock().advance(Duration::from_millis(2));
        assert!(db.session(&short.token).await.unwrap().is_none());
        assert_eq!(db.list_sessions(&alice.user_id).await.unwrap().len(), 1);
        assert_eq!(db.purge_expired_sessions().await.unwrap(), 1);
        assert_eq!(db.purge_expired_sessions().await.unwrap(), 0);
        assert!(db.session(&long.token).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn session_input_is_validated() {
    each_backend(async |db| {
        let alice = testutil::user(&db, "alice").await;
        for ttl in [Duration::ZERO, SESSION_TTL_MAX + Duration::from_secs(1)] {
            assert!(matches!(
                db.create_session(&alice.user_id, ttl).await,
                Err(Error::Invalid { field: "ttl", .. })
            ));
        }
        assert!(matches!(
            db.create_session("nobody", Duration::from_secs(1)).await,
            Err(Error::NotFound { what: "user" })
        ));
    })
    .await;
}
