// Package storetest is the conformance suite every ledger store must pass.
// Store packages call Run from their tests with a constructor of fresh,
// empty stores.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Factory returns a fresh, empty store; it registers closing it with t.Cleanup.
type Factory func(tb testing.TB) ledger.Ledger

// Run runs the whole suite, each test on its own store.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s ledger.Ledger)
	}{
		{"Enroll", testEnroll},
		{"Earn", testEarn},
		{"EarnBatch", testEarnBatch},
		{"LargeResultReplay", testLargeResultReplay},
		{"Redeem", testRedeem},
		{"IdempotencyScope", testIdempotencyScope},
		{"PendingRelease", testPendingRelease},
		{"ExpirySoonestFirst", testExpirySoonestFirst},
		{"ExpiringSoon", testExpiringSoon},
		{"Reverse", testReverse},
		{"ReverseOwnPendingFirst", testReverseOwnPendingFirst},
		{"ReverseShortfall", testReverseShortfall},
		{"ReverseByRefundAmount", testReverseByRefundAmount},
		{"PurchaseWithoutPoints", testPurchaseWithoutPoints},
		{"ReverseReturnsBonus", testReverseReturnsBonus},
		{"ConcurrentBonusReturn", testConcurrentBonusReturn},
		{"Adjust", testAdjust},
		{"History", testHistory},
		{"ConcurrentRedeem", testConcurrentRedeem},
		{"ConcurrentReplays", testConcurrentReplays},
		{"ConcurrentMixed", testConcurrentMixed},
		{"BatchMixedOutcomes", testBatchMixedOutcomes},
		{"Fingerprint", testFingerprint},
		{"ConcurrentBudget", testConcurrentBudget},
		{"ConcurrentMemberCap", testConcurrentMemberCap},
		{"ConcurrentUncappedSpend", testConcurrentUncappedSpend},
		{"ConcurrentMaxPerDay", testConcurrentMaxPerDay},
		{"ConcurrentActionLimits", testConcurrentActionLimits},
		{"BirthdayOncePerYear", testBirthdayOncePerYear},
		{"ConcurrentBirthdays", testConcurrentBirthdays},
		{"BirthdayAtFirstEarn", testBirthdayAtFirstEarn},
		{"ActionLimitsInTimeZone", testActionLimitsInTimeZone},
		{"CalendarYearTierInTimeZone", testCalendarYearTierInTimeZone},
		{"Tiers", testTiers},
		{"TierActivity", testTierActivity},
		{"EarnUpgrades", testEarnUpgrades},
		{"PricedTier", testPricedTier},
		{"PricingContexts", testPricingContexts},
		{"RedemptionRefusals", testRedemptionRefusals},
		{"RedeemAndCancel", testRedeemAndCancel},
		{"ConcurrentStock", testConcurrentStock},
		{"ConcurrentRewardLimit", testConcurrentRewardLimit},
		{"ReferralCodes", testReferralCodes},
		{"ReferralRefusals", testReferralRefusals},
		{"ReferralConversion", testReferralConversion},
		{"ReferralClawback", testReferralClawback},
		{"ConcurrentReferralConversions", testConcurrentConversions},
		{"UnstorableText", testUnstorableText},
		{"ImportUnstorableText", testImportUnstorableText},
		{"Times", testTimes},
		{"RefusedRedemptionWritesNothing", testRefusedRedemptionWritesNothing},
		{"PatchMember", testPatchMember},
		{"EraseMember", testEraseMember},
		{"PricedTags", testPricedTags},
		{"ConcurrentProfiles", testConcurrentProfiles},
		{"ConcurrentRenewals", testConcurrentRenewals},
		{"RewardEligibility", testRewardEligibility},
		{"Outbox", testOutbox},
		{"OutboxConcurrent", testOutboxConcurrent},
		{"OutboxCursors", testOutboxCursors},
		{"OutboxBudgetExhausted", testOutboxBudgetExhausted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			tc.fn(t, s)
			CheckInvariants(t, s)
		})
	}
}

// CheckInvariants fails the test if the store's invariants do not hold.
func CheckInvariants(t testing.TB, s ledger.Ledger) {
	t.Helper()
	if err := s.CheckInvariants(context.Background()); err != nil {
		t.Fatalf("invariants: %v", err)
	}
}

// t0 is the suite's reference time: lots are placed relative to it and
// ProcessDue runs at offsets from it.
var t0 = time.Now().UTC().Truncate(time.Second)

func day(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }

var ctx = context.Background()

// Helpers that must succeed.

func enroll(t testing.TB, s ledger.Ledger, id string) {
	t.Helper()
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll-" + id, MemberID: id}); err != nil {
		t.Fatalf("enroll %s: %v", id, err)
	}
}

func earn(t testing.TB, s ledger.Ledger, req ledger.EarnRequest) ledger.EarnResult {
	t.Helper()
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = "earn-" + req.MemberID + "-" + req.EventID
	}
	res, err := s.Earn(ctx, req)
	if err != nil {
		t.Fatalf("earn %+v: %v", req, err)
	}
	return res
}

func redeem(t testing.TB, s ledger.Ledger, id, key string, points int64) ledger.RedeemResult {
	t.Helper()
	res, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: key, MemberID: id, Points: points})
	if err != nil {
		t.Fatalf("redeem %d from %s: %v", points, id, err)
	}
	return res
}

func processDue(t testing.TB, s ledger.Ledger, now time.Time) ledger.ProcessDueResult {
	t.Helper()
	res, err := s.ProcessDue(ctx, ledger.DueOptions{Now: now})
	if err != nil {
		t.Fatalf("process due at %v: %v", now, err)
	}
	return res
}

func member(t testing.TB, s ledger.Ledger, id string, now time.Time) ledger.MemberView {
	t.Helper()
	v, err := s.Member(ctx, id, now)
	if err != nil {
		t.Fatalf("member %s: %v", id, err)
	}
	return v
}

func wantBalance(t testing.TB, s ledger.Ledger, id string, available, pending, lifetime int64) {
	t.Helper()
	got := member(t, s, id, t0).Balance
	want := ledger.Balance{Available: available, Pending: pending, LifetimeEarned: lifetime}
	if got != want {
		t.Fatalf("balance of %s = %+v, want %+v", id, got, want)
	}
}

// wantErr checks err against a sentinel (nil for success) and, when field is
// set, that it is a FieldError naming that field.
func wantErr(t testing.TB, what string, err, target error, field string) {
	t.Helper()
	if target == nil {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
	if field != "" {
		var fe *ledger.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Fatalf("%s: error %v, want a field error on %q", what, err, field)
		}
	}
}

func allHistory(t testing.TB, s ledger.Ledger, id string) []ledger.Entry {
	t.Helper()
	var all []ledger.Entry
	q := ledger.HistoryQuery{MemberID: id, Limit: ledger.MaxHistoryLimit}
	for {
		page, err := s.History(ctx, q)
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		all = append(all, page.Entries...)
		if page.NextCursor == "" {
			return all
		}
		q.Cursor = page.NextCursor
	}
}

func key(parts ...any) string { return fmt.Sprint(parts...) }
