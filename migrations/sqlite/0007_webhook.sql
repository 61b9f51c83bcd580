-- Webhooks (Mux's model): endpoints that a user registers, events about
-- their channels, and one delivery per (event, matching endpoint), retried
-- with backoff for 24 hours. At least once, in no particular order:
-- receivers deduplicate on the event id.

CREATE TABLE webhook_endpoint (
    webhook_endpoint_id  TEXT    NOT NULL PRIMARY KEY,
    -- CASCADE: endpoints are the user's settings.
    owner_user_id        TEXT    NOT NULL REFERENCES "user" (user_id) ON DELETE CASCADE,
    -- http:// or https:// (validated in Rust).
    url                  TEXT    NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    -- The HMAC-SHA256 key of the X-Aethex-Signature header, kept in plain
    -- text: the server needs it to sign every delivery, so hashing is not an
    -- option, and the owner may read it again (as on Stripe) to configure a
    -- receiver. Rotated, not edited.
    secret               TEXT    NOT NULL CHECK (length(secret) BETWEEN 16 AND 128),
    -- Comma-separated event types to deliver; '' delivers every type.
    event_types          TEXT    NOT NULL DEFAULT '',
    enabled              INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at_ms        INTEGER NOT NULL,
    updated_at_ms        INTEGER NOT NULL
) STRICT;

CREATE INDEX webhook_endpoint_owner_user_id_created_at_ms_idx ON webhook_endpoint (owner_user_id, created_at_ms);

CREATE TABLE webhook_event (
    webhook_event_id  TEXT    NOT NULL PRIMARY KEY,
    event_type        TEXT    NOT NULL CHECK (event_type IN ('live_stream.connected', 'live_stream.active', 'live_stream.disconnected', 'live_stream.idle', 'vod.ready', 'clip.ready', 'channel.updated')),
    -- Whose endpoints receive it: the channel's owner. CASCADE.
    owner_user_id     TEXT    NOT NULL REFERENCES "user" (user_id) ON DELETE CASCADE,
    -- No foreign key: an event outlives its channel (its deliveries still
    -- go out after the channel is deleted).
    channel_id        TEXT,
    -- The event's object as JSON text.
    data              TEXT    NOT NULL,
    created_at_ms     INTEGER NOT NULL
) STRICT;

CREATE INDEX webhook_event_created_at_ms_idx ON webhook_event (created_at_ms);

CREATE TABLE webhook_delivery (
    webhook_delivery_id  TEXT    NOT NULL PRIMARY KEY,
    webhook_event_id     TEXT    NOT NULL REFERENCES webhook_event (webhook_event_id) ON DELETE CASCADE,
    -- CASCADE: deleting an endpoint drops its pending deliveries.
    webhook_endpoint_id  TEXT    NOT NULL REFERENCES webhook_endpoint (webhook_endpoint_id) ON DELETE CASCADE,
    -- pending -> delivered, or pending -> failed once retries give up.
    status               TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    -- Attempts started (counted when a worker claims the delivery).
    attempt_count        INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    -- When a pending delivery is next due.
    next_attempt_at_ms   INTEGER NOT NULL,
    -- A claimed delivery is invisible to other workers until then, so two
    -- nodes do not send it at once; if its worker dies it is due again.
    lease_until_ms       INTEGER,
    -- HTTP status of the last attempt; NULL if it got no response.
    last_status_code     INTEGER CHECK (last_status_code BETWEEN 100 AND 599),
    last_error           TEXT,
    delivered_at_ms      INTEGER,
    created_at_ms        INTEGER NOT NULL,
    updated_at_ms        INTEGER NOT NULL,
    CHECK ((status = 'delivered') = (delivered_at_ms IS NOT NULL))
) STRICT;

-- One delivery per event and endpoint.
CREATE UNIQUE INDEX webhook_delivery_event_endpoint_key ON webhook_delivery (webhook_event_id, webhook_endpoint_id);
CREATE INDEX webhook_delivery_endpoint_id_created_at_ms_idx ON webhook_delivery (webhook_endpoint_id, created_at_ms);
-- The delivery workers' queue.
CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (next_attempt_at_ms) WHERE status = 'pending';
