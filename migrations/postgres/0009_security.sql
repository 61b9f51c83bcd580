-- Security hardening: administrators' suspensions, revoking playback
-- tokens, and per-user export limits. migrations/sqlite/0009 is the same
-- schema.

-- An administrator's suspension: the channel refuses publishers and its
-- stream key cannot be reset until an administrator lifts it (its owner
-- cannot). Separate from `enabled`, which the owner switches.
ALTER TABLE channel ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1));
-- Playback tokens issued (their `iat`) before this instant, unix ms, are
-- refused: set when the owner revokes tokens, rotates the playback id, or
-- makes the channel private or signed. NULL: nothing revoked.
ALTER TABLE channel ADD COLUMN playback_tokens_not_before_ms BIGINT;

-- Who asked for the clip's current export, for the per-user limit on
-- queued exports. NULL once they are deleted (SET NULL).
ALTER TABLE clip ADD COLUMN export_requested_by_user_id TEXT REFERENCES "user" (user_id) ON DELETE SET NULL;
-- A user's clips of the last hour (the per-user clip rate).
CREATE INDEX clip_created_by_user_id_created_at_ms_idx ON clip (created_by_user_id, created_at_ms);

-- Failed deliveries used to keep the first bytes of the receiver's answer
-- in last_error, readable by the endpoint's owner (a way to read pages the
-- server can reach). Keep only what the server says now.
UPDATE webhook_delivery SET last_error = CASE
    WHEN last_status_code IS NOT NULL THEN 'HTTP ' || last_status_code
    ELSE 'request failed' END
  WHERE last_error IS NOT NULL;
