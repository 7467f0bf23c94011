package sqlstore

import (
	"context"
	"database/sql"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// txn is a writer's batch transaction. It memoises the members it locked and
// the idempotency keys and events it looked up, and buffers the rows the
// batch's operations append (entries, lots, events, idempotency records,
// balances) until they are written with one statement per table: before a
// statement that reads the table, and at the end of the batch.
type txn struct {
	tx *sql.Tx
	d  *Dialect
	// dialect is the SQL that differs between the databases.
	dialect sqlDialect
	stmts   *stmtCache
	txStmt  map[*sql.Stmt]*sql.Stmt // prepared statements bound to tx
	failed  error                   // the first statement that failed; the transaction is unusable

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
	newOutbox  []outboxRow
	dirty      []*memberRow // members whose balance changed, in order
	// cacheDrops lists members whose tier or tags the transaction changed,
	// or that it erased, for the member cache.
	cacheDrops []string

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
	// tagsRev is the revision of the member's tags.
	tagsRev int64
	exists  bool
	dirty   bool
}

type idemRecord struct {
	hash   string
	result []byte
}

func newTxn(tx *sql.Tx, d *Dialect, stmts *stmtCache) *txn {
	return &txn{
		tx: tx, d: d, dialect: d.sql(), stmts: stmts,
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
	outbox                             int
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
	// Only the operation about to run is ever undone, so the grant undo
	// logs of those before are dropped: reused, they do not grow by one
	// entry per campaign of every earn of the batch.
	t.grantLog, t.spendLog = t.grantLog[:0], t.spendLog[:0]
	m := opMark{
		member: t.members[memberID],
		events: len(t.newEvents), lots: len(t.newLots), entries: len(t.newEntries), keys: len(t.newKeys),
		outbox: len(t.newOutbox), dirty: len(t.dirty), writes: t.writes, appends: t.appends, flushes: t.flushes,
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
	// The outbox is only written when the batch ends.
	t.newOutbox = t.newOutbox[:m.outbox]
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
		f := t.afterJobs[key]
		if f == nil {
			continue // run early by an erasure
		}
		if err := f(ctx, t); err != nil {
			return err
		}
	}
	return nil
}
