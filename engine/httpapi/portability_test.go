package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// importStream posts body to /v1/import as contentType.
func (e *env) importStream(t *testing.T, key, contentType string, body []byte) response {
	t.Helper()
	return e.send(t, e.importRequest(t, key, contentType, body))
}

// importInvalid posts a body the document refuses to /v1/import.
func (e *env) importInvalid(t *testing.T, key, contentType string, body []byte) response {
	t.Helper()
	return e.send(t, markRequest(e.importRequest(t, key, contentType, body), requestInvalid))
}

func (e *env) importRequest(t *testing.T, key, contentType string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+"/v1/import", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// sourceEnv is an engine with two members who earned, one of whom redeemed,
// and its export.
func sourceEnv(t *testing.T) (*env, []byte) {
	t.Helper()
	e := newEnv(t, testSnapshot)
	for _, id := range []string{"m1", "m2"} {
		if r := e.do(t, "POST", "/v1/members", ingestKey, map[string]any{"idempotencyKey": "enroll-" + id, "memberId": id, "tags": []string{"vip"}}); r.status != http.StatusCreated {
			t.Fatalf("enroll %s: %d %s", id, r.status, r.body)
		}
		if r := e.do(t, "POST", "/v1/earn", ingestKey, earnBody("earn-"+id, id, "o1", "100.00")); r.status != http.StatusOK {
			t.Fatalf("earn %s: %d %s", id, r.status, r.body)
		}
	}
	if r := e.do(t, "POST", "/v1/redeem", ingestKey, map[string]any{"idempotencyKey": "redeem-1", "memberId": "m1", "points": 40}); r.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", r.status, r.body)
	}
	r := e.do(t, "GET", "/v1/export", adminKey, nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != ndjson {
		t.Fatalf("export: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	return e, r.body
}

// lines splits a stream into its lines, without newlines.
func lines(stream []byte) []string {
	return strings.Split(strings.TrimSuffix(string(stream), "\n"), "\n")
}

func join(ls []string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

// resign gives a stream whose lines were edited a trailer that matches them.
func resign(t *testing.T, ls []string) []byte {
	t.Helper()
	last := len(ls) - 1
	sum := sha256.Sum256(join(ls[:last]))
	var tr ledger.ExportTrailer
	if err := json.Unmarshal([]byte(ls[last]), &tr); err != nil {
		t.Fatal(err)
	}
	tr.SHA256 = hex.EncodeToString(sum[:])
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	c := append([]string(nil), ls[:last]...)
	return join(append(c, string(b)))
}

func TestExportImport(t *testing.T) {
	src, stream := sourceEnv(t)
	ls := lines(stream)
	var header ledger.ExportHeader
	if err := json.Unmarshal([]byte(ls[0]), &header); err != nil || header.Format != ledger.ExportFormat || header.ProgramID != "shop/club" || header.Dialect != "sqlite" {
		t.Fatalf("header %s: %v", ls[0], err)
	}
	var trailer ledger.ExportTrailer
	if err := json.Unmarshal([]byte(ls[len(ls)-1]), &trailer); err != nil || trailer.Type != ledger.RecordTrailer ||
		trailer.Counts[ledger.RecordMember] != 2 || trailer.Counts[ledger.RecordEntry] != 3 || trailer.Counts[ledger.RecordIdempotencyKey] != 5 {
		t.Fatalf("trailer %s: %v", ls[len(ls)-1], err)
	}

	dst := newEnv(t, testSnapshot)
	r := dst.importStream(t, adminKey, ndjson, stream)
	if r.status != http.StatusCreated {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	var res ledger.ImportResult
	r.decode(t, &res)
	if res.ImportID != trailer.SHA256 || res.ExportID != header.ExportID || res.Counts[ledger.RecordLot] != 2 || res.Replayed {
		t.Fatalf("import result %+v", res)
	}
	for _, id := range []string{"m1", "m2"} {
		a, b := src.do(t, "GET", "/v1/members/"+id, readKey, nil), dst.do(t, "GET", "/v1/members/"+id, readKey, nil)
		var va, vb ledger.MemberView
		a.decode(t, &va)
		b.decode(t, &vb)
		if vb.Balance != va.Balance || vb.ReferralCode != va.ReferralCode || len(vb.Tags) != 1 {
			t.Fatalf("member %s: source %s, imported %s", id, a.body, b.body)
		}
	}
	// The imported store replays the source's keys.
	redeem := dst.do(t, "POST", "/v1/redeem", ingestKey, map[string]any{"idempotencyKey": "redeem-1", "memberId": "m1", "points": 40})
	if redeem.status != http.StatusOK || !strings.Contains(string(redeem.body), `"replayed":true`) {
		t.Fatalf("replayed redeem: %d %s", redeem.status, redeem.body)
	}

	// The same stream again: the original result.
	again := dst.importStream(t, adminKey, "application/x-ndjson; charset=utf-8", stream)
	var replay ledger.ImportResult
	again.decode(t, &replay)
	if again.status != http.StatusOK || !replay.Replayed || replay.ImportID != res.ImportID || !replay.ImportedAt.Equal(res.ImportedAt) {
		t.Fatalf("import again: %d %s", again.status, again.body)
	}
	// The same export edited (its header kept, its trailer matching) is
	// another stream.
	edited := append([]string(nil), ls...)
	edited[1] = strings.Replace(edited[1], `"tags":["vip"]`, `"tags":["gold"]`, 1)
	if r := dst.importStream(t, adminKey, ndjson, resign(t, edited)); r.status != http.StatusConflict || r.problem(t).Code != "store_not_empty" ||
		!strings.Contains(r.problem(t).Detail, "differs") {
		t.Fatalf("the export edited: %d %s", r.status, r.body)
	}
	// Another stream into a store with data: refused, whichever store.
	other := src.do(t, "GET", "/v1/export", adminKey, nil).body
	for name, e := range map[string]*env{"imported": dst, "source": src} {
		r := e.importStream(t, adminKey, ndjson, other)
		if p := r.problem(t); r.status != http.StatusConflict || p.Code != "store_not_empty" {
			t.Fatalf("%s store: %d %s", name, r.status, r.body)
		}
	}
}

func TestExportImportScopes(t *testing.T) {
	e := newEnv(t, testSnapshot)
	for _, key := range []string{ingestKey, readKey} {
		if r := e.do(t, "GET", "/v1/export", key, nil); r.status != http.StatusForbidden || r.problem(t).Code != "forbidden" {
			t.Errorf("export with %s: %d %s", key, r.status, r.body)
		}
		if r := e.importInvalid(t, key, ndjson, []byte("{}\n")); r.status != http.StatusForbidden || r.problem(t).Code != "forbidden" {
			t.Errorf("import with %s: %d %s", key, r.status, r.body)
		}
	}
	if r := e.doInvalid(t, "GET", "/v1/export", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("export without a key: %d %s", r.status, r.body)
	}
	// An empty store exports a header, no records and a trailer.
	r := e.do(t, "GET", "/v1/export", adminKey, nil)
	if ls := lines(r.body); r.status != http.StatusOK || len(ls) != 2 || !strings.Contains(ls[1], `"member":0`) {
		t.Errorf("export of an empty store: %d %s", r.status, r.body)
	}
}

// TestImportRefusals: each broken stream is refused naming the line and
// field, and leaves the store empty for the good one.
func TestImportRefusals(t *testing.T) {
	_, stream := sourceEnv(t)
	ls := lines(stream)
	last := len(ls) - 1
	replace := func(i int, from, to string) []byte {
		t.Helper()
		if !strings.Contains(ls[i], from) {
			t.Fatalf("line %d %s has no %s", i+1, ls[i], from)
		}
		c := append([]string(nil), ls...)
		c[i] = strings.Replace(c[i], from, to, 1)
		return join(c)
	}
	// resummed alters line i and signs the result with a matching trailer.
	resummed := func(i int, from, to string) []byte {
		t.Helper()
		return resign(t, lines(replace(i, from, to)))
	}
	without := func(i int) []byte {
		return join(append(append([]string(nil), ls[:i]...), ls[i+1:]...))
	}
	tests := []struct {
		name  string
		body  []byte
		field string
	}{
		{"no trailer", join(ls[:last]), "trailer"},
		{"cut inside a line", stream[:len(stream)-len(ls[last])-20], "line " + strconv.Itoa(last) + ": (line)"},
		{"a record missing", without(last - 1), "line " + strconv.Itoa(last) + ": counts.idempotencyKey"},
		{"altered", replace(1, `"available":`, `"available":1`), "line " + strconv.Itoa(last+1) + ": sha256"},
		{"unknown type", replace(1, `"type":"member"`, `"type":"customer"`), "line 2: type"},
		{"bad field", replace(1, `"pending":0`, `"pending":"none"`), "line 2: pending"},
		{"negative balance", replace(1, `"pending":0`, `"pending":-5`), "line 2: pending"},
		{"unknown field", replace(1, `"pending":0`, `"pending":0,"vip":true`), "line 2: vip"},
		{"types out of order", join(append([]string{ls[0], ls[3]}, ls[1:]...)), "line 3: type"},
		{"not a header", without(0), "line 1: type"},
		{"data after the trailer", join(append(append([]string(nil), ls...), ls[1])), "line " + strconv.Itoa(last+2) + ": (line)"},
		{"empty", nil, "(body)"},
		// Well-formed and signed, but not a ledger the store can hold.
		{"balance off its entries", resummed(1, `"available":110`, `"available":111`), "(body)"},
		{"a member twice", resummed(2, `"id":"m2"`, `"id":"m1"`), "lines 2-3"},
		// What one store could not hold, no store takes.
		{"NUL in an id", resummed(1, `"id":"m1"`, `"id":"m1\u0000"`), "line 2: id"},
		{"invalid UTF-8 in a tag", resummed(1, `["vip"]`, "[\"vip\xe9\"]"), "line 2: tags[0]"},
		{"a name given twice", resummed(1, `"pending":0`, `"pending":0,"pending":5`), "line 2: pending"},
	}
	// The document describes each line, so it refuses only these streams;
	// the others break rules only the engine checks.
	documentRefuses := map[string]bool{"cut inside a line": true, "unknown type": true, "empty": true}
	dst := newEnv(t, testSnapshot)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send := dst.importStream
			if documentRefuses[tt.name] {
				send = dst.importInvalid
			}
			r := send(t, adminKey, ndjson, tt.body)
			p := r.problem(t)
			if r.status != http.StatusBadRequest || p.Code != "invalid_request" || len(p.Errors) != 1 || p.Errors[0].Field != tt.field {
				t.Fatalf("%d %s, want 400 naming %q", r.status, r.body, tt.field)
			}
		})
	}
	if r := dst.importInvalid(t, adminKey, "application/json", stream); r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("as application/json: %d %s", r.status, r.body)
	}
	if r := dst.importStream(t, adminKey, ndjson, stream); r.status != http.StatusCreated {
		t.Fatalf("the good stream after the refusals: %d %s", r.status, r.body)
	}
}
