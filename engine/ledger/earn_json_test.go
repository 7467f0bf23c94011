package ledger

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// TestEarnJSONMatchesEncodingJSON fills every field of earn records,
// results and explanations with random values (strings that need
// escaping, invalid UTF-8, times in odd zones, nil and empty slices) and
// checks that the hand-written encoders return exactly what encoding/json
// does. A field added to one of these types without its encoder fails here.
func TestEarnJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var rec EarnRecord
		fill(r, reflect.ValueOf(&rec).Elem())
		same(t, i, "record", rec.AppendJSON, rec)

		var ex rules.Explanation
		fill(r, reflect.ValueOf(&ex).Elem())
		same(t, i, "explanation", ex.AppendJSON, ex)

		// The full response is the record's fields with the explanation in full.
		var res EarnResult
		fill(r, reflect.ValueOf(&res).Elem())
		res.Summary = nil
		full := struct {
			EntrySeq    int64               `json:"entrySeq"`
			MemberID    string              `json:"memberId"`
			EventID     string              `json:"eventId"`
			Points      int64               `json:"points"`
			Pending     bool                `json:"pending"`
			Balance     Balance             `json:"balance"`
			Explanation *rules.Explanation  `json:"explanation,omitempty"`
			Referral    *ReferralConversion `json:"referral,omitempty"`
			Replayed    bool                `json:"replayed,omitempty"`
		}{res.EntrySeq, res.MemberID, res.EventID, res.Points, res.Pending, res.Balance, res.Explanation, res.Referral, res.Replayed}
		same(t, i, "full result", res.AppendFullJSON, full)
		// A fresh result encodes its record, the explanation summarised.
		same(t, i, "result's record", res.AppendJSON, res.Record())
	}
}

func same(t *testing.T, i int, what string, appendJSON func([]byte) ([]byte, error), v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("sample %d: %s: encoding/json: %v", i, what, err)
	}
	got, err := appendJSON(nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("sample %d: %s differs (%v):\n got %s\nwant %s", i, what, err, got, want)
	}
}

// TestEarnRecordRoundTrips checks that a result's record decodes into the
// result a replay answers and encodes again to the same bytes: a replay
// answers byte for byte what was stored.
func TestEarnRecordRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		var res EarnResult
		fill(r, reflect.ValueOf(&res).Elem())
		if r.IntN(2) == 0 {
			res.Summary = nil // a fresh result: the record summarises its explanation
		} else {
			res.Explanation = nil // a replayed one
		}
		stored, err := res.AppendJSON(nil)
		if err != nil || bytes.Contains(stored, []byte(`\ufffd`)) {
			// A time outside RFC 3339 is refused like encoding/json does;
			// invalid UTF-8 (encoded as U+FFFD) is refused by every write.
			continue
		}
		var replay EarnResult
		if err := json.Unmarshal(stored, &replay); err != nil {
			t.Fatalf("sample %d: decode %s: %v", i, stored, err)
		}
		if replay.Explanation != nil || (replay.Summary == nil) != (res.Explanation == nil && res.Summary == nil) {
			t.Fatalf("sample %d: replay has explanation %v, summary %v", i, replay.Explanation, replay.Summary)
		}
		again, err := replay.AppendJSON(nil)
		if err != nil || !bytes.Equal(again, stored) {
			t.Fatalf("sample %d: replay encodes (%v)\n%s\nnot what was stored\n%s", i, err, again, stored)
		}
	}
}

// TestSummaryKeepsAppliedNumbers checks what the compact explanation keeps
// of each campaign: the numbers of one that applied, the name and reason
// of one that did not.
func TestSummaryKeepsAppliedNumbers(t *testing.T) {
	mult, err := config.ParseDecimal("1.5")
	if err != nil {
		t.Fatal(err)
	}
	ex := rules.Explanation{Kind: rules.EventPurchase, Points: 16, PointsWithoutCampaigns: 10, CampaignBonus: 7, CampaignPointsGranted: 6,
		Campaigns: []rules.CampaignExplanation{
			{Name: "a", Stacking: "Stack", Priority: 3, Applied: true, Multiplier: &mult, Attributed: 5, Granted: 5, Message: "m",
				Window: &rules.WindowExplanation{Relation: "current"}},
			{Name: "b", Applied: true, Bonus: 2, Attributed: 2, Granted: 1, Cap: &rules.CapHit{Campaign: "b", Cap: rules.CapPerMember, Remaining: 1}},
			{Name: "c", Stacking: "Exclusive", Reason: rules.ReasonOutsideWindow, Message: "outside", Window: &rules.WindowExplanation{Relation: "next"}},
		}}
	got, err := ex.Summary().AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"purchase","base":{"points":0},"pointsWithoutCampaigns":10,"campaignBonus":7,"campaignPointsGranted":6,"points":16,` +
		`"campaigns":[{"name":"a","applied":true,"multiplier":"1.5","attributed":5,"granted":5},` +
		`{"name":"b","applied":true,"bonus":2,"attributed":2,"granted":1,"cappedBy":"perMemberCap"},{"name":"c","reason":"outsideWindow"}]}`
	if string(got) != want {
		t.Fatalf("summary\n%s\nwant\n%s", got, want)
	}
}

func TestEarnJSONRefusesTimesOutsideRFC3339(t *testing.T) {
	res := EarnResult{Referral: &ReferralConversion{AvailableAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if _, err := json.Marshal(res); err == nil {
		t.Fatal("encoding/json accepted year 10000")
	}
	if _, err := res.AppendJSON(nil); err == nil {
		t.Fatal("AppendJSON accepted year 10000")
	}
	if _, err := res.AppendFullJSON(nil); err == nil {
		t.Fatal("AppendFullJSON accepted year 10000")
	}
}

var sampleStrings = []string{
	"", "a", "member-000001", "<b>&amp;</b>", `quote " and \ backslash`, "\n\t\r\b\f\x00\x01\x1f\x7f",
	"\u2028 and \u2029", "é 漢字 🎉", "\xff\xfe invalid", "cut \xc3", "\xed\xa0\x80 surrogate",
}

var zones = []*time.Location{time.UTC, time.FixedZone("", 5*3600+30*60), time.FixedZone("X", -(9*3600 + 59))}

// fill sets v to random values, recursing into structs, pointers and
// slices; pointers and slices are sometimes nil, slices sometimes empty.
func fill(r *rand.Rand, v reflect.Value) {
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		sec := r.Int64N(4_000_000_000) - 1_000_000_000
		v.Set(reflect.ValueOf(time.Unix(sec, r.Int64N(3)*r.Int64N(1_000_000_000)).In(zones[r.IntN(len(zones))])))
		return
	case reflect.TypeFor[config.Decimal]():
		d, err := config.ParseDecimal([]string{"0", "1", "1.25", "2.5", "0.0001", "123456.7891", "10"}[r.IntN(7)])
		if err != nil {
			panic(err)
		}
		v.Set(reflect.ValueOf(d))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() && f.Tag.Get("json") != "-" {
				fill(r, v.Field(i))
			}
		}
	case reflect.Pointer:
		if r.IntN(4) == 0 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(r, v.Elem())
	case reflect.Slice:
		switch r.IntN(5) {
		case 0:
			return
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		n := 1 + r.IntN(3)
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			fill(r, v.Index(i))
		}
	case reflect.String:
		v.SetString(sampleStrings[r.IntN(len(sampleStrings))])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if r.IntN(3) == 0 {
			return // zero, for omitempty
		}
		bits := v.Type().Bits()
		v.SetInt(r.Int64N(1<<(bits-2)) - 1<<(bits-3))
	default:
		panic("fill: unhandled kind " + v.Kind().String() + " of " + v.Type().String())
	}
}
