-- Human decisions on gated actions. Each is bound to the hash of the exact action it decided,
-- so an approval never carries over to a different action; one decision per approver.
CREATE TABLE approval_decisions (
    pk          BIGSERIAL PRIMARY KEY,
    action_pk   BIGINT NOT NULL REFERENCES actions (pk),
    approver    TEXT NOT NULL,
    decision    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    channel     TEXT NOT NULL,
    action_hash TEXT NOT NULL,
    decided_at  TEXT NOT NULL,
    UNIQUE (action_pk, approver)
);
