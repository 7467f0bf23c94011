-- A redemption takes points from a lot and leaves it with fewer: before,
-- the indexes of live lots were partial on remaining > 0, so no such
-- update could be made in place (HOT) and each wrote the lot's entry in
-- both indexes again. Now an available lot whose points are all taken is
-- 'spent', and the indexes leave out spent lots by their state, which a
-- take changes only when it empties the lot. Spent and expired lots stay
-- in lots_member_live, under their own state after the member's pending
-- and available ones.
ALTER TABLE lots DROP CONSTRAINT lots_state_check;
UPDATE lots SET state = 'spent' WHERE state = 'available' AND remaining = 0;
ALTER TABLE lots ADD CONSTRAINT lots_state_check
    CHECK (state IN ('pending', 'available', 'spent', 'expired') AND (state <> 'spent' OR remaining = 0));
DROP INDEX lots_member_live;
CREATE INDEX lots_member_live ON lots (member_id, state, expires_at);
DROP INDEX lots_due_expiry;
CREATE INDEX lots_due_expiry ON lots (expires_at) WHERE state = 'available';
