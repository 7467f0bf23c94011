package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
)

type eventKey struct{ member, event string }

type eventRow struct {
	memberID, eventID, currency, action string
	points, purchase, occurred, recAt   int64
	// bonuses are the campaign bonuses granted, encoded (see eventBonuses).
	bonuses string
}

type lotRow struct {
	memberID, eventID, state string
	amount, availableAt      int64
	expiresAt                sql.NullInt64
}

type entryRow struct {
	seq      int64
	memberID string
	e        entry
}

type idemRow struct {
	key, op, hash string
	result        []byte
	createdAt     int64
}

func (t *txn) addEvent(r eventRow) {
	t.events[eventKey{r.memberID, r.eventID}] = true
	t.newEvents = append(t.newEvents, r)
	t.appends++
}

func (t *txn) addLot(r lotRow) {
	// The member's cached lots of that state no longer hold them all: the
	// next take reads them again, after the new lot is written.
	delete(t.lotCache, lotKey{r.memberID, r.state})
	t.newLots = append(t.newLots, r)
	t.appends++
}

func (t *txn) addKey(r idemRow) {
	t.keys[r.key] = idemRecord{hash: r.hash, result: r.result}
	t.newKeys = append(t.newKeys, r)
	t.appends++
}

// addEntry buffers an entry with the next reserved sequence number.
func (t *txn) addEntry(ctx context.Context, m *memberRow, e entry) (int64, error) {
	if len(t.seqs) == 0 {
		if err := t.reserveSeqs(ctx, max(t.remaining, 1)+8); err != nil {
			return 0, err
		}
	}
	seq := t.seqs[0]
	t.seqs = t.seqs[1:]
	t.newEntries = append(t.newEntries, entryRow{seq: seq, memberID: m.id, e: e})
	if !m.dirty {
		m.dirty = true
		t.dirty = append(t.dirty, m)
	}
	t.appends++
	return seq, nil
}

// reserveSeqs takes n entry sequence numbers: from the sequence on
// PostgreSQL (shared by every process), after the highest on SQLite (whose
// write lock the transaction holds).
func (t *txn) reserveSeqs(ctx context.Context, n int) error {
	if t.d.Arrays {
		rows, err := t.rawQuery(ctx, `SELECT nextval(pg_get_serial_sequence('entries', 'seq')) FROM generate_series(1, $1)`, n)
		if err != nil {
			return fmt.Errorf("reserve entry numbers: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var s int64
			if err := rows.Scan(&s); err != nil {
				return t.fail(fmt.Errorf("reserve entry numbers: %w", err))
			}
			t.seqs = append(t.seqs, s)
		}
		if err := rows.Err(); err != nil {
			return t.fail(fmt.Errorf("reserve entry numbers: %w", err))
		}
		return nil
	}
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

// flushLotsEvents writes buffered lots and events, before a statement that
// may read or update them.
func (t *txn) flushLotsEvents(ctx context.Context) error {
	if err := t.flushLotTakes(ctx); err != nil {
		return err
	}
	if len(t.newEvents) == 0 && len(t.newLots) == 0 {
		return nil
	}
	t.flushes++
	if err := t.flushEvents(ctx); err != nil {
		return err
	}
	return t.flushLots(ctx)
}

// flushAll writes every buffered row and balance.
func (t *txn) flushAll(ctx context.Context) error {
	t.flushes++
	if err := t.flushLotTakes(ctx); err != nil {
		return err
	}
	if t.d.Arrays {
		if err := t.flushAllArrays(ctx); err != nil {
			return err
		}
	} else {
		for _, f := range []func(context.Context) error{t.flushEvents, t.flushLots, t.flushEntries, t.flushKeys, t.flushBalances} {
			if err := f(ctx); err != nil {
				return err
			}
		}
	}
	// Campaign spend rows are shared by every writer: they are written
	// last, so that their locks are held for the commit only.
	return t.flushGrants(ctx)
}

// noExpiry stands for a NULL expiry in arrays.
const noExpiry = math.MinInt64

func (t *txn) flushEvents(ctx context.Context) error {
	rows := t.newEvents
	if len(rows) == 0 {
		return nil
	}
	if t.d.Arrays {
		act := activityArrays(rows)
		if err := t.execArrays(ctx, "insert events", eventsInsert, t.eventArrays()); err != nil {
			return err
		}
		return t.execArrays(ctx, "add activity", activityUpsert, act)
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

// activityDay is the UTC day number of a time in Unix microseconds, the day
// of member_activity_daily.
func activityDay(micros int64) int64 { return micros / dayMicros }

const dayMicros = 24 * 60 * 60 * 1_000_000

type activityRow struct {
	memberID, currency string
	day, points, spend int64
}

// dailyActivity sums new events per member, day and currency, in their
// first order. A new event has nothing reversed, so its spend is its
// purchase amount.
func dailyActivity(rows []eventRow) []activityRow {
	type key struct {
		member, currency string
		day              int64
	}
	idx := make(map[key]int, len(rows))
	var out []activityRow
	for _, r := range rows {
		k := key{r.memberID, r.currency, activityDay(r.occurred)}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, activityRow{memberID: r.memberID, currency: r.currency, day: k.day})
		}
		out[i].points += r.points
		out[i].spend += r.purchase
	}
	return out
}

func (t *txn) flushLots(ctx context.Context) error {
	rows := t.newLots
	if len(rows) == 0 {
		return nil
	}
	if t.d.Arrays {
		return t.execArrays(ctx, "insert lots", lotsInsert, t.lotArrays())
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

func (t *txn) flushEntries(ctx context.Context) error {
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

func (t *txn) flushKeys(ctx context.Context) error {
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

func (t *txn) flushBalances(ctx context.Context) error {
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
