-- Signed playback per channel, and ingest statistics per broadcast.

-- Whether playback URLs need a signed token (a JWT from one of the owner's
-- signing keys, or minted by the server for the web UI), after Mux's
-- playback policies. Kept apart from visibility (which is about listing)
-- so a public, listed channel can still require tokens, e.g. for paid
-- content. A private channel is always signed: Rust derives 'signed' when
-- visibility becomes private, and the database refuses the contradiction.
ALTER TABLE channel ADD COLUMN playback_policy TEXT NOT NULL DEFAULT 'public' CHECK (playback_policy IN ('public', 'signed'));
UPDATE channel SET playback_policy = 'signed' WHERE visibility = 'private';
-- (SQLite has triggers of the same name instead.)
ALTER TABLE channel ADD CONSTRAINT channel_private_is_signed CHECK (visibility <> 'private' OR playback_policy = 'signed');

-- What ingest measures while a broadcast runs (Mux's live stream "health"):
-- the publisher's bitrate and keyframe spacing as last reported (NULL until
-- measured), and the most concurrent viewers seen. Current viewers change
-- every few seconds and are kept in memory by the live crate, not here.
ALTER TABLE live_stream ADD COLUMN ingest_bitrate_bps BIGINT CHECK (ingest_bitrate_bps >= 0);
ALTER TABLE live_stream ADD COLUMN keyframe_interval_ms INTEGER CHECK (keyframe_interval_ms > 0);
ALTER TABLE live_stream ADD COLUMN peak_viewers INTEGER NOT NULL DEFAULT 0 CHECK (peak_viewers >= 0);
