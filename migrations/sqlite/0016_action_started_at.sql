-- When an action was claimed to run. An action that another equal one (same kind, account and
-- parameters) started after it was requested is covered by it and decided once (store/guard.rs).
ALTER TABLE actions ADD COLUMN started_at TEXT;
