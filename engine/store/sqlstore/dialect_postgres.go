package sqlstore

import (
	"context"
	"fmt"
)

const eventsInsert = `INSERT INTO events (member_id, event_id, points, reversed, purchase_amount, currency, occurred_at, recorded_at, action, bonuses)
	SELECT m, e, p, 0, pa, c, o, r, a, b FROM unnest(?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[], ?::text[], ?::text[]) AS v(m, e, p, pa, c, o, r, a, b)`

func (t *txn) eventArrays() []any {
	rows := t.newEvents
	t.newEvents = rows[:0]
	n := len(rows)
	m, e, c, a, b := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	p, pa, o, r := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, row := range rows {
		m[i], e[i], c[i], p[i], pa[i], o[i], r[i], a[i], b[i] = row.memberID, row.eventID, row.currency, row.points, row.purchase, row.occurred, row.recAt, row.action, row.bonuses
	}
	return []any{m, e, p, pa, c, o, r, a, b}
}

const activityUpsert = `INSERT INTO member_activity_daily (member_id, day, currency, points, spend)
	SELECT * FROM unnest(?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[])
	ON CONFLICT (member_id, day, currency) DO UPDATE SET points = member_activity_daily.points + excluded.points,
	spend = member_activity_daily.spend + excluded.spend`

func activityArrays(rows []eventRow) []any {
	act := dailyActivity(rows)
	n := len(act)
	m, c := make([]string, n), make([]string, n)
	d, p, s := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, a := range act {
		m[i], d[i], c[i], p[i], s[i] = a.memberID, a.day, a.currency, a.points, a.spend
	}
	return []any{m, d, c, p, s}
}

const lotsInsert = `INSERT INTO lots (member_id, event_id, amount, remaining, state, available_at, expires_at)
	SELECT m, e, a, a, s, av, NULLIF(ex, ?::bigint) FROM unnest(?::text[], ?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[]) WITH ORDINALITY AS v(m, e, a, s, av, ex, n) ORDER BY n`

func (t *txn) lotArrays() []any {
	rows := t.newLots
	t.newLots = rows[:0]
	n := len(rows)
	m, e, s := make([]string, n), make([]string, n), make([]string, n)
	a, av, ex := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, row := range rows {
		m[i], e[i], s[i], a[i], av[i], ex[i] = row.memberID, row.eventID, row.state, row.amount, row.availableAt, noExpiry
		if row.expiresAt.Valid {
			ex[i] = row.expiresAt.Int64
		}
	}
	return []any{int64(noExpiry), m, e, a, s, av, ex}
}

const entriesInsert = `INSERT INTO entries (seq, member_id, kind, available, pending, lifetime, event_id, reference, reason, shortfall, at)
	OVERRIDING SYSTEM VALUE
	SELECT * FROM unnest(?::bigint[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[])`

func (t *txn) entryArrays() []any {
	rows := t.newEntries
	t.newEntries = rows[:0]
	n := len(rows)
	seq, av, pe, li, sh, at := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	m, k, ev, ref, rea := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, r := range rows {
		seq[i], m[i], k[i], av[i], pe[i], li[i] = r.seq, r.memberID, string(r.e.kind), r.e.available, r.e.pending, r.e.lifetime
		ev[i], ref[i], rea[i], sh[i], at[i] = r.e.eventID, r.e.reference, r.e.reason, r.e.shortfall, r.e.at.UnixMicro()
	}
	return []any{seq, m, k, av, pe, li, ev, ref, rea, sh, at}
}

const keysInsert = `INSERT INTO idempotency_keys (idem_key, op, request_hash, result, created_at)
	SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[])`

func (t *txn) keyArrays() []any {
	rows := t.newKeys
	t.newKeys = rows[:0]
	n := len(rows)
	k, o, h, r := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	c := make([]int64, n)
	for i, row := range rows {
		k[i], o[i], h[i], r[i], c[i] = row.key, row.op, row.hash, storedResult(row.result), row.createdAt
	}
	return []any{k, o, h, r, c}
}

const balancesUpdate = `UPDATE members AS m SET available = v.a, pending = v.p, lifetime = v.l, last_activity_at = v.act
	FROM unnest(?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[]) AS v(id, a, p, l, act) WHERE m.id = v.id`

func (t *txn) balanceArrays() []any {
	rows := t.dirty
	t.dirty = rows[:0]
	n := len(rows)
	id := make([]string, n)
	a, p, l, act := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, m := range rows {
		m.dirty = false
		id[i], a[i], p[i], l[i], act[i] = m.id, m.bal.Available, m.bal.Pending, m.bal.LifetimeEarned, m.lastActivity
	}
	return []any{id, a, p, l, act}
}

// flushAllStatement writes events, lots, entries, keys and balances with one
// statement of data-modifying CTEs (one round trip).
var flushAllStatement = `WITH ev AS (` + eventsInsert + `), ad AS (` + activityUpsert + `), lt AS (` + lotsInsert + `), en AS (` + entriesInsert +
	`), ik AS (` + keysInsert + `), mb AS (` + balancesUpdate + `) SELECT 1`

func (t *txn) flushAllArrays(ctx context.Context) error {
	if len(t.newEvents)+len(t.newLots)+len(t.newEntries)+len(t.newKeys)+len(t.dirty) == 0 {
		return nil
	}
	var args []any
	act := activityArrays(t.newEvents)
	args = append(args, t.eventArrays()...)
	args = append(args, act...)
	args = append(args, t.lotArrays()...)
	args = append(args, t.entryArrays()...)
	args = append(args, t.keyArrays()...)
	args = append(args, t.balanceArrays()...)
	rows, err := t.rawQuery(ctx, flushAllSQL, args...)
	if err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	for rows.Next() {
	}
	err = rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return t.fail(fmt.Errorf("write batch: %w", err))
	}
	return nil
}

var flushAllSQL = (&Dialect{NumberedParams: true}).rebind(flushAllStatement)

func (t *txn) execArrays(ctx context.Context, what, q string, args []any) error {
	if _, err := t.rawExec(ctx, t.d.rebind(q), args...); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
