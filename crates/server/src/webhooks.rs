//! The webhook dispatcher: sends the deliveries `control` queues.
//!
//! One loop per process. It leases due deliveries
//! ([`Db::claim_due_deliveries_fair`]), POSTs each event's JSON body to its
//! endpoint, signed with the endpoint's secret in `X-Aethex-Signature`
//! ([`control::webhook_signature_header`]), and reports the outcome: any
//! 2xx is [`Db::delivery_succeeded`], anything else (another status, a
//! redirect, a refused connection, a timeout, a destination the outbound
//! policy refuses) is [`Db::delivery_failed`], which schedules the retry
//! (10 s, doubling up to an hour, for 24 hours). At most
//! `[webhooks] max_in_flight` requests run at once, and at most
//! `max_in_flight_per_owner` for one owner, who take turns: one owner's
//! hanging receivers cannot delay another's deliveries. The lease
//! outlasts a request, so a delivery is never sent twice at once, and one
//! whose worker died (a crash, a shutdown mid-request) is due again once
//! its lease runs out: at least once, never lost.
//!
//! Destinations obey the outbound-address policy ([`outbound`]): the
//! client resolves names through [`OutboundPolicy::reqwest_resolver`] and
//! so only ever connects to an address the policy allowed at that moment
//! (DNS rebinding finds nothing to rebind), literal addresses are checked
//! before sending, proxies from the environment are ignored and redirects
//! are not followed.
//!
//! What the delivery log records of a failure is ours, never the
//! receiver's: the status code and a short reason ("HTTP 500", "timeout",
//! "connection refused", "refused by the outbound policy (a loopback
//! address)"). Echoing response bodies would turn webhooks into a way to
//! read pages the server can reach.
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

use control::{Db, DueDelivery, WEBHOOK_SIGNATURE_HEADER, WebhookConfig};
use outbound::OutboundPolicy;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, debug, info, info_span, warn};

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

/// The `User-Agent` of every delivery.
const USER_AGENT: &str = concat!("AeThex-Webhooks/", env!("CARGO_PKG_VERSION"));

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The HTTP client of deliveries: names resolved through the outbound
/// policy, no proxies, no redirects (a redirect is an answer other than
/// 2xx: a failed attempt, not a request to wherever it points).
fn client(policy: &OutboundPolicy, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .dns_resolver(policy.reqwest_resolver())
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Runs the dispatcher until `shutdown` turns true.
pub async fn run(
    db: Db,
    config: WebhookConfig,
    policy: OutboundPolicy,
    shutdown: watch::Receiver<bool>,
) {
    let timeout = Duration::from_secs(config.request_timeout_s);
    let sender = match Sender::new(policy, timeout) {
        Ok(sender) => sender,
        Err(e) => {
            warn!(error = %e, "cannot build the webhook HTTP client; webhooks will not be sent");
            return;
        }
    };
    Dispatcher { db, sender, config }
        .run(shutdown)
        .instrument(info_span!("webhooks"))
        .await;
}

struct Dispatcher {
    db: Db,
    sender: Sender,
    config: WebhookConfig,
}

impl Dispatcher {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut next_purge = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut stopping = false;
        let max_in_flight = self.config.max_in_flight.max(1) as usize;
        while !stopping && !*shutdown.borrow() {
            if tokio::time::Instant::now() >= next_purge {
                next_purge += PURGE_INTERVAL;
                self.purge().await;
            }
            let free = max_in_flight.saturating_sub(in_flight.len());
            let mut pause = POLL_INTERVAL;
            if free > 0 {
                match self
                    .db
                    .claim_due_deliveries_fair(
                        now_ms(),
                        free as u32,
                        LEASE.as_millis() as i64,
                        self.config.max_in_flight_per_owner,
                    )
                    .await
                {
                    Ok(due) => {
                        for d in due {
                            in_flight.spawn(deliver(self.db.clone(), self.sender.clone(), d));
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "could not claim webhook deliveries");
                        pause = ERROR_BACKOFF;
                    }
                }
            }
            // A full claim may have left more due; so may a finished
            // request (its owner has a slot again): look again as soon as
            // one ends. Otherwise wait for the next poll.
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        // The server is gone without saying so: stop too.
                        stopping = true;
                    }
                }
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = tokio::time::sleep(pause) => {}
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

/// Mux's signature header (`t=…,v1=…`, HMAC-SHA256 of `{t}.{body}`).
pub const MUX_SIGNATURE_HEADER: &str = "mux-signature";

/// Sends one delivery and records the outcome.
async fn deliver(db: Db, sender: Sender, due: DueDelivery) {
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
        // A `mux` endpoint gets Mux's body for the Mux event this delivery
        // carries, signed the same way under Mux's header name.
        let (body, header) = match &delivery.mux_type {
            Some(mux_type) => (
                api::mux_webhook_body(&db, &event, mux_type, &delivery.webhook_delivery_id).await,
                MUX_SIGNATURE_HEADER,
            ),
            None => (event.body(), WEBHOOK_SIGNATURE_HEADER),
        };
        let timestamp = now_ms() / 1000;
        let signature =
            control::webhook_signature_header(&endpoint.secret, timestamp, body.as_bytes());
        let started = std::time::Instant::now();
        let outcome = sender.send(&endpoint.url, header, signature, body).await;
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

/// What sends deliveries: the client and the policy it obeys.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: OutboundPolicy,
    timeout: Duration,
}

impl Sender {
    /// A sender with `policy`'s client.
    pub fn new(policy: OutboundPolicy, timeout: Duration) -> reqwest::Result<Sender> {
        Ok(Sender {
            client: client(&policy, timeout)?,
            policy,
            timeout,
        })
    }

    /// POSTs `body`; `Ok(status)` on a 2xx, else the status (if any answer
    /// came) and a short reason of our own. The answer's body is never
    /// read.
    pub async fn send(
        &self,
        url: &str,
        signature_header: &str,
        signature: String,
        body: String,
    ) -> Result<u16, (Option<u16>, String)> {
        let parsed = url::Url::parse(url).map_err(|_| (None, "invalid URL".to_owned()))?;
        // IP literals never reach the resolver: check them here.
        if let Err(refused) = self.policy.check_literal(&parsed) {
            return Err((None, refused.short_reason()));
        }
        let response = self
            .client
            .post(parsed)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature_header, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| (None, self.describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        Err((Some(status.as_u16()), format!("HTTP {}", status.as_u16())))
    }

    /// A short reason for a request error: ours, without the URL or
    /// anything the other side sent.
    fn describe(&self, e: &reqwest::Error) -> String {
        if let Some(refused) = outbound::find_refusal(e) {
            return refused.short_reason();
        }
        if e.is_timeout() {
            return format!("timeout after {} s", self.timeout.as_secs());
        }
        let io_kind = {
            let mut source = std::error::Error::source(e);
            let mut kind = None;
            while let Some(s) = source {
                if let Some(io) = s.downcast_ref::<std::io::Error>() {
                    kind = Some(io.kind());
                    break;
                }
                source = s.source();
            }
            kind
        };
        match io_kind {
            Some(std::io::ErrorKind::ConnectionRefused) => "connection refused".into(),
            Some(std::io::ErrorKind::ConnectionReset) => "connection reset".into(),
            Some(std::io::ErrorKind::TimedOut) => {
                format!("timeout after {} s", self.timeout.as_secs())
            }
            _ if e.is_connect() => "could not connect".into(),
            _ if e.is_body() || e.is_decode() => "bad response".into(),
            _ => "request failed".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> OutboundPolicy {
        OutboundPolicy::new(&outbound::OutboundConfig {
            allow_private_networks: false,
            allowed_hosts: allowed.iter().map(|h| h.to_string()).collect(),
        })
        .unwrap()
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[tokio::test]
    async fn a_refused_connection_is_described_without_the_url() {
        // A port nothing listens on: bind, learn it, release it.
        let port = free_port();
        let sender = Sender::new(policy(&["127.0.0.1"]), Duration::from_secs(5)).unwrap();
        let url = format!("http://127.0.0.1:{port}/hook?token=hunter2");
        let (status, error) = sender
            .send(
                &url,
                WEBHOOK_SIGNATURE_HEADER,
                "t=1,v1=00".into(),
                "{}".into(),
            )
            .await
            .unwrap_err();
        assert_eq!(status, None);
        assert_eq!(error, "connection refused");
    }

    #[tokio::test]
    async fn internal_destinations_are_refused_before_connecting() {
        let sender = Sender::new(OutboundPolicy::default(), Duration::from_secs(5)).unwrap();
        let port = free_port();
        for (url, reason) in [
            (
                format!("http://127.0.0.1:{port}/"),
                "refused by the outbound policy (a loopback address)",
            ),
            (
                "http://169.254.169.254/latest/meta-data/".to_owned(),
                "refused by the outbound policy (a link-local address)",
            ),
            (
                format!("http://[::1]:{port}/"),
                "refused by the outbound policy (a loopback address)",
            ),
            // A name: refused after resolution, by the client's resolver.
            (
                format!("http://localhost:{port}/"),
                "refused by the outbound policy (a loopback address)",
            ),
        ] {
            let (status, error) = sender
                .send(
                    &url,
                    WEBHOOK_SIGNATURE_HEADER,
                    "t=1,v1=00".into(),
                    "{}".into(),
                )
                .await
                .unwrap_err();
            assert_eq!((status, error.as_str()), (None, reason), "{url}");
        }
    }
}
