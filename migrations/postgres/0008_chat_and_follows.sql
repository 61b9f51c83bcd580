-- The web app's social side: a channel category, chat (messages, bans and
-- timeouts, moderators, settings) and follows. migrations/sqlite/0008 is
-- the same schema.

-- Free text shown on browse ("Just Chatting", "Music"); '' when unset.
ALTER TABLE channel ADD COLUMN category TEXT NOT NULL DEFAULT '' CHECK (length(category) <= 50);
-- Slow mode: a chatter (not a moderator) may post once per this many
-- seconds; 0 is off.
ALTER TABLE channel ADD COLUMN chat_slow_mode_s INTEGER NOT NULL DEFAULT 0 CHECK (chat_slow_mode_s BETWEEN 0 AND 3600);
-- Words refused in chat (whole words, ignoring case), as a JSON array of
-- lowercase strings.
ALTER TABLE channel ADD COLUMN chat_blocked_words TEXT NOT NULL DEFAULT '[]';

CREATE TABLE chat_message (
    chat_message_id  TEXT    NOT NULL PRIMARY KEY,
    -- CASCADE: chat is part of the channel.
    channel_id       TEXT    NOT NULL REFERENCES channel (channel_id) ON DELETE CASCADE,
    -- CASCADE: a deleted account's messages go with it.
    user_id          TEXT    NOT NULL REFERENCES "user" (user_id) ON DELETE CASCADE,
    -- 1-500 characters, trimmed (Rust validates).
    body             TEXT    NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    created_at_ms    BIGINT  NOT NULL,
    -- Set when a moderator deleted it: kept (for the record), never shown.
    deleted_at_ms    BIGINT
);

-- History on join: a channel's latest messages.
CREATE INDEX chat_message_channel_id_created_at_ms_idx ON chat_message (channel_id, created_at_ms);

-- A ban (until_ms NULL) or a timeout (until_ms set) of a user in a
-- channel's chat. One row per (channel, user): a new one replaces it.
CREATE TABLE chat_ban (
    channel_id          TEXT    NOT NULL REFERENCES channel (channel_id) ON DELETE CASCADE,
    user_id             TEXT    NOT NULL REFERENCES "user" (user_id) ON DELETE CASCADE,
    until_ms            BIGINT,
    reason              TEXT    NOT NULL DEFAULT '',
    -- SET NULL: a ban outlives the moderator's account.
    created_by_user_id  TEXT    REFERENCES "user" (user_id) ON DELETE SET NULL,
    created_at_ms       BIGINT  NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);

-- Users who moderate a channel's chat (besides its owner and admins).
CREATE TABLE channel_moderator (
    channel_id     TEXT    NOT NULL REFERENCES channel (channel_id) ON DELETE CASCADE,
    user_id        TEXT    NOT NULL REFERENCES "user" (user_id) ON DELETE CASCADE,
    created_at_ms  BIGINT  NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);

CREATE TABLE follow (
    user_id        TEXT    NOT NULL REFERENCES "user" (user_id) ON DELETE CASCADE,
    channel_id     TEXT    NOT NULL REFERENCES channel (channel_id) ON DELETE CASCADE,
    created_at_ms  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, channel_id)
);

-- Follower counts.
CREATE INDEX follow_channel_id_idx ON follow (channel_id);
