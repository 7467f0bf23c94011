-- Redemptions of catalog rewards, one row per issued code. Written under the
-- member's lock; status is 'active' until cancelled. points_expire_at is the
-- earliest expiry of the lots the points were taken from (NULL: none
-- expired), which the lot a cancellation returns keeps.
CREATE TABLE redemptions (
    code             TEXT PRIMARY KEY,
    member_id        TEXT NOT NULL REFERENCES members (id),
    reward_id        TEXT NOT NULL,
    points           BIGINT NOT NULL CHECK (points >= 0),
    status           TEXT NOT NULL CHECK (status IN ('active', 'cancelled')),
    redeemed_at      BIGINT NOT NULL,
    cancelled_at     BIGINT,
    points_expire_at BIGINT
);
CREATE INDEX redemptions_member_reward ON redemptions (member_id, reward_id, redeemed_at);

-- Active redemptions of each reward over all members, against its stock.
-- Redemptions lock the row and increment it only while it is below the
-- stock, so a reward is never oversold; cancellations give it back.
CREATE TABLE reward_stock (
    reward_id TEXT PRIMARY KEY,
    redeemed  BIGINT NOT NULL DEFAULT 0 CHECK (redeemed >= 0)
);
