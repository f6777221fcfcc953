-- Approval requests sent to people. An action waiting for a human has a round (0: the step's
-- approvers, 1: the escalation audience) and a deadline; the approval-timeouts job acts on
-- actions whose deadline passed. Each delivery to a channel is kept (e.g. Slack's channel and
-- message ts) so the message can be updated when the action is decided.
ALTER TABLE actions ADD COLUMN approval_round INTEGER;
ALTER TABLE actions ADD COLUMN approval_deadline TEXT;
CREATE INDEX actions_awaiting ON actions (approval_deadline) WHERE status = 'awaiting_approval';

CREATE TABLE approval_deliveries (
    pk           BIGSERIAL PRIMARY KEY,
    action_pk    BIGINT NOT NULL REFERENCES actions (pk),
    round        INTEGER NOT NULL,
    channel      TEXT NOT NULL,
    audience     TEXT NOT NULL,
    sent_at      TEXT NOT NULL,
    ok           INTEGER NOT NULL,
    delivery     TEXT NOT NULL
);
CREATE INDEX approval_deliveries_by_action ON approval_deliveries (action_pk);
