package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// purchase is what decides which campaigns apply to a purchase.
type purchase struct {
	at         time.Time // occurredAt
	amount     string    // in the program's currency, such as "12.40"
	tier       string    // the member's tier when the purchase is priced
	tags       []string  // the member's tags
	enrolledAt time.Time
}

// outcome is what an earn's explanation must say about one campaign.
type outcome struct {
	applied bool
	// reason is one of the rules.Reason codes when not applied.
	reason string
	// overriddenBy names the exclusive campaign that won (exclusiveOverridden).
	overriddenBy string
}

func (o outcome) String() string {
	switch {
	case o.applied:
		return "applied"
	case o.overriddenBy != "":
		return o.reason + " by " + o.overriddenBy
	default:
		return o.reason
	}
}

// expectedOutcomes works out, from the Campaign objects alone, what the
// engine must say about each campaign when it prices the purchase: applied,
// or why not. The demo checks the engine against it, so its expectations hold
// whatever the date and whichever sample campaign is in a window.
//
// It follows the pricing rules for windows (the occurrence time, in the
// campaign's time zone), pausing, audience, purchase rules and stacking
// (only the exclusive campaign of highest priority applies when one does,
// ties to the name sorting first). It does not follow budgets and
// per-member caps, which depend on what the ledger already granted: it is
// for purchases no cap can have refused yet, such as a member's first.
func expectedOutcomes(campaigns []loyaltyv1alpha1.Campaign, p purchase) (map[string]outcome, error) {
	type candidate struct {
		name      string
		priority  int32
		exclusive bool
	}
	outcomes := make(map[string]outcome, len(campaigns))
	var applicable []candidate
	for _, c := range campaigns {
		reason, err := whyNot(c, p)
		if err != nil {
			return nil, fmt.Errorf("campaign %s: %w", c.Name, err)
		}
		if reason != "" {
			outcomes[c.Name] = outcome{reason: reason}
			continue
		}
		outcomes[c.Name] = outcome{applied: true}
		applicable = append(applicable, candidate{c.Name, c.Spec.Priority, c.Spec.Stacking == loyaltyv1alpha1.StackingExclusive})
	}
	slices.SortFunc(applicable, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.priority, a.priority), strings.Compare(a.name, b.name))
	})
	winner := slices.IndexFunc(applicable, func(c candidate) bool { return c.exclusive })
	if winner < 0 {
		return outcomes, nil
	}
	for i, c := range applicable {
		if i != winner {
			outcomes[c.name] = outcome{reason: rules.ReasonExclusiveOverridden, overriddenBy: applicable[winner].name}
		}
	}
	return outcomes, nil
}

// whyNot returns the reason the campaign cannot apply to the purchase
// before stacking is decided, or "" when it can.
func whyNot(c loyaltyv1alpha1.Campaign, p purchase) (string, error) {
	if c.Spec.Paused {
		return rules.ReasonPaused, nil
	}
	sched, err := render.ScheduleOf(c)
	if err != nil {
		return "", err
	}
	if _, ok := sched.WindowAt(p.at); !ok {
		return rules.ReasonOutsideWindow, nil
	}
	if a := c.Spec.Audience; a != nil {
		if len(a.Tiers) > 0 && !slices.Contains(a.Tiers, p.tier) {
			return rules.ReasonAudienceTier, nil
		}
		if len(a.MemberTags) > 0 && !slices.ContainsFunc(p.tags, func(t string) bool { return slices.Contains(a.MemberTags, t) }) {
			return rules.ReasonAudienceTags, nil
		}
		if a.NewMembersWithin != nil {
			within, err := config.ParseDuration(string(*a.NewMembersWithin))
			if err != nil {
				return "", fmt.Errorf("spec.audience.newMembersWithin: %w", err)
			}
			if p.at.Sub(p.enrolledAt) > within.D() {
				return rules.ReasonNotNewMember, nil
			}
		}
	}
	r := c.Spec.Rules
	if r.PointsMultiplier != nil {
		return "", nil
	}
	if b := r.PurchaseBonus; b != nil {
		amount, err := config.ParseDecimal(p.amount)
		if err != nil {
			return "", fmt.Errorf("purchase amount: %w", err)
		}
		minimum, err := config.ParseDecimal(cmp.Or(string(b.MinimumSpend), "0"))
		if err != nil {
			return "", fmt.Errorf("spec.rules.purchaseBonus.minimumSpend: %w", err)
		}
		if amount.Units() < minimum.Units() {
			return rules.ReasonBelowMinimumSpend, nil
		}
		return "", nil
	}
	return rules.ReasonNoRuleForEvent, nil
}

// checkOutcomes compares what the engine said about each campaign with what
// was expected, naming the first campaign that differs.
func checkOutcomes(want map[string]outcome, ex explanation) error {
	got := make(map[string]outcome, len(ex.Campaigns))
	for _, c := range ex.Campaigns {
		got[c.Name] = outcome{applied: c.Applied, reason: c.Reason, overriddenBy: c.OverriddenBy}
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		g, ok := got[name]
		if !ok {
			return fmt.Errorf("campaign %s is missing from the explanation; want %s", name, want[name])
		}
		if g != want[name] {
			return fmt.Errorf("campaign %s: %s; want %s", name, g, want[name])
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			return fmt.Errorf("the explanation names campaign %s, which is not declared", name)
		}
	}
	return nil
}
