package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in    string
		units int64
		canon string
		err   string
	}{
		{in: "0", units: 0, canon: "0"},
		{in: "1", units: 10000, canon: "1"},
		{in: "2.5", units: 25000, canon: "2.5"},
		{in: "2.50", units: 25000, canon: "2.5"},
		{in: "0.0001", units: 1, canon: "0.0001"},
		{in: "1.05", units: 10500, canon: "1.05"},
		{in: "10.1000", units: 101000, canon: "10.1"},
		{in: "0.0500", units: 500, canon: "0.05"},
		{in: "3.0010", units: 30010, canon: "3.001"},
		{in: "999999999.9999", units: 9999999999999, canon: "999999999.9999"},
		{in: "-1", err: `invalid decimal "-1": must not be negative`},
		{in: "1.23456", err: `invalid decimal "1.23456": want up to 9 digits and at most 4 decimal places, such as "2.5"`},
		{in: "01", err: `invalid decimal "01": want up to 9 digits and at most 4 decimal places, such as "2.5"`},
		{in: "1.", err: `invalid decimal "1.": want up to 9 digits and at most 4 decimal places, such as "2.5"`},
		{in: "1e3", err: `invalid decimal "1e3": want up to 9 digits and at most 4 decimal places, such as "2.5"`},
		{in: "", err: `invalid decimal "": want up to 9 digits and at most 4 decimal places, such as "2.5"`},
		{in: "1000000000", err: `invalid decimal "1000000000": want up to 9 digits and at most 4 decimal places, such as "2.5"`},
	}
	for _, tt := range tests {
		d, err := ParseDecimal(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseDecimal(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDecimal(%q): %v", tt.in, err)
			continue
		}
		if d.Units() != tt.units || d.String() != tt.canon {
			t.Errorf("ParseDecimal(%q) = %d units %q, want %d %q", tt.in, d.Units(), d.String(), tt.units, tt.canon)
		}
	}
}

// TestDecimalStringRoundTrip formats every fraction and checks that it
// parses back to the same value, with no trailing zero.
func TestDecimalStringRoundTrip(t *testing.T) {
	for _, whole := range []int64{0, 7, 999999999} {
		for f := range int64(DecimalScale) {
			d := DecimalFromUnits(whole*DecimalScale + f)
			s := d.String()
			back, err := ParseDecimal(s)
			if err != nil || back.Units() != d.Units() || strings.HasSuffix(s, "0") && f != 0 || strings.HasSuffix(s, ".") {
				t.Fatalf("%d units format as %q, which parses to %d (%v)", d.Units(), s, back.Units(), err)
			}
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in    string
		d     time.Duration
		canon string
		err   string
	}{
		{in: "0s", d: 0, canon: "0s"},
		{in: "30d", d: 30 * 24 * time.Hour, canon: "30d"},
		{in: "36h", d: 36 * time.Hour, canon: "1d12h"},
		{in: "1d12h", d: 36 * time.Hour, canon: "1d12h"},
		{in: "90m", d: 90 * time.Minute, canon: "1h30m"},
		{in: "1d2h3m4s", d: 26*time.Hour + 3*time.Minute + 4*time.Second, canon: "1d2h3m4s"},
		{in: "3600s", d: time.Hour, canon: "1h"},
		{in: "99999d", d: 99999 * 24 * time.Hour, canon: "99999d"},
		{in: "", err: `invalid duration "": want days, hours, minutes and seconds in that order, such as "30d", "1d12h", "90m" or "0s"`},
		{in: "12h1d", err: `invalid duration "12h1d": want days, hours, minutes and seconds in that order, such as "30d", "1d12h", "90m" or "0s"`},
		{in: "1w", err: `invalid duration "1w": want days, hours, minutes and seconds in that order, such as "30d", "1d12h", "90m" or "0s"`},
		{in: "-1h", err: `invalid duration "-1h": want days, hours, minutes and seconds in that order, such as "30d", "1d12h", "90m" or "0s"`},
		{in: "1.5h", err: `invalid duration "1.5h": want days, hours, minutes and seconds in that order, such as "30d", "1d12h", "90m" or "0s"`},
		{in: "99999d999999h", err: `invalid duration "99999d999999h": longer than 106751 days`},
	}
	for _, tt := range tests {
		d, err := ParseDuration(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseDuration(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", tt.in, err)
			continue
		}
		if d.D() != tt.d || d.String() != tt.canon {
			t.Errorf("ParseDuration(%q) = %v %q, want %v %q", tt.in, d.D(), d.String(), tt.d, tt.canon)
		}
		if back, err := ParseDuration(d.String()); err != nil || back.D() != d.D() {
			t.Errorf("canonical %q does not parse back to %v: %v", d.String(), d.D(), err)
		}
	}
}

func TestTimeNormalisedToUTC(t *testing.T) {
	var a, b Time
	if err := json.Unmarshal([]byte(`"2027-01-01T01:00:00+01:00"`), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`"2027-01-01T00:00:00Z"`), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != `"2027-01-01T00:00:00Z"` || string(ja) != string(jb) {
		t.Errorf("marshalled %s and %s, want both \"2027-01-01T00:00:00Z\"", ja, jb)
	}
}
