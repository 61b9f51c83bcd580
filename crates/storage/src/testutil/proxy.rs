//! [`FaultProxy`]: a loopback TCP proxy in front of a test server that can
//! be told to refuse or reset connections (an outage), and that records
//! every HTTP/1 request going through it by method and path.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::http::{ProxiedRequest, RequestParser};

/// What the proxy does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward to the upstream server.
    Pass,
    /// Stop listening: new connections are refused (ECONNREFUSED); open
    /// ones are reset.
    Refuse,
    /// Accept connections and reset them at once (RST); open ones are reset.
    Reset,
}

/// A proxy on `127.0.0.1:{random port}` forwarding to `upstream`. Dropping
/// it closes its listener and connections.
///
/// ```ignore
/// let proxy = FaultProxy::start(server.addr()).await?;
/// let config = StorageConfig { s3_endpoint: proxy.endpoint(), ..server.config() };
/// proxy.outage(ProxyMode::Refuse, Duration::from_secs(20)); // in the background
/// assert_eq!(proxy.count("GET", "/bucket/live/"), 0);
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    shared: Arc<Shared>,
    /// Dropped with the proxy: tells the accept loop and connections to end.
    _alive: watch::Sender<()>,
    accept_task: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    addr: SocketAddr,
    upstream: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    requests: Mutex<Vec<ProxiedRequest>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` in [`ProxyMode::Pass`].
    pub async fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let (mode, _) = watch::channel(ProxyMode::Pass);
        let shared = Arc::new(Shared {
            addr: listener.local_addr()?,
            upstream,
            mode,
            requests: Mutex::new(Vec::new()),
        });
        let (alive, alive_rx) = watch::channel(());
        let accept_task = tokio::spawn(accept_loop(shared.clone(), listener, alive_rx));
        Ok(FaultProxy {
            shared,
            _alive: alive,
            accept_task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:{port}`: an S3 endpoint for clients to use.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    pub fn mode(&self) -> ProxyMode {
        *self.shared.mode.borrow()
    }

    /// Switches mode; leaving `Pass` cuts open connections at once.
    pub fn set_mode(&self, mode: ProxyMode) {
        self.shared.mode.send_replace(mode);
    }

    /// `mode` for `duration`, then `Pass`, in the background.
    pub fn outage(&self, mode: ProxyMode, duration: Duration) -> JoinHandle<()> {
        self.set_mode(mode);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            shared.mode.send_replace(ProxyMode::Pass);
        })
    }

    /// Every request forwarded so far, in the order their heads arrived.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.shared.requests().clone()
    }

    /// Requests with `method` whose path starts with `path_prefix`
    /// (percent-encoded, e.g. `/bucket/live/`).
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.shared
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path.starts_with(path_prefix))
            .count()
    }

    /// Forgets the requests recorded so far.
    pub fn clear(&self) {
        self.shared.requests().clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl Shared {
    fn requests(&self) -> std::sync::MutexGuard<'_, Vec<ProxiedRequest>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, mut alive: watch::Receiver<()>) {
    let mut listener = Some(listener);
    let mut mode_rx = shared.mode.subscribe();
    loop {
        let mode = *mode_rx.borrow_and_update();
        if mode == ProxyMode::Refuse {
            listener = None;
        } else if listener.is_none() {
            listener = Some(rebind(shared.addr).await);
        }
        let Some(l) = &listener else {
            tokio::select! {
                changed = mode_rx.changed() => if changed.is_err() { return },
                _ = alive.changed() => return,
            }
            continue;
        };
        tokio::select! {
            accepted = l.accept() => {
                let Ok((client, _)) = accepted else { continue };
                if mode == ProxyMode::Reset {
                    reset(client);
                } else {
                    tokio::spawn(forward(shared.clone(), client, alive.clone()));
                }
            }
            changed = mode_rx.changed() => if changed.is_err() { return },
            _ = alive.changed() => return,
        }
    }
}

/// Listens on the proxy's port again after `Refuse` (retrying briefly in
/// case the port is in a transient state).
async fn rebind(addr: SocketAddr) -> TcpListener {
    let mut last_error = None;
    for _ in 0..100 {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("FaultProxy cannot listen on {addr} again: {last_error:?}");
}

/// Closes a connection with a TCP reset.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Pipes one connection both ways, recording request heads, until either
/// side closes or the mode leaves `Pass`.
async fn forward(shared: Arc<Shared>, mut client: TcpStream, mut alive: watch::Receiver<()>) {
    let mut mode_rx = shared.mode.subscribe();
    let Ok(mut upstream) = TcpStream::connect(shared.upstream).await else {
        reset(client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let mut parser = RequestParser::default();
    let mut from_client = vec![0u8; 64 * 1024];
    let mut from_upstream = vec![0u8; 64 * 1024];
    let (mut client_open, mut upstream_open) = (true, true);
    while client_open || upstream_open {
        tokio::select! {
            read = client.read(&mut from_client), if client_open => match read {
                Ok(0) | Err(_) => {
                    client_open = false;
                    let _ = upstream.shutdown().await;
                }
                Ok(n) => {
                    let seen = parser.push(&from_client[..n]);
                    if !seen.is_empty() {
                        shared.requests().extend(seen);
                    }
                    if upstream.write_all(&from_client[..n]).await.is_err() {
                        break;
                    }
                }
            },
            read = upstream.read(&mut from_upstream), if upstream_open => match read {
                Ok(0) | Err(_) => {
                    upstream_open = false;
                    let _ = client.shutdown().await;
                }
                Ok(n) => {
                    if client.write_all(&from_upstream[..n]).await.is_err() {
                        break;
                    }
                }
            },
            changed = mode_rx.changed() => {
                if changed.is_err() || *mode_rx.borrow_and_update() != ProxyMode::Pass {
                    reset(client);
                    return;
                }
            }
            _ = alive.changed() => {
                reset(client);
                return;
            }
        }
    }
}
