package config

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DecimalScale is the number of Decimal units in one whole: decimals carry at
// most four decimal places, so 1/10000 units keep them exact.
const DecimalScale = 10000

// Decimal is an exact non-negative decimal such as "2.5", held as an integer
// count of 1/10000 units. It is written in JSON as a string, like the CRDs'
// Decimal and Multiplier fields, so that floating point never touches money
// or points.
//
// Unmarshalling never fails: a malformed value is kept with its error and
// reported by Parse together with the field path, which encoding/json cannot
// name for custom types.
type Decimal struct {
	units int64
	set   bool
	err   error
}

var decimalPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,8})(\.[0-9]{1,4})?$`)

// ParseDecimal parses a decimal string such as "1", "2.5" or "0.0125".
func ParseDecimal(s string) (Decimal, error) {
	if strings.HasPrefix(s, "-") {
		return Decimal{}, fmt.Errorf("invalid decimal %q: must not be negative", s)
	}
	if !decimalPattern.MatchString(s) {
		return Decimal{}, fmt.Errorf("invalid decimal %q: want up to 9 digits and at most 4 decimal places, such as \"2.5\"", s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return Decimal{}, fmt.Errorf("invalid decimal %q: %w", s, err)
	}
	frac += strings.Repeat("0", 4-len(frac))
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return Decimal{}, fmt.Errorf("invalid decimal %q: %w", s, err)
	}
	return Decimal{units: w*DecimalScale + f, set: true}, nil
}

// MustDecimal is ParseDecimal for constants; it panics on a malformed value.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// DecimalFromUnits returns the decimal of units/10000. Units must not be negative.
func DecimalFromUnits(units int64) Decimal { return Decimal{units: units, set: true} }

// Units is the value in 1/10000 units: "2.5" is 25000.
func (d Decimal) Units() int64 { return d.units }

// String formats the decimal canonically: no trailing zeros, no trailing point.
func (d Decimal) String() string {
	// Formatted by hand: prices and explanations format several decimals
	// per event.
	b := strconv.AppendInt(make([]byte, 0, 24), d.units/DecimalScale, 10)
	if f := d.units % DecimalScale; f != 0 {
		b = append(b, '.', byte('0'+f/1000), byte('0'+f/100%10), byte('0'+f/10%10), byte('0'+f%10))
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return string(b)
}

// MarshalJSON writes the canonical string form.
func (d Decimal) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON keeps a malformed value's error for validation to report.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		*d = Decimal{set: true, err: fmt.Errorf("want a decimal string such as \"2.5\", got %s", b)}
		return nil
	}
	v, err := ParseDecimal(s)
	if err != nil {
		*d = Decimal{set: true, err: err}
		return nil
	}
	*d = v
	return nil
}

// Duration is a non-negative length of time written as in the CRDs: days,
// hours, minutes and seconds in that order, such as "30d", "36h", "1d12h",
// "90m" or "0s". Days are exactly 24 hours. It marshals canonically (largest
// units first, "0s" for zero), so "36h" and "1d12h" hash the same.
type Duration struct {
	d   time.Duration
	set bool
	err error
}

var durationPattern = regexp.MustCompile(`^(?:([0-9]{1,5})d)?(?:([0-9]{1,6})h)?(?:([0-9]{1,7})m)?(?:([0-9]{1,8})s)?$`)

// ParseDuration parses a CRD duration such as "1d12h".
func ParseDuration(s string) (Duration, error) {
	m := durationPattern.FindStringSubmatch(s)
	if s == "" || m == nil {
		return Duration{}, fmt.Errorf("invalid duration %q: want days, hours, minutes and seconds in that order, such as \"30d\", \"1d12h\", \"90m\" or \"0s\"", s)
	}
	var secs int64
	for i, unit := range []int64{86400, 3600, 60, 1} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil {
			return Duration{}, fmt.Errorf("invalid duration %q: %w", s, err)
		}
		secs += n * unit
	}
	if secs > math.MaxInt64/int64(time.Second) {
		return Duration{}, fmt.Errorf("invalid duration %q: longer than %d days", s, math.MaxInt64/int64(time.Second)/86400)
	}
	return Duration{d: time.Duration(secs) * time.Second, set: true}, nil
}

// MustDuration is ParseDuration for constants; it panics on a malformed value.
func MustDuration(s string) Duration {
	d, err := ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// DurationOf returns d truncated to whole seconds; d must not be negative.
func DurationOf(d time.Duration) Duration {
	return Duration{d: d.Truncate(time.Second), set: true}
}

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return d.d }

// String formats the duration canonically, such as "1d12h" or "0s".
func (d Duration) String() string {
	secs := int64(d.d / time.Second)
	if secs == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		unit string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if q := secs / u.n; q > 0 {
			fmt.Fprintf(&b, "%d%s", q, u.unit)
			secs -= q * u.n
		}
	}
	return b.String()
}

// MarshalJSON writes the canonical string form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON keeps a malformed value's error for validation to report.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		*d = Duration{set: true, err: fmt.Errorf("want a duration string such as \"30d\", got %s", b)}
		return nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		*d = Duration{set: true, err: err}
		return nil
	}
	*d = v
	return nil
}

// Time is an instant written in RFC 3339, such as "2026-12-05T00:00:00Z". It is
// normalised to UTC so that equal instants hash the same.
type Time struct {
	t   time.Time
	set bool
	err error
}

// TimeOf returns t as a snapshot time, in UTC and truncated to seconds like
// Kubernetes' metav1.Time.
func TimeOf(t time.Time) Time { return Time{t: t.UTC().Truncate(time.Second), set: true} }

// MustTime parses an RFC 3339 time for constants; it panics on a malformed value.
func MustTime(s string) Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return TimeOf(t)
}

// T is the instant as a time.Time in UTC.
func (t Time) T() time.Time { return t.t }

// MarshalJSON writes RFC 3339 in UTC.
func (t Time) MarshalJSON() ([]byte, error) { return json.Marshal(t.t.Format(time.RFC3339)) }

// UnmarshalJSON keeps a malformed value's error for validation to report.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		*t = Time{set: true, err: fmt.Errorf("want an RFC 3339 time string, got %s", b)}
		return nil
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		*t = Time{set: true, err: fmt.Errorf("invalid time %q: want RFC 3339 such as \"2026-12-05T00:00:00Z\"", s)}
		return nil
	}
	*t = TimeOf(v)
	return nil
}
