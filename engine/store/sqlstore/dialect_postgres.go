package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// postgresSQL is the SQL of a database with array parameters and sequences
// (PostgreSQL): a batch writes each table with one statement, all of them
// in one round trip at its end, sets are passed as arrays, and entry
// numbers come from the sequence that every process shares.
type postgresSQL struct{}

func (postgresSQL) set(cols [][]string) (string, []any) {
	args := make([]any, len(cols))
	for i, c := range cols {
		args[i] = c
	}
	if len(cols) == 1 {
		return `SELECT unnest($1::text[])`, args
	}
	return `SELECT * FROM unnest($1::text[], $2::text[])`, args
}

// prefetchKeysEvents reads the batch's idempotency keys and events and
// reserves entry numbers in one round trip. It runs after the members are
// locked, so that its snapshot includes what other transactions committed
// for them.
func (postgresSQL) prefetchKeysEvents(ctx context.Context, t *txn, keys, evMembers, evIDs []string, seqs int) error {
	rows, err := t.rawQuery(ctx, `SELECT 0, idem_key, request_hash, result FROM idempotency_keys WHERE idem_key = ANY($1::text[])
		UNION ALL
		SELECT 1, member_id, event_id, '' FROM events WHERE (member_id, event_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
		UNION ALL
		SELECT 2, nextval(pg_get_serial_sequence('entries', 'seq'))::text, '', '' FROM generate_series(1, $4)`,
		keys, evMembers, evIDs, seqs)
	if err != nil {
		return fmt.Errorf("read keys and events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind int
		var a, b, c string
		if err := rows.Scan(&kind, &a, &b, &c); err != nil {
			return t.fail(fmt.Errorf("read keys and events: %w", err))
		}
		switch kind {
		case 0:
			if err := t.knownKey(a, b, c); err != nil {
				return t.fail(err)
			}
		case 1:
			t.events[eventKey{a, b}] = true
		case 2:
			seq, err := strconv.ParseInt(a, 10, 64)
			if err != nil {
				return t.fail(fmt.Errorf("reserve entry numbers: %w", err))
			}
			t.seqs = append(t.seqs, seq)
		}
	}
	if err := rows.Err(); err != nil {
		return t.fail(fmt.Errorf("read keys and events: %w", err))
	}
	return nil
}

// reserveSeqs takes n entry numbers from the sequence.
func (postgresSQL) reserveSeqs(ctx context.Context, t *txn, n int) error {
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

func (postgresSQL) writeEventsLots(ctx context.Context, t *txn) error {
	if len(t.newEvents) > 0 {
		act := activityArrays(t.newEvents)
		if err := t.execArrays(ctx, "insert events", eventsInsert, t.eventArrays()); err != nil {
			return err
		}
		if err := t.execArrays(ctx, "add activity", activityUpsert, act); err != nil {
			return err
		}
	}
	if len(t.newLots) > 0 {
		return t.execArrays(ctx, "insert lots", lotsInsert, t.lotArrays())
	}
	return nil
}

func (postgresSQL) addSpend(ctx context.Context, t *txn, names []string, granted []int64) error {
	q := fmt.Sprintf(spendAdd, `SELECT c, n FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS d(c, n, i) ORDER BY i`)
	if _, err := t.rawExec(ctx, q, names, granted); err != nil {
		return fmt.Errorf("add to campaigns' spend: %w", err)
	}
	return nil
}

func (postgresSQL) setMemberGrants(ctx context.Context, t *txn, members, names []string, granted []int64) error {
	q := fmt.Sprintf(memberCampaignsUpsert, `SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])`)
	if _, err := t.rawExec(ctx, q, members, names, granted); err != nil {
		return fmt.Errorf("update campaign bonuses: %w", err)
	}
	return nil
}

// takeLots takes in one statement (one round trip): a running sum over the
// lots in consumption order picks the lots and the points each gives.
func (postgresSQL) takeLots(ctx context.Context, tx *txn, memberID, state, eventID string, want int64) (int64, error) {
	rows, err := tx.query(ctx, `WITH c AS (
			SELECT id, remaining, CAST(SUM(remaining) OVER (ORDER BY (expires_at IS NULL), expires_at, id) AS BIGINT) AS cum
			FROM lots WHERE member_id = ? AND state = ? AND remaining > 0 AND (? = '' OR event_id = ?)
		), t AS (
			SELECT id, LEAST(remaining, CAST(? AS BIGINT) - (cum - remaining)) AS take FROM c WHERE cum - remaining < CAST(? AS BIGINT)
		)
		UPDATE lots SET remaining = lots.remaining - t.take,
			state = CASE WHEN lots.state = 'available' AND lots.remaining = t.take THEN 'spent' ELSE lots.state END
		FROM t WHERE lots.id = t.id RETURNING t.take`,
		memberID, state, eventID, eventID, want, want)
	if err != nil {
		return 0, fmt.Errorf("consume lots: %w", err)
	}
	defer rows.Close()
	var taken int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return taken, tx.fail(fmt.Errorf("consume lots: %w", err))
		}
		taken += n
	}
	if err := rows.Err(); err != nil {
		return taken, tx.fail(fmt.Errorf("consume lots: %w", err))
	}
	if taken > 0 {
		tx.writes++
	}
	return taken, nil
}

func (postgresSQL) setLotsRemaining(ctx context.Context, t *txn, ids, remaining []int64) error {
	// An emptied available lot is spent (see setRemaining); PostgreSQL
	// compares the state it sets to the old one, so a lot left with
	// points is still updated in place.
	if _, err := t.rawExec(ctx, `UPDATE lots SET remaining = u.remaining,
			state = CASE WHEN u.remaining = 0 AND lots.state = 'available' THEN 'spent' ELSE lots.state END
		FROM unnest($1::bigint[], $2::bigint[]) AS u(id, remaining) WHERE lots.id = u.id`, ids, remaining); err != nil {
		return t.fail(fmt.Errorf("consume lots: %w", err))
	}
	return nil
}

// identityOverride lets an INSERT give PostgreSQL's identity columns,
// GENERATED ALWAYS, their values.
func (postgresSQL) identityOverride() string { return " OVERRIDING SYSTEM VALUE" }

// afterImport moves the identity sequences past the imported numbers.
func (postgresSQL) afterImport(ctx context.Context, tx *sql.Tx) error {
	for _, c := range [][2]string{{"lots", "id"}, {"entries", "seq"}} {
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%[1]s', '%[2]s'), MAX(%[2]s)) FROM %[1]s HAVING MAX(%[2]s) IS NOT NULL`, c[0], c[1])
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("advance the %s sequence: %w", c[0], err)
		}
	}
	return nil
}

// The array forms of the buffered writes, as statements with "?"
// placeholders; writeRows runs them together as one statement.

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

func (postgresSQL) writeRows(ctx context.Context, t *txn) error {
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

// outboxAppend numbers the events after the outbox head and moves the head
// past them in one statement. The head's row lock, held until the commit,
// keeps the sequence in commit order and without gaps across writers and
// processes; the events keep their buffered order (ORDINALITY).
const outboxAppend = `WITH h AS (UPDATE outbox_head SET last_seq = last_seq + cardinality($1::text[]) WHERE id = 1 RETURNING last_seq)
	INSERT INTO outbox (seq, id, type, member_id, occurred_at, data)
	SELECT h.last_seq - cardinality($1::text[]) + v.n, v.i, v.t, v.m, v.o, v.d
	FROM h, unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) WITH ORDINALITY AS v(i, t, m, o, d, n)`

func (postgresSQL) writeOutbox(ctx context.Context, t *txn, rows []outboxRow) error {
	n := len(rows)
	id, typ, member, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	occurred := make([]int64, n)
	for i, r := range rows {
		id[i], typ[i], member[i], occurred[i], data[i] = r.id, string(r.typ), r.memberID, r.occurred, string(r.data)
	}
	res, err := t.rawExec(ctx, outboxAppend, id, typ, member, occurred, data)
	if err != nil {
		return err
	}
	if got, err := res.RowsAffected(); err != nil || got != int64(n) {
		return t.fail(fmt.Errorf("appended %d of %d events (%v): the outbox head row is missing", got, n, err))
	}
	return nil
}
