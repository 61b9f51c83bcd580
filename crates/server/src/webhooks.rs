//! The webhook dispatcher: sends the deliveries `control` queues.
//!
//! One loop per process. It leases due deliveries
//! ([`Db::claim_due_deliveries`]), POSTs each event's JSON body to its
//! endpoint, signed with the endpoint's secret in `X-Aethex-Signature`
//! ([`control::webhook_signature_header`]), and reports the outcome: any
//! 2xx is [`Db::delivery_succeeded`], anything else (another status, a
//! redirect, a refused connection, a timeout) is [`Db::delivery_failed`],
//! which schedules the retry (10 s, doubling up to an hour, for 24 hours).
//! At most [`MAX_IN_FLIGHT`] requests run at once; the lease outlasts a
//! request, so a delivery is never sent twice at once, and one whose
//! worker died (a crash, a shutdown mid-request) is due again once its
//! lease runs out: at least once, never lost.
//!
//! Events are enqueued by whoever observes the change (the broadcast
//! actors), in the database, so the loop polls for due deliveries every
//! [`POLL_INTERVAL`]; that bounds the delay from an event to its first
//! attempt. Old events are purged every [`PURGE_INTERVAL`].
//!
//! Secrets never reach the log: neither the endpoint's secret nor the
//! signature, and errors are reported without the endpoint URL (whose
//! query string may hold a receiver's token).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use control::{Db, DueDelivery, WEBHOOK_SIGNATURE_HEADER};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, debug, info, info_span, warn};

/// Requests in flight at once.
const MAX_IN_FLIGHT: usize = 8;
/// How long one request may take, connecting and reading the answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claimed delivery is ours: well over a request, so that it is
/// only claimed again when its worker is gone.
const LEASE: Duration = Duration::from_secs(60);
/// How often to look for due deliveries when idle.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Pause after the database failed us.
const ERROR_BACKOFF: Duration = Duration::from_secs(5);
/// How often old events are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);
/// Events older than this are deleted with their deliveries (far past the
/// 24-hour retry window, so the delivery log stays readable a while).
const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long shutdown waits for requests in flight before dropping them
/// (their leases run out and the next start sends them again).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Most bytes of a failed response's body kept in the delivery log.
const ERROR_BODY_MAX: usize = 200;

/// The `User-Agent` of every delivery.
const USER_AGENT: &str = concat!("AeThex-Webhooks/", env!("CARGO_PKG_VERSION"));

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Runs the dispatcher until `shutdown` turns true.
pub async fn run(db: Db, shutdown: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        // A redirect is an answer other than 2xx: a failed attempt, not a
        // request to wherever it points.
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot build the webhook HTTP client; webhooks will not be sent");
            return;
        }
    };
    Dispatcher { db, client }
        .run(shutdown)
        .instrument(info_span!("webhooks"))
        .await;
}

struct Dispatcher {
    db: Db,
    client: reqwest::Client,
}

impl Dispatcher {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut next_purge = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut stopping = false;
        while !stopping && !*shutdown.borrow() {
            if tokio::time::Instant::now() >= next_purge {
                next_purge += PURGE_INTERVAL;
                self.purge().await;
            }
            let free = MAX_IN_FLIGHT - in_flight.len();
            let mut pause = POLL_INTERVAL;
            let mut claimed = 0;
            if free > 0 {
                match self
                    .db
                    .claim_due_deliveries(now_ms(), free as u32, LEASE.as_millis() as i64)
                    .await
                {
                    Ok(due) => {
                        claimed = due.len();
                        for d in due {
                            in_flight.spawn(deliver(self.db.clone(), self.client.clone(), d));
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "could not claim webhook deliveries");
                        pause = ERROR_BACKOFF;
                    }
                }
            }
            // A full claim may have left more due: look again as soon as a
            // slot frees up. Otherwise wait for the next poll, reaping
            // finished requests meanwhile.
            let more_due = free > 0 && claimed == free;
            let deadline = tokio::time::Instant::now() + pause;
            loop {
                tokio::select! {
                    changed = shutdown.changed() => {
                        if changed.is_err() {
                            // The server is gone without saying so: stop too.
                            stopping = true;
                        }
                        break;
                    }
                    Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {
                        if more_due {
                            break;
                        }
                    }
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
        }
        if !in_flight.is_empty() {
            let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
                while in_flight.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                info!(
                    requests = in_flight.len(),
                    "webhook requests still in flight at shutdown; they are sent again at the next start"
                );
                in_flight.abort_all();
            }
        }
        debug!("webhook dispatcher stopped");
    }

    async fn purge(&self) {
        let before = now_ms() - RETENTION.as_millis() as i64;
        match self.db.purge_webhook_events(before).await {
            Ok(0) => {}
            Ok(n) => info!(events = n, "purged old webhook events"),
            Err(e) => warn!(error = %e, "could not purge old webhook events"),
        }
    }
}

/// Sends one delivery and records the outcome.
async fn deliver(db: Db, client: reqwest::Client, due: DueDelivery) {
    let DueDelivery {
        delivery,
        event,
        endpoint,
    } = due;
    let span = info_span!(
        "webhook",
        delivery = %delivery.webhook_delivery_id,
        event = %event.webhook_event_id,
        event_type = %event.event_type,
        endpoint = %endpoint.webhook_endpoint_id,
        attempt = delivery.attempt_count,
    );
    async move {
        let body = event.body();
        let timestamp = now_ms() / 1000;
        let signature =
            control::webhook_signature_header(&endpoint.secret, timestamp, body.as_bytes());
        let started = std::time::Instant::now();
        let outcome = send(&client, &endpoint.url, signature, body).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let id = &delivery.webhook_delivery_id;
        let report = match outcome {
            Ok(status) => {
                debug!(status, elapsed_ms, "webhook delivered");
                db.delivery_succeeded(id, status).await.map(|_| ())
            }
            Err((status, error)) => {
                let result = db.delivery_failed(id, status, &error, now_ms()).await;
                if let Ok(d) = &result {
                    let retry_in_s = (d.next_attempt_at_ms - now_ms()).max(0) / 1000;
                    warn!(
                        status,
                        %error,
                        elapsed_ms,
                        delivery_status = %d.status,
                        retry_in_s,
                        "webhook delivery attempt failed"
                    );
                }
                result.map(|_| ())
            }
        };
        if let Err(e) = report {
            // The lease runs out and the delivery is sent again.
            warn!(error = %e, "could not record a webhook delivery attempt");
        }
    }
    .instrument(span)
    .await
}

/// POSTs `body`; `Ok(status)` on a 2xx, else the status (if any answer
/// came) and why it failed.
async fn send(
    client: &reqwest::Client,
    url: &str,
    signature: String,
    body: String,
) -> Result<u16, (Option<u16>, String)> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(WEBHOOK_SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| (None, describe(e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    // A little of the answer, to show in the delivery log.
    let mut response = response;
    let mut snippet = Vec::new();
    while snippet.len() < ERROR_BODY_MAX {
        match response.chunk().await {
            Ok(Some(chunk)) => snippet.extend_from_slice(&chunk),
            _ => break,
        }
    }
    snippet.truncate(ERROR_BODY_MAX);
    let snippet = String::from_utf8_lossy(&snippet);
    let snippet = snippet.trim();
    let error = if snippet.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {snippet}")
    };
    Err((Some(status.as_u16()), error))
}

/// A request error without its URL, with its causes.
fn describe(e: reqwest::Error) -> String {
    let what = if e.is_timeout() {
        format!("timed out after {} s", REQUEST_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let e = e.without_url();
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = s.source();
    }
    if causes.is_empty() {
        format!("{what}: {e}")
    } else {
        format!("{what}: {}", causes.join(": "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_described_without_the_url() {
        // A port nothing listens on: bind, learn it, release it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/hook?token=hunter2");
        let (status, error) = send(&client, &url, "t=1,v1=00".into(), "{}".into())
            .await
            .unwrap_err();
        assert_eq!(status, None);
        assert!(error.starts_with("could not connect"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}
