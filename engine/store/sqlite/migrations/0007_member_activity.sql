-- Qualifying activity per member, UTC day (occurred_at / 86400000000) and
-- currency: the sums tier evaluation reads over whole days of a window,
-- maintained by the earn and reverse writes. points is points - reversed
-- and spend purchase_amount * (points - reversed) / points, summed per event.
CREATE TABLE member_activity_daily (
    member_id TEXT NOT NULL REFERENCES members (id),
    day       BIGINT NOT NULL,
    currency  TEXT NOT NULL,
    points    BIGINT NOT NULL,
    spend     BIGINT NOT NULL,
    PRIMARY KEY (member_id, day, currency)
);
INSERT INTO member_activity_daily (member_id, day, currency, points, spend)
SELECT member_id, occurred_at / 86400000000, currency, SUM(points - reversed), SUM(purchase_amount * (points - reversed) / points)
FROM events GROUP BY member_id, occurred_at / 86400000000, currency;
-- The exact events of a window's partial days.
CREATE INDEX events_member_occurred ON events (member_id, occurred_at);
