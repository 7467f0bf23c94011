package rules

import (
	"slices"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func TestBirthdayWindow(t *testing.T) {
	seoul, berlin := mustZone(t, "Asia/Seoul"), mustZone(t, "Europe/Berlin")
	tests := []struct {
		name       string
		month      time.Month
		day        int
		window     string
		year       int
		loc        *time.Location
		start, end string
	}{
		{"the day in Seoul", time.March, 14, config.LimitDay, 2026, seoul, "2026-03-13T15:00:00Z", "2026-03-14T15:00:00Z"},
		{"the day in UTC", time.March, 14, config.LimitDay, 2026, nil, "2026-03-14T00:00:00Z", "2026-03-15T00:00:00Z"},
		{"29 February in a leap year", time.February, 29, config.LimitDay, 2028, seoul, "2028-02-28T15:00:00Z", "2028-02-29T15:00:00Z"},
		{"29 February falls on 28 February", time.February, 29, config.LimitDay, 2026, seoul, "2026-02-27T15:00:00Z", "2026-02-28T15:00:00Z"},
		{"29 February in 2100, no leap year", time.February, 29, config.LimitDay, 2100, time.UTC, "2100-02-28T00:00:00Z", "2100-03-01T00:00:00Z"},
		{"29 February in 2000, a leap year", time.February, 29, config.LimitDay, 2000, time.UTC, "2000-02-29T00:00:00Z", "2000-03-01T00:00:00Z"},
		{"29 February's month", time.February, 29, config.LimitMonth, 2026, time.UTC, "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"},
		{"the day Berlin skips an hour", time.March, 29, config.LimitDay, 2026, berlin, "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"},
		{"the month of October in Berlin", time.October, 3, config.LimitMonth, 2026, berlin, "2026-09-30T22:00:00Z", "2026-10-31T23:00:00Z"},
		// 1 January 2027 is a Friday: its ISO week starts on 28 December.
		{"a week across the new year", time.January, 1, config.LimitWeek, 2027, seoul, "2026-12-27T15:00:00Z", "2027-01-03T15:00:00Z"},
		{"a week on its Monday", time.June, 15, config.LimitWeek, 2026, time.UTC, "2026-06-15T00:00:00Z", "2026-06-22T00:00:00Z"},
		{"a week on its Sunday", time.June, 21, config.LimitWeek, 2026, time.UTC, "2026-06-15T00:00:00Z", "2026-06-22T00:00:00Z"},
		{"December's month", time.December, 31, config.LimitMonth, 2026, seoul, "2026-11-30T15:00:00Z", "2026-12-31T15:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end, err := BirthdayWindow(tt.month, tt.day, tt.window, tt.year, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			if !start.Equal(utc(tt.start)) || !end.Equal(utc(tt.end)) {
				t.Errorf("BirthdayWindow(%s %d, %s, %d) = [%s, %s), want [%s, %s)", tt.month, tt.day, tt.window, tt.year,
					start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), tt.start, tt.end)
			}
		})
	}
	for _, bad := range []struct {
		month  time.Month
		day    int
		window string
	}{
		{time.April, 31, config.LimitDay}, {time.February, 30, config.LimitDay}, {0, 1, config.LimitDay},
		{13, 1, config.LimitDay}, {time.May, 0, config.LimitDay}, {time.May, 1, config.LimitYear}, {time.May, 1, ""},
	} {
		if _, _, err := BirthdayWindow(bad.month, bad.day, bad.window, 2026, time.UTC); err == nil {
			t.Errorf("BirthdayWindow(%d, %d, %q) accepted", bad.month, bad.day, bad.window)
		}
	}
}

func TestBirthdayYearAndBirthdaysAt(t *testing.T) {
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name     string
		month    time.Month
		day      int
		window   string
		now      string
		loc      *time.Location
		wantYear int // 0: none
	}{
		{"the day", time.March, 5, config.LimitDay, "2026-03-05T10:00:00Z", time.UTC, 2026},
		{"the day before", time.March, 5, config.LimitDay, "2026-03-04T23:59:59Z", time.UTC, 0},
		{"Seoul new year's day starts at 15:00 UTC", time.January, 1, config.LimitDay, "2026-12-31T15:00:00Z", seoul, 2027},
		{"Seoul new year's eve ends at 15:00 UTC", time.December, 31, config.LimitDay, "2026-12-31T15:00:00Z", seoul, 0},
		{"week of 1 January 2027 starts in December", time.January, 1, config.LimitWeek, "2026-12-28T00:00:00Z", time.UTC, 2027},
		{"week of 31 December 2026 ends in January", time.December, 31, config.LimitWeek, "2027-01-03T23:00:00Z", time.UTC, 2026},
		{"29 February on 28 February 2027", time.February, 29, config.LimitDay, "2027-02-28T08:00:00Z", time.UTC, 2027},
		{"29 February not on 1 March 2027", time.February, 29, config.LimitDay, "2027-03-01T08:00:00Z", time.UTC, 0},
		{"the month", time.July, 20, config.LimitMonth, "2026-07-01T00:00:00Z", time.UTC, 2026},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := at(tt.now)
			y, ok := BirthdayYear(tt.month, tt.day, tt.window, now, tt.loc)
			if (tt.wantYear != 0) != ok || ok && y != tt.wantYear {
				t.Errorf("BirthdayYear = %d, %v; want %d", y, ok, tt.wantYear)
			}
			listed := slices.Contains(BirthdaysAt(now, tt.window, tt.loc), BirthDate{tt.month, tt.day})
			if listed != ok {
				t.Errorf("BirthdaysAt lists %s %d: %v, want %v", tt.month, tt.day, listed, ok)
			}
		})
	}
	if n := len(BirthdaysAt(at("2027-02-10T00:00:00Z"), config.LimitMonth, time.UTC)); n != 29 {
		t.Errorf("February 2027 lists %d dates, want 28 and 29 February: 29", n)
	}
	if n := len(BirthdaysAt(at("2026-12-30T00:00:00Z"), config.LimitWeek, time.UTC)); n != 7 {
		t.Errorf("a week lists %d dates, want 7", n)
	}
}
