package sqlstore

import (
	"context"
	"database/sql"
	"io/fs"
	"strconv"
	"strings"
)

// Dialect is what differs between the SQL databases.
type Dialect struct {
	// Name is used in error messages.
	Name string
	// NumberedParams rewrites "?" placeholders to "$1", "$2", ...
	NumberedParams bool
	// ForUpdate is appended to the member lock query (" FOR UPDATE" where
	// several processes may write; empty for SQLite's single writer).
	ForUpdate string
	// MigrationLock, if set, is run first in the migration transaction to
	// serialise concurrent starts.
	MigrationLock string
	// Migrations holds NNNN_name.sql files applied in order.
	Migrations fs.FS
	// Arrays: the database takes array parameters (unnest) and has
	// sequences, so batches write each table with one statement and reserve
	// entry numbers from the sequence (PostgreSQL, see postgresSQL);
	// otherwise rows are written one statement each (SQLite, sqliteSQL).
	Arrays bool
	// CacheStatements prepares the writers' statements once and reuses them
	// (for drivers that do not cache them, such as SQLite's).
	CacheStatements bool
	// SyncCommits, if set, makes every commit so far durable: the database's
	// commits return before they are on disk, and the store calls this off
	// the writer's path before it answers them or shows them to readers
	// (SQLite: synchronous=NORMAL, then the WAL file is synced; see
	// durable.go).
	SyncCommits func() error
	// Retryable reports errors after which an operation may simply be run
	// again (deadlock, serialisation failure).
	Retryable func(error) bool
}

// rebind rewrites placeholders for the dialect. Queries in this package never
// contain a literal question mark.
func (d *Dialect) rebind(q string) string {
	if !d.NumberedParams {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// sqlDialect is the SQL that differs between the databases, with one
// implementation each: postgresSQL (dialect_postgres.go) and sqliteSQL
// (dialect_sqlite.go). Everything else is written once, with "?"
// placeholders that Dialect.rebind numbers where needed.
type sqlDialect interface {
	// set is a SELECT of the values of cols (tuples when two columns are
	// given), as the %s of "IN (%s)", and its arguments: the statement's
	// text does not depend on the number of values.
	set(cols [][]string) (string, []any)
	// prefetchKeysEvents reads the batch's idempotency keys into t.keys and
	// marks the batch's earn events that exist in t.events; it may reserve
	// entry numbers for the batch's jobs as well.
	prefetchKeysEvents(ctx context.Context, t *txn, keys, evMembers, evIDs []string, jobs int) error
	// reserveSeqs appends n unused entry numbers to t.seqs.
	reserveSeqs(ctx context.Context, t *txn, n int) error
	// writeEventsLots writes the buffered events (and their daily activity)
	// and lots, and empties their buffers.
	writeEventsLots(ctx context.Context, t *txn) error
	// writeRows writes every buffered row (events, activity, lots, entries,
	// idempotency keys) and the changed balances, and empties the buffers.
	writeRows(ctx context.Context, t *txn) error
	// addSpend adds granted[i] to the spend of campaign names[i].
	addSpend(ctx context.Context, t *txn, names []string, granted []int64) error
	// setMemberGrants sets what campaign names[i] granted members[i].
	setMemberGrants(ctx context.Context, t *txn, members, names []string, granted []int64) error
	// takeLots consumes up to want points of the member's lots (see the
	// function takeLots) and returns the points taken.
	takeLots(ctx context.Context, t *txn, memberID, state, eventID string, want int64) (int64, error)
	// setLotsRemaining sets the remaining points of the lots ids.
	setLotsRemaining(ctx context.Context, t *txn, ids, remaining []int64) error
	// identityOverride is what an INSERT giving identity columns their
	// values needs after its column list.
	identityOverride() string
	// afterImport brings the database's own counters past imported ids.
	afterImport(ctx context.Context, tx *sql.Tx) error
	// writeOutbox appends events to the outbox with the next sequence
	// numbers, in order (see flushOutbox).
	writeOutbox(ctx context.Context, t *txn, rows []outboxRow) error
}

// sql is the dialect's SQL; a nil Dialect (in tests of the buffers) has
// SQLite's.
func (d *Dialect) sql() sqlDialect {
	if d != nil && d.Arrays {
		return postgresSQL{}
	}
	return sqliteSQL{}
}
