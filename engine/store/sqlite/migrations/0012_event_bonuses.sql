-- What a reversal gives back to campaign budgets and per-member caps
-- (rules.BonusReturn): the points each reversal of the event took from the
-- member's balance so far (clawed, at most reversed: the rest was a
-- shortfall), and the bonus each campaign granted the event with what was
-- given back of it, as compact JSON such as [["spring",10],["summer",5,2]]
-- ('' when no campaign granted a bonus). Kept on the event rather than in
-- a table of their own so that an earn with bonuses writes no more rows.
ALTER TABLE events ADD COLUMN clawed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN bonuses TEXT NOT NULL DEFAULT '';
