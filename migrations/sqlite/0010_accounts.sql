-- One account, one key: the rails (cooldowns, budgets) compare actions by `account`, the
-- target's object id once a claim has resolved it through the directory (before that, the
-- lower-cased name the detection gave), so a UPN, its object id and their case variants are
-- one person.
ALTER TABLE actions ADD COLUMN account TEXT;
UPDATE actions SET account = LOWER(TRIM(COALESCE(target_id, target_upn)));
CREATE INDEX actions_by_kind_account ON actions (account, kind) WHERE mode = 'active';
