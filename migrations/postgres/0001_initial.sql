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
    pk           BIGSERIAL PRIMARY KEY,
    run_id       BIGINT NOT NULL REFERENCES runs (id),
    source       TEXT NOT NULL,
    detection_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    severity     TEXT,
    observed_at  TEXT NOT NULL,
    user_upn     TEXT,
    user_id      TEXT,
    line         BIGINT,
    body         TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    -- The detection.received audit record that attests to this row.
    audit_seq    BIGINT NOT NULL
);
CREATE INDEX detections_by_source_id ON detections (source, detection_id);
CREATE INDEX detections_by_run ON detections (run_id);

CREATE TABLE actions (
    pk                 BIGSERIAL PRIMARY KEY,
    run_id             BIGINT NOT NULL REFERENCES runs (id),
    detection_pk       BIGINT NOT NULL REFERENCES detections (pk),
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
CREATE INDEX actions_by_key ON actions (idempotency_key);
CREATE INDEX actions_by_status ON actions (status);
CREATE INDEX actions_by_target_upn ON actions (target_upn);
CREATE INDEX actions_by_target_id ON actions (target_id);
CREATE INDEX actions_by_run ON actions (run_id);

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    subject   TEXT NOT NULL,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_log_by_subject ON audit_log (subject);

-- The chain head, one row. Writers lock it first, so appends are serialized across processes.
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
