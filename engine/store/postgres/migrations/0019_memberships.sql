-- A member's current (or last) paid membership: one row per member, as a
-- member holds one membership at a time. Instants are Unix microseconds;
-- streak counts renewals in a row and streak_rewarded (0 or 1) says the
-- streak's bonus was granted; seq numbers the member's membership events.
CREATE TABLE memberships (
    member_id       TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    state           TEXT NOT NULL,
    period_start    BIGINT NOT NULL,
    period_end      BIGINT NOT NULL,
    streak          INTEGER NOT NULL,
    streak_rewarded INTEGER NOT NULL,
    paused_at       BIGINT,
    seq             BIGINT NOT NULL
);
-- The due work finds memberships whose period ended.
CREATE INDEX memberships_due ON memberships (period_end) WHERE state IN ('active', 'cancelling');

-- Every change of a membership, for KPIs: fee_units is the price charged
-- by a start or a renewal in ten-thousandths of the currency, 0 otherwise.
CREATE TABLE membership_events (
    member_id         TEXT NOT NULL,
    seq               BIGINT NOT NULL,
    name              TEXT NOT NULL,
    action            TEXT NOT NULL,
    fee_units         BIGINT NOT NULL,
    payment_reference TEXT NOT NULL,
    bonus_points      BIGINT NOT NULL,
    at                BIGINT NOT NULL,
    PRIMARY KEY (member_id, seq)
);
CREATE INDEX membership_events_at ON membership_events (at);
