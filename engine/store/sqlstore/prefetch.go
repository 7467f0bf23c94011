package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

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
