package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// A member redeemed from several times in one batch (a hot member) would
// update the same lot rows once per operation; on PostgreSQL each update of
// a row already updated in the transaction costs more than the last. So a
// member with more than one job in the batch has their live lots of a state
// read once, consumed in memory, and each changed lot written once: before
// the next statement of the batch (which may read lots) or at its end.
// Redemptions go the same way: the batch reads the available lots of all
// its redeeming members in one statement (prefetchSpenderLots).

type lotKey struct{ member, state string }

type cachedLot struct {
	id        int64
	eventID   string
	remaining int64
	dirty     bool
}

type lotUndo struct {
	lot   *cachedLot
	saved cachedLot
}

// cachedLots returns the member's live lots in the state, in consumption
// order, reading them when they are not cached.
func (t *txn) cachedLots(ctx context.Context, memberID, state string) ([]*cachedLot, error) {
	k := lotKey{memberID, state}
	if lots, ok := t.lotCache[k]; ok {
		return lots, nil
	}
	read, err := lotsWhere(ctx, t, `member_id = ? AND state = ? AND remaining > 0 ORDER BY (expires_at IS NULL), expires_at, id`, memberID, state)
	if err != nil {
		return nil, err
	}
	lots := make([]*cachedLot, len(read))
	for i, l := range read {
		lots[i] = &cachedLot{id: l.id, eventID: l.eventID, remaining: l.remaining}
	}
	if t.lotCache == nil {
		t.lotCache = map[lotKey][]*cachedLot{}
	}
	t.lotCache[k] = lots
	return lots, nil
}

// prefetchSpenderLots reads the available lots of every member the batch
// redeems from, in one statement, after prefetch locked the members: each
// redemption then takes from memory instead of a statement (a round trip on
// PostgreSQL) of its own, and the changed lots are written together.
func (t *txn) prefetchSpenderLots(ctx context.Context, batch []*job) error {
	var ids []string
	for _, j := range batch {
		if j.spends {
			ids = append(ids, j.memberID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if t.lotCache == nil {
		t.lotCache = make(map[lotKey][]*cachedLot, len(ids))
	}
	for _, id := range ids {
		t.lotCache[lotKey{id, lotAvailable}] = nil // read, even if none are found
	}
	err := t.listQuery(ctx, `SELECT member_id, id, event_id, remaining FROM lots
		WHERE member_id IN (%s) AND state = '`+lotAvailable+`' AND remaining > 0
		ORDER BY member_id, (expires_at IS NULL), expires_at, id`, [][]string{ids}, func(rows *sql.Rows) error {
		var member string
		var l cachedLot
		if err := rows.Scan(&member, &l.id, &l.eventID, &l.remaining); err != nil {
			return err
		}
		k := lotKey{member, lotAvailable}
		t.lotCache[k] = append(t.lotCache[k], &l)
		return nil
	})
	if err != nil {
		clear(t.lotCache)
		return fmt.Errorf("read lots of redeeming members: %w", err)
	}
	return nil
}

// spendsCachedLots reports whether the job redeems from lots the batch
// already read, which it takes without a statement.
func (t *txn) spendsCachedLots(j *job) bool {
	_, ok := t.lotCache[lotKey{j.memberID, lotAvailable}]
	return j.spends && ok
}

// takeCachedLots is takeLots on the cached lots.
func (t *txn) takeCachedLots(ctx context.Context, memberID, state, eventID string, want int64) (int64, error) {
	lots, err := t.cachedLots(ctx, memberID, state)
	if err != nil {
		return 0, err
	}
	var taken int64
	for _, l := range lots {
		if taken == want {
			break
		}
		if l.remaining == 0 || (eventID != "" && l.eventID != eventID) {
			continue
		}
		n := min(l.remaining, want-taken)
		t.lotLog = append(t.lotLog, lotUndo{lot: l, saved: *l})
		if !l.dirty {
			l.dirty = true
			t.dirtyLots = append(t.dirtyLots, l)
		}
		l.remaining -= n
		taken += n
	}
	return taken, nil
}

// flushLotTakes writes the cached lots that changed and forgets the cache:
// the statement about to run may read or change lots.
func (t *txn) flushLotTakes(ctx context.Context) error {
	clear(t.lotCache)
	if len(t.dirtyLots) == 0 {
		return nil
	}
	t.flushes++
	ids := make([]int64, len(t.dirtyLots))
	remaining := make([]int64, len(t.dirtyLots))
	for i, l := range t.dirtyLots {
		ids[i], remaining[i] = l.id, l.remaining
		l.dirty = false
	}
	t.dirtyLots = t.dirtyLots[:0]
	t.lotLog = t.lotLog[:0] // written: only a rollback undoes them now
	t.writes++
	return t.dialect.setLotsRemaining(ctx, t, ids, remaining)
}

// undoLotTakes puts back what the cached lots gave since mark.
func (t *txn) undoLotTakes(mark int) {
	for i := len(t.lotLog) - 1; i >= mark; i-- {
		u := t.lotLog[i]
		*u.lot = u.saved
	}
	t.lotLog = t.lotLog[:mark]
	// Lots no longer changed need no write.
	kept := t.dirtyLots[:0]
	for _, l := range t.dirtyLots {
		if l.dirty {
			kept = append(kept, l)
		}
	}
	t.dirtyLots = kept
}
