-- When each member last earned, redeemed or was adjusted (Unix microseconds),
-- for expiry after inactivity. Existing members start from their latest such
-- entry, or their enrolment when they have none. Not indexed: it changes with
-- nearly every write, and the due job reads it with a scan of members.
ALTER TABLE members ADD COLUMN last_activity_at BIGINT NOT NULL DEFAULT 0;
UPDATE members SET last_activity_at = COALESCE(
    (SELECT MAX(e.at) FROM entries e WHERE e.member_id = members.id AND e.kind IN ('earn', 'redeem', 'adjust')),
    enrolled_at);
