-- Clips: a time range of a recording or of a broadcast's DVR window.
--
-- An instant clip is a playlist over segments that already exist (no media
-- is copied, so it is ready in a moment); exporting it remuxes those
-- segments into one MP4 (clips/{clip_id}.mp4) as a background job.
CREATE TABLE clip (
    clip_id                TEXT    NOT NULL PRIMARY KEY,
    -- Denormalised from the source so a channel's clips list without a join.
    -- RESTRICT: delete_channel deletes clips first, in its transaction.
    channel_id             TEXT    NOT NULL REFERENCES channel (channel_id) ON DELETE RESTRICT,
    -- The broadcast whose segments the clip plays. Always set: a clip of
    -- the live DVR window names only this; a clip of a VOD also names it
    -- (a VOD's segments are its broadcast's).
    live_stream_id         TEXT    NOT NULL REFERENCES live_stream (live_stream_id) ON DELETE RESTRICT,
    -- Set when the source is the recording rather than the DVR window.
    vod_id                 TEXT    REFERENCES vod (vod_id) ON DELETE RESTRICT,
    -- Media time from the start of the source, in milliseconds. At most ten
    -- minutes long (CLIP_MAX_DURATION_MS).
    start_ms               BIGINT  NOT NULL CHECK (start_ms >= 0),
    end_ms                 BIGINT  NOT NULL,
    title                  TEXT    NOT NULL,
    -- preparing until its playlist is written, then ready (or failed).
    status                 TEXT    NOT NULL CHECK (status IN ('preparing', 'ready', 'failed')),
    export_status          TEXT    NOT NULL DEFAULT 'none' CHECK (export_status IN ('none', 'pending', 'running', 'ready', 'failed')),
    -- Percent done while running; 100 once ready.
    export_progress        INTEGER NOT NULL DEFAULT 0 CHECK (export_progress BETWEEN 0 AND 100),
    -- Why the last export failed; NULL otherwise.
    export_error           TEXT,
    -- The job runner that holds the export and until when: a node that dies
    -- mid-export stops renewing the lease and another node takes the job
    -- over once it expires; the claim id makes the first node's late writes
    -- fail instead of clobbering the second's.
    export_claim_id        TEXT,
    export_lease_until_ms  BIGINT,
    -- SET NULL: a clip made by a user who is later deleted stays.
    created_by_user_id     TEXT    REFERENCES "user" (user_id) ON DELETE SET NULL,
    created_at_ms          BIGINT  NOT NULL,
    updated_at_ms          BIGINT  NOT NULL,
    CHECK (end_ms > start_ms AND end_ms - start_ms <= 600000),
    CHECK ((export_status = 'running') = (export_claim_id IS NOT NULL AND export_lease_until_ms IS NOT NULL))
);

CREATE INDEX clip_channel_id_created_at_ms_idx ON clip (channel_id, created_at_ms);
CREATE INDEX clip_vod_id_idx ON clip (vod_id);
CREATE INDEX clip_live_stream_id_idx ON clip (live_stream_id);
-- The export job runner's queue.
CREATE INDEX clip_export_queue_idx ON clip (export_status, updated_at_ms) WHERE export_status IN ('pending', 'running');
