package httpapi

import (
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// spendSnapshot has a ladder qualified by spend in USD: gold from 100,
// platinum from 200; a purchase earns 1 point per dollar, rounded down.
const spendSnapshot = `{
  "version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "club", "namespace": "shop", "displayName": "Club", "currency": "USD"},
  "points": {"earnRate": "1", "rounding": "Floor", "pendingPeriod": "0s", "lateEventGracePeriod": "72h", "actions": []},
  "tiers": [
    {"name": "member", "displayName": "Member", "rank": 0, "qualification": {"minQualifyingPoints": 0, "window": "365d"}},
    {"name": "gold", "displayName": "Gold", "rank": 1, "qualification": {"minSpend": "100", "window": "365d"}},
    {"name": "platinum", "displayName": "Platinum", "rank": 2, "qualification": {"minSpend": "200", "window": "365d"}}
  ],
  "campaigns": [],
  "rewards": []
}`

// TestPurchaseWithoutPointsCountsForSpendTiers: $99.50 and then $0.99, which
// earns no points, lift a member over the $100 spend tier, sent one by one
// or in a batch; what is missing for the next tier counts both.
func TestPurchaseWithoutPointsCountsForSpendTiers(t *testing.T) {
	e := newEnv(t, spendSnapshot)
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	ev := func(member, id, amount string) map[string]any {
		return map[string]any{"idempotencyKey": member + "-" + id, "memberId": member, "eventId": id, "amount": amount, "occurredAt": at}
	}
	e.enroll(t, "single")
	e.earn(t, ev("single", "big", "99.50"))
	if res, _ := e.earn(t, ev("single", "small", "0.99")); res.Points != 0 || res.EntrySeq == 0 {
		t.Fatalf("$0.99: %+v, want 0 points recorded", res)
	}

	e.enroll(t, "batched")
	r := e.do(t, "POST", "/v1/earn/batch", ingestKey, map[string]any{"events": []any{ev("batched", "big", "99.50"), ev("batched", "small", "0.99")}})
	var batch ledger.EarnBatchResult
	r.decode(t, &batch)
	if r.status != 200 || batch.Succeeded != 2 || batch.Items[1].Result.Points != 0 || batch.Items[1].Result.EntrySeq == 0 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}

	for _, id := range []string{"single", "batched"} {
		var v MemberResponse
		e.do(t, "GET", "/v1/members/"+id, readKey, nil).decode(t, &v)
		ts := v.TierStatus
		if v.Tier != "gold" || ts == nil || ts.Current != "gold" || ts.Next == nil || ts.Next.Name != "platinum" ||
			ts.Next.MissingSpend == nil || ts.Next.MissingSpend.String() != "99.51" {
			t.Errorf("%s: tier %q, status %+v; want gold with 99.51 missing for platinum", id, v.Tier, ts)
		}
	}
}
