package ledger

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// TestEarnJSONMatchesEncodingJSON fills every field of earn results,
// explanations included, with random values (strings that need escaping,
// invalid UTF-8, times in odd zones, nil and empty slices) and checks that
// the hand-written encoders return exactly what encoding/json does. A field
// added to one of these types without its encoder fails here.
func TestEarnJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var batch EarnBatchResult
		fill(r, reflect.ValueOf(&batch).Elem())
		want, err := json.Marshal(batch)
		if err != nil {
			t.Fatalf("sample %d: encoding/json: %v", i, err)
		}
		got, err := batch.AppendJSON(nil)
		if err != nil {
			t.Fatalf("sample %d: AppendJSON: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("sample %d differs:\n got %s\nwant %s", i, got, want)
		}
		for _, it := range batch.Items {
			if it.Result == nil {
				continue
			}
			want, _ := json.Marshal(*it.Result)
			got, err := it.Result.AppendJSON(nil)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("sample %d: result differs (%v):\n got %s\nwant %s", i, err, got, want)
			}
		}
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
