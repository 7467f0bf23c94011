package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// stmt returns the cached statement for q bound to the transaction, or nil.
func (t *txn) stmt(ctx context.Context, q string) *sql.Stmt {
	st := t.stmts.get(q)
	if st == nil {
		return nil
	}
	if ts, ok := t.txStmt[st]; ok {
		return ts
	}
	if t.txStmt == nil {
		t.txStmt = make(map[*sql.Stmt]*sql.Stmt)
	}
	ts := t.tx.StmtContext(ctx, st)
	t.txStmt[st] = ts
	return ts
}

func (t *txn) fail(err error) error {
	if t.failed == nil {
		t.failed = err
	}
	return err
}

// rawExec runs a statement without flushing buffers.
func (t *txn) rawExec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	var (
		res sql.Result
		err error
	)
	if st := t.stmt(ctx, q); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = t.tx.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return nil, t.fail(err)
	}
	return res, nil
}

func (t *txn) rawQuery(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if st := t.stmt(ctx, q); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = t.tx.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, t.fail(err)
	}
	return rows, nil
}

// exec runs a statement of the operation being applied, after writing the
// buffered lots and events it may touch.
func (t *txn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if err := t.flushLotsEvents(ctx); err != nil {
		return nil, err
	}
	res, err := t.rawExec(ctx, t.d.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		t.writes++
	}
	return res, nil
}

func (t *txn) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if err := t.flushLotsEvents(ctx); err != nil {
		return nil, err
	}
	return t.rawQuery(ctx, t.d.rebind(q), args...)
}

// queryRow is query for one row; like sql.Row, errors surface in Scan.
func (t *txn) queryRow(ctx context.Context, q string, dest []any, args ...any) error {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return t.fail(err)
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return t.fail(err)
	}
	return nil
}

// listQuery runs q with its %s replaced by a set of values (tuples when
// several columns are given), passed as arrays on PostgreSQL and as one JSON
// document on SQLite, so the statement text does not depend on the count.
func (t *txn) listQuery(ctx context.Context, q string, cols [][]string, row func(*sql.Rows) error) error {
	set, args := t.dialect.set(cols)
	rows, err := t.rawQuery(ctx, fmt.Sprintf(q, set), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return t.fail(err)
		}
	}
	if err := rows.Err(); err != nil {
		return t.fail(err)
	}
	return nil
}
