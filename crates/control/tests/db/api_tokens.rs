use control::testutil::{self, each_backend};
use control::{API_TOKEN_PREFIX, API_TOKEN_RANDOM_LEN, Error, PageRequest};

use crate::common::all_pages;

#[tokio::test]
async fn api_token_lifecycle() {
    each_backend(async |db| {
        let alice = testutil::user(&db, "alice").await;
        let created = db.create_api_token(&alice.user_id, "  CI  ").await.unwrap();
        let secret = &created.secret;
        assert!(secret.starts_with(API_TOKEN_PREFIX));
        assert_eq!(secret.len(), API_TOKEN_PREFIX.len() + API_TOKEN_RANDOM_LEN);
        assert_eq!(created.token.name, "CI");
        assert_eq!(created.token.user_id, alice.user_id);
        assert_eq!(
            created.token.secret_prefix,
            &secret[..API_TOKEN_PREFIX.len() + 4]
        );
        assert_eq!(created.token.last_used_at_ms, None);

        // Using it returns the user and records the use.
        let (user, token) = db.api_token_by_secret(secret).await.unwrap().unwrap();
        assert_eq!(user, alice);
        let used_at = token.last_used_at_ms.expect("use recorded");
        assert!(used_at >= created.token.created_at_ms);
        // A second use within the minute does not move it.
        let (_, again) = db.api_token_by_secret(secret).await.unwrap().unwrap();
        assert_eq!(again.last_used_at_ms, Some(used_at));
        let listed = db
            .list_api_tokens(&alice.user_id, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(listed.items, vec![again.clone()]);

        // Wrong, malformed and foreign-looking secrets are not found.
        for bad in [
            "",
            "aethex_",
            "live_abcdefghijklmnopqrstuvwxyz012345",
            &format!("{API_TOKEN_PREFIX}{}", "A".repeat(API_TOKEN_RANDOM_LEN)),
            &format!("{secret}x"),
            &"aethex_x".repeat(100),
        ] {
            assert!(
                db.api_token_by_secret(bad).await.unwrap().is_none(),
                "{bad:?}"
            );
        }

        // Only the owner can revoke it; then it stops working.
        let bob = testutil::user(&db, "bob").await;
        assert!(matches!(
            db.delete_api_token(&bob.user_id, &token.api_token_id).await,
            Err(Error::NotFound { what: "api token" })
        ));
        assert!(db.api_token_by_secret(secret).await.unwrap().is_some());
        db.delete_api_token(&alice.user_id, &token.api_token_id)
            .await
            .unwrap();
        assert!(db.api_token_by_secret(secret).await.unwrap().is_none());
        assert!(matches!(
            db.delete_api_token(&alice.user_id, &token.api_token_id)
                .await,
            Err(Error::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn api_tokens_page_per_user() {
    each_backend(async |db| {
        let alice = testutil::user(&db, "alice").await;
        let bob = testutil::user(&db, "bob").await;
        let mut mine = Vec::new();
        for i in 0..5 {
            mine.push(
                db.create_api_token(&alice.user_id, &format!("t{i}"))
                    .await
                    .unwrap()
                    .token,
            );
        }
        db.create_api_token(&bob.user_id, "bob's").await.unwrap();
        let listed = all_pages(2, |page| {
            let (db, id) = (db.clone(), alice.user_id.clone());
            async move { db.list_api_tokens(&id, &page).await }
        })
        .await;
        mine.reverse();
        assert_eq!(listed, mine);
    })
    .await;
}

#[tokio::test]
async fn api_token_input_is_validated() {
    each_backend(async |db| {
        let alice = testutil::user(&db, "alice").await;
        for bad in ["", "  ", "tab\there", &"x".repeat(101)] {
            assert!(
                matches!(
                    db.create_api_token(&alice.user_id, bad).await,
                    Err(Error::Invalid { field: "name", .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            db.create_api_token("nobody", "ci").await,
            Err(Error::NotFound { what: "user" })
        ));
    })
    .await;
}

#[tokio::test]
async fn api_token_owner_names_the_owner() {
    each_backend(async |db| {
        let alice = testutil::user(&db, "alice").await;
        let bob = testutil::user(&db, "bob").await;
        let a = db.create_api_token(&alice.user_id, "a").await.unwrap();
        let b = db.create_api_token(&bob.user_id, "b").await.unwrap();
        let a_id = &a.token.api_token_id;
        let b_id = &b.token.api_token_id;
        assert_eq!(
            db.api_token_owner(a_id).await.unwrap().as_deref(),
            Some(alice.user_id.as_str())
        );
        assert_eq!(
            db.api_token_owner(b_id).await.unwrap().as_deref(),
            Some(bob.user_id.as_str())
        );
        assert_eq!(db.api_token_owner("no-such-token").await.unwrap(), None);
        // Revoked: gone.
        db.delete_api_token(&alice.user_id, a_id).await.unwrap();
        assert_eq!(db.api_token_owner(a_id).await.unwrap(), None);
    })
    .await;
}
