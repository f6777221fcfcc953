-- Audit records written by the hot paths (a claim, the record around each Graph call) and not
-- yet chained: a sequencer in every replica seals them onto audit_log in id order within moments
-- (src/store/chain.rs), so concurrent replicas do not queue on the audit_head row.
CREATE TABLE audit_pending (
    id BIGSERIAL PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    payload TEXT NOT NULL
);
