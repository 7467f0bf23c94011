package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// Earn implements ledger.Ledger.
func (s *Store) Earn(ctx context.Context, req ledger.EarnRequest) (ledger.EarnResult, error) {
	j, err := s.earnJob(ctx, req)
	if err != nil {
		return ledger.EarnResult{}, err
	}
	if err := s.submit(ctx, j); err != nil {
		return ledger.EarnResult{}, err
	}
	return earnResult(wait(ctx, j), j.memberID)
}

func (s *Store) earnJob(ctx context.Context, req ledger.EarnRequest) (*job, error) {
	norm, err := req.Normalize()
	if err != nil {
		return nil, err
	}
	j := s.newJob(idemOp{op: ledger.OpEarn, memberID: norm.MemberID, eventID: norm.EventID, key: req.IdempotencyKey,
		hash: requestHash(ledger.OpEarn, req.Fingerprint, norm)}, func(ctx context.Context, tx *txn) (any, error) {
		r, err := s.applyEarn(ctx, tx, norm)
		if err != nil {
			return nil, err
		}
		return r, nil
	})
	if norm.Referral != nil && norm.PurchaseAmount > 0 {
		// The purchase may convert the member's referral and reward the referrer.
		if j.members, err = s.referrerLock(ctx, norm.MemberID, `converted_at IS NULL`); err != nil {
			return nil, err
		}
	}
	for _, c := range norm.Campaigns {
		if c.PerMemberCap != nil {
			j.bonuses = append(j.bonuses, c.Campaign)
		}
		if c.Budget != nil {
			j.campaigns = append(j.campaigns, c.Campaign)
		}
	}
	return j, nil
}

func earnResult(r jobResult, memberID string) (ledger.EarnResult, error) {
	out, replayed, err := decode[ledger.EarnResult](r, ledger.OpEarn, memberID)
	out.Replayed = replayed
	return out, err
}

func (s *Store) applyEarn(ctx context.Context, tx *txn, r ledger.EarnRequest) (ledger.EarnResult, error) {
	m, err := lockEarner(ctx, tx, r)
	if err != nil {
		return ledger.EarnResult{}, err
	}
	now := s.now()
	occurred := r.OccurredAt
	if occurred.IsZero() {
		occurred = now
	}
	if r.Birthday != nil {
		// The member's first event in the birthday window grants it, in
		// this transaction, unless the due work did already.
		if _, err := grantBirthday(ctx, tx, m, *r.Birthday, now); err != nil {
			return ledger.EarnResult{}, err
		}
	}
	ex := copyExplanation(r.Explanation)
	// An earn that earns nothing records nothing but the idempotency key
	// and its result.
	nothing := ledger.EarnResult{MemberID: r.MemberID, EventID: r.EventID, Balance: m.bal, Explanation: ex}
	// The action's limit is checked under the member's lock: concurrent
	// earns of the same action cannot both take the last one of the period.
	if r.Limit != nil {
		start, end := rules.ActionLimitWindow(r.Limit, occurred, r.TimeZone)
		n, err := tx.countActions(ctx, r.MemberID, r.Action, start, end, r.Limit.Count)
		if err != nil {
			return ledger.EarnResult{}, err
		}
		if rules.LimitReached(r.Limit, n) {
			if ex != nil {
				ex.LimitReached(r.Limit, n)
			}
			return nothing, nil
		}
	}
	grants, bonus, err := tx.grantBonuses(ctx, r.MemberID, r.Campaigns, now)
	if err != nil {
		return ledger.EarnResult{}, err
	}
	if ex != nil {
		ex.Regrant(grants)
	}
	r.Points += bonus
	if r.Points == 0 && r.PurchaseAmount == 0 {
		// Caps left nothing of an action that only earned a bonus.
		return nothing, nil
	}
	out, err := recordEarn(ctx, tx, m, r, grants, occurred, now)
	if err != nil {
		return ledger.EarnResult{}, err
	}
	out.Explanation = ex
	if r.Referral != nil && r.PurchaseAmount > 0 {
		if out.Referral, err = s.convertReferral(ctx, tx, m, r, occurred, now); err != nil {
			return ledger.EarnResult{}, err
		}
	}
	out.Balance = m.bal
	if len(r.Tiers) > 0 {
		upgradeAfterEarn(tx, m, r.Tiers, now)
	}
	return out, nil
}

// lockEarner locks the earning member and refuses an earn priced with
// another tier than the member's, or of an event already recorded.
func lockEarner(ctx context.Context, tx *txn, r ledger.EarnRequest) (*memberRow, error) {
	m, err := lockMember(ctx, tx, r.MemberID)
	if err != nil {
		return nil, err
	}
	if err := r.CheckPricedTier(m.tier); err != nil {
		return nil, err
	}
	if err := r.CheckPricedTags(m.tagsRev); err != nil {
		return nil, err
	}
	if dup, err := tx.eventExists(ctx, r.MemberID, r.EventID); err != nil {
		return nil, err
	} else if dup {
		return nil, ledger.ErrDuplicateEvent
	}
	return m, nil
}

// copyExplanation is a copy of the request's explanation that the earn may
// rewrite with what it granted; nil stays nil.
func copyExplanation(ex *rules.Explanation) *rules.Explanation {
	if ex == nil {
		return nil
	}
	cp := *ex
	cp.Campaigns = slices.Clone(cp.Campaigns)
	return &cp
}

// recordEarn records the event with the campaigns' grants, its lot (pending
// until r.AvailableAt) and its entry.
func recordEarn(ctx context.Context, tx *txn, m *memberRow, r ledger.EarnRequest, grants map[string]rules.Grant, occurred, now time.Time) (ledger.EarnResult, error) {
	bonuses := encodeBonuses(grants)
	tx.addEvent(eventRow{memberID: r.MemberID, eventID: r.EventID, points: r.Points, purchase: r.PurchaseAmount,
		currency: r.Currency, occurred: occurred.UnixMicro(), recAt: now.UnixMicro(), action: r.Action, bonuses: bonuses})

	// A purchase that earns nothing is still the member's activity: its
	// entry moves no points, and it has no lot.
	pending := r.Points > 0 && r.AvailableAt.After(now)
	state, availableAt := lotAvailable, now
	e := entry{kind: ledger.EntryEarn, available: r.Points, lifetime: r.Points, eventID: r.EventID, at: now}
	if pending {
		state, availableAt = lotPending, r.AvailableAt
		e.available, e.pending = 0, r.Points
	}
	if r.Points > 0 {
		insertLot(tx, r.MemberID, r.EventID, r.Points, state, availableAt, r.ExpiresAt)
	}
	seq, _, err := changeBalance(ctx, tx, m, e)
	if err != nil {
		return ledger.EarnResult{}, err
	}
	return ledger.EarnResult{EntrySeq: seq, MemberID: r.MemberID, EventID: r.EventID, Points: r.Points, Pending: pending}, nil
}

// EarnBatch implements ledger.Ledger. Items are queued to the writers all at
// once, so they share batch transactions.
func (s *Store) EarnBatch(ctx context.Context, req ledger.EarnBatchRequest) (ledger.EarnBatchResult, error) {
	if err := req.Normalize(); err != nil {
		return ledger.EarnBatchResult{}, err
	}
	items := make([]ledger.EarnBatchItem, len(req.Events))
	jobs := make([]*job, len(req.Events))
	fail := func(i int, err error) {
		items[i].Err = err
		items[i].Error = ledger.NewItemError(ledger.BatchItemError(i, err))
	}
	var queued []*job
	var queuedIndex []int
	for i, ev := range req.Events {
		items[i] = ledger.EarnBatchItem{Index: i, EventID: ev.EventID}
		j, err := s.earnJob(ctx, ev)
		if err != nil {
			fail(i, err)
			continue
		}
		queued = append(queued, j)
		queuedIndex = append(queuedIndex, i)
	}
	// Queued at once, the batch is committed at once.
	for k, err := range s.submitAll(ctx, queued) {
		if i := queuedIndex[k]; err != nil {
			fail(i, err)
		} else {
			jobs[i] = queued[k]
		}
	}
	for i, j := range jobs {
		if j == nil {
			continue
		}
		r := wait(ctx, j)
		res, err := earnResult(r, j.memberID)
		if err != nil {
			fail(i, err)
			continue
		}
		items[i].Result = &res
		if !res.Replayed {
			// What the job stored for replays is the result's encoding.
			items[i].ResultJSON = r.raw
		}
	}
	out := ledger.EarnBatchResult{Items: items}
	for _, it := range items {
		if it.Err != nil {
			if errors.Is(it.Err, ledger.ErrClosed) {
				return ledger.EarnBatchResult{}, fmt.Errorf("earn batch: %w", it.Err)
			}
			out.Failed++
		} else {
			out.Succeeded++
		}
	}
	return out, nil
}

// countActionsQuery counts a member's events of an action with occurredAt
// in [start, end), up to a bound: the limit, beyond which the count changes
// nothing, so that a lifetime count reads at most that many index entries
// (events_member_action, whose condition the query repeats).
const countActionsQuery = `SELECT COUNT(*) FROM (SELECT 1 FROM events
	WHERE member_id = ? AND action = ? AND action <> '' AND occurred_at >= ? AND occurred_at < ? LIMIT ?) AS a`

// countActions counts the member's earned events of the action in [start,
// end), up to bound; the caller holds the member's lock.
func (t *txn) countActions(ctx context.Context, memberID, action string, start, end time.Time, bound int32) (int64, error) {
	var n int64
	err := t.queryRow(ctx, countActionsQuery, []any{&n}, memberID, action, start.UnixMicro(), end.UnixMicro(), bound)
	if err != nil {
		return 0, fmt.Errorf("count action %s of %s: %w", action, memberID, err)
	}
	return n, nil
}
