package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

func mustJSON(t *testing.T, v ...any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// keyID is the id the engine records for an API key.
func keyID(key string) string {
	h := sha256.Sum256([]byte(key))
	return "key-" + hex.EncodeToString(h[:6])
}

// TestPatchMember patches a member's profile, reads it back in the member
// view and the profile history, and refuses bad input naming the field.
func TestPatchMember(t *testing.T) {
	e := newEnv(t, testSnapshot)
	e.enroll(t, "m1")
	r := e.do(t, "PATCH", "/v1/members/m1", ingestKey, map[string]any{"idempotencyKey": "p1", "tags": []string{"vip"},
		"attributes": map[string]any{"city": "Seoul", "nickname": nil}, "birthDate": map[string]any{"month": 2, "day": 29},
		"consents": map[string]bool{"email": true, "sms": false}})
	var res ledger.PatchMemberResult
	if r.decode(t, &res); r.status != http.StatusOK || !slices.Equal(res.Changed, []string{"attributes.city", "birthDate", "consents.email", "consents.sms", "tags"}) {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	var v ledger.MemberView
	if e.do(t, "GET", "/v1/members/m1", readKey, nil).decode(t, &v); v.Attributes["city"] != "Seoul" || v.BirthDate == nil || v.BirthDate.Day != 29 ||
		!v.Consents["email"].Granted || !slices.Equal(v.Tags, []string{"vip"}) {
		t.Fatalf("member view: %+v", v)
	}
	r = e.do(t, "PATCH", "/v1/members/m1", ingestKey, map[string]any{"idempotencyKey": "p2", "birthDate": nil, "attributes": map[string]any{"city": nil}})
	var cleared ledger.PatchMemberResult
	if r.decode(t, &cleared); r.status != http.StatusOK || cleared.BirthDate != nil || len(cleared.Attributes) != 0 {
		t.Fatalf("clear: %d %s", r.status, r.body)
	}
	var hist ProfileHistory
	if e.do(t, "GET", "/v1/members/m1/profile-history", readKey, nil).decode(t, &hist); len(hist.Changes) != 2 ||
		hist.Changes[0].Actor != keyID(ingestKey) || !slices.Equal(hist.Changes[1].Fields, []string{"attributes.city", "birthDate"}) {
		t.Fatalf("history: %+v", hist)
	}

	for _, tc := range []struct {
		body    map[string]any
		field   string
		invalid bool // the document refuses it too
	}{
		{map[string]any{"idempotencyKey": "p3", "birthDate": map[string]any{"month": 4, "day": 31}}, "birthDate.day", false},
		{map[string]any{"idempotencyKey": "p3", "birthDate": map[string]any{"month": 2, "day": 29, "year": 2023}}, "birthDate.day", false},
		{map[string]any{"idempotencyKey": "p3", "birthDate": map[string]any{"month": 13, "day": 1}}, "birthDate.month", true},
		{map[string]any{"idempotencyKey": "p3", "birthDate": map[string]any{"month": 1, "day": 1, "era": "AD"}}, "birthDate.era", true},
		{map[string]any{"idempotencyKey": "p3", "consents": map[string]any{"fax": true}}, "consents.fax", true},
		{map[string]any{"idempotencyKey": "p3", "attributes": map[string]any{"1st": "x"}}, "attributes.1st", true},
		{map[string]any{"idempotencyKey": "p3", "nickname": "x"}, "nickname", true},
	} {
		send := e.do
		if tc.invalid {
			send = e.doInvalid
		}
		r := send(t, "PATCH", "/v1/members/m1", ingestKey, tc.body)
		if p := r.problem(t); r.status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
			t.Errorf("%v: %d %s, want 400 naming %s", tc.body, r.status, r.body, tc.field)
		}
	}
	if e.do(t, "GET", "/v1/members/m1/profile-history", readKey, nil).decode(t, &hist); len(hist.Changes) != 2 {
		t.Fatalf("refused patches were recorded: %+v", hist)
	}
	if r := e.do(t, "PATCH", "/v1/members/nobody", ingestKey, map[string]any{"idempotencyKey": "p4", "tags": []string{}}); r.status != http.StatusNotFound {
		t.Fatalf("patch of an unknown member: %d %s", r.status, r.body)
	}
}

// TestEraseMember erases a member: admin only, the old id gone, the
// export without it, the pseudonym's profile closed, idempotent.
func TestEraseMember(t *testing.T) {
	e := newEnv(t, testSnapshot)
	e.enroll(t, "alice-erasable", "vip")
	e.do(t, "PATCH", "/v1/members/alice-erasable", ingestKey, map[string]any{"idempotencyKey": "p1", "attributes": map[string]any{"email": "alice@example.com"}})
	e.earn(t, earnBody("earn-1", "alice-erasable", "order-1", "25.00"))
	var before AnalyticsReport
	e.do(t, "GET", "/v1/analytics", readKey, nil).decode(t, &before)

	if r := e.do(t, "POST", "/v1/members/alice-erasable/erase", ingestKey, map[string]any{"idempotencyKey": "x1"}); r.status != http.StatusForbidden {
		t.Fatalf("erase with an ingest key: %d %s", r.status, r.body)
	}
	var first, again ledger.EraseMemberResult
	r := e.do(t, "POST", "/v1/members/alice-erasable/erase", adminKey, map[string]any{"idempotencyKey": "x1"})
	if r.decode(t, &first); r.status != http.StatusOK || !first.Erased {
		t.Fatalf("erase: %d %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/v1/members/alice-erasable/erase", adminKey, map[string]any{"idempotencyKey": "x2"})
	if r.decode(t, &again); r.status != http.StatusOK || !again.ErasedAt.Equal(first.ErasedAt) {
		t.Fatalf("erase again: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/v1/members/alice-erasable", "/v1/members/alice-erasable/ledger", "/v1/members/alice-erasable/profile-history"} {
		if r := e.do(t, "GET", path, readKey, nil); r.status != http.StatusNotFound || r.problem(t).Code != "member_not_found" {
			t.Errorf("GET %s after erasure: %d %s", path, r.status, r.body)
		}
	}
	var after AnalyticsReport
	e.do(t, "GET", "/v1/analytics", readKey, nil).decode(t, &after)
	// Compared as JSON: the KPIs hold errors for those without a value.
	if a, b := mustJSON(t, after.KPIs, after.Aggregates), mustJSON(t, before.KPIs, before.Aggregates); a != b {
		t.Errorf("analytics moved: %s, before %s", a, b)
	}
	stream := string(e.do(t, "GET", "/v1/export", adminKey, nil).body)
	if strings.Contains(stream, "alice") {
		t.Fatalf("the export still names the member:\n%s", stream)
	}
	pseudo := regexp.MustCompile(`"id":"(erased-[0-9a-f]+)"`).FindStringSubmatch(stream)
	if pseudo == nil {
		t.Fatalf("no pseudonym in the export:\n%s", stream)
	}
	r = e.do(t, "PATCH", "/v1/members/"+pseudo[1], ingestKey, map[string]any{"idempotencyKey": "p2", "tags": []string{"x"}})
	if r.status != http.StatusGone || r.problem(t).Code != "member_erased" {
		t.Fatalf("patch of the pseudonym: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "enroll-again", "memberId": "alice-erasable"}); r.status != http.StatusCreated {
		t.Fatalf("enroll the id again: %d %s", r.status, r.body)
	}
}
