-- A referral links a referee, enrolled with the referrer's code, to the
-- referrer; a member is referred at most once. converted_at is set by the
-- referee's first qualifying purchase (qualifying_event_id), which granted
-- the rewards; clawed_back when that purchase was fully reversed, and then
-- the referral no longer counts as converted.
CREATE TABLE referrals (
    referee_id          TEXT PRIMARY KEY REFERENCES members (id),
    referrer_id         TEXT NOT NULL REFERENCES members (id),
    created_at          BIGINT NOT NULL,
    converted_at        BIGINT,
    qualifying_event_id TEXT,
    referrer_reward     BIGINT NOT NULL DEFAULT 0 CHECK (referrer_reward >= 0),
    referee_reward      BIGINT NOT NULL DEFAULT 0 CHECK (referee_reward >= 0),
    clawed_back         BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX referrals_referrer ON referrals (referrer_id);
