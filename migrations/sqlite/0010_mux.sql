-- The Mux-compatible surface (/video/v1, /system/v1): readable stream keys,
-- several playback ids per live stream and per recording, simulcast
-- targets, Mux-only live stream settings, and webhook endpoints that
-- receive Mux's format. migrations/postgres/0010 is the same schema.

-- The stream key sealed (AES-256-GCM with the server's key from the data
-- directory, base64 of nonce || ciphertext), so that it can be shown again
-- as Mux does on every read. The hash stays the lookup path at publish.
-- NULL for keys made before this migration: those are shown once only,
-- until the next reset.
ALTER TABLE stream_key ADD COLUMN key_sealed TEXT CHECK (length(key_sealed) <= 512);

-- Settings only the Mux surface reads and writes, as JSON text
-- (passthrough, test, max_continuous_duration, audio_only, the requested
-- latency mode, new_asset_settings, ...). '{}' for native channels.
ALTER TABLE channel ADD COLUMN mux_settings TEXT NOT NULL DEFAULT '{}' CHECK (length(mux_settings) <= 16384);
-- Playback policies of the playback ids every new recording gets
-- (Mux's new_asset_settings.playback_policies), comma-separated; '' none.
ALTER TABLE channel ADD COLUMN new_asset_playback_policies TEXT NOT NULL DEFAULT '' CHECK (length(new_asset_playback_policies) <= 64);
-- Whether the channel's own playback id (channel.playback_id) is one of
-- its Mux playback ids. 0 after it was deleted through the Mux surface
-- (it is then rotated to a fresh id that only the native API shows), or
-- when the live stream was created there without a public policy.
ALTER TABLE channel ADD COLUMN playback_id_listed INTEGER NOT NULL DEFAULT 1 CHECK (playback_id_listed IN (0, 1));
-- Mux's reconnect semantics: the reconnect window also runs after a clean
-- unpublish (OBS's "Stop Streaming"); only `complete` ends at once.
-- Native channels end on a clean unpublish (0).
ALTER TABLE channel ADD COLUMN reconnect_after_unpublish INTEGER NOT NULL DEFAULT 0 CHECK (reconnect_after_unpublish IN (0, 1));

-- Further playback ids of a channel (live) or of a recording (asset),
-- each with its own policy. A channel's own id stays in channel.playback_id.
CREATE TABLE playback_id (
    playback_id    TEXT    NOT NULL PRIMARY KEY CHECK (length(playback_id) BETWEEN 1 AND 64),
    -- CASCADE: an id is meaningless without what it plays.
    channel_id     TEXT    REFERENCES channel (channel_id) ON DELETE CASCADE,
    vod_id         TEXT    REFERENCES vod (vod_id) ON DELETE CASCADE,
    policy         TEXT    NOT NULL CHECK (policy IN ('public', 'signed')),
    created_at_ms  INTEGER NOT NULL,
    CHECK ((channel_id IS NULL) <> (vod_id IS NULL))
) STRICT;

CREATE INDEX playback_id_channel_id_idx ON playback_id (channel_id);
CREATE INDEX playback_id_vod_id_idx ON playback_id (vod_id);

-- Where a channel's broadcasts are to be restreamed (Mux's simulcast
-- targets). Stored and reported; restreaming comes with a later issue.
CREATE TABLE simulcast_target (
    simulcast_target_id  TEXT    NOT NULL PRIMARY KEY,
    channel_id           TEXT    NOT NULL REFERENCES channel (channel_id) ON DELETE CASCADE,
    -- rtmp:// or rtmps:// (validated in Rust).
    url                  TEXT    NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    -- The target's stream key, sealed like stream_key.key_sealed; NULL if none.
    stream_key_sealed    TEXT    CHECK (length(stream_key_sealed) <= 1024),
    passthrough          TEXT    NOT NULL DEFAULT '' CHECK (length(passthrough) <= 255),
    created_at_ms        INTEGER NOT NULL
) STRICT;

CREATE INDEX simulcast_target_channel_id_idx ON simulcast_target (channel_id, created_at_ms);

-- 'native' endpoints get this server's body and X-Aethex-Signature; 'mux'
-- endpoints get Mux's body, event names and mux-signature header.
ALTER TABLE webhook_endpoint ADD COLUMN format TEXT NOT NULL DEFAULT 'native' CHECK (format IN ('native', 'mux'));

-- Event types are now checked in Rust (control::WebhookEventType), so that
-- adding one needs no table rebuild; SQLite cannot drop a CHECK, so the
-- event and delivery tables are rebuilt once here. Deliveries gain the Mux
-- event they carry (one native event can be several Mux events: `active`
-- is Mux's `recording` and `active`).
CREATE TABLE webhook_event_v2 (
    webhook_event_id  TEXT    NOT NULL PRIMARY KEY,
    event_type        TEXT    NOT NULL CHECK (length(event_type) BETWEEN 1 AND 64),
    owner_user_id     TEXT    NOT NULL REFERENCES "user" (user_id) ON DELETE CASCADE,
    channel_id        TEXT,
    data              TEXT    NOT NULL,
    created_at_ms     INTEGER NOT NULL
) STRICT;

INSERT INTO webhook_event_v2 (webhook_event_id, event_type, owner_user_id, channel_id, data, created_at_ms)
  SELECT webhook_event_id, event_type, owner_user_id, channel_id, data, created_at_ms FROM webhook_event;

CREATE TABLE webhook_delivery_v2 (
    webhook_delivery_id  TEXT    NOT NULL PRIMARY KEY,
    webhook_event_id     TEXT    NOT NULL REFERENCES webhook_event_v2 (webhook_event_id) ON DELETE CASCADE,
    webhook_endpoint_id  TEXT    NOT NULL REFERENCES webhook_endpoint (webhook_endpoint_id) ON DELETE CASCADE,
    status               TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempt_count        INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    next_attempt_at_ms   INTEGER NOT NULL,
    lease_until_ms       INTEGER,
    last_status_code     INTEGER CHECK (last_status_code BETWEEN 100 AND 599),
    last_error           TEXT,
    delivered_at_ms      INTEGER,
    created_at_ms        INTEGER NOT NULL,
    updated_at_ms        INTEGER NOT NULL,
    -- The Mux event type this delivery carries (to a 'mux' endpoint); NULL
    -- for native endpoints.
    mux_type             TEXT    CHECK (length(mux_type) BETWEEN 1 AND 64),
    CHECK ((status = 'delivered') = (delivered_at_ms IS NOT NULL))
) STRICT;

INSERT INTO webhook_delivery_v2 (webhook_delivery_id, webhook_event_id, webhook_endpoint_id, status,
    attempt_count, next_attempt_at_ms, lease_until_ms, last_status_code, last_error, delivered_at_ms,
    created_at_ms, updated_at_ms)
  SELECT webhook_delivery_id, webhook_event_id, webhook_endpoint_id, status, attempt_count,
    next_attempt_at_ms, lease_until_ms, last_status_code, last_error, delivered_at_ms, created_at_ms,
    updated_at_ms FROM webhook_delivery;

-- Deliveries first: dropping the events with deliveries still pointing at
-- them would cascade.
DROP TABLE webhook_delivery;
DROP TABLE webhook_event;
ALTER TABLE webhook_event_v2 RENAME TO webhook_event;
ALTER TABLE webhook_delivery_v2 RENAME TO webhook_delivery;

CREATE INDEX webhook_event_created_at_ms_idx ON webhook_event (created_at_ms);
CREATE UNIQUE INDEX webhook_delivery_event_endpoint_key ON webhook_delivery (webhook_event_id, webhook_endpoint_id, COALESCE(mux_type, ''));
CREATE INDEX webhook_delivery_endpoint_id_created_at_ms_idx ON webhook_delivery (webhook_endpoint_id, created_at_ms);
CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (next_attempt_at_ms) WHERE status = 'pending';
