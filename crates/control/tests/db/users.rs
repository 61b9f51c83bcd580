use control::testutil::{self, PASSWORD, each_backend};
use std::time::Duration;

use control::{Error, NewUser, PageRequest, Role, UserUpdate};

use crate::common::all_pages;

fn new_user(username: &str, email: Option<&str>) -> NewUser {
    NewUser {
        username: username.to_owned(),
        email: email.map(str::to_owned),
        password: PASSWORD.to_owned(),
        role: Role::Creator,
    }
}

#[tokio::test]
async fn create_user_and_verify_password() {
    each_backend(async |db| {
        let user = db
            .create_user(NewUser {
                role: Role::Admin,
                ..new_user("Alice", Some("Alice@Example.com"))
            })
            .await
            .unwrap();
        assert_eq!(user.username, "alice");
        assert_eq!(user.email.as_deref(), Some("Alice@Example.com"));
        assert_eq!(user.role, Role::Admin);
        assert_eq!(uuid_version(&user.user_id), 7);

        // Lookups ignore case; a non-username is simply not found.
        assert_eq!(
            db.user_by_username("ALICE").await.unwrap(),
            Some(user.clone())
        );
        assert_eq!(db.user(&user.user_id).await.unwrap(), Some(user.clone()));
        assert_eq!(db.user_by_username("bob").await.unwrap(), None);
        assert_eq!(db.user_by_username("no spaces!").await.unwrap(), None);

        assert_eq!(
            db.verify_password("alice", PASSWORD).await.unwrap(),
            Some(user.clone())
        );
        assert_eq!(
            db.verify_password("Alice", PASSWORD).await.unwrap(),
            Some(user.clone())
        );
        assert_eq!(
            db.verify_password("alice", "wrong password").await.unwrap(),
            None
        );
        assert_eq!(db.verify_password("nobody", PASSWORD).await.unwrap(), None);
        assert_eq!(db.verify_password("", PASSWORD).await.unwrap(), None);

        assert_eq!(
            db.list_users(&PageRequest::default()).await.unwrap().items,
            vec![user]
        );
    })
    .await;
}

#[tokio::test]
async fn usernames_and_emails_are_unique_ignoring_case() {
    each_backend(async |db| {
        db.create_user(new_user("alice", Some("alice@example.com")))
            .await
            .unwrap();
        match db.create_user(new_user("ALICE", None)).await {
            Err(Error::Conflict { what }) => assert_eq!(what, "username"),
            other => panic!("{other:?}"),
        }
        match db
            .create_user(new_user("alice2", Some("ALICE@example.COM")))
            .await
        {
            Err(Error::Conflict { what }) => assert_eq!(what, "email"),
            other => panic!("{other:?}"),
        }
        // Users without email do not collide with each other.
        db.create_user(new_user("bob", None)).await.unwrap();
        db.create_user(new_user("carol", Some(""))).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn user_input_is_validated_with_the_field_named() {
    each_backend(async |db| {
        for (input, field) in [
            (new_user("al", None), "username"),
            (new_user("al ice", None), "username"),
            (new_user(&"a".repeat(33), None), "username"),
            (new_user("alice", Some("not-an-email")), "email"),
            (
                NewUser {
                    password: "short".into(),
                    ..new_user("alice", None)
                },
                "password",
            ),
        ] {
            match db.create_user(input.clone()).await {
                Err(Error::Invalid { field: f, message }) => {
                    assert_eq!(f, field, "{input:?}: {message}");
                    assert!(!message.is_empty());
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
        assert!(
            db.list_users(&PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        // A valid one still goes through afterwards.
        testutil::user(&db, "alice").await;
    })
    .await;
}

#[tokio::test]
async fn users_page_newest_first_and_count() {
    each_backend(async |db| {
        assert_eq!(db.count_users().await.unwrap(), 0);
        let mut made = Vec::new();
        for i in 0..5 {
            made.push(testutil::user(&db, &format!("user{i}")).await);
        }
        assert_eq!(db.count_users().await.unwrap(), 5);
        let listed = all_pages(2, |page| {
            let db = db.clone();
            async move { db.list_users(&page).await }
        })
        .await;
        made.reverse();
        assert_eq!(listed, made);
        // One exact page has no next cursor.
        let page = db.list_users(&PageRequest::first(5)).await.unwrap();
        assert_eq!((page.items.len(), page.next_cursor), (5, None));
    })
    .await;
}

#[tokio::test]
async fn update_user_email_role_and_password() {
    each_backend(async |db| {
        let alice = testutil::user(&db, "alice").await;
        let bob = db
            .create_user(new_user("bob", Some("bob@example.com")))
            .await
            .unwrap();

        let updated = db
            .update_user(
                &alice.user_id,
                UserUpdate {
                    email: Some(" Alice@Example.com ".into()),
                    role: Some(Role::Admin),
                    ..UserUpdate::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.email.as_deref(), Some("Alice@Example.com"));
        assert_eq!(updated.role, Role::Admin);
        assert_eq!(db.user(&alice.user_id).await.unwrap(), Some(updated));

        // An empty string removes the address; None keeps it.
        let kept = db
            .update_user(&bob.user_id, UserUpdate::default())
            .await
            .unwrap();
        assert_eq!(kept.email.as_deref(), Some("bob@example.com"));
        let cleared = db
            .update_user(
                &bob.user_id,
                UserUpdate {
                    email: Some(String::new()),
                    ..UserUpdate::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(cleared.email, None);

        // Taken addresses conflict (ignoring case); bad input names the field.
        match db
            .update_user(
                &bob.user_id,
                UserUpdate {
                    email: Some("ALICE@example.com".into()),
                    ..UserUpdate::default()
                },
            )
            .await
        {
            Err(Error::Conflict { what }) => assert_eq!(what, "email"),
            other => panic!("{other:?}"),
        }
        for (update, field) in [
            (
                UserUpdate {
                    email: Some("nope".into()),
                    ..UserUpdate::default()
                },
                "email",
            ),
            (
                UserUpdate {
                    password: Some("short".into()),
                    ..UserUpdate::default()
                },
                "password",
            ),
        ] {
            match db.update_user(&bob.user_id, update).await {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(matches!(
            db.update_user("nope", UserUpdate::default()).await,
            Err(Error::NotFound { what: "user" })
        ));

        // A new password works, the old one not, and sessions end.
        let session = db
            .create_session(&bob.user_id, Duration::from_secs(60))
            .await
            .unwrap();
        let token = db.create_api_token(&bob.user_id, "ci").await.unwrap();
        db.update_user(
            &bob.user_id,
            UserUpdate {
                password: Some("a much better password".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
        assert!(db.verify_password("bob", PASSWORD).await.unwrap().is_none());
        assert!(
            db.verify_password("bob", "a much better password")
                .await
                .unwrap()
                .is_some()
        );
        assert!(db.session(&session.token).await.unwrap().is_none());
        // API tokens go too: a leaked password may have minted them.
        assert!(
            db.api_token_by_secret(&token.secret)
                .await
                .unwrap()
                .is_none()
        );
        // Unless the user keeps them explicitly.
        let token = db.create_api_token(&bob.user_id, "ci").await.unwrap();
        db.update_user(
            &bob.user_id,
            UserUpdate {
                password: Some("an even better password".into()),
                keep_api_tokens: true,
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
        assert!(
            db.api_token_by_secret(&token.secret)
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

#[tokio::test]
async fn the_last_admin_stays_an_admin() {
    each_backend(async |db| {
        let root = db
            .create_user(NewUser {
                role: Role::Admin,
                ..new_user("root", None)
            })
            .await
            .unwrap();
        let demote = UserUpdate {
            role: Some(Role::Viewer),
            ..UserUpdate::default()
        };
        match db.update_user(&root.user_id, demote.clone()).await {
            Err(Error::InUse { what, reason }) => {
                assert_eq!(what, "user");
                assert!(reason.contains("only admin"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            db.delete_user(&root.user_id).await,
            Err(Error::InUse { .. })
        ));
        // Still admin; with a second admin, either may go.
        assert_eq!(
            db.user(&root.user_id).await.unwrap().unwrap().role,
            Role::Admin
        );
        let other = db
            .create_user(NewUser {
                role: Role::Admin,
                ..new_user("other", None)
            })
            .await
            .unwrap();
        db.update_user(&root.user_id, demote).await.unwrap();
        db.delete_user(&root.user_id).await.unwrap();
        assert!(matches!(
            db.delete_user(&other.user_id).await,
            Err(Error::InUse { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn delete_user_refuses_channel_owners_and_cascades_the_rest() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "mine").await;
        let owner = channel.owner_user_id.clone();
        match db.delete_user(&owner).await {
            Err(Error::InUse { what, reason }) => {
                assert_eq!(what, "user");
                assert!(reason.contains("1 channel;"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let session = db
            .create_session(&owner, Duration::from_secs(60))
            .await
            .unwrap();
        let token = db.create_api_token(&owner, "ci").await.unwrap();
        db.delete_channel(&channel.channel_id).await.unwrap();

        db.delete_user(&owner).await.unwrap();
        assert_eq!(db.user(&owner).await.unwrap(), None);
        assert!(db.session(&session.token).await.unwrap().is_none());
        assert!(
            db.api_token_by_secret(&token.secret)
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            db.delete_user(&owner).await,
            Err(Error::NotFound { what: "user" })
        ));
    })
    .await;
}

pub(crate) fn uuid_version(id: &str) -> usize {
    // xxxxxxxx-xxxx-Vxxx-...: the version is the 15th character.
    assert_eq!(id.len(), 36, "{id}");
    id[14..15].parse().unwrap()
}
