-- Temporary containment. A reversible action whose step says `expires_after` gets `expires_at`
-- (RFC 3339 UTC text, like every timestamp) when it succeeds; the `expire-actions` job rolls it
-- back once that time has passed, unless an operator confirmed it (`confirmed_at`/`confirmed_by`),
-- which makes it permanent. `expires_at` is kept after a confirmation as the record of the
-- deadline that no longer applies.
ALTER TABLE actions ADD COLUMN expires_at TEXT;
ALTER TABLE actions ADD COLUMN confirmed_at TEXT;
ALTER TABLE actions ADD COLUMN confirmed_by TEXT;
-- The job asks "which succeeded, unconfirmed actions are due by now?" on every run: only the
-- few actions that can still expire are in this index, ordered by deadline.
CREATE INDEX actions_expiring ON actions (expires_at)
    WHERE status = 'succeeded' AND expires_at IS NOT NULL AND confirmed_at IS NULL;
