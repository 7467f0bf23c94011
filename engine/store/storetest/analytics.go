package storetest

import (
	"errors"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// SeedAnalytics writes a small program's history, recorded at the store's
// clock (about t0) except for an expiry on day 10, and returns the
// aggregates of a window from a day before it to day 11, computed by hand:
//
//   - members a, b, c, old (enrolled 30 days before) and r1..r4, referred
//     by a (r1..r3) and b (r4);
//   - purchases (EUR) a 100.00 for 100 points expiring on day 10, b 50.00
//     for 50, r1 25.00 for 25, r2 30.00 for 30, r3 40.00 for 40, r4 20.00
//     for 20; each referee's purchase converts their referral (referee 50,
//     referrer 100, 150 for a referrer's second converted referral), all
//     pending for 14 days;
//   - r2's purchase is fully reversed, which claws back its referral; so
//     r3 is a's second converted referral again (150);
//   - b redeems 20 and reverses 10 of the 50 points of its purchase (its
//     spend counts 40.00); c is adjusted +240 then -10, redeems the coffee
//     reward (100) twice and cancels one of them;
//   - ProcessDue on day 10 expires a's 100.
func SeedAnalytics(t testing.TB, s ledger.Ledger) rules.Aggregates {
	t.Helper()
	p := referralPolicy(5)
	for _, id := range []string{"a", "b", "c"} {
		enroll(t, s, id)
	}
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll-old", MemberID: "old", EnrolledAt: day(-30)}); err != nil {
		t.Fatalf("enroll old: %v", err)
	}
	for _, r := range []struct{ id, referrer string }{{"r1", "a"}, {"r2", "a"}, {"r3", "a"}, {"r4", "b"}} {
		if _, err := enrollReferred(s, r.id, referralCode(t, s, r.referrer), p); err != nil {
			t.Fatalf("enroll %s: %v", r.id, err)
		}
	}
	earn(t, s, ledger.EarnRequest{MemberID: "a", EventID: "pa", Points: 100, PurchaseAmount: 10000, Currency: "EUR", OccurredAt: t0,
		ExpiresAt: day(10), Referral: p})
	purchase(t, s, "b", "pb", 5000, 50, p)
	purchase(t, s, "r1", "p1", 2500, 25, p)
	purchase(t, s, "r2", "p2", 3000, 30, p)
	if res, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "rev-p2", MemberID: "r2", EventID: "p2"}); err != nil || !res.ReferralClawedBack {
		t.Fatalf("reverse p2: %v %+v", err, res)
	}
	if res := purchase(t, s, "r3", "p3", 4000, 40, p); res.Referral == nil || res.Referral.ReferrerReward != 150 {
		t.Fatalf("r3's conversion: %+v", res.Referral)
	}
	purchase(t, s, "r4", "p4", 2000, 20, p)
	redeem(t, s, "b", "redeem-b", 20)
	if _, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "rev-pb", MemberID: "b", EventID: "pb", Points: 10}); err != nil {
		t.Fatalf("reverse pb: %v", err)
	}
	for i, pts := range []int64{240, -10} {
		if _, err := s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: key("adjust-c", i), MemberID: "c", Points: pts, Reason: "goodwill"}); err != nil {
			t.Fatalf("adjust c %d: %v", pts, err)
		}
	}
	var code string
	for i := range 2 {
		res, err := redeemReward(s, key("coffee-c", i), "c", "coffee")
		if err != nil {
			t.Fatalf("redeem coffee %d: %v", i, err)
		}
		code = res.Redemption.Code
	}
	if _, err := s.CancelRedemption(ctx, ledger.CancelRedemptionRequest{IdempotencyKey: "cancel-c", Code: code}); err != nil {
		t.Fatalf("cancel coffee: %v", err)
	}
	if r := processDue(t, s, day(10)); r.ExpiredPoints != 100 || r.ReleasedLots != 0 {
		t.Fatalf("process due on day 10: %+v", r)
	}
	return rules.Aggregates{
		Members:       8, // a, b, c, old, r1..r4
		ActiveMembers: 7, // all but old
		// Purchases 100+50+25+30+40+20; referral rewards of r1 100+50, r2
		// 150+50 (issued, then clawed back), r3 150+50, r4 100+50; +240.
		PointsIssued:   265 + 700 + 240,
		PointsRedeemed: 20 + 2*100 - 100,
		PointsExpired:  100,
		// a 100.00, b 50.00 × 40/50, r1 25.00, r2 0 (reversed), r3 40.00, r4 20.00.
		SpendSinceEnrollment: config.MustDecimal("225"),
		ReferralsMade:        4,
		ReferralsConverted:   3, // r1, r3, r4; r2 clawed back
		Referrers:            2,
		RepeatReferrers:      1,
		ReferralRewardsCost:  (100 + 50) + (150 + 50) + (100 + 50),
		// Available: b 50-20-10, c 240-10-200+100, r1 25, r3 40, r4 20;
		// pending: a 100+150, b 100, r1, r3, r4 50 each.
		OutstandingAvailable: 20 + 130 + 25 + 40 + 20,
		OutstandingPending:   250 + 100 + 3*50,
	}
}

// testAggregates checks each aggregate of SeedAnalytics over its window,
// over a window holding only the expiry, and the window's validation.
func testAggregates(t *testing.T, s ledger.Ledger) {
	want := SeedAnalytics(t, s)
	if got, err := s.Aggregates(ctx, day(-1), day(11)); err != nil || asJSON(t, got) != asJSON(t, want) {
		t.Fatalf("aggregates of the whole history: %v\n%+v\nwant\n%+v", err, got, want)
	}
	// From day 5 only the expiry is in the window; membership, spend since
	// enrolment and balances do not depend on from.
	late := rules.Aggregates{Members: 8, PointsExpired: 100, SpendSinceEnrollment: want.SpendSinceEnrollment,
		OutstandingAvailable: want.OutstandingAvailable, OutstandingPending: want.OutstandingPending}
	if got, err := s.Aggregates(ctx, day(5), day(11)); err != nil || asJSON(t, got) != asJSON(t, late) {
		t.Fatalf("aggregates from day 5: %v\n%+v\nwant\n%+v", err, got, late)
	}
	// Up to day 10 excluded: before the expiry. Up to 31 days before t0:
	// only old is enrolled, and nothing else happened.
	early := want
	early.PointsExpired = 0
	if got, err := s.Aggregates(ctx, day(-1), day(10)); err != nil || asJSON(t, got) != asJSON(t, early) {
		t.Fatalf("aggregates to day 10: %v\n%+v\nwant\n%+v", err, got, early)
	}
	before := rules.Aggregates{Members: 1, SpendSinceEnrollment: config.DecimalFromUnits(0),
		OutstandingAvailable: want.OutstandingAvailable, OutstandingPending: want.OutstandingPending}
	if got, err := s.Aggregates(ctx, day(-60), day(-29)); err != nil || asJSON(t, got) != asJSON(t, before) {
		t.Fatalf("aggregates before t0: %v\n%+v\nwant\n%+v", err, got, before)
	}
	var fe *ledger.FieldError
	if _, err := s.Aggregates(ctx, day(1), day(1)); !errors.As(err, &fe) || fe.Field != "from" {
		t.Fatalf("empty window: %v, want a field error on from", err)
	}
}
