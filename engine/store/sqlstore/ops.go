package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// Lot states.
const (
	lotPending   = "pending"
	lotAvailable = "available"
)

// Enroll implements ledger.Ledger.
func (s *Store) Enroll(ctx context.Context, req ledger.EnrollRequest) (ledger.EnrollResult, error) {
	norm, err := req.Normalize()
	if err != nil {
		return ledger.EnrollResult{}, err
	}
	if err := norm.CheckEnrolledAt(s.now()); err != nil {
		return ledger.EnrollResult{}, err
	}
	gen := s.members.generation()
	// The member row does not exist yet, so no row lock serialises two
	// processes enrolling with the same key: the key is claimed first.
	out, replayed, err := write(ctx, s, norm.MemberID, "", ledger.OpEnroll, req.IdempotencyKey, req.Fingerprint, norm, true, func(ctx context.Context, tx *txn) (ledger.EnrollResult, error) {
		if m, ok := tx.members[norm.MemberID]; ok && m.exists {
			if norm.ReferralCode != "" {
				_, err := checkReferralCode(ctx, tx, norm, true)
				return ledger.EnrollResult{}, err
			}
			return ledger.EnrollResult{}, ledger.ErrMemberExists
		}
		var referrerID string
		if norm.ReferralCode != "" {
			if referrerID, err = checkReferralCode(ctx, tx, norm, false); err != nil {
				return ledger.EnrollResult{}, err
			}
		}
		m := ledger.Member{ID: norm.MemberID, Tags: norm.Tags, EnrolledAt: norm.EnrolledAt}
		if m.EnrolledAt.IsZero() {
			m.EnrolledAt = s.now()
		}
		tags, err := json.Marshal(m.Tags)
		if err != nil {
			return ledger.EnrollResult{}, fmt.Errorf("encode tags: %w", err)
		}
		// Enrolment starts the inactivity clock.
		enrolled := m.EnrolledAt.UnixMicro()
		// The referral code is random like a redemption code; the unique
		// index refuses a collision rather than share a code.
		m.ReferralCode = newRedemptionCode()
		res, err := tx.exec(ctx, `INSERT INTO members (id, tags, enrolled_at, available, pending, lifetime, last_activity_at, referral_code)
			VALUES (?, ?, ?, 0, 0, 0, ?, ?) ON CONFLICT DO NOTHING`, m.ID, string(tags), enrolled, enrolled, m.ReferralCode)
		if err != nil {
			return ledger.EnrollResult{}, fmt.Errorf("insert member: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return ledger.EnrollResult{}, fmt.Errorf("insert member: %w", err)
		} else if n == 0 {
			return ledger.EnrollResult{}, ledger.ErrMemberExists
		}
		tx.members[m.ID] = &memberRow{id: m.ID, lastActivity: enrolled, exists: true}
		if referrerID != "" {
			// The referee is the key: a member is referred once.
			if _, err := tx.exec(ctx, `INSERT INTO referrals (referee_id, referrer_id, created_at) VALUES (?, ?, ?)`,
				m.ID, referrerID, enrolled); err != nil {
				return ledger.EnrollResult{}, fmt.Errorf("insert referral: %w", err)
			}
		}
		return ledger.EnrollResult{Member: m, ReferredBy: referrerID}, nil
	})
	out.Replayed = replayed
	if err == nil && !replayed {
		// Pricing the new member's first earn needs no read: it is in the
		// entry tier, with the tags and enrolment just written.
		s.members.fill(gen, map[string]cachedMember{out.Member.ID: {
			tags: out.Member.Tags, enrolledAt: ledger.NormTime(out.Member.EnrolledAt)}})
	}
	return out, err
}

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
	j := s.newJob(norm.MemberID, norm.EventID, ledger.OpEarn, req.IdempotencyKey, req.Fingerprint, norm, false, func(ctx context.Context, tx *txn) (any, error) {
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
	m, err := lockMember(ctx, tx, r.MemberID)
	if err != nil {
		return ledger.EarnResult{}, err
	}
	if err := r.CheckPricedTier(m.tier); err != nil {
		return ledger.EarnResult{}, err
	}
	if dup, err := tx.eventExists(ctx, r.MemberID, r.EventID); err != nil {
		return ledger.EarnResult{}, err
	} else if dup {
		return ledger.EarnResult{}, ledger.ErrDuplicateEvent
	}
	now := s.now()
	occurred := r.OccurredAt
	if occurred.IsZero() {
		occurred = now
	}
	var ex *rules.Explanation
	if r.Explanation != nil {
		cp := *r.Explanation
		cp.Campaigns = slices.Clone(cp.Campaigns)
		ex = &cp
	}
	// maxPerDay is checked under the member's lock: concurrent earns of the
	// same action cannot both take the last one of the day.
	if r.MaxPerDay != nil {
		n, err := tx.actionsOn(ctx, r.MemberID, r.Action, occurred)
		if err != nil {
			return ledger.EarnResult{}, err
		}
		if rules.ActionLimitReached(r.MaxPerDay, n) {
			if ex != nil {
				ex.LimitDaily(n)
			}
			// Nothing is recorded but the idempotency key and its result.
			return ledger.EarnResult{MemberID: r.MemberID, EventID: r.EventID, Balance: m.bal, Explanation: ex}, nil
		}
	}
	grants, bonus, err := tx.grantBonuses(ctx, r.MemberID, r.Campaigns)
	if err != nil {
		return ledger.EarnResult{}, err
	}
	if ex != nil {
		ex.Regrant(grants)
	}
	points := r.Points + bonus
	if points == 0 && r.PurchaseAmount == 0 {
		// Caps left nothing of an action that only earned a bonus.
		return ledger.EarnResult{MemberID: r.MemberID, EventID: r.EventID, Balance: m.bal, Explanation: ex}, nil
	}
	r.Points = points
	bonuses, err := encodeBonuses(grants)
	if err != nil {
		return ledger.EarnResult{}, err
	}
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
	seq, _, err := record(ctx, tx, m, e)
	if err != nil {
		return ledger.EarnResult{}, err
	}
	out := ledger.EarnResult{EntrySeq: seq, MemberID: r.MemberID, EventID: r.EventID, Points: r.Points, Pending: pending, Explanation: ex}
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

// EarnBatch implements ledger.Ledger. Items are queued to the writers all at
// once, so they share batch transactions.
func (s *Store) EarnBatch(ctx context.Context, req ledger.EarnBatchRequest) (ledger.EarnBatchResult, error) {
	if err := req.Normalize(); err != nil {
		return ledger.EarnBatchResult{}, err
	}
	items := make([]ledger.EarnBatchItem, len(req.Events))
	jobs := make([]*job, len(req.Events))
	fail := func(i int, err error) {
		items[i].Err = ledger.BatchItemError(i, err)
		items[i].Error = ledger.NewItemError(items[i].Err)
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

// Redeem implements ledger.Ledger.
func (s *Store) Redeem(ctx context.Context, req ledger.RedeemRequest) (ledger.RedeemResult, error) {
	j, err := s.redeemJob(req)
	if err != nil {
		return ledger.RedeemResult{}, err
	}
	if err := s.submit(ctx, j); err != nil {
		return ledger.RedeemResult{}, err
	}
	out, replayed, err := decode[ledger.RedeemResult](wait(ctx, j), ledger.OpRedeem, j.memberID)
	out.Replayed = replayed
	return out, err
}

func (s *Store) redeemJob(req ledger.RedeemRequest) (*job, error) {
	norm, err := req.Normalize()
	if err != nil {
		return nil, err
	}
	return s.newJob(norm.MemberID, "", ledger.OpRedeem, req.IdempotencyKey, req.Fingerprint, norm, false, func(ctx context.Context, tx *txn) (any, error) {
		seq, bal, err := s.debit(ctx, tx, norm.MemberID, norm.Points, entry{kind: ledger.EntryRedeem, reference: norm.Reference, reason: norm.Reason})
		if err != nil {
			return nil, err
		}
		return ledger.RedeemResult{EntrySeq: seq, MemberID: norm.MemberID, Points: norm.Points, Balance: bal}, nil
	}), nil
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
	return record(ctx, tx, m, e)
}

// Reverse implements ledger.Ledger.
func (s *Store) Reverse(ctx context.Context, req ledger.ReverseRequest) (ledger.ReverseResult, error) {
	j, err := s.reverseJob(ctx, req)
	if err != nil {
		return ledger.ReverseResult{}, err
	}
	if err := s.submit(ctx, j); err != nil {
		return ledger.ReverseResult{}, err
	}
	out, replayed, err := decode[ledger.ReverseResult](wait(ctx, j), ledger.OpReverse, j.memberID)
	out.Replayed = replayed
	return out, err
}

func (s *Store) reverseJob(ctx context.Context, req ledger.ReverseRequest) (*job, error) {
	norm, err := req.Normalize()
	if err != nil {
		return nil, err
	}
	j := s.newJob(norm.MemberID, "", ledger.OpReverse, req.IdempotencyKey, req.Fingerprint, norm, false, func(ctx context.Context, tx *txn) (any, error) {
		r, err := s.applyReverse(ctx, tx, norm)
		if err != nil {
			return nil, err
		}
		return r, nil
	})
	// A full reversal of a qualifying purchase claws back the referrer's reward too.
	if j.members, err = s.referrerLock(ctx, norm.MemberID, `qualifying_event_id = ? AND NOT clawed_back`, norm.EventID); err != nil {
		return nil, err
	}
	return j, nil
}

func (s *Store) applyReverse(ctx context.Context, tx *txn, r ledger.ReverseRequest) (ledger.ReverseResult, error) {
	m, err := lockMember(ctx, tx, r.MemberID)
	if err != nil {
		return ledger.ReverseResult{}, err
	}
	var ev eventState
	var occurred, clawed int64
	var currency, encoded string
	err = tx.queryRow(ctx, `SELECT points, reversed, purchase_amount, refunded, occurred_at, currency, clawed, bonuses FROM events WHERE member_id = ? AND event_id = ?`,
		[]any{&ev.points, &ev.reversed, &ev.purchase, &ev.refunded, &occurred, &currency, &clawed, &encoded}, r.MemberID, r.EventID)
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.ReverseResult{}, ledger.ErrEventNotFound
	}
	if err != nil {
		return ledger.ReverseResult{}, fmt.Errorf("read event: %w", err)
	}
	requested, refund, err := ev.reversal(r)
	if err != nil {
		return ledger.ReverseResult{}, err
	}

	fromPending, err := takeLots(ctx, tx, r.MemberID, lotPending, r.EventID, requested)
	if err != nil {
		return ledger.ReverseResult{}, err
	}
	fromAvailable, err := takeLots(ctx, tx, r.MemberID, lotAvailable, "", requested-fromPending)
	if err != nil {
		return ledger.ReverseResult{}, err
	}
	shortfall := requested - fromPending - fromAvailable
	// The campaigns get back their share of the bonus clawed back.
	bonuses, err := unmarshalBonuses(encoded)
	if err != nil {
		return ledger.ReverseResult{}, fmt.Errorf("event %s of %s: %w", r.EventID, r.MemberID, err)
	}
	returned, err := tx.returnBonuses(ctx, r.MemberID, bonuses, ev.points, clawed, fromPending+fromAvailable)
	if err != nil {
		return ledger.ReverseResult{}, err
	}
	if encoded, err = marshalBonuses(bonuses); err != nil {
		return ledger.ReverseResult{}, err
	}
	if _, err := tx.exec(ctx, `UPDATE events SET reversed = reversed + ?, refunded = refunded + ?, clawed = clawed + ?, bonuses = ? WHERE member_id = ? AND event_id = ?`,
		requested, refund, fromPending+fromAvailable, encoded, r.MemberID, r.EventID); err != nil {
		return ledger.ReverseResult{}, fmt.Errorf("update event: %w", err)
	}
	if _, err := tx.exec(ctx, `UPDATE member_activity_daily SET points = points - ?, spend = spend - ? WHERE member_id = ? AND day = ? AND currency = ?`,
		requested, refund, r.MemberID, activityDay(occurred), currency); err != nil {
		return ledger.ReverseResult{}, fmt.Errorf("update activity: %w", err)
	}
	now := s.now()
	seq, _, err := record(ctx, tx, m, entry{
		kind: ledger.EntryReverse, available: -fromAvailable, pending: -fromPending, lifetime: -requested,
		eventID: r.EventID, reference: r.Reference, reason: r.Reason, shortfall: shortfall, at: now,
	})
	if err != nil {
		return ledger.ReverseResult{}, err
	}
	out := ledger.ReverseResult{
		EntrySeq: seq, MemberID: r.MemberID, EventID: r.EventID, Requested: requested,
		FromPending: fromPending, FromAvailable: fromAvailable, Shortfall: shortfall, BonusReturned: returned,
	}
	if ev.reversed+requested == ev.points && ev.refunded+refund == ev.purchase {
		if out.ReferralClawedBack, err = s.clawBackReferral(ctx, tx, m, r.EventID, now); err != nil {
			return ledger.ReverseResult{}, err
		}
	}
	out.Balance = m.bal
	return out, nil
}

// eventState is what a reversal reads of its event: the points earned and
// reversed, and the purchase amount and the part of it refunded.
type eventState struct {
	points, reversed, purchase, refunded int64
}

// reversal decides what the request takes back of the event: the points
// to claw back and the part of the purchase refunded, which lowers its
// spend. For an event that earned points the spend follows the points
// left, rounded as tier reads sum it (purchase * left / points); a purchase
// that earned none gives back its refund amount, or all that is left.
func (ev eventState) reversal(r ledger.ReverseRequest) (points, refund int64, err error) {
	left := ev.points - ev.reversed
	if left == 0 && ev.refunded == ev.purchase {
		return 0, 0, ledger.ErrNothingToReverse
	}
	points = r.Points
	switch {
	case r.RefundAmount > ev.purchase:
		return 0, 0, &ledger.FieldError{Field: "refundAmount", Reason: fmt.Sprintf("exceeds the event's purchase amount %d", ev.purchase)}
	case ev.points == 0 && points == 0:
		refund = ev.purchase - ev.refunded
		if r.RefundAmount > 0 {
			refund = min(r.RefundAmount, refund)
		}
		return 0, refund, nil
	case r.RefundAmount > 0:
		points = min(ledger.RefundPoints(ev.points, r.RefundAmount, ev.purchase), left)
	case points == 0:
		points = left
	}
	if points > left {
		return 0, 0, &ledger.FieldError{Field: "points", Reason: fmt.Sprintf("exceeds the %d points of the event not yet reversed", left)}
	}
	spendAfter := ev.purchase * (left - points) / ev.points
	return points, ev.purchase - spendAfter - ev.refunded, nil
}

// Adjust implements ledger.Ledger.
func (s *Store) Adjust(ctx context.Context, req ledger.AdjustRequest) (ledger.AdjustResult, error) {
	norm, err := req.Normalize()
	if err != nil {
		return ledger.AdjustResult{}, err
	}
	out, replayed, err := write(ctx, s, norm.MemberID, "", ledger.OpAdjust, req.IdempotencyKey, req.Fingerprint, norm, false, func(ctx context.Context, tx *txn) (ledger.AdjustResult, error) {
		if err := norm.CheckExpiresAt(s.now()); err != nil {
			return ledger.AdjustResult{}, err
		}
		e := entry{kind: ledger.EntryAdjust, reference: norm.Reference, reason: norm.Reason}
		var (
			seq int64
			bal ledger.Balance
			err error
		)
		if norm.Points < 0 {
			seq, bal, err = s.debit(ctx, tx, norm.MemberID, -norm.Points, e)
		} else {
			seq, bal, err = s.credit(ctx, tx, norm.MemberID, norm.Points, norm.ExpiresAt, e)
		}
		if err != nil {
			return ledger.AdjustResult{}, err
		}
		return ledger.AdjustResult{EntrySeq: seq, MemberID: norm.MemberID, Points: norm.Points, Balance: bal}, nil
	})
	out.Replayed = replayed
	return out, err
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
	return record(ctx, tx, m, e)
}

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
		if _, err := tx.exec(ctx, `UPDATE lots SET state = 'available' WHERE id = ?`, l.id); err != nil {
			return r, fmt.Errorf("release lot: %w", err)
		}
		if l.remaining > 0 {
			if _, _, err = record(ctx, tx, m, entry{kind: ledger.EntryRelease, available: l.remaining, pending: -l.remaining, eventID: l.eventID, at: now}); err != nil {
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
		if _, _, err = record(ctx, tx, m, entry{kind: ledger.EntryExpire, available: -l.remaining, eventID: l.eventID, at: now}); err != nil {
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
			if _, _, err = record(ctx, tx, m, e); err != nil {
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
