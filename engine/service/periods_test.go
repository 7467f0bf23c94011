package service

import (
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// A program in Seoul with a one-time action and one limited per week: the
// service prices with the program's zone and hands the limit and the zone
// to the store, which counts under lock.
func TestActionLimitsInProgramTimeZone(t *testing.T) {
	f := newFixture(t)
	snap := strings.Replace(program(t), `"currency": "EUR"}`, `"currency": "EUR", "timeZone": "Asia/Seoul"}`, 1)
	snap = strings.Replace(snap, `"actions": [{"name": "review", "points": 10, "maxPerDay": 2}]`,
		`"actions": [{"name": "review", "points": 10, "maxPerDay": 2}, {"name": "app-download", "points": 500, "limit": {"count": 1, "per": "Lifetime"}},
		  {"name": "workout", "points": 20, "limit": {"count": 1, "per": "Week"}}]`, 1)
	if err := f.holder.Apply("test", []byte(snap)); err != nil {
		t.Fatal(err)
	}
	// Sunday 14 June 2026 23:30 in Seoul, then Monday 00:30 there: both
	// are Sunday in UTC, but another ISO week in Seoul.
	sunday, monday := time.Date(2026, 6, 14, 14, 30, 0, 0, time.UTC), time.Date(2026, 6, 14, 15, 30, 0, 0, time.UTC)
	f.now = monday.Add(time.Minute)
	tests := []struct {
		id, action string
		at         time.Time
		points     int64
		reason     string // the review-extra campaign's, for a review
	}{
		{"w1", "workout", sunday, 20, ""},
		{"w2", "workout", sunday.Add(10 * time.Minute), 0, ""},
		{"w3", "workout", monday, 20, ""},
		{"a1", "app-download", sunday, 500, ""},
		{"a2", "app-download", monday, 0, ""},
	}
	for _, tt := range tests {
		ev, body := event(tt.id, "plain", tt.id, "", tt.action, tt.at)
		res, err := f.svc.Earn(t.Context(), ev, body)
		if err != nil {
			t.Fatalf("%s: %v", tt.id, err)
		}
		b := res.Explanation.Base
		if res.Points != tt.points || b.LimitReached != (tt.points == 0) || b.DailyLimitReached || b.Limit == nil || b.MaxPerDay != nil {
			t.Errorf("%s: %d points, base %+v; want %d", tt.id, res.Points, b, tt.points)
		}
	}
	// What the store was asked to count with.
	st, err := f.store.PricingContexts(t.Context(), []ledger.PricingQuery{{MemberID: "plain", Action: "workout",
		Limit: &config.ActionLimit{Count: 1, Per: config.LimitWeek}, TimeZone: f.holder.Current().Location(), OccurredAt: monday}})
	if err != nil || st[0].Member.ActionsInPeriod != 1 {
		t.Errorf("workouts in Monday's week: %+v %v", st, err)
	}
	// A price explains the limit before anything is written.
	ev, _ := event("", "plain", "a3", "", "app-download", monday)
	q, err := f.svc.Price(t.Context(), ev)
	if err != nil || q.Explanation.Points != 0 || !q.Explanation.Base.LimitReached ||
		!strings.Contains(q.Explanation.Base.Message, "lifetime limit") {
		t.Errorf("price of a second download: %+v %v", q, err)
	}
}

// An earn hands the program's birthday reward, in its zone and with its
// expiry, to the store, which grants it at the member's first event in
// the window; without one it hands none.
func TestEarnCarriesTheBirthdayReward(t *testing.T) {
	f := newFixture(t)
	ev, body := event("b1", "plain", "b1", "", "review", f.now)
	if _, err := f.svc.Earn(t.Context(), ev, body); err != nil {
		t.Fatal(err)
	}
	if f.store.lastEarn.Birthday != nil {
		t.Errorf("birthday rule %+v without a birthday reward", f.store.lastEarn.Birthday)
	}
	snap := strings.Replace(program(t), `"currency": "EUR"}`, `"currency": "EUR", "timeZone": "Asia/Seoul"}`, 1)
	snap = strings.Replace(snap, `"actions": [`, `"birthday": {"points": 250, "window": "Week"}, "actions": [`, 1)
	if err := f.holder.Apply("test", []byte(snap)); err != nil {
		t.Fatal(err)
	}
	ev, body = event("b2", "plain", "b2", "", "review", f.now)
	if _, err := f.svc.Earn(t.Context(), ev, body); err != nil {
		t.Fatal(err)
	}
	r := f.store.lastEarn.Birthday
	if r == nil || r.Points != 250 || r.Window != config.LimitWeek || r.Location.String() != "Asia/Seoul" {
		t.Fatalf("birthday rule %+v, want 250 points a week in Asia/Seoul", r)
	}
	if x := f.holder.Current().Points.Expiry; x != nil && x.AfterEarn != nil && r.ExpireAfter != x.AfterEarn.D() {
		t.Errorf("birthday points expire after %s, want afterEarn %s", r.ExpireAfter, x.AfterEarn.D())
	}
}
