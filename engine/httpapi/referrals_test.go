package httpapi

import (
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

const referralSnapshot = `{
  "version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "club", "namespace": "shop", "displayName": "Club", "currency": "EUR"},
  "points": {"earnRate": "1", "rounding": "Floor", "pendingPeriod": "0s",
             "expiry": {"afterEarn": "365d"}, "lateEventGracePeriod": "72h"},
  "referral": {"referrerReward": 100, "refereeReward": 50, "qualifyingPurchaseMinimum": "20",
               "maxReferralsPerReferrer": 1, "holdPeriod": "14d"}
}`

// TestReferralRoutes enrolls with a referral code, refuses each bad code
// as a 422 naming referralCode, converts on a qualifying purchase and
// claws back on its full reversal.
func TestReferralRoutes(t *testing.T) {
	e := newEnv(t, referralSnapshot)
	enroll := func(key, id, code string) response {
		return e.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": key, "memberId": id, "referralCode": code})
	}
	refuse := func(r response, code string) {
		t.Helper()
		if p := r.problem(t); r.status != 422 || p.Code != code || len(p.Errors) != 1 || p.Errors[0].Field != "referralCode" {
			t.Fatalf("want 422 %s on referralCode: %d %s", code, r.status, r.body)
		}
	}
	r := e.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "enroll-ref", "memberId": "ref"})
	var ref ledger.EnrollResult
	r.decode(t, &ref)
	code := ref.Member.ReferralCode

	refuse(enroll("e1", "new", "NOSUCHCODE00"), "unknownReferralCode")
	refuse(enroll("e2", "ref", code), "selfReferral")
	r = enroll("e3", "ana", code)
	var ana ledger.EnrollResult
	if r.decode(t, &ana); r.status != 201 || ana.ReferredBy != "ref" {
		t.Fatalf("enroll with code: %d %s", r.status, r.body)
	}
	refuse(enroll("e4", "ana", code), "alreadyReferred")

	r = e.do(t, "POST", "/v1/earn", ingestKey, earnBody("earn-1", "ana", "order-1", "25.00"))
	var earned ledger.EarnResult
	if r.decode(t, &earned); r.status != 200 || earned.Referral == nil || earned.Referral.RefereeReward != 50 || earned.Referral.ReferrerReward != 100 ||
		earned.Balance != (ledger.Balance{Available: 25, Pending: 50, LifetimeEarned: 75}) {
		t.Fatalf("qualifying purchase: %d %s", r.status, r.body)
	}
	refuse(enroll("e5", "ben", code), "referrerCapReached")
	var view ledger.MemberView
	if e.do(t, "GET", "/v1/members/ref", readKey, nil).decode(t, &view); view.ReferralsMade != 1 || view.ReferralsConverted != 1 || view.Pending != 100 {
		t.Fatalf("referrer view: %+v", view)
	}

	r = e.do(t, "POST", "/v1/reverse", ingestKey, map[string]any{"idempotencyKey": "rev-1", "memberId": "ana", "eventId": "order-1"})
	var rev ledger.ReverseResult
	if r.decode(t, &rev); r.status != 200 || !rev.ReferralClawedBack || rev.Balance != (ledger.Balance{}) {
		t.Fatalf("full reversal: %d %s", r.status, r.body)
	}
	if e.do(t, "GET", "/v1/members/ref", readKey, nil).decode(t, &view); view.ReferralsConverted != 0 || view.Pending != 0 {
		t.Fatalf("referrer view after the clawback: %+v", view)
	}

	// Without a referral policy, codes are refused.
	plain := newEnv(t, testSnapshot)
	plain.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "enroll-ref", "memberId": "ref"}).decode(t, &ref)
	r = plain.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "e1", "memberId": "ana", "referralCode": ref.Member.ReferralCode})
	if p := r.problem(t); r.status != 422 || p.Code != "referralsDisabled" || p.Errors[0].Field != "referralCode" {
		t.Fatalf("referrals disabled: %d %s", r.status, r.body)
	}
}
