-- Member profiles: attributes and consents as JSON objects
-- ({"key":"value"}, {"email":{"granted":true,"at":"..."}}), the birth date
-- as month, day and optional year, kept apart so that birthdays can be
-- found by month and day. erased_at marks a member whose personal data was
-- erased: its id is then a pseudonym and its row keeps the ledger amounts.
ALTER TABLE members ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE members ADD COLUMN consents TEXT NOT NULL DEFAULT '{}';
ALTER TABLE members ADD COLUMN birth_month INTEGER CHECK (birth_month BETWEEN 1 AND 12);
ALTER TABLE members ADD COLUMN birth_day INTEGER CHECK (birth_day BETWEEN 1 AND 31);
ALTER TABLE members ADD COLUMN birth_year INTEGER;
ALTER TABLE members ADD COLUMN erased_at BIGINT;
-- Counts the changes of the member's tags, from a random start at
-- enrolment: an earn carries the revision it was priced with (pricing may
-- read tags cached by another replica, even of an erased member of the same
-- id) and is priced again if the tags changed meanwhile.
ALTER TABLE members ADD COLUMN tags_rev BIGINT NOT NULL DEFAULT 0;
CREATE INDEX members_birthday ON members (birth_month, birth_day) WHERE birth_month IS NOT NULL;

-- Who changed a member's profile, when, and which fields (not the values):
-- op is 'patch' or 'erase', fields a JSON array of field names, actor the
-- API key's id.
CREATE TABLE member_changes (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id TEXT NOT NULL,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    op        TEXT NOT NULL,
    fields    TEXT NOT NULL
);
CREATE INDEX member_changes_member ON member_changes (member_id, seq);

-- Erasures, by the keyed hash (HMAC-SHA256 under the store's 'erasure'
-- secret) of the erased id, so that erasing an id again answers the first
-- erasure without the store keeping the id. An id enrolled again and
-- erased again has a row per erasure.
CREATE TABLE erasures (
    id_hash   TEXT NOT NULL,
    erased_at BIGINT NOT NULL,
    PRIMARY KEY (id_hash, erased_at)
);

-- Random secrets of this store, created when first needed. Not exported:
-- a store imported into starts with its own.
CREATE TABLE store_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
