package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

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
	j := s.newJob(idemOp{op: ledger.OpReverse, memberID: norm.MemberID, key: req.IdempotencyKey,
		hash: requestHash(ledger.OpReverse, req.Fingerprint, norm)}, func(ctx context.Context, tx *txn) (any, error) {
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
	encoded = marshalBonuses(bonuses)
	if _, err := tx.exec(ctx, `UPDATE events SET reversed = reversed + ?, refunded = refunded + ?, clawed = clawed + ?, bonuses = ? WHERE member_id = ? AND event_id = ?`,
		requested, refund, fromPending+fromAvailable, encoded, r.MemberID, r.EventID); err != nil {
		return ledger.ReverseResult{}, fmt.Errorf("update event: %w", err)
	}
	if _, err := tx.exec(ctx, `UPDATE member_activity_daily SET points = points - ?, spend = spend - ? WHERE member_id = ? AND day = ? AND currency = ?`,
		requested, refund, r.MemberID, activityDay(occurred), currency); err != nil {
		return ledger.ReverseResult{}, fmt.Errorf("update activity: %w", err)
	}
	now := s.now()
	seq, _, err := changeBalance(ctx, tx, m, entry{
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
