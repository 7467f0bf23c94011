package service

import (
	"errors"
	"slices"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/internal/strictjson"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// patch sends body as PATCH /v1/members/{id} does: decoded strictly.
func (f *fixture) patch(t *testing.T, id, body string) (ledger.PatchMemberResult, error) {
	t.Helper()
	var p MemberPatch
	if err := strictjson.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return f.svc.PatchMember(t.Context(), id, "key-test", p, []byte(body))
}

func TestPatchMemberTagsPriceTheNextEarn(t *testing.T) {
	f := newFixture(t)
	res, err := f.patch(t, "plain", `{"idempotencyKey":"p1","tags":["capped","capped"],"attributes":{"city":"Seoul"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Tags, []string{"capped"}) || res.Attributes["city"] != "Seoul" || !slices.Equal(res.Changed, []string{"attributes.city", "tags"}) {
		t.Fatalf("patch: %+v", res)
	}
	ev, body := event("e1", "plain", "o1", "10.00", "", testNow)
	out, err := f.svc.Earn(t.Context(), ev, body)
	if err != nil {
		t.Fatal(err)
	}
	// 10 points, +5 for every purchase, +40 for members tagged capped.
	if out.Points != 55 {
		t.Fatalf("earn after tagging: %d points, want 55", out.Points)
	}
	if ch := f.store.members["plain"].changes; len(ch) != 1 || ch[0].Actor != "key-test" || ch[0].Op != "patch" {
		t.Fatalf("history: %+v", ch)
	}
}

func TestPatchMemberBirthDate(t *testing.T) {
	f := newFixture(t)
	if _, err := f.patch(t, "plain", `{"idempotencyKey":"p1","birthDate":{"month":2,"day":29}}`); err != nil {
		t.Fatalf("29 February without a year: %v", err)
	}
	if b := f.store.members["plain"].BirthDate; b == nil || b.Month != 2 || b.Day != 29 {
		t.Fatalf("birth date: %+v", b)
	}
	for body, field := range map[string]string{
		`{"idempotencyKey":"p2","birthDate":{"month":2,"day":29,"year":2023}}`: "birthDate.day",
		`{"idempotencyKey":"p2","birthDate":{"month":13,"day":1}}`:             "birthDate.month",
		`{"idempotencyKey":"p2","birthDate":{"month":4,"day":31}}`:             "birthDate.day",
		`{"idempotencyKey":"p2","birthDate":{"month":4,"day":1,"year":1850}}`:  "birthDate.year",
		`{"idempotencyKey":"p2","birthDate":{"month":4,"day":1,"era":"AD"}}`:   "birthDate.era",
		`{"idempotencyKey":"p2","consents":{"fax":true}}`:                      "consents.fax",
		`{"idempotencyKey":"p2","attributes":{"9lives":"x"}}`:                  "attributes.9lives",
	} {
		_, err := f.patch(t, "plain", body)
		var fe *ledger.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want a FieldError on %s", body, err, field)
		}
	}
	res, err := f.patch(t, "plain", `{"idempotencyKey":"p3","birthDate":null}`)
	if err != nil || res.BirthDate != nil || !slices.Equal(res.Changed, []string{"birthDate"}) {
		t.Fatalf("clear birth date: %+v, %v", res, err)
	}
}

func TestPatchMemberConsentsAndReplay(t *testing.T) {
	f := newFixture(t)
	body := `{"idempotencyKey":"c1","consents":{"email":true,"sms":false}}`
	first, err := f.patch(t, "plain", body)
	if err != nil || !first.Consents["email"].Granted || first.Consents["sms"].Granted || first.Consents["email"].At.IsZero() {
		t.Fatalf("consents: %+v, %v", first, err)
	}
	again, err := f.patch(t, "plain", body)
	if err != nil || !again.Replayed {
		t.Fatalf("replay: %+v, %v", again, err)
	}
	// The same body for another member is another request.
	if _, err := f.patch(t, "capped", body); !errors.Is(err, ledger.ErrIdempotencyReuse) {
		t.Fatalf("same key for another member: %v, want ErrIdempotencyReuse", err)
	}
}

func TestEraseMember(t *testing.T) {
	f := newFixture(t)
	if _, err := f.patch(t, "plain", `{"idempotencyKey":"p1","attributes":{"email":"a@example.com"}}`); err != nil {
		t.Fatal(err)
	}
	ev, body := event("e1", "plain", "o1", "10.00", "", testNow)
	if _, err := f.svc.Earn(t.Context(), ev, body); err != nil {
		t.Fatal(err)
	}
	first, err := f.svc.EraseMember(t.Context(), "plain", "key-admin", "x1", []byte(`{"idempotencyKey":"x1"}`))
	if err != nil || !first.Erased {
		t.Fatalf("erase: %+v, %v", first, err)
	}
	// Another key: the same answer, the id being erased already.
	second, err := f.svc.EraseMember(t.Context(), "plain", "key-admin", "x2", []byte(`{"idempotencyKey":"x2"}`))
	if err != nil || !second.ErasedAt.Equal(first.ErasedAt) {
		t.Fatalf("erase again: %+v, %v; want %+v", second, err, first)
	}
	if _, err := f.svc.store.Member(t.Context(), "plain", testNow); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Fatalf("old id after erasure: %v, want ErrMemberNotFound", err)
	}
	mm := f.store.members["erased-plain-pseudonym"]
	if mm == nil || mm.Available != 15 || len(mm.Attributes) != 0 {
		t.Fatalf("pseudonym: %+v", mm)
	}
	if _, err := f.patch(t, mm.ID, `{"idempotencyKey":"p9","tags":["x"]}`); !errors.Is(err, ledger.ErrMemberErased) {
		t.Fatalf("patch of an erased member: %v, want ErrMemberErased", err)
	}
	if _, err := f.svc.EraseMember(t.Context(), "nobody", "key-admin", "x3", []byte(`{"idempotencyKey":"x3"}`)); !errors.Is(err, ledger.ErrMemberNotFound) {
		t.Fatalf("erase of an unknown id: %v, want ErrMemberNotFound", err)
	}
}
