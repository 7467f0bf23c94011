-- A redemption takes points from a lot and leaves it with fewer: before,
-- the indexes of live lots were partial on remaining > 0, so SQLite
-- rewrote the lot's entry in both of them for every take, three pages
-- written for one changed number (half the WAL frames of a hot
-- redemption's group commit went to them). Now an available lot whose
-- points are all taken is 'spent', and the indexes leave out spent lots by
-- their state, which a take changes only when it empties the lot: a take
-- that leaves points writes the lot's page alone. Spent and expired lots
-- stay in lots_member_live, under their own state after the member's
-- pending and available ones. SQLite cannot change a CHECK constraint, so
-- the table is rebuilt with its rows and its id sequence.
CREATE TABLE lots_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id    TEXT NOT NULL REFERENCES members (id),
    event_id     TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount > 0),
    remaining    BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    state        TEXT NOT NULL CHECK (state IN ('pending', 'available', 'spent', 'expired') AND (state <> 'spent' OR remaining = 0)),
    available_at BIGINT NOT NULL,
    expires_at   BIGINT
);
INSERT INTO lots_new (id, member_id, event_id, amount, remaining, state, available_at, expires_at)
SELECT id, member_id, event_id, amount, remaining,
    CASE WHEN state = 'available' AND remaining = 0 THEN 'spent' ELSE state END, available_at, expires_at
FROM lots;
DELETE FROM sqlite_sequence WHERE name = 'lots_new';
UPDATE sqlite_sequence SET name = 'lots_new' WHERE name = 'lots';
DROP TABLE lots;
ALTER TABLE lots_new RENAME TO lots;
CREATE INDEX lots_member_live ON lots (member_id, state, expires_at);
CREATE INDEX lots_due_release ON lots (available_at) WHERE state = 'pending';
CREATE INDEX lots_due_expiry ON lots (expires_at) WHERE state = 'available';
