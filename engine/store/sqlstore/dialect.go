// Package sqlstore implements the ledger rules once over database/sql for the
// SQLite and PostgreSQL stores, which supply a Dialect, connections and
// migrations. Writes go through group-commit writers (see writer.go).
package sqlstore

import (
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
	// entry numbers from the sequence (PostgreSQL).
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
