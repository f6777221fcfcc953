-- Campaigns: detections grouped by account and by shared attacker infrastructure. Rows are
-- written in the same transaction as the detections that changed them, with upserts that only
-- ever widen what is known (earliest first sighting, latest last sighting), so batches written
-- out of order cannot lose anything.
CREATE TABLE campaigns (
    id               TEXT PRIMARY KEY,
    opened_at        TEXT NOT NULL,
    first_seen       TEXT NOT NULL,
    last_seen        TEXT NOT NULL,
    detections       BIGINT NOT NULL,
    -- Set when a detection linked this campaign to an older one; its rows then live there.
    merged_into      TEXT,
    confirmed_at     TEXT,
    confirmed_by     TEXT,
    confirmed_reason TEXT,
    updated_at       TEXT NOT NULL
);
-- A long-running server picks up what other processes changed since it last looked.
CREATE INDEX campaigns_by_update ON campaigns (updated_at);

CREATE TABLE campaign_members (
    campaign_id TEXT NOT NULL,
    -- Lowercased UPN, else the object id.
    account     TEXT NOT NULL,
    upn         TEXT,
    user_id     TEXT,
    joined_at   TEXT NOT NULL,
    via         TEXT NOT NULL,
    -- 1 once stanch has asked to contain the account as a member of the confirmed campaign.
    contained   BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, account)
);

-- `kind:value` (ip:198.51.100.23, network:198.51.100.0/24, asn:37100, user_agent:bav2ropc,
-- account:a@contoso.com). Grouping looks detections' indicators up by value and time.
CREATE TABLE campaign_indicators (
    campaign_id TEXT NOT NULL,
    indicator   TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    PRIMARY KEY (campaign_id, indicator)
);
-- By value only: a sighting moves last_seen on almost every write, and keeping it out of the index
-- spares an index update per upsert (an indicator has one row per campaign, so few to filter).
CREATE INDEX campaign_indicators_by_value ON campaign_indicators (indicator);

CREATE TABLE campaign_detections (
    detection_seq BIGINT PRIMARY KEY REFERENCES detections (seq),
    campaign_id   TEXT NOT NULL
);
CREATE INDEX campaign_detections_by_campaign ON campaign_detections (campaign_id);
