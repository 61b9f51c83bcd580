use control::testutil::{self, PASSWORD, each_backend};
use control::{Error, NewUser, Role};

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

        assert_eq!(db.list_users().await.unwrap(), vec![user]);
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
        assert!(db.list_users().await.unwrap().is_empty());
        // A valid one still goes through afterwards.
        testutil::user(&db, "alice").await;
    })
    .await;
}

pub(crate) fn uuid_version(id: &str) -> usize {
    // xxxxxxxx-xxxx-Vxxx-...: the version is the 15th character.
    assert_eq!(id.len(), 36, "{id}");
    id[14..15].parse().unwrap()
}
