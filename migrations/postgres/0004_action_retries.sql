-- A failed action that Graph merely throttled or could not be reached for is queued again later.
ALTER TABLE actions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE actions ADD COLUMN next_attempt_at TEXT;
