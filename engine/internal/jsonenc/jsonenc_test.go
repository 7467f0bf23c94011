package jsonenc

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestStringMatchesEncodingJSON(t *testing.T) {
	var samples []string
	for b := range 256 {
		samples = append(samples, string([]byte{byte(b)}), "x"+string([]byte{byte(b)})+"y")
	}
	for r := rune(0); r < 0x3000; r++ {
		samples = append(samples, string(r))
	}
	samples = append(samples, "\U0001F389", "\xed\xa0\x80", "\xf4\x90\x80\x80", "abc\xc3", "<&>")
	for _, s := range samples {
		want, _ := json.Marshal(s)
		if got := String(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("String(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestTimeMatchesEncodingJSON(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 3, 8, 2, 30, 0, 0, time.UTC),
		time.Date(2026, 3, 8, 2, 30, 0, 120, time.FixedZone("", -5*3600)),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", 23*3600+59*60)),
	} {
		want, err := json.Marshal(tm)
		got, gerr := Time(nil, tm)
		if err != nil || gerr != nil || !bytes.Equal(got, want) {
			t.Fatalf("Time(%v) = %s (%v), want %s (%v)", tm, got, gerr, want, err)
		}
	}
	for _, tm := range []time.Time{
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)),
	} {
		if _, err := json.Marshal(tm); err == nil {
			t.Fatalf("encoding/json accepted %v", tm)
		}
		if _, err := Time(nil, tm); err == nil {
			t.Fatalf("Time accepted %v", tm)
		}
	}
}
