package schedule

import (
	"testing"
	"time"
)

// Bounds of the fuzzed instants: starts within about 270 years of 1970, ends
// within five years of the start, evaluation from a month before the start to
// three years after it.
const (
	fuzzStartRange = int64(1) << 33
	fuzzEndRange   = 5 * 366 * 24 * 3600
	fuzzAtBefore   = 31 * 24 * 3600
	fuzzAtRange    = 3 * 366 * 24 * 3600
	fuzzMaxWindow  = 40 * 24 * 3600
	// The brute-force reference walks minutes, so it only checks windows and
	// gaps up to two days, which keeps each input at a few milliseconds.
	fuzzRefLimit = 2 * 24 * time.Hour
)

// mod maps any int64 into [0, n).
func mod(v, n int64) int64 {
	if v %= n; v < 0 {
		v += n
	}
	return v
}

// FuzzSchedule evaluates arbitrary recurrences (cron, zone, duration) and
// single windows at arbitrary instants. Whatever is accepted must keep the
// contract of WindowAt and NextTransition: a window reported for t contains
// t, lies in [start, end) and is no longer than the duration; the next
// transition is strictly after t and WindowAt changes there; and for short
// windows both agree with a minute-by-minute walk of the wall clock.
//
// start and at are Unix seconds folded into the bounds above; end <= 0 means
// no end, else the end is start plus end folded into five years;
// durationSec <= 0 with cron "" means a single window.
func FuzzSchedule(f *testing.F) {
	for _, s := range []struct {
		cron, zone              string
		start, end, dur, offset int64
	}{
		// Weekday happy hour in Berlin across the spring-forward night.
		{"0 17 * * MON-FRI", "Europe/Berlin", unix(f, "2026-03-01T00:00:00Z"), 0, 7200, unix(f, "2026-03-30T15:30:00Z")},
		// 02:30 does not exist on 2026-03-08 in New York; 01:30 repeats on 2026-11-01.
		{"30 2 * * *", "America/New_York", unix(f, "2026-03-01T00:00:00Z"), 0, 3600, unix(f, "2026-03-08T07:10:00Z")},
		{"30 1 * * *", "America/New_York", unix(f, "2026-10-01T00:00:00Z"), 0, 7200, unix(f, "2026-11-01T06:45:00Z")},
		{"30 1 * * *", "America/New_York", unix(f, "2026-10-01T00:00:00Z"), 0, 7200, unix(f, "2026-11-01T05:29:59Z")},
		// Berlin's repeated hour 02:00-03:00 on 2026-10-25.
		{"15 2 * * SUN", "Europe/Berlin", unix(f, "2026-10-01T00:00:00Z"), 0, 1800, unix(f, "2026-10-25T01:20:00Z")},
		{"0 * * * *", "Europe/Berlin", unix(f, "2026-10-24T00:00:00Z"), 86400, 600, unix(f, "2026-10-25T00:59:59Z")},
		// A window reaching over start, and one cut by end.
		{"0 12 * * *", "UTC", unix(f, "2026-06-01T12:30:00Z"), 3 * 86400, 3600, unix(f, "2026-06-01T12:45:00Z")},
		{"0 23 * * *", "Asia/Kolkata", unix(f, "2026-06-01T00:00:00Z"), 86400 + 3600, 7200, unix(f, "2026-06-01T18:10:00Z")},
		// Leap day only, a half-hour zone shift, every minute, a descriptor.
		{"0 0 29 2 *", "UTC", unix(f, "2027-01-01T00:00:00Z"), 0, 86400, unix(f, "2028-02-29T10:00:00Z")},
		{"0 2 * * *", "Australia/Lord_Howe", unix(f, "2026-10-01T00:00:00Z"), 0, 5400, unix(f, "2026-10-03T15:40:00Z")},
		{"* * * * *", "UTC", unix(f, "2026-01-01T00:00:00Z"), 3600, 30, unix(f, "2026-01-01T00:10:45Z")},
		{"@weekly", "", unix(f, "2026-01-01T00:00:00Z"), 0, 86400, unix(f, "2026-01-04T00:00:00Z")},
		// Never matches: February 30th.
		{"0 0 30 2 *", "UTC", unix(f, "2026-01-01T00:00:00Z"), 0, 60, unix(f, "2026-02-01T00:00:00Z")},
		// Single windows, and inputs New must refuse.
		{"", "Europe/Berlin", unix(f, "2026-12-01T00:00:00Z"), 24 * 86400, 0, unix(f, "2026-12-24T23:59:59Z")},
		{"", "UTC", unix(f, "2026-12-01T00:00:00Z"), 0, 0, unix(f, "2026-12-01T00:00:00Z")},
		{"0 17 * * MON-FRI", "Local", unix(f, "2026-01-01T00:00:00Z"), 0, 3600, 0},
		{"0 17 * * MON-FRI", "Mars/Olympus", unix(f, "2026-01-01T00:00:00Z"), 0, 3600, 0},
		{"61 17 * * *", "UTC", 0, 0, 3600, 0},
		{"0 17 * * *", "UTC", 0, 0, 0, 0},
	} {
		f.Add(s.cron, s.zone, s.start, s.end, s.dur, s.offset)
	}
	f.Fuzz(func(t *testing.T, cron, zone string, start, end, durationSec, at int64) {
		startT := time.Unix(mod(start, fuzzStartRange), 0).UTC()
		var endT *time.Time
		if end > 0 {
			e := startT.Add(time.Duration(1+mod(end-1, fuzzEndRange)) * time.Second)
			endT = &e
		}
		var rec *Recurrence
		if cron != "" || durationSec > 0 {
			rec = &Recurrence{Cron: cron, Duration: time.Duration(mod(durationSec, fuzzMaxWindow)) * time.Second}
		}
		s, err := New(startT, endT, rec, zone)
		if err != nil {
			return
		}
		atT := startT.Add(time.Duration(mod(at-startT.Unix()+fuzzAtBefore, fuzzAtRange)-fuzzAtBefore) * time.Second)
		checkSchedule(t, s, atT)
	})
}

func unix(f *testing.F, s string) int64 { return mustTime(f, s).Unix() }

func checkSchedule(t *testing.T, s *Schedule, at time.Time) {
	w, in := s.WindowAt(at)
	if in {
		if !w.Contains(at) {
			t.Fatalf("WindowAt(%s) = [%s, %s), which does not contain it", at, w.Start, w.End)
		}
		if w.Start.Before(s.start) || s.hasEnd && w.End.After(s.end) {
			t.Fatalf("WindowAt(%s) = [%s, %s) reaches outside [%s, %s)", at, w.Start, w.End, s.start, s.end)
		}
		if s.cronText != "" && w.End.Sub(w.Start) > s.duration {
			t.Fatalf("WindowAt(%s) = [%s, %s), longer than the duration %s", at, w.Start, w.End, s.duration)
		}
		if w.Start.Location() != s.loc || w.End.Location() != s.loc {
			t.Fatalf("WindowAt(%s) not in the schedule's zone %s", at, s.loc)
		}
	}
	if s.cronText != "" && s.duration <= fuzzRefLimit && !at.Before(s.start) && (!s.hasEnd || at.Before(s.end)) {
		// The reference: the first occurrence after at-duration opens the
		// earliest window still containing at.
		o, ok := refNext(s.cron, at.Add(-s.duration), s.loc, s.duration)
		wantIn := ok && !o.After(at)
		if in != wantIn {
			t.Fatalf("WindowAt(%s) in a window: %v; a walk of the wall clock finds occurrence %s (found %v) for %s in %s",
				at, in, o, ok, s.cronText, s.loc)
		}
		if in && !w.Start.Equal(later(o, s.start)) {
			t.Fatalf("WindowAt(%s) starts at %s, the walk finds the occurrence %s", at, w.Start, o)
		}
	}

	n, ok := s.NextTransition(at)
	if !ok {
		if s.cronText == "" && at.Before(s.end) {
			t.Fatalf("NextTransition(%s) found none before the single window's end %s", at, s.end)
		}
		return
	}
	if !n.After(at) {
		t.Fatalf("NextTransition(%s) = %s, not strictly after", at, n)
	}
	if s.hasEnd && n.After(s.end) {
		t.Fatalf("NextTransition(%s) = %s, after the end %s", at, n, s.end)
	}
	w2, in2 := s.WindowAt(n)
	switch {
	case in && in2 && w2 == w:
		t.Fatalf("NextTransition(%s) = %s, but WindowAt is [%s, %s) at both", at, n, w.Start, w.End)
	case !in && (!in2 || !w2.Start.Equal(n)):
		t.Fatalf("NextTransition(%s) = %s outside any window, but no window opens there (got [%s, %s), %v)", at, n, w2.Start, w2.End, in2)
	}
	// Nothing changes in between: the last whole second before n sees what at sees.
	if before := n.Add(-time.Second); before.After(at) {
		w3, in3 := s.WindowAt(before)
		if in3 != in || in && w3 != w {
			t.Fatalf("WindowAt changed between %s and the next transition %s: at %s got [%s, %s) %v, at %s [%s, %s) %v",
				at, n, at, w.Start, w.End, in, before, w3.Start, w3.End, in3)
		}
	}
	if !in && s.cronText != "" && !at.Before(s.start) {
		if o, found := refNext(s.cron, at, s.loc, fuzzRefLimit); found && !o.Equal(n) && (!s.hasEnd || o.Before(s.end)) {
			t.Fatalf("NextTransition(%s) = %s outside a window; a walk of the wall clock finds the occurrence %s", at, n, o)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
