package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// An earn answers the summary of its explanation by default and the full
// explanation with explain=full, in a batch too; POST /v1/earn/price
// answers what the event would earn, with the full explanation, and
// writes nothing.
func TestEarnExplainAndPrice(t *testing.T) {
	windowEnd := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	e := newEnv(t, campaignSnapshot(windowEnd))
	e.enroll(t, "capped", "capped")
	at := windowEnd.Add(-time.Minute).Format(time.RFC3339)
	ev := func(key string) map[string]any {
		return map[string]any{"idempotencyKey": key, "memberId": "capped", "eventId": key, "amount": "10", "occurredAt": at}
	}

	r := e.do(t, "POST", "/v1/earn/price", ingestKey, map[string]any{"memberId": "capped", "eventId": "p1", "amount": "10", "occurredAt": at})
	var q Quote
	r.decode(t, &q)
	if r.status != 200 || q.Points != 10+5+40 || q.Explanation == nil || q.Explanation.Points != q.Points || q.Explanation.Campaigns[0].Stacking == "" {
		t.Fatalf("price: %d %s", r.status, r.body)
	}
	var v MemberResponse
	if e.do(t, "GET", "/v1/members/capped", readKey, nil).decode(t, &v); v.LifetimeEarned != 0 {
		t.Fatalf("pricing wrote: %+v", v)
	}

	isFull := func(raw json.RawMessage) bool { return strings.Contains(string(raw), `"rounding"`) }
	var res struct {
		Points      int64
		Explanation json.RawMessage
	}
	r = e.do(t, "POST", "/v1/earn", ingestKey, ev("e1"))
	if r.decode(t, &res); r.status != 200 || res.Points != q.Points || isFull(res.Explanation) {
		t.Fatalf("earn: %d %s, want %d points and the summary", r.status, r.body, q.Points)
	}
	r = e.do(t, "POST", "/v1/earn?explain=full", ingestKey, ev("e2"))
	if r.decode(t, &res); r.status != 200 || !isFull(res.Explanation) {
		t.Fatalf("earn explain=full: %d %s", r.status, r.body)
	}
	var batch struct {
		Items []struct {
			Result struct{ Explanation json.RawMessage }
		}
	}
	r = e.do(t, "POST", "/v1/earn/batch?explain=full", ingestKey, map[string]any{"events": []any{ev("e3")}})
	if r.decode(t, &batch); r.status != 200 || len(batch.Items) != 1 || !isFull(batch.Items[0].Result.Explanation) {
		t.Fatalf("batch explain=full: %d %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/v1/earn/batch", ingestKey, map[string]any{"events": []any{ev("e4")}})
	if r.decode(t, &batch); r.status != 200 || len(batch.Items) != 1 || isFull(batch.Items[0].Result.Explanation) {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}

	r = e.send(t, markRequest(e.request(t, "POST", "/v1/earn?explain=all", ingestKey, ev("e5")), requestInvalid))
	if p := r.problem(t); r.status != 400 || p.Errors[0].Field != "explain" {
		t.Fatalf("explain=all: %d %s", r.status, r.body)
	}
	// The price of the next event is for the member as the earns left
	// them: silver (earning double), the capped campaign's 60 per member
	// used up.
	r = e.do(t, "POST", "/v1/earn/price", ingestKey, map[string]any{"memberId": "capped", "eventId": "p2", "amount": "10", "occurredAt": at})
	if r.decode(t, &q); r.status != 200 || q.Points != 20+5 || !strings.Contains(string(r.body), `"memberCapReached"`) {
		t.Fatalf("price after the cap: %d %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/v1/earn/price", ingestKey, map[string]any{"memberId": "nobody", "eventId": "p3", "amount": "10", "occurredAt": at})
	if p := r.problem(t); r.status != 404 || p.Code != ledger.ErrorCode(ledger.ErrMemberNotFound) {
		t.Fatalf("price for a member not enrolled: %d %s", r.status, r.body)
	}
	late := time.Now().Add(-100 * time.Hour).UTC().Format(time.RFC3339)
	r = e.do(t, "POST", "/v1/earn/price", ingestKey, map[string]any{"memberId": "capped", "eventId": "p4", "amount": "10", "occurredAt": late})
	if p := r.problem(t); r.status != 422 || p.Code != "late_event" {
		t.Fatalf("late price: %d %s", r.status, r.body)
	}
}
