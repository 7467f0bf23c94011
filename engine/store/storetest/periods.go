package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// testConcurrentActionLimits: 64 earns at once of a one-time action and of
// an action limited to 2 a week, by one member, over both actions: exactly
// 1 and 2 earn. The one-time action earns nothing years later; the weekly
// one earns again the next week.
func testConcurrentActionLimits(t *testing.T, s ledger.Ledger) {
	ConcurrentActionLimits(t, []ledger.Ledger{s})
}

// ConcurrentActionLimits runs the one-time and weekly limit race over
// several stores.
func ConcurrentActionLimits(t *testing.T, stores []ledger.Ledger) {
	s := stores[0]
	enroll(t, s, "m1")
	seoul := zone(t, "Asia/Seoul")
	once := &config.ActionLimit{Count: 1, Per: config.LimitLifetime}
	weekly := &config.ActionLimit{Count: 2, Per: config.LimitWeek}
	// Wednesday 2026-06-17 in Seoul; events spread over the week.
	wed := at("2026-06-17T03:00:00Z")
	var wg sync.WaitGroup
	var mu sync.Mutex
	earned := map[string]int{}
	for i := range 64 {
		action, limit, points := "app-download", once, int64(500)
		if i%2 == 1 {
			action, limit, points = "workout", weekly, 10
		}
		wg.Go(func() {
			occurred := wed.Add(time.Duration(i%5) * 24 * time.Hour) // Wednesday to Sunday
			res, err := stores[i%len(stores)].Earn(ctx, ledger.EarnRequest{IdempotencyKey: key("a", i), MemberID: "m1", EventID: key(action, i),
				Points: points, Action: action, Limit: limit, TimeZone: seoul, OccurredAt: occurred,
				Explanation: &rules.Explanation{Kind: rules.EventAction, Base: rules.BaseExplanation{Action: action, Points: points}, PointsWithoutCampaigns: points, Points: points}})
			if err != nil {
				t.Errorf("earn %d: %v", i, err)
				return
			}
			if b := res.Explanation.Base; (res.Points == 0) != b.LimitReached || b.DailyLimitReached || res.Explanation.Points != res.Points {
				t.Errorf("earn %d: points %d, explanation %+v", i, res.Points, res.Explanation)
			}
			if res.Points > 0 {
				mu.Lock()
				earned[action]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if earned["app-download"] != 1 || earned["workout"] != 2 {
		t.Fatalf("earned %v, want 1 app-download and 2 workouts", earned)
	}
	// Monday 00:30 in Seoul is Sunday 15:30 UTC: a new week there.
	monday := at("2026-06-21T15:30:00Z")
	later := earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "workout-monday", Points: 10, Action: "workout", Limit: weekly, TimeZone: seoul, OccurredAt: monday})
	again := earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "app-download-again", Points: 500, Action: "app-download", Limit: once, TimeZone: seoul, OccurredAt: at("2029-01-01T00:00:00Z")})
	if later.Points != 10 || again.Points != 0 {
		t.Errorf("next week's workout earned %d, the second download %d; want 10 and 0", later.Points, again.Points)
	}
	wantBalance(t, s, "m1", 530, 0, 530)
	for _, q := range []struct {
		action string
		limit  *config.ActionLimit
		at     time.Time
		want   int64
	}{
		{"workout", weekly, wed, 2},
		{"workout", weekly, monday, 1},
		{"app-download", once, at("2030-01-01T00:00:00Z"), 1},
	} {
		st, err := pricingContext(s, ledger.PricingQuery{MemberID: "m1", Action: q.action, Limit: q.limit, TimeZone: seoul, OccurredAt: q.at})
		if err != nil || st.Member.ActionsInPeriod != q.want {
			t.Errorf("%s at %s: %d in the period (%v), want %d", q.action, q.at, st.Member.ActionsInPeriod, err, q.want)
		}
	}
}

// testActionLimitsInTimeZone: days turn over at local midnight across both
// daylight saving changes of Berlin, and years at 15:00 UTC in Seoul.
func testActionLimitsInTimeZone(t *testing.T, s ledger.Ledger) {
	berlin, seoul := zone(t, "Europe/Berlin"), zone(t, "Asia/Seoul")
	daily := &config.ActionLimit{Count: 1, Per: config.LimitDay}
	yearly := &config.ActionLimit{Count: 1, Per: config.LimitYear}
	enroll(t, s, "berlin")
	enroll(t, s, "seoul")
	tests := []struct {
		member, event, at string
		limit             *config.ActionLimit
		loc               *time.Location
		earns             bool
	}{
		// 29 March 2026: Berlin skips 02:00 to 03:00; the day is 23 hours.
		{"berlin", "sat-late", "2026-03-28T22:30:00Z", daily, berlin, true},  // Saturday 23:30 CET
		{"berlin", "sun-early", "2026-03-28T23:30:00Z", daily, berlin, true}, // Sunday 00:30 CET
		{"berlin", "sun-late", "2026-03-29T21:30:00Z", daily, berlin, false}, // Sunday 23:30 CEST
		{"berlin", "mon-early", "2026-03-29T22:00:00Z", daily, berlin, true}, // Monday 00:00 CEST
		// 25 October 2026: 03:00 back to 02:00; the day is 25 hours.
		{"berlin", "oct-sun-early", "2026-10-24T22:00:00Z", daily, berlin, true}, // Sunday 00:00 CEST
		{"berlin", "oct-sun-late", "2026-10-25T22:59:59Z", daily, berlin, false}, // Sunday 23:59:59 CET
		{"berlin", "oct-mon-early", "2026-10-25T23:00:00Z", daily, berlin, true}, // Monday 00:00 CET
		{"seoul", "2026-last", "2026-12-31T14:59:59Z", yearly, seoul, true},      // 23:59:59 on 31 December
		{"seoul", "2027-first", "2026-12-31T15:00:00Z", yearly, seoul, true},     // 00:00 on 1 January 2027
		{"seoul", "2027-summer", "2027-06-01T00:00:00Z", yearly, seoul, false},
		{"seoul", "2027-utc-last", "2027-12-31T14:59:59Z", yearly, seoul, false}, // still 2027 in Seoul
	}
	for _, tt := range tests {
		res := earn(t, s, ledger.EarnRequest{MemberID: tt.member, EventID: tt.event, Points: 10, Action: "visit", Limit: tt.limit, TimeZone: tt.loc, OccurredAt: at(tt.at),
			Explanation: &rules.Explanation{Kind: rules.EventAction, Base: rules.BaseExplanation{Action: "visit", Points: 10}, PointsWithoutCampaigns: 10, Points: 10}})
		if (res.Points > 0) != tt.earns {
			t.Errorf("%s at %s earned %d, want earning %v", tt.event, tt.at, res.Points, tt.earns)
		}
		if !tt.earns && (tt.limit.Per == config.LimitDay) != res.Explanation.Base.DailyLimitReached {
			t.Errorf("%s: dailyLimitReached %v", tt.event, res.Explanation.Base.DailyLimitReached)
		}
	}
	wantBalance(t, s, "berlin", 50, 0, 50)
	wantBalance(t, s, "seoul", 20, 0, 20)
	// The same instant is in another period in UTC.
	st, err := pricingContext(s, ledger.PricingQuery{MemberID: "seoul", Action: "visit", Limit: yearly, OccurredAt: at("2026-12-31T15:00:00Z")})
	if err != nil || st.Member.ActionsInPeriod != 1 {
		t.Errorf("the UTC year 2026 holds %d (%v), want 1", st.Member.ActionsInPeriod, err)
	}
	st, err = pricingContext(s, ledger.PricingQuery{MemberID: "seoul", Action: "visit", Limit: yearly, TimeZone: seoul, OccurredAt: at("2026-12-31T15:00:00Z")})
	if err != nil || st.Member.ActionsInPeriod != 1 {
		t.Errorf("Seoul's year 2027 holds %d (%v), want 1", st.Member.ActionsInPeriod, err)
	}
}

// testCalendarYearTierInTimeZone: a calendar-year tier of a program in
// Seoul counts from 1 January 00:00 there, 15:00 UTC the day before, in the
// middle of the store's UTC day of daily sums.
func testCalendarYearTierInTimeZone(t *testing.T, s ledger.Ledger) {
	seoul := zone(t, "Asia/Seoul")
	year := config.TierQualification{MinQualifyingPoints: ptr(int64(100)), Period: config.PeriodCalendarYear}
	tiers := []config.Tier{
		{Name: "member", Rank: 0, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(0)), Period: config.PeriodCalendarYear}, TimeZone: seoul},
		{Name: "gold", Rank: 1, Qualification: year, TimeZone: seoul},
	}
	utcTiers := []config.Tier{tiers[0], tiers[1]}
	utcTiers[0].TimeZone, utcTiers[1].TimeZone = nil, nil
	enroll(t, s, "m1")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "a", Points: 70, OccurredAt: at("2026-12-31T10:00:00Z")}) // 19:00 in Seoul, 2026
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "b", Points: 40, OccurredAt: at("2026-12-31T15:00:00Z")}) // 00:00 in Seoul, 2027
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "c", Points: 5, OccurredAt: at("2026-12-31T20:00:00Z")})
	now := at("2026-12-31T22:00:00Z")
	for _, tt := range []struct {
		name  string
		tiers []config.Tier
		want  int64
	}{{"Seoul", tiers, 45}, {"UTC", utcTiers, 115}} {
		st, err := s.TierStatus(ctx, "m1", tt.tiers, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Input.Activity["gold"].Points; got != tt.want {
			t.Errorf("%s calendar year: %d qualifying points at %s, want %d", tt.name, got, now, tt.want)
		}
	}
}
