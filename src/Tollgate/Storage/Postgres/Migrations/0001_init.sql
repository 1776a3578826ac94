-- Tollgate schema, PostgreSQL dialect, version 1.
-- Times are unix epoch milliseconds (UTC) in BIGINT columns, as in the SQLite dialect, so the
-- same integer arithmetic buckets days and hours in both. Money is NUMERIC (exact, unbounded scale).
-- JSON columns are TEXT rather than JSONB so that what was written is what is read back.

CREATE TABLE keys (
    id                         TEXT    NOT NULL PRIMARY KEY,
    alias                      TEXT,
    workspace                  TEXT,
    tier                       TEXT,
    models_json                TEXT,             -- JSON array; NULL means "whatever the tier allows"
    max_budget                 NUMERIC,
    budget_period              TEXT,
    soft_limit                 NUMERIC,
    rpm                        INTEGER,
    tpm                        INTEGER,
    max_parallel               INTEGER,
    data_classes_json          TEXT    NOT NULL, -- JSON array
    expires_at                 BIGINT,
    metadata_json              TEXT,
    created_at                 BIGINT  NOT NULL,
    rotated_at                 BIGINT,
    revoked_at                 BIGINT,
    status                     TEXT    NOT NULL,
    secret_hash                BYTEA   NOT NULL,
    previous_secret_hash       BYTEA,
    previous_secret_expires_at BIGINT,
    hint                       TEXT
);

CREATE UNIQUE INDEX keys_secret_hash ON keys (secret_hash);
CREATE INDEX keys_previous_secret_hash ON keys (previous_secret_hash) WHERE previous_secret_hash IS NOT NULL;

CREATE TABLE ledger (
    request_id          TEXT             NOT NULL PRIMARY KEY,
    time_ms             BIGINT           NOT NULL,
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
    status              INTEGER          NOT NULL,
    error_type          TEXT,
    input_tokens        BIGINT           NOT NULL,
    output_tokens       BIGINT           NOT NULL,
    cache_read_tokens   BIGINT           NOT NULL,
    cache_write_tokens  BIGINT           NOT NULL,
    reasoning_tokens    BIGINT           NOT NULL,
    cost                NUMERIC          NOT NULL,
    notional_cost       NUMERIC          NOT NULL,
    currency            TEXT,
    latency_ms          DOUBLE PRECISION NOT NULL,
    ttft_ms             DOUBLE PRECISION,
    streamed            BOOLEAN          NOT NULL,
    user_agent          TEXT,
    session_id          TEXT,
    data_classes        TEXT
);

CREATE INDEX ledger_time ON ledger (time_ms);
CREATE INDEX ledger_key_time ON ledger (key_id, time_ms);

CREATE TABLE audit (
    id            TEXT    NOT NULL PRIMARY KEY,
    time_ms       BIGINT  NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    target        TEXT,
    details_json  TEXT
);

CREATE INDEX audit_time ON audit (time_ms);
