-- The small per-member tables are kept in their key's order (WITHOUT
-- ROWID): one B-tree each instead of a rowid table and an index on the
-- key, so an earn that adds to a member's daily activity or campaign
-- grants finds the row with one search instead of two and writes one page
-- instead of two for a new row, and a member's rows lie together. Their
-- rows are a few dozen bytes. Tables of larger rows (events with their
-- campaign bonuses, idempotency keys with their results) stay rowid
-- tables: in key order their rows land on random pages, which then split,
-- and clustered too they made a batched earn write a sixth more without
-- campaigns and twice as much with fifty. PostgreSQL keeps its tables: it
-- has no such tables, and this changes no query. SQLite cannot change a
-- table's kind, so the tables are rebuilt with their rows.
CREATE TABLE member_activity_daily_new (
    member_id TEXT NOT NULL REFERENCES members (id),
    day       BIGINT NOT NULL,
    currency  TEXT NOT NULL,
    points    BIGINT NOT NULL,
    spend     BIGINT NOT NULL,
    PRIMARY KEY (member_id, day, currency)
) WITHOUT ROWID;
INSERT INTO member_activity_daily_new (member_id, day, currency, points, spend)
SELECT member_id, day, currency, points, spend FROM member_activity_daily;
DROP TABLE member_activity_daily;
ALTER TABLE member_activity_daily_new RENAME TO member_activity_daily;

CREATE TABLE member_campaigns_new (
    member_id TEXT NOT NULL REFERENCES members (id),
    campaign  TEXT NOT NULL,
    granted   BIGINT NOT NULL CHECK (granted >= 0),
    PRIMARY KEY (member_id, campaign)
) WITHOUT ROWID;
INSERT INTO member_campaigns_new (member_id, campaign, granted)
SELECT member_id, campaign, granted FROM member_campaigns;
DROP TABLE member_campaigns;
ALTER TABLE member_campaigns_new RENAME TO member_campaigns;

CREATE TABLE member_tiers_new (
    member_id         TEXT NOT NULL REFERENCES members (id),
    tier              TEXT NOT NULL,
    last_qualified_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, tier)
) WITHOUT ROWID;
INSERT INTO member_tiers_new (member_id, tier, last_qualified_at)
SELECT member_id, tier, last_qualified_at FROM member_tiers;
DROP TABLE member_tiers;
ALTER TABLE member_tiers_new RENAME TO member_tiers;

-- No query could use events_member_action: "action = ?" does not imply its
-- "action <> ''", and counting a day's actions finds the member's events
-- of that day by events_member_occurred. It only cost each action event a
-- write.
DROP INDEX events_member_action;
