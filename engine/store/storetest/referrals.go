package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// testReferralCodes: every member gets a distinct 12-character referral
// code at enrolment, which a replay and the member view repeat.
func testReferralCodes(t *testing.T, s ledger.Ledger) {
	seen := map[string]string{}
	for i := range 20 {
		req := ledger.EnrollRequest{IdempotencyKey: key("enroll", i), MemberID: key("m", i)}
		res, err := s.Enroll(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		code := res.Member.ReferralCode
		if len(code) != 12 || seen[code] != "" {
			t.Fatalf("member %d: referral code %q (seen for %q)", i, code, seen[code])
		}
		seen[code] = req.MemberID
		if replay, err := s.Enroll(ctx, req); err != nil || replay.Member.ReferralCode != code {
			t.Fatalf("replay: %v %+v", err, replay)
		}
		if v := member(t, s, req.MemberID, t0); v.ReferralCode != code {
			t.Fatalf("member view of %s: code %q, want %q", req.MemberID, v.ReferralCode, code)
		}
	}
}

// referralPolicy: 100 points to the referrer (150 from their second
// converted referral), 50 to the referee, from a purchase of 20.00, held 14
// days, at most maxReferrals converted referrals per referrer.
func referralPolicy(maxReferrals int32) *config.ReferralPolicy {
	return &config.ReferralPolicy{
		ReferrerReward: 100, RefereeReward: 50,
		QualifyingPurchaseMinimum: config.MustDecimal("20"),
		MaxReferralsPerReferrer:   &maxReferrals,
		HoldPeriod:                config.DurationOf(14 * 24 * time.Hour),
		ReferrerRewardTiers:       []config.ReferrerRewardTier{{MinReferrals: 2, Reward: 150}},
	}
}

func enrollReferred(s ledger.Ledger, id, code string, p *config.ReferralPolicy) (ledger.EnrollResult, error) {
	return s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll-" + id + "-" + code, MemberID: id, ReferralCode: code, Referral: p})
}

// purchase earns a purchase of cents (EUR) worth points, now.
func purchase(t testing.TB, s ledger.Ledger, id, eventID string, cents, points int64, p *config.ReferralPolicy) ledger.EarnResult {
	t.Helper()
	return earn(t, s, ledger.EarnRequest{MemberID: id, EventID: eventID, Points: points, PurchaseAmount: cents, Currency: "EUR", OccurredAt: t0, Referral: p})
}

func wantReferralRefusal(t testing.TB, err error, code string) {
	t.Helper()
	var re *rules.Error
	if !errors.As(err, &re) || re.Code != code || re.Field != "referralCode" || re.Message == "" {
		t.Fatalf("error %v, want %s on referralCode", err, code)
	}
}

func wantReferrals(t testing.TB, s ledger.Ledger, id string, made, converted int64) {
	t.Helper()
	if v := member(t, s, id, t0); v.ReferralsMade != made || v.ReferralsConverted != converted {
		t.Fatalf("%s: %d referrals made, %d converted; want %d, %d", id, v.ReferralsMade, v.ReferralsConverted, made, converted)
	}
}

func referralCode(t testing.TB, s ledger.Ledger, id string) string {
	t.Helper()
	return member(t, s, id, t0).ReferralCode
}

// testReferralRefusals: each refusal names referralCode and writes
// nothing; the cap counts converted referrals.
func testReferralRefusals(t *testing.T, s ledger.Ledger) {
	p := referralPolicy(1)
	enroll(t, s, "ref")
	enroll(t, s, "plain")
	code := referralCode(t, s, "ref")

	_, err := enrollReferred(s, "n1", code, nil)
	wantReferralRefusal(t, err, rules.CodeReferralsDisabled)
	_, err = enrollReferred(s, "n1", "NOSUCHCODE00", p)
	wantReferralRefusal(t, err, rules.CodeUnknownReferralCode)
	_, err = enrollReferred(s, "ref", code, p)
	wantReferralRefusal(t, err, rules.CodeSelfReferral)
	_, err = enrollReferred(s, "plain", code, p)
	wantReferralRefusal(t, err, rules.CodeAlreadyReferred)
	if _, err := s.Member(ctx, "n1", t0); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Fatalf("refused referee enrolled: %v", err)
	}
	wantReferrals(t, s, "ref", 0, 0)

	res, err := enrollReferred(s, "a", code, p)
	if err != nil || res.ReferredBy != "ref" {
		t.Fatalf("enroll with code: %+v %v", res, err)
	}
	// Once referred, always referred: re-enrolling with a code is refused.
	_, err = s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "again", MemberID: "a", ReferralCode: code, Referral: p})
	wantReferralRefusal(t, err, rules.CodeAlreadyReferred)
	// A pending referral does not count against the cap of 1 ...
	if _, err := enrollReferred(s, "b", code, p); err != nil {
		t.Fatal(err)
	}
	wantReferrals(t, s, "ref", 2, 0)
	// ... a converted one does, and b cannot convert past it.
	if r := purchase(t, s, "a", "p1", 2000, 20, p); r.Referral == nil {
		t.Fatalf("qualifying purchase did not convert: %+v", r)
	}
	_, err = enrollReferred(s, "c", code, p)
	wantReferralRefusal(t, err, rules.CodeReferrerCapReached)
	if r := purchase(t, s, "b", "p1", 5000, 50, p); r.Referral != nil {
		t.Fatalf("conversion past the referrer's cap: %+v", r)
	}
	wantReferrals(t, s, "ref", 2, 1)
	wantBalance(t, s, "ref", 0, 100, 100)
	wantBalance(t, s, "b", 50, 0, 50)
}

// testReferralConversion: the first purchase of at least the minimum
// rewards both sides, pending until the hold period ends; the referrer's
// second conversion earns the tier's reward.
func testReferralConversion(t *testing.T, s ledger.Ledger) {
	p := referralPolicy(3)
	enroll(t, s, "ref")
	code := referralCode(t, s, "ref")
	for _, id := range []string{"a", "b"} {
		if _, err := enrollReferred(s, id, code, p); err != nil {
			t.Fatal(err)
		}
	}
	if r := purchase(t, s, "a", "small", 1999, 19, p); r.Referral != nil {
		t.Fatalf("purchase below the minimum converted: %+v", r)
	}
	r := purchase(t, s, "a", "first", 2000, 20, p)
	want := ledger.ReferralConversion{ReferrerID: "ref", ReferrerReward: 100, RefereeReward: 50, AvailableAt: day(14)}
	if r.Referral == nil || *r.Referral != want {
		t.Fatalf("conversion %+v, want %+v", r.Referral, want)
	}
	if r.Balance != (ledger.Balance{Available: 39, Pending: 50, LifetimeEarned: 89}) {
		t.Fatalf("balance in the earn result: %+v", r.Balance)
	}
	if r := purchase(t, s, "a", "second", 9000, 90, p); r.Referral != nil {
		t.Fatalf("second qualifying purchase converted again: %+v", r)
	}
	if r := purchase(t, s, "b", "first", 5000, 50, p); r.Referral == nil || r.Referral.ReferrerReward != 150 {
		t.Fatalf("second conversion of the referrer: %+v, want the tier reward 150", r.Referral)
	}
	wantBalance(t, s, "ref", 0, 250, 250)
	wantBalance(t, s, "a", 129, 50, 179)
	wantReferrals(t, s, "ref", 2, 2)

	if got := processDue(t, s, day(13)); got.ReleasedPoints != 0 {
		t.Fatalf("released during the hold period: %+v", got)
	}
	if got := processDue(t, s, day(15)); got.ReleasedPoints != 350 || got.ReleasedLots != 4 {
		t.Fatalf("after the hold period: %+v, want 4 lots of 350 points released", got)
	}
	wantBalance(t, s, "ref", 250, 0, 250)
	wantBalance(t, s, "a", 179, 0, 179)
	wantBalance(t, s, "b", 100, 0, 100)
}

// testReferralClawback: fully reversing the qualifying purchase reverses
// both rewards and uncounts the conversion; a partial reversal does not.
// Spent rewards are a shortfall and no balance goes negative.
func testReferralClawback(t *testing.T, s ledger.Ledger) {
	p := referralPolicy(3)
	enroll(t, s, "ref")
	code := referralCode(t, s, "ref")
	for _, id := range []string{"a", "b"} {
		if _, err := enrollReferred(s, id, code, p); err != nil {
			t.Fatal(err)
		}
	}
	purchase(t, s, "a", "p1", 3000, 30, p)
	reverse := func(id, key string, points int64) ledger.ReverseResult {
		t.Helper()
		res, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: key, MemberID: id, EventID: "p1", Points: points})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if r := reverse("a", "rev-a-1", 10); r.ReferralClawedBack {
		t.Fatalf("partial reversal clawed back: %+v", r)
	}
	wantReferrals(t, s, "ref", 2, 1)
	r := reverse("a", "rev-a-2", 0)
	if !r.ReferralClawedBack || r.Balance != (ledger.Balance{}) {
		t.Fatalf("full reversal: %+v", r)
	}
	wantBalance(t, s, "ref", 0, 0, 0)
	wantReferrals(t, s, "ref", 2, 0)
	if r := purchase(t, s, "a", "p2", 3000, 30, p); r.Referral != nil {
		t.Fatalf("clawed-back referral converted again: %+v", r)
	}

	// b converts (the referrer's first counted conversion: 100), the
	// rewards are released and the referrer spends 60 of them.
	if r := purchase(t, s, "b", "p1", 3000, 30, p); r.Referral == nil || r.Referral.ReferrerReward != 100 {
		t.Fatalf("conversion after a clawback: %+v", r.Referral)
	}
	processDue(t, s, day(15))
	redeem(t, s, "ref", "spend", 60)
	reverse("b", "rev-b", 0)
	wantBalance(t, s, "ref", 0, 0, 0)
	wantBalance(t, s, "b", 0, 0, 0)
	last := allHistory(t, s, "ref")[0]
	if last.Kind != ledger.EntryReverse || last.EventID != "referral:b" || last.Available != -40 || last.Shortfall != 60 {
		t.Fatalf("referrer's clawback entry %+v, want 40 taken and a shortfall of 60", last)
	}
}

// testConcurrentConversions: referees of one referrer buying at once
// convert exactly up to the referrer's cap, each paid the tier of its
// place in the order, since every conversion locks the referrer.
func testConcurrentConversions(t *testing.T, s ledger.Ledger) {
	p := referralPolicy(3)
	enroll(t, s, "ref")
	code := referralCode(t, s, "ref")
	ids := []string{"a", "b", "c", "d", "e", "f"}
	for _, id := range ids {
		if _, err := enrollReferred(s, id, code, p); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Go(func() {
			_, errs[i] = s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "buy-" + id, MemberID: id, EventID: "p1", Points: 30,
				PurchaseAmount: 3000, Currency: "EUR", OccurredAt: t0, Referral: p})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantReferrals(t, s, "ref", 6, 3)
	wantBalance(t, s, "ref", 0, 100+150+150, 400)
}
