-- Which transcoding ladder preset a channel's broadcasts get (presets are
-- named in the server's [transcode.ladders] configuration; "default" is
-- source + 720p/480p/360p, "passthrough-only" is the source alone). Stored
-- by name so operators can retune a preset without touching every channel;
-- an unknown name at broadcast time falls back to passthrough with a warning.
ALTER TABLE channel ADD COLUMN ladder TEXT NOT NULL DEFAULT 'default' CHECK (length(ladder) BETWEEN 1 AND 64);
