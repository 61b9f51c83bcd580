-- fMP4/CMAF segments and Low-Latency HLS.

-- Which HLS segment container a channel's broadcasts use: MPEG-TS plays
-- everywhere; fMP4/CMAF is what Low-Latency HLS needs (its parts are fMP4
-- fragments), so low-latency channels default to it. A column rather than a
-- rule derived from latency_mode so operators can pick fMP4 for standard
-- channels too.
ALTER TABLE channel ADD COLUMN segment_format TEXT NOT NULL DEFAULT 'ts' CHECK (segment_format IN ('ts', 'fmp4'));

-- What a playlist needs to list a segment again after a crash, beyond its
-- number and duration: its URI (".ts" or ".m4s"), the initialization
-- segment it needs (EXT-X-MAP; NULL for MPEG-TS), whether it is a gap (the
-- store refused it; EXT-X-GAP) and its wall-clock start
-- (EXT-X-PROGRAM-DATE-TIME). NULL uri: a row from before this migration,
-- which was always "{sequence}.ts".
ALTER TABLE segment ADD COLUMN uri TEXT CHECK (length(uri) BETWEEN 1 AND 128);
ALTER TABLE segment ADD COLUMN map_uri TEXT CHECK (length(map_uri) BETWEEN 1 AND 128);
ALTER TABLE segment ADD COLUMN gap INTEGER NOT NULL DEFAULT 0 CHECK (gap IN (0, 1));
ALTER TABLE segment ADD COLUMN program_date_time_ms INTEGER;
