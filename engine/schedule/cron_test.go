package schedule

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustCron(t testing.TB, expr string) Cron {
	t.Helper()
	c, err := ParseCron(expr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNext(t *testing.T) {
	tests := []struct {
		name, zone, cron, after string
		want                    string // "" for no match
	}{
		// New York springs forward 02:00 EST -> 03:00 EDT on 2026-03-08.
		{"NY gap skipped", "America/New_York", "30 2 * * *", "2026-03-07T12:00:00-05:00", "2026-03-09T02:30:00-04:00"},
		{"NY whole gap hour skipped", "America/New_York", "*/15 2 * * *", "2026-03-08T01:00:00-05:00", "2026-03-09T02:00:00-04:00"},
		{"NY first minute after gap", "America/New_York", "0 3 * * *", "2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00"},
		{"NY 09:00 before spring", "America/New_York", "0 9 * * *", "2026-03-06T09:00:00-05:00", "2026-03-07T14:00:00Z"},
		{"NY 09:00 after spring", "America/New_York", "0 9 * * *", "2026-03-07T09:00:00-05:00", "2026-03-08T13:00:00Z"},
		// New York falls back 02:00 EDT -> 01:00 EST on 2026-11-01, repeating 01:00-02:00.
		{"NY repeated fires first", "America/New_York", "30 1 * * *", "2026-10-31T12:00:00-04:00", "2026-11-01T05:30:00Z"},
		{"NY repeated fires once", "America/New_York", "30 1 * * *", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
		{"NY after in second pass", "America/New_York", "30 1 * * *", "2026-11-01T06:00:00Z", "2026-11-02T06:30:00Z"},
		{"NY every minute of repeated hour", "America/New_York", "* 1 * * *", "2026-11-01T05:45:00Z", "2026-11-01T05:46:00Z"},
		{"NY repeated hour not again", "America/New_York", "* 1 * * *", "2026-11-01T05:59:00Z", "2026-11-02T06:00:00Z"},
		{"NY 02:00 after fall-back", "America/New_York", "0 2 * * *", "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z"},
		{"NY 09:00 after fall", "America/New_York", "0 9 * * *", "2026-10-31T09:00:00-04:00", "2026-11-01T14:00:00Z"},
		// Berlin springs forward 02:00 CET -> 03:00 CEST on 2026-03-29.
		{"Berlin gap skipped", "Europe/Berlin", "30 2 * * *", "2026-03-28T12:00:00Z", "2026-03-30T00:30:00Z"},
		{"Berlin 09:00 after spring", "Europe/Berlin", "0 9 * * *", "2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z"},
		// Berlin falls back 03:00 CEST -> 02:00 CET on 2026-10-25, repeating 02:00-03:00.
		{"Berlin repeated fires first", "Europe/Berlin", "30 2 * * *", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
		{"Berlin repeated fires once", "Europe/Berlin", "30 2 * * *", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		{"Berlin after in second pass", "Europe/Berlin", "30 2 * * *", "2026-10-25T01:00:00Z", "2026-10-26T01:30:00Z"},
		{"Berlin 09:00 after fall", "Europe/Berlin", "0 9 * * *", "2026-10-24T07:00:00Z", "2026-10-25T08:00:00Z"},
		// Lord Howe moves by 30 minutes: 02:00 -> 02:30 on 2026-10-04.
		{"Lord Howe half-hour gap", "Australia/Lord_Howe", "15 2 * * *", "2026-10-03T12:00:00+10:30", "2026-10-05T02:15:00+11:00"},
		// Strictly after, to the nanosecond.
		{"at match is excluded", "UTC", "0 9 * * *", "2026-01-01T09:00:00Z", "2026-01-02T09:00:00Z"},
		{"just before match", "UTC", "0 9 * * *", "2026-01-01T08:59:59.999999999Z", "2026-01-01T09:00:00Z"},
		{"just after match", "UTC", "0 9 * * *", "2026-01-01T09:00:00.000000001Z", "2026-01-02T09:00:00Z"},
		// Day of month and day of week: either when both are restricted.
		{"Friday the 2nd via weekday", "UTC", "0 0 13 * FRI", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
		{"13th via day of month", "UTC", "0 0 13 * FRI", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z"},
		{"weekday alone", "UTC", "0 0 * * FRI", "2026-01-09T00:00:00Z", "2026-01-16T00:00:00Z"},
		{"full day-of-month range is unrestricted", "UTC", "0 0 1-31 * FRI", "2026-01-09T00:00:00Z", "2026-01-16T00:00:00Z"},
		{"day of month alone", "UTC", "0 0 13 * *", "2026-01-01T00:00:00Z", "2026-01-13T00:00:00Z"},
		{"sunday as 7", "UTC", "0 0 * * 7", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"},
		{"month skip", "UTC", "0 12 1 JUN *", "2026-06-01T12:00:00Z", "2027-06-01T12:00:00Z"},
		{"yearly", "Europe/Berlin", "@yearly", "2026-06-01T00:00:00Z", "2026-12-31T23:00:00Z"},
		{"leap day across 2100", "UTC", "0 0 29 2 *", "2097-01-01T00:00:00Z", "2104-02-29T00:00:00Z"},
		// Impossible expressions end the bounded search.
		{"30 February", "UTC", "0 0 30 2 *", "2026-01-01T00:00:00Z", ""},
		{"31 April etc.", "Europe/Berlin", "0 0 31 4,6,9,11 *", "2026-01-01T00:00:00Z", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Next(mustCron(t, tt.cron), mustTime(t, tt.after), mustLoc(t, tt.zone))
			if tt.want == "" {
				if !got.IsZero() {
					t.Fatalf("Next = %s, want the zero time", got)
				}
				return
			}
			want := mustTime(t, tt.want)
			if !got.Equal(want) {
				t.Fatalf("Next = %s (%s), want %s", got, got.UTC(), want.UTC())
			}
			if got.Location().String() != tt.zone {
				t.Errorf("Next returned a time in %s, want %s", got.Location(), tt.zone)
			}
		})
	}
}

// refNext is an independent, slow Next: it steps through instants minute by
// minute and keeps the first whose wall clock matches and which is the first
// instant showing that wall clock.
func refNext(c Cron, after time.Time, loc *time.Location, limit time.Duration) (time.Time, bool) {
	for u := after.Truncate(time.Minute); u.Sub(after) <= limit; u = u.Add(time.Minute) {
		if !u.After(after) {
			continue
		}
		l := u.In(loc)
		domRestricted := c.DayOfMonth&allDaysOfMonth != allDaysOfMonth
		dowRestricted := c.DayOfWeek&allDaysOfWeek != allDaysOfWeek
		dom := c.DayOfMonth&(1<<l.Day()) != 0
		dow := c.DayOfWeek&(1<<int(l.Weekday())) != 0
		day := dom && dow
		if domRestricted && dowRestricted {
			day = dom || dow
		}
		if c.Minute&(1<<l.Minute()) == 0 || c.Hour&(1<<l.Hour()) == 0 || c.Month&(1<<int(l.Month())) == 0 || !day {
			continue
		}
		repeat := false
		for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
			p := u.Add(-back).In(loc)
			if p.Year() == l.Year() && p.YearDay() == l.YearDay() && p.Hour() == l.Hour() && p.Minute() == l.Minute() {
				repeat = true
			}
		}
		if !repeat {
			return u, true
		}
	}
	return time.Time{}, false
}

// TestNextMatchesReference compares Next with refNext on random expressions
// and instants around daylight saving changes.
func TestNextMatchesReference(t *testing.T) {
	anchors := []struct{ zone, at string }{
		{"America/New_York", "2026-03-08T07:00:00Z"},
		{"America/New_York", "2026-11-01T06:00:00Z"},
		{"Europe/Berlin", "2026-03-29T01:00:00Z"},
		{"Europe/Berlin", "2026-10-25T01:00:00Z"},
		{"Australia/Lord_Howe", "2026-04-04T15:00:00Z"},
		{"Australia/Lord_Howe", "2026-10-03T15:30:00Z"},
		{"Asia/Kolkata", "2026-06-01T00:00:00Z"},
		{"UTC", "2028-02-28T12:00:00Z"},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(opts ...string) string { return opts[rng.IntN(len(opts))] }
	const limit = 8 * 24 * time.Hour
	compared := 0
	for i := range 200 {
		a := anchors[i%len(anchors)]
		loc := mustLoc(t, a.zone)
		after := mustTime(t, a.at).Add(time.Duration(rng.Int64N(int64(72*time.Hour))) - 36*time.Hour)
		// Match within limit: day of month is restricted only with a weekday.
		dom, dow := "*", pick("*", "*", "MON-FRI", "SAT", "0", "2,4")
		if dow != "*" && rng.IntN(2) == 0 {
			dom = pick("1", "13", "28-31")
		}
		expr := fmt.Sprintf("%s %s %s * %s",
			pick("*", "0", "30", "*/15", "5,59", fmt.Sprint(rng.IntN(60))),
			pick("*", "1", "2", "1-3", "2,9", "*/6", fmt.Sprint(rng.IntN(24))),
			dom, dow)
		c := mustCron(t, expr)
		got := Next(c, after, loc)
		want, ok := refNext(c, after, loc, limit)
		if !ok {
			if !got.IsZero() && got.Sub(after) <= limit {
				t.Errorf("Next(%q, %s, %s) = %s, reference finds no match within %s", expr, after, loc, got, limit)
			}
			continue
		}
		compared++
		if !got.Equal(want) {
			t.Errorf("Next(%q, %s, %s) = %s, want %s", expr, after.In(loc), loc, got, want.In(loc))
		}
	}
	if compared < 150 {
		t.Errorf("only %d of 200 cases had a reference match to compare", compared)
	}
}

func BenchmarkNextWeekly(b *testing.B) {
	c := mustCron(b, "0 17 * * FRI")
	loc := mustLoc(b, "Europe/Berlin")
	after := mustTime(b, "2026-01-01T00:00:00Z")
	b.ReportAllocs()
	for b.Loop() {
		after = Next(c, after, loc)
		if after.Year() > 2030 {
			after = mustTime(b, "2026-01-01T00:00:00Z")
		}
	}
}

// BenchmarkNextWeeklyYear walks a year of a weekly schedule, the cost the
// brief bounds at a few milliseconds.
func BenchmarkNextWeeklyYear(b *testing.B) {
	c := mustCron(b, "0 17 * * FRI")
	loc := mustLoc(b, "Europe/Berlin")
	start, end := mustTime(b, "2026-01-01T00:00:00Z"), mustTime(b, "2027-01-01T00:00:00Z")
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for o := Next(c, start, loc); o.Before(end); o = Next(c, o, loc) {
			n++
		}
		if n != 52 {
			b.Fatalf("%d occurrences", n)
		}
	}
}

func BenchmarkNextImpossible(b *testing.B) {
	c := mustCron(b, "0 0 30 2 *")
	after := mustTime(b, "2026-01-01T00:00:00Z")
	for b.Loop() {
		if !Next(c, after, time.UTC).IsZero() {
			b.Fatal("matched")
		}
	}
}
