-- Leases, not states: an action a replica works on (reserved while pending, claimed while
-- executing or rolling back) names that replica and how long its claim holds; a heartbeat
-- extends it, and once it lapses any replica may rescue the action. A dead replica's work is
-- finished by the others; a starting replica never touches a live one's.
ALTER TABLE actions ADD COLUMN lease_owner TEXT;
ALTER TABLE actions ADD COLUMN lease_until TEXT;
-- The account (or "" for the tenant) a reserved action changes: one replica at a time per lane.
ALTER TABLE actions ADD COLUMN lane TEXT;
CREATE INDEX actions_leased ON actions (lane, lease_owner, lease_until)
    WHERE status IN ('pending', 'executing', 'rolling_back') AND lease_owner IS NOT NULL;

-- Named leases for singleton work (the leader that runs scheduled jobs) and for tenant-wide
-- objects that one replica at a time may read, change and write back (the named location).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until TEXT NOT NULL
);
