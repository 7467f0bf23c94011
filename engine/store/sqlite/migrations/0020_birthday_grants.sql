-- Birthday points granted: one row per member and birthday year, whose
-- primary key refuses a second grant for the year, whatever the replica or
-- the restart. entry_seq is the earn entry the grant recorded.
CREATE TABLE birthday_grants (
    member_id  TEXT NOT NULL,
    year       INTEGER NOT NULL,
    entry_seq  BIGINT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, year)
) WITHOUT ROWID;
