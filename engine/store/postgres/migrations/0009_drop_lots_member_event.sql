-- Every query that looks for an event's lot also names the member, the
-- lot's state and remaining > 0, which lots_member_live covers; the
-- separate (member_id, event_id) index only cost every earn one more write
-- at a random place.
DROP INDEX lots_member_event;
