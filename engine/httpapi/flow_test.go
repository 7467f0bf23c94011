package httpapi

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/storetest"
)

func TestMemberLifecycle(t *testing.T) {
	e := newEnv(t, testSnapshot)

	r := e.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "enroll-ana", "memberId": "ana", "tags": []string{"vip"}})
	if r.status != 201 {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	if r = e.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "enroll-ana", "memberId": "ana", "tags": []string{"vip"}}); r.status != 200 || !strings.Contains(string(r.body), `"replayed":true`) {
		t.Fatalf("enroll replay: %d %s", r.status, r.body)
	}
	if r = e.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "enroll-ana-2", "memberId": "ana"}); r.status != 409 || r.problem(t).Code != "member_exists" {
		t.Fatalf("enroll twice: %d %s", r.status, r.body)
	}

	// 12.50 EUR at 1.5 points per euro, floored: 18 points.
	var earned ledger.EarnResult
	r = e.do(t, "POST", "/v1/earn", ingestKey, earnBody("earn-1", "ana", "order-1", "12.50"))
	if r.status != 200 {
		t.Fatalf("earn: %d %s", r.status, r.body)
	}
	r.decode(t, &earned)
	if earned.Points != 18 || earned.Pending || earned.Balance.Available != 18 || earned.Replayed {
		t.Errorf("earn result = %+v, want 18 available points", earned)
	}
	var replay ledger.EarnResult
	e.do(t, "POST", "/v1/earn", ingestKey, earnBody("earn-1", "ana", "order-1", "12.50")).decode(t, &replay)
	if !replay.Replayed || replay.EntrySeq != earned.EntrySeq || replay.Points != 18 {
		t.Errorf("replay = %+v, want the original result replayed", replay)
	}
	if r = e.do(t, "POST", "/v1/earn", ingestKey, earnBody("earn-1", "ana", "order-1", "99")); r.status != 409 || r.problem(t).Code != "idempotency_key_reused" {
		t.Errorf("key reuse: %d %s", r.status, r.body)
	}
	if r = e.do(t, "POST", "/v1/earn", ingestKey, earnBody("earn-1b", "ana", "order-1", "5")); r.status != 409 || r.problem(t).Code != "duplicate_event" {
		t.Errorf("duplicate event: %d %s", r.status, r.body)
	}
	// An amount that earns no points is recorded all the same, for its
	// spend, with an entry that moves no points; a retry replays it.
	var zero ledger.EarnResult
	if r = e.do(t, "POST", "/v1/earn", ingestKey, earnBody("earn-small", "ana", "order-small", "0.50")); r.status != 200 {
		t.Fatalf("small earn: %d %s", r.status, r.body)
	}
	r.decode(t, &zero)
	if zero.Points != 0 || zero.EntrySeq == 0 || zero.Balance.Available != 18 || zero.Replayed {
		t.Errorf("small earn = %+v", zero)
	}
	var again ledger.EarnResult
	e.do(t, "POST", "/v1/earn", ingestKey, earnBody("earn-small", "ana", "order-small", "0.50")).decode(t, &again)
	if !again.Replayed || again.EntrySeq != zero.EntrySeq {
		t.Errorf("small earn retried = %+v, want the original replayed", again)
	}
	if r = e.do(t, "POST", "/v1/earn", ingestKey, earnBody("earn-ghost", "ghost", "o", "0.5")); r.status != 404 {
		t.Errorf("zero-point earn for an unknown member: %d %s", r.status, r.body)
	}

	// A batch: two good events, one invalid, one late, one for an unknown member.
	old := time.Now().Add(-100 * time.Hour).UTC().Format(time.RFC3339)
	batch := map[string]any{"events": []map[string]any{
		earnBody("b-1", "ana", "order-2", "10"),
		earnBody("b-2", "ana", "order-3", "-1"),
		{"idempotencyKey": "b-3", "memberId": "ana", "eventId": "order-4", "amount": "10", "occurredAt": old},
		earnBody("b-4", "nobody", "order-5", "10"),
		earnBody("b-5", "ana", "order-6", "2"),
		earnBody("", "ana", "order-7", "10"), // refused by the ledger, at another position in its own batch
	}}
	var br ledger.EarnBatchResult
	// The document refuses the invalid events; the engine answers for each.
	if r = e.doInvalid(t, "POST", "/v1/earn/batch", ingestKey, batch); r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	r.decode(t, &br)
	if br.Succeeded != 2 || br.Failed != 4 || len(br.Items) != 6 {
		t.Fatalf("batch result = %s", r.body)
	}
	wantItems := []string{"15", "invalid_request events[1].amount must not be negative", "late_event events[2].occurredAt", "member_not_found ", "3", "invalid_request events[5].idempotencyKey required"}
	for i, it := range br.Items {
		got := ""
		if it.Result != nil {
			got = fmt.Sprint(it.Result.Points)
		} else {
			got = it.Error.Code + " " + it.Error.Field
			if it.Error.Code == "invalid_request" {
				got += " " + strings.TrimPrefix(it.Error.Message, "invalid "+it.Error.Field+": ")
			}
		}
		if it.Index != i || got != wantItems[i] {
			t.Errorf("item %d = %d %q, want %q", i, it.Index, got, wantItems[i])
		}
	}

	// Redeem, then fail for lack of points.
	var red ledger.RedeemResult
	if r = e.do(t, "POST", "/v1/redeem", ingestKey, map[string]any{"idempotencyKey": "redeem-1", "memberId": "ana", "points": 20, "reference": "latte"}); r.status != 200 {
		t.Fatalf("redeem: %d %s", r.status, r.body)
	}
	r.decode(t, &red)
	if red.Balance.Available != 18+15+3-20 {
		t.Errorf("after redeem: %+v", red.Balance)
	}
	if r = e.do(t, "POST", "/v1/redeem", ingestKey, map[string]any{"idempotencyKey": "redeem-2", "memberId": "ana", "points": 1000}); r.status != 422 || r.problem(t).Code != "insufficient_points" {
		t.Errorf("overdraw: %d %s", r.status, r.body)
	}

	// Reverse the first order, adjust as admin.
	var rev ledger.ReverseResult
	if r = e.do(t, "POST", "/v1/reverse", ingestKey, map[string]any{"idempotencyKey": "rev-1", "memberId": "ana", "eventId": "order-1", "reason": "refund"}); r.status != 200 {
		t.Fatalf("reverse: %d %s", r.status, r.body)
	}
	r.decode(t, &rev)
	if rev.Requested != 18 || rev.FromAvailable != 16 || rev.Shortfall != 2 {
		t.Errorf("reverse = %+v", rev)
	}
	// Half of order-2 (10 EUR, 15 points) refunded: 8 points back (7.5 rounded half up).
	var part ledger.ReverseResult
	if r = e.do(t, "POST", "/v1/reverse", ingestKey, map[string]any{"idempotencyKey": "rev-2", "memberId": "ana", "eventId": "order-2", "refundAmount": "5.00"}); r.status != 200 {
		t.Fatalf("partial reverse: %d %s", r.status, r.body)
	}
	r.decode(t, &part)
	if part.Requested != 8 || part.Shortfall != 8 || part.FromAvailable != 0 {
		t.Errorf("partial reverse = %+v", part)
	}
	if r = e.do(t, "POST", "/v1/reverse", ingestKey, map[string]any{"idempotencyKey": "rev-3", "memberId": "ana", "eventId": "order-2", "refundAmount": "1.001"}); r.status != 400 || fmt.Sprint(r.problem(t).Errors) != "[{refundAmount 1.001 has at most 2 decimal places in EUR}]" {
		t.Errorf("refund with too many decimals: %d %s", r.status, r.body)
	}
	if r = e.do(t, "POST", "/v1/reverse", ingestKey, map[string]any{"idempotencyKey": "rev-x", "memberId": "ana", "eventId": "no-such-order"}); r.status != 404 || r.problem(t).Code != "event_not_found" {
		t.Errorf("reverse unknown event: %d %s", r.status, r.body)
	}
	if r = e.do(t, "POST", "/v1/adjustments", adminKey, map[string]any{"idempotencyKey": "adj-1", "memberId": "ana", "points": 7, "reason": "goodwill"}); r.status != 200 {
		t.Fatalf("adjust: %d %s", r.status, r.body)
	}

	var v ledger.MemberView
	if r = e.do(t, "GET", "/v1/members/ana", readKey, nil); r.status != 200 {
		t.Fatalf("member: %d %s", r.status, r.body)
	}
	r.decode(t, &v)
	if v.ID != "ana" || v.Available != 7 || v.LifetimeEarned != 18+15+3-18-8+7 || v.ExpiringSoon != 0 || v.ExpiringBy.IsZero() {
		t.Errorf("member view = %+v", v)
	}
	// The admin key reads too.
	if r = e.do(t, "GET", "/v1/members/ana", adminKey, nil); r.status != 200 {
		t.Errorf("admin read: %d", r.status)
	}

	// History, two entries per page, newest first, until the cursor runs out.
	var kinds []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("history does not end")
		}
		var page ledger.HistoryPage
		r = e.do(t, "GET", "/v1/members/ana/ledger?limit=2&cursor="+cursor, readKey, nil)
		if r.status != 200 {
			t.Fatalf("history: %d %s", r.status, r.body)
		}
		r.decode(t, &page)
		if len(page.Entries) > 2 {
			t.Fatalf("page of %d entries", len(page.Entries))
		}
		for _, en := range page.Entries {
			kinds = append(kinds, string(en.Kind))
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if got := strings.Join(kinds, ","); got != "adjust,reverse,reverse,redeem,earn,earn,earn,earn" {
		t.Errorf("history kinds = %s", got)
	}

	storetest.CheckInvariants(t, e.store)

	// Metrics count what was issued and label latency by route pattern, not path.
	r = e.do(t, "GET", "/metrics", "", nil)
	for _, want := range []string{
		"loyalty_engine_points_issued_total 36",
		"loyalty_engine_points_redeemed_total 20",
		"loyalty_engine_points_reversed_total 16",
		`loyalty_engine_points_adjusted_total{direction="credit"} 7`,
		`loyalty_engine_http_request_duration_seconds_count{code="200",route="GET /v1/members/{id}"} 2`,
		"loyalty_engine_config_loaded 1",
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestStatusAndProbes calls the probes at the paths the operator's probes use.
func TestStatusAndProbes(t *testing.T) {
	e := newEnv(t, "")
	// No configuration yet: alive, not ready, earning refused.
	if r := e.do(t, "GET", contract.LivenessPath, "", nil); r.status != 200 {
		t.Errorf("healthz: %d", r.status)
	}
	if r := e.do(t, "GET", contract.ReadinessPath, "", nil); r.status != 503 || r.problem(t).Code != "unavailable" || r.header.Get("Retry-After") != "1" {
		t.Errorf("readyz without config: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/earn", ingestKey, earnBody("k", "m", "e", "1")); r.status != 503 {
		t.Errorf("earn without config: %d %s", r.status, r.body)
	}
	_ = e.holder.Apply("test", []byte(`{"version": "v0"}`))
	var st StatusReport
	e.do(t, "GET", "/v1/status", "", nil).decode(t, &st)
	if st.ConfigLoaded || !strings.Contains(st.Config.LastError, `version: "v0" is not supported`) || !st.Store.Reachable {
		t.Errorf("status = %+v", st)
	}

	if err := e.holder.Apply("test", []byte(testSnapshot)); err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, "GET", contract.ReadinessPath, "", nil); r.status != 200 {
		t.Errorf("readyz with config: %d %s", r.status, r.body)
	}
	st = StatusReport{}
	e.do(t, "GET", "/v1/status", "", nil).decode(t, &st)
	if !st.ConfigLoaded || st.Config.Hash != e.holder.Current().Hash() || st.Config.LastError != "" {
		t.Errorf("status = %+v", st)
	}

	if r := e.do(t, "GET", "/openapi.yaml", "", nil); r.status != 200 || !strings.HasPrefix(string(r.body), "openapi: 3") {
		t.Errorf("openapi: %d %.40s", r.status, r.body)
	}

	// A closed store is unavailable: 503 with Retry-After, not ready.
	if r := e.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "k", "memberId": "m"}); r.status != 201 {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, "POST", "/v1/earn", ingestKey, earnBody("k2", "m", "e", "10"))
	if r.status != 503 || r.problem(t).Code != "unavailable" || r.header.Get("Retry-After") != "1" {
		t.Errorf("earn on closed store: %d %s %v", r.status, r.body, r.header)
	}
	if r := e.do(t, "GET", contract.ReadinessPath, "", nil); r.status != 503 {
		t.Errorf("readyz on closed store: %d %s", r.status, r.body)
	}
}
