-- The transactional outbox: each state change other systems subscribe to,
-- appended in the transaction of the write that made it. seq is the
-- delivery order, taken from outbox_head under its row lock (see the store). data
-- is the event's JSON (ids and amounts; see docs/events.md).
CREATE TABLE outbox (
    seq         BIGINT PRIMARY KEY,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    data        TEXT NOT NULL
);

-- Each sink's cursor: the last sequence it was delivered (or dead-lettered).
CREATE TABLE event_sinks (
    sink          TEXT PRIMARY KEY,
    delivered_seq BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Events a sink gave up on after its attempts; the cursor moved past them.
CREATE TABLE event_dead_letters (
    sink     TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    reason   TEXT NOT NULL,
    dead_at  BIGINT NOT NULL,
    PRIMARY KEY (sink, seq)
);

-- Redelivery requests of a range to a sink, by idempotency key; done_at is
-- set once the range was sent again.
CREATE TABLE event_redeliveries (
    idem_key     TEXT PRIMARY KEY,
    sink         TEXT NOT NULL,
    from_seq     BIGINT NOT NULL,
    to_seq       BIGINT NOT NULL,
    requested_at BIGINT NOT NULL,
    done_at      BIGINT
);

-- The last sequence appended. Writers move it under its row lock, held to
-- their commit, so that sequences become visible in order, without gaps.
CREATE TABLE outbox_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL
);
INSERT INTO outbox_head (id, last_seq) VALUES (1, 0);
