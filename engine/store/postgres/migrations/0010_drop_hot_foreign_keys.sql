-- Every earn inserts an event, a lot, an entry and a daily activity row, and
-- each foreign key to members ran a trigger per row at the end of the
-- batch's write statement: in the engine's write path those checks took
-- more server time than the inserts themselves. They checked nothing the
-- writer does not already know: it writes these rows only for a member it
-- has just read and locked in the same transaction, and members are never
-- deleted. CheckInvariants (and every import, before it commits) reports
-- any row of these tables whose member does not exist.
ALTER TABLE events DROP CONSTRAINT events_member_id_fkey;
ALTER TABLE lots DROP CONSTRAINT lots_member_id_fkey;
ALTER TABLE entries DROP CONSTRAINT entries_member_id_fkey;
ALTER TABLE member_activity_daily DROP CONSTRAINT member_activity_daily_member_id_fkey;
