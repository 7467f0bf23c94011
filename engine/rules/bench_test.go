package rules

import (
	"fmt"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// BenchmarkPrice50Campaigns prices a purchase against a tier ladder and 50
// campaigns whose windows contain it: multipliers, purchase and action
// bonuses, audiences, recurrences in several time zones, caps, and a few
// exclusive campaigns. "stack" makes every campaign Stack so that all
// applicable ones are attributed; "exclusive" has three Exclusive ones.
func BenchmarkPrice50Campaigns(b *testing.B) {
	b.Run("stack", func(b *testing.B) { benchmarkPrice(b, false) })
	b.Run("exclusive", func(b *testing.B) { benchmarkPrice(b, true) })
}

func benchmarkPrice(b *testing.B, exclusive bool) {
	s := program("1.5", config.RoundingNearest, tier("bronze", 0, "1"), tier("silver", 1, "1.25"), tier("gold", 2, "1.5"))
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"}
	m := MemberContext{ID: "m-1", Tier: "silver", Tags: []string{"app", "vip"}, EnrolledAt: midJune.AddDate(0, 0, -3),
		BonusGranted: map[string]int64{}, BudgetRemaining: map[string]int64{}}
	for i := range 50 {
		name := fmt.Sprintf("c%02d", i)
		s.Campaigns = append(s.Campaigns, campaign(name, func(c *config.Campaign) {
			c.Priority = int32(i % 7)
			switch i % 5 {
			case 0:
				c.Rules.PointsMultiplier = ptr(config.DecimalFromUnits(10000 + int64(i)*100))
			case 1:
				c.Rules.PurchaseBonus = &config.PurchaseBonus{Points: int64(i + 1), MinimumSpend: dec("10")}
			case 2:
				c.Rules.PointsMultiplier = ptr(dec("1.1"))
				c.Rules.PurchaseBonus = &config.PurchaseBonus{Points: 5, MinimumSpend: dec("0")}
				c.Audience = &config.CampaignAudience{Tiers: []string{"silver", "gold"}, MemberTags: []string{"vip"}}
			case 3:
				c.Rules.ActionBonuses = []config.ActionBonus{{Action: "review", Points: 10}}
			case 4:
				c.Rules.PointsMultiplier = ptr(dec("1.05"))
				c.Audience = &config.CampaignAudience{NewMembersWithin: ptr(dur("30d"))}
				c.Limits = &config.CampaignLimits{TotalBonusBudget: ptr(int64(100000)), PerMemberCap: ptr(int64(500))}
				m.BonusGranted[name] = int64(i)
			}
			if i%10 == 9 {
				// Recurring every hour for an hour: always open, in its zone.
				c.Schedule.End = nil
				c.Schedule.TimeZone = zones[i%len(zones)]
				c.Schedule.Recurrence = &config.Recurrence{Cron: "0 * * * *", Duration: dur("1h")}
			}
			if exclusive && i%17 == 0 {
				c.Stacking = config.StackingExclusive
			}
		}))
	}
	// The engine prices with parsed snapshots, whose schedules Validate compiled.
	s.Version, s.Program.Namespace, s.Program.DisplayName = config.Version, "shop", "Shop"
	for i := range s.Tiers {
		s.Tiers[i].DisplayName = s.Tiers[i].Name
	}
	if err := s.Validate(); err != nil {
		b.Fatal(err)
	}
	ev := purchase("123.45", midJune)
	p, err := Price(s, ev, m, midJune)
	if err != nil {
		b.Fatal(err)
	}
	applicable := 0
	for _, c := range p.Explanation.Campaigns {
		if c.Applied || c.Reason == ReasonExclusiveOverridden {
			applicable++
		}
	}
	if applicable < 30 {
		b.Fatalf("only %d campaigns are applicable; the benchmark would not exercise stacking", applicable)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Price(s, ev, m, midJune); err != nil {
			b.Fatal(err)
		}
	}
}
