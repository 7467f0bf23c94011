package httpapi

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/service"
)

// staleTiers prices members as if remembered from before any tier change,
// like a replica whose cached tier another replica has since changed: the
// entry tier, unless the query asks for a fresh read (and always, with
// alwaysStale).
type staleTiers struct {
	ledger.Ledger
	alwaysStale bool
	pricings    atomic.Int64
}

func (l *staleTiers) PricingContexts(ctx context.Context, qs []ledger.PricingQuery) ([]ledger.PricingState, error) {
	l.pricings.Add(1)
	out, err := l.Ledger.PricingContexts(ctx, qs)
	for i := range out {
		if l.alwaysStale || !qs[i].Fresh {
			out[i].Member.Tier = ""
		}
	}
	return out, err
}

// An event priced for a tier the member has left is priced again from the
// store and earns at the member's tier, alone, in a batch, and when the old
// tier would have earned it nothing; a tier that keeps changing ends in a
// 409 that recorded nothing.
func TestEarnPricedAgainAfterTierChange(t *testing.T) {
	windowEnd := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Minute) // no campaign applies
	stale := &staleTiers{}
	e := newEnvWith(t, campaignSnapshot(windowEnd), func(l ledger.Ledger) ledger.Ledger {
		stale.Ledger = l
		return stale
	})
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	ev := func(key, amount string) map[string]any {
		return map[string]any{"idempotencyKey": key, "memberId": "climber", "eventId": key, "amount": amount, "occurredAt": at}
	}
	e.enroll(t, "climber")
	e.earn(t, ev("a", "100")) // silver from here, earning twice the base rate

	stale.pricings.Store(0)
	res, _ := e.earn(t, ev("b", "10"))
	if res.Points != 20 || res.Explanation.Tier.Name != "silver" || stale.pricings.Load() != 2 {
		t.Fatalf("earn priced for the old tier: %d points at %q after %d pricings, want 20 at silver after 2",
			res.Points, res.Explanation.Tier.Name, stale.pricings.Load())
	}
	// 0.50 earns nothing at the entry tier and 1 point at silver.
	if res, _ := e.earn(t, ev("c", "0.50")); res.Points != 1 {
		t.Fatalf("earn that the old tier rounds to nothing: %d points, want 1", res.Points)
	}
	r := e.do(t, "POST", "/v1/earn/batch", ingestKey, map[string]any{"events": []any{ev("d", "10"), ev("e", "5")}})
	var batch ledger.EarnBatchResult
	r.decode(t, &batch)
	if r.status != 200 || batch.Succeeded != 2 || batch.Items[0].Result.Points != 20 || batch.Items[1].Result.Points != 10 {
		t.Fatalf("batch priced for the old tier: %d %s", r.status, r.body)
	}

	stale.alwaysStale = true
	stale.pricings.Store(0)
	r = e.do(t, "POST", "/v1/earn", ingestKey, ev("f", "10"))
	if p := r.problem(t); r.status != 409 || p.Code != "tier_changed" || stale.pricings.Load() != service.MaxPricings {
		t.Fatalf("tier changing at every pricing: %d %s after %d pricings, want 409 tier_changed after %d",
			r.status, r.body, stale.pricings.Load(), service.MaxPricings)
	}
	stale.alwaysStale = false
	if res, _ := e.earn(t, ev("f", "10")); res.Points != 20 || res.Replayed {
		t.Fatalf("the refused event under its key: %+v, want 20 points, not a replay", res)
	}
	var v MemberResponse
	e.do(t, "GET", "/v1/members/climber", readKey, nil).decode(t, &v)
	if v.Available != 100+20+1+20+10+20 {
		t.Fatalf("balance %d, want %d", v.Available, 100+20+1+20+10+20)
	}
}
