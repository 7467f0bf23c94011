package storetest

import (
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
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
