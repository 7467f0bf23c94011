-- A purchase is recorded whatever points it earns, so that its spend counts
-- for spend tiers and analytics: events may earn 0 points. refunded is the
-- part of the purchase amount refunded (minor units), so that an event's
-- spend is purchase_amount - refunded whatever its points; for an event
-- that earned points it stays purchase_amount * (points - reversed) / points
-- subtracted from purchase_amount, as before.
ALTER TABLE events DROP CONSTRAINT events_points_check;
ALTER TABLE events ADD CONSTRAINT events_points_check CHECK (points >= 0);
ALTER TABLE events ADD COLUMN refunded BIGINT NOT NULL DEFAULT 0;
UPDATE events SET refunded = purchase_amount - purchase_amount * (points - reversed) / points WHERE reversed > 0;
ALTER TABLE events ADD CONSTRAINT events_refunded_check CHECK (refunded >= 0 AND refunded <= purchase_amount);
