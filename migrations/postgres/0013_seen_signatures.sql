-- Signed intake requests already received, so a request replayed within its window to another
-- replica is refused like one replayed to the same replica (src/store/signatures.rs). SQLite needs
-- no such table: one database file is served by one process, which remembers in memory.
CREATE TABLE seen_signatures (
    key TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX seen_signatures_expiry ON seen_signatures (expires_at);
