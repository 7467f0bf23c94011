package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func ptr[T any](v T) *T { return &v }

var (
	dec = config.MustDecimal
	dur = config.MustDuration
)

// program is a snapshot earning rate points per EUR with rounding, a 3-day
// grace, and the given tiers.
func program(rate, rounding string, tiers ...config.Tier) *config.Snapshot {
	return &config.Snapshot{
		Program: config.Program{Name: "shop", Currency: "EUR"},
		Points: config.PointsPolicy{
			EarnRate: dec(rate), Rounding: rounding,
			PendingPeriod:        dur("0s"),
			LateEventGracePeriod: dur("3d"),
			Actions: []config.ActionReward{
				{Name: "birthday", Points: 100},
				{Name: "review", Points: 50, MaxPerDay: ptr(int32(2))},
			},
		},
		Tiers: tiers,
	}
}

func tier(name string, rank int32, mult string) config.Tier {
	return config.Tier{Name: name, Rank: rank, EarnMultiplier: dec(mult),
		Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(rank) * 1000), Period: config.PeriodCalendarYear}}
}

// june is the single window of most test campaigns: all of June 2026 UTC.
var (
	juneStart = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	juneEnd   = time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	midJune   = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
)

// campaign is a Stack campaign over June with the given changes.
func campaign(name string, change func(*config.Campaign)) config.Campaign {
	c := config.Campaign{Name: name, DisplayName: name, Stacking: config.StackingStack,
		Schedule: config.CampaignSchedule{Start: config.TimeOf(juneStart), End: ptr(config.TimeOf(juneEnd)), TimeZone: "UTC"}}
	change(&c)
	return c
}

func multiplied(m string) func(*config.Campaign) {
	return func(c *config.Campaign) { c.Rules.PointsMultiplier = ptr(dec(m)) }
}

func purchase(amount string, at time.Time) Event {
	return Event{ID: "ev-1", Kind: EventPurchase, Amount: dec(amount), OccurredAt: at}
}

func mustPrice(t *testing.T, s *config.Snapshot, ev Event, m MemberContext, now time.Time) Pricing {
	t.Helper()
	p, err := Price(s, ev, m, now)
	if err != nil {
		t.Fatalf("Price: %v", err)
	}
	checkSums(t, p)
	return p
}

// checkSums verifies the explanation's arithmetic identities.
func checkSums(t *testing.T, p Pricing) {
	t.Helper()
	ex := p.Explanation
	var attributed, granted int64
	for _, c := range ex.Campaigns {
		if !c.Applied && (c.Attributed != 0 || c.Granted != 0 || c.Reason == "") {
			t.Errorf("campaign %s not applied but attributed %d, granted %d, reason %q", c.Name, c.Attributed, c.Granted, c.Reason)
		}
		if c.Granted > c.Attributed || c.Attributed < 0 || c.Granted < 0 {
			t.Errorf("campaign %s: attributed %d, granted %d", c.Name, c.Attributed, c.Granted)
		}
		attributed += c.Attributed
		granted += c.Granted
	}
	if attributed != ex.CampaignBonus || granted != ex.CampaignPointsGranted ||
		ex.Points != ex.PointsWithoutCampaigns+granted || p.Points != ex.Points {
		t.Errorf("sums: Σattributed %d, bonus %d, Σgranted %d, granted %d, without %d, points %d/%d",
			attributed, ex.CampaignBonus, granted, ex.CampaignPointsGranted, ex.PointsWithoutCampaigns, ex.Points, p.Points)
	}
}

func campaignByName(t *testing.T, p Pricing, name string) CampaignExplanation {
	t.Helper()
	for _, c := range p.Explanation.Campaigns {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("campaign %s not in the explanation", name)
	return CampaignExplanation{}
}

func TestPriceBaseRoundingAndTier(t *testing.T) {
	tiers := []config.Tier{tier("bronze", 0, "1"), tier("silver", 1, "1.5"), tier("gold", 2, "2.25")}
	tests := []struct {
		name, amount, rate, mode, tier string
		noTiers                        bool
		wantBase, want                 int64
		wantTier                       string
	}{
		{name: "floor", amount: "3.3", rate: "2.5", mode: config.RoundingFloor, tier: "bronze", wantBase: 8, want: 8, wantTier: "bronze"},
		{name: "nearest below half", amount: "3.3", rate: "2.5", mode: config.RoundingNearest, tier: "bronze", wantBase: 8, want: 8, wantTier: "bronze"},
		{name: "ceiling", amount: "3.3", rate: "2.5", mode: config.RoundingCeiling, tier: "bronze", wantBase: 9, want: 9, wantTier: "bronze"},
		{name: "nearest half up", amount: "0.5", rate: "1", mode: config.RoundingNearest, tier: "bronze", wantBase: 1, want: 1, wantTier: "bronze"},
		// 3.3 × 2.5 × 1.5 = 12.375: rounded once, not 8 × 1.5 = 12 or 9 × 1.5.
		{name: "silver floor", amount: "3.3", rate: "2.5", mode: config.RoundingFloor, tier: "silver", wantBase: 8, want: 12, wantTier: "silver"},
		{name: "silver ceiling", amount: "3.3", rate: "2.5", mode: config.RoundingCeiling, tier: "silver", wantBase: 9, want: 13, wantTier: "silver"},
		// 9.99 × 1 × 2.25 = 22.4775.
		{name: "gold nearest", amount: "9.99", rate: "1", mode: config.RoundingNearest, tier: "gold", wantBase: 10, want: 22, wantTier: "gold"},
		{name: "empty tier is entry", amount: "10", rate: "1", mode: config.RoundingFloor, tier: "", wantBase: 10, want: 10, wantTier: "bronze"},
		{name: "unknown tier is entry", amount: "10", rate: "1", mode: config.RoundingFloor, tier: "platinum", wantBase: 10, want: 10, wantTier: "bronze"},
		{name: "no tiers", amount: "10", rate: "1.1", mode: config.RoundingFloor, noTiers: true, wantBase: 11, want: 11},
		{name: "smallest ceiling", amount: "0.0001", rate: "0.0001", mode: config.RoundingCeiling, noTiers: true, wantBase: 1, want: 1},
		{name: "smallest nearest", amount: "0.0001", rate: "0.0001", mode: config.RoundingNearest, noTiers: true, wantBase: 0, want: 0},
		// The largest values a snapshot allows overflow int64 in 1/10^8 units; the product stays exact.
		{name: "largest", amount: "999999999.9999", rate: "999999999.9999", mode: config.RoundingFloor, noTiers: true, wantBase: 999999999999800000, want: 999999999999800000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := program(tt.rate, tt.mode, tiers...)
			if tt.noTiers {
				s.Tiers = nil
			}
			p := mustPrice(t, s, purchase(tt.amount, midJune), MemberContext{Tier: tt.tier}, midJune)
			ex := p.Explanation
			if ex.Base.Points != tt.wantBase || p.Points != tt.want || ex.PointsWithoutCampaigns != tt.want {
				t.Errorf("base %d, points %d, without campaigns %d; want %d, %d", ex.Base.Points, p.Points, ex.PointsWithoutCampaigns, tt.wantBase, tt.want)
			}
			gotTier := ""
			if ex.Tier != nil {
				gotTier = ex.Tier.Name
			}
			if gotTier != tt.wantTier {
				t.Errorf("tier %q, want %q", gotTier, tt.wantTier)
			}
		})
	}
}

func TestPriceWindowBoundaries(t *testing.T) {
	s := program("1", config.RoundingFloor)
	s.Campaigns = []config.Campaign{campaign("june", multiplied("2"))}
	tests := []struct {
		name       string
		occurredAt time.Time
		applied    bool
		relation   string
	}{
		{"1ns before start", juneStart.Add(-time.Nanosecond), false, "next"},
		{"at start", juneStart, true, "current"},
		{"1ns before end", juneEnd.Add(-time.Nanosecond), true, "current"},
		{"at end", juneEnd, false, "previous"},
	}
	for _, tt := range tests {
		for _, late := range []time.Duration{0, 71 * time.Hour} {
			t.Run(fmt.Sprintf("%s arriving %s later", tt.name, late), func(t *testing.T) {
				// Judged by occurrence, whenever the event arrives inside the grace.
				p := mustPrice(t, s, purchase("10", tt.occurredAt), MemberContext{}, tt.occurredAt.Add(late))
				c := campaignByName(t, p, "june")
				want := int64(10)
				if tt.applied {
					want = 20
				}
				if c.Applied != tt.applied || p.Points != want {
					t.Fatalf("applied %v, points %d; want %v, %d", c.Applied, p.Points, tt.applied, want)
				}
				if !tt.applied && c.Reason != ReasonOutsideWindow {
					t.Errorf("reason %q", c.Reason)
				}
				if c.Window == nil || c.Window.Relation != tt.relation || !c.Window.Start.Equal(juneStart) || !c.Window.End.Equal(juneEnd) {
					t.Errorf("window %+v, want June as %s", c.Window, tt.relation)
				}
			})
		}
	}
	// Past the grace the event is refused whatever the campaign.
	_, err := Price(s, purchase("10", juneEnd.Add(-time.Nanosecond)), MemberContext{}, juneEnd.Add(72*time.Hour))
	if !errors.Is(err, ErrTooLate) {
		t.Errorf("late event: %v, want ErrTooLate", err)
	}
}

func TestPriceRecurrenceAcrossDST(t *testing.T) {
	daily := func(zone, cron string) *config.Snapshot {
		s := program("1", config.RoundingFloor)
		s.Campaigns = []config.Campaign{campaign("happy", func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec("2"))
			c.Schedule = config.CampaignSchedule{Start: config.MustTime("2026-01-01T00:00:00Z"), TimeZone: zone,
				Recurrence: &config.Recurrence{Cron: cron, Duration: dur("2h")}}
		})}
		return s
	}
	utc := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	tests := []struct {
		name       string
		s          *config.Snapshot
		occurredAt time.Time
		applied    bool
	}{
		// New York springs forward on 2026-03-08: 01:00 local is 06:00Z the
		// day before and on the day, 05:00Z the day after.
		{"NY before the change opens at 06:00Z", daily("America/New_York", "0 1 * * *"), utc("2026-03-07T06:00:00Z"), true},
		{"NY before the change, 1ns before open", daily("America/New_York", "0 1 * * *"), utc("2026-03-07T05:59:59.999999999Z"), false},
		{"NY on the change, 2h elapsed across the gap", daily("America/New_York", "0 1 * * *"), utc("2026-03-08T07:59:59.999999999Z"), true},
		{"NY on the change, closes at 08:00Z (04:00 EDT)", daily("America/New_York", "0 1 * * *"), utc("2026-03-08T08:00:00Z"), false},
		{"NY after the change opens at 05:00Z", daily("America/New_York", "0 1 * * *"), utc("2026-03-09T05:00:00Z"), true},
		{"NY after the change, 1ns before open", daily("America/New_York", "0 1 * * *"), utc("2026-03-09T04:59:59.999999999Z"), false},
		{"NY after the change closes at 07:00Z", daily("America/New_York", "0 1 * * *"), utc("2026-03-09T07:00:00Z"), false},
		// Berlin falls back on 2026-10-25: 09:00 local is 07:00Z before, 08:00Z after.
		{"Berlin before the change", daily("Europe/Berlin", "0 9 * * *"), utc("2026-10-24T07:00:00Z"), true},
		{"Berlin on the change, 07:30Z is 08:30 CET", daily("Europe/Berlin", "0 9 * * *"), utc("2026-10-25T07:30:00Z"), false},
		{"Berlin on the change opens at 08:00Z", daily("Europe/Berlin", "0 9 * * *"), utc("2026-10-25T08:00:00Z"), true},
		{"Berlin on the change, 1ns before close", daily("Europe/Berlin", "0 9 * * *"), utc("2026-10-25T09:59:59.999999999Z"), true},
		{"Berlin on the change closes at 10:00Z", daily("Europe/Berlin", "0 9 * * *"), utc("2026-10-25T10:00:00Z"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPrice(t, tt.s, purchase("10", tt.occurredAt), MemberContext{}, tt.occurredAt.Add(time.Hour))
			if c := campaignByName(t, p, "happy"); c.Applied != tt.applied {
				t.Fatalf("applied %v (%s %s), want %v", c.Applied, c.Reason, c.Message, tt.applied)
			}
		})
	}
}

func TestPriceStacking(t *testing.T) {
	stackA := campaign("a-double", func(c *config.Campaign) { c.Rules.PointsMultiplier = ptr(dec("2")); c.Priority = 5 })
	stackB := campaign("b-bonus", func(c *config.Campaign) {
		c.Rules.PurchaseBonus = &config.PurchaseBonus{Points: 10, MinimumSpend: dec("0")}
		c.Priority = 1
	})
	exclusive := func(name string, prio int32, mult string) config.Campaign {
		return campaign(name, func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec(mult))
			c.Stacking, c.Priority = config.StackingExclusive, prio
		})
	}
	type want struct {
		applied    map[string]int64 // name → attributed
		overridden string           // the winner others name
	}
	tests := []struct {
		name      string
		campaigns []config.Campaign
		points    int64
		want      want
	}{
		// 10 × 2 = 20, + 10 = 30; a-double (priority 5) first: 10, then b-bonus: 10.
		{"stack multiplies and adds", []config.Campaign{stackA, stackB}, 30,
			want{applied: map[string]int64{"a-double": 10, "b-bonus": 10}}},
		// Equal priorities: excl-a sorts first; 10 × 1.5 = 15.
		{"exclusive tie goes to the first name", []config.Campaign{stackA, stackB, exclusive("excl-b", 3, "3"), exclusive("excl-a", 3, "1.5")}, 15,
			want{applied: map[string]int64{"excl-a": 5}, overridden: "excl-a"}},
		{"highest priority exclusive wins", []config.Campaign{stackA, stackB, exclusive("excl-b", 4, "3"), exclusive("excl-a", 3, "1.5")}, 30,
			want{applied: map[string]int64{"excl-b": 20}, overridden: "excl-b"}},
		{"exclusive below stackers' priority still wins", []config.Campaign{stackA, exclusive("excl-low", 0, "1.25")}, 12,
			want{applied: map[string]int64{"excl-low": 2}, overridden: "excl-low"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := program("1", config.RoundingFloor)
			s.Campaigns = tt.campaigns
			p := mustPrice(t, s, purchase("10", midJune), MemberContext{}, midJune)
			if p.Points != tt.points {
				t.Errorf("points %d, want %d", p.Points, tt.points)
			}
			for _, c := range p.Explanation.Campaigns {
				attr, ok := tt.want.applied[c.Name]
				switch {
				case ok && (!c.Applied || c.Attributed != attr || c.Granted != attr):
					t.Errorf("%s: applied %v, attributed %d, granted %d; want %d", c.Name, c.Applied, c.Attributed, c.Granted, attr)
				case !ok && (c.Applied || c.Reason != ReasonExclusiveOverridden || c.OverriddenBy != tt.want.overridden || c.Multiplier != nil):
					t.Errorf("%s: applied %v, reason %q, overriddenBy %q", c.Name, c.Applied, c.Reason, c.OverriddenBy)
				}
			}
		})
	}
	// Attribution order is priority descending then name, in the explanation too.
	s := program("1", config.RoundingFloor)
	s.Campaigns = []config.Campaign{stackB, stackA, exclusive("excl-b", 3, "3"), exclusive("excl-a", 3, "1.5")}
	var order []string
	for _, c := range mustPrice(t, s, purchase("10", midJune), MemberContext{}, midJune).Explanation.Campaigns {
		order = append(order, c.Name)
	}
	if got := strings.Join(order, ","); got != "a-double,excl-a,excl-b,b-bonus" {
		t.Errorf("order %s", got)
	}
}

func TestPriceAudience(t *testing.T) {
	enrolled := midJune.Add(-30 * 24 * time.Hour)
	s := program("1", config.RoundingFloor, tier("bronze", 0, "1"), tier("silver", 1, "1"))
	s.Campaigns = []config.Campaign{
		campaign("silver-only", func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec("2"))
			c.Audience = &config.CampaignAudience{Tiers: []string{"silver"}}
		}),
		campaign("tagged", func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec("2"))
			c.Audience = &config.CampaignAudience{MemberTags: []string{"vip", "staff"}}
		}),
		campaign("welcome", func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec("2"))
			c.Audience = &config.CampaignAudience{NewMembersWithin: ptr(dur("30d"))}
		}),
	}
	tests := []struct {
		name     string
		m        MemberContext
		campaign string
		reason   string
	}{
		{"tier listed", MemberContext{Tier: "silver"}, "silver-only", ""},
		{"tier not listed", MemberContext{Tier: "bronze"}, "silver-only", ReasonAudienceTier},
		{"entry tier by default", MemberContext{}, "silver-only", ReasonAudienceTier},
		{"any tag", MemberContext{Tags: []string{"other", "staff"}}, "tagged", ""},
		{"no tag", MemberContext{Tags: []string{"other"}}, "tagged", ReasonAudienceTags},
		{"enrolled exactly 30d before", MemberContext{EnrolledAt: enrolled}, "welcome", ""},
		{"enrolled 30d and 1ns before", MemberContext{EnrolledAt: enrolled.Add(-time.Nanosecond)}, "welcome", ReasonNotNewMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := campaignByName(t, mustPrice(t, s, purchase("10", midJune), tt.m, midJune), tt.campaign)
			if c.Applied != (tt.reason == "") || c.Reason != tt.reason || (tt.reason != "" && c.Message == "") {
				t.Errorf("applied %v, reason %q (%s); want %q", c.Applied, c.Reason, c.Message, tt.reason)
			}
		})
	}
}

func TestPriceActions(t *testing.T) {
	s := program("1", config.RoundingFloor, tier("bronze", 0, "1"), tier("silver", 1, "1.5"))
	s.Campaigns = []config.Campaign{
		campaign("review-week", func(c *config.Campaign) {
			c.Rules.ActionBonuses = []config.ActionBonus{{Action: "review", Points: 25}}
		}),
		campaign("double", multiplied("2")),
	}
	action := func(name string) Event { return Event{ID: "a-1", Kind: EventAction, Action: name, OccurredAt: midJune} }
	tests := []struct {
		name          string
		ev            Event
		m             MemberContext
		points, base  int64
		limitReached  bool
		reviewReason  string
		doubleReason  string
		errCode, errF string
	}{
		// round(50 × 1.5) = 75, + 25 from the campaign; multipliers are for purchases only.
		{name: "review under the daily cap", ev: action("review"), m: MemberContext{Tier: "silver", ActionsInPeriod: 1},
			points: 100, base: 50, doubleReason: ReasonNoRuleForEvent},
		{name: "review at the daily cap earns nothing", ev: action("review"), m: MemberContext{Tier: "silver", ActionsInPeriod: 2},
			points: 0, base: 0, limitReached: true, reviewReason: ReasonDailyLimitReached, doubleReason: ReasonNoRuleForEvent},
		{name: "birthday has no cap and no campaign bonus", ev: action("birthday"), m: MemberContext{ActionsInPeriod: 7},
			points: 100, base: 100, reviewReason: ReasonNoRuleForEvent, doubleReason: ReasonNoRuleForEvent},
		{name: "purchase gets no action bonus", ev: purchase("10", midJune), m: MemberContext{},
			points: 20, base: 10, reviewReason: ReasonNoRuleForEvent},
		{name: "unknown action", ev: action("selfie"), errCode: CodeUnknownAction, errF: "action"},
		{name: "missing action", ev: action(""), errCode: CodeInvalidEvent, errF: "action"},
		{name: "unknown kind", ev: Event{Kind: "refund", OccurredAt: midJune}, errCode: CodeInvalidEvent, errF: "kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.errCode != "" {
				_, err := Price(s, tt.ev, tt.m, midJune)
				var re *Error
				if !errors.As(err, &re) || re.Code != tt.errCode || re.Field != tt.errF || re.Message == "" {
					t.Fatalf("error %v, want code %s on %s", err, tt.errCode, tt.errF)
				}
				return
			}
			p := mustPrice(t, s, tt.ev, tt.m, midJune)
			ex := p.Explanation
			if p.Points != tt.points || ex.Base.Points != tt.base || ex.Base.DailyLimitReached != tt.limitReached {
				t.Errorf("points %d, base %d, limit %v; want %d, %d, %v", p.Points, ex.Base.Points, ex.Base.DailyLimitReached, tt.points, tt.base, tt.limitReached)
			}
			if r := campaignByName(t, p, "review-week").Reason; r != tt.reviewReason {
				t.Errorf("review-week reason %q, want %q", r, tt.reviewReason)
			}
			if r := campaignByName(t, p, "double").Reason; r != tt.doubleReason {
				t.Errorf("double reason %q, want %q", r, tt.doubleReason)
			}
		})
	}
}

func TestPricePurchaseBonusMinimumSpend(t *testing.T) {
	s := program("1", config.RoundingFloor)
	s.Campaigns = []config.Campaign{
		campaign("big-basket", func(c *config.Campaign) {
			c.Rules.PurchaseBonus = &config.PurchaseBonus{Points: 100, MinimumSpend: dec("50")}
		}),
		campaign("double-and-bonus", func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec("2"))
			c.Rules.PurchaseBonus = &config.PurchaseBonus{Points: 7, MinimumSpend: dec("50")}
		}),
	}
	tests := []struct {
		amount        string
		points        int64
		bigBasket     string // reason
		bigBasketMsg  string
		combinedBonus int64
		combinedMsg   string
	}{
		// 49.99 × 2 = 99.98 → 99 (rounded once, not 49 × 2): +50; the bonus needs 50.
		{"49.99", 99, ReasonBelowMinimumSpend, "purchase of 49.99 is below the minimum spend 50",
			0, "no purchase bonus: 49.99 is below the minimum spend 50"},
		// 50 → 50; ×2 = 100, + 100 + 7 = 207.
		{"50", 207, "", "", 7, ""},
	}
	for _, tt := range tests {
		t.Run(tt.amount, func(t *testing.T) {
			p := mustPrice(t, s, purchase(tt.amount, midJune), MemberContext{}, midJune)
			if p.Points != tt.points {
				t.Errorf("points %d, want %d", p.Points, tt.points)
			}
			if c := campaignByName(t, p, "big-basket"); c.Reason != tt.bigBasket || c.Message != tt.bigBasketMsg {
				t.Errorf("big-basket reason %q (%q), want %q (%q)", c.Reason, c.Message, tt.bigBasket, tt.bigBasketMsg)
			}
			if c := campaignByName(t, p, "double-and-bonus"); !c.Applied || c.Bonus != tt.combinedBonus || c.Multiplier == nil || c.Message != tt.combinedMsg {
				t.Errorf("double-and-bonus %+v", c)
			}
		})
	}
}

func TestPriceCaps(t *testing.T) {
	// 100 EUR at rate 1 is 100 points; the triple campaign attributes 200.
	capped := func(budget, perMember *int64, stacking string) *config.Snapshot {
		s := program("1", config.RoundingFloor)
		s.Campaigns = []config.Campaign{
			campaign("triple", func(c *config.Campaign) {
				c.Rules.PointsMultiplier = ptr(dec("3"))
				c.Limits = &config.CampaignLimits{TotalBonusBudget: budget, PerMemberCap: perMember}
				c.Stacking, c.Priority = stacking, 9
			}),
			campaign("bonus", func(c *config.Campaign) {
				c.Rules.PurchaseBonus = &config.PurchaseBonus{Points: 5, MinimumSpend: dec("0")}
			}),
		}
		return s
	}
	i64 := func(n int64) *int64 { return &n }
	tests := []struct {
		name      string
		s         *config.Snapshot
		m         MemberContext
		points    int64
		reason    string
		cap       *CapHit
		bonusDone string // reason of the "bonus" campaign
	}{
		{name: "caps unknown", s: capped(i64(1000), i64(50), config.StackingStack), m: MemberContext{},
			points: 305},
		{name: "member cap partial", s: capped(i64(1000), i64(50), config.StackingStack),
			m:      MemberContext{BonusGranted: map[string]int64{"triple": 20}, BudgetRemaining: map[string]int64{}},
			points: 135, cap: &CapHit{Campaign: "triple", Cap: CapPerMember, Remaining: 30, Attributed: 200, Granted: 30}},
		{name: "member never granted has the whole cap", s: capped(nil, i64(50), config.StackingStack),
			m:      MemberContext{BonusGranted: map[string]int64{}},
			points: 155, cap: &CapHit{Campaign: "triple", Cap: CapPerMember, Remaining: 50, Attributed: 200, Granted: 50}},
		{name: "budget partial is tighter", s: capped(i64(1000), i64(50), config.StackingStack),
			m:      MemberContext{BonusGranted: map[string]int64{"triple": 20}, BudgetRemaining: map[string]int64{"triple": 10}},
			points: 115, cap: &CapHit{Campaign: "triple", Cap: CapBudget, Remaining: 10, Attributed: 200, Granted: 10}},
		{name: "untouched budget is whole", s: capped(i64(150), nil, config.StackingStack),
			m:      MemberContext{BudgetRemaining: map[string]int64{"other": 0}},
			points: 255, cap: &CapHit{Campaign: "triple", Cap: CapBudget, Remaining: 150, Attributed: 200, Granted: 150}},
		{name: "budget exhausted", s: capped(i64(1000), nil, config.StackingStack),
			m:      MemberContext{BudgetRemaining: map[string]int64{"triple": 0}},
			points: 105, reason: ReasonBudgetExhausted},
		{name: "member cap reached", s: capped(nil, i64(50), config.StackingStack),
			m:      MemberContext{BonusGranted: map[string]int64{"triple": 50}},
			points: 105, reason: ReasonMemberCapReached},
		{name: "exhausted exclusive does not block stackers", s: capped(i64(1000), nil, config.StackingExclusive),
			m:      MemberContext{BudgetRemaining: map[string]int64{"triple": 0}},
			points: 105, reason: ReasonBudgetExhausted},
		{name: "exclusive with room overrides", s: capped(i64(1000), nil, config.StackingExclusive),
			m:      MemberContext{BudgetRemaining: map[string]int64{"triple": 40}},
			points: 140, cap: &CapHit{Campaign: "triple", Cap: CapBudget, Remaining: 40, Attributed: 200, Granted: 40},
			bonusDone: ReasonExclusiveOverridden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPrice(t, tt.s, purchase("100", midJune), tt.m, midJune)
			c := campaignByName(t, p, "triple")
			if p.Points != tt.points || c.Reason != tt.reason {
				t.Errorf("points %d, reason %q; want %d, %q", p.Points, c.Reason, tt.points, tt.reason)
			}
			if (c.Cap == nil) != (tt.cap == nil) || c.Cap != nil && *c.Cap != *tt.cap {
				t.Errorf("cap %+v, want %+v", c.Cap, tt.cap)
			}
			if wantHits := tt.cap != nil; wantHits != (len(p.Explanation.CapsHit) == 1) {
				t.Errorf("capsHit %+v", p.Explanation.CapsHit)
			}
			if r := campaignByName(t, p, "bonus").Reason; r != tt.bonusDone {
				t.Errorf("bonus reason %q, want %q", r, tt.bonusDone)
			}
		})
	}
}

// TestPriceAttributionProperty checks on random programs that the
// attributions add up to the campaign bonus, against an independent
// big.Rat computation of the total.
func TestPriceAttributionProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	modes := []string{config.RoundingFloor, config.RoundingNearest, config.RoundingCeiling}
	randDecimal := func(maxUnits int64, step int64) config.Decimal {
		return config.DecimalFromUnits(r.Int64N(maxUnits/step+1) * step)
	}
	for i := range 2000 {
		tierMult := config.DecimalFromUnits(10000 + r.Int64N(901)*100) // 1 to 10, two places
		s := program(randDecimal(50000, 1).String(), modes[r.IntN(3)], config.Tier{Name: "t", Rank: 0, EarnMultiplier: tierMult})
		m := MemberContext{}
		if r.IntN(2) == 0 {
			m.BonusGranted, m.BudgetRemaining = map[string]int64{}, map[string]int64{}
		}
		for j := range r.IntN(6) {
			name := fmt.Sprintf("c%d", j)
			s.Campaigns = append(s.Campaigns, campaign(name, func(c *config.Campaign) {
				if r.IntN(3) > 0 {
					c.Rules.PointsMultiplier = ptr(config.DecimalFromUnits(10000 + r.Int64N(901)*100))
				}
				if r.IntN(2) == 0 || c.Rules.PointsMultiplier == nil {
					c.Rules.PurchaseBonus = &config.PurchaseBonus{Points: 1 + r.Int64N(50), MinimumSpend: randDecimal(1000000, 100)}
				}
				if r.IntN(4) == 0 {
					c.Stacking = config.StackingExclusive
				}
				c.Priority = int32(r.IntN(3))
				if r.IntN(3) == 0 {
					c.Limits = &config.CampaignLimits{PerMemberCap: ptr(r.Int64N(200))}
					if m.BonusGranted != nil {
						m.BonusGranted[name] = r.Int64N(100)
					}
				}
			}))
		}
		ev := purchase(randDecimal(2000000, 1).String(), midJune)
		p, err := Price(s, ev, m, midJune)
		if err != nil {
			t.Fatal(err)
		}
		checkSums(t, p)

		// Independently: total = round(amount × rate × tier × Π multipliers) + Σ bonuses.
		v := new(big.Rat).SetFrac64(ev.Amount.Units()*s.Points.EarnRate.Units(), 1e8)
		v.Mul(v, big.NewRat(tierMult.Units(), 1e4))
		without := roundRat(v, s.Points.Rounding)
		var bonuses int64
		for _, c := range p.Explanation.Campaigns {
			if c.Applied {
				if c.Multiplier != nil {
					v.Mul(v, big.NewRat(c.Multiplier.Units(), 1e4))
				}
				bonuses += c.Bonus
			}
		}
		total := roundRat(v, s.Points.Rounding) + bonuses
		if ex := p.Explanation; ex.PointsWithoutCampaigns != without || ex.CampaignBonus != total-without {
			t.Fatalf("case %d: without %d, bonus %d; want %d, %d", i, ex.PointsWithoutCampaigns, ex.CampaignBonus, without, total-without)
		}
	}
}

func roundRat(v *big.Rat, mode string) int64 {
	q, rem := new(big.Int).QuoRem(v.Num(), v.Denom(), new(big.Int))
	if rem.Sign() == 0 {
		return q.Int64()
	}
	switch mode {
	case config.RoundingCeiling:
		return q.Int64() + 1
	case config.RoundingNearest:
		if new(big.Int).Mul(rem, big.NewInt(2)).Cmp(v.Denom()) >= 0 {
			return q.Int64() + 1
		}
	}
	return q.Int64()
}

// TestPriceExplanationReasons gets every not-applied reason in one event
// and checks the wire format.
func TestPriceExplanationReasons(t *testing.T) {
	s := program("1", config.RoundingFloor, tier("bronze", 0, "1"), tier("silver", 1, "1.5"))
	s.Campaigns = []config.Campaign{
		campaign("paused", func(c *config.Campaign) { c.Rules.PointsMultiplier = ptr(dec("2")); c.Paused = true }),
		campaign("later", func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec("2"))
			c.Schedule.Start, c.Schedule.End = config.TimeOf(juneEnd), ptr(config.TimeOf(juneEnd.Add(24*time.Hour)))
		}),
		campaign("gold-tier", func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec("2"))
			c.Audience = &config.CampaignAudience{Tiers: []string{"bronze"}}
		}),
		campaign("vip", func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec("2"))
			c.Audience = &config.CampaignAudience{MemberTags: []string{"vip"}}
		}),
		campaign("welcome", func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec("2"))
			c.Audience = &config.CampaignAudience{NewMembersWithin: ptr(dur("7d"))}
		}),
		campaign("big-basket", func(c *config.Campaign) {
			c.Rules.PurchaseBonus = &config.PurchaseBonus{Points: 100, MinimumSpend: dec("500")}
		}),
		campaign("reviews", func(c *config.Campaign) {
			c.Rules.ActionBonuses = []config.ActionBonus{{Action: "review", Points: 10}}
		}),
		campaign("budget", func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec("2"))
			c.Limits = &config.CampaignLimits{TotalBonusBudget: ptr(int64(100))}
		}),
		campaign("member-cap", func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec("2"))
			c.Limits = &config.CampaignLimits{PerMemberCap: ptr(int64(10))}
		}),
		campaign("stacker", multiplied("2")),
		campaign("winner", func(c *config.Campaign) {
			c.Rules.PointsMultiplier = ptr(dec("1.2"))
			c.Rules.PurchaseBonus = &config.PurchaseBonus{Points: 3, MinimumSpend: dec("0")}
			c.Limits = &config.CampaignLimits{PerMemberCap: ptr(int64(100))}
			c.Stacking, c.Priority = config.StackingExclusive, 10
		}),
	}
	m := MemberContext{ID: "m-1", Tier: "silver", EnrolledAt: midJune.AddDate(-1, 0, 0),
		BonusGranted: map[string]int64{"member-cap": 10, "winner": 95}, BudgetRemaining: map[string]int64{"budget": 0}}
	p := mustPrice(t, s, purchase("12.5", midJune), m, midJune)
	want := map[string]string{
		"paused": ReasonPaused, "later": ReasonOutsideWindow, "gold-tier": ReasonAudienceTier, "vip": ReasonAudienceTags,
		"welcome": ReasonNotNewMember, "big-basket": ReasonBelowMinimumSpend, "reviews": ReasonNoRuleForEvent,
		"budget": ReasonBudgetExhausted, "member-cap": ReasonMemberCapReached, "stacker": ReasonExclusiveOverridden, "winner": "",
	}
	for _, c := range p.Explanation.Campaigns {
		if c.Reason != want[c.Name] || (c.Reason != "" && c.Message == "") {
			t.Errorf("%s: reason %q (%s), want %q", c.Name, c.Reason, c.Message, want[c.Name])
		}
	}

	// 12.5 × 1 × 1.5 = 18.75 → 18; × 1.2 = 22.5 → 22, + 3 = 25: 7 attributed, 5 granted (cap 100 − 95).
	got, err := json.Marshal(p.Explanation)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	winner := `{"name":"winner","displayName":"winner","stacking":"Exclusive","priority":10,"applied":true,` +
		`"message":"perMemberCap leaves 5 of the 7 bonus points",` +
		`"window":{"start":"2026-06-01T00:00:00Z","end":"2026-07-01T00:00:00Z","relation":"current"},` +
		`"multiplier":"1.2","bonus":3,"attributed":7,"granted":5,` +
		`"cap":{"campaign":"winner","cap":"perMemberCap","remaining":5,"attributed":7,"granted":5}}`
	later := `{"name":"later","displayName":"later","stacking":"Stack","priority":0,"applied":false,"reason":"outsideWindow",` +
		`"message":"occurredAt 2026-06-15T12:00:00Z is outside the campaign's windows",` +
		`"window":{"start":"2026-07-01T00:00:00Z","end":"2026-07-02T00:00:00Z","relation":"next"},"attributed":0,"granted":0}`
	stacker := `{"name":"stacker","displayName":"stacker","stacking":"Stack","priority":0,"applied":false,"reason":"exclusiveOverridden",` +
		`"message":"exclusive campaign \"winner\" (priority 10) applies instead",` +
		`"window":{"start":"2026-06-01T00:00:00Z","end":"2026-07-01T00:00:00Z","relation":"current"},` +
		`"overriddenBy":"winner","attributed":0,"granted":0}`
	head := `{"eventId":"ev-1","kind":"purchase","rounding":"Floor",` +
		`"base":{"amount":"12.5","currency":"EUR","earnRate":"1","exact":"12.5","points":12,"message":"12.5 EUR × 1 points per unit = 12.5"},` +
		`"tier":{"name":"silver","rank":1,"earnMultiplier":"1.5"},` +
		`"pointsWithoutCampaigns":18,"campaignBonus":7,"campaignPointsGranted":5,"points":23,"campaigns":[` + winner + `,`
	if s := string(got); !strings.HasPrefix(s, head) || !strings.Contains(s, later) || !strings.Contains(s, stacker) ||
		!strings.HasSuffix(s, `],"capsHit":[{"campaign":"winner","cap":"perMemberCap","remaining":5,"attributed":7,"granted":5}]}`) {
		t.Errorf("explanation JSON:\n%s\nwant it to start with\n%s\nand contain\n%s\n%s", s, head, later, stacker)
	}
	if len(doc["campaigns"].([]any)) != len(s.Campaigns) {
		t.Errorf("campaigns %v", doc["campaigns"])
	}
}

func TestPriceInvalidSchedule(t *testing.T) {
	s := program("1", config.RoundingFloor)
	s.Campaigns = []config.Campaign{campaign("lost", func(c *config.Campaign) {
		c.Rules.PointsMultiplier = ptr(dec("2"))
		c.Schedule.TimeZone = "Nowhere/Atlantis"
	})}
	_, err := Price(s, purchase("10", midJune), MemberContext{}, midJune)
	wantCode(t, err, CodeInvalidSnapshot, "campaigns[lost].schedule")
}
