package sqlstore

import (
	"context"
	"database/sql"
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
func (t *txn) reserveSeqs(ctx context.Context, n int) error { return t.dialect.reserveSeqs(ctx, t, n) }

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
	return t.dialect.writeEventsLots(ctx, t)
}

// flushAll writes every buffered row and balance.
func (t *txn) flushAll(ctx context.Context) error {
	t.flushes++
	if err := t.flushLotTakes(ctx); err != nil {
		return err
	}
	if err := t.dialect.writeRows(ctx, t); err != nil {
		return err
	}
	// Campaign spend rows are shared by every writer: they are written
	// last, so that their locks are held for the commit only; the outbox
	// head after them, shared by every writer too.
	if err := t.flushGrants(ctx); err != nil {
		return err
	}
	return t.flushOutbox(ctx)
}

// noExpiry stands for a NULL expiry in arrays.
const noExpiry = math.MinInt64

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
