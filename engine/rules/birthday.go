package rules

import (
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// BirthdayWindow is the window [start, end) in year, in loc (nil: UTC), in
// which a member born on birthMonth/birthDay gets a birthday reward: the
// day of the birthday (config.LimitDay), its ISO week from Monday
// (config.LimitWeek; it may begin in December of the year before or end in
// January of the next) or its month (config.LimitMonth). A 29 February
// birthday falls on 28 February in a year without one. It refuses a date
// no year has, such as 31 April, and any other window.
func BirthdayWindow(birthMonth time.Month, birthDay int, window string, year int, loc *time.Location) (start, end time.Time, err error) {
	if birthMonth < time.January || birthMonth > time.December {
		return start, end, fmt.Errorf("birth month %d is not from 1 to 12", birthMonth)
	}
	// 2024 is a leap year: every real birthday exists in it.
	if birthDay < 1 || time.Date(2024, birthMonth, birthDay, 0, 0, 0, 0, time.UTC).Day() != birthDay {
		return start, end, fmt.Errorf("%s has no day %d", birthMonth, birthDay)
	}
	if birthMonth == time.February && birthDay == 29 && !isLeap(year) {
		birthDay = 28
	}
	if loc == nil {
		loc = time.UTC
	}
	switch window {
	case config.LimitDay, config.LimitWeek, config.LimitMonth:
	default:
		return start, end, fmt.Errorf("window %q must be %s, %s or %s", window, config.LimitDay, config.LimitWeek, config.LimitMonth)
	}
	// Noon of the birthday is inside its day whatever the zone's changes.
	start, end = PeriodWindow(time.Date(year, birthMonth, birthDay, 12, 0, 0, 0, loc), window, loc)
	return start, end, nil
}

func isLeap(year int) bool { return year%4 == 0 && (year%100 != 0 || year%400 == 0) }

// BirthdayYear is the year whose birthday window (BirthdayWindow) contains
// now, and whether there is one. A week window may belong to the year after
// now's (a 1 January birthday's week can start in December) or before it.
func BirthdayYear(birthMonth time.Month, birthDay int, window string, now time.Time, loc *time.Location) (int, bool) {
	if loc == nil {
		loc = time.UTC
	}
	y := now.In(loc).Year()
	for _, year := range []int{y, y + 1, y - 1} {
		start, end, err := BirthdayWindow(birthMonth, birthDay, window, year, loc)
		if err == nil && !now.Before(start) && now.Before(end) {
			return year, true
		}
	}
	return 0, false
}

// BirthDate is a month and day of birth.
type BirthDate struct {
	Month time.Month
	Day   int
}

// BirthdaysAt lists the birth dates whose birthday window contains now, in
// date order: the dates of now's day, ISO week or month in loc, and 29
// February with 28 February in a year without one. BirthdayYear says for
// which year.
func BirthdaysAt(now time.Time, window string, loc *time.Location) []BirthDate {
	if loc == nil {
		loc = time.UTC
	}
	start, end := PeriodWindow(now, window, loc)
	if window != config.LimitDay && window != config.LimitWeek && window != config.LimitMonth {
		return nil
	}
	var out []BirthDate
	y, m, d := start.In(loc).Date()
	for day := time.Date(y, m, d, 12, 0, 0, 0, loc); day.Before(end); day = time.Date(y, m, d+1, 12, 0, 0, 0, loc) {
		y, m, d = day.Date()
		out = append(out, BirthDate{Month: m, Day: d})
		if m == time.February && d == 28 && !isLeap(y) {
			out = append(out, BirthDate{Month: time.February, Day: 29})
		}
	}
	return out
}
