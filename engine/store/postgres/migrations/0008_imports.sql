-- Imports of an export stream (docs/data-portability.md), by the stream's
-- checksum, with the result returned: posting the same stream again answers
-- that result rather than refusing a store that is no longer empty. Not
-- member state, so not exported.
CREATE TABLE imports (
    id          TEXT PRIMARY KEY,
    export_id   TEXT NOT NULL,
    result      TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);
