package httpapi

import (
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// TestRefundGivesBackCampaignCap: a member at a campaign's perMemberCap
// fully refunds a bonus purchase; the campaign's budget and the member's
// cap get that bonus back, so the next purchase earns the bonus again
// instead of memberCapReached.
func TestRefundGivesBackCampaignCap(t *testing.T) {
	windowEnd := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	e := newEnv(t, campaignSnapshot(windowEnd))
	e.enroll(t, "capped", "capped")
	at := windowEnd.Add(-time.Minute).Format(time.RFC3339)
	ev := func(id string) map[string]any {
		return map[string]any{"idempotencyKey": id, "memberId": "capped", "eventId": id, "amount": "10", "occurredAt": at}
	}
	capped := func(res earnedFull) rules.CampaignExplanation {
		t.Helper()
		for _, c := range res.Explanation.Campaigns {
			if c.Name == "capped" {
				return c
			}
		}
		t.Fatalf("no campaign capped in %+v", res.Explanation)
		return rules.CampaignExplanation{}
	}
	granted := func() int64 {
		var v CampaignView
		e.do(t, "GET", "/v1/campaigns/capped", readKey, nil).decode(t, &v)
		return v.Granted
	}
	for _, id := range []string{"a", "b"} { // 40, then the 20 left of the cap of 60
		e.earn(t, ev(id))
	}
	if res, _ := e.earn(t, ev("c")); capped(res).Reason != rules.ReasonMemberCapReached {
		t.Fatalf("third purchase: %+v, want memberCapReached", capped(res))
	}
	if g := granted(); g != 60 {
		t.Fatalf("campaign granted %d, want 60", g)
	}

	r := e.do(t, "POST", "/v1/reverse", ingestKey, map[string]any{"idempotencyKey": "refund-a", "memberId": "capped", "eventId": "a"})
	var rev ledger.ReverseResult
	r.decode(t, &rev)
	if r.status != 200 || rev.BonusReturned["capped"] != 40 || rev.BonusReturned["bonus"] != 5 {
		t.Fatalf("full refund of a: %d %s, want 40 of capped and 5 of bonus back", r.status, r.body)
	}
	if g := granted(); g != 20 {
		t.Fatalf("campaign granted %d after the refund, want 20", g)
	}
	if res, _ := e.earn(t, ev("d")); capped(res).Reason != "" || capped(res).Granted != 40 {
		t.Fatalf("purchase after the refund: %+v, want the whole bonus of 40", capped(res))
	}
}
