-- Times are Unix microseconds (UTC). Balances are materialised on members and
-- must always equal the sums of entries and of live lots.
CREATE TABLE members (
    id          TEXT PRIMARY KEY,
    tags        TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    available   BIGINT NOT NULL DEFAULT 0 CHECK (available >= 0),
    pending     BIGINT NOT NULL DEFAULT 0 CHECK (pending >= 0),
    lifetime    BIGINT NOT NULL DEFAULT 0
);

-- Earn events, unique per member; reversed counts points already clawed back.
CREATE TABLE events (
    member_id       TEXT NOT NULL REFERENCES members (id),
    event_id        TEXT NOT NULL,
    points          BIGINT NOT NULL CHECK (points > 0),
    reversed        BIGINT NOT NULL DEFAULT 0 CHECK (reversed >= 0 AND reversed <= points),
    purchase_amount BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    occurred_at     BIGINT NOT NULL,
    recorded_at     BIGINT NOT NULL,
    PRIMARY KEY (member_id, event_id)
);

-- Earn lots: state pending until available_at, then available until spent
-- or expired.
CREATE TABLE lots (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id    TEXT NOT NULL REFERENCES members (id),
    event_id     TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount > 0),
    remaining    BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    state        TEXT NOT NULL CHECK (state IN ('pending', 'available', 'expired')),
    available_at BIGINT NOT NULL,
    expires_at   BIGINT
);
CREATE INDEX lots_member_live ON lots (member_id, state, expires_at) WHERE remaining > 0;
CREATE INDEX lots_member_event ON lots (member_id, event_id);
CREATE INDEX lots_due_release ON lots (available_at) WHERE state = 'pending';
CREATE INDEX lots_due_expiry ON lots (expires_at) WHERE state = 'available' AND remaining > 0;

-- Append-only ledger lines; available/pending/lifetime are signed deltas.
CREATE TABLE entries (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members (id),
    kind      TEXT NOT NULL,
    available BIGINT NOT NULL,
    pending   BIGINT NOT NULL,
    lifetime  BIGINT NOT NULL,
    event_id  TEXT NOT NULL,
    reference TEXT NOT NULL,
    reason    TEXT NOT NULL,
    shortfall BIGINT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX entries_member_seq ON entries (member_id, seq);

-- Idempotency keys, global per store; result is the JSON result returned.
CREATE TABLE idempotency_keys (
    idem_key     TEXT PRIMARY KEY,
    op           TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    result       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
