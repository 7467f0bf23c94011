package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// txn is a writer's batch transaction. It memoises the members it locked and
// the idempotency keys and events it looked up, and buffers the rows the
// batch's operations append (entries, lots, events, idempotency records,
// balances) until they are written with one statement per table: before a
// statement that reads the table, and at the end of the batch.
type txn struct {
	tx     *sql.Tx
	d      *Dialect
	stmts  *stmtCache
	txStmt map[*sql.Stmt]*sql.Stmt // prepared statements bound to tx
	failed error                   // the first statement that failed; the transaction is unusable

	members map[string]*memberRow
	keys    map[string]idemRecord
	events  map[eventKey]bool // true: the event exists

	// Campaign spend rows locked by the batch and member grants read, with
	// the operations' grants applied; written when the batch ends.
	campaigns       map[string]*grantRow
	memberCampaigns map[memberCampaignKey]*grantRow
	// spendDelta is what campaigns without a budget granted in the batch:
	// their spend is only counted, so their rows are not locked until the
	// batch's end adds it.
	spendDelta map[string]int64
	// grantLog and spendLog hold the values grants replaced, so that a
	// failed operation's grants are undone without copying every row.
	grantLog []grantUndo
	spendLog []spendUndo
	// stock counts the active redemptions of the rewards whose stock rows
	// the batch locked, kept current as it takes and returns stock.
	stock map[string]int64

	// jobsPerMember counts the batch's jobs by member; lotCache holds the
	// live lots of members with several (see lotcache.go).
	jobsPerMember map[string]int
	lotCache      map[lotKey][]*cachedLot
	dirtyLots     []*cachedLot
	lotLog        []lotUndo

	newEvents  []eventRow
	newLots    []lotRow
	newEntries []entryRow
	newKeys    []idemRow
	dirty      []*memberRow // members whose balance changed, in order
	// tierChanged lists members whose tier the transaction changed, for
	// the member cache.
	tierChanged []string

	// afterJobs is work run once every job of the batch applied, in its
	// transaction, by key (one run per key, the last registration wins).
	afterJobs     map[string]func(context.Context, *txn) error
	afterJobOrder []string

	seqs      []int64 // entry sequence numbers reserved and not yet used
	seqNext   int64   // SQLite: the next entry number, 0 until read
	remaining int     // jobs left in the batch, a hint for reserving seqs

	writes  int // statements that changed rows
	appends int // rows buffered
	flushes int
}

type memberRow struct {
	id  string
	bal ledger.Balance
	// tier is the member's tier, kept current when the batch changes it.
	tier string
	// lastActivity is when the member last earned, redeemed or was
	// adjusted (Unix microseconds), for expiry after inactivity.
	lastActivity int64
	exists       bool
	dirty        bool
}

type idemRecord struct {
	hash   string
	result []byte
}

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

func newTxn(tx *sql.Tx, d *Dialect, stmts *stmtCache) *txn {
	return &txn{
		tx: tx, d: d, stmts: stmts,
		members: make(map[string]*memberRow),
		keys:    make(map[string]idemRecord),
		events:  make(map[eventKey]bool),

		campaigns:       make(map[string]*grantRow),
		memberCampaigns: make(map[memberCampaignKey]*grantRow),
		spendDelta:      make(map[string]int64),
	}
}

// opMark is the buffered state before an operation, to undo a failed one.
type opMark struct {
	member                             *memberRow
	saved                              memberRow
	events, lots, entries, keys, dirty int
	writes, appends, flushes           int
	grantLog, spendLog, lotLog         int
}

type grantUndo struct {
	row *grantRow
	old grantRow
}

type spendUndo struct {
	campaign string
	old      int64
}

func (t *txn) mark(memberID string) opMark {
	m := opMark{
		member: t.members[memberID],
		events: len(t.newEvents), lots: len(t.newLots), entries: len(t.newEntries), keys: len(t.newKeys),
		dirty: len(t.dirty), writes: t.writes, appends: t.appends, flushes: t.flushes,
		grantLog: len(t.grantLog), spendLog: len(t.spendLog), lotLog: len(t.lotLog),
	}
	if m.member != nil {
		m.saved = *m.member
	}
	return m
}

// grant adds n to a grant row, remembering its value for undo.
func (t *txn) grant(g *grantRow, n int64) {
	t.grantLog = append(t.grantLog, grantUndo{row: g, old: *g})
	g.granted += n
	g.dirty = true
}

// addSpend counts n granted by a campaign without a budget, remembering
// the count for undo.
func (t *txn) addSpend(campaign string, n int64) {
	t.spendLog = append(t.spendLog, spendUndo{campaign: campaign, old: t.spendDelta[campaign]})
	t.spendDelta[campaign] += n
}

// undo drops what a failed operation buffered. It reports false if the
// operation already wrote to the database, so only a rollback undoes it.
func (t *txn) undo(m opMark) bool {
	if t.writes != m.writes || (t.flushes != m.flushes && t.appends != m.appends) {
		return false
	}
	if t.flushes == m.flushes {
		for _, ev := range t.newEvents[m.events:] {
			t.events[eventKey{ev.memberID, ev.eventID}] = false
		}
		t.newEvents = t.newEvents[:m.events]
		t.newLots = t.newLots[:m.lots]
		t.newEntries = t.newEntries[:m.entries]
		t.newKeys = t.newKeys[:m.keys]
	}
	if len(t.dirty) > m.dirty {
		t.dirty = t.dirty[:m.dirty]
	}
	if m.member != nil {
		*m.member = m.saved
	}
	// Newest first, so that a row granted twice gets its first value back.
	for i := len(t.grantLog) - 1; i >= m.grantLog; i-- {
		*t.grantLog[i].row = t.grantLog[i].old
	}
	t.grantLog = t.grantLog[:m.grantLog]
	for i := len(t.spendLog) - 1; i >= m.spendLog; i-- {
		u := t.spendLog[i]
		if u.old == 0 {
			delete(t.spendDelta, u.campaign)
		} else {
			t.spendDelta[u.campaign] = u.old
		}
	}
	t.spendLog = t.spendLog[:m.spendLog]
	t.undoLotTakes(m.lotLog)
	return true
}

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

// prefetch locks the batch's members (in id order, one statement) and reads
// its idempotency keys and earn events, so that most operations need no
// statement of their own.
func (t *txn) prefetch(ctx context.Context, batch []*job) error {
	ids := make([]string, 0, len(batch))
	var keys []string
	var evMembers, evIDs []string
	for _, j := range batch {
		ids = append(ids, j.memberID)
		ids = append(ids, j.members...)
		if j.key != "" {
			keys = append(keys, j.key)
		}
		if j.eventID != "" {
			evMembers = append(evMembers, j.memberID)
			evIDs = append(evIDs, j.eventID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		t.members[id] = &memberRow{id: id}
	}
	err := t.listQuery(ctx, `SELECT id, available, pending, lifetime, last_activity_at, tier FROM members WHERE id IN (%s) ORDER BY id`+t.d.ForUpdate,
		[][]string{ids}, func(rows *sql.Rows) error {
			var id, tier string
			var b ledger.Balance
			var active int64
			if err := rows.Scan(&id, &b.Available, &b.Pending, &b.LifetimeEarned, &active, &tier); err != nil {
				return err
			}
			if m := t.members[id]; m != nil {
				m.bal, m.lastActivity, m.tier, m.exists = b, active, tier, true
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("lock members: %w", err)
	}
	if err := t.lockCampaigns(ctx, batch); err != nil {
		return err
	}
	if err := t.lockRewards(ctx, batch); err != nil {
		return err
	}
	if t.d.Arrays {
		return t.prefetchArrays(ctx, keys, evMembers, evIDs, len(batch))
	}
	if len(keys) > 0 {
		err := t.listQuery(ctx, `SELECT idem_key, request_hash, result FROM idempotency_keys WHERE idem_key IN (%s)`,
			[][]string{keys}, func(rows *sql.Rows) error {
				var k, h, r string
				if err := rows.Scan(&k, &h, &r); err != nil {
					return err
				}
				result, err := loadResult(r)
				if err != nil {
					return fmt.Errorf("key %q: %w", k, err)
				}
				t.keys[k] = idemRecord{hash: h, result: result}
				return nil
			})
		if err != nil {
			return fmt.Errorf("read idempotency keys: %w", err)
		}
	}
	if len(evIDs) > 0 {
		for i := range evIDs {
			t.events[eventKey{evMembers[i], evIDs[i]}] = false
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
	}
	return nil
}

// prefetchArrays reads the batch's idempotency keys and events and reserves
// entry numbers in one round trip. It runs after the members are locked, so
// that its snapshot includes what other transactions committed for them.
func (t *txn) prefetchArrays(ctx context.Context, keys, evMembers, evIDs []string, seqs int) error {
	for i := range evIDs {
		t.events[eventKey{evMembers[i], evIDs[i]}] = false
	}
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
			result, err := loadResult(c)
			if err != nil {
				return t.fail(fmt.Errorf("read idempotency key %q: %w", a, err))
			}
			t.keys[a] = idemRecord{hash: b, result: result}
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

// listQuery runs q with its %s replaced by a set of values (tuples when
// several columns are given), passed as arrays on PostgreSQL and as one JSON
// document on SQLite, so the statement text does not depend on the count.
func (t *txn) listQuery(ctx context.Context, q string, cols [][]string, row func(*sql.Rows) error) error {
	set, args := listSet(t.d, cols)
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

// listSet is the set expression and arguments of listQuery.
func listSet(d *Dialect, cols [][]string) (set string, args []any) {
	if d.Arrays {
		if len(cols) == 1 {
			set = `SELECT unnest($1::text[])`
		} else {
			set = `SELECT * FROM unnest($1::text[], $2::text[])`
		}
		for _, c := range cols {
			args = append(args, c)
		}
	} else {
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
			set = `SELECT value FROM json_each(?)`
		} else {
			set = `SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)`
		}
		args = []any{b.String()}
	}
	return set, args
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

// member returns the member's row, locked by prefetch or now.
func (t *txn) member(ctx context.Context, memberID string) (*memberRow, error) {
	if m, ok := t.members[memberID]; ok {
		if !m.exists {
			return nil, ledger.ErrMemberNotFound
		}
		return m, nil
	}
	m := &memberRow{id: memberID}
	err := t.queryRow(ctx, `SELECT available, pending, lifetime, last_activity_at, tier FROM members WHERE id = ?`+t.d.ForUpdate,
		[]any{&m.bal.Available, &m.bal.Pending, &m.bal.LifetimeEarned, &m.lastActivity, &m.tier}, memberID)
	if errors.Is(err, sql.ErrNoRows) {
		t.members[memberID] = m
		return nil, ledger.ErrMemberNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("lock member: %w", err)
	}
	m.exists = true
	t.members[memberID] = m
	return m, nil
}

// eventExists reports whether the member already recorded the event.
func (t *txn) eventExists(ctx context.Context, memberID, eventID string) (bool, error) {
	if ok, known := t.events[eventKey{memberID, eventID}]; known {
		return ok, nil
	}
	var one int
	err := t.queryRow(ctx, `SELECT 1 FROM events WHERE member_id = ? AND event_id = ?`, []any{&one}, memberID, eventID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read event: %w", err)
	}
	return true, nil
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

// after registers work to run once every job of the batch applied, in the
// batch's transaction; a later registration under the same key replaces it.
func (t *txn) after(key string, f func(context.Context, *txn) error) {
	if t.afterJobs == nil {
		t.afterJobs = make(map[string]func(context.Context, *txn) error)
	}
	if _, ok := t.afterJobs[key]; !ok {
		t.afterJobOrder = append(t.afterJobOrder, key)
	}
	t.afterJobs[key] = f
}

// runAfterJobs runs the registered work in the order it was first registered.
func (t *txn) runAfterJobs(ctx context.Context) error {
	for _, key := range t.afterJobOrder {
		if err := t.afterJobs[key](ctx, t); err != nil {
			return err
		}
	}
	return nil
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

// The array forms of the buffered writes, as statements with "?"
// placeholders; flushAll runs them together as one statement on PostgreSQL.

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
