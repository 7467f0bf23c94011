package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// ChangeMembership implements ledger.Ledger: it applies the pure
// transition to the member's stored membership under the member's lock,
// records the change, and credits the streak bonus it earns.
func (s *Store) ChangeMembership(ctx context.Context, req ledger.MembershipRequest) (ledger.MembershipResult, error) {
	norm, err := req.Normalize()
	if err != nil {
		return ledger.MembershipResult{}, err
	}
	op := idemOp{op: ledger.OpMembership, memberID: norm.MemberID, key: req.IdempotencyKey,
		hash: requestHash(ledger.OpMembership, req.Fingerprint, norm)}
	out, replayed, err := write(ctx, s, op, func(ctx context.Context, tx *txn) (ledger.MembershipResult, error) {
		return s.applyMembership(ctx, tx, norm, s.now())
	})
	out.Replayed = replayed
	return out, err
}

func (s *Store) applyMembership(ctx context.Context, tx *txn, r ledger.MembershipRequest, now time.Time) (ledger.MembershipResult, error) {
	now = ledger.NormTime(now)
	m, err := lockMember(ctx, tx, r.MemberID)
	if err != nil {
		return ledger.MembershipResult{}, err
	}
	cur, seq, err := tx.membership(ctx, r.MemberID)
	if err != nil {
		return ledger.MembershipResult{}, err
	}
	if cur != nil && r.Action == ledger.ActionRenew && r.Plan.Name != cur.Name {
		// The membership changed since the service read it.
		return ledger.MembershipResult{}, fmt.Errorf("%w: the member's membership is now %s, not %s", ledger.ErrMembershipState, cur.Name, r.Plan.Name)
	}
	next, bonus, err := ledger.Transition(cur, r, now)
	if err != nil {
		return ledger.MembershipResult{}, err
	}
	res := ledger.MembershipResult{MemberID: r.MemberID, Membership: next, Fee: "0", BonusPoints: bonus, Balance: m.bal}
	var fee int64
	if r.Action == ledger.ActionStart || r.Action == ledger.ActionRenew {
		fee, res.Fee = r.Plan.Price.Units(), r.Plan.Price.String()
	}
	if err := tx.saveMembership(ctx, r.MemberID, next, seq+1, cur == nil); err != nil {
		return res, err
	}
	// Pricing reads the membership with the tags: an earn priced before
	// this change carries the older revision and is priced again.
	if _, err := tx.exec(ctx, `UPDATE members SET tags_rev = tags_rev + 1 WHERE id = ?`, r.MemberID); err != nil {
		return res, fmt.Errorf("count membership change of %s: %w", r.MemberID, err)
	}
	m.tagsRev++
	tx.cacheDrops = append(tx.cacheDrops, r.MemberID)
	action := r.Action
	if next.State == ledger.MembershipEnded {
		action = ledger.ActionEnd // a cancelled pause ends at once: churn like a period end
	}
	if _, err := tx.exec(ctx, `INSERT INTO membership_events (member_id, seq, name, action, fee_units, payment_reference, bonus_points, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.MemberID, seq+1, next.Name, action, fee, r.PaymentReference, bonus, now.UnixMicro()); err != nil {
		return res, fmt.Errorf("record membership %s of %s: %w", r.Action, r.MemberID, err)
	}
	if err := tx.emit(ledger.EventMembershipChanged, r.MemberID, now, membershipData{Membership: next.Name, Action: action,
		State: next.State, PeriodStart: next.PeriodStart, PeriodEnd: next.PeriodEnd, Streak: next.Streak,
		Fee: res.Fee, PaymentReference: r.PaymentReference}); err != nil {
		return res, err
	}
	if bonus > 0 {
		e := entry{kind: ledger.EntryEarn, reference: r.PaymentReference,
			reason: fmt.Sprintf("membership %s: %d renewals in a row", next.Name, next.Streak)}
		if _, res.Balance, err = s.credit(ctx, tx, r.MemberID, bonus, time.Time{}, e); err != nil {
			return res, err
		}
	}
	return res, nil
}

// membershipData is membership.changed's data: the change and the
// membership after it. A streak bonus follows as points.earned.
type membershipData struct {
	Membership       string    `json:"membership"`
	Action           string    `json:"action"`
	State            string    `json:"state"`
	PeriodStart      time.Time `json:"periodStart"`
	PeriodEnd        time.Time `json:"periodEnd"`
	Streak           int32     `json:"streak"`
	Fee              string    `json:"fee"`
	PaymentReference string    `json:"paymentReference,omitempty"`
}

// membership reads the member's stored membership (nil for none) and the
// number of its membership events.
func (t *txn) membership(ctx context.Context, memberID string) (*ledger.Membership, int64, error) {
	var m ledger.Membership
	var start, end, seq int64
	var rewarded int
	var paused sql.NullInt64
	err := t.queryRow(ctx, `SELECT name, state, period_start, period_end, streak, streak_rewarded, paused_at, seq
		FROM memberships WHERE member_id = ?`, []any{&m.Name, &m.State, &start, &end, &m.Streak, &rewarded, &paused, &seq}, memberID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read membership of %s: %w", memberID, err)
	}
	m.PeriodStart, m.PeriodEnd, m.StreakRewarded = time.UnixMicro(start).UTC(), time.UnixMicro(end).UTC(), rewarded == 1
	if paused.Valid {
		at := time.UnixMicro(paused.Int64).UTC()
		m.PausedAt = &at
	}
	return &m, seq, nil
}

func (t *txn) saveMembership(ctx context.Context, memberID string, m ledger.Membership, seq int64, insert bool) error {
	var paused sql.NullInt64
	if m.PausedAt != nil {
		paused = sql.NullInt64{Int64: m.PausedAt.UnixMicro(), Valid: true}
	}
	rewarded := 0
	if m.StreakRewarded {
		rewarded = 1
	}
	q := `UPDATE memberships SET name = ?, state = ?, period_start = ?, period_end = ?, streak = ?, streak_rewarded = ?, paused_at = ?, seq = ?
		WHERE member_id = ?`
	if insert {
		q = `INSERT INTO memberships (name, state, period_start, period_end, streak, streak_rewarded, paused_at, seq, member_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	}
	if _, err := t.exec(ctx, q, m.Name, m.State, m.PeriodStart.UnixMicro(), m.PeriodEnd.UnixMicro(), m.Streak, rewarded, paused, seq, memberID); err != nil {
		return fmt.Errorf("save membership of %s: %w", memberID, err)
	}
	return nil
}

// EndDueMemberships implements ledger.Ledger: it ends the memberships
// whose period ended by now without a renewal, cancelling ones included,
// each under its member's lock. A membership renewed meanwhile is left
// alone, so replicas running the due work at once end each one once.
func (s *Store) EndDueMemberships(ctx context.Context, now time.Time) (int, error) {
	now = ledger.NormTime(now)
	ended := 0
	for {
		ids, err := s.dueMemberships(ctx, now, 500)
		if err != nil {
			return ended, err
		}
		progress := 0
		for _, id := range ids {
			j := &job{memberID: id, done: make(chan jobResult, 1), apply: func(ctx context.Context, tx *txn) (any, []byte, error) {
				_, err := s.applyMembership(ctx, tx, ledger.MembershipRequest{MemberID: id, Action: ledger.ActionEnd}, now)
				return nil, nil, err
			}}
			if err := s.submit(ctx, j); err != nil {
				return ended, err
			}
			switch r := wait(ctx, j); {
			case errors.Is(r.err, ledger.ErrMembershipState), errors.Is(r.err, ledger.ErrMemberNotFound):
			case r.err != nil:
				return ended, fmt.Errorf("end membership of %s: %w", id, r.err)
			default:
				ended++
				progress++
			}
		}
		if len(ids) < 500 || progress == 0 {
			return ended, nil
		}
	}
}

func (s *Store) dueMemberships(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.cfg.ReadDB.QueryContext(ctx, s.cfg.Dialect.rebind(`SELECT member_id FROM memberships
		WHERE state IN ('active', 'cancelling') AND period_end <= ? ORDER BY period_end LIMIT ?`), now.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("find due memberships: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("find due memberships: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find due memberships: %w", err)
	}
	return ids, nil
}

// memberMembership reads a member's membership for the member view.
func (s *Store) memberMembership(ctx context.Context, memberID string) (*ledger.Membership, error) {
	var m ledger.Membership
	var start, end int64
	var rewarded int
	var paused sql.NullInt64
	err := s.queryRow(ctx, `SELECT name, state, period_start, period_end, streak, streak_rewarded, paused_at
		FROM memberships WHERE member_id = ?`, memberID).Scan(&m.Name, &m.State, &start, &end, &m.Streak, &rewarded, &paused)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read membership of %s: %w", memberID, err)
	}
	m.PeriodStart, m.PeriodEnd, m.StreakRewarded = time.UnixMicro(start).UTC(), time.UnixMicro(end).UTC(), rewarded == 1
	if paused.Valid {
		at := time.UnixMicro(paused.Int64).UTC()
		m.PausedAt = &at
	}
	return &m, nil
}

// redeemingMember reads, under the member's lock, what a reward's
// minimum tier and eligibility are checked against: the stored tier, the
// tags and the active membership.
func (t *txn) redeemingMember(ctx context.Context, memberID string) (rules.MemberContext, error) {
	mc := rules.MemberContext{ID: memberID}
	var tags string
	if err := t.queryRow(ctx, `SELECT tier, tags FROM members WHERE id = ?`, []any{&mc.Tier, &tags}, memberID); err != nil {
		return mc, fmt.Errorf("read tier: %w", err)
	}
	if err := json.Unmarshal([]byte(tags), &mc.Tags); err != nil {
		return mc, fmt.Errorf("read tags of %s: %w", memberID, err)
	}
	m, _, err := t.membership(ctx, memberID)
	if err != nil {
		return mc, err
	}
	if m != nil && (m.State == ledger.MembershipActive || m.State == ledger.MembershipCancelling) {
		mc.Membership, mc.MembershipEnd = m.Name, m.PeriodEnd
	}
	return mc, nil
}

// membershipAggregates counts each membership's paying members now and its
// starts, renewals, ends and fees in [from, to) (Unix microseconds).
func (s *Store) membershipAggregates(ctx context.Context, from, to int64) (map[string]rules.MembershipAggregates, error) {
	out := map[string]rules.MembershipAggregates{}
	err := s.eachRow(ctx, `SELECT name, COUNT(*) FROM memberships WHERE state IN ('active', 'cancelling') GROUP BY name`, nil, func(rows *sql.Rows) error {
		var name string
		var a rules.MembershipAggregates
		if err := rows.Scan(&name, &a.Paying); err != nil {
			return err
		}
		out[name] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read paying members: %w", err)
	}
	err = s.eachRow(ctx, `SELECT name,
			CAST(COALESCE(SUM(CASE WHEN action = 'start' THEN 1 ELSE 0 END), 0) AS BIGINT),
			CAST(COALESCE(SUM(CASE WHEN action = 'renew' THEN 1 ELSE 0 END), 0) AS BIGINT),
			CAST(COALESCE(SUM(CASE WHEN action = 'end' THEN 1 ELSE 0 END), 0) AS BIGINT),
			CAST(COALESCE(SUM(fee_units), 0) AS BIGINT)
		FROM membership_events WHERE at >= ? AND at < ? GROUP BY name`, []any{from, to}, func(rows *sql.Rows) error {
		var name string
		var started, renewed, ended, fees int64
		if err := rows.Scan(&name, &started, &renewed, &ended, &fees); err != nil {
			return err
		}
		a := out[name]
		a.Started, a.Renewed, a.Ended, a.FeeUnits = started, renewed, ended, fees
		out[name] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read membership changes: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
