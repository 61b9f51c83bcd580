//! Webhooks (Mux's model): endpoints a user registers, events about their
//! channels, and deliveries of each event to each matching endpoint,
//! retried with exponential backoff for 24 hours. At least once and in no
//! particular order: receivers deduplicate on the event id.
//!
//! Flow: whoever observes a change calls [`Db::enqueue_webhook_event`],
//! which stores the event and one `pending` delivery per enabled endpoint
//! of the channel's owner that wants that type, in one transaction. Delivery
//! workers (one per node, any number of nodes) loop on
//! [`Db::claim_due_deliveries`], which leases due deliveries so that no two
//! workers send the same one at once, POST [`WebhookEvent::body`] signed as
//! [`crate::webhook_signature`] describes, and report
//! [`Db::delivery_succeeded`] (any 2xx) or [`Db::delivery_failed`]. A worker
//! that dies mid-send leaves a lease that runs out; the delivery is then
//! due again (and may arrive twice: at least once).
//!
//! Every endpoint and delivery method is scoped to the acting owner and
//! answers [`Error::NotFound`] for another user's rows, so the API's
//! authorization is "pass the caller's user id" (an admin acting on
//! someone's behalf passes theirs).
//!
//! The endpoint secret is stored in plain text and can be read back by its
//! owner: the server must hold it to sign every delivery, so a hash would
//! not do, and showing it again (as Stripe does) spares users a rotation
//! when they configure a second receiver. [`Db::rotate_webhook_secret`]
//! replaces it.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::decode;
use crate::error::{Error, Result, Violation, map_write, violation};
use crate::ids::new_id;
use crate::page::{Page, PageRequest};
use crate::secret::new_webhook_secret;
use crate::text_enum::text_enum;

text_enum! {
    /// What happened (Mux's names where Mux has the event).
    pub enum WebhookEventType for "event_type" {
        /// A publisher connected to a channel.
        LiveStreamConnected = "live_stream.connected",
        /// Media is arriving: the channel is live.
        LiveStreamActive = "live_stream.active",
        /// The publisher dropped; the reconnect window is running.
        LiveStreamDisconnected = "live_stream.disconnected",
        /// The broadcast ended.
        LiveStreamIdle = "live_stream.idle",
        /// A recording is ready to play.
        VodReady = "vod.ready",
        /// A clip is ready to play.
        ClipReady = "clip.ready",
        /// A channel's settings changed.
        ChannelUpdated = "channel.updated",
        /// A channel was created.
        ChannelCreated = "channel.created",
        /// A channel was enabled (accepts publishers again).
        ChannelEnabled = "channel.enabled",
        /// A channel was disabled (refuses publishers).
        ChannelDisabled = "channel.disabled",
        /// A channel was deleted.
        ChannelDeleted = "channel.deleted",
        /// A broadcast's recording started.
        VodCreated = "vod.created",
        /// A recording failed.
        VodErrored = "vod.errored",
        /// A recording's settings (its title) changed.
        VodUpdated = "vod.updated",
        /// A recording was deleted.
        VodDeleted = "vod.deleted",
        /// A static rendition (`highest.mp4`, `audio.m4a`) of a recording
        /// was asked for.
        StaticRenditionCreated = "vod.static_rendition.created",
        /// A static rendition is ready to download.
        StaticRenditionReady = "vod.static_rendition.ready",
        /// A static rendition could not be made.
        StaticRenditionErrored = "vod.static_rendition.errored",
        /// A static rendition had nothing to be made from (no audio).
        StaticRenditionSkipped = "vod.static_rendition.skipped",
        /// A static rendition was deleted.
        StaticRenditionDeleted = "vod.static_rendition.deleted",
    }
}

text_enum! {
    /// The body and signature an endpoint receives.
    #[derive(Default)]
    pub enum WebhookFormat for "format" {
        /// This server's body (`{id, type, created_at_ms, channel_id,
        /// data}`) and `X-Aethex-Signature`.
        #[default]
        Native = "native",
        /// Mux's body (`{type, object, id, environment, data, attempts,
        /// created_at}`), event names and `mux-signature` header.
        Mux = "mux",
    }
}

/// The Mux events one of ours is, in the order Mux sends them (what a
/// `mux`-format endpoint receives; each is its own delivery). Empty for
/// events Mux has no name for.
pub fn mux_event_types(event_type: WebhookEventType) -> &'static [&'static str] {
    use WebhookEventType as T;
    match event_type {
        T::ChannelCreated => &["video.live_stream.created"],
        T::ChannelUpdated => &["video.live_stream.updated"],
        T::ChannelEnabled => &["video.live_stream.enabled"],
        T::ChannelDisabled => &["video.live_stream.disabled"],
        T::ChannelDeleted => &["video.live_stream.deleted"],
        T::LiveStreamConnected => &["video.live_stream.connected"],
        T::LiveStreamActive => &["video.live_stream.recording", "video.live_stream.active"],
        T::LiveStreamDisconnected => &["video.live_stream.disconnected"],
        T::LiveStreamIdle => &["video.live_stream.idle"],
        T::VodCreated => &["video.asset.created"],
        T::VodReady => &["video.asset.ready", "video.asset.live_stream_completed"],
        T::VodErrored => &["video.asset.errored"],
        T::VodUpdated => &["video.asset.updated"],
        T::VodDeleted => &["video.asset.deleted"],
        T::StaticRenditionCreated => &["video.asset.static_rendition.created"],
        T::StaticRenditionReady => &["video.asset.static_rendition.ready"],
        T::StaticRenditionErrored => &["video.asset.static_rendition.errored"],
        T::StaticRenditionSkipped => &["video.asset.static_rendition.skipped"],
        T::StaticRenditionDeleted => &["video.asset.static_rendition.deleted"],
        T::ClipReady => &[],
    }
}

text_enum! {
    /// Where a delivery is.
    pub enum WebhookDeliveryStatus for "status" {
        /// Due at `next_attempt_at_ms` (or being attempted, while leased).
        Pending = "pending",
        /// The endpoint answered 2xx.
        Delivered = "delivered",
        /// Retries gave up, 24 hours after the event.
        Failed = "failed",
    }
}

/// How long deliveries of an event are retried, in milliseconds: 24 hours.
pub const WEBHOOK_RETRY_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// Wait after the first failed attempt, in milliseconds; doubles with each
/// further failure.
pub const WEBHOOK_RETRY_FIRST_DELAY_MS: i64 = 10_000;
/// Longest wait between attempts, in milliseconds: one hour.
pub const WEBHOOK_RETRY_MAX_DELAY_MS: i64 = 3600 * 1000;
/// Longest endpoint URL, in bytes.
pub const WEBHOOK_URL_MAX_LEN: usize = 2048;
/// Largest event `data`, as JSON text, in bytes.
pub const WEBHOOK_DATA_MAX_BYTES: usize = 64 * 1024;
/// Most deliveries one claim returns.
pub const WEBHOOK_CLAIM_MAX: u32 = 100;
/// Longest `last_error` kept, in bytes; longer ones are truncated.
const LAST_ERROR_MAX_LEN: usize = 500;

/// Webhook limits and delivery settings (the `[webhooks]` section of
/// `aethex.toml`). The API enforces the endpoint cap; the server's
/// dispatcher the rest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Endpoints one user may register. Default 20.
    pub max_endpoints_per_user: u32,
    /// Requests in flight at once, per node. Default 32.
    pub max_in_flight: u32,
    /// Requests in flight at once to one owner's endpoints, across nodes
    /// (a delivery counts while it is leased), so that one owner's slow or
    /// failing receivers cannot hold every slot. Default 4.
    pub max_in_flight_per_owner: u32,
    /// How long one delivery may take, connecting and reading the answer's
    /// status, in seconds. Default 10.
    pub request_timeout_s: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            max_endpoints_per_user: 20,
            max_in_flight: 32,
            max_in_flight_per_owner: 4,
            request_timeout_s: 10,
        }
    }
}

impl WebhookConfig {
    /// Checks values a file or environment could get wrong.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.max_endpoints_per_user == 0 {
            return Err("webhooks.max_endpoints_per_user must be at least 1".into());
        }
        if !(1..=WEBHOOK_CLAIM_MAX).contains(&self.max_in_flight) {
            return Err(format!(
                "webhooks.max_in_flight must be between 1 and {WEBHOOK_CLAIM_MAX}, not {}",
                self.max_in_flight
            ));
        }
        if self.max_in_flight_per_owner == 0 || self.max_in_flight_per_owner > self.max_in_flight {
            return Err(format!(
                "webhooks.max_in_flight_per_owner must be between 1 and max_in_flight ({}), not {}",
                self.max_in_flight, self.max_in_flight_per_owner
            ));
        }
        if !(1..=300).contains(&self.request_timeout_s) {
            return Err(format!(
                "webhooks.request_timeout_s must be between 1 and 300, not {}",
                self.request_timeout_s
            ));
        }
        Ok(())
    }
}

/// A registered endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebhookEndpoint {
    /// UUIDv7.
    pub webhook_endpoint_id: String,
    pub owner_user_id: String,
    /// `http://` or `https://`, normalized, at most 2048 bytes.
    pub url: String,
    /// HMAC key of the signature header, `whsec_` + 32 alphanumerics.
    /// Readable by the owner (see the module docs).
    pub secret: String,
    /// Types delivered, in declaration order; empty means every type.
    pub event_types: Vec<WebhookEventType>,
    /// A disabled endpoint gets no new deliveries, and its pending ones
    /// wait (until re-enabled, or until purged).
    pub enabled: bool,
    /// Body and signature it receives.
    pub format: WebhookFormat,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
}

impl WebhookEndpoint {
    /// Whether this endpoint wants events of `event_type`.
    pub fn wants(&self, event_type: WebhookEventType) -> bool {
        self.event_types.is_empty() || self.event_types.contains(&event_type)
    }
}

/// Input of [`Db::create_webhook_endpoint`]. New endpoints are enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewWebhookEndpoint {
    pub url: String,
    /// Empty: every type.
    pub event_types: Vec<WebhookEventType>,
    pub format: WebhookFormat,
}

/// Changes for [`Db::update_webhook_endpoint`]; `None` leaves a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookEndpointUpdate {
    pub url: Option<String>,
    /// `Some(vec![])`: every type.
    pub event_types: Option<Vec<WebhookEventType>>,
    pub enabled: Option<bool>,
    pub format: Option<WebhookFormat>,
}

/// Something that happened, to be delivered.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WebhookEvent {
    /// UUIDv7; receivers deduplicate on it.
    pub webhook_event_id: String,
    pub event_type: WebhookEventType,
    /// Whose endpoints receive it.
    pub owner_user_id: String,
    /// The channel it is about, if any (it may since have been deleted).
    pub channel_id: Option<String>,
    /// The event's object (the live stream, VOD, clip or channel as JSON).
    pub data: serde_json::Value,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

impl WebhookEvent {
    /// The request body every delivery of this event POSTs, the same bytes
    /// on every attempt:
    /// `{"id":…,"type":…,"created_at_ms":…,"channel_id":…,"data":{…}}`.
    pub fn body(&self) -> String {
        serde_json::json!({
            "id": self.webhook_event_id,
            "type": self.event_type.as_str(),
            "created_at_ms": self.created_at_ms,
            "channel_id": self.channel_id,
            "data": self.data,
        })
        .to_string()
    }
}

/// One event to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebhookDelivery {
    /// UUIDv7.
    pub webhook_delivery_id: String,
    pub webhook_event_id: String,
    pub webhook_endpoint_id: String,
    pub status: WebhookDeliveryStatus,
    /// Attempts started so far.
    pub attempt_count: u32,
    /// Unix milliseconds when a pending delivery is next due.
    pub next_attempt_at_ms: i64,
    /// HTTP status of the last attempt; `None` if it got no response.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Unix milliseconds; set iff delivered.
    pub delivered_at_ms: Option<i64>,
    /// The Mux event this delivery carries (to a `mux` endpoint; see
    /// [`mux_event_types`]); `None` for native endpoints.
    pub mux_type: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
}

/// A delivery claimed by a worker, with what it needs to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub delivery: WebhookDelivery,
    pub event: WebhookEvent,
    pub endpoint: WebhookEndpoint,
}

/// How long to wait after the `attempt_count`-th failed attempt: 10 s,
/// 20 s, 40 s, ... doubling up to one hour.
pub fn webhook_retry_delay_ms(attempt_count: u32) -> i64 {
    let doublings = attempt_count.saturating_sub(1).min(20);
    (WEBHOOK_RETRY_FIRST_DELAY_MS << doublings).min(WEBHOOK_RETRY_MAX_DELAY_MS)
}

/// Checks and normalizes an endpoint URL: absolute `http`/`https` with a
/// host, no credentials, no fragment, at most 2048 bytes. Where it points
/// (loopback, private networks) is the delivering client's policy, not a
/// rule here: a self-hosted server often posts to its neighbours.
fn validate_url(url: &str) -> Result<String> {
    let url = url.trim();
    if url.is_empty() || url.len() > WEBHOOK_URL_MAX_LEN {
        return Err(Error::invalid(
            "url",
            format!("must be 1 to {WEBHOOK_URL_MAX_LEN} bytes"),
        ));
    }
    let parsed =
        url::Url::parse(url).map_err(|e| Error::invalid("url", format!("is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::invalid("url", "must start with http:// or https://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid("url", "must name a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::invalid(
            "url",
            "must not contain a user name or password",
        ));
    }
    if parsed.fragment().is_some() {
        return Err(Error::invalid("url", "must not have a #fragment"));
    }
    let normalized = parsed.to_string();
    if normalized.len() > WEBHOOK_URL_MAX_LEN {
        return Err(Error::invalid(
            "url",
            format!("must be 1 to {WEBHOOK_URL_MAX_LEN} bytes"),
        ));
    }
    Ok(normalized)
}

/// Event types as stored: deduplicated, in declaration order,
/// comma-separated.
fn encode_event_types(types: &[WebhookEventType]) -> String {
    WebhookEventType::ALL
        .iter()
        .filter(|t| types.contains(t))
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_event_types(text: &str) -> Result<Vec<WebhookEventType>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|t| {
            t.parse().map_err(|_| Error::Corrupt {
                table: "webhook_endpoint",
                column: "event_types",
                value: text.to_owned(),
            })
        })
        .collect()
}

/// Cuts `error` to at most [`LAST_ERROR_MAX_LEN`] bytes on a char boundary.
fn truncate_error(error: &str) -> &str {
    if error.len() <= LAST_ERROR_MAX_LEN {
        return error;
    }
    let mut end = LAST_ERROR_MAX_LEN;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

macro_rules! select_endpoint {
    ($tail:literal) => {
        concat!(
            "SELECT webhook_endpoint_id, owner_user_id, url, secret, event_types, enabled, \
             created_at_ms, updated_at_ms, format FROM webhook_endpoint ",
            $tail
        )
    };
}

fn endpoint_from_row(row: &AnyRow) -> Result<WebhookEndpoint> {
    endpoint_from_row_prefixed(row, "")
}

/// Reads an endpoint whose columns (except the id) are aliased `{prefix}x`.
fn endpoint_from_row_prefixed(row: &AnyRow, prefix: &str) -> Result<WebhookEndpoint> {
    let col = |name: &str| format!("{prefix}{name}");
    let event_types: String = row.try_get(col("event_types").as_str())?;
    let enabled: i64 = row.try_get(col("enabled").as_str())?;
    Ok(WebhookEndpoint {
        webhook_endpoint_id: row.try_get("webhook_endpoint_id")?,
        owner_user_id: row.try_get(col("owner_user_id").as_str())?,
        url: row.try_get(col("url").as_str())?,
        secret: row.try_get(col("secret").as_str())?,
        event_types: decode_event_types(&event_types)?,
        enabled: match enabled {
            0 => false,
            1 => true,
            other => {
                return Err(Error::Corrupt {
                    table: "webhook_endpoint",
                    column: "enabled",
                    value: other.to_string(),
                });
            }
        },
        format: {
            let text: String = row.try_get(col("format").as_str())?;
            text.parse().map_err(|_| Error::Corrupt {
                table: "webhook_endpoint",
                column: "format",
                value: text,
            })?
        },
        created_at_ms: row.try_get(col("created_at_ms").as_str())?,
        updated_at_ms: row.try_get(col("updated_at_ms").as_str())?,
    })
}

macro_rules! delivery_columns {
    ($p:literal) => {
        concat!(
            $p,
            "webhook_delivery_id, ",
            $p,
            "webhook_event_id, ",
            $p,
            "webhook_endpoint_id, ",
            $p,
            "status, ",
            $p,
            "attempt_count, ",
            $p,
            "next_attempt_at_ms, ",
            $p,
            "last_status_code, ",
            $p,
            "last_error, ",
            $p,
            "delivered_at_ms, ",
            $p,
            "created_at_ms, ",
            $p,
            "updated_at_ms, ",
            $p,
            "mux_type"
        )
    };
}

fn delivery_from_row(row: &AnyRow) -> Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        webhook_delivery_id: row.try_get("webhook_delivery_id")?,
        webhook_event_id: row.try_get("webhook_event_id")?,
        webhook_endpoint_id: row.try_get("webhook_endpoint_id")?,
        status: decode::text_enum(row, "webhook_delivery", "status")?,
        attempt_count: decode::int(row, "webhook_delivery", "attempt_count")?,
        next_attempt_at_ms: row.try_get("next_attempt_at_ms")?,
        last_status_code: decode::opt_int(row, "webhook_delivery", "last_status_code")?,
        last_error: row.try_get("last_error")?,
        delivered_at_ms: row.try_get("delivered_at_ms")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
        mux_type: row.try_get("mux_type")?,
    })
}

/// Reads an event whose columns (except the id) are aliased `{prefix}x`.
fn event_from_row_prefixed(row: &AnyRow, prefix: &str) -> Result<WebhookEvent> {
    let col = |name: &str| format!("{prefix}{name}");
    let data: String = row.try_get(col("data").as_str())?;
    let event_type: String = row.try_get(col("event_type").as_str())?;
    Ok(WebhookEvent {
        webhook_event_id: row.try_get("webhook_event_id")?,
        event_type: event_type.parse().map_err(|_| Error::Corrupt {
            table: "webhook_event",
            column: "event_type",
            value: event_type.clone(),
        })?,
        owner_user_id: row.try_get(col("owner_user_id").as_str())?,
        channel_id: row.try_get(col("channel_id").as_str())?,
        data: serde_json::from_str(&data).map_err(|_| Error::Corrupt {
            table: "webhook_event",
            column: "data",
            value: data.chars().take(100).collect(),
        })?,
        created_at_ms: row.try_get(col("created_at_ms").as_str())?,
    })
}

impl Db {
    /// Registers an endpoint for `owner_user_id`, enabled, with a fresh
    /// secret. [`Error::Invalid`] (`field` = "url") on a bad URL,
    /// [`Error::NotFound`] if there is no such user.
    pub async fn create_webhook_endpoint(
        &self,
        owner_user_id: &str,
        new: NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint> {
        self.create_webhook_endpoint_capped(owner_user_id, new, u32::MAX)
            .await
    }

    /// [`Db::create_webhook_endpoint`], refused with
    /// [`Error::LimitReached`] when the owner has `max_per_owner`
    /// endpoints already (counted in the insert, with the owner's row
    /// locked on PostgreSQL so concurrent requests cannot both pass).
    pub async fn create_webhook_endpoint_capped(
        &self,
        owner_user_id: &str,
        new: NewWebhookEndpoint,
        max_per_owner: u32,
    ) -> Result<WebhookEndpoint> {
        let url = validate_url(&new.url)?;
        let event_types = encode_event_types(&new.event_types);
        let now = self.now_ms();
        let endpoint = WebhookEndpoint {
            webhook_endpoint_id: new_id(),
            owner_user_id: owner_user_id.to_owned(),
            url,
            secret: new_webhook_secret(),
            event_types: decode_event_types(&event_types)?,
            enabled: true,
            format: new.format,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let mut tx = self.pool.begin().await?;
        self.lock_user_for_quota(&mut tx, owner_user_id).await?;
        let inserted = sqlx::query(
            "INSERT INTO webhook_endpoint (webhook_endpoint_id, owner_user_id, url, secret, \
             event_types, enabled, created_at_ms, updated_at_ms, format) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $10 \
             WHERE (SELECT COUNT(*) FROM webhook_endpoint WHERE owner_user_id = $2) < $9",
        )
        .bind(&endpoint.webhook_endpoint_id)
        .bind(&endpoint.owner_user_id)
        .bind(&endpoint.url)
        .bind(&endpoint.secret)
        .bind(&event_types)
        .bind(decode::flag_param(endpoint.enabled))
        .bind(endpoint.created_at_ms)
        .bind(endpoint.updated_at_ms)
        .bind(i64::from(max_per_owner))
        .bind(endpoint.format.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::ForeignKey) => Error::NotFound { what: "user" },
            _ => map_write(e),
        })?;
        tx.commit().await?;
        if inserted.rows_affected() == 0 {
            return Err(Error::LimitReached {
                what: "webhook endpoints per user",
                limit: max_per_owner,
            });
        }
        tracing::info!(
            webhook_endpoint_id = %endpoint.webhook_endpoint_id,
            %owner_user_id,
            "webhook endpoint created"
        );
        Ok(endpoint)
    }

    /// One of `owner_user_id`'s endpoints. [`Error::NotFound`] if there is
    /// no such endpoint or it is someone else's.
    pub async fn webhook_endpoint(
        &self,
        owner_user_id: &str,
        webhook_endpoint_id: &str,
    ) -> Result<WebhookEndpoint> {
        let row = sqlx::query(select_endpoint!(
            "WHERE webhook_endpoint_id = $1 AND owner_user_id = $2"
        ))
        .bind(webhook_endpoint_id)
        .bind(owner_user_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => endpoint_from_row(&row),
            None => Err(Error::NotFound {
                what: "webhook endpoint",
            }),
        }
    }

    /// Who endpoint `webhook_endpoint_id` belongs to, or `None` if there
    /// is no such endpoint: for admins acting on another user's endpoint.
    pub async fn webhook_endpoint_owner(
        &self,
        webhook_endpoint_id: &str,
    ) -> Result<Option<String>> {
        let owner = sqlx::query_scalar(
            "SELECT owner_user_id FROM webhook_endpoint WHERE webhook_endpoint_id = $1",
        )
        .bind(webhook_endpoint_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(owner)
    }

    /// A page of `owner_user_id`'s endpoints, newest first.
    pub async fn list_webhook_endpoints(
        &self,
        owner_user_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookEndpoint>> {
        let rows = sqlx::query(select_endpoint!(
            "WHERE owner_user_id = $1 AND (created_at_ms, webhook_endpoint_id) < ($2, $3) \
             ORDER BY created_at_ms DESC, webhook_endpoint_id DESC LIMIT $4"
        ))
        .bind(owner_user_id)
        .bind(page.after_time_ms())
        .bind(page.after_id())
        .bind(page.fetch_limit())
        .fetch_all(&self.pool)
        .await?;
        let endpoints = rows.iter().map(endpoint_from_row).collect::<Result<_>>()?;
        Ok(Page::from_rows(endpoints, page, |e: &WebhookEndpoint| {
            (e.created_at_ms, &e.webhook_endpoint_id)
        }))
    }

    /// Changes one of `owner_user_id`'s endpoints and returns it.
    /// [`Error::NotFound`] if there is no such endpoint or it is someone
    /// else's, [`Error::Invalid`] (`field` = "url") on a bad URL.
    pub async fn update_webhook_endpoint(
        &self,
        owner_user_id: &str,
        webhook_endpoint_id: &str,
        update: WebhookEndpointUpdate,
    ) -> Result<WebhookEndpoint> {
        let url = update.url.as_deref().map(validate_url).transpose()?;
        let event_types = update.event_types.as_deref().map(encode_event_types);
        let updated = sqlx::query(
            "UPDATE webhook_endpoint SET url = COALESCE($1, url), \
             event_types = COALESCE($2, event_types), enabled = COALESCE($3, enabled), \
             format = COALESCE($7, format), \
             updated_at_ms = $4 WHERE webhook_endpoint_id = $5 AND owner_user_id = $6",
        )
        .bind(url)
        .bind(event_types)
        .bind(update.enabled.map(decode::flag_param))
        .bind(self.now_ms())
        .bind(webhook_endpoint_id)
        .bind(owner_user_id)
        .bind(update.format.map(|f| f.as_str()))
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "webhook endpoint",
            });
        }
        self.webhook_endpoint(owner_user_id, webhook_endpoint_id)
            .await
    }

    /// Replaces an endpoint's secret with a fresh one and returns the
    /// endpoint. Deliveries signed from now on use the new one.
    /// [`Error::NotFound`] as [`Db::update_webhook_endpoint`].
    pub async fn rotate_webhook_secret(
        &self,
        owner_user_id: &str,
        webhook_endpoint_id: &str,
    ) -> Result<WebhookEndpoint> {
        let updated = sqlx::query(
            "UPDATE webhook_endpoint SET secret = $1, updated_at_ms = $2 \
             WHERE webhook_endpoint_id = $3 AND owner_user_id = $4",
        )
        .bind(new_webhook_secret())
        .bind(self.now_ms())
        .bind(webhook_endpoint_id)
        .bind(owner_user_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "webhook endpoint",
            });
        }
        tracing::info!(%webhook_endpoint_id, "webhook secret rotated");
        self.webhook_endpoint(owner_user_id, webhook_endpoint_id)
            .await
    }

    /// Deletes one of `owner_user_id`'s endpoints and its deliveries.
    /// [`Error::NotFound`] as [`Db::update_webhook_endpoint`].
    pub async fn delete_webhook_endpoint(
        &self,
        owner_user_id: &str,
        webhook_endpoint_id: &str,
    ) -> Result<()> {
        let deleted = sqlx::query(
            "DELETE FROM webhook_endpoint WHERE webhook_endpoint_id = $1 AND owner_user_id = $2",
        )
        .bind(webhook_endpoint_id)
        .bind(owner_user_id)
        .execute(&self.pool)
        .await?;
        if deleted.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "webhook endpoint",
            });
        }
        tracing::info!(%webhook_endpoint_id, "webhook endpoint deleted");
        Ok(())
    }

    /// Records an event for `owner_user_id` (the channel's owner) and one
    /// pending delivery, due now, per enabled endpoint of theirs that wants
    /// its type, in one transaction. Returns the event and its deliveries
    /// (none when no endpoint matches; the event is kept anyway).
    ///
    /// [`Error::Invalid`] (`field` = "data") when `data` is over 64 KiB as
    /// JSON, [`Error::NotFound`] if there is no such user.
    pub async fn enqueue_webhook_event(
        &self,
        event_type: WebhookEventType,
        owner_user_id: &str,
        channel_id: Option<&str>,
        data: serde_json::Value,
    ) -> Result<(WebhookEvent, Vec<WebhookDelivery>)> {
        let data_text = data.to_string();
        if data_text.len() > WEBHOOK_DATA_MAX_BYTES {
            return Err(Error::invalid(
                "data",
                format!("must be at most {WEBHOOK_DATA_MAX_BYTES} bytes of JSON"),
            ));
        }
        let now = self.now_ms();
        let event = WebhookEvent {
            webhook_event_id: new_id(),
            event_type,
            owner_user_id: owner_user_id.to_owned(),
            channel_id: channel_id.map(str::to_owned),
            data,
            created_at_ms: now,
        };
        let mut tx = self.pool.begin().await?;
        // Write first (see Db::reset_stream_key for why on SQLite).
        sqlx::query(
            "INSERT INTO webhook_event (webhook_event_id, event_type, owner_user_id, channel_id, \
             data, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&event.webhook_event_id)
        .bind(event.event_type.as_str())
        .bind(&event.owner_user_id)
        .bind(&event.channel_id)
        .bind(&data_text)
        .bind(event.created_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| match violation(&e) {
            Some(Violation::ForeignKey) => Error::NotFound { what: "user" },
            _ => map_write(e),
        })?;
        let rows = sqlx::query(
            "SELECT webhook_endpoint_id, event_types, format FROM webhook_endpoint \
             WHERE owner_user_id = $1 AND enabled = 1 \
             ORDER BY created_at_ms, webhook_endpoint_id",
        )
        .bind(owner_user_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut deliveries = Vec::new();
        for row in rows {
            let types = decode_event_types(&row.try_get::<String, _>("event_types")?)?;
            if !types.is_empty() && !types.contains(&event_type) {
                continue;
            }
            let endpoint_id: String = row.try_get("webhook_endpoint_id")?;
            let format: String = row.try_get("format")?;
            let mux_types: Vec<Option<String>> = match format.parse::<WebhookFormat>() {
                Ok(WebhookFormat::Mux) => mux_event_types(event_type)
                    .iter()
                    .map(|t| Some((*t).to_owned()))
                    .collect(),
                _ => vec![None],
            };
            for mux_type in mux_types {
                let delivery = WebhookDelivery {
                    webhook_delivery_id: new_id(),
                    webhook_event_id: event.webhook_event_id.clone(),
                    webhook_endpoint_id: endpoint_id.clone(),
                    status: WebhookDeliveryStatus::Pending,
                    attempt_count: 0,
                    next_attempt_at_ms: now,
                    last_status_code: None,
                    last_error: None,
                    delivered_at_ms: None,
                    mux_type,
                    created_at_ms: now,
                    updated_at_ms: now,
                };
                sqlx::query(
                    "INSERT INTO webhook_delivery (webhook_delivery_id, webhook_event_id, \
                     webhook_endpoint_id, status, attempt_count, next_attempt_at_ms, created_at_ms, \
                     updated_at_ms, mux_type) VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8)",
                )
                .bind(&delivery.webhook_delivery_id)
                .bind(&delivery.webhook_event_id)
                .bind(&delivery.webhook_endpoint_id)
                .bind(delivery.status.as_str())
                .bind(delivery.next_attempt_at_ms)
                .bind(delivery.created_at_ms)
                .bind(delivery.updated_at_ms)
                .bind(&delivery.mux_type)
                .execute(&mut *tx)
                .await
                .map_err(map_write)?;
                deliveries.push(delivery);
            }
        }
        tx.commit().await?;
        tracing::debug!(
            webhook_event_id = %event.webhook_event_id,
            event_type = %event.event_type,
            deliveries = deliveries.len(),
            "webhook event enqueued"
        );
        Ok((event, deliveries))
    }

    /// Claims up to `limit` (at most 100) pending deliveries due at
    /// `now_ms`, oldest due first, skipping disabled endpoints, for
    /// `lease_ms`: until then no other claim returns them. Each claim
    /// counts as an attempt. Two workers (or nodes) claiming at once never
    /// get the same delivery.
    pub async fn claim_due_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<DueDelivery>> {
        self.claim_due_deliveries_fair(now_ms, limit, lease_ms, u32::MAX)
            .await
    }

    /// [`Db::claim_due_deliveries`], fair between owners: no owner gets
    /// more than `per_owner` deliveries in flight (leased, by any worker on
    /// any node, this claim included), and owners take turns: every
    /// owner's first due delivery comes before anyone's second. So one
    /// owner's flood of events, or endpoints that hang until the request
    /// times out, never holds back another owner's first delivery.
    /// (Two nodes claiming at the same instant may each grant an owner its
    /// last slot: the bound is per claim, not a lock.)
    pub async fn claim_due_deliveries_fair(
        &self,
        now_ms: i64,
        limit: u32,
        lease_ms: i64,
        per_owner: u32,
    ) -> Result<Vec<DueDelivery>> {
        if lease_ms <= 0 {
            return Err(Error::invalid("lease_ms", "must be positive"));
        }
        let limit = limit.min(WEBHOOK_CLAIM_MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Due deliveries ranked per owner (`slot`: the owner's deliveries
        // in flight plus this one's rank among its due ones), taken in
        // turns. On PostgreSQL the picked rows are then locked, skipping
        // those another worker holds, and re-checked (a row taken
        // meanwhile shows its lease); SQLite runs one writer at a time, so
        // the statement is atomic there.
        const PICKED: &str = "WITH busy AS (SELECT e.owner_user_id AS owner, COUNT(*) AS n \
               FROM webhook_delivery d JOIN webhook_endpoint e \
               ON e.webhook_endpoint_id = d.webhook_endpoint_id \
               WHERE d.status = 'pending' AND d.lease_until_ms > $2 \
               GROUP BY e.owner_user_id), \
             ranked AS (SELECT d.webhook_delivery_id AS picked_id, \
               d.next_attempt_at_ms AS due_at, \
               ROW_NUMBER() OVER (PARTITION BY e.owner_user_id \
                 ORDER BY d.next_attempt_at_ms, d.webhook_delivery_id) + COALESCE(b.n, 0) AS slot \
               FROM webhook_delivery d JOIN webhook_endpoint e \
               ON e.webhook_endpoint_id = d.webhook_endpoint_id \
               LEFT JOIN busy b ON b.owner = e.owner_user_id \
               WHERE d.status = 'pending' AND d.next_attempt_at_ms <= $2 \
               AND (d.lease_until_ms IS NULL OR d.lease_until_ms <= $2) AND e.enabled = 1) \
             SELECT picked_id FROM ranked WHERE slot <= $4 \
             ORDER BY slot, due_at, picked_id LIMIT $3";
        let mut ids: Vec<String> = Vec::new();
        match self.backend() {
            crate::Backend::Sqlite => {
                let sql = format!(
                    "UPDATE webhook_delivery SET attempt_count = attempt_count + 1, \
                     lease_until_ms = $1, updated_at_ms = $2 \
                     WHERE webhook_delivery_id IN ({PICKED}) \
                     RETURNING webhook_delivery_id"
                );
                // Only constant text is spliced in; every value is bound.
                ids = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(now_ms.saturating_add(lease_ms))
                    .bind(now_ms)
                    .bind(i64::from(limit))
                    .bind(i64::from(per_owner))
                    .fetch_all(&self.pool)
                    .await?;
            }
            crate::Backend::Postgres => {
                // Workers claiming at the same moment may pick the same
                // rows; the loser skips them. So the statement
                // also says how many it picked (the row with a NULL id),
                // and a round that lost some is followed by another for
                // what is left (each sees the leases of the ones before,
                // so the turns still hold).
                // The picked rows are locked with SKIP LOCKED before the
                // update (in their own step: not beside the window
                // function), so concurrent claims never wait on each
                // other's rows, and cannot deadlock.
                let sql = format!(
                    "WITH picked AS ({PICKED}), \
                     locked AS (SELECT webhook_delivery_id AS locked_id FROM webhook_delivery \
                       WHERE webhook_delivery_id IN (SELECT picked_id FROM picked) \
                       AND status = 'pending' \
                       AND (lease_until_ms IS NULL OR lease_until_ms <= $2) \
                       FOR UPDATE SKIP LOCKED), \
                     claimed AS (UPDATE webhook_delivery \
                       SET attempt_count = attempt_count + 1, \
                       lease_until_ms = $1, updated_at_ms = $2 \
                       FROM locked WHERE webhook_delivery_id = locked_id \
                       RETURNING webhook_delivery_id) \
                     SELECT webhook_delivery_id AS id, CAST(NULL AS BIGINT) AS picked \
                     FROM claimed \
                     UNION ALL SELECT NULL, COUNT(*) FROM picked"
                );
                const ROUNDS: usize = 5;
                for _ in 0..ROUNDS {
                    let want = limit - ids.len() as u32;
                    // Only constant text is spliced in; every value is bound.
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(now_ms.saturating_add(lease_ms))
                        .bind(now_ms)
                        .bind(i64::from(want))
                        .bind(i64::from(per_owner))
                        .fetch_all(&self.pool)
                        .await?;
                    let mut picked = 0i64;
                    let mut claimed = 0i64;
                    for row in rows {
                        match row.try_get::<Option<String>, _>("id")? {
                            Some(id) => {
                                ids.push(id);
                                claimed += 1;
                            }
                            None => picked = row.try_get::<Option<i64>, _>("picked")?.unwrap_or(0),
                        }
                    }
                    if claimed >= picked || ids.len() as u32 >= limit {
                        break;
                    }
                }
            }
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        // Only numbered placeholders are spliced in; the ids are bound.
        let sql = format!(
            "SELECT {}, \
             ev.event_type AS ev_event_type, ev.owner_user_id AS ev_owner_user_id, \
             ev.channel_id AS ev_channel_id, ev.data AS ev_data, \
             ev.created_at_ms AS ev_created_at_ms, \
             e.owner_user_id AS e_owner_user_id, e.url AS e_url, e.secret AS e_secret, \
             e.event_types AS e_event_types, e.enabled AS e_enabled, e.format AS e_format, \
             e.created_at_ms AS e_created_at_ms, e.updated_at_ms AS e_updated_at_ms \
             FROM webhook_delivery d \
             JOIN webhook_event ev ON ev.webhook_event_id = d.webhook_event_id \
             JOIN webhook_endpoint e ON e.webhook_endpoint_id = d.webhook_endpoint_id \
             WHERE d.webhook_delivery_id IN ({placeholders}) \
             ORDER BY d.next_attempt_at_ms, d.webhook_delivery_id",
            delivery_columns!("d.")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let due = rows
            .iter()
            .map(|row| {
                Ok(DueDelivery {
                    delivery: delivery_from_row(row)?,
                    event: event_from_row_prefixed(row, "ev_")?,
                    endpoint: endpoint_from_row_prefixed(row, "e_")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        tracing::debug!(count = due.len(), "webhook deliveries claimed");
        Ok(due)
    }

    /// Records a successful attempt (the endpoint answered `status_code`,
    /// a 2xx) and returns the delivery. Idempotent for a delivery already
    /// delivered. [`Error::InvalidTransition`] if retries had given up,
    /// [`Error::NotFound`] if there is no such delivery, [`Error::Invalid`]
    /// on a status code outside 100..=599.
    pub async fn delivery_succeeded(
        &self,
        webhook_delivery_id: &str,
        status_code: u16,
    ) -> Result<WebhookDelivery> {
        if !(100..=599).contains(&status_code) {
            return Err(Error::invalid("status_code", "must be 100 to 599"));
        }
        let now = self.now_ms();
        sqlx::query(
            "UPDATE webhook_delivery SET status = 'delivered', delivered_at_ms = $1, \
             last_status_code = $2, last_error = NULL, lease_until_ms = NULL, updated_at_ms = $1 \
             WHERE webhook_delivery_id = $3 AND status = 'pending'",
        )
        .bind(now)
        .bind(i32::from(status_code))
        .bind(webhook_delivery_id)
        .execute(&self.pool)
        .await?;
        let delivery = self.delivery(webhook_delivery_id).await?;
        match delivery.status {
            WebhookDeliveryStatus::Delivered => Ok(delivery),
            other => Err(Error::InvalidTransition {
                what: "webhook delivery",
                id: webhook_delivery_id.to_owned(),
                from: other.as_str(),
                to: WebhookDeliveryStatus::Delivered.as_str(),
            }),
        }
    }

    /// Records a failed attempt at `now_ms` (unix milliseconds) with the
    /// HTTP status, if any answer came, and why, and returns the delivery:
    /// due again after [`webhook_retry_delay_ms`], or `failed` if that
    /// would be more than 24 hours after the event. A report for a
    /// delivery no longer pending (another worker delivered it after this
    /// one's lease ran out) changes nothing. [`Error::NotFound`] if there
    /// is no such delivery, [`Error::Invalid`] on a status code outside
    /// 100..=599.
    pub async fn delivery_failed(
        &self,
        webhook_delivery_id: &str,
        status_code: Option<u16>,
        error: &str,
        now_ms: i64,
    ) -> Result<WebhookDelivery> {
        if status_code.is_some_and(|s| !(100..=599).contains(&s)) {
            return Err(Error::invalid("status_code", "must be 100 to 599"));
        }
        let row = sqlx::query(
            "SELECT d.attempt_count, ev.created_at_ms AS event_created_at_ms \
             FROM webhook_delivery d \
             JOIN webhook_event ev ON ev.webhook_event_id = d.webhook_event_id \
             WHERE d.webhook_delivery_id = $1",
        )
        .bind(webhook_delivery_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound {
            what: "webhook delivery",
        })?;
        let attempts: u32 = decode::int(&row, "webhook_delivery", "attempt_count")?;
        let event_created_at_ms: i64 = row.try_get("event_created_at_ms")?;
        let next_attempt_at_ms = now_ms.saturating_add(webhook_retry_delay_ms(attempts));
        let give_up =
            next_attempt_at_ms > event_created_at_ms.saturating_add(WEBHOOK_RETRY_WINDOW_MS);
        sqlx::query(
            "UPDATE webhook_delivery SET status = $1, next_attempt_at_ms = $2, \
             last_status_code = $3, last_error = $4, lease_until_ms = NULL, updated_at_ms = $5 \
             WHERE webhook_delivery_id = $6 AND status = 'pending'",
        )
        .bind(if give_up { "failed" } else { "pending" })
        .bind(next_attempt_at_ms)
        .bind(status_code.map(i32::from))
        .bind(truncate_error(error))
        .bind(now_ms)
        .bind(webhook_delivery_id)
        .execute(&self.pool)
        .await?;
        if give_up {
            tracing::warn!(%webhook_delivery_id, attempts, %error, "webhook delivery gave up");
        }
        self.delivery(webhook_delivery_id).await
    }

    async fn delivery(&self, webhook_delivery_id: &str) -> Result<WebhookDelivery> {
        let row = sqlx::query(concat!(
            "SELECT ",
            delivery_columns!(""),
            " FROM webhook_delivery WHERE webhook_delivery_id = $1"
        ))
        .bind(webhook_delivery_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound {
            what: "webhook delivery",
        })?;
        delivery_from_row(&row)
    }

    /// A page of the deliveries to one of `owner_user_id`'s endpoints,
    /// newest first. [`Error::NotFound`] if there is no such endpoint or it
    /// is someone else's.
    pub async fn list_deliveries(
        &self,
        owner_user_id: &str,
        webhook_endpoint_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>> {
        // Checks ownership (and existence) first.
        self.webhook_endpoint(owner_user_id, webhook_endpoint_id)
            .await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            delivery_columns!(""),
            " FROM webhook_delivery WHERE webhook_endpoint_id = $1 \
             AND (created_at_ms, webhook_delivery_id) < ($2, $3) \
             ORDER BY created_at_ms DESC, webhook_delivery_id DESC LIMIT $4"
        ))
        .bind(webhook_endpoint_id)
        .bind(page.after_time_ms())
        .bind(page.after_id())
        .bind(page.fetch_limit())
        .fetch_all(&self.pool)
        .await?;
        let deliveries = rows.iter().map(delivery_from_row).collect::<Result<_>>()?;
        Ok(Page::from_rows(deliveries, page, |d: &WebhookDelivery| {
            (d.created_at_ms, &d.webhook_delivery_id)
        }))
    }

    /// Deletes events created before `before_ms` (unix milliseconds) with
    /// their deliveries, whatever their state, and returns how many events
    /// went. Call periodically with a cutoff well past the 24-hour retry
    /// window (e.g. 30 days): anything still pending then is for an
    /// endpoint that stayed disabled.
    pub async fn purge_webhook_events(&self, before_ms: i64) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM webhook_event WHERE created_at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_an_hour() {
        assert_eq!(webhook_retry_delay_ms(0), 10_000);
        assert_eq!(webhook_retry_delay_ms(1), 10_000);
        assert_eq!(webhook_retry_delay_ms(2), 20_000);
        assert_eq!(webhook_retry_delay_ms(3), 40_000);
        assert_eq!(webhook_retry_delay_ms(9), 2_560_000);
        assert_eq!(webhook_retry_delay_ms(10), 3_600_000);
        assert_eq!(webhook_retry_delay_ms(u32::MAX), 3_600_000);
    }

    #[test]
    fn url_rules() {
        assert_eq!(
            validate_url(" https://Example.com/hooks?x=1 ").unwrap(),
            "https://example.com/hooks?x=1"
        );
        assert_eq!(
            validate_url("http://127.0.0.1:9000").unwrap(),
            "http://127.0.0.1:9000/"
        );
        for bad in [
            "",
            "example.com/hook",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "file:///etc/passwd",
            &format!("https://example.com/{}", "a".repeat(2048)),
        ] {
            assert!(
                matches!(validate_url(bad), Err(Error::Invalid { field: "url", .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn event_types_round_trip() {
        use WebhookEventType::*;
        let text = encode_event_types(&[VodReady, LiveStreamActive, VodReady]);
        assert_eq!(text, "live_stream.active,vod.ready");
        assert_eq!(
            decode_event_types(&text).unwrap(),
            [LiveStreamActive, VodReady]
        );
        assert_eq!(encode_event_types(&[]), "");
        assert!(decode_event_types("").unwrap().is_empty());
        assert!(matches!(
            decode_event_types("vod.ready,nope"),
            Err(Error::Corrupt { .. })
        ));
        assert_eq!(
            "live_stream.idle".parse::<WebhookEventType>().unwrap(),
            LiveStreamIdle
        );
    }

    #[test]
    fn body_is_stable_json() {
        let event = WebhookEvent {
            webhook_event_id: "e1".into(),
            event_type: WebhookEventType::VodReady,
            owner_user_id: "u1".into(),
            channel_id: Some("c1".into()),
            data: serde_json::json!({"vod_id": "v1"}),
            created_at_ms: 5,
        };
        let body: serde_json::Value = serde_json::from_str(&event.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "id": "e1", "type": "vod.ready", "created_at_ms": 5,
                "channel_id": "c1", "data": {"vod_id": "v1"}
            })
        );
        assert_eq!(event.body(), event.body());
    }
}
