-- Timestamps are RFC 3339 UTC text and JSON is text, so the same queries run on SQLite and
-- PostgreSQL through sqlx's Any driver.

CREATE TABLE runs (
    id          BIGSERIAL PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    mode        TEXT NOT NULL,
    input       TEXT NOT NULL,
    summary     TEXT
);

CREATE TABLE detections (
    -- The seq of the detection.received audit record that holds the full detection: unique,
    -- known before the insert (no RETURNING round trip), and the body is stored only once.
    seq          BIGINT PRIMARY KEY,
    run_id       BIGINT NOT NULL REFERENCES runs (id),
    source       TEXT NOT NULL,
    detection_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    severity     TEXT,
    observed_at  TEXT NOT NULL,
    user_upn     TEXT,
    user_id      TEXT,
    line         BIGINT,
    received_at  TEXT NOT NULL
);
CREATE INDEX detections_by_source_id ON detections (source, detection_id);

CREATE TABLE actions (
    pk                 BIGSERIAL PRIMARY KEY,
    run_id             BIGINT NOT NULL REFERENCES runs (id),
    detection_seq      BIGINT NOT NULL REFERENCES detections (seq),
    -- Not unique: replaying the same input plans the same keys again.
    idempotency_key    TEXT NOT NULL,
    playbook           TEXT NOT NULL,
    step               TEXT NOT NULL,
    kind               TEXT NOT NULL,
    target_upn         TEXT,
    target_id          TEXT,
    params             TEXT NOT NULL,
    mode               TEXT NOT NULL,
    gate               TEXT NOT NULL,
    status             TEXT NOT NULL,
    reason             TEXT NOT NULL,
    expires_after_secs BIGINT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    result             TEXT
);
-- Idempotency and per-target lookups matter only for actions that will really run: passive
-- history stays out of these indexes, which keeps replays of large files fast.
CREATE INDEX actions_by_key ON actions (idempotency_key) WHERE mode = 'active';
CREATE INDEX actions_by_target_upn ON actions (target_upn) WHERE mode = 'active';

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    subject   TEXT NOT NULL,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- The chain head, one row. Writers lock it first, so appends are serialized across processes.
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
