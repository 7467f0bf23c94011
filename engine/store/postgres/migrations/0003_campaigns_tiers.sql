-- The action of an action event ('' for purchases), counted per member and
-- UTC day against the action's maxPerDay.
ALTER TABLE events ADD COLUMN action TEXT NOT NULL DEFAULT '';
CREATE INDEX events_member_action ON events (member_id, action, occurred_at) WHERE action <> '';

-- Bonus points each campaign has granted over all members: its budget spent.
-- Earns lock the row while they grant, so a budget is never exceeded.
CREATE TABLE campaign_spend (
    campaign TEXT PRIMARY KEY,
    granted  BIGINT NOT NULL DEFAULT 0 CHECK (granted >= 0)
);

-- Bonus points each campaign has granted each member, for perMemberCap;
-- written under the member's lock.
CREATE TABLE member_campaigns (
    member_id TEXT NOT NULL REFERENCES members (id),
    campaign  TEXT NOT NULL,
    granted   BIGINT NOT NULL CHECK (granted >= 0),
    PRIMARY KEY (member_id, campaign)
);

-- The member's tier ('' until first evaluated: the entry tier) and since
-- when (Unix microseconds), and when the member last qualified for each tier.
ALTER TABLE members ADD COLUMN tier TEXT NOT NULL DEFAULT '';
ALTER TABLE members ADD COLUMN tier_since BIGINT NOT NULL DEFAULT 0;
CREATE INDEX members_tier ON members (tier) WHERE tier <> '';
CREATE TABLE member_tiers (
    member_id         TEXT NOT NULL REFERENCES members (id),
    tier              TEXT NOT NULL,
    last_qualified_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, tier)
);
