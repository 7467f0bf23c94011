package schedule

import (
	"math"
	"math/bits"
	"time"
)

// SearchYears bounds the search for the next cron match. Ten years covers the
// longest gap a satisfiable expression can have: "0 0 29 2 *" skips 2100 and
// waits eight years between 2096 and 2104.
const SearchYears = 10

// Bit sets of every day of the month (1-31) and every day of the week (0-6):
// Cron keeps no separate flag for "*", so a field holding all of its
// values is taken as unrestricted.
const (
	allDaysOfMonth uint64 = 0xFFFFFFFE
	allDaysOfWeek  uint64 = 0x7F
)

// Next returns the first match of c strictly after the instant after, with
// the fields evaluated against wall clocks in loc (UTC when nil). It returns
// the zero time when c has no match within SearchYears, such as "0 0 30 2 *".
// The result is in loc.
//
// A match is a local wall-clock minute whose minute, hour and month match and
// whose day matches: when both day of month and day of week are restricted,
// either of them matching is enough (the usual cron rule); when one of them
// holds every value ("*", or an equivalent such as "1-31" or "0-6"), the
// other alone decides. Cron cannot tell "*" from a list of every
// value, so unlike Vixie cron a stepped "*/2" day of month counts as
// restricted, and "1-31" counts as unrestricted.
//
// Daylight saving changes: a wall time that does not exist (the hour skipped
// when clocks spring forward) does not fire, and a wall time that occurs
// twice (the hour repeated when clocks fall back) fires once, at its first
// occurrence.
//
// The search steps over months and days that cannot match and visits only
// the hours and minutes in c, so its cost depends on the days searched, not
// on the minutes.
func Next(c Cron, after time.Time, loc *time.Location) time.Time {
	t, _ := next(c, after, loc)
	return t
}

func next(c Cron, after time.Time, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	local := after.In(loc)
	r := resolver{loc: loc}
	r.seed(local)
	// Matches are whole minutes, so "strictly after" compares whole seconds.
	afterSec := after.Unix()
	domAll := c.DayOfMonth&allDaysOfMonth == allDaysOfMonth
	dowAll := c.DayOfWeek&allDaysOfWeek == allDaysOfWeek

	// Days are civil dates held as midnight UTC, so that adding a day never
	// meets a daylight saving change. The scan starts at the wall clock of
	// after: a wall time before it resolves to an instant before after, since
	// resolving keeps wall-clock order and takes first occurrences.
	y, m, d := local.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	limit := day.AddDate(SearchYears, 0, 0)
	fromHour, fromMinute := local.Hour(), local.Minute()
	for !day.After(limit) {
		if c.Month&(1<<uint(day.Month())) == 0 {
			day = time.Date(day.Year(), day.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			fromHour, fromMinute = 0, 0
			continue
		}
		dom := c.DayOfMonth&(1<<uint(day.Day())) != 0
		dow := c.DayOfWeek&(1<<uint(day.Weekday())) != 0
		matches := dom || dow
		if domAll || dowAll {
			matches = dom && dow
		}
		if matches {
			midnight := day.Unix()
			for hours := c.Hour >> fromHour << fromHour; hours != 0; hours &= hours - 1 {
				h := bits.TrailingZeros64(hours)
				minutes := c.Minute
				if h == fromHour {
					minutes = minutes >> fromMinute << fromMinute
				}
				for ; minutes != 0; minutes &= minutes - 1 {
					naive := midnight + int64(h)*3600 + int64(bits.TrailingZeros64(minutes))*60
					if inst, ok := r.resolve(naive); ok && inst > afterSec {
						return time.Unix(inst, 0).In(loc), true
					}
				}
			}
		}
		day = day.AddDate(0, 0, 1)
		fromHour, fromMinute = 0, 0
	}
	return time.Time{}, false
}

// maxOffsetSwing bounds the difference between two UTC offsets (they span
// -12h to +14h), in seconds.
const maxOffsetSwing = 26 * 3600

// resolver turns a wall-clock time in loc into the first instant showing it.
// It caches one zone period: an instant at least maxOffsetSwing inside the
// period is the only instant with its wall clock, so the common case needs no
// zone lookup.
type resolver struct {
	loc    *time.Location
	off    int64 // UTC offset of the cached period, in seconds
	lo, hi int64 // unix seconds within which naive-off is the only answer
}

// seed caches the zone period in effect at t, which must be in r.loc.
func (r *resolver) seed(t time.Time) {
	_, off := t.Zone()
	start, end := t.ZoneBounds()
	r.off = int64(off)
	r.lo, r.hi = math.MinInt64, math.MaxInt64
	if !start.IsZero() {
		r.lo = start.Unix() + maxOffsetSwing
	}
	if !end.IsZero() {
		r.hi = end.Unix() - maxOffsetSwing
	}
}

// resolve returns the first instant (unix seconds) whose wall clock in r.loc
// reads naive, a wall time written as seconds since 1970-01-01 00:00 on that
// clock; false when no instant does (a skipped wall time).
func (r *resolver) resolve(naive int64) (int64, bool) {
	if inst := naive - r.off; r.lo <= inst && inst < r.hi {
		return inst, true
	}
	// Near a zone change: an instant showing naive lies within
	// [naive-14h, naive+12h], so the offsets in effect at these probes cover
	// both sides of a change there.
	best, found := int64(0), false
	for _, probe := range [...]int64{naive - 14*3600, naive, naive + 14*3600} {
		_, off := time.Unix(probe, 0).In(r.loc).Zone()
		inst := naive - int64(off)
		if _, got := time.Unix(inst, 0).In(r.loc).Zone(); got != off {
			continue
		}
		if !found || inst < best {
			best, found = inst, true
		}
	}
	if found {
		r.seed(time.Unix(best, 0).In(r.loc))
	}
	return best, found
}
