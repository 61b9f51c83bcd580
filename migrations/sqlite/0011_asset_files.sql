-- Files made from a finished recording (Mux's static renditions and
-- images): highest.mp4 and audio.m4a (remuxed, never re-encoded), the
-- storyboard sprite (with its WebVTT made from `meta`) and animated.gif.
-- A job row per file, claimed under a lease by the asset-file runner (any
-- node), like clip exports. migrations/postgres/0011 is the same schema.
CREATE TABLE asset_file (
    -- CASCADE: the file's object lives under the recording's broadcast
    -- prefix, which deleting the recording removes.
    vod_id          TEXT    NOT NULL REFERENCES vod (vod_id) ON DELETE CASCADE,
    name            TEXT    NOT NULL CHECK (name IN ('highest.mp4', 'audio.m4a', 'storyboard.jpg', 'animated.gif')),
    -- preparing (waiting or being made) -> ready | errored (after 3
    -- attempts) | skipped (nothing to make it from, e.g. no audio).
    status          TEXT    NOT NULL CHECK (status IN ('preparing', 'ready', 'errored', 'skipped')),
    size_bytes      INTEGER CHECK (size_bytes >= 0),
    width           INTEGER CHECK (width > 0),
    height          INTEGER CHECK (height > 0),
    -- JSON: the storyboard's tile geometry and interval.
    meta            TEXT    NOT NULL DEFAULT '{}' CHECK (length(meta) <= 4096),
    error           TEXT    CHECK (length(error) <= 500),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claim_id        TEXT,
    lease_until_ms  INTEGER,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (vod_id, name)
) STRICT;

CREATE INDEX asset_file_status_idx ON asset_file (status, updated_at_ms);
