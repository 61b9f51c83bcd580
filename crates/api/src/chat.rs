//! Chat over WebSocket: `GET /ws/chat/{slug}`.
//!
//! * Who: the session cookie identifies the user (the same one the REST API
//!   reads); without one the connection is read-only. The upgrade is a
//!   GET, so it carries no CSRF header: instead a browser's `Origin` must
//!   name this server (the `Host`, or `X-Forwarded-Host` from a proxy), or
//!   be absent (non-browser clients). Otherwise any site could open a
//!   socket with the visitor's cookie (cross-site WebSocket hijacking).
//!   Private channels' chat is for their owner and admins only (404).
//! * Fan-out: one `tokio::sync::broadcast` per channel ("room") in this
//!   process, created when the first client joins and dropped with the
//!   last one. Messages are persisted first, then broadcast. Several nodes
//!   behind a load balancer would each fan out their own clients' messages
//!   only; history (from the database) is complete everywhere.
//! * Rules on posting: logged in; not banned or timed out; body trimmed,
//!   1-500 characters; no blocked word (whole words, ignoring case); at
//!   most [`RATE_LIMIT_MESSAGES`] per [`RATE_LIMIT_WINDOW`] per user and
//!   room; slow mode (one message per N s per user) unless moderator.
//! * Moderation (channel owner, its moderators, admins): delete, timeout,
//!   ban, unban, slow mode. A moderator cannot act on the owner, an admin
//!   or another moderator (the owner and admins can).
//! * Bounds: frames and messages of at most [`MAX_MESSAGE_BYTES`]; each
//!   connection reads the room's broadcast, which keeps at most
//!   [`ROOM_BUFFER`] events for it, and a client that falls further behind
//!   (or does not take a frame within [`SEND_TIMEOUT`]) is disconnected
//!   rather than buffered for; a ping every [`PING_INTERVAL`], and a
//!   client silent for [`IDLE_TIMEOUT`] is disconnected.
//!
//! The protocol (JSON text frames) is in `docs/web.md`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use control::{Channel, ChatMessage, NewChatBan, Role, User};
use http::{HeaderMap, header};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::{ApiError, AppState};

/// Messages sent on join.
pub const HISTORY_LEN: u32 = 50;
/// Longest frame or message a client may send, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Events a room keeps for a connection that has not sent them yet.
pub const ROOM_BUFFER: usize = 256;
/// How long a client may take to accept one frame.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server pings.
pub const PING_INTERVAL: Duration = Duration::from_secs(25);
/// A client that sends nothing (not even a pong) for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(70);
/// Messages a user may post per window in one room.
pub const RATE_LIMIT_MESSAGES: usize = 5;
/// The rate limit's window.
pub const RATE_LIMIT_WINDOW: Duration = Duration::from_secs(10);
/// Longest timeout, in seconds (two weeks).
pub const TIMEOUT_MAX_S: u64 = 14 * 24 * 3600;
/// Frames one connection may send per [`FRAME_WINDOW`] (commands, posts,
/// pings and pongs alike); more closes the connection.
pub const FRAME_LIMIT: usize = 20;
/// The window of [`FRAME_LIMIT`].
pub const FRAME_WINDOW: Duration = Duration::from_secs(10);
/// How often a connection re-checks its session and the channel.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(5);

/// `/ws/chat/{slug}`, with at most `max_connections` sockets at once, and
/// `max_per_address` from one client address.
pub(crate) fn router(
    state: AppState,
    max_connections: u32,
    max_per_address: u32,
) -> Router<AppState> {
    let ctx = ChatCtx {
        app: state,
        hub: Arc::new(Hub {
            max_connections: max_connections.max(1) as usize,
            max_per_address: max_per_address.max(1) as usize,
            ..Hub::default()
        }),
    };
    Router::new()
        .route("/ws/chat/{slug}", get(upgrade))
        .with_state(ctx)
}

#[derive(Clone)]
struct ChatCtx {
    app: AppState,
    hub: Arc<Hub>,
}

/// The rooms with at least one connection.
#[derive(Default)]
struct Hub {
    rooms: Mutex<HashMap<String, Weak<Room>>>,
    /// Open sockets (upgrades under way included), in all and per client
    /// address.
    connections: Mutex<Connections>,
    max_connections: usize,
    max_per_address: usize,
}

#[derive(Default)]
struct Connections {
    total: usize,
    per_address: HashMap<std::net::IpAddr, usize>,
}

/// One counted socket, given back when dropped.
struct ConnectionSlot {
    hub: Arc<Hub>,
    address: Option<std::net::IpAddr>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut c = self
            .hub
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(address) = self.address
            && let Some(n) = c.per_address.get_mut(&address)
        {
            *n -= 1;
            if *n == 0 {
                c.per_address.remove(&address);
            }
        }
    }
}

impl Hub {
    /// A connection slot for a client at `address` (`None`: unknown, or a
    /// proxy on this box that cannot tell its clients apart: only the
    /// total applies), or why not.
    fn slot(
        self: &Arc<Self>,
        address: Option<std::net::IpAddr>,
    ) -> Result<ConnectionSlot, &'static str> {
        let mut c = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        if c.total >= self.max_connections {
            return Err("the chat has all the connections it takes right now; try again shortly");
        }
        if let Some(address) = address
            && c.per_address.get(&address).copied().unwrap_or(0) >= self.max_per_address
        {
            return Err("too many chat connections from your address");
        }
        c.total += 1;
        if let Some(address) = address {
            *c.per_address.entry(address).or_default() += 1;
        }
        Ok(ConnectionSlot {
            hub: Arc::clone(self),
            address,
        })
    }
}

impl Hub {
    /// The channel's room, created if nobody is in it.
    fn join(&self, channel_id: &str) -> Arc<Room> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(room) = rooms.get(channel_id).and_then(Weak::upgrade) {
            return room;
        }
        // Forget rooms whose last connection left.
        rooms.retain(|_, room| room.strong_count() > 0);
        let (tx, _) = broadcast::channel(ROOM_BUFFER);
        let room = Arc::new(Room {
            tx,
            posting: Mutex::new(HashMap::new()),
            last_post: Mutex::new(HashMap::new()),
            checked: Mutex::new(None),
        });
        rooms.insert(channel_id.to_owned(), Arc::downgrade(&room));
        room
    }
}

/// One channel's chat in this process.
struct Room {
    /// Serialized server events for every connection.
    tx: broadcast::Sender<Utf8Bytes>,
    /// Recent post attempts per user, for the rate limit.
    posting: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Each user's last accepted post, for slow mode.
    last_post: Mutex<HashMap<String, Instant>>,
    /// The channel as last read for a re-check, and when: every socket of
    /// the room shares one read per [`RECHECK_INTERVAL`].
    checked: Mutex<Option<(Instant, Option<Channel>)>>,
}

impl Room {
    /// The channel for a re-check: read at most once per
    /// [`RECHECK_INTERVAL`] for the whole room.
    async fn checked_channel(
        &self,
        db: &control::Db,
        channel_id: &str,
    ) -> control::Result<Option<Channel>> {
        let now = Instant::now();
        if let Some((at, channel)) = &*self.checked.lock().unwrap_or_else(|e| e.into_inner())
            && now.duration_since(*at) < RECHECK_INTERVAL
        {
            return Ok(channel.clone());
        }
        let channel = db.channel(channel_id).await?;
        *self.checked.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, channel.clone()));
        Ok(channel)
    }

    fn broadcast(&self, event: &ServerEvent) {
        // No receivers is fine (cannot happen while a sender is connected).
        let _ = self.tx.send(event.to_text());
    }

    /// The rate limit, before anything else about a post by `user_id`
    /// (no database work for a flood): at most [`RATE_LIMIT_MESSAGES`]
    /// attempts per [`RATE_LIMIT_WINDOW`]. Counts this one when allowed.
    fn admit(&self, user_id: &str, now: Instant) -> Result<(), Refusal> {
        let mut posting = self.posting.lock().unwrap_or_else(|e| e.into_inner());
        if posting.len() > 10_000 {
            posting.retain(|_, times| times.back().is_some_and(|t| now - *t < RATE_LIMIT_WINDOW));
        }
        let times = posting.entry(user_id.to_owned()).or_default();
        while times.front().is_some_and(|t| now - *t >= RATE_LIMIT_WINDOW) {
            times.pop_front();
        }
        if times.len() >= RATE_LIMIT_MESSAGES {
            return Err(Refusal::new(
                "rate_limited",
                format!(
                    "rate limited: at most {RATE_LIMIT_MESSAGES} messages per {} s",
                    RATE_LIMIT_WINDOW.as_secs()
                ),
            ));
        }
        times.push_back(now);
        Ok(())
    }

    /// Slow mode (one post per `slow_mode` per user); records the post
    /// when allowed.
    fn slow_mode(
        &self,
        user_id: &str,
        slow_mode: Option<Duration>,
        now: Instant,
    ) -> Result<(), Refusal> {
        let mut last = self.last_post.lock().unwrap_or_else(|e| e.into_inner());
        if last.len() > 10_000 {
            last.retain(|_, t| {
                now - *t < Duration::from_secs(u64::from(control::CHAT_SLOW_MODE_MAX_S))
            });
        }
        if let (Some(slow), Some(previous)) = (slow_mode, last.get(user_id))
            && now - *previous < slow
        {
            let wait = (slow - (now - *previous)).as_secs() + 1;
            return Err(Refusal::new(
                "slow_mode",
                format!("slow mode: wait {wait} s before posting again"),
            ));
        }
        last.insert(user_id.to_owned(), now);
        Ok(())
    }
}

/// A message as clients see it.
#[derive(Debug, Clone, Serialize)]
struct MessageOut {
    message_id: String,
    user_id: String,
    username: String,
    body: String,
    created_at_ms: i64,
}

impl From<ChatMessage> for MessageOut {
    fn from(m: ChatMessage) -> Self {
        MessageOut {
            message_id: m.message_id,
            user_id: m.user_id,
            username: m.username,
            body: m.body,
            created_at_ms: m.created_at_ms,
        }
    }
}

/// Server → client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerEvent {
    /// On join: the latest messages, oldest first.
    History {
        messages: Vec<MessageOut>,
    },
    /// On join, after the history: who the connection is.
    Joined {
        /// `null` when anonymous (read only).
        user_id: Option<String>,
        username: Option<String>,
        /// Whether this connection may moderate.
        moderator: bool,
        slow_mode_s: u32,
    },
    Message {
        message: MessageOut,
    },
    Deleted {
        message_id: String,
    },
    Settings {
        slow_mode_s: u32,
    },
    /// A timeout, ban or unban, to everyone in the room.
    Moderation {
        action: &'static str,
        user_id: String,
        /// End of a timeout (unix milliseconds).
        #[serde(skip_serializing_if = "Option::is_none")]
        until_ms: Option<i64>,
    },
    /// To the one connection whose command failed.
    Error {
        code: &'static str,
        message: String,
    },
}

impl ServerEvent {
    fn to_text(&self) -> Utf8Bytes {
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"type":"error","code":"internal","message":"encoding"}"#.into())
            .into()
    }
}

/// Client → server.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Command {
    Send {
        body: String,
    },
    Delete {
        message_id: String,
    },
    Timeout {
        user_id: String,
        seconds: u64,
        #[serde(default)]
        reason: Option<String>,
    },
    Ban {
        user_id: String,
        #[serde(default)]
        reason: Option<String>,
    },
    Unban {
        user_id: String,
    },
    SlowMode {
        seconds: u32,
    },
}

/// Why a command was refused: an `error` event.
#[derive(Debug)]
struct Refusal {
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }

    fn event(self) -> ServerEvent {
        ServerEvent::Error {
            code: self.code,
            message: self.message,
        }
    }
}

impl From<control::Error> for Refusal {
    fn from(e: control::Error) -> Refusal {
        match e {
            control::Error::NotFound { what } => {
                Refusal::new("not_found", format!("{what} not found"))
            }
            control::Error::Invalid { message, .. } => Refusal::new("invalid", message),
            e => {
                tracing::warn!(error = %e, "chat command failed");
                Refusal::new("internal", "something went wrong; try again")
            }
        }
    }
}

/// Whether the `Origin` header (if any) names this server.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(authority) = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'))
    else {
        return false;
    };
    let matches = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|host| host.trim().eq_ignore_ascii_case(authority))
    };
    matches(header::HOST) || matches(header::HeaderName::from_static("x-forwarded-host"))
}

async fn upgrade(
    State(ctx): State<ChatCtx>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    policy: Option<axum::Extension<crate::ClientAddressPolicy>>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if !same_origin(&headers) {
        return Err(ApiError::forbidden(
            "cross_origin",
            "the chat accepts WebSocket connections from this site's pages only",
        ));
    }
    let trust = policy.is_some_and(|axum::Extension(p)| p.trust_forwarded_for);
    let peer = peer.map(|axum::Extension(axum::extract::ConnectInfo(a))| a.ip());
    let address = crate::client_address(&headers, peer, trust)
        .filter(|ip| !ip.is_loopback())
        .map(outbound::client_bucket);
    let slot = ctx
        .hub
        .slot(address)
        .map_err(|why| ApiError::unavailable("chat_full", why))?;
    let session_token =
        crate::v1::caller::cookie(&headers, crate::v1::caller::SESSION_COOKIE).map(str::to_owned);
    let user = match &session_token {
        Some(token) => ctx.app.db.session(token).await?.map(|(user, _)| user),
        None => None,
    };
    // A cookie that is not a session is no session to re-check.
    let session_token = session_token.filter(|_| user.is_some());
    let channel = ctx
        .app
        .db
        .channel_by_slug(&slug)
        .await?
        .filter(|c| can_see(user.as_ref(), c))
        .ok_or_else(|| ApiError::not_found("not_found", "channel not found"))?;
    Ok(ws
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            let room = ctx.hub.join(&channel.channel_id);
            let conn = Connection {
                ctx,
                room,
                channel_id: channel.channel_id.clone(),
                user,
                session_token,
            };
            conn.run(socket).await;
        })
        .into_response())
}

fn is_owner_or_admin(user: &User, channel: &Channel) -> bool {
    user.role == Role::Admin || user.user_id == channel.owner_user_id
}

fn can_see(user: Option<&User>, channel: &Channel) -> bool {
    channel.visibility != control::Visibility::Private
        || user.is_some_and(|u| is_owner_or_admin(u, channel))
}

/// The first blocked word `body` contains as a whole word (ignoring
/// case): bounded by the text's ends or by characters that are not
/// letters or digits.
fn blocked_word<'a>(body: &str, words: &'a [String]) -> Option<&'a str> {
    let body = body.to_lowercase();
    words.iter().map(String::as_str).find(|word| {
        !word.is_empty()
            && body.match_indices(word).any(|(at, _)| {
                let before = body[..at].chars().next_back();
                let after = body[at + word.len()..].chars().next();
                !before.is_some_and(char::is_alphanumeric)
                    && !after.is_some_and(char::is_alphanumeric)
            })
    })
}

struct Connection {
    ctx: ChatCtx,
    room: Arc<Room>,
    channel_id: String,
    user: Option<User>,
    /// The session cookie the user came with, re-checked every
    /// [`RECHECK_INTERVAL`].
    session_token: Option<String>,
}

impl Connection {
    async fn run(mut self, mut socket: WebSocket) {
        // Subscribe before reading the history, so nothing posted in
        // between is missed (it may arrive twice; message ids tell).
        let mut events = self.room.tx.subscribe();
        let joined = match self.join_events().await {
            Ok(events) => events,
            Err(refusal) => vec![refusal.event()],
        };
        for event in joined {
            if !send(&mut socket, event.to_text()).await {
                return;
            }
        }
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.tick().await;
        let mut recheck = tokio::time::interval(RECHECK_INTERVAL);
        recheck.tick().await;
        let mut last_heard = Instant::now();
        let mut frames: VecDeque<Instant> = VecDeque::with_capacity(FRAME_LIMIT);
        loop {
            tokio::select! {
                incoming = socket.recv() => {
                    let Some(Ok(message)) = incoming else { return };
                    last_heard = Instant::now();
                    // Every frame counts (pings too: each costs a pong).
                    while frames.front().is_some_and(|t| last_heard - *t >= FRAME_WINDOW) {
                        frames.pop_front();
                    }
                    if frames.len() >= FRAME_LIMIT {
                        tracing::debug!(channel_id = %self.channel_id, "chat client over the frame limit; closing");
                        let refusal = Refusal::new(
                            "too_many_frames",
                            format!("more than {FRAME_LIMIT} messages in {} s; closing", FRAME_WINDOW.as_secs()),
                        );
                        let _ = send(&mut socket, refusal.event().to_text()).await;
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                    frames.push_back(last_heard);
                    let reply = match message {
                        Message::Text(text) => self.command(text.as_str()).await,
                        Message::Binary(_) => Some(Refusal::new("invalid", "send JSON text frames")),
                        Message::Close(_) => return,
                        Message::Ping(_) | Message::Pong(_) => None,
                    };
                    if let Some(refusal) = reply
                        && !send(&mut socket, refusal.event().to_text()).await
                    {
                        return;
                    }
                }
                event = events.recv() => {
                    match event {
                        Ok(text) => {
                            if !send(&mut socket, text).await {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::debug!(channel_id = %self.channel_id, missed,
                                "chat client too slow; disconnecting");
                            let _ = socket.send(Message::Close(None)).await;
                            return;
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
                _ = recheck.tick() => {
                    if let Err(refusal) = self.recheck().await {
                        let _ = send(&mut socket, refusal.event().to_text()).await;
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > IDLE_TIMEOUT {
                        return;
                    }
                    if !send_message(&mut socket, Message::Ping(Default::default())).await {
                        return;
                    }
                }
            }
        }
    }

    /// Who the connection is now and whether they may still be here: the
    /// session must still exist (the user is re-read from it, so a role
    /// change applies), and the channel must still be visible to them.
    /// `Err` says why the socket closes.
    async fn recheck(&mut self) -> Result<(), Refusal> {
        let db = &self.ctx.app.db;
        if let Some(token) = &self.session_token {
            match db.session(token).await {
                Ok(Some((user, _))) => self.user = Some(user),
                Ok(None) => {
                    return Err(Refusal::new(
                        "session_ended",
                        "your session ended (logged out, or the password changed); reconnect",
                    ));
                }
                // A database hiccup is not a reason to drop the chat.
                Err(e) => tracing::warn!(error = %e, "chat re-check failed"),
            }
        }
        match self.room.checked_channel(db, &self.channel_id).await {
            Ok(Some(channel)) if can_see(self.user.as_ref(), &channel) => Ok(()),
            Ok(_) => Err(Refusal::new(
                "not_found",
                "this chat is no longer available to you",
            )),
            Err(e) => {
                tracing::warn!(error = %e, "chat re-check failed");
                Ok(())
            }
        }
    }

    async fn join_events(&self) -> Result<Vec<ServerEvent>, Refusal> {
        let db = &self.ctx.app.db;
        let messages = db
            .recent_chat_messages(&self.channel_id, HISTORY_LEN)
            .await?
            .into_iter()
            .map(MessageOut::from)
            .collect();
        let channel = self.channel().await?;
        let moderator = match &self.user {
            Some(user) => self.is_moderator(user, &channel).await?,
            None => false,
        };
        Ok(vec![
            ServerEvent::History { messages },
            ServerEvent::Joined {
                user_id: self.user.as_ref().map(|u| u.user_id.clone()),
                username: self.user.as_ref().map(|u| u.username.clone()),
                moderator,
                slow_mode_s: channel.chat_slow_mode_s,
            },
        ])
    }

    async fn channel(&self) -> Result<Channel, Refusal> {
        self.ctx
            .app
            .db
            .channel(&self.channel_id)
            .await?
            .ok_or_else(|| Refusal::new("not_found", "the channel no longer exists"))
    }

    async fn is_moderator(&self, user: &User, channel: &Channel) -> Result<bool, Refusal> {
        Ok(is_owner_or_admin(user, channel)
            || self
                .ctx
                .app
                .db
                .is_channel_moderator(&channel.channel_id, &user.user_id)
                .await?)
    }

    /// Runs a client's command; `Some` is the error to send back.
    async fn command(&self, text: &str) -> Option<Refusal> {
        let command: Command = match serde_json::from_str(text) {
            Ok(command) => command,
            Err(e) => return Some(Refusal::new("invalid", format!("bad command: {e}"))),
        };
        let Some(user) = &self.user else {
            return Some(Refusal::new(
                "not_logged_in",
                "log in to chat; anonymous viewers can only read",
            ));
        };
        let result = match command {
            Command::Send { body } => self.post(user, &body).await,
            command => self.moderate(user, command).await,
        };
        result.err()
    }

    async fn post(&self, user: &User, body: &str) -> Result<(), Refusal> {
        // What needs no lookup first (the body's shape), then the rate
        // limit, which counts every attempt from here on: a flood costs no
        // database work.
        let body = control::normalize_chat_body(body).map_err(|e| match e {
            control::Error::Invalid { message, .. } if message.starts_with("too long") => {
                Refusal::new("too_long", message)
            }
            control::Error::Invalid { message, .. } if message == "empty" => {
                Refusal::new("empty", "empty message")
            }
            e => Refusal::from(e),
        })?;
        self.room.admit(&user.user_id, Instant::now())?;
        let db = &self.ctx.app.db;
        let channel = self.channel().await?;
        if let Some(ban) = db
            .active_chat_ban(&self.channel_id, &user.user_id, now_ms())
            .await?
        {
            let reason = if ban.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", ban.reason)
            };
            return Err(match ban.until_ms {
                None => Refusal::new("banned", format!("you are banned from this chat{reason}")),
                Some(until) => Refusal::new(
                    "timed_out",
                    format!(
                        "you are timed out for {} more s{reason}",
                        (until - now_ms()).max(0) / 1000 + 1
                    ),
                ),
            });
        }
        if let Some(word) = blocked_word(&body, &channel.chat_blocked_words) {
            return Err(Refusal::new(
                "blocked_word",
                format!("blocked word: {word:?} is not allowed in this chat"),
            ));
        }
        let slow_mode = (channel.chat_slow_mode_s > 0)
            .then(|| Duration::from_secs(channel.chat_slow_mode_s.into()));
        let slow_mode = match slow_mode {
            Some(_) if self.is_moderator(user, &channel).await? => None,
            slow_mode => slow_mode,
        };
        self.room
            .slow_mode(&user.user_id, slow_mode, Instant::now())?;
        let message = db
            .post_chat_message(&self.channel_id, &user.user_id, &body)
            .await?;
        self.room.broadcast(&ServerEvent::Message {
            message: message.into(),
        });
        Ok(())
    }

    async fn moderate(&self, user: &User, command: Command) -> Result<(), Refusal> {
        let db = &self.ctx.app.db;
        let channel = self.channel().await?;
        if !self.is_moderator(user, &channel).await? {
            return Err(Refusal::new(
                "not_allowed",
                "only the channel's owner, its moderators and admins may moderate",
            ));
        }
        match command {
            Command::Send { .. } => unreachable!("posts are not moderation"),
            Command::Delete { message_id } => {
                if db
                    .delete_chat_message(&self.channel_id, &message_id)
                    .await?
                {
                    self.room.broadcast(&ServerEvent::Deleted { message_id });
                }
            }
            Command::Timeout {
                user_id,
                seconds,
                reason,
            } => {
                if !(1..=TIMEOUT_MAX_S).contains(&seconds) {
                    return Err(Refusal::new(
                        "invalid",
                        format!("a timeout lasts 1 to {TIMEOUT_MAX_S} seconds"),
                    ));
                }
                self.check_target(user, &channel, &user_id).await?;
                let until_ms = now_ms() + (seconds as i64) * 1000;
                self.ban(user, user_id, Some(until_ms), reason).await?;
            }
            Command::Ban { user_id, reason } => {
                self.check_target(user, &channel, &user_id).await?;
                self.ban(user, user_id, None, reason).await?;
            }
            Command::Unban { user_id } => {
                db.remove_chat_ban(&self.channel_id, &user_id).await?;
                self.room.broadcast(&ServerEvent::Moderation {
                    action: "unban",
                    user_id,
                    until_ms: None,
                });
            }
            Command::SlowMode { seconds } => {
                let channel = db
                    .update_channel(
                        &self.channel_id,
                        control::ChannelUpdate {
                            chat_slow_mode_s: Some(seconds),
                            ..Default::default()
                        },
                    )
                    .await?;
                self.room.broadcast(&ServerEvent::Settings {
                    slow_mode_s: channel.chat_slow_mode_s,
                });
            }
        }
        Ok(())
    }

    /// Whether `actor` may time out or ban `target_id`: not themselves,
    /// not the owner or an admin, and (for moderators) not another
    /// moderator.
    async fn check_target(
        &self,
        actor: &User,
        channel: &Channel,
        target_id: &str,
    ) -> Result<(), Refusal> {
        let db = &self.ctx.app.db;
        let target = db
            .user(target_id)
            .await?
            .ok_or_else(|| Refusal::new("not_found", "no such user"))?;
        let refused = target.user_id == actor.user_id
            || is_owner_or_admin(&target, channel)
            || (!is_owner_or_admin(actor, channel)
                && db
                    .is_channel_moderator(&channel.channel_id, &target.user_id)
                    .await?);
        if refused {
            return Err(Refusal::new(
                "not_allowed",
                "you may not time out or ban this user",
            ));
        }
        Ok(())
    }

    async fn ban(
        &self,
        actor: &User,
        user_id: String,
        until_ms: Option<i64>,
        reason: Option<String>,
    ) -> Result<(), Refusal> {
        self.ctx
            .app
            .db
            .set_chat_ban(NewChatBan {
                channel_id: self.channel_id.clone(),
                user_id: user_id.clone(),
                until_ms,
                reason: reason.unwrap_or_default(),
                created_by_user_id: Some(actor.user_id.clone()),
            })
            .await?;
        self.room.broadcast(&ServerEvent::Moderation {
            action: if until_ms.is_some() { "timeout" } else { "ban" },
            user_id,
            until_ms,
        });
        Ok(())
    }
}

/// Sends a text frame; false when the client is gone or too slow.
async fn send(socket: &mut WebSocket, text: Utf8Bytes) -> bool {
    send_message(socket, Message::Text(text)).await
}

async fn send_message(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_words_match_whole_words_ignoring_case() {
        let words = vec!["spam".to_owned(), "bad word".to_owned()];
        assert_eq!(blocked_word("SPAM!", &words), Some("spam"));
        assert_eq!(blocked_word("no spam, please", &words), Some("spam"));
        assert_eq!(blocked_word("a Bad Word here", &words), Some("bad word"));
        assert_eq!(blocked_word("spammer", &words), None);
        assert_eq!(blocked_word("antispam", &words), None);
        assert_eq!(blocked_word("badword", &words), None);
        assert_eq!(blocked_word("fine", &[]), None);
    }

    #[test]
    fn origin_must_name_the_host() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(
                    header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            h
        };
        assert!(same_origin(&headers(&[("host", "a.example:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "a.example:8080"),
            ("origin", "http://A.example:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "a.example:8080"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "a.example"),
            ("origin", "null")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "live.example"),
            ("origin", "https://live.example")
        ])));
    }

    #[test]
    fn rate_limit_and_slow_mode() {
        let (tx, _) = broadcast::channel(1);
        let room = Room {
            tx,
            posting: Mutex::new(HashMap::new()),
            last_post: Mutex::new(HashMap::new()),
            checked: Mutex::new(None),
        };
        let t0 = Instant::now();
        for i in 0..RATE_LIMIT_MESSAGES {
            room.admit("u", t0 + Duration::from_millis(i as u64))
                .unwrap();
        }
        let refused = room.admit("u", t0 + Duration::from_secs(1)).unwrap_err();
        assert_eq!(refused.code, "rate_limited");
        // Others are not limited; the window passes.
        room.admit("v", t0).unwrap();
        room.admit("u", t0 + RATE_LIMIT_WINDOW + Duration::from_millis(10))
            .unwrap();

        let slow = Some(Duration::from_secs(30));
        room.slow_mode("w", slow, t0).unwrap();
        let refused = room
            .slow_mode("w", slow, t0 + Duration::from_secs(29))
            .unwrap_err();
        assert_eq!(refused.code, "slow_mode");
        room.slow_mode("w", slow, t0 + Duration::from_secs(30))
            .unwrap();
        room.slow_mode("w", None, t0 + Duration::from_secs(31))
            .unwrap();
    }
}
