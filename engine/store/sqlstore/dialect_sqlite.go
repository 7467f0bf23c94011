package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// sqliteSQL is the SQL of a database without array parameters or sequences
// (SQLite): sets are passed as one JSON document, and buffered rows are
// written a statement per row, which an in-process database answers
// without a round trip.
type sqliteSQL struct{}

func (sqliteSQL) set(cols [][]string) (string, []any) {
	var b strings.Builder
	b.WriteByte('[')
	for i := range cols[0] {
		if i > 0 {
			b.WriteByte(',')
		}
		if len(cols) == 1 {
			writeJSONString(&b, cols[0][i])
			continue
		}
		b.WriteByte('[')
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, cols[c][i])
		}
		b.WriteByte(']')
	}
	b.WriteByte(']')
	if len(cols) == 1 {
		return `SELECT value FROM json_each(?)`, []any{b.String()}
	}
	return `SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)`, []any{b.String()}
}

func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

func (sqliteSQL) prefetchKeysEvents(ctx context.Context, t *txn, keys, evMembers, evIDs []string, _ int) error {
	if len(keys) > 0 {
		err := t.listQuery(ctx, `SELECT idem_key, request_hash, result FROM idempotency_keys WHERE idem_key IN (%s)`,
			[][]string{keys}, func(rows *sql.Rows) error {
				var k, h, r string
				if err := rows.Scan(&k, &h, &r); err != nil {
					return err
				}
				return t.knownKey(k, h, r)
			})
		if err != nil {
			return fmt.Errorf("read idempotency keys: %w", err)
		}
	}
	if len(evIDs) == 0 {
		return nil
	}
	err := t.listQuery(ctx, `SELECT member_id, event_id FROM events WHERE (member_id, event_id) IN (%s)`,
		[][]string{evMembers, evIDs}, func(rows *sql.Rows) error {
			var m, e string
			if err := rows.Scan(&m, &e); err != nil {
				return err
			}
			t.events[eventKey{m, e}] = true
			return nil
		})
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	return nil
}

// reserveSeqs numbers entries after the highest, read once per batch: the
// transaction holds the database's only write lock.
func (sqliteSQL) reserveSeqs(ctx context.Context, t *txn, n int) error {
	if t.seqNext == 0 {
		rows, err := t.rawQuery(ctx, `SELECT COALESCE(MAX(seq), 0) FROM entries`)
		if err != nil {
			return fmt.Errorf("reserve entry numbers: %w", err)
		}
		defer rows.Close()
		if !rows.Next() {
			return t.fail(fmt.Errorf("reserve entry numbers: %w", rows.Err()))
		}
		if err := rows.Scan(&t.seqNext); err != nil {
			return t.fail(fmt.Errorf("reserve entry numbers: %w", err))
		}
		t.seqNext++
	}
	for range n {
		t.seqs = append(t.seqs, t.seqNext)
		t.seqNext++
	}
	return nil
}

func (d sqliteSQL) writeEventsLots(ctx context.Context, t *txn) error {
	if err := d.writeEvents(ctx, t); err != nil {
		return err
	}
	return d.writeLots(ctx, t)
}

func (d sqliteSQL) writeRows(ctx context.Context, t *txn) error {
	for _, f := range []func(context.Context, *txn) error{d.writeEvents, d.writeLots, d.writeEntries, d.writeKeys, d.writeBalances} {
		if err := f(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

func (sqliteSQL) writeEvents(ctx context.Context, t *txn) error {
	rows := t.newEvents
	if len(rows) == 0 {
		return nil
	}
	t.newEvents = rows[:0]
	for _, row := range rows {
		if _, err := t.rawExec(ctx, `INSERT INTO events (member_id, event_id, points, reversed, purchase_amount, currency, occurred_at, recorded_at, action, bonuses)
			VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?)`, row.memberID, row.eventID, row.points, row.purchase, row.currency, row.occurred, row.recAt, row.action, row.bonuses); err != nil {
			return fmt.Errorf("insert event: %w", err)
		}
	}
	for _, a := range dailyActivity(rows) {
		if _, err := t.rawExec(ctx, `INSERT INTO member_activity_daily (member_id, day, currency, points, spend) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (member_id, day, currency) DO UPDATE SET points = member_activity_daily.points + excluded.points,
			spend = member_activity_daily.spend + excluded.spend`, a.memberID, a.day, a.currency, a.points, a.spend); err != nil {
			return fmt.Errorf("add activity: %w", err)
		}
	}
	return nil
}

func (sqliteSQL) writeLots(ctx context.Context, t *txn) error {
	rows := t.newLots
	if len(rows) == 0 {
		return nil
	}
	t.newLots = rows[:0]
	for _, row := range rows {
		if _, err := t.rawExec(ctx, `INSERT INTO lots (member_id, event_id, amount, remaining, state, available_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, row.memberID, row.eventID, row.amount, row.amount, row.state, row.availableAt, row.expiresAt); err != nil {
			return fmt.Errorf("insert lot: %w", err)
		}
	}
	return nil
}

func (sqliteSQL) writeEntries(ctx context.Context, t *txn) error {
	rows := t.newEntries
	if len(rows) == 0 {
		return nil
	}
	t.newEntries = rows[:0]
	for _, r := range rows {
		if _, err := t.rawExec(ctx, `INSERT INTO entries (seq, member_id, kind, available, pending, lifetime, event_id, reference, reason, shortfall, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.seq, r.memberID, string(r.e.kind), r.e.available, r.e.pending, r.e.lifetime, r.e.eventID, r.e.reference, r.e.reason, r.e.shortfall, r.e.at.UnixMicro()); err != nil {
			return fmt.Errorf("insert entry: %w", err)
		}
	}
	return nil
}

func (sqliteSQL) writeKeys(ctx context.Context, t *txn) error {
	rows := t.newKeys
	if len(rows) == 0 {
		return nil
	}
	t.newKeys = rows[:0]
	for _, row := range rows {
		if _, err := t.rawExec(ctx, `INSERT INTO idempotency_keys (idem_key, op, request_hash, result, created_at) VALUES (?, ?, ?, ?, ?)`,
			row.key, row.op, row.hash, storedResult(row.result), row.createdAt); err != nil {
			return fmt.Errorf("store idempotency key: %w", err)
		}
	}
	return nil
}

func (sqliteSQL) writeBalances(ctx context.Context, t *txn) error {
	rows := t.dirty
	if len(rows) == 0 {
		return nil
	}
	t.dirty = rows[:0]
	for _, m := range rows {
		m.dirty = false
	}
	for _, m := range rows {
		if _, err := t.rawExec(ctx, `UPDATE members SET available = ?, pending = ?, lifetime = ?, last_activity_at = ? WHERE id = ?`,
			m.bal.Available, m.bal.Pending, m.bal.LifetimeEarned, m.lastActivity, m.id); err != nil {
			return fmt.Errorf("update balance: %w", err)
		}
	}
	return nil
}

func (sqliteSQL) addSpend(ctx context.Context, t *txn, names []string, granted []int64) error {
	q := fmt.Sprintf(spendAdd, `VALUES (?, ?)`)
	for i, name := range names {
		if _, err := t.rawExec(ctx, q, name, granted[i]); err != nil {
			return fmt.Errorf("add to spend of campaign %s: %w", name, err)
		}
	}
	return nil
}

func (sqliteSQL) setMemberGrants(ctx context.Context, t *txn, members, names []string, granted []int64) error {
	q := fmt.Sprintf(memberCampaignsUpsert, `VALUES (?, ?, ?)`)
	for i := range members {
		if _, err := t.rawExec(ctx, q, members[i], names[i], granted[i]); err != nil {
			return fmt.Errorf("update bonus of campaign %s to %s: %w", names[i], members[i], err)
		}
	}
	return nil
}

// takeLots reads the lots in chunks, in consumption order, and takes from
// each with its own statement.
func (sqliteSQL) takeLots(ctx context.Context, tx *txn, memberID, state, eventID string, want int64) (int64, error) {
	cond := `member_id = ? AND state = ? AND remaining > 0`
	args := []any{memberID, state}
	if eventID != "" {
		cond += ` AND event_id = ?`
		args = append(args, eventID)
	}
	cond += ` ORDER BY (expires_at IS NULL), expires_at, id LIMIT ?`
	args = append(args, takeLotsChunk)
	var taken int64
	for taken < want {
		lots, err := lotsWhere(ctx, tx, cond, args...)
		if err != nil {
			return taken, err
		}
		for _, l := range lots {
			n := min(l.remaining, want-taken)
			q, qargs := setRemaining(l.id, l.remaining-n)
			if _, err := tx.exec(ctx, q, qargs...); err != nil {
				return taken, fmt.Errorf("consume lot: %w", err)
			}
			taken += n
			if taken == want {
				break
			}
		}
		if len(lots) < takeLotsChunk {
			break
		}
	}
	return taken, nil
}

func (sqliteSQL) setLotsRemaining(ctx context.Context, t *txn, ids, remaining []int64) error {
	for i, id := range ids {
		q, args := setRemaining(id, remaining[i])
		if _, err := t.rawExec(ctx, q, args...); err != nil {
			return t.fail(fmt.Errorf("consume lot: %w", err))
		}
	}
	return nil
}

// identityOverride is empty: SQLite takes explicit values of its
// AUTOINCREMENT columns as they are.
func (sqliteSQL) identityOverride() string { return "" }

// afterImport has nothing to do: AUTOINCREMENT follows explicit ids by
// itself.
func (sqliteSQL) afterImport(context.Context, *sql.Tx) error { return nil }

// writeOutbox appends the events one statement each: the sequence is the
// AUTOINCREMENT rowid, which is never reused after pruning, and commit
// order is sequence order since the transaction holds the only write lock.
func (sqliteSQL) writeOutbox(ctx context.Context, t *txn, rows []outboxRow) error {
	for _, r := range rows {
		if _, err := t.rawExec(ctx, `INSERT INTO outbox (id, type, member_id, occurred_at, data) VALUES (?, ?, ?, ?, ?)`,
			r.id, string(r.typ), r.memberID, r.occurred, r.data); err != nil {
			return err
		}
	}
	return nil
}
