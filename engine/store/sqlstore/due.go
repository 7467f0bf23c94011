package sqlstore

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// ProcessDue implements ledger.Ledger. It finds members with due lots and
// hands each to its writer, so releases and expiries are batched like other
// writes and serialised with them per member.
func (s *Store) ProcessDue(ctx context.Context, opts ledger.DueOptions) (ledger.ProcessDueResult, error) {
	now := opts.Now
	if now.IsZero() {
		now = s.now()
	}
	now = ledger.NormTime(now)
	// Members whose last activity is at or before the cutoff are inactive;
	// without an inactivity expiry no time qualifies.
	inactiveBy := int64(math.MinInt64)
	if opts.ExpireAfterInactivity > 0 {
		inactiveBy = now.Add(-opts.ExpireAfterInactivity).UnixMicro()
	}
	const page = 500
	var total ledger.ProcessDueResult
	for {
		members, err := s.dueMembers(ctx, now, inactiveBy, page)
		if err != nil {
			return total, err
		}
		results := make([]ledger.ProcessDueResult, len(members))
		errs := make([]error, len(members))
		var wg sync.WaitGroup
		for i, id := range members {
			wg.Go(func() {
				j := &job{memberID: id, done: make(chan jobResult, 1), apply: func(ctx context.Context, tx *txn) (any, []byte, error) {
					r, err := s.processMember(ctx, tx, id, now, inactiveBy)
					if err != nil {
						return nil, nil, err
					}
					return r, nil, nil
				}}
				if errs[i] = s.submit(ctx, j); errs[i] != nil {
					return
				}
				r := wait(ctx, j)
				if errs[i] = r.err; r.err == nil {
					results[i] = r.val.(ledger.ProcessDueResult)
				}
			})
		}
		wg.Wait()
		for i := range members {
			if errs[i] != nil {
				return total, fmt.Errorf("process due lots of %s: %w", members[i], errs[i])
			}
			total.ReleasedLots += results[i].ReleasedLots
			total.ReleasedPoints += results[i].ReleasedPoints
			total.ExpiredLots += results[i].ExpiredLots
			total.ExpiredPoints += results[i].ExpiredPoints
			total.InactiveMembers += results[i].InactiveMembers
			total.InactiveExpiredPoints += results[i].InactiveExpiredPoints
		}
		if len(members) < page {
			break
		}
	}
	if len(opts.Tiers) > 0 {
		if err := s.processTiers(ctx, opts.Tiers, opts.TierPassRate, now, &total); err != nil {
			return total, err
		}
	}
	return total, nil
}

func (s *Store) dueMembers(ctx context.Context, now time.Time, inactiveBy int64, limit int) ([]string, error) {
	rows, err := s.cfg.ReadDB.QueryContext(ctx, s.cfg.Dialect.rebind(`
		SELECT member_id FROM lots WHERE state = 'pending' AND available_at <= ?
		UNION
		SELECT member_id FROM lots WHERE state = 'available' AND remaining > 0 AND expires_at <= ?
		UNION
		SELECT id FROM members WHERE last_activity_at <= ? AND (available > 0 OR pending > 0)
		LIMIT ?`), now.UnixMicro(), now.UnixMicro(), inactiveBy, limit)
	if err != nil {
		return nil, fmt.Errorf("find due lots: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("find due lots: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find due lots: %w", err)
	}
	return ids, nil
}

// processMember releases, then expires, the member's due lots, one entry per
// lot; a member inactive since inactiveBy then loses every live lot.
func (s *Store) processMember(ctx context.Context, tx *txn, memberID string, now time.Time, inactiveBy int64) (ledger.ProcessDueResult, error) {
	var r ledger.ProcessDueResult
	m, err := lockMember(ctx, tx, memberID)
	if err != nil {
		return r, err
	}
	due, err := lotsWhere(ctx, tx, `member_id = ? AND state = 'pending' AND available_at <= ? ORDER BY available_at, id`, memberID, now.UnixMicro())
	if err != nil {
		return r, err
	}
	for _, l := range due {
		// A pending lot reversed to nothing is released spent.
		if _, err := tx.exec(ctx, `UPDATE lots SET state = CASE WHEN remaining > 0 THEN 'available' ELSE 'spent' END WHERE id = ?`, l.id); err != nil {
			return r, fmt.Errorf("release lot: %w", err)
		}
		if l.remaining > 0 {
			if _, _, err = changeBalance(ctx, tx, m, entry{kind: ledger.EntryRelease, available: l.remaining, pending: -l.remaining, eventID: l.eventID, at: now}); err != nil {
				return r, err
			}
		}
		r.ReleasedLots++
		r.ReleasedPoints += l.remaining
	}
	expired, err := lotsWhere(ctx, tx, `member_id = ? AND state = 'available' AND remaining > 0 AND expires_at <= ? ORDER BY expires_at, id`, memberID, now.UnixMicro())
	if err != nil {
		return r, err
	}
	for _, l := range expired {
		if _, err := tx.exec(ctx, `UPDATE lots SET state = 'expired', remaining = 0 WHERE id = ?`, l.id); err != nil {
			return r, fmt.Errorf("expire lot: %w", err)
		}
		if _, _, err = changeBalance(ctx, tx, m, entry{kind: ledger.EntryExpire, available: -l.remaining, eventID: l.eventID, at: now}); err != nil {
			return r, err
		}
		r.ExpiredLots++
		r.ExpiredPoints += l.remaining
	}
	// Checked again under the member's lock: a write since dueMembers may
	// have made the member active.
	if m.lastActivity > inactiveBy || m.bal.Available+m.bal.Pending == 0 {
		return r, nil
	}
	for _, state := range []string{lotPending, lotAvailable} {
		live, err := lotsWhere(ctx, tx, `member_id = ? AND state = ? AND remaining > 0 ORDER BY id`, memberID, state)
		if err != nil {
			return r, err
		}
		for _, l := range live {
			if _, err := tx.exec(ctx, `UPDATE lots SET state = 'expired', remaining = 0 WHERE id = ?`, l.id); err != nil {
				return r, fmt.Errorf("expire lot of inactive member: %w", err)
			}
			e := entry{kind: ledger.EntryExpire, available: -l.remaining, eventID: l.eventID, reason: "inactivity", at: now}
			if state == lotPending {
				e.available, e.pending = 0, -l.remaining
			}
			if _, _, err = changeBalance(ctx, tx, m, e); err != nil {
				return r, err
			}
			r.ExpiredLots++
			r.ExpiredPoints += l.remaining
			r.InactiveExpiredPoints += l.remaining
		}
	}
	r.InactiveMembers++
	return r, nil
}
