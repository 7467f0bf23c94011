package rules

import (
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestPeriodWindow(t *testing.T) {
	berlin, seoul := mustZone(t, "Europe/Berlin"), mustZone(t, "Asia/Seoul")
	havana := mustZone(t, "America/Havana")
	tests := []struct {
		name       string
		at         string
		per        string
		loc        *time.Location
		start, end string
	}{
		{"UTC day", "2026-06-15T23:59:59Z", config.LimitDay, time.UTC, "2026-06-15T00:00:00Z", "2026-06-16T00:00:00Z"},
		{"nil zone is UTC", "2026-06-15T00:00:00Z", config.LimitDay, nil, "2026-06-15T00:00:00Z", "2026-06-16T00:00:00Z"},
		// Berlin moves to summer time on 29 March 2026: that day lasts 23 hours.
		{"Berlin spring-forward day", "2026-03-29T12:00:00Z", config.LimitDay, berlin, "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"},
		{"Berlin just before midnight CET", "2026-03-28T22:59:59Z", config.LimitDay, berlin, "2026-03-27T23:00:00Z", "2026-03-28T23:00:00Z"},
		// and back on 25 October 2026: that day lasts 25 hours.
		{"Berlin fall-back day", "2026-10-25T22:30:00Z", config.LimitDay, berlin, "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"},
		{"Berlin week across spring-forward", "2026-03-29T21:59:00Z", config.LimitWeek, berlin, "2026-03-22T23:00:00Z", "2026-03-29T22:00:00Z"},
		{"Berlin Monday after spring-forward", "2026-03-29T22:00:00Z", config.LimitWeek, berlin, "2026-03-29T22:00:00Z", "2026-04-05T22:00:00Z"},
		{"Berlin month of fall-back", "2026-10-31T22:59:59Z", config.LimitMonth, berlin, "2026-09-30T22:00:00Z", "2026-10-31T23:00:00Z"},
		{"Berlin month turns", "2026-10-31T23:00:00Z", config.LimitMonth, berlin, "2026-10-31T23:00:00Z", "2026-11-30T23:00:00Z"},
		// Seoul (UTC+9, no DST): 31 December 15:00 UTC is 1 January 2027.
		{"Seoul last second of 2026", "2026-12-31T14:59:59Z", config.LimitYear, seoul, "2025-12-31T15:00:00Z", "2026-12-31T15:00:00Z"},
		{"Seoul first second of 2027", "2026-12-31T15:00:00Z", config.LimitYear, seoul, "2026-12-31T15:00:00Z", "2027-12-31T15:00:00Z"},
		{"Seoul day at the year boundary", "2026-12-31T15:00:00Z", config.LimitDay, seoul, "2026-12-31T15:00:00Z", "2027-01-01T15:00:00Z"},
		{"Seoul ISO week across the year", "2026-12-31T15:00:00Z", config.LimitWeek, seoul, "2026-12-27T15:00:00Z", "2027-01-03T15:00:00Z"},
		{"UTC year at the same instant", "2026-12-31T15:00:00Z", config.LimitYear, time.UTC, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		// Havana skips midnight on 8 March 2026 (00:00 becomes 01:00): the
		// day starts at the skip, not at 23:00 the day before.
		{"Havana day without a midnight", "2026-03-08T12:00:00Z", config.LimitDay, havana, "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"},
		{"Havana day before it", "2026-03-08T04:59:59Z", config.LimitDay, havana, "2026-03-07T05:00:00Z", "2026-03-08T05:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end := PeriodWindow(utc(tt.at), tt.per, tt.loc)
			if !start.Equal(utc(tt.start)) || !end.Equal(utc(tt.end)) {
				t.Errorf("PeriodWindow(%s, %s) = [%s, %s), want [%s, %s)", tt.at, tt.per,
					start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), tt.start, tt.end)
			}
			if at := utc(tt.at); at.Before(start) || !at.Before(end) {
				t.Errorf("%s is outside its window [%s, %s)", tt.at, start, end)
			}
		})
	}
	start, end := PeriodWindow(utc("2026-06-15T10:00:00Z"), config.LimitLifetime, seoul)
	if !start.Equal(LifetimeStart) || !end.Equal(LifetimeEnd) || !end.After(utc("9999-12-31T23:59:59Z")) {
		t.Errorf("lifetime window [%s, %s)", start, end)
	}
}

// Consecutive windows tile time: each ends where the next starts, whatever
// the zone's offset changes, for every period but Lifetime.
func TestPeriodWindowsTile(t *testing.T) {
	for _, zone := range []string{"Europe/Berlin", "Asia/Seoul", "America/Havana", "Australia/Lord_Howe"} {
		loc := mustZone(t, zone)
		for _, per := range []string{config.LimitDay, config.LimitWeek, config.LimitMonth, config.LimitYear} {
			start, end := PeriodWindow(utc("2025-12-20T00:00:00Z"), per, loc)
			for range 500 {
				if !end.After(start) {
					t.Fatalf("%s %s: empty window [%s, %s)", zone, per, start, end)
				}
				nextStart, nextEnd := PeriodWindow(end, per, loc)
				if !nextStart.Equal(end) {
					t.Fatalf("%s %s: window after [%s, %s) starts at %s", zone, per, start, end, nextStart)
				}
				if last, _ := PeriodWindow(end.Add(-time.Nanosecond), per, loc); !last.Equal(start) {
					t.Fatalf("%s %s: the last instant before %s is in a window from %s, want %s", zone, per, end, last, start)
				}
				start, end = nextStart, nextEnd
			}
		}
	}
}

func TestActionLimitExplained(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	s := program("1", config.RoundingFloor)
	s.Program.TimeZone = "Europe/Berlin"
	s.Points.Actions = []config.ActionReward{
		{Name: "app-download", Points: 500, Limit: &config.ActionLimit{Count: 1, Per: config.LimitLifetime}},
		{Name: "review", Points: 10, Limit: &config.ActionLimit{Count: 2, Per: config.LimitWeek}},
		{Name: "check-in", Points: 1, MaxPerDay: ptr(int32(3))},
	}
	s.Campaigns = []config.Campaign{campaign("double", func(c *config.Campaign) {
		c.Rules.ActionBonuses = []config.ActionBonus{{Action: "review", Points: 5}, {Action: "app-download", Points: 5}}
	})}
	if got := s.Location(); got.String() != berlin.String() {
		t.Fatalf("location %s, want Europe/Berlin", got)
	}
	tests := []struct {
		action     string
		count      int64
		points     int64
		reached    bool
		daily      bool
		reason     string
		maxPerDay  *int32
		message    string
		limitCount int32
		per        string
	}{
		{"app-download", 0, 505, false, false, "", nil, `"app-download" earns 500 points`, 1, config.LimitLifetime},
		{"app-download", 1, 0, true, false, ReasonActionLimitReached, nil, `"app-download" already earned 1 times, its lifetime limit; it earns nothing`, 1, config.LimitLifetime},
		{"review", 1, 15, false, false, "", nil, `"review" earns 10 points`, 2, config.LimitWeek},
		{"review", 2, 0, true, false, ReasonActionLimitReached, nil, `"review" already earned 2 times this week, its limit per week; it earns nothing`, 2, config.LimitWeek},
		{"check-in", 3, 0, true, true, "", ptr(int32(3)), `"check-in" already earned 3 times today, its limit per day; it earns nothing`, 3, config.LimitDay},
	}
	for _, tt := range tests {
		p := mustPrice(t, s, Event{Kind: EventAction, Action: tt.action, OccurredAt: midJune}, MemberContext{ActionsInPeriod: tt.count}, midJune)
		b := p.Explanation.Base
		switch {
		case p.Points != tt.points || b.LimitReached != tt.reached || b.DailyLimitReached != tt.daily || b.Message != tt.message:
			t.Errorf("%s after %d: points %d, reached %v, daily %v, %q", tt.action, tt.count, p.Points, b.LimitReached, b.DailyLimitReached, b.Message)
		case b.Limit == nil || b.Limit.Count != tt.limitCount || b.Limit.Per != tt.per:
			t.Errorf("%s: limit %+v", tt.action, b.Limit)
		case (tt.maxPerDay == nil) != (b.MaxPerDay == nil) || tt.maxPerDay != nil && *b.MaxPerDay != *tt.maxPerDay:
			t.Errorf("%s: maxPerDay %v, want %v", tt.action, b.MaxPerDay, tt.maxPerDay)
		case tt.reason != "" && p.Explanation.Campaigns[0].Reason != tt.reason:
			t.Errorf("%s: campaign reason %q, want %q", tt.action, p.Explanation.Campaigns[0].Reason, tt.reason)
		}
		if tt.reached {
			// The store's rewrite says what Price says.
			ex := mustPrice(t, s, Event{Kind: EventAction, Action: tt.action, OccurredAt: midJune}, MemberContext{}, midJune).Explanation
			ex.LimitReached(b.Limit, tt.count)
			if ex.Base.Message != b.Message || ex.Points != 0 || ex.Base.LimitReached != b.LimitReached || ex.Base.DailyLimitReached != b.DailyLimitReached {
				t.Errorf("%s: rewritten %+v, want like %+v", tt.action, ex.Base, b)
			}
		}
	}
}
