-- A claim, an outcome and the rails find an action by its detection and idempotency key, for
-- passive read-only actions as well as active ones: without this, each of those statements
-- scanned the whole table (2,000 accounts contained: four full scans an action).
CREATE INDEX actions_by_detection ON actions (detection_seq);
