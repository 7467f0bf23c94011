package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// membershipSnapshot: 2 points per unit, bronze and gold (×1.5) tiers, a
// prime membership (×3, gold floor) and a campaign for prime members only.
func membershipSnapshot(t *testing.T) *config.Snapshot {
	t.Helper()
	s := snapshot("0s", "")
	s.Program = config.Program{Name: "p", Namespace: "n", DisplayName: "P", Currency: "EUR"}
	s.Version = config.Version
	zero, window := int64(0), config.MustDuration("365d")
	s.Tiers = []config.Tier{
		{Name: "bronze", DisplayName: "Bronze", Rank: 0, Qualification: config.TierQualification{MinQualifyingPoints: &zero, Window: &window}},
		{Name: "gold", DisplayName: "Gold", Rank: 1, EarnMultiplier: config.MustDecimal("1.5"), Qualification: config.TierQualification{MinQualifyingPoints: &zero, Window: &window}},
	}
	s.Memberships = []config.Membership{{Name: "prime", Price: config.MustDecimal("99"), Currency: "EUR", BillingPeriod: "Year",
		Benefits: config.MembershipBenefits{EarnMultiplier: config.MustDecimal("3"), TierFloor: "gold"}}}
	end := config.TimeOf(t0.Add(48 * time.Hour))
	s.Campaigns = []config.Campaign{{Name: "prime-deal", DisplayName: "Prime deal", Schedule: config.CampaignSchedule{Start: config.TimeOf(t0.Add(-time.Hour)), End: &end},
		Audience: &config.CampaignAudience{Memberships: []string{"prime"}}, Rules: config.CampaignRules{PurchaseBonus: &config.PurchaseBonus{Points: 7}}}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestPriceAppliesTheActiveMembership(t *testing.T) {
	s := membershipSnapshot(t)
	ev := Event{ID: "e1", Kind: EventPurchase, Amount: config.MustDecimal("10"), OccurredAt: t0}
	for _, tc := range []struct {
		name         string
		m            MemberContext
		points       int64
		tier, reason string
	}{
		// 10 × 2 = 20 base; gold ×1.5 and prime ×3 = 90, +7 from the prime campaign.
		{"active", MemberContext{ID: "a", Membership: "prime", MembershipEnd: t0.Add(time.Hour)}, 97, "gold", ""},
		{"period over", MemberContext{ID: "a", Membership: "prime", MembershipEnd: t0}, 20, "bronze", ReasonAudienceMembership},
		{"none", MemberContext{ID: "a"}, 20, "bronze", ReasonAudienceMembership},
		{"no longer offered", MemberContext{ID: "a", Membership: "gone", MembershipEnd: t0.Add(time.Hour)}, 20, "bronze", ReasonAudienceMembership},
	} {
		p, err := Price(s, ev, tc.m, t0)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ex := p.Explanation
		if p.Points != tc.points || ex.Tier.Name != tc.tier || ex.Campaigns[0].Reason != tc.reason {
			t.Errorf("%s: %d points, tier %s, campaign reason %q; want %d, %s, %q", tc.name, p.Points, ex.Tier.Name, ex.Campaigns[0].Reason, tc.points, tc.tier, tc.reason)
		}
		if (ex.Membership != nil) != (tc.reason == "") {
			t.Errorf("%s: membership explanation %+v", tc.name, ex.Membership)
		}
	}
}

func TestSnapshotRefusesAnAudienceOfAnUnknownMembership(t *testing.T) {
	s := membershipSnapshot(t)
	s.Campaigns[0].Audience.Memberships = []string{"gold"}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), `campaigns[prime-deal].audience.memberships: no membership named "gold"`) {
		t.Fatalf("validate: %v", err)
	}
}
