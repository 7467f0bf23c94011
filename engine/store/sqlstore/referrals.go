package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// referralEvent is the event id of a referral's reward lots and entries, on
// both members; the referee's id makes it unique for the referrer.
func referralEvent(refereeID string) string { return "referral:" + refereeID }

// referrerReason is the reason of a referrer's reward, before the referee's id.
const referrerReason = "referral reward: referrer of "

// referralRefusal names the request's referralCode in a refusal of the
// rules, keeping its code and message: the code is what the client chose.
func referralRefusal(err error) error {
	var re *rules.Error
	if errors.As(err, &re) {
		return &rules.Error{Code: re.Code, Field: "referralCode", Message: re.Message}
	}
	return err
}

// checkReferralCode resolves the code of a member being enrolled to its
// owner and checks the referral with rules.CheckReferral; exists says the
// member is already enrolled, which makes them already referred (a member
// is referred only at enrolment). The referrer's cap counts converted
// referrals only: a pending referral beyond it is recorded but cannot
// convert, since conversion checks the cap again under the referrer's lock.
func checkReferralCode(ctx context.Context, tx *txn, r ledger.EnrollRequest, exists bool) (string, error) {
	ref := rules.Referral{RefereeID: r.MemberID, RefereeAlreadyReferred: exists}
	if r.Referral != nil {
		err := tx.queryRow(ctx, `SELECT id FROM members WHERE referral_code = ?`, []any{&ref.ReferrerID}, r.ReferralCode)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("find referral code: %w", err)
		}
		if ref.ReferrerID != "" {
			if ref.ReferrerConverted, err = convertedReferrals(ctx, tx, ref.ReferrerID); err != nil {
				return "", err
			}
		}
	}
	if err := rules.CheckReferral(&config.Snapshot{Referral: r.Referral}, ref); err != nil {
		return "", referralRefusal(err)
	}
	return ref.ReferrerID, nil
}

func convertedReferrals(ctx context.Context, tx *txn, referrerID string) (int64, error) {
	var n int64
	err := tx.queryRow(ctx, `SELECT COUNT(*) FROM referrals WHERE referrer_id = ? AND converted_at IS NOT NULL AND NOT clawed_back`,
		[]any{&n}, referrerID)
	if err != nil {
		return 0, fmt.Errorf("count converted referrals: %w", err)
	}
	return n, nil
}

// referrerLock reads, before the transaction, the referrer that a write
// for the member may also write to (cond selects the referral), so that the
// batch locks both members in id order. A referral never changes referrer;
// should this read miss one, the transaction locks the referrer when it
// finds the referral, and a deadlock that may cause is retried.
func (s *Store) referrerLock(ctx context.Context, memberID, cond string, args ...any) ([]string, error) {
	var id string
	err := s.cfg.ReadDB.QueryRowContext(ctx, s.cfg.Dialect.rebind(`SELECT referrer_id FROM referrals WHERE referee_id = ? AND `+cond),
		append([]any{memberID}, args...)...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read referral: %w", err)
	}
	return []string{id}, nil
}

// convertReferral converts the referee's unconverted referral when the
// purchase r qualifies: it rewards the referee refereeReward and the
// referrer rules.ReferrerReward of their converted referrals counting this
// one, each as an earn entry and a lot pending until the hold period ends.
// A purchase below the minimum, or a referrer at their cap, converts
// nothing. It returns the referee's balance after the rewards.
func (s *Store) convertReferral(ctx context.Context, tx *txn, referee *memberRow, r ledger.EarnRequest, occurred, now time.Time) (*ledger.ReferralConversion, error) {
	var referrerID string
	err := tx.queryRow(ctx, `SELECT referrer_id FROM referrals WHERE referee_id = ? AND converted_at IS NULL`, []any{&referrerID}, r.MemberID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read referral: %w", err)
	}
	referrer, err := lockMember(ctx, tx, referrerID)
	if err != nil {
		return nil, err
	}
	converted, err := convertedReferrals(ctx, tx, referrerID)
	if err != nil {
		return nil, err
	}
	scale := int64(1)
	for range 4 - rules.MinorUnits(r.Currency) {
		scale *= 10
	}
	rw, err := rules.ConvertReferral(&config.Snapshot{Referral: r.Referral}, rules.Conversion{
		Amount: config.DecimalFromUnits(r.PurchaseAmount * scale), OccurredAt: occurred, ReferrerConverted: converted,
	})
	var re *rules.Error
	if errors.As(err, &re) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// Written first: the operation has then written, so a later failure
	// rolls the batch back rather than undo the buffered rows.
	if _, err := tx.exec(ctx, `UPDATE referrals SET converted_at = ?, qualifying_event_id = ?, referrer_reward = ?, referee_reward = ? WHERE referee_id = ?`,
		now.UnixMicro(), r.EventID, rw.Referrer, rw.Referee, r.MemberID); err != nil {
		return nil, fmt.Errorf("convert referral: %w", err)
	}
	ev := referralEvent(r.MemberID)
	if err := grantReferral(ctx, tx, referee, ev, r.EventID, rw.Referee, rw.AvailableAt, now, "referral reward: referee"); err != nil {
		return nil, err
	}
	if err := grantReferral(ctx, tx, referrer, ev, r.EventID, rw.Referrer, rw.AvailableAt, now, referrerReason+r.MemberID); err != nil {
		return nil, err
	}
	if err := tx.emit(ledger.EventReferralConverted, r.MemberID, now, referralData{ReferrerID: referrerID, EventID: r.EventID,
		ReferrerReward: rw.Referrer, RefereeReward: rw.Referee}); err != nil {
		return nil, err
	}
	return &ledger.ReferralConversion{ReferrerID: referrerID, ReferrerReward: rw.Referrer, RefereeReward: rw.Referee, AvailableAt: rw.AvailableAt}, nil
}

// grantReferral credits a referral reward like an earn: a lot without
// expiry, pending until availableAt when that is in the future.
func grantReferral(ctx context.Context, tx *txn, m *memberRow, ev, purchase string, points int64, availableAt, now time.Time, reason string) error {
	if points == 0 {
		return nil
	}
	state := lotAvailable
	e := entry{kind: ledger.EntryEarn, available: points, lifetime: points, eventID: ev, reference: purchase, reason: reason, at: now}
	if availableAt.After(now) {
		state, e.available, e.pending = lotPending, 0, points
	} else {
		availableAt = now
	}
	insertLot(tx, m.id, ev, points, state, availableAt, time.Time{})
	_, _, err := changeBalance(ctx, tx, m, e)
	return err
}

// clawBackReferral reverses both rewards of the referral that the
// referee's purchase eventID converted, once that purchase is fully
// reversed, and marks the referral clawed back. Like a reversal, each takes
// from its pending lot first, then from available lots, and records what
// is missing as the shortfall.
func (s *Store) clawBackReferral(ctx context.Context, tx *txn, referee *memberRow, eventID string, now time.Time) (bool, error) {
	var referrerID string
	var referrerReward, refereeReward int64
	err := tx.queryRow(ctx, `SELECT referrer_id, referrer_reward, referee_reward FROM referrals
		WHERE referee_id = ? AND qualifying_event_id = ? AND converted_at IS NOT NULL AND NOT clawed_back`,
		[]any{&referrerID, &referrerReward, &refereeReward}, referee.id, eventID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read referral: %w", err)
	}
	referrer, err := lockMember(ctx, tx, referrerID)
	if err != nil {
		return false, err
	}
	if _, err := tx.exec(ctx, `UPDATE referrals SET clawed_back = TRUE WHERE referee_id = ?`, referee.id); err != nil {
		return false, fmt.Errorf("claw back referral: %w", err)
	}
	ev := referralEvent(referee.id)
	reason := "referral clawed back: purchase " + eventID + " reversed"
	if err := takeBackReferral(ctx, tx, referee, ev, eventID, refereeReward, reason, now); err != nil {
		return false, err
	}
	if err := takeBackReferral(ctx, tx, referrer, ev, eventID, referrerReward, reason, now); err != nil {
		return false, err
	}
	return true, nil
}

func takeBackReferral(ctx context.Context, tx *txn, m *memberRow, ev, purchase string, points int64, reason string, now time.Time) error {
	if points == 0 {
		return nil
	}
	fromPending, err := takeLots(ctx, tx, m.id, lotPending, ev, points)
	if err != nil {
		return err
	}
	fromAvailable, err := takeLots(ctx, tx, m.id, lotAvailable, "", points-fromPending)
	if err != nil {
		return err
	}
	_, _, err = changeBalance(ctx, tx, m, entry{
		kind: ledger.EntryReverse, available: -fromAvailable, pending: -fromPending, lifetime: -points,
		eventID: ev, reference: purchase, reason: reason, shortfall: points - fromPending - fromAvailable, at: now,
	})
	return err
}
