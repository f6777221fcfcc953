-- Cursors of pollers (e.g. Graph alerts): name -> opaque JSON value, advanced only after the
-- fetched items were stored.
CREATE TABLE watermarks (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One row per scheduled job run; `outcome` is running, succeeded or failed.
CREATE TABLE schedule_runs (
    pk          BIGSERIAL PRIMARY KEY,
    schedule    TEXT NOT NULL,
    job         TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT NOT NULL,
    summary     TEXT
);
CREATE INDEX schedule_runs_by_schedule ON schedule_runs (schedule, started_at);
