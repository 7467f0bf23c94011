package catalog

import (
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

func TestEveryTypeHasASchema(t *testing.T) {
	for _, typ := range ledger.EventTypes {
		if err := Validate(typ, []byte(`{}`)); err == nil && typ != ledger.EventMemberEnrolled {
			t.Errorf("%s: an empty object passed; its schema requires nothing", typ)
		}
	}
	entries, err := Schemas.ReadDir("schemas")
	if err != nil || len(entries) != len(ledger.EventTypes) {
		t.Fatalf("%d schema files (%v) for %d event types", len(entries), err, len(ledger.EventTypes))
	}
}

func TestValidate(t *testing.T) {
	ok := `{"entrySeq":3,"available":10,"pending":0,"eventId":"o1","balance":{"available":10,"pending":0}}`
	if err := Validate(ledger.EventPointsEarned, []byte(ok)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		`{"entrySeq":3,"available":10,"pending":0}`, // no balance
		`{"entrySeq":3,"available":10,"pending":0,"balance":{"available":-1,"pending":0}}`,
		`{"entrySeq":3,"available":"10","pending":0,"balance":{"available":1,"pending":0}}`,
		`{"entrySeq":3,"available":10,"pending":0,"balance":{"available":1,"pending":0},"extra":1}`,
	} {
		if err := Validate(ledger.EventPointsEarned, []byte(bad)); err == nil {
			t.Errorf("%s passed", bad)
		}
	}
	if err := Validate(ledger.EventMemberEnrolled, []byte(`{"enrolledAt":"yesterday"}`)); err == nil {
		t.Error("a date-time that is not one passed")
	}
	if err := Validate("points.invented", []byte(`{}`)); err == nil {
		t.Error("an unknown type passed")
	}
}
