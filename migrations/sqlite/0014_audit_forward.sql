-- Audit streaming to a SIEM (src/forward): per forwarder (`syslog`, `hec`), the seq of the last
-- audit record the receiver acknowledged. Forwarding resumes after it, so a restart or an
-- unreachable receiver skips nothing (a record may be sent twice; its seq tells).
CREATE TABLE audit_forward (
    name TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);
