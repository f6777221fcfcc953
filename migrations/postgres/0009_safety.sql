-- Blast-radius budgets: one row per budget and account each time an action spends it, written
-- in the same transaction as the claim, so concurrent workers (and replicas) cannot overspend.
CREATE TABLE budget_spend (
    pk         BIGSERIAL PRIMARY KEY,
    budget     TEXT NOT NULL,
    target     TEXT NOT NULL,
    action_pk  BIGINT NOT NULL REFERENCES actions (pk),
    spent_at   TEXT NOT NULL
);
CREATE INDEX budget_spend_by_window ON budget_spend (budget, spent_at);
-- Cooldowns look up the latest action of a kind on an account.
CREATE INDEX actions_by_kind_target ON actions (target_upn, kind) WHERE mode = 'active';
