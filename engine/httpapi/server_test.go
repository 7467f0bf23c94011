package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loyaltyops/loyalty-operator/engine/auth"
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
)

const (
	ingestKey = "ingest-key-0123456789"
	readKey   = "read-key-0123456789ab"
	adminKey  = "admin-key-0123456789a"
)

// testSnapshot earns 1.5 points per euro, rounded down, available at once,
// expiring after a year.
const testSnapshot = `{
  "version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "club", "namespace": "shop", "displayName": "Club", "currency": "EUR"},
  "points": {"earnRate": "1.5", "rounding": "Floor", "pendingPeriod": "0s",
             "expiry": {"afterEarn": "365d"}, "lateEventGracePeriod": "72h"}
}`

type env struct {
	srv    *httptest.Server
	store  ledger.Ledger
	holder *config.Holder
	// ahead moves the server's clock (pricing) forward of the real one.
	ahead atomic.Int64
}

func newEnv(t *testing.T, snapshot string) *env {
	t.Helper()
	return newEnvWith(t, snapshot, nil)
}

// newEnvWith serves wrap(store) when wrap is set: a test double in front of
// the real ledger.
func newEnvWith(t *testing.T, snapshot string, wrap func(ledger.Ledger) ledger.Ledger) *env {
	t.Helper()
	holder := config.NewHolder(nil)
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg, holder)
	store, err := sqlite.Open(t.Context(), sqlite.Options{Path: filepath.Join(t.TempDir(), "ledger.db"),
		OnCommit: metrics.ObserveCommit, OnWALSync: metrics.ObserveWALSync, OnCheckpoint: metrics.ObserveCheckpoint})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if snapshot != "" {
		if err := holder.Apply("test", []byte(snapshot)); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := auth.NewKeys(map[auth.Scope][]string{auth.ScopeIngest: {ingestKey}, auth.ScopeRead: {readKey}, auth.ScopeAdmin: {adminKey}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, holder: holder}
	var served ledger.Ledger = store
	if wrap != nil {
		served = wrap(store)
	}
	s := New(Options{Ledger: served, Config: holder, Auth: auth.NewAuthenticator(keys, nil, nil), Registry: reg, Metrics: metrics, Outbox: store,
		Now: func() time.Time { return time.Now().Add(time.Duration(e.ahead.Load())) }})
	e.srv = httptest.NewServer(checked(t, s.Handler()))
	t.Cleanup(e.srv.Close)
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request the document describes and reads the response.
func (e *env) do(t *testing.T, method, path, key string, body any) response {
	t.Helper()
	return e.send(t, e.request(t, method, path, key, body))
}

// doInvalid sends a request the document refuses, to test the engine's
// refusal: the contract check then requires the request to be invalid
// and still validates the response.
func (e *env) doInvalid(t *testing.T, method, path, key string, body any) response {
	t.Helper()
	return e.send(t, markRequest(e.request(t, method, path, key, body), requestInvalid))
}

// request builds a request with key as bearer when set and body as JSON:
// a string or []byte as is, anything else marshalled.
func (e *env) request(t *testing.T, method, path, key string, body any) *http.Request {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// send sends req and reads the whole response.
func (e *env) send(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) problem(t *testing.T) Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p Problem
	r.decode(t, &p)
	return p
}

// earnedAt is a fixed occurrence time inside the grace period, so that
// retries of an event price the same.
var earnedAt = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)

func earnBody(key, member, event, amount string) map[string]any {
	return map[string]any{"idempotencyKey": key, "memberId": member, "eventId": event, "amount": amount, "occurredAt": earnedAt}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, testSnapshot)
	if r := e.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "enroll-m1", "memberId": "m1"}); r.status != 201 {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	old := time.Now().Add(-73 * time.Hour).UTC().Format(time.RFC3339)
	manyEvents := make([]map[string]any, ledger.MaxBatchEvents+1)
	for i := range manyEvents {
		manyEvents[i] = earnBody(fmt.Sprint("k", i), "m1", fmt.Sprint("e", i), "1")
	}
	huge := `{"idempotencyKey":"k","memberId":"m1","eventId":"e","amount":"1","currency":"` + strings.Repeat("x", MaxBody) + `"}`
	hugeBatch := `{"events":[` + strings.Repeat(`{"amount":"1"},`, MaxBatchBody/14) + `{}]}`

	type issue = FieldIssue
	tests := []struct {
		name         string
		method, path string
		key          string
		body         any
		status       int
		code         string
		errors       []issue
	}{
		{name: "malformed JSON", method: "POST", path: "/v1/earn", key: ingestKey, body: `{"memberId": `,
			status: 400, code: "invalid_request", errors: []issue{{"(body)", "malformed JSON: unexpected end of input"}}},
		{name: "invalid JSON", method: "POST", path: "/v1/earn", key: ingestKey, body: `{"memberId": x}`,
			status: 400, code: "invalid_request", errors: []issue{{"memberId", "malformed JSON at byte 13: invalid character 'x' at start of value"}}},
		{name: "empty body", method: "POST", path: "/v1/redeem", key: ingestKey, body: ``,
			status: 400, code: "invalid_request", errors: []issue{{"(body)", "empty request body: send a JSON object"}}},
		{name: "trailing data", method: "POST", path: "/v1/redeem", key: ingestKey, body: `{"memberId":"m1"} {}`,
			status: 400, code: "invalid_request", errors: []issue{{"(body)", "unexpected data after the JSON object"}}},
		{name: "unknown field", method: "POST", path: "/v1/earn", key: ingestKey, body: `{"idempotencyKey":"k","memberId":"m1","eventId":"e","amount":"1","occurredAt":"2026-01-01T00:00:00Z","points":5}`,
			status: 400, code: "invalid_request", errors: []issue{{"points", "unknown field"}}},
		{name: "wrong type", method: "POST", path: "/v1/earn", key: ingestKey, body: `{"idempotencyKey":"k","memberId":"m1","eventId":"e","amount":12.5}`,
			status: 400, code: "invalid_request", errors: []issue{{"amount", "want string, got JSON number"}}},
		{name: "wrong type nested", method: "POST", path: "/v1/earn/batch", key: ingestKey, body: `{"events":[{"amount":"1","memberId":7}]}`,
			status: 400, code: "invalid_request", errors: []issue{{"events[0].memberId", "want string, got JSON number"}}},
		{name: "negative amount", method: "POST", path: "/v1/earn", key: ingestKey, body: earnBody("k", "m1", "e", "-5"),
			status: 400, code: "invalid_request", errors: []issue{{"amount", "must not be negative"}}},
		{name: "missing amount", method: "POST", path: "/v1/earn", key: ingestKey, body: earnBody("k", "m1", "e", ""),
			status: 400, code: "invalid_request", errors: []issue{{"amount", "required (or action, for an action event)"}}},
		{name: "too many decimals", method: "POST", path: "/v1/earn", key: ingestKey, body: earnBody("k", "m1", "e", "12.345"),
			status: 400, code: "invalid_request", errors: []issue{{"amount", "12.345 has at most 2 decimal places in EUR"}}},
		{name: "other currency", method: "POST", path: "/v1/earn", key: ingestKey,
			body:   map[string]any{"idempotencyKey": "k", "memberId": "m1", "eventId": "e", "amount": "1", "currency": "USD", "occurredAt": earnedAt},
			status: 400, code: "invalid_request", errors: []issue{{"currency", "must be EUR, the program's currency"}}},
		{name: "missing time", method: "POST", path: "/v1/earn", key: ingestKey,
			body:   map[string]any{"idempotencyKey": "k", "memberId": "m1", "eventId": "e", "amount": "1"},
			status: 400, code: "invalid_request", errors: []issue{{"occurredAt", "required"}}},
		{name: "bad time", method: "POST", path: "/v1/earn", key: ingestKey,
			body:   map[string]any{"idempotencyKey": "k", "memberId": "m1", "eventId": "e", "amount": "1", "occurredAt": "yesterday"},
			status: 400, code: "invalid_request", errors: []issue{{"occurredAt", `invalid time "yesterday": want RFC 3339 such as "2026-12-05T10:00:00Z"`}}},
		{name: "late event", method: "POST", path: "/v1/earn", key: ingestKey,
			body:   map[string]any{"idempotencyKey": "k", "memberId": "m1", "eventId": "e", "amount": "1", "occurredAt": old},
			status: 422, code: "late_event", errors: []issue{{"occurredAt", "occurred at " + old + ", more than the late-event grace period 3d ago"}}},
		{name: "missing idempotency key", method: "POST", path: "/v1/earn", key: ingestKey, body: earnBody("", "m1", "e", "10"),
			status: 400, code: "invalid_request", errors: []issue{{"idempotencyKey", "required"}}},
		{name: "negative redeem", method: "POST", path: "/v1/redeem", key: ingestKey, body: map[string]any{"idempotencyKey": "k", "memberId": "m1", "points": -5},
			status: 400, code: "invalid_request", errors: []issue{{"points", "must be positive"}}},
		{name: "adjustment without reason", method: "POST", path: "/v1/adjustments", key: adminKey, body: map[string]any{"idempotencyKey": "k", "memberId": "m1", "points": 5},
			status: 400, code: "invalid_request", errors: []issue{{"reason", "required"}}},
		{name: "oversize body", method: "POST", path: "/v1/earn", key: ingestKey, body: huge, status: 413, code: "body_too_large"},
		{name: "oversize batch", method: "POST", path: "/v1/earn/batch", key: ingestKey, body: hugeBatch, status: 413, code: "body_too_large"},
		{name: "too many events", method: "POST", path: "/v1/earn/batch", key: ingestKey, body: map[string]any{"events": manyEvents},
			status: 400, code: "invalid_request", errors: []issue{{"events", "more than 1000 events"}}},
		{name: "empty batch", method: "POST", path: "/v1/earn/batch", key: ingestKey, body: `{"events":[]}`,
			status: 400, code: "invalid_request", errors: []issue{{"events", "required"}}},
		{name: "bad limit", method: "GET", path: "/v1/members/m1/ledger?limit=ten", key: readKey,
			status: 400, code: "invalid_request", errors: []issue{{"limit", "must be 1 to 500"}}},
		{name: "limit too large", method: "GET", path: "/v1/members/m1/ledger?limit=501", key: readKey,
			status: 400, code: "invalid_request", errors: []issue{{"limit", "must be 1 to 500"}}},
		{name: "bad cursor", method: "GET", path: "/v1/members/m1/ledger?cursor=zzz", key: readKey,
			status: 400, code: "invalid_request", errors: []issue{{"cursor", "malformed"}}},
		{name: "media type", method: "POST", path: "/v1/redeem", key: ingestKey, body: "points=5", status: 415, code: "unsupported_media_type"},
		{name: "missing key", method: "POST", path: "/v1/earn", body: earnBody("k", "m1", "e", "1"), status: 401, code: "unauthorized"},
		{name: "invalid key", method: "GET", path: "/v1/members/m1", key: "not-a-key-0123456789", status: 401, code: "unauthorized"},
		{name: "read key writes", method: "POST", path: "/v1/earn", key: readKey, body: earnBody("k", "m1", "e", "1"), status: 403, code: "forbidden"},
		{name: "ingest key reads", method: "GET", path: "/v1/members/m1", key: ingestKey, status: 403, code: "forbidden"},
		{name: "ingest key adjusts", method: "POST", path: "/v1/adjustments", key: ingestKey, body: map[string]any{"idempotencyKey": "k", "memberId": "m1", "points": 5, "reason": "x"}, status: 403, code: "forbidden"},
		{name: "read key adjusts", method: "POST", path: "/v1/adjustments", key: readKey, body: map[string]any{"idempotencyKey": "k", "memberId": "m1", "points": 5, "reason": "x"}, status: 403, code: "forbidden"},
		{name: "unknown member", method: "GET", path: "/v1/members/nobody", key: readKey, status: 404, code: "member_not_found"},
		{name: "unknown route", method: "GET", path: "/v2/anything", status: 404, code: "not_found"},
	}
	// documentRefuses are the cases whose request the document refuses too;
	// the others are valid requests the engine refuses for what only it
	// knows (keys, members, the currency's decimals, the clock).
	documentRefuses := map[string]bool{}
	for _, name := range []string{"malformed JSON", "invalid JSON", "empty body", "trailing data", "unknown field",
		"wrong type", "wrong type nested", "negative amount", "missing amount", "missing time", "bad time",
		"missing idempotency key", "negative redeem", "adjustment without reason", "oversize body", "oversize batch",
		"too many events", "empty batch", "bad limit", "limit too large", "missing key", "unknown route"} {
		documentRefuses[name] = true
	}
	unused := maps.Clone(documentRefuses)
	for _, tt := range tests {
		delete(unused, tt.name)
		t.Run(tt.name, func(t *testing.T) {
			if s, ok := tt.body.(string); ok && tt.name == "media type" {
				req, _ := http.NewRequestWithContext(t.Context(), tt.method, e.srv.URL+tt.path, strings.NewReader(s))
				req.Header.Set("Authorization", "Bearer "+tt.key)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := e.srv.Client().Do(markRequest(req, requestInvalid))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
				}
				return
			}
			send := e.do
			if documentRefuses[tt.name] {
				send = e.doInvalid
			}
			r := send(t, tt.method, tt.path, tt.key, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			p := r.problem(t)
			if p.Status != tt.status || p.Code != tt.code || p.Type != ProblemTypeBase+tt.code || p.Title == "" || p.Detail == "" {
				t.Errorf("problem = %+v, want status %d code %s", p, tt.status, tt.code)
			}
			if fmt.Sprint(p.Errors) != fmt.Sprint(tt.errors) {
				t.Errorf("errors = %v, want %v", p.Errors, tt.errors)
			}
		})
	}
	for name := range unused {
		t.Errorf("documentRefuses names %q, which is no case", name)
	}
	// Nothing above may have changed the ledger.
	var v ledger.MemberView
	e.do(t, "GET", "/v1/members/m1", readKey, nil).decode(t, &v)
	if v.Available != 0 || v.Pending != 0 || v.LifetimeEarned != 0 {
		t.Errorf("rejected requests changed the balance: %+v", v)
	}
}

func TestFailedAuthenticationIsRateLimited(t *testing.T) {
	store, err := sqlite.Open(t.Context(), sqlite.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	keys, _ := auth.NewKeys(map[auth.Scope][]string{auth.ScopeRead: {readKey}})
	s := New(Options{Ledger: store, Config: config.NewHolder(nil),
		Auth: auth.NewAuthenticator(keys, auth.NewFailureLimiter(2, 30*time.Second), nil)})
	srv := httptest.NewServer(checked(t, s.Handler()))
	t.Cleanup(srv.Close)
	e := &env{srv: srv, store: store}

	for range 2 {
		if r := e.do(t, "GET", "/v1/members/m1", "guess-0123456789abcdef", nil); r.status != 401 {
			t.Fatalf("guess: %d %s", r.status, r.body)
		}
	}
	r := e.do(t, "GET", "/v1/members/m1", "guess-0123456789abcdef", nil)
	if r.status != 429 || r.problem(t).Code != "rate_limited" || r.header.Get("Retry-After") != "30" {
		t.Errorf("after 2 failures: %d %v %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	// Another client behind the same address with a valid key is served.
	if r := e.do(t, "GET", "/v1/members/m1", readKey, nil); r.status == 429 || r.status == 401 {
		t.Errorf("a valid key after another key's failures: %d %s", r.status, r.body)
	}
}
