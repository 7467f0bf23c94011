package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxReadStatements bounds the read statements kept prepared: reads with a
// list of ids have one text per list length, and a rare one need not stay.
const maxReadStatements = 256

// readStmts keeps the read pool's statements prepared, for dialects whose
// driver parses every statement it is given (SQLite's): parsing costs more
// than running a keyed read. A database/sql statement prepares itself on
// each pooled connection that runs it.
type readStmts struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newReadStmts(db *sql.DB) *readStmts {
	return &readStmts{db: db, m: map[string]*sql.Stmt{}}
}

// get returns q prepared, or nil when it cannot be kept (the cache is full
// or preparing failed; the caller runs q unprepared and sees any error).
func (c *readStmts) get(ctx context.Context, q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st
	}
	if len(c.m) >= maxReadStatements {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.m[q] = st
	return st
}

func (c *readStmts) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		_ = st.Close() // the store is closing its connections anyway
	}
	clear(c.m)
}

// query runs a read on the read pool, prepared where the dialect wants it.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = s.cfg.Dialect.rebind(q)
	if st := s.reads.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.cfg.ReadDB.QueryContext(ctx, q, args...)
}

// queryRow is query for one row.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	q = s.cfg.Dialect.rebind(q)
	if st := s.reads.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.cfg.ReadDB.QueryRowContext(ctx, q, args...)
}
