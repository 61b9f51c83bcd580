use control::testutil::{self, each_backend};
use control::{
    Error, NewWebhookEndpoint, PageRequest, WEBHOOK_RETRY_WINDOW_MS, WEBHOOK_SECRET_PREFIX,
    WebhookDeliveryStatus, WebhookEndpointUpdate, WebhookEventType, WebhookFormat,
    verify_webhook_signature, webhook_retry_delay_ms, webhook_signature_header,
};
use serde_json::json;

use crate::clips::control_now;

fn endpoint(url: &str, event_types: &[WebhookEventType]) -> NewWebhookEndpoint {
    NewWebhookEndpoint {
        url: url.to_owned(),
        event_types: event_types.to_vec(),
        format: WebhookFormat::Native,
    }
}

#[tokio::test]
async fn endpoints_are_owner_scoped() {
    each_backend(async |db| {
        let alice = testutil::user(&db, "alice").await;
        let bob = testutil::user(&db, "bob").await;
        let created = db
            .create_webhook_endpoint(&alice.user_id, endpoint("https://Example.com/hook", &[]))
            .await
            .unwrap();
        assert_eq!(created.url, "https://example.com/hook");
        assert!(created.secret.starts_with(WEBHOOK_SECRET_PREFIX));
        assert!(created.enabled);
        assert!(created.event_types.is_empty());
        let id = &created.webhook_endpoint_id;
        assert_eq!(
            db.webhook_endpoint(&alice.user_id, id).await.unwrap(),
            created
        );

        // Bob sees nothing of it, and can change nothing.
        let not_found = |r: control::Result<()>| {
            assert!(
                matches!(
                    r,
                    Err(Error::NotFound {
                        what: "webhook endpoint"
                    })
                ),
                "{r:?}"
            )
        };
        not_found(db.webhook_endpoint(&bob.user_id, id).await.map(|_| ()));
        not_found(
            db.update_webhook_endpoint(&bob.user_id, id, WebhookEndpointUpdate::default())
                .await
                .map(|_| ()),
        );
        not_found(db.rotate_webhook_secret(&bob.user_id, id).await.map(|_| ()));
        not_found(
            db.list_deliveries(&bob.user_id, id, &PageRequest::default())
                .await
                .map(|_| ()),
        );
        not_found(db.delete_webhook_endpoint(&bob.user_id, id).await);
        assert!(
            db.list_webhook_endpoints(&bob.user_id, &PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );

        let updated = db
            .update_webhook_endpoint(
                &alice.user_id,
                id,
                WebhookEndpointUpdate {
                    url: Some("http://10.0.0.5:8000/in".into()),
                    event_types: Some(vec![
                        WebhookEventType::VodReady,
                        WebhookEventType::LiveStreamActive,
                    ]),
                    enabled: Some(false),
                    format: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.url, "http://10.0.0.5:8000/in");
        assert_eq!(
            updated.event_types,
            [
                WebhookEventType::LiveStreamActive,
                WebhookEventType::VodReady
            ]
        );
        assert!(!updated.enabled);
        assert_eq!(updated.secret, created.secret);
        let rotated = db.rotate_webhook_secret(&alice.user_id, id).await.unwrap();
        assert_ne!(rotated.secret, created.secret);
        assert!(matches!(
            db.update_webhook_endpoint(
                &alice.user_id,
                id,
                WebhookEndpointUpdate {
                    url: Some("ftp://x.example/".into()),
                    ..WebhookEndpointUpdate::default()
                }
            )
            .await,
            Err(Error::Invalid { field: "url", .. })
        ));
        assert!(matches!(
            db.create_webhook_endpoint(&alice.user_id, endpoint("not a url", &[]))
                .await,
            Err(Error::Invalid { field: "url", .. })
        ));
        assert!(matches!(
            db.create_webhook_endpoint("nobody", endpoint("https://x.example/", &[]))
                .await,
            Err(Error::NotFound { what: "user" })
        ));

        let mut all = vec![rotated];
        for i in 0..3 {
            all.push(
                db.create_webhook_endpoint(
                    &alice.user_id,
                    endpoint(&format!("https://x.example/{i}"), &[]),
                )
                .await
                .unwrap(),
            );
        }
        all.reverse();
        let listed = crate::common::all_pages(3, |page| {
            let (db, user) = (db.clone(), alice.user_id.clone());
            async move { db.list_webhook_endpoints(&user, &page).await }
        })
        .await;
        assert_eq!(listed, all);

        db.delete_webhook_endpoint(&alice.user_id, id)
            .await
            .unwrap();
        not_found(db.delete_webhook_endpoint(&alice.user_id, id).await);
    })
    .await;
}

#[tokio::test]
async fn events_fan_out_to_matching_enabled_endpoints_of_the_owner() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "hooks").await;
        let owner = &channel.owner_user_id;
        let stranger = testutil::user(&db, "stranger").await;
        let all = db
            .create_webhook_endpoint(owner, endpoint("https://a.example/", &[]))
            .await
            .unwrap();
        let vods_only = db
            .create_webhook_endpoint(
                owner,
                endpoint("https://b.example/", &[WebhookEventType::VodReady]),
            )
            .await
            .unwrap();
        let disabled = db
            .create_webhook_endpoint(owner, endpoint("https://c.example/", &[]))
            .await
            .unwrap();
        db.update_webhook_endpoint(
            owner,
            &disabled.webhook_endpoint_id,
            WebhookEndpointUpdate {
                enabled: Some(false),
                ..WebhookEndpointUpdate::default()
            },
        )
        .await
        .unwrap();
        db.create_webhook_endpoint(&stranger.user_id, endpoint("https://d.example/", &[]))
            .await
            .unwrap();

        let (event, deliveries) = db
            .enqueue_webhook_event(
                WebhookEventType::LiveStreamActive,
                owner,
                Some(&channel.channel_id),
                json!({"live_stream_id": "ls1"}),
            )
            .await
            .unwrap();
        assert_eq!(event.event_type, WebhookEventType::LiveStreamActive);
        assert_eq!(
            event.channel_id.as_deref(),
            Some(channel.channel_id.as_str())
        );
        let to: Vec<_> = deliveries.iter().map(|d| &d.webhook_endpoint_id).collect();
        assert_eq!(to, [&all.webhook_endpoint_id]);
        assert_eq!(deliveries[0].status, WebhookDeliveryStatus::Pending);
        assert_eq!(deliveries[0].attempt_count, 0);

        let (_, deliveries) = db
            .enqueue_webhook_event(WebhookEventType::VodReady, owner, None, json!({}))
            .await
            .unwrap();
        let mut to: Vec<_> = deliveries
            .iter()
            .map(|d| d.webhook_endpoint_id.clone())
            .collect();
        to.sort();
        let mut expected = vec![
            all.webhook_endpoint_id.clone(),
            vods_only.webhook_endpoint_id.clone(),
        ];
        expected.sort();
        assert_eq!(to, expected);

        // An owner with no endpoints still gets the event recorded.
        let (_, none) = db
            .enqueue_webhook_event(
                WebhookEventType::ClipReady,
                &testutil::user(&db, "lonely").await.user_id,
                None,
                json!(null),
            )
            .await
            .unwrap();
        assert!(none.is_empty());
        assert!(matches!(
            db.enqueue_webhook_event(WebhookEventType::ClipReady, "nobody", None, json!({}))
                .await,
            Err(Error::NotFound { what: "user" })
        ));
        assert!(matches!(
            db.enqueue_webhook_event(
                WebhookEventType::ClipReady,
                owner,
                None,
                json!({"big": "x".repeat(70_000)})
            )
            .await,
            Err(Error::Invalid { field: "data", .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn deliveries_are_leased_retried_and_given_up() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "retry").await;
        let owner = &channel.owner_user_id;
        let ep = db
            .create_webhook_endpoint(owner, endpoint("https://a.example/", &[]))
            .await
            .unwrap();
        let (event, _) = db
            .enqueue_webhook_event(
                WebhookEventType::LiveStreamIdle,
                owner,
                Some(&channel.channel_id),
                json!({"n": 1}),
            )
            .await
            .unwrap();
        let now = control_now();

        let claimed = db.claim_due_deliveries(now, 10, 30_000).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let due = &claimed[0];
        assert_eq!(due.event, event);
        assert_eq!(due.endpoint, ep);
        assert_eq!(due.delivery.attempt_count, 1);
        // What the worker sends, and what a receiver checks.
        let body = due.event.body();
        let header = webhook_signature_header(&due.endpoint.secret, now / 1000, body.as_bytes());
        assert!(verify_webhook_signature(
            &ep.secret,
            &header,
            body.as_bytes(),
            now / 1000,
            300
        ));

        // Leased: invisible to others until the lease runs out.
        assert!(
            db.claim_due_deliveries(now + 29_999, 10, 30_000)
                .await
                .unwrap()
                .is_empty()
        );
        let id = &due.delivery.webhook_delivery_id;

        // First failure: due again in 10 s.
        let failed = db
            .delivery_failed(id, Some(500), "Internal Server Error", now + 1000)
            .await
            .unwrap();
        assert_eq!(failed.status, WebhookDeliveryStatus::Pending);
        assert_eq!(
            failed.next_attempt_at_ms,
            now + 1000 + webhook_retry_delay_ms(1)
        );
        assert_eq!(failed.last_status_code, Some(500));
        assert_eq!(failed.last_error.as_deref(), Some("Internal Server Error"));
        assert!(
            db.claim_due_deliveries(now + 10_999, 10, 30_000)
                .await
                .unwrap()
                .is_empty()
        );
        let second = db
            .claim_due_deliveries(now + 11_000, 10, 30_000)
            .await
            .unwrap();
        assert_eq!(second[0].delivery.attempt_count, 2);
        let failed = db
            .delivery_failed(id, None, "connection refused", now + 12_000)
            .await
            .unwrap();
        assert_eq!(failed.next_attempt_at_ms, now + 12_000 + 20_000);
        assert_eq!(failed.last_status_code, None);

        // The worker died mid-send: once the lease runs out it is due again.
        let third = db
            .claim_due_deliveries(now + 40_000, 10, 30_000)
            .await
            .unwrap();
        assert_eq!(third.len(), 1);
        let fourth = db
            .claim_due_deliveries(now + 70_000, 10, 30_000)
            .await
            .unwrap();
        assert_eq!(fourth[0].delivery.attempt_count, 4);

        let delivered = db.delivery_succeeded(id, 204).await.unwrap();
        assert_eq!(delivered.status, WebhookDeliveryStatus::Delivered);
        assert_eq!(delivered.last_status_code, Some(204));
        assert!(delivered.delivered_at_ms.is_some());
        // Idempotent; a late failure report from the dead worker changes nothing.
        assert_eq!(
            db.delivery_succeeded(id, 200).await.unwrap().status,
            WebhookDeliveryStatus::Delivered
        );
        let late = db
            .delivery_failed(id, Some(502), "late", now + 80_000)
            .await
            .unwrap();
        assert_eq!(late, db.delivery_succeeded(id, 204).await.unwrap());
        assert!(
            db.claim_due_deliveries(now + 10 * 3_600_000, 10, 30_000)
                .await
                .unwrap()
                .is_empty()
        );

        // A delivery failing 24 hours after its event gives up.
        let (event2, deliveries) = db
            .enqueue_webhook_event(WebhookEventType::VodReady, owner, None, json!({}))
            .await
            .unwrap();
        let id2 = &deliveries[0].webhook_delivery_id;
        let late_now = event2.created_at_ms + WEBHOOK_RETRY_WINDOW_MS - 5_000;
        db.claim_due_deliveries(late_now, 10, 30_000).await.unwrap();
        let gave_up = db
            .delivery_failed(id2, Some(404), "Not Found", late_now)
            .await
            .unwrap();
        assert_eq!(gave_up.status, WebhookDeliveryStatus::Failed);
        assert!(matches!(
            db.delivery_succeeded(id2, 200).await,
            Err(Error::InvalidTransition { from: "failed", .. })
        ));
        assert!(matches!(
            db.delivery_succeeded("nope", 200).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            db.delivery_failed("nope", None, "x", now).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            db.delivery_succeeded(id2, 99).await,
            Err(Error::Invalid {
                field: "status_code",
                ..
            })
        ));

        // The endpoint's delivery log, newest first.
        let log = db
            .list_deliveries(owner, &ep.webhook_endpoint_id, &PageRequest::default())
            .await
            .unwrap();
        let ids: Vec<_> = log.items.iter().map(|d| &d.webhook_delivery_id).collect();
        assert_eq!(ids, [id2, id]);

        // Purging old events takes their deliveries along.
        assert_eq!(
            db.purge_webhook_events(event.created_at_ms).await.unwrap(),
            0
        );
        assert_eq!(db.purge_webhook_events(control_now() + 1).await.unwrap(), 2);
        assert!(
            db.list_deliveries(owner, &ep.webhook_endpoint_id, &PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn disabled_endpoints_get_no_attempts_and_concurrent_workers_no_duplicates() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "workers").await;
        let owner = &channel.owner_user_id;
        let ep = db
            .create_webhook_endpoint(owner, endpoint("https://a.example/", &[]))
            .await
            .unwrap();
        for i in 0..30 {
            db.enqueue_webhook_event(
                WebhookEventType::ChannelUpdated,
                owner,
                None,
                json!({"i": i}),
            )
            .await
            .unwrap();
        }
        let now = control_now();
        db.update_webhook_endpoint(
            owner,
            &ep.webhook_endpoint_id,
            WebhookEndpointUpdate {
                enabled: Some(false),
                ..WebhookEndpointUpdate::default()
            },
        )
        .await
        .unwrap();
        assert!(
            db.claim_due_deliveries(now, 100, 30_000)
                .await
                .unwrap()
                .is_empty()
        );
        db.update_webhook_endpoint(
            owner,
            &ep.webhook_endpoint_id,
            WebhookEndpointUpdate {
                enabled: Some(true),
                ..WebhookEndpointUpdate::default()
            },
        )
        .await
        .unwrap();

        // The limit holds exactly (PostgreSQL's IN (... LIMIT n) can take
        // more; the claim uses a CTE).
        let first = db.claim_due_deliveries(now, 3, 30_000).await.unwrap();
        assert_eq!(first.len(), 3);

        let handles: Vec<_> = (0..4)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { db.claim_due_deliveries(now, 10, 30_000).await })
            })
            .collect();
        let mut claimed: Vec<String> = crate::clips::futures_join(handles)
            .await
            .into_iter()
            .flatten()
            .chain(first)
            .map(|d| d.delivery.webhook_delivery_id)
            .collect();
        let total = claimed.len();
        claimed.sort();
        claimed.dedup();
        assert_eq!(claimed.len(), total, "no delivery claimed twice");
        assert_eq!(total, 30);
        assert!(
            db.claim_due_deliveries(now, 0, 30_000)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            db.claim_due_deliveries(now, 1, 0).await,
            Err(Error::Invalid {
                field: "lease_ms",
                ..
            })
        ));
    })
    .await;
}

#[tokio::test]
async fn webhook_endpoint_owner_names_the_owner() {
    each_backend(async |db| {
        let alice = testutil::user(&db, "alice").await;
        let bob = testutil::user(&db, "bob").await;
        let a = db
            .create_webhook_endpoint(&alice.user_id, endpoint("https://a.example/hook", &[]))
            .await
            .unwrap();
        let b = db
            .create_webhook_endpoint(&bob.user_id, endpoint("https://b.example/hook", &[]))
            .await
            .unwrap();
        let a_id = &a.webhook_endpoint_id;
        assert_eq!(
            db.webhook_endpoint_owner(a_id).await.unwrap().as_deref(),
            Some(alice.user_id.as_str())
        );
        assert_eq!(
            db.webhook_endpoint_owner(&b.webhook_endpoint_id)
                .await
                .unwrap()
                .as_deref(),
            Some(bob.user_id.as_str())
        );
        assert_eq!(
            db.webhook_endpoint_owner("no-such-endpoint").await.unwrap(),
            None
        );
        db.delete_webhook_endpoint(&alice.user_id, a_id)
            .await
            .unwrap();
        assert_eq!(db.webhook_endpoint_owner(a_id).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn claims_are_fair_between_owners() {
    each_backend(async |db| {
        let (busy, _) = testutil::channel(&db, "busyowner").await;
        let (quiet, _) = testutil::channel(&db, "quietowner").await;
        for i in 0..5 {
            db.create_webhook_endpoint(
                &busy.owner_user_id,
                endpoint(&format!("https://busy{i}.example/"), &[]),
            )
            .await
            .unwrap();
        }
        db.create_webhook_endpoint(
            &quiet.owner_user_id,
            endpoint("https://quiet.example/", &[]),
        )
        .await
        .unwrap();
        // Ten deliveries of the busy owner, due before the quiet one's.
        for n in 0..2 {
            db.enqueue_webhook_event(
                WebhookEventType::ChannelUpdated,
                &busy.owner_user_id,
                Some(&busy.channel_id),
                json!({ "n": n }),
            )
            .await
            .unwrap();
        }
        let now = control_now() + 1000;
        db.enqueue_webhook_event(
            WebhookEventType::ChannelUpdated,
            &quiet.owner_user_id,
            Some(&quiet.channel_id),
            json!({}),
        )
        .await
        .unwrap();
        let owners = |claimed: &[control::DueDelivery]| {
            let busy = claimed
                .iter()
                .filter(|d| d.endpoint.owner_user_id == busy.owner_user_id)
                .count();
            (busy, claimed.len() - busy)
        };
        // Turns: with two slots, one each, though the busy owner's are older.
        let first = db
            .claim_due_deliveries_fair(now, 2, 30_000, 3)
            .await
            .unwrap();
        assert_eq!(owners(&first), (1, 1));
        // The busy owner has one in flight: two more, then no more.
        let second = db
            .claim_due_deliveries_fair(now, 100, 30_000, 3)
            .await
            .unwrap();
        assert_eq!(owners(&second), (2, 0));
        assert!(
            db.claim_due_deliveries_fair(now, 100, 30_000, 3)
                .await
                .unwrap()
                .is_empty()
        );
        // Finishing one frees one slot.
        db.delivery_succeeded(&second[0].delivery.webhook_delivery_id, 200)
            .await
            .unwrap();
        let third = db
            .claim_due_deliveries_fair(now, 100, 30_000, 3)
            .await
            .unwrap();
        assert_eq!(owners(&third), (1, 0));
        // Leases that ran out free theirs too (the quiet owner's lease ran
        // out as well: due again).
        let later = db
            .claim_due_deliveries_fair(now + 30_000, 100, 30_000, 3)
            .await
            .unwrap();
        assert_eq!(owners(&later), (3, 1));
    })
    .await;
}

#[tokio::test]
async fn endpoints_per_owner_are_capped() {
    each_backend(async |db| {
        let alice = testutil::user(&db, "capped").await;
        for i in 0..3 {
            db.create_webhook_endpoint_capped(
                &alice.user_id,
                endpoint(&format!("https://h{i}.example/"), &[]),
                3,
            )
            .await
            .unwrap();
        }
        assert!(matches!(
            db.create_webhook_endpoint_capped(
                &alice.user_id,
                endpoint("https://h3.example/", &[]),
                3
            )
            .await,
            Err(Error::LimitReached { limit: 3, .. })
        ));
        let bob = testutil::user(&db, "uncapped").await;
        db.create_webhook_endpoint_capped(&bob.user_id, endpoint("https://b.example/", &[]), 3)
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_endpoint_cap_holds_under_concurrency() {
    each_backend(async |db| {
        let owner = testutil::user(&db, "racer").await;
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let db = db.clone();
                let owner = owner.user_id.clone();
                tokio::spawn(async move {
                    db.create_webhook_endpoint_capped(
                        &owner,
                        endpoint(&format!("https://r{i}.example/"), &[]),
                        3,
                    )
                    .await
                })
            })
            .collect();
        let mut created = 0;
        for handle in handles {
            match handle.await.unwrap() {
                Ok(_) => created += 1,
                Err(Error::LimitReached { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(created, 3);
    })
    .await;
}
