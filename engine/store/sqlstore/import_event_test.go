package sqlstore

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// TestParseEventRefunded: an event line carries its refunded amount, the
// points its reversals clawed back and its campaign bonuses; a line of an
// earlier version has none of them, and refunded is derived from the points
// reversed as the store kept the spend then.
func TestParseEventRefunded(t *testing.T) {
	const line = `{"type":"event","memberId":"m","eventId":"e","points":%s,"reversed":%s,"purchaseAmount":%s,%s"currency":"EUR","occurredAt":"2026-01-01T00:00:00Z","recordedAt":"2026-01-01T00:00:00Z"}`
	tests := []struct {
		name                               string
		points, reversed, purchase, refund string
		want                               int64
		field                              string
	}{
		{"earlier version, reversed", "100", "33", "1000", "", 330, ""},
		{"earlier version, rounded like the spend", "3", "1", "100", "", 34, ""},
		{"earlier version, nothing reversed", "100", "0", "1000", "", 0, ""},
		{"no points, partly refunded", "0", "0", "99", `"refunded":40,`, 40, ""},
		{"no points, nothing refunded", "0", "0", "99", `"refunded":0,`, 0, ""},
		{"refunded above the purchase", "0", "0", "99", `"refunded":100,`, 0, "refunded"},
		{"negative refund", "10", "0", "99", `"refunded":-1,`, 0, "refunded"},
		{"neither points nor purchase", "0", "0", "0", "", 0, "points"},
		{"bonuses and what was clawed", "100", "50", "1000", `"clawed":40,"bonuses":[{"campaign":"spring","granted":10,"returned":4}],`, 500, ""},
		{"clawed above the points reversed", "100", "50", "1000", `"clawed":51,`, 0, "clawed"},
		{"a bonus given back beyond its grant", "100", "50", "1000", `"bonuses":[{"campaign":"spring","granted":10,"returned":11}],`, 0, "bonuses[0].returned"},
		{"a bonus without a campaign", "100", "0", "1000", `"bonuses":[{"campaign":"","granted":10,"returned":0}],`, 0, "bonuses[0].campaign"},
		{"a bonus of nothing", "100", "0", "1000", `"bonuses":[{"campaign":"spring","granted":0,"returned":0}],`, 0, "bonuses[0].granted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := parseEvent([]byte(fmt.Sprintf(line, tt.points, tt.reversed, tt.purchase, tt.refund)))
			if tt.field != "" {
				var fe *ledger.FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field {
					t.Fatalf("error %v, want a field error on %s", err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := vals[5].(int64); got != tt.want {
				t.Errorf("refunded %d, want %d", got, tt.want)
			}
			if bonuses, err := unmarshalBonuses(vals[11].(string)); err != nil || (len(bonuses) > 0 && bonuses[0].Returned != 4) {
				t.Errorf("bonuses %q: %v", vals[11], err)
			}
		})
	}
}

// TestBonusesEncoding: events.bonuses decode to what was encoded, returned
// parts included, and malformed values are refused.
func TestBonusesEncoding(t *testing.T) {
	in := []eventBonus{{Campaign: "spring", Granted: 10}, {Campaign: `odd "name"`, Granted: 5, Returned: 2}}
	s := marshalBonuses(in)
	if want := `[["spring",10],["odd \"name\"",5,2]]`; s != want {
		t.Errorf("encoded %s, want %s", s, want)
	}
	out, err := unmarshalBonuses(s)
	if err != nil || !slices.Equal(out, in) {
		t.Errorf("decoded %+v %v, want %+v", out, err, in)
	}
	if s := marshalBonuses(nil); s != "" {
		t.Errorf("no bonuses: %q", s)
	}
	for _, bad := range []string{`[["spring"]]`, `[["spring",1,2,3]]`, `[["spring","10"]]`, `{"spring":10}`} {
		if _, err := unmarshalBonuses(bad); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

// TestParseLotSpent: a lot line of an earlier version with nothing left
// available is imported spent, as migration 14 leaves such lots; a spent
// lot with points left is refused.
func TestParseLotSpent(t *testing.T) {
	const line = `{"type":"lot","id":1,"memberId":"m","eventId":"e","amount":100,"remaining":%d,"state":%q,"availableAt":"2026-01-01T00:00:00Z"}`
	tests := []struct {
		state     string
		remaining int64
		want      string
	}{
		{"available", 0, "spent"},
		{"available", 40, "available"},
		{"spent", 0, "spent"},
		{"pending", 0, "pending"},
		{"expired", 0, "expired"},
		{"spent", 40, ""},
	}
	for _, tt := range tests {
		vals, err := parseLot([]byte(fmt.Sprintf(line, tt.remaining, tt.state)))
		if tt.want == "" {
			var fe *ledger.FieldError
			if !errors.As(err, &fe) || fe.Field != "remaining" {
				t.Errorf("%s lot with %d left: error %v, want a field error on remaining", tt.state, tt.remaining, err)
			}
			continue
		}
		if err != nil || vals[5] != tt.want {
			t.Errorf("%s lot with %d left: imported %v (%v), want %s", tt.state, tt.remaining, vals[5], err, tt.want)
		}
	}
}
