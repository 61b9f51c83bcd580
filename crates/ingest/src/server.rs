//! The tokio adapter: accepts TCP connections, drives one [`Connection`] per
//! socket, and asks a [`PublishHandler`] whether a stream key may publish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant as StdInstant};

use av::DemuxEvent;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, timeout_at};
use tracing::{Instrument, info, info_span, warn};

use crate::limits::{ConnectionLimits, LimitRefusal};
use crate::{Connection, Error, Event, IngestConfig};

/// A client's request to publish.
#[derive(Clone)]
pub struct PublishRequest {
    /// Process-unique connection number, as in the connection's log span.
    pub conn_id: u64,
    pub peer: SocketAddr,
    /// The stream key exactly as sent. A secret: never log it.
    pub stream_key: String,
}

impl std::fmt::Debug for PublishRequest {
    /// Never prints the stream key: it is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishRequest")
            .field("conn_id", &self.conn_id)
            .field("peer", &self.peer)
            .field("stream_key", &"<redacted>")
            .finish()
    }
}

/// Why a publish was refused. The `Display` text goes to the log and, as the
/// status description, to the encoder.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("unknown stream key")]
    UnknownKey,
    #[error("channel {0:?} is disabled")]
    Disabled(String),
    #[error("channel {0:?} is suspended by an administrator")]
    Suspended(String),
    #[error("the owner of channel {0:?} may not publish (their account is a viewer)")]
    OwnerMayNotPublish(String),
    #[error("channel {0:?} is already live (another publisher is using this stream key)")]
    Busy(String),
    #[error("server error: {0}")]
    Internal(String),
}

impl Refusal {
    /// The RTMP `NetStream.Publish.*` status code sent to the client.
    fn status_code(&self) -> &'static str {
        match self {
            Refusal::UnknownKey => "NetStream.Publish.BadName",
            Refusal::Busy(_) => "NetStream.Publish.BadName",
            Refusal::Disabled(_) | Refusal::Suspended(_) | Refusal::OwnerMayNotPublish(_) => {
                "NetStream.Publish.Rejected"
            }
            Refusal::Internal(_) => "NetStream.Publish.Failed",
        }
    }

    /// A short machine-readable reason for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::UnknownKey => "bad_key",
            Refusal::Disabled(_) => "disabled",
            Refusal::Suspended(_) => "suspended",
            Refusal::OwnerMayNotPublish(_) => "not_a_creator",
            Refusal::Busy(_) => "busy",
            Refusal::Internal(_) => "internal",
        }
    }
}

/// The media events of one socket read, in order, and when their bytes
/// arrived (for latency accounting downstream; with batching, the earliest
/// moment they can have arrived, so latencies measured from it are upper
/// bounds).
pub type Arrival = (StdInstant, Vec<DemuxEvent>);

/// Permission to publish: where the media goes.
pub struct PublishGrant {
    /// What to call the stream in logs (a channel slug; never the key).
    pub label: String,
    /// Receives the stream's codec configurations and access units. The live
    /// stream ends when this sender is dropped (the publisher left); if the
    /// receiver is dropped, the publisher is disconnected.
    pub sink: mpsc::Sender<Arrival>,
    /// Fired when the publisher ends on purpose (RTMP unpublish) rather than
    /// dropping: the live side then ends the broadcast without waiting for a
    /// reconnect.
    pub finished: Option<oneshot::Sender<()>>,
    /// The media may wait up to `media_batch_ms` in the socket to be read
    /// in batches (less CPU). False for streams whose viewers are promised
    /// the lowest latency (LL-HLS): their media is read as it arrives.
    pub batch_media: bool,
}

/// Decides who may publish. Implemented by the binary over the control plane
/// and the live-stream registry.
pub trait PublishHandler: Send + Sync + 'static {
    fn publish(
        &self,
        request: PublishRequest,
    ) -> impl Future<Output = Result<PublishGrant, Refusal>> + Send;
}

/// Accepts RTMP connections on `listener` until `shutdown` turns true; then
/// stops accepting and closes every connection (which ends their streams),
/// and returns once all connection tasks have finished.
pub async fn serve<H: PublishHandler>(
    listener: TcpListener,
    config: IngestConfig,
    handler: Arc<H>,
    shutdown: watch::Receiver<bool>,
) {
    serve_all(vec![listener], config, handler, shutdown).await;
}

/// [`serve`] on several listeners at once (`[rtmp] listen` and
/// `extra_listen`), with one set of connection limits across them.
pub async fn serve_all<H: PublishHandler>(
    listeners: Vec<TcpListener>,
    config: IngestConfig,
    handler: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
) {
    // One accept loop per listener feeds this one; a full queue makes them
    // wait (the kernel's backlog holds further connections meanwhile).
    let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::channel(64);
    let mut acceptors = tokio::task::JoinSet::new();
    for listener in listeners {
        let tx = accepted_tx.clone();
        let mut shutdown = shutdown.clone();
        acceptors.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = shutdown.wait_for(|s| *s) => break,
                };
                match accepted {
                    Ok(conn) => {
                        if tx.send(conn).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        warn!(error = %e, "RTMP accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    drop(accepted_tx);
    static NEXT_CONN: AtomicU64 = AtomicU64::new(1);
    let limits = ConnectionLimits::new(
        config.max_connections,
        config.max_connections_per_ip,
        // Validated with the rest of the config; a bad entry trusts nothing.
        config.trusted_proxy_nets().unwrap_or_default(),
    );
    let config = Arc::new(config);
    let mut tasks = tokio::task::JoinSet::new();
    let mut refusals = RefusalLog::default();
    loop {
        let accepted = tokio::select! {
            a = accepted_rx.recv() => a,
            _ = shutdown.wait_for(|s| *s) => break,
            // Reap finished connection tasks so the set stays small.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let Some((socket, peer)) = accepted else {
            break;
        };
        let permit = match limits.acquire(peer.ip()) {
            Ok(permit) => permit,
            Err(refusal) => {
                // Closed before the handshake: the socket costs nothing more.
                drop(socket);
                metrics::counter!(CONNECTIONS, "outcome" => "refused_too_many_connections")
                    .increment(1);
                refusals.note(peer, refusal);
                continue;
            }
        };
        let conn_id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        let span = info_span!("rtmp", conn = conn_id, %peer);
        let config = config.clone();
        let handler = handler.clone();
        let mut shutdown = shutdown.clone();
        tasks.spawn(
            async move {
                let _permit = permit;
                info!("RTMP connection opened");
                metrics::gauge!(OPEN_CONNECTIONS).increment(1.0);
                let outcome = tokio::select! {
                    o = handle(socket, peer, conn_id, &config, &*handler) => o,
                    _ = shutdown.wait_for(|s| *s) => Ok(Closed::Shutdown),
                };
                metrics::gauge!(OPEN_CONNECTIONS).decrement(1.0);
                match &outcome {
                    Ok(Closed::Eof) => info!("connection closed by peer"),
                    Ok(Closed::Finished) => info!("publisher finished its stream"),
                    Ok(Closed::Refused) => {}
                    Ok(Closed::SinkGone) => info!("live stream closed; publisher disconnected"),
                    Ok(Closed::Shutdown) => info!("server shutting down; publisher disconnected"),
                    Err(e) => warn!(error = %e, "closing RTMP connection: {e}"),
                }
                // Connections that published are counted when accepted.
                let outcome = match &outcome {
                    Ok(_) => None,
                    Err(ConnError::Timeout(_)) => Some("timeout"),
                    Err(ConnError::Unsupported(_)) => Some("unsupported_codec"),
                    Err(ConnError::Protocol(_)) => Some("protocol_error"),
                    Err(ConnError::Io(_)) => Some("socket_error"),
                };
                if let Some(outcome) = outcome {
                    metrics::counter!(CONNECTIONS, "outcome" => outcome).increment(1);
                }
            }
            .instrument(span),
        );
    }
    // Stop accepting (closing the listeners) before waiting for the
    // connections to end.
    acceptors.shutdown().await;
    drop(accepted_rx);
    while tasks.join_next().await.is_some() {}
}

/// Log lines about refused connections: each refusal is logged, but at most
/// one line per second (with the number left out since), so a flood does
/// not flood the log too.
#[derive(Default)]
struct RefusalLog {
    last: Option<StdInstant>,
    suppressed: u64,
}

impl RefusalLog {
    fn note(&mut self, peer: SocketAddr, refusal: LimitRefusal) {
        let now = StdInstant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        warn!(
            %peer,
            suppressed = self.suppressed,
            "RTMP connection refused: {refusal}"
        );
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// RTMP connections by outcome: `published`, `refused_bad_key`,
/// `refused_disabled`, `refused_suspended`, `refused_not_a_creator`,
/// `refused_busy`, `refused_internal`, `refused_too_many_connections`,
/// `unsupported_codec`, `protocol_error`, `timeout`, `socket_error`. A
/// connection that published and later failed counts as published.
pub const CONNECTIONS: &str = "aethex_rtmp_connections_total";
/// RTMP connections open now.
pub const OPEN_CONNECTIONS: &str = "aethex_rtmp_connections_open";

/// Names and help texts of the ingest series, for the exporter.
pub fn describe_metrics() {
    metrics::describe_counter!(CONNECTIONS, "RTMP connections by outcome");
    metrics::describe_gauge!(OPEN_CONNECTIONS, "RTMP connections open now");
}

fn refusal_outcome(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::UnknownKey => "refused_bad_key",
        Refusal::Disabled(_) => "refused_disabled",
        Refusal::Suspended(_) => "refused_suspended",
        Refusal::OwnerMayNotPublish(_) => "refused_not_a_creator",
        Refusal::Busy(_) => "refused_busy",
        Refusal::Internal(_) => "refused_internal",
    }
}

enum Closed {
    Eof,
    Finished,
    Refused,
    SinkGone,
    Shutdown,
}

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error(transparent)]
    Protocol(#[from] Error),
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("refusing stream: {0}")]
    Unsupported(Error),
}

async fn handle<H: PublishHandler>(
    mut socket: TcpStream,
    peer: SocketAddr,
    conn_id: u64,
    config: &IngestConfig,
    handler: &H,
) -> Result<Closed, ConnError> {
    let _ = socket.set_nodelay(true);
    let mut conn = Connection::with_id(config, conn_id);
    // Small until the client publishes: a connection that never gets that
    // far (a port scan, a thousand idle sockets) costs a few KiB.
    let mut buf = BytesMut::with_capacity(4 * 1024);
    let mut sink: Option<mpsc::Sender<Arrival>> = None;
    let mut finished: Option<oneshot::Sender<()>> = None;
    let handshake_deadline = Instant::now() + Duration::from_secs(config.handshake_timeout_s);
    let idle = Duration::from_secs(config.idle_timeout_s);

    let mut batch_wait = Duration::ZERO;
    // Set after a read that did not fill the buffer while publishing: the
    // next read waits until then, so the media of `media_batch_ms` is read,
    // demuxed and handed over at once (one wakeup of this task and of the
    // live stream's instead of one per frame).
    let mut next_read: Option<(Instant, StdInstant)> = None;
    let mut media: Vec<DemuxEvent> = Vec::new();
    let mut keyframes = crate::keyframes::KeyframeClock::default();
    // Two batch waits and two frames (at 30 fps): the read before the
    // keyframe may end up to a batch and a frame before it.
    let keyframe_lookahead = av::Time90k::from_millis(2 * config.media_batch_ms as i64 + 70);

    loop {
        let deadline = if conn.is_publishing() {
            Instant::now() + idle
        } else {
            handshake_deadline
        };
        buf.clear();
        let capacity = if conn.is_publishing() {
            64 * 1024
        } else {
            4 * 1024
        };
        buf.reserve(capacity);
        // Bytes read right after the batch wait can have arrived as early
        // as its start; bytes waited for arrive now.
        let mut arrived_by = None;
        if let Some((at, since)) = next_read.take() {
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = sink_closed(&sink) => return Ok(Closed::SinkGone),
            }
            match socket.try_read_buf(&mut buf) {
                Ok(_) => arrived_by = Some(since),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        let n = match arrived_by {
            Some(_) => buf.len(),
            None => tokio::select! {
                r = timeout_at(deadline, socket.read_buf(&mut buf)) => match r {
                    Ok(r) => r?,
                    Err(_) if conn.is_publishing() => return Err(ConnError::Timeout("waiting for media from the publisher")),
                    Err(_) => return Err(ConnError::Timeout("before the client asked to publish")),
                },
                _ = sink_closed(&sink) => return Ok(Closed::SinkGone),
            },
        };
        if n == 0 {
            return Ok(Closed::Eof);
        }
        let now = StdInstant::now();
        let received_at = arrived_by.unwrap_or(now);
        let pushed = conn.push(&buf[..n]);
        write_out(&mut socket, &mut conn, deadline).await?;
        match pushed {
            Ok(()) => {}
            // Nothing queued before a protocol error is acted on: a publish
            // request followed by garbage must not start a broadcast.
            Err(
                e @ Error::Media(
                    av::Error::UnsupportedAudioCodec(_) | av::Error::UnsupportedVideoCodec(_),
                ),
            ) => return Err(ConnError::Unsupported(e)),
            Err(e) => return Err(e.into()),
        }

        while let Some(event) = conn.poll_event() {
            match event {
                Event::PublishRequested {
                    request_id,
                    stream_key,
                } => {
                    let request = PublishRequest {
                        conn_id,
                        peer,
                        stream_key,
                    };
                    match handler.publish(request).await {
                        Ok(grant) => {
                            conn.accept_publish(request_id)?;
                            write_out(&mut socket, &mut conn, deadline).await?;
                            info!(channel = %grant.label, "publish accepted");
                            metrics::counter!(CONNECTIONS, "outcome" => "published").increment(1);
                            sink = Some(grant.sink);
                            finished = grant.finished;
                            if grant.batch_media {
                                batch_wait = Duration::from_millis(config.media_batch_ms);
                            }
                        }
                        Err(refusal) => {
                            warn!(reason = refusal.kind(), "publish refused: {refusal}");
                            metrics::counter!(CONNECTIONS, "outcome" => refusal_outcome(&refusal))
                                .increment(1);
                            conn.reject_publish(
                                request_id,
                                refusal.status_code(),
                                &refusal.to_string(),
                            )?;
                            write_out(&mut socket, &mut conn, deadline).await?;
                            let _ = timeout_at(deadline, socket.shutdown()).await;
                            return Ok(Closed::Refused);
                        }
                    }
                }
                Event::Media(event) => {
                    if sink.is_some() {
                        keyframes.observe(&event);
                        media.push(event);
                    }
                }
                Event::PublishFinished => {
                    if let Some(tx) = &sink
                        && !media.is_empty()
                    {
                        let _ = tx.send((received_at, std::mem::take(&mut media))).await;
                    }
                    if let Some(f) = finished.take() {
                        let _ = f.send(());
                    }
                    return Ok(Closed::Finished);
                }
            }
        }
        // The next read waits for a batch unless this one filled the
        // buffer (more is queued) or the next keyframe is due soon: that
        // one is read as soon as it arrives (crate::keyframes).
        if conn.is_publishing()
            && !batch_wait.is_zero()
            && n < capacity
            && !keyframes.due_within(keyframe_lookahead)
        {
            next_read = Some((Instant::now() + batch_wait, now));
        }
        if let Some(tx) = &sink
            && !media.is_empty()
            && tx
                .send((received_at, std::mem::take(&mut media)))
                .await
                .is_err()
        {
            return Ok(Closed::SinkGone);
        }
    }
}

/// Resolves when the live stream dropped its receiver; never if there is none.
async fn sink_closed(sink: &Option<mpsc::Sender<Arrival>>) {
    match sink {
        Some(tx) => tx.closed().await,
        None => std::future::pending().await,
    }
}

/// Writes what the connection has to send, within the same deadline as
/// reads: a peer that stops reading cannot hold the connection open.
async fn write_out(
    socket: &mut TcpStream,
    conn: &mut Connection,
    deadline: Instant,
) -> Result<(), ConnError> {
    for chunk in conn.take_outbound() {
        timeout_at(deadline, socket.write_all(&chunk))
            .await
            .map_err(|_| ConnError::Timeout("writing to a client that does not read"))??;
    }
    Ok(())
}
