package rules

import (
	"slices"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// ladder: bronze (entry); silver by 1000 points over a rolling 365 days with
// 30 days' grace; gold by 5000 EUR spent in the calendar year with 90 days' grace.
func ladder() *config.Snapshot {
	return &config.Snapshot{Tiers: []config.Tier{
		{Name: "bronze", Rank: 0, EarnMultiplier: dec("1"),
			Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(0)), Period: config.PeriodRollingWindow, Window: ptr(dur("365d"))}},
		{Name: "silver", Rank: 1, EarnMultiplier: dec("1.25"), DowngradeGracePeriod: dur("30d"),
			Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(1000)), Period: config.PeriodRollingWindow, Window: ptr(dur("365d"))}},
		{Name: "gold", Rank: 2, EarnMultiplier: dec("1.5"), DowngradeGracePeriod: dur("90d"),
			Qualification: config.TierQualification{MinSpend: ptr(dec("5000")), Period: config.PeriodCalendarYear}},
	}}
}

func TestEvaluateTier(t *testing.T) {
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	silver := func(points int64) map[string]Activity { return map[string]Activity{"silver": {Points: points}} }
	tests := []struct {
		name          string
		in            TierInput
		tier, change  string
		graceUntil    time.Time
		next          string
		missingPoints int64
		missingSpend  string
		qualified     []string
	}{
		{name: "upgrade as soon as qualified", in: TierInput{Current: "bronze", Activity: silver(1000)},
			tier: "silver", change: TierUpgrade, next: "gold", missingSpend: "5000", qualified: []string{"bronze", "silver"}},
		{name: "upgrade skips a rung", in: TierInput{Activity: map[string]Activity{"gold": {Spend: dec("5000")}}},
			tier: "gold", change: TierUpgrade, qualified: []string{"bronze", "gold"}},
		{name: "unknown tier evaluates from entry", in: TierInput{Current: "platinum", Activity: silver(10)},
			tier: "bronze", change: TierUnchanged, next: "silver", missingPoints: 990, qualified: []string{"bronze"}},
		{name: "still qualified", in: TierInput{Current: "silver", Activity: map[string]Activity{"silver": {Points: 1500}, "gold": {Spend: dec("1234.56")}}},
			tier: "silver", change: TierUnchanged, next: "gold", missingSpend: "3765.44", qualified: []string{"bronze", "silver"}},
		{name: "no downgrade within grace", in: TierInput{Current: "silver", Activity: silver(999),
			LastQualifiedAt: map[string]time.Time{"silver": now.Add(-10 * day)}},
			tier: "silver", change: TierUnchanged, graceUntil: now.Add(20 * day), next: "gold", missingSpend: "5000", qualified: []string{"bronze"}},
		{name: "grace counts from tierSince without lastQualifiedAt", in: TierInput{Current: "silver", TierSince: now.Add(-30*day + time.Nanosecond)},
			tier: "silver", change: TierUnchanged, graceUntil: now.Add(time.Nanosecond), next: "gold", missingSpend: "5000", qualified: []string{"bronze"}},
		{name: "downgrade when grace has passed", in: TierInput{Current: "silver", Activity: silver(999),
			LastQualifiedAt: map[string]time.Time{"silver": now.Add(-30 * day)}},
			tier: "bronze", change: TierDowngrade, next: "silver", missingPoints: 1, qualified: []string{"bronze"}},
		{name: "downgrade to the tier still qualified", in: TierInput{Current: "gold", Activity: silver(2000),
			LastQualifiedAt: map[string]time.Time{"gold": now.Add(-91 * day)}},
			tier: "silver", change: TierDowngrade, next: "gold", missingSpend: "5000", qualified: []string{"bronze", "silver"}},
		{name: "downgrade stops at a tier in its own grace", in: TierInput{Current: "gold",
			LastQualifiedAt: map[string]time.Time{"gold": now.Add(-91 * day), "silver": now.Add(-29 * day)}},
			tier: "silver", change: TierDowngrade, graceUntil: now.Add(day), next: "gold", missingSpend: "5000", qualified: []string{"bronze"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := EvaluateTier(ladder(), tt.in, now)
			if d.Tier != tt.tier || d.Change != tt.change || !slices.Equal(d.Qualified, tt.qualified) {
				t.Errorf("tier %q, change %q, qualified %v; want %q, %q, %v", d.Tier, d.Change, d.Qualified, tt.tier, tt.change, tt.qualified)
			}
			if (d.GraceUntil == nil) != tt.graceUntil.IsZero() || d.GraceUntil != nil && !d.GraceUntil.Equal(tt.graceUntil) {
				t.Errorf("graceUntil %v, want %v", d.GraceUntil, tt.graceUntil)
			}
			if tt.next == "" {
				if d.Next != nil {
					t.Errorf("next %+v, want none", d.Next)
				}
				return
			}
			if d.Next == nil || d.Next.Name != tt.next {
				t.Fatalf("next %+v, want %s", d.Next, tt.next)
			}
			switch {
			case tt.missingSpend != "" && (d.Next.MissingSpend == nil || d.Next.MissingSpend.String() != tt.missingSpend || d.Next.MissingPoints != nil):
				t.Errorf("missing spend %v, points %v; want %s", d.Next.MissingSpend, d.Next.MissingPoints, tt.missingSpend)
			case tt.missingSpend == "" && (d.Next.MissingPoints == nil || *d.Next.MissingPoints != tt.missingPoints || d.Next.MissingSpend != nil):
				t.Errorf("missing points %v, spend %v; want %d", d.Next.MissingPoints, d.Next.MissingSpend, tt.missingPoints)
			}
		})
	}
	if d := EvaluateTier(&config.Snapshot{}, TierInput{Current: "x"}, now); d.Tier != "" || d.Change != TierUnchanged {
		t.Errorf("no tiers: %+v", d)
	}
}

func TestTierCalendarYearBoundary(t *testing.T) {
	s := ladder()
	gold := s.Tiers[2]
	newYear := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		now  time.Time
		want time.Time
	}{
		{newYear.Add(-time.Nanosecond), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{newYear, newYear},
		// 1 January 00:30 in Berlin is still 2026 in UTC: the program's zone is UTC.
		{time.Date(2027, 1, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := QualificationWindowStart(gold, tt.now); !got.Equal(tt.want) {
			t.Errorf("QualificationWindowStart(gold, %s) = %s, want %s", tt.now, got, tt.want)
		}
	}
	// In a program in Seoul (UTC+9) the year turns at 15:00 UTC on 31 December.
	seoulGold, seoulSilver := gold, s.Tiers[1]
	seoulGold.TimeZone = mustZone(t, "Asia/Seoul")
	seoulSilver.TimeZone = seoulGold.TimeZone
	for _, tt := range []struct{ now, want time.Time }{
		{time.Date(2026, 12, 31, 14, 59, 59, 0, time.UTC), time.Date(2025, 12, 31, 15, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 31, 15, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 15, 0, 0, 0, time.UTC)},
	} {
		if got := QualificationWindowStart(seoulGold, tt.now); !got.Equal(tt.want) {
			t.Errorf("QualificationWindowStart(gold, %s, Seoul) = %s, want %s", tt.now, got, tt.want)
		}
	}
	if got, want := QualificationWindowStart(seoulSilver, newYear), newYear.Add(-365*24*time.Hour); !got.Equal(want) {
		t.Errorf("rolling window start %s, want %s", got, want)
	}

	// Qualified for gold on 31 December; the new year's spend starts from
	// zero, and the member keeps gold for the 90 days' grace.
	last := newYear.Add(-time.Hour)
	in := TierInput{Current: "gold", LastQualifiedAt: map[string]time.Time{"gold": last}}
	d := EvaluateTier(s, in, newYear)
	if d.Tier != "gold" || d.GraceUntil == nil || !d.GraceUntil.Equal(last.Add(90*24*time.Hour)) {
		t.Errorf("at new year: %+v", d)
	}
	if d := EvaluateTier(s, in, last.Add(90*24*time.Hour)); d.Tier != "bronze" || d.Change != TierDowngrade {
		t.Errorf("after grace: %+v", d)
	}
}

func TestMayUpgrade(t *testing.T) {
	byPoints := ladder()
	byPoints.Tiers[2].Qualification = config.TierQualification{MinQualifyingPoints: ptr(int64(2000)), Period: config.PeriodCalendarYear}
	tests := []struct {
		name     string
		snap     *config.Snapshot
		current  string
		lifetime int64
		want     bool
	}{
		{"below every threshold above", byPoints, "bronze", 999, false},
		{"reaches the next rung", byPoints, "bronze", 1000, true},
		{"silver short of gold", byPoints, "silver", 1999, false},
		{"silver reaches gold", byPoints, "silver", 2000, true},
		{"top tier", byPoints, "gold", 1_000_000, false},
		{"a spend threshold above has no bound", ladder(), "silver", 0, true},
		{"no tier yet is the entry tier", byPoints, "", 999, false},
		{"no tier yet reaching silver", byPoints, "", 1000, true},
		{"a tier no longer on the ladder is the entry tier", byPoints, "platinum", 999, false},
		{"no tiers", &config.Snapshot{}, "", 0, false},
	}
	for _, tc := range tests {
		if got := MayUpgrade(tc.snap, tc.current, tc.lifetime); got != tc.want {
			t.Errorf("%s: MayUpgrade(%q, %d) = %v, want %v", tc.name, tc.current, tc.lifetime, got, tc.want)
		}
	}
}
