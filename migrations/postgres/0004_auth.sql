-- Authentication for the REST API and the web UI: login sessions, API
-- tokens and playback signing keys; and the indexes that keyset pagination
-- of the global lists walks (newest first: created_at_ms DESC, id DESC).

-- Web UI login sessions. The cookie value is a random token shown once;
-- only its SHA-256 is kept (like stream keys: it has >= 160 bits, so a fast
-- unsalted hash is enough), so a leaked database logs nobody in. The CSRF
-- token issued with it is kept the same way.
CREATE TABLE session (
    session_id       TEXT    NOT NULL PRIMARY KEY,
    -- CASCADE: a deleted user's sessions go with them.
    user_id          TEXT    NOT NULL REFERENCES "user" (user_id) ON DELETE CASCADE,
    token_hash       TEXT    NOT NULL CHECK (length(token_hash) = 64),
    csrf_token_hash  TEXT    NOT NULL CHECK (length(csrf_token_hash) = 64),
    created_at_ms    BIGINT  NOT NULL,
    -- Lookups ignore a session from this instant on; purge_expired_sessions
    -- deletes it later.
    expires_at_ms    BIGINT  NOT NULL CHECK (expires_at_ms > created_at_ms)
);

CREATE UNIQUE INDEX session_token_hash_key ON session (token_hash);
CREATE INDEX session_user_id_idx ON session (user_id);
CREATE INDEX session_expires_at_ms_idx ON session (expires_at_ms);

-- Bearer tokens for /api/v1 (Mux's "access tokens"). The secret is shown
-- once and kept as SHA-256, looked up through the unique index.
CREATE TABLE api_token (
    api_token_id     TEXT    NOT NULL PRIMARY KEY,
    -- CASCADE: a token acts as its user and means nothing without them.
    user_id          TEXT    NOT NULL REFERENCES "user" (user_id) ON DELETE CASCADE,
    -- The owner's label ("CI", "OBS plugin").
    name             TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The secret's first characters ("aethex_AbCd"): enough to tell tokens
    -- apart in a list or find a leaked one, far too few to use.
    secret_prefix    TEXT    NOT NULL,
    secret_hash      TEXT    NOT NULL CHECK (length(secret_hash) = 64),
    created_at_ms    BIGINT  NOT NULL,
    -- Updated at most once a minute, so authenticating is not a write per
    -- request.
    last_used_at_ms  BIGINT
);

CREATE UNIQUE INDEX api_token_secret_hash_key ON api_token (secret_hash);
CREATE INDEX api_token_user_id_created_at_ms_idx ON api_token (user_id, created_at_ms);

-- Public keys that verify signed playback tokens (JWTs, Mux's "signing
-- keys"). The id is the JWT `kid`.
CREATE TABLE signing_key (
    signing_key_id   TEXT    NOT NULL PRIMARY KEY,
    -- The user whose playback ids the key may sign for. NULL for the
    -- server's own key, which signs for any playback id (the web UI's
    -- players); CASCADE: a user's keys go with them.
    owner_user_id    TEXT    REFERENCES "user" (user_id) ON DELETE CASCADE,
    algorithm        TEXT    NOT NULL CHECK (algorithm IN ('RS256', 'ES256')),
    -- SubjectPublicKeyInfo, PEM ("-----BEGIN PUBLIC KEY-----").
    public_key_pem   TEXT    NOT NULL,
    -- PKCS#8 PEM, for the server's own key only: the server signs with it.
    -- A user's private key is shown once at creation and never stored.
    private_key_pem  TEXT,
    created_at_ms    BIGINT  NOT NULL,
    CHECK ((owner_user_id IS NULL) = (private_key_pem IS NOT NULL))
);

CREATE INDEX signing_key_owner_user_id_created_at_ms_idx ON signing_key (owner_user_id, created_at_ms);
-- At most one server key, even when several API nodes create it at once.
CREATE UNIQUE INDEX signing_key_server_key ON signing_key ((owner_user_id IS NULL)) WHERE owner_user_id IS NULL;

-- Keyset pagination of the lists that are not per parent row.
CREATE INDEX user_created_at_ms_idx ON "user" (created_at_ms, user_id);
CREATE INDEX channel_created_at_ms_idx ON channel (created_at_ms, channel_id);
CREATE INDEX vod_created_at_ms_idx ON vod (created_at_ms, vod_id);
