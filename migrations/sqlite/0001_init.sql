-- AeThex LIVE control schema, SQLite flavour. migrations/postgres/0001_init.sql
-- is the same schema (same tables, columns and index names; a test checks it).
--
-- Conventions, and why:
-- * Tables are singular and keyed by `<table>_id`.
-- * Ids are UUIDv7 strings (TEXT): sqlx's Any driver only carries basic
--   types, and v7 ids sort by creation time, so `ORDER BY x_id` is a stable
--   tie-breaker for rows created in the same millisecond.
-- * Times are `*_at_ms` INTEGER unix milliseconds: Any has no date/time
--   types, and integers compare and index the same on both databases.
-- * Booleans are INTEGER 0/1 with a CHECK: through Any a SQLite column
--   declared BOOLEAN cannot be read at all ("Any driver does not support the
--   SQLite type Bool") and a PostgreSQL BOOLEAN only decodes as `bool` while a
--   SQLite integer only decodes as an integer, so integers on both sides are
--   the one representation that decodes the same everywhere.
-- * Enumerations are TEXT with a CHECK listing the values, so a bad value is
--   refused by the database and not only by Rust.
-- * Every table is STRICT: SQLite otherwise stores whatever type it is given,
--   and a binding bug would only surface on PostgreSQL.
-- * Unique constraints are named `CREATE UNIQUE INDEX`es rather than inline
--   UNIQUE, so both databases have the same index names and a unique
--   violation can be mapped to the field that caused it.

-- "user" is quoted because USER is a reserved word in PostgreSQL (a bare
-- `user` there is CURRENT_USER); it is quoted the same way here so queries
-- are written once.
CREATE TABLE "user" (
    user_id        TEXT    NOT NULL PRIMARY KEY,
    -- Stored lowercase (usernames are case-insensitive), 3-32 of [a-z0-9_-];
    -- Rust validates, the CHECK keeps other writers honest.
    username       TEXT    NOT NULL CHECK (username = lower(username) AND length(username) BETWEEN 3 AND 32),
    -- Optional; unique ignoring case, but stored as given.
    email          TEXT,
    -- argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash): it
    -- carries its own parameters, so they can be raised later without a
    -- migration and old hashes still verify.
    password_hash  TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'creator', 'viewer')),
    created_at_ms  INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX user_username_key ON "user" (username);
CREATE UNIQUE INDEX user_email_key ON "user" (lower(email));

-- A channel is Mux's `live_stream`: the long-lived thing a creator streams
-- to. Each broadcast is a `live_stream` row below.
CREATE TABLE channel (
    channel_id          TEXT    NOT NULL PRIMARY KEY,
    -- RESTRICT: deleting a user must not silently delete their channels and
    -- with them the history of every broadcast.
    owner_user_id       TEXT    NOT NULL REFERENCES "user" (user_id) ON DELETE RESTRICT,
    -- Used in URLs (watch page, chat): lowercase, 3-40 of [a-z0-9-].
    slug                TEXT    NOT NULL CHECK (slug = lower(slug) AND length(slug) BETWEEN 3 AND 40),
    title               TEXT    NOT NULL,
    latency_mode        TEXT    NOT NULL CHECK (latency_mode IN ('standard', 'low')),
    -- Public name of the live output (/hls/{playback_id}/...): random and
    -- unguessable, so it can be unlisted or revoked independently of the slug.
    playback_id         TEXT    NOT NULL,
    enabled             INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    -- Record every broadcast as a VOD unless switched off.
    record              INTEGER NOT NULL DEFAULT 1 CHECK (record IN (0, 1)),
    visibility          TEXT    NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'unlisted', 'private')),
    -- How long after a publisher drops the broadcast stays open for it to
    -- come back as the same live stream (Mux's reconnect_window, default 60).
    reconnect_window_s  INTEGER NOT NULL DEFAULT 60 CHECK (reconnect_window_s BETWEEN 0 AND 1800),
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX channel_slug_key ON channel (slug);
CREATE UNIQUE INDEX channel_playback_id_key ON channel (playback_id);
CREATE INDEX channel_owner_user_id_idx ON channel (owner_user_id);

-- Stream keys are secrets shown once: only their SHA-256 is kept. A separate
-- table (not a channel column) so that a channel could hold several keys
-- later and so that listing channels never reads key material.
CREATE TABLE stream_key (
    stream_key_id  TEXT    NOT NULL PRIMARY KEY,
    -- CASCADE: a key is meaningless without its channel.
    channel_id     TEXT    NOT NULL REFERENCES channel (channel_id) ON DELETE CASCADE,
    -- Lowercase hex SHA-256 of the key. The key has >= 160 bits of entropy,
    -- so a fast unsalted hash is enough (no dictionary to attack), and it
    -- lets RTMP publish look the key up through this unique index.
    key_hash       TEXT    NOT NULL CHECK (length(key_hash) = 64),
    created_at_ms  INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX stream_key_key_hash_key ON stream_key (key_hash);
CREATE INDEX stream_key_channel_id_idx ON stream_key (channel_id);

-- One row per broadcast: connected -> active <-> disconnected -> ended.
CREATE TABLE live_stream (
    live_stream_id  TEXT    NOT NULL PRIMARY KEY,
    -- RESTRICT: broadcasts are history (and VODs point at them).
    channel_id      TEXT    NOT NULL REFERENCES channel (channel_id) ON DELETE RESTRICT,
    status          TEXT    NOT NULL CHECK (status IN ('connected', 'active', 'disconnected', 'ended')),
    -- When the publisher connected.
    started_at_ms   INTEGER NOT NULL,
    -- When media first arrived (NULL until then).
    active_at_ms    INTEGER,
    ended_at_ms     INTEGER,
    -- Ingest description as last reported; NULL until media arrives.
    -- Codecs are RFC 6381 strings ("avc1.64001f", "mp4a.40.2").
    video_codec     TEXT,
    audio_codec     TEXT,
    width           INTEGER CHECK (width > 0),
    height          INTEGER CHECK (height > 0),
    fps             REAL    CHECK (fps > 0),
    -- Why it ended ("publisher disconnected", "reconnect window elapsed",
    -- "server restart", ...); NULL while not ended.
    end_reason      TEXT,
    -- ended <=> ended_at_ms is set: crash recovery relies on it.
    CHECK ((status = 'ended') = (ended_at_ms IS NOT NULL))
) STRICT;

-- At most one broadcast in progress per channel: a second publisher on a
-- live key fails here (mapped to Error::Busy) even if two ingest nodes race.
CREATE UNIQUE INDEX live_stream_channel_id_unended_key ON live_stream (channel_id) WHERE status <> 'ended';
-- Latest broadcast of a channel.
CREATE INDEX live_stream_channel_id_started_at_ms_idx ON live_stream (channel_id, started_at_ms);

-- The recording of one broadcast.
CREATE TABLE vod (
    vod_id          TEXT    NOT NULL PRIMARY KEY,
    live_stream_id  TEXT    NOT NULL REFERENCES live_stream (live_stream_id) ON DELETE RESTRICT,
    -- Denormalised from live_stream so a channel's VODs list without a join.
    channel_id      TEXT    NOT NULL REFERENCES channel (channel_id) ON DELETE RESTRICT,
    status          TEXT    NOT NULL CHECK (status IN ('recording', 'ready', 'failed')),
    -- The channel title when the broadcast started; editable later.
    title           TEXT    NOT NULL,
    duration_ms     INTEGER NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    segment_count   INTEGER NOT NULL DEFAULT 0 CHECK (segment_count >= 0),
    created_at_ms   INTEGER NOT NULL,
    -- Set when the VOD became ready.
    ready_at_ms     INTEGER
) STRICT;

-- One recording per broadcast.
CREATE UNIQUE INDEX vod_live_stream_id_key ON vod (live_stream_id);
CREATE INDEX vod_channel_id_created_at_ms_idx ON vod (channel_id, created_at_ms);

-- The segment index: every media segment of a broadcast that was durably
-- stored, in order, per rendition. A row is written only after the object
-- store confirmed the segment, so after a crash the VOD playlist is rebuilt
-- from these rows and lists nothing that is missing from storage.
CREATE TABLE segment (
    -- CASCADE: segments are part of their broadcast.
    live_stream_id  TEXT    NOT NULL REFERENCES live_stream (live_stream_id) ON DELETE CASCADE,
    -- "source" for the passthrough rendition, else the ladder rung name.
    rendition       TEXT    NOT NULL CHECK (length(rendition) BETWEEN 1 AND 32),
    -- EXT-X-MEDIA-SEQUENCE number; also the object's file name.
    sequence        INTEGER NOT NULL CHECK (sequence >= 0),
    -- Exact duration in 90 kHz ticks (EXTINF is derived from it).
    duration_90k    INTEGER NOT NULL CHECK (duration_90k > 0),
    size_bytes      INTEGER NOT NULL CHECK (size_bytes > 0),
    -- The segment follows a gap or format change (EXT-X-DISCONTINUITY).
    discontinuity   INTEGER NOT NULL DEFAULT 0 CHECK (discontinuity IN (0, 1)),
    created_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (live_stream_id, rendition, sequence)
) STRICT;
