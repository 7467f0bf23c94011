package httpapi

import (
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

const catalogSnapshot = `{
  "version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "club", "namespace": "shop", "displayName": "Club", "currency": "EUR"},
  "points": {"earnRate": "1", "rounding": "Floor", "pendingPeriod": "0s",
             "expiry": {"afterEarn": "365d"}, "lateEventGracePeriod": "72h"},
  "rewards": [{"id": "mug", "displayName": "Mug", "type": "FreeProduct", "cost": 30, "stock": 1}]
}`

// TestRedemptionRoutes redeems, lists, refuses and cancels over HTTP.
func TestRedemptionRoutes(t *testing.T) {
	e := newEnv(t, catalogSnapshot)
	for _, id := range []string{"ana", "ben"} {
		if r := e.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "enroll-" + id, "memberId": id}); r.status != 201 {
			t.Fatalf("enroll %s: %d %s", id, r.status, r.body)
		}
		if r := e.do(t, "POST", "/v1/adjustments", adminKey, map[string]any{"idempotencyKey": "adj-" + id, "memberId": id, "points": 50, "reason": "welcome"}); r.status != 200 {
			t.Fatalf("adjust %s: %d %s", id, r.status, r.body)
		}
	}
	body := map[string]any{"idempotencyKey": "red-1", "memberId": "ana", "rewardId": "mug"}
	r := e.do(t, "POST", "/v1/redemptions", ingestKey, body)
	if r.status != 201 {
		t.Fatalf("redeem: %d %s", r.status, r.body)
	}
	var res ledger.RedeemRewardResult
	r.decode(t, &res)
	if len(res.Redemption.Code) != 12 || res.Reward.ID != "mug" || res.Balance.Available != 20 {
		t.Fatalf("redeem: %+v", res)
	}
	if r := e.do(t, "POST", "/v1/redemptions", ingestKey, body); r.status != 200 {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/v1/redemptions", ingestKey, map[string]any{"idempotencyKey": "red-2", "memberId": "ben", "rewardId": "mug"})
	if p := r.problem(t); r.status != 422 || p.Code != "outOfStock" || p.Errors[0].Field != "rewardId" {
		t.Fatalf("out of stock: %d %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/v1/redemptions", ingestKey, map[string]any{"idempotencyKey": "red-3", "memberId": "ben", "rewardId": "yacht"})
	if p := r.problem(t); r.status != 422 || p.Code != "unknownReward" || p.Errors[0].Field != "rewardId" {
		t.Fatalf("unknown reward: %d %s", r.status, r.body)
	}
	var list MemberRedemptions
	if r := e.do(t, "GET", "/v1/members/ana/redemptions", readKey, nil); r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	} else if r.decode(t, &list); len(list.Redemptions) != 1 || list.Redemptions[0].Code != res.Redemption.Code {
		t.Fatalf("list: %+v", list)
	}
	cancel := "/v1/redemptions/" + res.Redemption.Code + "/cancel"
	if r := e.do(t, "POST", cancel, ingestKey, map[string]any{"idempotencyKey": "cancel-1"}); r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", cancel, ingestKey, map[string]any{"idempotencyKey": "cancel-1"}); r.status != 200 {
		t.Fatalf("cancel replay: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", cancel, ingestKey, map[string]any{"idempotencyKey": "cancel-2"}); r.status != 409 || r.problem(t).Code != "redemption_cancelled" {
		t.Fatalf("cancel twice: %d %s", r.status, r.body)
	}
	// The same key and body on another code is another request.
	if r := e.do(t, "POST", "/v1/redemptions/OTHERCODE000/cancel", ingestKey, map[string]any{"idempotencyKey": "cancel-1"}); r.status != 409 || r.problem(t).Code != "idempotency_key_reused" {
		t.Fatalf("key on another code: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/redemptions/OTHERCODE000/cancel", ingestKey, map[string]any{"idempotencyKey": "cancel-3"}); r.status != 404 || r.problem(t).Code != "redemption_not_found" {
		t.Fatalf("unknown code: %d %s", r.status, r.body)
	}
	// The stock is back: ben gets the mug.
	if r := e.do(t, "POST", "/v1/redemptions", ingestKey, map[string]any{"idempotencyKey": "red-4", "memberId": "ben", "rewardId": "mug"}); r.status != 201 {
		t.Fatalf("after cancel: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/v1/members/ana", readKey, nil); r.status != 200 {
		t.Fatalf("member: %d", r.status)
	} else {
		var v ledger.MemberView
		if r.decode(t, &v); v.Available != 50 {
			t.Fatalf("ana after cancel: %+v", v.Balance)
		}
	}
	// The history shows the returned points as a cancel entry.
	var page ledger.HistoryPage
	if r := e.do(t, "GET", "/v1/members/ana/ledger", readKey, nil); r.status != 200 {
		t.Fatalf("history: %d %s", r.status, r.body)
	} else if r.decode(t, &page); len(page.Entries) == 0 || page.Entries[0].Kind != ledger.EntryCancel || page.Entries[0].Available != 30 {
		t.Fatalf("history after cancel: %+v", page.Entries)
	}
}
