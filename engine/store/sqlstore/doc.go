// Package sqlstore implements the ledger rules once over database/sql for the
// SQLite and PostgreSQL stores, which supply a Dialect, connections and
// migrations.
//
// Where things are:
//   - group commit and durability: writer.go (one goroutine commits every
//     queued job in one transaction), durable.go, stmtcache.go;
//   - the batch transaction: txn.go (its state and undo), prefetch.go,
//     buffer.go (rows written when the batch ends), txn_sql.go;
//   - where a balance changes: changeBalance in balance.go, the one place;
//     lots in lots.go and lotcache.go;
//   - the idempotency policy: idempotency.go;
//   - the use cases: enroll.go, profile.go (patches and the profile
//     history), erase.go (erasure under a pseudonym), earn.go, redeem.go, reverse.go, adjust.go,
//     rewards.go and stock.go, referrals.go, tiers.go, due.go, birthday.go
//     (birthday points once per member and year), export.go, import.go,
//     reads.go, pricing.go, membership.go (memberships, their due ends and
//     KPIs, the state machine in engine/ledger); campaign caps in grants.go and
//     bonuses.go, decided by engine/rules;
//   - the SQL that differs between the databases: the sqlDialect interface
//     in dialect.go, implemented by dialect_postgres.go and dialect_sqlite.go;
//   - the outbox: outbox.go (events buffered by the batch and appended
//     last, in commit order), outbox_store.go (reads, sink cursors, dead
//     letters, redelivery requests, pruning);
//   - caches: membercache.go, lotcache.go, readcache.go.
package sqlstore
