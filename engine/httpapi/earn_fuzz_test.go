package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/loyaltyops/loyalty-operator/engine/auth"
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
)

// fuzzNow is the fuzzed server's clock: seeds at fixed times then price the
// same on every run.
var fuzzNow = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// fuzzSnapshot prices purchases with a tier multiplier, capped campaigns, an
// evening recurrence in Berlin and an action with a daily limit, so that
// fuzzed events reach every pricing path.
const fuzzSnapshot = `{
  "version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "club", "namespace": "shop", "displayName": "Club", "currency": "EUR"},
  "points": {"earnRate": "1.5", "rounding": "Nearest", "pendingPeriod": "1d", "expiry": {"afterEarn": "365d"},
             "lateEventGracePeriod": "72h", "actions": [{"name": "review", "points": 10, "maxPerDay": 2}]},
  "tiers": [
    {"name": "bronze", "displayName": "Bronze", "rank": 0, "qualification": {"minQualifyingPoints": 0, "window": "365d"}},
    {"name": "silver", "displayName": "Silver", "rank": 1, "qualification": {"minQualifyingPoints": 100, "window": "365d"},
     "earnMultiplier": "2", "downgradeGracePeriod": "1d"}
  ],
  "campaigns": [
    {"name": "december", "displayName": "December", "schedule": {"start": "2026-12-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
     "rules": {"purchaseBonus": {"points": 5, "minimumSpend": "10"}}, "limits": {"totalBonusBudget": 200, "perMemberCap": 20}},
    {"name": "evening", "displayName": "Evening", "schedule": {"start": "2026-11-01T00:00:00Z",
     "recurrence": {"cron": "0 18 * * *", "duration": "3h"}, "timeZone": "Europe/Berlin"},
     "rules": {"pointsMultiplier": "3", "actionBonuses": [{"action": "review", "points": 2}]}, "stacking": "Exclusive", "priority": 5}
  ]
}`

// fuzzServer serves the API over a SQLite ledger in a temporary directory
// with members m1 and m2 enrolled.
func fuzzServer(f *testing.F) (*Server, ledger.Ledger) {
	f.Helper()
	holder := config.NewHolder(nil)
	if err := holder.Apply("fuzz", []byte(fuzzSnapshot)); err != nil {
		f.Fatal(err)
	}
	store, err := sqlite.Open(f.Context(), sqlite.Options{Path: filepath.Join(f.TempDir(), "ledger.db")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = store.Close() })
	keys, err := auth.NewKeys(map[auth.Scope][]string{auth.ScopeIngest: {ingestKey}})
	if err != nil {
		f.Fatal(err)
	}
	s := New(Options{Ledger: store, Config: holder, Auth: auth.NewAuthenticator(keys, nil, nil),
		Now: func() time.Time { return fuzzNow }})
	for _, id := range []string{"m1", "m2"} {
		rec := post(f, s, "/v1/members", []byte(`{"idempotencyKey":"enroll-`+id+`","memberId":"`+id+`"}`), "")
		if rec.Code != http.StatusCreated {
			f.Fatalf("enroll %s: %d %s", id, rec.Code, rec.Body)
		}
	}
	return s, store
}

// post sends body to path with the ingest key, checked against the
// document; mark is the request's contract mark, if any.
func post(tb testing.TB, s *Server, path string, body []byte, mark string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+ingestKey)
	req.Header.Set("Content-Type", "application/json")
	if mark != "" {
		markRequest(req, mark)
	}
	return serveChecked(tb, s.Handler(), req)
}

// fuzzEarnSeeds are earn events: valid ones, boundary amounts and times
// (a DST night in New York and Berlin, a leap second, far years), and the
// field combinations the API refuses.
var fuzzEarnSeeds = []string{
	`{"idempotencyKey":"k1","memberId":"m1","eventId":"e1","amount":"12.50","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k2","memberId":"m2","eventId":"e2","action":"review","occurredAt":"2026-12-04T18:30:00+01:00"}`,
	`{"idempotencyKey":"k3","memberId":"m1","eventId":"e3","amount":"0.01","currency":"EUR","occurredAt":"2026-12-05T11:59:59Z"}`,
	`{"idempotencyKey":"k4","memberId":"m1","eventId":"e4","amount":"0","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k5","memberId":"m1","eventId":"e5","amount":"92233720368547758.07","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k6","memberId":"m1","eventId":"e6","amount":"1e3","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k7","memberId":"m1","eventId":"e7","amount":"-0.00","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k8","memberId":"m1","eventId":"e8","amount":"5","action":"review","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k9","memberId":"m1","eventId":"e9","action":"review","currency":"EUR","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k10","memberId":"m1","eventId":"e10","action":"unknown","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k11","memberId":"m1","eventId":"e11","amount":"3","currency":"USD","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k12","memberId":"m1","eventId":"e12","amount":"3","occurredAt":"2026-11-01T01:30:00-04:00"}`,
	`{"idempotencyKey":"k13","memberId":"m1","eventId":"e13","amount":"3","occurredAt":"2026-10-25T02:30:00+01:00"}`,
	`{"idempotencyKey":"k14","memberId":"m1","eventId":"e14","amount":"3","occurredAt":"2026-12-31T23:59:60Z"}`,
	`{"idempotencyKey":"k15","memberId":"m1","eventId":"e15","amount":"3","occurredAt":"9999-12-31T23:59:59Z"}`,
	`{"idempotencyKey":"k16","memberId":"m1","eventId":"e16","amount":"3","occurredAt":"0000-01-01T00:00:00Z"}`,
	`{"idempotencyKey":"k17","memberId":"nobody","eventId":"e17","amount":"3","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"","memberId":"m1","eventId":"","amount":"3","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k1","memberId":"m1","eventId":"e1","amount":"99","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k19","memberId":"m\u00e9\u0000","eventId":"e19","amount":"3","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"memberId":7}`,
	`{"points":5}`,
	`[]`,
	`null`,
	// What the strict decoder refuses: names twice or in another case,
	// invalid UTF-8, NUL, data after the object.
	`{"idempotencyKey":"k20","memberId":"m1","eventId":"e20","amount":"1","amount":"50","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"IDEMPOTENCYKEY":"k21","memberId":"m1","eventId":"e21","AMOUNT":"7","occurredAt":"2026-12-05T10:00:00Z"}`,
	"{\"idempotencyKey\":\"k22\",\"memberId\":\"m\xe9\",\"eventId\":\"e22\",\"amount\":\"3\",\"occurredAt\":\"2026-12-05T10:00:00Z\"}",
	`{"idempotencyKey":"k23","memberId":"m1","eventId":"e23\ud800","amount":"3","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k24\u0000","memberId":"m1","eventId":"e24","amount":"3","occurredAt":"2026-12-05T10:00:00Z"}`,
	`{"idempotencyKey":"k25","memberId":"m1","eventId":"e25","amount":"3","occurredAt":"2026-12-05T10:00:00Z"} {}`,
	`{"idempotencyKey":"k26","memberId":"m1","eventId":"e26","amount":"3","occurredAt":"0001-01-01T00:00:00Z"}`,
}

// FuzzEarn posts arbitrary bodies to POST /v1/earn through the whole
// handler: authentication, strict decoding, pricing and the SQLite ledger.
func FuzzEarn(f *testing.F) {
	srv, store := fuzzServer(f)
	for _, s := range fuzzEarnSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := post(t, srv, "/v1/earn", body, requestArbitrary)
		if !checkStatus(t, rec) {
			return
		}
		checkStrict(t, body)
		var ev EarnEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatalf("accepted a body that does not decode: %v", err)
		}
		var res ledger.EarnResult
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("result %s: %v", rec.Body, err)
		}
		checkEarnResult(t, ev, res)
		checkInvariants(t, store)
	})
}

// FuzzEarnBatch posts arbitrary bodies to POST /v1/earn/batch.
func FuzzEarnBatch(f *testing.F) {
	srv, store := fuzzServer(f)
	f.Add([]byte(`{"events":[` + strings.Join(fuzzEarnSeeds[:19], ",") + `]}`))
	f.Add([]byte(`{"events":[` + fuzzEarnSeeds[0] + `,` + fuzzEarnSeeds[0] + `]}`))
	f.Add([]byte(`{"events":[{"idempotencyKey":"b1","memberId":"m2","eventId":"b1","action":"review","occurredAt":"2026-12-05T10:00:00Z"},` +
		`{"idempotencyKey":"b2","memberId":"m2","eventId":"b2","action":"review","occurredAt":"2026-12-05T10:01:00Z"},` +
		`{"idempotencyKey":"b3","memberId":"m2","eventId":"b3","action":"review","occurredAt":"2026-12-05T10:02:00Z"}]}`))
	f.Add([]byte(`{"events":[]}`))
	f.Add([]byte(`{"events":[{}]}`))
	f.Add([]byte(`{"events":null}`))
	f.Add([]byte(`{"events":[{"memberId":7}]}`))
	f.Add([]byte(`{"events":[` + strings.Join(fuzzEarnSeeds[len(fuzzEarnSeeds)-7:], ",") + `]}`))
	f.Add([]byte(`{"events":[` + fuzzEarnSeeds[0] + `],"events":[]}`))
	f.Add([]byte(`{"EVENTS":[` + fuzzEarnSeeds[0] + `]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := post(t, srv, "/v1/earn/batch", body, requestArbitrary)
		if !checkStatus(t, rec) {
			return
		}
		checkStrict(t, body)
		var b EarnBatch
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatalf("accepted a body that does not decode: %v", err)
		}
		var res ledger.EarnBatchResult
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("result %s: %v", rec.Body, err)
		}
		if len(res.Items) != len(b.Events) || res.Succeeded+res.Failed != len(b.Events) {
			t.Fatalf("%d events, answered %d items, %d succeeded and %d failed", len(b.Events), len(res.Items), res.Succeeded, res.Failed)
		}
		for i, it := range res.Items {
			if it.Index != i || (it.Result == nil) == (it.Error == nil) {
				t.Fatalf("item %d: %+v, want index %d and either a result or an error", i, it, i)
			}
			if it.Result != nil {
				checkEarnResult(t, b.Events[i], *it.Result)
				continue
			}
			e := it.Error
			if e.Code == "" || e.Message == "" || e.Code == "internal" || e.Code == "unavailable" {
				t.Fatalf("item %d: error %+v", i, e)
			}
			prefix := fmt.Sprintf("events[%d]", i)
			if (e.Code == "invalid_request" || e.Code == "late_event") && !strings.HasPrefix(e.Field, prefix) {
				t.Fatalf("item %d: error %+v names no field under %s", i, e, prefix)
			}
		}
		checkInvariants(t, store)
	})
}

// checkStrict fails for an accepted body that is not I-JSON (RFC 7493:
// no duplicate names, valid UTF-8) or that holds NUL.
func checkStrict(t *testing.T, body []byte) {
	t.Helper()
	if !jsontext.Value(body).IsValid() {
		t.Fatalf("accepted a body that is not I-JSON: %q", body)
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return
		}
		if tok.Kind() == '"' && strings.IndexByte(tok.String(), 0) >= 0 {
			t.Fatalf("accepted a body holding NUL at %s: %q", dec.StackPointer(), body)
		}
	}
}

// checkStatus fails on a server error or a refusal that does not explain
// itself, and reports whether the request succeeded.
func checkStatus(t *testing.T, rec *httptest.ResponseRecorder) bool {
	t.Helper()
	switch {
	case rec.Code == http.StatusOK:
		return true
	case rec.Code < 400 || rec.Code >= 500:
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q: %s", rec.Code, ct, rec.Body)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code || p.Code == "" || p.Detail == "" {
		t.Fatalf("status %d with problem %s (%v)", rec.Code, rec.Body, err)
	}
	switch p.Code {
	case "member_not_found", "duplicate_event", "body_too_large", "unsupported_media_type":
		// Not about a field's value: the detail says what.
		return false
	}
	if len(p.Errors) == 0 {
		t.Fatalf("status %d names no field: %s", rec.Code, rec.Body)
	}
	for _, fi := range p.Errors {
		if fi.Field == "" || fi.Reason == "" {
			t.Fatalf("status %d with an issue lacking field or reason: %s", rec.Code, rec.Body)
		}
	}
	return false
}

func checkEarnResult(t *testing.T, ev EarnEvent, res ledger.EarnResult) {
	t.Helper()
	if res.MemberID != ev.MemberID || res.EventID != ev.EventID {
		t.Fatalf("event %+v answered for member %q event %q", ev, res.MemberID, res.EventID)
	}
	b := res.Balance
	if res.Points < 0 || b.Available < 0 || b.Pending < 0 || b.LifetimeEarned < 0 {
		t.Fatalf("event %+v: negative points or balance: %+v", ev, res)
	}
	if !res.Replayed && res.Points > 0 && b.LifetimeEarned < res.Points {
		t.Fatalf("event %+v earned %d points but the lifetime total is %d", ev, res.Points, b.LifetimeEarned)
	}
}

func checkInvariants(t *testing.T, store ledger.Ledger) {
	t.Helper()
	if err := store.CheckInvariants(t.Context()); err != nil {
		t.Fatalf("ledger invariants: %v", err)
	}
}
