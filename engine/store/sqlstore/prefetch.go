package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// prefetch locks the batch's members (in id order, one statement), then
// the spend rows of its budgeted campaigns and the stock rows of its
// rewards, and reads its idempotency keys and earn events, so that most
// operations need no statement of their own.
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
	if err := t.lockMembers(ctx, ids); err != nil {
		return err
	}
	if err := t.lockCampaigns(ctx, batch); err != nil {
		return err
	}
	if err := t.lockRewards(ctx, batch); err != nil {
		return err
	}
	for i := range evIDs {
		t.events[eventKey{evMembers[i], evIDs[i]}] = false
	}
	return t.dialect.prefetchKeysEvents(ctx, t, keys, evMembers, evIDs, len(batch))
}

// lockMembers reads and locks the members of ids, in id order.
func (t *txn) lockMembers(ctx context.Context, ids []string) error {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		t.members[id] = &memberRow{id: id}
	}
	err := t.listQuery(ctx, `SELECT id, available, pending, lifetime, last_activity_at, tier, tags_rev FROM members WHERE id IN (%s) ORDER BY id`+t.d.ForUpdate,
		[][]string{ids}, func(rows *sql.Rows) error {
			var id, tier string
			var b ledger.Balance
			var active, rev int64
			if err := rows.Scan(&id, &b.Available, &b.Pending, &b.LifetimeEarned, &active, &tier, &rev); err != nil {
				return err
			}
			if m := t.members[id]; m != nil {
				m.bal, m.lastActivity, m.tier, m.tagsRev, m.exists = b, active, tier, rev, true
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("lock members: %w", err)
	}
	return nil
}

// knownKey notes an idempotency key read from the database, with its
// request hash and stored result.
func (t *txn) knownKey(key, hash, stored string) error {
	result, err := loadResult(stored)
	if err != nil {
		return fmt.Errorf("read idempotency key %q: %w", key, err)
	}
	t.keys[key] = idemRecord{hash: hash, result: result}
	return nil
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
	err := t.queryRow(ctx, `SELECT available, pending, lifetime, last_activity_at, tier, tags_rev FROM members WHERE id = ?`+t.d.ForUpdate,
		[]any{&m.bal.Available, &m.bal.Pending, &m.bal.LifetimeEarned, &m.lastActivity, &m.tier, &m.tagsRev}, memberID)
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
