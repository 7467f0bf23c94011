-- A purchase is recorded whatever points it earns, so that its spend counts
-- for spend tiers and analytics: events may earn 0 points. refunded is the
-- part of the purchase amount refunded (minor units), so that an event's
-- spend is purchase_amount - refunded whatever its points; for an event
-- that earned points it stays purchase_amount * (points - reversed) / points
-- subtracted from purchase_amount, as before. SQLite cannot change a CHECK
-- constraint, so the table is rebuilt.
CREATE TABLE events_new (
    member_id       TEXT NOT NULL REFERENCES members (id),
    event_id        TEXT NOT NULL,
    points          BIGINT NOT NULL CHECK (points >= 0),
    reversed        BIGINT NOT NULL DEFAULT 0 CHECK (reversed >= 0 AND reversed <= points),
    purchase_amount BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    occurred_at     BIGINT NOT NULL,
    recorded_at     BIGINT NOT NULL,
    action          TEXT NOT NULL DEFAULT '',
    refunded        BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= purchase_amount),
    PRIMARY KEY (member_id, event_id)
);
INSERT INTO events_new (member_id, event_id, points, reversed, purchase_amount, currency, occurred_at, recorded_at, action, refunded)
SELECT member_id, event_id, points, reversed, purchase_amount, currency, occurred_at, recorded_at, action,
    purchase_amount - purchase_amount * (points - reversed) / points
FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_member_action ON events (member_id, action, occurred_at) WHERE action <> '';
CREATE INDEX events_member_occurred ON events (member_id, occurred_at);
