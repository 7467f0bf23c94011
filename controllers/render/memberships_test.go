package render_test

import (
	"strings"
	"testing"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func withMemberships(ms ...loyaltyv1alpha1.Membership) *loyaltyv1alpha1.LoyaltyProgram {
	p := program()
	p.Spec.Memberships = ms
	return p
}

func prime() loyaltyv1alpha1.Membership {
	return loyaltyv1alpha1.Membership{
		Name: "prime", Price: loyaltyv1alpha1.Money{Amount: "99", Currency: "EUR"}, BillingPeriod: "Year",
		Benefits: loyaltyv1alpha1.MembershipBenefits{EarnMultiplier: "2.5", TierFloor: "silver"},
	}
}

func TestResolveRendersMemberships(t *testing.T) {
	box := loyaltyv1alpha1.Membership{
		Name: "bean-box", Price: loyaltyv1alpha1.Money{Amount: "19.99", Currency: "EUR"}, BillingPeriod: "30d",
		Streak: &loyaltyv1alpha1.RenewalStreak{Renewals: 3, BonusPoints: 500},
	}
	res := render.Resolve(render.ProgramObjects{
		Program: withMemberships(prime(), box),
		Tiers:   []loyaltyv1alpha1.Tier{tier("bronze", 0, epoch), tier("silver", 1, epoch)},
	})
	if res.ProgramProblem != "" {
		t.Fatalf("program problem: %s", res.ProgramProblem)
	}
	ms := res.Snapshot.Memberships
	if len(ms) != 2 || ms[0].Name != "bean-box" || ms[1].Name != "prime" {
		t.Fatalf("memberships = %+v, want bean-box and prime sorted by name", ms)
	}
	b, p := ms[0], ms[1]
	if b.Price.String() != "19.99" || b.Currency != "EUR" || b.BillingPeriod != "30d" || b.Benefits.EarnMultiplier.String() != "1" {
		t.Errorf("bean-box rendered as %+v; an omitted multiplier is 1", b)
	}
	if b.Streak == nil || b.Streak.Renewals != 3 || b.Streak.BonusPoints != 500 {
		t.Errorf("bean-box streak rendered as %+v", b.Streak)
	}
	if p.Benefits.EarnMultiplier.String() != "2.5" || p.Benefits.TierFloor != "silver" || p.Streak != nil || p.BillingPeriod != config.BillingYear {
		t.Errorf("prime rendered as %+v", p)
	}
}

func TestResolveWithoutMembershipsKeepsTheHash(t *testing.T) {
	a := render.Resolve(render.ProgramObjects{Program: program()})
	b := render.Resolve(render.ProgramObjects{Program: withMemberships()})
	if a.Snapshot.Hash() != b.Snapshot.Hash() {
		t.Fatal("an empty list of memberships changed the snapshot's hash")
	}
	data, err := a.Snapshot.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "memberships") {
		t.Errorf("a program without memberships rendered %s", data)
	}
}

func TestResolveRefusesATierFloorNotInEffect(t *testing.T) {
	res := render.Resolve(render.ProgramObjects{Program: withMemberships(prime()), Tiers: []loyaltyv1alpha1.Tier{tier("bronze", 0, epoch)}})
	if res.Snapshot != nil || !strings.Contains(res.ProgramProblem, "spec.memberships[prime].benefits.tierFloor names Tier silver") {
		t.Fatalf("problem = %q, want the tier floor named", res.ProgramProblem)
	}
}

func TestResolveRefusesAnInvalidMembership(t *testing.T) {
	m := prime()
	m.Benefits = loyaltyv1alpha1.MembershipBenefits{EarnMultiplier: "11"}
	m.Streak = &loyaltyv1alpha1.RenewalStreak{Renewals: 2, BonusPoints: 0}
	res := render.Resolve(render.ProgramObjects{Program: withMemberships(m)})
	for _, want := range []string{"memberships[prime].benefits.earnMultiplier", "memberships[prime].streak.bonusPoints"} {
		if !strings.Contains(res.ProgramProblem, want) {
			t.Errorf("problem = %q, want it to name %s", res.ProgramProblem, want)
		}
	}
}

func TestResolveRendersAMembershipAudience(t *testing.T) {
	gated := campaign("prime-deal", func(c *loyaltyv1alpha1.Campaign) {
		c.Spec.Audience = &loyaltyv1alpha1.CampaignAudience{Memberships: []string{"prime"}}
	})
	unknown := campaign("gold-deal", func(c *loyaltyv1alpha1.Campaign) {
		c.Spec.Audience = &loyaltyv1alpha1.CampaignAudience{Memberships: []string{"gold"}}
	})
	res := render.Resolve(render.ProgramObjects{
		Program:   withMemberships(prime()),
		Tiers:     []loyaltyv1alpha1.Tier{tier("bronze", 0, epoch), tier("silver", 1, epoch)},
		Campaigns: []loyaltyv1alpha1.Campaign{gated, unknown},
	})
	if res.Snapshot == nil {
		t.Fatalf("program problem: %s", res.ProgramProblem)
	}
	if cs := res.Snapshot.Campaigns; len(cs) != 1 || cs[0].Name != "prime-deal" || cs[0].Audience == nil || len(cs[0].Audience.Memberships) != 1 || cs[0].Audience.Memberships[0] != "prime" {
		t.Fatalf("campaigns rendered as %+v", cs)
	}
	p := res.Problems[render.ObjectRef{Kind: "Campaign", Name: "gold-deal"}]
	if p.Reason != render.ReasonUnknownMembership || !strings.Contains(p.Message, `spec.audience.memberships[0]: "gold" is not a membership of program beans`) {
		t.Fatalf("problem of gold-deal: %+v", p)
	}
}

func TestResolveRendersRewardEligibility(t *testing.T) {
	gated := reward("prime-box", "")
	gated.Eligibility = &loyaltyv1alpha1.RewardEligibility{Memberships: []string{"prime"}, MemberTags: []string{"vip"}}
	unknown := reward("gold-box", "")
	unknown.Eligibility = &loyaltyv1alpha1.RewardEligibility{Memberships: []string{"gold"}}
	res := render.Resolve(render.ProgramObjects{
		Program:  withMemberships(prime()),
		Tiers:    []loyaltyv1alpha1.Tier{tier("bronze", 0, epoch), tier("silver", 1, epoch)},
		Catalogs: []loyaltyv1alpha1.RewardCatalog{catalog("prime", epoch, gated), catalog("gold", epoch, unknown)},
	})
	if res.Snapshot == nil {
		t.Fatalf("program problem: %s", res.ProgramProblem)
	}
	if rs := res.Snapshot.Rewards; len(rs) != 1 || rs[0].Eligibility == nil || rs[0].Eligibility.Memberships[0] != "prime" || rs[0].Eligibility.MemberTags[0] != "vip" {
		t.Fatalf("rewards rendered as %+v", rs)
	}
	p := res.Problems[render.ObjectRef{Kind: "RewardCatalog", Name: "gold"}]
	if p.Reason != render.ReasonUnknownMembership || !strings.Contains(p.Message, `spec.rewards[0].eligibility.memberships[0]: "gold" is not a membership`) {
		t.Fatalf("problem of catalog gold: %+v", p)
	}
}
