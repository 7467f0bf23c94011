-- Action limits count a member's events of one action over a day, week,
-- month, year or the member's lifetime. Over a long period the member's
-- events of that period (events_member_occurred) are too many to scan on
-- every earn: this index finds only the action's, and the count stops at
-- the limit. The count's query repeats "action <> ''" so that SQLite may
-- use the partial index.
CREATE INDEX events_member_action ON events (member_id, action, occurred_at) WHERE action <> '';
