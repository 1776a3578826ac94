-- Tollgate schema, SQLite dialect, version 1.
-- Times are unix epoch milliseconds (UTC) in INTEGER columns, so day/hour buckets are integer
-- arithmetic and identical in both dialects. Money is TEXT holding the invariant decimal string:
-- SQLite has no exact decimal type, REAL would round, and fixed-point integers cap the scale.
-- Sums use the dec_sum() aggregate that SqliteStore registers on each connection.
-- STRICT tables make SQLite enforce the declared column types.

CREATE TABLE keys (
    id                         TEXT    NOT NULL PRIMARY KEY,
    alias                      TEXT,
    workspace                  TEXT,
    tier                       TEXT,
    models_json                TEXT,             -- JSON array; NULL means "whatever the tier allows"
    max_budget                 TEXT,             -- decimal as text
    budget_period              TEXT,
    soft_limit                 TEXT,             -- decimal as text
    rpm                        INTEGER,
    tpm                        INTEGER,
    max_parallel               INTEGER,
    data_classes_json          TEXT    NOT NULL, -- JSON array
    expires_at                 INTEGER,
    metadata_json              TEXT,
    created_at                 INTEGER NOT NULL,
    rotated_at                 INTEGER,
    revoked_at                 INTEGER,
    status                     TEXT    NOT NULL,
    secret_hash                BLOB    NOT NULL,
    previous_secret_hash       BLOB,
    previous_secret_expires_at INTEGER,
    hint                       TEXT
) STRICT;

CREATE UNIQUE INDEX keys_secret_hash ON keys (secret_hash);
CREATE INDEX keys_previous_secret_hash ON keys (previous_secret_hash) WHERE previous_secret_hash IS NOT NULL;

CREATE TABLE ledger (
    request_id          TEXT    NOT NULL PRIMARY KEY,
    time_ms             INTEGER NOT NULL,
    key_id              TEXT,
    key_alias           TEXT,
    workspace           TEXT,
    tier                TEXT,
    endpoint            TEXT,
    model_requested     TEXT,
    model_group         TEXT,
    attempts_json       TEXT,
    deployment          TEXT,
    provider            TEXT,
    fallback            TEXT,
    status              INTEGER NOT NULL,
    error_type          TEXT,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cache_read_tokens   INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    cost                TEXT    NOT NULL,    -- decimal as text
    notional_cost       TEXT    NOT NULL,    -- decimal as text
    currency            TEXT,
    latency_ms          REAL    NOT NULL,
    ttft_ms             REAL,
    streamed            INTEGER NOT NULL,    -- 0 | 1
    user_agent          TEXT,
    session_id          TEXT,
    data_classes        TEXT
) STRICT;

CREATE INDEX ledger_time ON ledger (time_ms);
CREATE INDEX ledger_key_time ON ledger (key_id, time_ms);

CREATE TABLE audit (
    id            TEXT    NOT NULL PRIMARY KEY,
    time_ms       INTEGER NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    target        TEXT,
    details_json  TEXT
) STRICT;

CREATE INDEX audit_time ON audit (time_ms);
