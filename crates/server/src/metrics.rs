//! Prometheus metrics: the recorder behind the `metrics` facade the crates
//! record through, the `/metrics` endpoint, and the gauges read off
//! storage's own counters every few seconds.

use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use storage::Media;
use tokio::sync::watch;

/// Latency buckets (seconds) of every `*_seconds` histogram: from a
/// millisecond (hot-cache hits) to a minute (uploads during an outage),
/// finer around 0.1 s (the segment-available target).
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0,
];

/// How often storage's counters are copied into gauges.
const STORAGE_POLL: Duration = Duration::from_secs(2);

/// Installs the process-wide recorder (once) and describes every series.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .context("histogram buckets")?
        // Gauges of ended broadcasts disappear after a while.
        .idle_timeout(MetricKindMask::GAUGE, Some(Duration::from_secs(120)))
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    describe();
    Ok(handle)
}

fn describe() {
    ingest::describe_metrics();
    live::metrics::describe();
    api::describe_metrics();
    metrics::describe_gauge!(
        "aethex_storage_queue_objects",
        "Objects waiting for the store to confirm them (in flight included)"
    );
    metrics::describe_gauge!(
        "aethex_storage_queue_bytes",
        metrics::Unit::Bytes,
        "Bytes of the objects waiting for the store"
    );
    metrics::describe_gauge!(
        "aethex_storage_spool_bytes",
        metrics::Unit::Bytes,
        "Size of the upload spool on disk"
    );
    metrics::describe_gauge!("aethex_storage_spool_files", "Files in the upload spool");
    metrics::describe_gauge!(
        "aethex_storage_oldest_queued_seconds",
        metrics::Unit::Seconds,
        "How long the oldest waiting upload has waited"
    );
    metrics::describe_gauge!(
        "aethex_storage_consecutive_failures",
        "Failed uploads since the store last took one (non-zero while it is unreachable)"
    );
    metrics::describe_counter!(
        "aethex_storage_uploads_total",
        "Objects the store confirmed"
    );
    metrics::describe_counter!(
        "aethex_storage_upload_failures_total",
        "Failed upload attempts (each is retried)"
    );
    metrics::describe_counter!(
        "aethex_storage_lost_total",
        "Queued objects whose spool file could not be read back (should stay 0)"
    );
    metrics::describe_histogram!(
        storage::metric_names::PUT_SECONDS,
        metrics::Unit::Seconds,
        "Duration of successful store writes"
    );
    metrics::describe_histogram!(
        storage::metric_names::UPLOAD_DELAY_SECONDS,
        metrics::Unit::Seconds,
        "From an object's put to the store's confirmation (queueing and retries included)"
    );
    metrics::describe_gauge!(
        "aethex_hot_cache_bytes",
        metrics::Unit::Bytes,
        "Bytes of recent segments and parts held in memory"
    );
    metrics::describe_gauge!("aethex_hot_cache_entries", "Objects held in the hot cache");
    metrics::describe_counter!(
        "aethex_hot_cache_hits_total",
        "Origin reads served from memory"
    );
    metrics::describe_counter!(
        "aethex_hot_cache_misses_total",
        "Origin reads that went to storage"
    );
    metrics::describe_gauge!(
        "aethex_hot_cache_hit_ratio",
        "Hits over hits and misses since start"
    );
}

/// `GET /metrics` in the Prometheus text format.
pub fn router<S: Clone + Send + Sync + 'static>(handle: PrometheusHandle) -> Router<S> {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    handle.render(),
                )
                    .into_response()
            }
        }),
    )
}

/// `GET /metrics` on the public HTTP port: for anyone when `public`, else
/// only for loopback clients (a Prometheus on the same box, `curl` by the
/// operator) and requests with an admin's API token; others get 403. A
/// loopback request that a reverse proxy forwarded (it carries
/// `X-Forwarded-For`, `Forwarded` or `X-Real-IP`) is not the operator's:
/// behind Caddy or nginx every request comes from 127.0.0.1.
pub fn guarded_router<S: Clone + Send + Sync + 'static>(
    handle: PrometheusHandle,
    db: control::Db,
    public: bool,
) -> Router<S> {
    router(handle).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let db = db.clone();
            async move {
                let (peer, bearer) = credentials(&req);
                if public || allowed(&db, peer, bearer).await {
                    return next.run(req).await;
                }
                let body = serde_json::json!({"error": {
                    "code": "forbidden",
                    "message": "metrics are served to loopback clients and admin API tokens; \
                                set [metrics] public = true or [metrics] listen to change that",
                }});
                (axum::http::StatusCode::FORBIDDEN, axum::Json(body)).into_response()
            }
        },
    ))
}

/// The request's peer address (`None` as well when a proxy forwarded the
/// request) and bearer token, if any.
fn credentials(req: &axum::extract::Request) -> (Option<std::net::IpAddr>, Option<String>) {
    let forwarded = ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .filter(|_| !forwarded);
    let bearer = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim().to_owned());
    (peer, bearer)
}

/// A loopback peer, or an admin's bearer token.
async fn allowed(db: &control::Db, peer: Option<std::net::IpAddr>, bearer: Option<String>) -> bool {
    if peer.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    let Some(secret) = bearer else {
        return false;
    };
    matches!(
        db.api_token_by_secret(&secret).await,
        Ok(Some((user, _))) if user.role == control::Role::Admin
    )
}

/// Copies storage's counters into gauges until shutdown.
pub async fn poll_storage(media: Media, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(STORAGE_POLL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let s = media.stats();
        metrics::gauge!("aethex_storage_queue_objects").set(s.queued_objects as f64);
        metrics::gauge!("aethex_storage_queue_bytes").set(s.queued_bytes as f64);
        metrics::gauge!("aethex_storage_spool_bytes").set(s.spool_bytes as f64);
        metrics::gauge!("aethex_storage_spool_files").set(s.spool_files as f64);
        metrics::gauge!("aethex_storage_oldest_queued_seconds")
            .set(s.oldest_queued_age_ms as f64 / 1000.0);
        metrics::gauge!("aethex_storage_consecutive_failures").set(s.consecutive_failures as f64);
        metrics::counter!("aethex_storage_uploads_total").absolute(s.uploads_ok);
        metrics::counter!("aethex_storage_upload_failures_total").absolute(s.upload_failures);
        metrics::counter!("aethex_storage_lost_total").absolute(s.lost);
        let c = media.cache().stats();
        metrics::gauge!("aethex_hot_cache_bytes").set(c.bytes as f64);
        metrics::gauge!("aethex_hot_cache_entries").set(c.entries as f64);
        metrics::counter!("aethex_hot_cache_hits_total").absolute(c.hits);
        metrics::counter!("aethex_hot_cache_misses_total").absolute(c.misses);
        let reads = c.hits + c.misses;
        if reads > 0 {
            metrics::gauge!("aethex_hot_cache_hit_ratio").set(c.hits as f64 / reads as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;
    use tower::ServiceExt;

    /// `GET /metrics` from `peer` with an optional bearer token.
    async fn scrape(app: &Router, peer: [u8; 4], bearer: Option<&str>) -> u16 {
        scrape_with(app, peer, bearer, None).await
    }

    async fn scrape_with(
        app: &Router,
        peer: [u8; 4],
        bearer: Option<&str>,
        header: Option<(&str, &str)>,
    ) -> u16 {
        let mut req = axum::http::Request::get("/metrics");
        if let Some(token) = bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        let mut req = req.body(axum::body::Body::empty()).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
        app.clone().oneshot(req).await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn metrics_on_the_public_port_are_for_loopback_and_admins() {
        let db = control::testutil::TestDb::sqlite().await;
        let handle = PrometheusBuilder::new().build_recorder().handle();
        let admin = db
            .create_user(control::NewUser {
                username: "root".into(),
                email: None,
                password: control::testutil::PASSWORD.into(),
                role: control::Role::Admin,
            })
            .await
            .unwrap();
        let creator = control::testutil::user(&db, "someone").await;
        let admin_token = db
            .create_api_token(&admin.user_id, "m")
            .await
            .unwrap()
            .secret;
        let creator_token = db
            .create_api_token(&creator.user_id, "m")
            .await
            .unwrap()
            .secret;
        let guarded: Router = guarded_router(handle.clone(), (*db).clone(), false);
        let outside = [203, 0, 113, 5];
        assert_eq!(scrape(&guarded, outside, None).await, 403);
        assert_eq!(scrape(&guarded, outside, Some(&creator_token)).await, 403);
        assert_eq!(
            scrape(&guarded, outside, Some("aethex_nonsense")).await,
            403
        );
        assert_eq!(scrape(&guarded, outside, Some(&admin_token)).await, 200);
        assert_eq!(scrape(&guarded, [127, 0, 0, 1], None).await, 200);
        // Through a reverse proxy on the same box: not the operator.
        for forwarded in [
            ("x-forwarded-for", "203.0.113.5"),
            ("forwarded", "for=203.0.113.5"),
            ("x-real-ip", "203.0.113.5"),
        ] {
            let loopback = [127, 0, 0, 1];
            assert_eq!(
                scrape_with(&guarded, loopback, None, Some(forwarded)).await,
                403
            );
            let admin = Some(admin_token.as_str());
            assert_eq!(
                scrape_with(&guarded, loopback, admin, Some(forwarded)).await,
                200
            );
        }
        let public: Router = guarded_router(handle, (*db).clone(), true);
        assert_eq!(scrape(&public, outside, None).await, 200);
    }
}
