package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements of dialects that do not cache them
// (SQLite's). The writer's database has a single connection, held by the
// batch transaction, so a statement seen for the first time runs unprepared
// and is prepared between batches.
type stmtCache struct {
	db      *sql.DB
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	missing map[string]bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, missing: map[string]bool{}}
}

// get returns the prepared statement, or nil after noting q to prepare.
func (c *stmtCache) get(q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.m[q]
	if st == nil {
		c.missing[q] = true
	}
	return st
}

// prepareMissing prepares the statements noted since; it runs outside
// transactions, and without the lock while it waits for the connection.
func (c *stmtCache) prepareMissing(ctx context.Context) {
	c.mu.Lock()
	var qs []string
	for q := range c.missing {
		qs = append(qs, q)
		delete(c.missing, q)
	}
	c.mu.Unlock()
	for _, q := range qs {
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.m[q] == nil {
			c.m[q] = st
			st = nil
		}
		c.mu.Unlock()
		if st != nil {
			_ = st.Close() // lost the race: the cached twin serves instead
		}
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		_ = st.Close() // the store is closing its connections anyway
	}
	c.m = map[string]*sql.Stmt{}
}
