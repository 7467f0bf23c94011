package httpapi

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// A retry is recognised by its body, whatever the configuration or the clock
// now say: it replays the original result.
func TestReplayByRequestBody(t *testing.T) {
	e := newEnv(t, testSnapshot)
	if r := e.do(t, "POST", "/v1/members", ingestKey, `{"idempotencyKey": "enroll-ana", "memberId": "ana"}`); r.status != 201 {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	body := `{"idempotencyKey":"k1","memberId":"ana","eventId":"o1","amount":"12.50","occurredAt":"` + earnedAt + `"}`
	// The same body with other whitespace and key order.
	retry := `{ "occurredAt": "` + earnedAt + `",  "amount": "12.50", "eventId": "o1",
		"memberId": "ana", "idempotencyKey": "k1" }`
	var first, again ledger.EarnResult
	if r := e.do(t, "POST", "/v1/earn", ingestKey, body); r.status != 200 {
		t.Fatalf("earn: %d %s", r.status, r.body)
	} else {
		r.decode(t, &first)
	}
	if first.Points != 18 {
		t.Fatalf("earned %d points, want 18", first.Points)
	}

	// Hot-swap the snapshot to another earn rate: new earns price at 3 points
	// per euro, the retry still replays 18.
	if err := e.holder.Apply("test-2", []byte(strings.Replace(testSnapshot, `"earnRate": "1.5"`, `"earnRate": "3"`, 1))); err != nil {
		t.Fatal(err)
	}
	var fresh ledger.EarnResult
	e.do(t, "POST", "/v1/earn", ingestKey, earnBody("k2", "ana", "o2", "12.50")).decode(t, &fresh)
	if fresh.Points != 37 {
		t.Fatalf("the new rate earns %d points, want 37", fresh.Points)
	}
	if r := e.do(t, "POST", "/v1/earn", ingestKey, retry); r.status != 200 {
		t.Fatalf("retry after a configuration change: %d %s", r.status, r.body)
	} else {
		r.decode(t, &again)
	}
	if !again.Replayed || again.Points != 18 || again.EntrySeq != first.EntrySeq {
		t.Fatalf("retry after a configuration change = %+v, want the original 18 points replayed", again)
	}

	// Past the 72h grace period the event would be refused as late; its
	// retry still replays, alone or in a batch.
	e.ahead.Store(int64(100 * time.Hour))
	var late ledger.EarnResult
	e.do(t, "POST", "/v1/earn", ingestKey, body).decode(t, &late)
	if !late.Replayed || late.EntrySeq != first.EntrySeq {
		t.Fatalf("retry after the grace period = %+v, want the original replayed", late)
	}
	batch := `{"events": [` + retry + `, ` + strings.Replace(body, `"12.50"`, `"99"`, 1) + `]}`
	var br ledger.EarnBatchResult
	if r := e.do(t, "POST", "/v1/earn/batch", ingestKey, batch); r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	} else {
		r.decode(t, &br)
	}
	if it := br.Items[0]; it.Result == nil || !it.Result.Replayed || it.Result.EntrySeq != first.EntrySeq {
		t.Fatalf("batch retry = %+v, want the original replayed", it)
	}
	if it := br.Items[1]; it.Error == nil || it.Error.Code != "idempotency_key_reused" || it.Error.Field != "events[1].idempotencyKey" {
		t.Fatalf("batch event reusing the key = %+v", it)
	}

	// Same key, another body: 409 naming idempotencyKey, before any pricing.
	r := e.do(t, "POST", "/v1/earn", ingestKey, strings.Replace(body, `"12.50"`, `"12.5"`, 1))
	if p := r.problem(t); r.status != 409 || p.Code != "idempotency_key_reused" || len(p.Errors) != 1 || p.Errors[0].Field != "idempotencyKey" {
		t.Fatalf("key reuse: %d %s", r.status, r.body)
	}
	// A key of one route used on another is another request.
	r = e.do(t, "POST", "/v1/redeem", ingestKey, `{"idempotencyKey": "k1", "memberId": "ana", "points": 1}`)
	if r.status != 409 || r.problem(t).Errors[0].Field != "idempotencyKey" {
		t.Fatalf("key of an earn on redeem: %d %s", r.status, r.body)
	}
	for i := range 2 {
		r := e.do(t, "POST", "/v1/redeem", ingestKey, `{"idempotencyKey": "r1", "memberId": "ana", "points": 5}`)
		if r.status != 200 {
			t.Fatalf("redeem: %d %s", r.status, r.body)
		}
		var res ledger.RedeemResult
		if r.decode(t, &res); res.Replayed != (i == 1) {
			t.Fatalf("redeem %d: replayed %v, want %v", i, res.Replayed, i == 1)
		}
	}
	if r := e.do(t, "POST", "/v1/redeem", ingestKey, `{"idempotencyKey": "r1", "memberId": "ana", "points": 6}`); r.status != 409 || r.problem(t).Errors[0].Field != "idempotencyKey" {
		t.Fatalf("redeem key reused with another body: %d %s", r.status, r.body)
	}
	var v ledger.MemberView
	e.do(t, "GET", "/v1/members/ana", readKey, nil).decode(t, &v)
	if v.Available != 18+37-5 {
		t.Fatalf("available %d, want %d: every retry applied once", v.Available, 18+37-5)
	}
	if err := e.store.CheckInvariants(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// A write moves the group-commit and WAL sync histograms served at /metrics.
func TestCommitMetrics(t *testing.T) {
	e := newEnv(t, testSnapshot)
	count := func(name string) int {
		t.Helper()
		r := e.do(t, "GET", "/metrics", "", nil)
		m := regexp.MustCompile(`(?m)^` + name + `_count (\d+)$`).FindSubmatch(r.body)
		if m == nil {
			t.Fatalf("no %s in /metrics", name)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	if count("loyalty_engine_commit_batch_size") != 0 || count("loyalty_engine_commit_duration_seconds") != 0 {
		t.Fatal("commits observed before any write")
	}
	syncs := count("loyalty_engine_wal_sync_duration_seconds")
	count("loyalty_engine_wal_checkpoint_duration_seconds") // served before the first pass
	if r := e.do(t, "POST", "/v1/members", ingestKey, `{"idempotencyKey": "e1", "memberId": "m1"}`); r.status != 201 {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	if count("loyalty_engine_commit_batch_size") != 1 || count("loyalty_engine_commit_duration_seconds") != 1 {
		t.Fatal("one write must be one observed commit")
	}
	if count("loyalty_engine_wal_sync_duration_seconds") <= syncs {
		t.Fatal("a write was answered without an observed WAL sync")
	}
	r := e.do(t, "GET", "/metrics", "", nil)
	if !strings.Contains(string(r.body), "loyalty_engine_commit_batch_size_sum 1\n") {
		t.Fatalf("batch size sum: %s", r.body)
	}
}
