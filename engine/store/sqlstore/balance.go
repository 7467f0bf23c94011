package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// entry is a ledger line about to be recorded.
type entry struct {
	kind                         ledger.EntryKind
	available, pending, lifetime int64
	eventID, reference, reason   string
	shortfall                    int64
	at                           time.Time
	// quiet entries are reported by their use case (emit), not by
	// changeBalance.
	quiet bool
}

// lockMember returns the member's row, locked for the batch transaction
// where the dialect supports it. Every write to a member's balance, lots or
// entries takes this lock first, so writers in several processes serialise
// per member.
func lockMember(ctx context.Context, tx *txn, memberID string) (*memberRow, error) {
	return tx.member(ctx, memberID)
}

// changeBalance is the one place a member's balance changes: it appends the
// entry that says why and applies the entry's deltas to the balance (and
// the inactivity clock); both are written when the batch ends (flushAll).
// A change that would make the balance negative is refused. The other
// functions of this file are the plain credits and debits built on it.
func changeBalance(ctx context.Context, tx *txn, m *memberRow, e entry) (int64, ledger.Balance, error) {
	bal := m.bal
	bal.Available += e.available
	bal.Pending += e.pending
	bal.LifetimeEarned += e.lifetime
	if bal.Available < 0 || bal.Pending < 0 {
		return 0, m.bal, fmt.Errorf("member %s: %s would make the balance negative: ledger inconsistent", m.id, e.kind)
	}
	seq, err := tx.addEntry(ctx, m, e)
	if err != nil {
		return 0, m.bal, err
	}
	m.bal = bal
	if isActivity(e.kind) {
		m.lastActivity = max(m.lastActivity, e.at.UnixMicro())
	}
	if err := tx.emitEntry(seq, m, e); err != nil {
		return 0, bal, err
	}
	return seq, bal, nil
}

// isActivity reports whether an entry is the member's own doing, which
// resets the inactivity clock. Releases and expiries are the engine's, and a
// reversal is the merchant taking back a refunded purchase: none of them keep
// a dormant balance alive.
func isActivity(k ledger.EntryKind) bool {
	return k == ledger.EntryEarn || k == ledger.EntryRedeem || k == ledger.EntryAdjust
}

// debit takes points from available lots, soonest-expiring first, or fails
// with an InsufficientPointsError. e describes the entry to record.
func (s *Store) debit(ctx context.Context, tx *txn, memberID string, points int64, e entry) (int64, ledger.Balance, error) {
	m, err := lockMember(ctx, tx, memberID)
	if err != nil {
		return 0, ledger.Balance{}, err
	}
	if m.bal.Available < points {
		return 0, m.bal, &ledger.InsufficientPointsError{Needed: points, Available: m.bal.Available}
	}
	taken, err := takeLots(ctx, tx, memberID, lotAvailable, "", points)
	if err != nil {
		return 0, m.bal, err
	}
	if taken != points {
		return 0, m.bal, fmt.Errorf("member %s: available lots hold %d of %d points: ledger inconsistent", memberID, taken, points)
	}
	e.available, e.at = -points, s.now()
	return changeBalance(ctx, tx, m, e)
}

// credit adds an available lot outside any event.
func (s *Store) credit(ctx context.Context, tx *txn, memberID string, points int64, expiresAt time.Time, e entry) (int64, ledger.Balance, error) {
	m, err := lockMember(ctx, tx, memberID)
	if err != nil {
		return 0, ledger.Balance{}, err
	}
	now := s.now()
	insertLot(tx, memberID, "", points, lotAvailable, now, expiresAt)
	e.available, e.lifetime, e.at = points, points, now
	return changeBalance(ctx, tx, m, e)
}
