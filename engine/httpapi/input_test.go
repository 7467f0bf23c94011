package httpapi

import (
	"bytes"
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// records is the ledger's whole state, as the data lines of its export: a
// refused request must leave it as it was.
func (e *env) records(t *testing.T) []string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := e.store.Export(t.Context(), &buf, ledger.ExportOptions{}); err != nil {
		t.Fatalf("export: %v", err)
	}
	ls := lines(buf.Bytes())
	return ls[1 : len(ls)-1]
}

// post sends body as is with the Content-Type given.
func (e *env) post(t *testing.T, path, key, contentType, body string) response {
	t.Helper()
	return e.send(t, e.rawPost(t, path, key, contentType, body))
}

// rawPost is a POST of body as is with the Content-Type given, if any.
func (e *env) rawPost(t *testing.T, path, key, contentType, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// inputCase is a request the API must refuse, naming field, without
// writing anything.
type inputCase struct {
	name        string
	method      string // POST when empty
	path, key   string
	contentType string // application/json when empty; "-" for none
	body        string
	status      int
	code        string
	field       string // the field named; "" for a problem naming none
	reason      string // a part of the field's reason
}

// checkRefusals sends each case and checks its problem and that the
// ledger is unchanged.
func checkRefusals(t *testing.T, e *env, cases []inputCase) {
	t.Helper()
	before := e.records(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var req *http.Request
			switch ct := tc.contentType; {
			case tc.method == http.MethodGet:
				req = e.request(t, tc.method, tc.path, tc.key, nil)
			case ct == "-":
				req = e.rawPost(t, tc.path, tc.key, "", tc.body)
			default:
				req = e.rawPost(t, tc.path, tc.key, cmp.Or(ct, "application/json"), tc.body)
			}
			// Some of these refusals the document states (a schema, a
			// media type), others it cannot (NUL, invalid UTF-8, a name
			// given twice, a time relative to now): the request's validity
			// is not the point, the refusal and its response are.
			r := e.send(t, markRequest(req, requestArbitrary))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			p := r.problem(t)
			if p.Code != tc.code || p.Type != ProblemTypeBase+tc.code || p.Status != tc.status || p.Detail == "" {
				t.Errorf("problem %+v, want code %s", p, tc.code)
			}
			switch {
			case tc.field == "" && len(p.Errors) > 0:
				t.Errorf("errors %v, want none", p.Errors)
			case tc.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tc.field || !strings.Contains(p.Errors[0].Reason, tc.reason)):
				t.Errorf("errors %v, want one naming %q with a reason containing %q", p.Errors, tc.field, tc.reason)
			}
			if after := e.records(t); !slices.Equal(after, before) {
				t.Errorf("the refused request changed the ledger:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

// strictEnv serves the catalog program with member m1 holding 50 points.
func strictEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, catalogSnapshot)
	if r := e.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "enroll-m1", "memberId": "m1"}); r.status != http.StatusCreated {
		t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/adjustments", adminKey, map[string]any{"idempotencyKey": "adjust-m1", "memberId": "m1", "points": 50, "reason": "welcome"}); r.status != http.StatusOK {
		t.Fatalf("adjust: %d %s", r.status, r.body)
	}
	return e
}

// TestStrictJSON: duplicate names, names in another case, invalid UTF-8
// and NUL are refused, naming the field by its path.
func TestStrictJSON(t *testing.T) {
	e := strictEnv(t)
	ev := func(member string) string {
		return `{"idempotencyKey":"k-earn","memberId":"` + member + `","eventId":"e1","amount":"10.00","occurredAt":"` + earnedAt + `"}`
	}
	checkRefusals(t, e, []inputCase{
		{name: "duplicate name", path: "/v1/redeem", key: ingestKey, body: `{"idempotencyKey":"d1","memberId":"m1","points":1,"points":50}`,
			status: 400, code: "invalid_request", field: "points", reason: "duplicate field"},
		{name: "names in another case", path: "/v1/redeem", key: ingestKey, body: `{"IDEMPOTENCYKEY":"d2","memberId":"m1","POINTS":7}`,
			status: 400, code: "invalid_request", field: "IDEMPOTENCYKEY", reason: `case-sensitive, did you mean "idempotencyKey"?`},
		{name: "invalid UTF-8 member at enrolment", path: "/v1/members", key: ingestKey, body: "{\"idempotencyKey\":\"u1\",\"memberId\":\"jos\xe9\"}",
			status: 400, code: "invalid_request", field: "memberId", reason: "invalid UTF-8"},
		{name: "invalid UTF-8 member at earn", path: "/v1/earn", key: ingestKey, body: ev("jos\xe8"),
			status: 400, code: "invalid_request", field: "memberId", reason: "invalid UTF-8"},
		{name: "invalid UTF-8 tag", path: "/v1/members", key: ingestKey, body: "{\"idempotencyKey\":\"u2\",\"memberId\":\"m9\",\"tags\":[\"ok\",\"\xff\"]}",
			status: 400, code: "invalid_request", field: "tags[1]", reason: "invalid UTF-8"},
		{name: "lone surrogate", path: "/v1/members", key: ingestKey, body: `{"idempotencyKey":"u3","memberId":"a\udc00"}`,
			status: 400, code: "invalid_request", field: "memberId", reason: "surrogate"},
		{name: "NUL in a member id", path: "/v1/earn", key: ingestKey, body: ev(`m1\u0000`),
			status: 400, code: "invalid_request", field: "memberId", reason: "NUL"},
		{name: "NUL in an idempotency key", path: "/v1/redeem", key: ingestKey, body: `{"idempotencyKey":"k\u0000","memberId":"m1","points":1}`,
			status: 400, code: "invalid_request", field: "idempotencyKey", reason: "NUL"},
		{name: "NUL in a batch event", path: "/v1/earn/batch", key: ingestKey, body: `{"events":[` + ev("m1") + `,` + ev(`m\u0000`) + `]}`,
			status: 400, code: "invalid_request", field: "events[1].memberId", reason: "NUL"},
		{name: "duplicate name in a batch event", path: "/v1/earn/batch", key: ingestKey,
			body:   `{"events":[{"idempotencyKey":"b1","memberId":"m1","eventId":"b1","amount":"1","amount":"500","occurredAt":"` + earnedAt + `"}]}`,
			status: 400, code: "invalid_request", field: "events[0].amount", reason: "duplicate field"},
		{name: "unknown name in a batch event", path: "/v1/earn/batch", key: ingestKey, body: `{"events":[` + ev("m1") + `,{"points":5}]}`,
			status: 400, code: "invalid_request", field: "events[1].points", reason: "unknown field"},
		{name: "batch event not an object", path: "/v1/earn/batch", key: ingestKey, body: `{"events":[` + ev("m1") + `,[]]}`,
			status: 400, code: "invalid_request", field: "events[1]", reason: "want object, got JSON array"},
		{name: "batch names in another case", path: "/v1/earn/batch", key: ingestKey, body: `{"EVENTS":[` + ev("m1") + `]}`,
			status: 400, code: "invalid_request", field: "EVENTS", reason: "case-sensitive"},
	})
}

// TestContentType: a body is JSON only when it says so, as
// application/json with no charset but UTF-8.
func TestContentType(t *testing.T) {
	e := strictEnv(t)
	body := `{"idempotencyKey":"ct","memberId":"m1","points":1}`
	var cases []inputCase
	for _, ct := range []string{"-", "application/jsonp", "application/json-patch+json", "text/plain", "application/x-www-form-urlencoded",
		"application/json; charset=latin1", "application/json; charset=utf-16", "application/json;;", "json"} {
		cases = append(cases, inputCase{name: ct, path: "/v1/redeem", key: ingestKey, contentType: ct, body: body,
			status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"})
	}
	checkRefusals(t, e, cases)
	for i, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8"} {
		body := fmt.Sprintf(`{"idempotencyKey":"ct-%d","memberId":"m1","points":1}`, i)
		if r := e.post(t, "/v1/redeem", ingestKey, ct, body); r.status != http.StatusOK {
			t.Errorf("Content-Type %q: %d %s", ct, r.status, r.body)
		}
	}
}

// TestUnstorableIDsInPaths: an id in the path holding NUL or invalid
// UTF-8 is refused like one in a body, on every store.
func TestUnstorableIDsInPaths(t *testing.T) {
	e := strictEnv(t)
	var cases []inputCase
	for _, id := range []string{"m1%00", "jos%E9"} {
		for _, path := range []string{"/v1/members/" + id, "/v1/members/" + id + "/ledger", "/v1/members/" + id + "/redemptions"} {
			cases = append(cases, inputCase{name: path, method: http.MethodGet, path: path, key: readKey,
				status: 400, code: "invalid_request", field: "memberId"})
		}
	}
	for _, code := range []string{"C%00DE", "C%FFDE"} {
		cases = append(cases, inputCase{name: "cancel " + code, path: "/v1/redemptions/" + code + "/cancel", key: ingestKey,
			body: `{"idempotencyKey":"c1"}`, status: 400, code: "invalid_request", field: "code"})
	}
	checkRefusals(t, e, cases)
}

// TestTimesOutOfRange: an enrolment in the future, a time before 1970
// (0001-01-01 included, which was taken for "now") and an adjustment
// expiring in the past are refused naming the field.
func TestTimesOutOfRange(t *testing.T) {
	e := strictEnv(t)
	hourAhead := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	enroll := func(at string) string {
		return `{"idempotencyKey":"t-enroll","memberId":"m2","enrolledAt":"` + at + `"}`
	}
	adjust := func(at string) string {
		return `{"idempotencyKey":"t-adjust","memberId":"m1","points":5,"reason":"goodwill","expiresAt":"` + at + `"}`
	}
	checkRefusals(t, e, []inputCase{
		{name: "enrolled in 2099", path: "/v1/members", key: ingestKey, body: enroll("2099-01-01T00:00:00Z"),
			status: 400, code: "invalid_request", field: "enrolledAt", reason: "more than 5m0s in the future"},
		{name: "enrolled an hour ahead", path: "/v1/members", key: ingestKey, body: enroll(hourAhead),
			status: 400, code: "invalid_request", field: "enrolledAt", reason: "in the future"},
		{name: "enrolled at the zero time", path: "/v1/members", key: ingestKey, body: enroll("0001-01-01T00:00:00Z"),
			status: 400, code: "invalid_request", field: "enrolledAt", reason: "must be after 1970-01-01T00:00:00Z"},
		{name: "enrolled before 1970", path: "/v1/members", key: ingestKey, body: enroll("1969-12-31T23:59:59Z"),
			status: 400, code: "invalid_request", field: "enrolledAt", reason: "must be after 1970-01-01T00:00:00Z"},
		{name: "enrolled at no time", path: "/v1/members", key: ingestKey, body: enroll("soon"),
			status: 400, code: "invalid_request", field: "enrolledAt", reason: "want RFC 3339"},
		{name: "adjustment expired already", path: "/v1/adjustments", key: adminKey, body: adjust(past),
			status: 400, code: "invalid_request", field: "expiresAt", reason: "is past"},
		{name: "adjustment expiring at the zero time", path: "/v1/adjustments", key: adminKey, body: adjust("0001-01-01T00:00:00Z"),
			status: 400, code: "invalid_request", field: "expiresAt", reason: "must be after 1970-01-01T00:00:00Z"},
		{name: "earn at the zero time", path: "/v1/earn", key: ingestKey,
			body:   `{"idempotencyKey":"t-earn","memberId":"m1","eventId":"e1","amount":"10.00","occurredAt":"0001-01-01T00:00:00Z"}`,
			status: 422, code: "late_event", field: "occurredAt", reason: "late-event grace period"},
	})
}

// TestRefusedRedemptionWritesNothing: a redemption for an unknown member
// leaves nothing behind, so the new store still takes a migration.
func TestRefusedRedemptionWritesNothing(t *testing.T) {
	_, stream := sourceEnv(t)
	e := newEnv(t, catalogSnapshot)
	checkRefusals(t, e, []inputCase{
		{name: "unknown member, unknown reward", path: "/v1/redemptions", key: ingestKey, body: `{"idempotencyKey":"r1","memberId":"nobody","rewardId":"x"}`,
			status: 404, code: "member_not_found"},
		{name: "unknown member", path: "/v1/redemptions", key: ingestKey, body: `{"idempotencyKey":"r2","memberId":"nobody","rewardId":"mug"}`,
			status: 404, code: "member_not_found"},
	})
	if r := e.importStream(t, adminKey, ndjson, stream); r.status != http.StatusCreated {
		t.Fatalf("import after the refusals: %d %s", r.status, r.body)
	}
}

// TestInsufficientPointsSaysHowMany: the problem gives the points needed
// and available as fields, and nothing is written.
func TestInsufficientPointsSaysHowMany(t *testing.T) {
	e := newEnv(t, catalogSnapshot)
	for _, r := range []response{
		e.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "enroll-m1", "memberId": "m1"}),
		e.do(t, "POST", "/v1/adjustments", adminKey, map[string]any{"idempotencyKey": "adjust-m1", "memberId": "m1", "points": 20, "reason": "welcome"}),
	} {
		if r.status >= 300 {
			t.Fatalf("setup: %d %s", r.status, r.body)
		}
	}
	before := e.records(t)
	for _, tc := range []struct {
		name, path, key string
		body            map[string]any
		needed          int64
	}{
		{"redeem", "/v1/redeem", ingestKey, map[string]any{"idempotencyKey": "r1", "memberId": "m1", "points": 500}, 500},
		{"debit adjustment", "/v1/adjustments", adminKey, map[string]any{"idempotencyKey": "a1", "memberId": "m1", "points": -21, "reason": "fix"}, 21},
		{"catalog redemption", "/v1/redemptions", ingestKey, map[string]any{"idempotencyKey": "c1", "memberId": "m1", "rewardId": "mug"}, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, "POST", tc.path, tc.key, tc.body)
			p := r.problem(t)
			if r.status != http.StatusUnprocessableEntity || p.Code != "insufficient_points" || p.Needed == nil || p.Available == nil ||
				*p.Needed != tc.needed || *p.Available != 20 || !strings.Contains(p.Detail, fmt.Sprintf("%d needed, 20 available", tc.needed)) {
				t.Fatalf("%d %s, want 422 insufficient_points with needed %d and available 20", r.status, r.body, tc.needed)
			}
		})
	}
	if after := e.records(t); !slices.Equal(after, before) {
		t.Errorf("refused debits changed the ledger:\nbefore %q\nafter  %q", before, after)
	}
}

// TestTagLimit: a member's tag is at most as long as a campaign's
// memberTags may be (config.MaxTagLength characters).
func TestTagLimit(t *testing.T) {
	e := strictEnv(t)
	long := strings.Repeat("t", config.MaxTagLength+1)
	checkRefusals(t, e, []inputCase{
		{name: "tag too long", path: "/v1/members", key: ingestKey, body: `{"idempotencyKey":"t1","memberId":"m2","tags":["vip","` + long + `"]}`,
			status: 400, code: "invalid_request", field: "tags[1]", reason: "must be 1 to 63 characters"},
	})
	longest := strings.Repeat("é", config.MaxTagLength)
	if r := e.post(t, "/v1/members", ingestKey, "application/json", `{"idempotencyKey":"t2","memberId":"m2","tags":["`+longest+`"]}`); r.status != http.StatusCreated {
		t.Fatalf("a tag of %d characters: %d %s", config.MaxTagLength, r.status, r.body)
	}
}
