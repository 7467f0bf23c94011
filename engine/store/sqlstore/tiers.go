package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// activityQuery sums a member's qualifying activity with occurredAt in
// [start, end]: the points of earn events (purchases and actions, with the
// tier multiplier and campaign bonuses they earned) minus the points
// reversed on them, and their purchase amounts less what was refunded
// (purchases that earned no points included; see eventState.reversal).
// Adjustments, redemptions and expiries are not events and do not count.
// Amounts are in minor units, so they are summed per currency.
const activityQuery = `SELECT currency, CAST(COALESCE(SUM(points - reversed), 0) AS BIGINT),
		CAST(COALESCE(SUM(purchase_amount - refunded), 0) AS BIGINT)
	FROM events WHERE member_id = ? AND occurred_at >= ? AND occurred_at <= ? GROUP BY currency`

// bucketedActivityQuery is activityQuery over whole days: the daily sums of
// member_activity_daily for the days after start's up to end's, plus the
// events of start's day from start on, minus the events of end's day after
// end. Each event counts with the same amounts as in activityQuery, so the
// sums are equal.
const bucketedActivityQuery = `SELECT currency, CAST(COALESCE(SUM(p), 0) AS BIGINT), CAST(COALESCE(SUM(s), 0) AS BIGINT) FROM (
		SELECT currency, points AS p, spend AS s FROM member_activity_daily WHERE member_id = ? AND day > ? AND day <= ?
		UNION ALL
		SELECT currency, points - reversed, purchase_amount - refunded
		FROM events WHERE member_id = ? AND occurred_at >= ? AND occurred_at < ?
		UNION ALL
		SELECT currency, reversed - points, refunded - purchase_amount
		FROM events WHERE member_id = ? AND occurred_at > ? AND occurred_at < ?
	) AS a GROUP BY currency`

// queryFunc runs a read in a transaction or on the read pool.
type queryFunc func(ctx context.Context, q string, args ...any) (*sql.Rows, error)

// tierInput reads the member's qualified times and activity over each
// tier's qualification window at now.
func tierInput(ctx context.Context, query queryFunc, memberID, current string, since int64, tiers []config.Tier, now time.Time) (rules.TierInput, error) {
	in := rules.TierInput{Current: current, Activity: map[string]rules.Activity{}, LastQualifiedAt: map[string]time.Time{}}
	if since != 0 {
		in.TierSince = time.UnixMicro(since).UTC()
	}
	rows, err := query(ctx, `SELECT tier, last_qualified_at FROM member_tiers WHERE member_id = ?`, memberID)
	if err != nil {
		return in, fmt.Errorf("read tier qualifications of %s: %w", memberID, err)
	}
	for rows.Next() {
		var name string
		var at int64
		if err := rows.Scan(&name, &at); err != nil {
			rows.Close()
			return in, fmt.Errorf("read tier qualifications of %s: %w", memberID, err)
		}
		in.LastQualifiedAt[name] = time.UnixMicro(at).UTC()
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return in, fmt.Errorf("read tier qualifications of %s: %w", memberID, err)
	}
	byStart := map[time.Time]rules.Activity{} // tiers often share a window
	for _, t := range tiers {
		start := rules.QualificationWindowStart(t, now)
		a, ok := byStart[start]
		if !ok {
			if a, err = activity(ctx, query, memberID, start, now); err != nil {
				return in, err
			}
			byStart[start] = a
		}
		in.Activity[t.Name] = a
	}
	return in, nil
}

func activity(ctx context.Context, query queryFunc, memberID string, start, end time.Time) (rules.Activity, error) {
	var a rules.Activity
	from, to := start.UnixMicro(), end.UnixMicro()
	var rows *sql.Rows
	var err error
	if first, last := activityDay(from), activityDay(to); first >= last {
		rows, err = query(ctx, activityQuery, memberID, from, to)
	} else {
		rows, err = query(ctx, bucketedActivityQuery, memberID, first, last,
			memberID, from, (first+1)*dayMicros, memberID, to, (last+1)*dayMicros)
	}
	if err != nil {
		return a, fmt.Errorf("sum qualifying activity of %s: %w", memberID, err)
	}
	defer rows.Close()
	var spend int64 // in 1/10^4 of the currency, config.Decimal's units
	for rows.Next() {
		var currency string
		var points, minor int64
		if err := rows.Scan(&currency, &points, &minor); err != nil {
			return a, fmt.Errorf("sum qualifying activity of %s: %w", memberID, err)
		}
		a.Points += points
		for range 4 - rules.MinorUnits(currency) {
			minor *= 10
		}
		spend += minor
	}
	a.Spend = config.DecimalFromUnits(spend)
	return a, rows.Err()
}

// TierStatus implements ledger.Ledger.
func (s *Store) TierStatus(ctx context.Context, memberID string, tiers []config.Tier, now time.Time) (_ ledger.TierStatus, err error) {
	ctx, end := s.beginRead(ctx, true)
	defer end(&err)
	if err := ledger.CheckMemberID(memberID); err != nil {
		return ledger.TierStatus{}, err
	}
	var current string
	var since int64
	if err := s.queryRow(ctx, `SELECT tier, tier_since FROM members WHERE id = ?`, memberID).Scan(&current, &since); errors.Is(err, sql.ErrNoRows) {
		return ledger.TierStatus{}, ledger.ErrMemberNotFound
	} else if err != nil {
		return ledger.TierStatus{}, fmt.Errorf("read tier of %s: %w", memberID, err)
	}
	in, err := tierInput(ctx, s.query, memberID, current, since, tiers, now)
	return ledger.TierStatus{Input: in}, err
}

// EvaluateTier implements ledger.Ledger.
func (s *Store) EvaluateTier(ctx context.Context, req ledger.TierRequest) (ledger.TierResult, error) {
	if err := ledger.CheckMemberID(req.MemberID); err != nil {
		return ledger.TierResult{}, err
	}
	if req.Now.IsZero() {
		req.Now = s.now()
	}
	req.Now = ledger.NormTime(req.Now)
	j := &job{memberID: req.MemberID, done: make(chan jobResult, 1), apply: func(ctx context.Context, tx *txn) (any, []byte, error) {
		r, err := s.applyTier(ctx, tx, req)
		if err != nil {
			return nil, nil, err
		}
		return r, nil, nil
	}}
	if err := s.submit(ctx, j); err != nil {
		return ledger.TierResult{}, err
	}
	r := wait(ctx, j)
	if r.err != nil {
		return ledger.TierResult{}, fmt.Errorf("evaluate tier of %s: %w", req.MemberID, r.err)
	}
	return r.val.(ledger.TierResult), nil
}

// upgradeAfterEarn makes the earn's transaction upgrade the member once
// every job of the batch applied, if their activity then qualifies them for
// a higher tier: the earn and the upgrade it earned commit together. Only
// members whose lifetime points reach a higher tier's threshold are read.
func upgradeAfterEarn(tx *txn, m *memberRow, tiers []config.Tier, now time.Time) {
	if !rules.MayUpgrade(&config.Snapshot{Tiers: tiers}, m.tier, m.bal.LifetimeEarned) {
		return
	}
	tx.after("tier:"+m.id, func(ctx context.Context, tx *txn) error {
		m, d, err := decideTier(ctx, tx, m.id, tiers, now)
		if err != nil || d.Change != rules.TierUpgrade {
			return err
		}
		_, err = writeTier(ctx, tx, m, d, ledger.TierRequest{MemberID: m.id, Tiers: tiers, Now: now})
		return err
	})
}

// applyTier evaluates the member's tier under the member's lock, records
// the tiers the member qualifies for now and applies a change as an entry
// with zero deltas, so Σ entries still equals the balance.
func (s *Store) applyTier(ctx context.Context, tx *txn, req ledger.TierRequest) (ledger.TierResult, error) {
	m, d, err := decideTier(ctx, tx, req.MemberID, req.Tiers, req.Now)
	if err != nil {
		return ledger.TierResult{}, err
	}
	return writeTier(ctx, tx, m, d, req)
}

// decideTier reads the member's tier and activity under the member's lock
// and decides their tier at now.
func decideTier(ctx context.Context, tx *txn, memberID string, tiers []config.Tier, now time.Time) (*memberRow, rules.TierDecision, error) {
	m, err := lockMember(ctx, tx, memberID)
	if err != nil {
		return nil, rules.TierDecision{}, err
	}
	var current string
	var since int64
	if err := tx.queryRow(ctx, `SELECT tier, tier_since FROM members WHERE id = ?`, []any{&current, &since}, memberID); err != nil {
		return nil, rules.TierDecision{}, fmt.Errorf("read tier of %s: %w", memberID, err)
	}
	in, err := tierInput(ctx, tx.query, memberID, current, since, tiers, now)
	if err != nil {
		return nil, rules.TierDecision{}, err
	}
	return m, rules.EvaluateTier(&config.Snapshot{Tiers: tiers}, in, now), nil
}

// writeTier records the tiers the decision found the member qualified for
// and applies its change.
func writeTier(ctx context.Context, tx *txn, m *memberRow, d rules.TierDecision, req ledger.TierRequest) (ledger.TierResult, error) {
	now := req.Now.UnixMicro()
	isEntry := map[string]bool{}
	for _, t := range req.Tiers {
		isEntry[t.Name] = t.Rank == 0
	}
	for _, name := range d.Qualified {
		if isEntry[name] {
			continue // the entry tier always holds: its qualification is never needed
		}
		if _, err := tx.exec(ctx, `INSERT INTO member_tiers (member_id, tier, last_qualified_at) VALUES (?, ?, ?)
			ON CONFLICT (member_id, tier) DO UPDATE SET last_qualified_at = excluded.last_qualified_at`, req.MemberID, name, now); err != nil {
			return ledger.TierResult{}, fmt.Errorf("record qualification of %s for %s: %w", req.MemberID, name, err)
		}
	}
	if d.Change == rules.TierDowngrade && !req.AllowDowngrade {
		// Only the due job downgrades; the member keeps the tier until then.
		return ledger.TierResult{Decision: rules.TierDecision{Tier: d.Previous, Previous: d.Previous, Change: rules.TierUnchanged, Qualified: d.Qualified}}, nil
	}
	if d.Change == rules.TierUnchanged {
		return ledger.TierResult{Decision: d}, nil
	}
	if _, err := tx.exec(ctx, `UPDATE members SET tier = ?, tier_since = ? WHERE id = ?`, d.Tier, now, req.MemberID); err != nil {
		return ledger.TierResult{}, fmt.Errorf("update tier of %s: %w", req.MemberID, err)
	}
	m.tier = d.Tier
	tx.cacheDrops = append(tx.cacheDrops, req.MemberID)
	e := entry{kind: ledger.EntryTier, reference: d.Tier, reason: d.Change + " from " + d.Previous, at: req.Now, quiet: true}
	seq, _, err := changeBalance(ctx, tx, m, e)
	if err != nil {
		return ledger.TierResult{}, err
	}
	if err := tx.emit(ledger.EventTierChanged, req.MemberID, req.Now, tierData{EntrySeq: seq, Tier: d.Tier, Previous: d.Previous, Change: d.Change}); err != nil {
		return ledger.TierResult{}, err
	}
	return ledger.TierResult{Decision: d, Changed: true}, nil
}

// processTiers re-evaluates, downgrades included, every member above the
// entry tier; members at the entry tier only move up, on earning. With a
// positive rate it starts at most rate evaluations a second.
func (s *Store) processTiers(ctx context.Context, tiers []config.Tier, rate float64, now time.Time, total *ledger.ProcessDueResult) error {
	pace := newPacer(rate)
	entry := ""
	for _, t := range tiers {
		if t.Rank == 0 {
			entry = t.Name
		}
	}
	after := ""
	const page = 500
	for {
		var ids []string
		err := s.eachRow(ctx, `SELECT id FROM members WHERE tier <> '' AND tier <> ? AND id > ? ORDER BY id LIMIT ?`, []any{entry, after, page}, func(rows *sql.Rows) error {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
			return nil
		})
		if err != nil {
			return fmt.Errorf("find members with tiers: %w", err)
		}
		results := make([]ledger.TierResult, len(ids))
		errs := make([]error, len(ids))
		var wg sync.WaitGroup
		// A few members at a time: the pass is background work, and a
		// burst of reads would hold up the requests being served.
		sem := make(chan struct{}, tierPassParallelism)
		for i, id := range ids {
			if err := pace.wait(ctx); err != nil {
				wg.Wait()
				return fmt.Errorf("tier pass: %w", err)
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				// A read decides first: most passes change nothing, and
				// a write takes the member's lock and a group-commit slot.
				if write, err := s.tierPassWrites(ctx, id, tiers, now); err != nil || !write {
					errs[i] = err
					return
				}
				results[i], errs[i] = s.EvaluateTier(ctx, ledger.TierRequest{MemberID: id, Tiers: tiers, Now: now, AllowDowngrade: true})
			})
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil {
				return errs[i]
			}
			switch {
			case !results[i].Changed:
			case results[i].Decision.Change == rules.TierUpgrade:
				total.TierUpgrades++
			default:
				total.TierDowngrades++
			}
		}
		if len(ids) < page {
			return nil
		}
		after = ids[len(ids)-1]
	}
}

// pacer spaces starts evenly at a rate a second; a zero pacer never waits.
type pacer struct {
	every time.Duration
	next  time.Time
}

func newPacer(rate float64) *pacer {
	if rate <= 0 {
		return &pacer{}
	}
	return &pacer{every: time.Duration(float64(time.Second) / rate)}
}

// wait returns when the next start is due, or ctx's error.
func (p *pacer) wait(ctx context.Context) error {
	if p.every <= 0 {
		return nil
	}
	now := time.Now()
	if p.next.Before(now) {
		// No credit for time spent elsewhere: a late start does not
		// allow a burst after it.
		p.next = now
	}
	if d := p.next.Sub(now); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	p.next = p.next.Add(p.every)
	return nil
}

// tierPassParallelism bounds the members a due pass evaluates at once.
const tierPassParallelism = 4

// QualificationRefresh is how stale a member's recorded last qualification
// for a tier may grow while they keep qualifying before a due pass records
// it again. Grace periods count from the recorded time, so a downgrade may
// come up to this much (plus one pass) before the grace period measured
// from the exact lapse would end.
const QualificationRefresh = 10 * time.Minute

// tierPassWrites reports whether the due pass must write the member's tier:
// a change, or a qualification to record because the recorded one is older
// than QualificationRefresh.
func (s *Store) tierPassWrites(ctx context.Context, memberID string, tiers []config.Tier, now time.Time) (bool, error) {
	st, err := s.TierStatus(ctx, memberID, tiers, now)
	if err != nil {
		return false, err
	}
	snap := &config.Snapshot{Tiers: tiers}
	d := rules.EvaluateTier(snap, st.Input, now)
	if d.Change != rules.TierUnchanged {
		return true, nil
	}
	for _, name := range d.Qualified {
		for _, t := range tiers {
			if t.Name != name || t.Rank == 0 {
				continue
			}
			if last, ok := st.Input.LastQualifiedAt[name]; !ok || now.Sub(last) >= QualificationRefresh {
				return true, nil
			}
		}
	}
	return false, nil
}
