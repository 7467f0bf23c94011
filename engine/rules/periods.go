package rules

import (
	"fmt"
	"math"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// Calendar periods are cut in the program's time zone (config.Snapshot's
// Location): a day runs from one local midnight to the next, so it lasts 23
// or 25 hours across a daylight saving change, and a member in Seoul starts
// a new year at 15:00 UTC on 31 December.

// Lifetime is the window of the Lifetime period: every event counts, since
// events occur after 1970 (ledger validation) and long before its end.
var (
	LifetimeStart = time.UnixMicro(0).UTC()
	LifetimeEnd   = time.UnixMicro(math.MaxInt64).UTC()
)

// PeriodWindow is the calendar period [start, end) of per containing at,
// in loc (nil: UTC): the day, the ISO week (from Monday), the month, the
// year, or LifetimeStart to LifetimeEnd for config.LimitLifetime and any
// other period.
func PeriodWindow(at time.Time, per string, loc *time.Location) (start, end time.Time) {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := at.In(loc).Date()
	switch per {
	case config.LimitDay:
		return midnight(y, m, d, loc), midnight(y, m, d+1, loc)
	case config.LimitWeek:
		// Weekday counts from Sunday = 0; ISO weeks start on Monday.
		back := (int(at.In(loc).Weekday()) + 6) % 7
		return midnight(y, m, d-back, loc), midnight(y, m, d-back+7, loc)
	case config.LimitMonth:
		return midnight(y, m, 1, loc), midnight(y, m+1, 1, loc)
	case config.LimitYear:
		return midnight(y, time.January, 1, loc), midnight(y+1, time.January, 1, loc)
	}
	return LifetimeStart, LifetimeEnd
}

// midnight is the first instant of the local date y-m-d (normalised like
// time.Date) in loc. Where a daylight saving change skips midnight (clocks
// jump from 00:00 to 01:00, as in Havana), time.Date answers 23:00 the day
// before; the day then starts when the skip ends.
func midnight(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // the normalised date
	if ty, tm, td := t.Date(); ty != want.Year() || tm != want.Month() || td != want.Day() {
		_, end := t.ZoneBounds()
		return end
	}
	return t
}

// ActionLimitWindow is the window an action limit counts the member's
// events of the action over for an event at at; nil limit: no window.
func ActionLimitWindow(l *config.ActionLimit, at time.Time, loc *time.Location) (start, end time.Time) {
	if l == nil {
		return time.Time{}, time.Time{}
	}
	return PeriodWindow(at, l.Per, loc)
}

// LimitReached reports whether an action with limit l (nil: no limit) that
// the member already earned count times in the event's ActionLimitWindow
// earns nothing more in that period.
func LimitReached(l *config.ActionLimit, count int64) bool {
	return l != nil && count >= int64(l.Count)
}

// limitMessage explains an action event over its limit.
func limitMessage(action string, l *config.ActionLimit, count int64) string {
	switch l.Per {
	case config.LimitDay:
		return fmt.Sprintf("%q already earned %d times today, its limit per day; it earns nothing", action, count)
	case config.LimitLifetime:
		return fmt.Sprintf("%q already earned %d times, its lifetime limit; it earns nothing", action, count)
	}
	return fmt.Sprintf("%q already earned %d times this %s, its limit per %s; it earns nothing",
		action, count, periodNoun(l.Per), periodNoun(l.Per))
}

// periodNoun is per in a sentence: "week" for Week.
func periodNoun(per string) string {
	switch per {
	case config.LimitWeek:
		return "week"
	case config.LimitMonth:
		return "month"
	case config.LimitYear:
		return "year"
	}
	return "day"
}
