package render

import (
	"fmt"
	"time"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/schedule"
)

// The API server has already applied the CRD schema's bounds and defaults; the
// conversions still parse every value because a snapshot must never carry one
// the engine would misread.

func programSnapshot(p *loyaltyv1alpha1.LoyaltyProgram) (*config.Snapshot, error) {
	s := p.Spec
	var err error
	snap := &config.Snapshot{
		Version: config.Version,
		Program: config.Program{Name: p.Name, Namespace: p.Namespace, DisplayName: s.DisplayName, Currency: s.Currency,
			TimeZone: orDefault(s.TimeZone, "UTC")},
		Points: config.PointsPolicy{
			Name:     s.Points.Name,
			Rounding: string(s.Points.Rounding),
		},
	}
	// The API server's pattern admits names such as "Europe/Atlantis" that
	// no time zone database knows.
	if _, err := schedule.LoadLocation(snap.Program.TimeZone); err != nil {
		return nil, fmt.Errorf("spec.timeZone: %w", err)
	}
	pts := &snap.Points
	if pts.EarnRate, err = decimal("spec.points.earnRate", string(s.Points.EarnRate)); err != nil {
		return nil, err
	}
	if pts.PendingPeriod, err = duration("spec.points.pendingPeriod", s.Points.PendingPeriod, "0s"); err != nil {
		return nil, err
	}
	if pts.LateEventGracePeriod, err = duration("spec.points.lateEventGracePeriod", s.Points.LateEventGracePeriod, "72h"); err != nil {
		return nil, err
	}
	if e := s.Points.Expiry; e != nil {
		pts.Expiry = &config.PointsExpiry{}
		if pts.Expiry.AfterEarn, err = optionalDuration("spec.points.expiry.afterEarn", e.AfterEarn); err != nil {
			return nil, err
		}
		if pts.Expiry.AfterInactivity, err = optionalDuration("spec.points.expiry.afterInactivity", e.AfterInactivity); err != nil {
			return nil, err
		}
	}
	for _, a := range s.Points.Actions {
		ca := config.ActionReward{Name: a.Name, Points: int64(a.Points), MaxPerDay: a.MaxPerDay}
		if l := a.Limit; l != nil {
			ca.Limit = &config.ActionLimit{Count: l.Count, Per: string(l.Per)}
		}
		pts.Actions = append(pts.Actions, ca)
	}
	if b := s.Points.Birthday; b != nil {
		pts.Birthday = &config.BirthdayReward{Points: int64(b.Points), Window: orDefault(b.Window, config.LimitDay)}
	}
	if snap.Memberships, err = memberships(s.Memberships); err != nil {
		return nil, err
	}
	if r := s.Referral; r != nil {
		ref := &config.ReferralPolicy{
			ReferrerReward:          int64(r.ReferrerReward),
			RefereeReward:           int64(r.RefereeReward),
			MaxReferralsPerReferrer: r.MaxReferralsPerReferrer,
		}
		if ref.QualifyingPurchaseMinimum, err = decimal("spec.referral.qualifyingPurchaseMinimum", orDefault(string(r.QualifyingPurchaseMinimum), "0")); err != nil {
			return nil, err
		}
		if ref.HoldPeriod, err = duration("spec.referral.holdPeriod", r.HoldPeriod, "0s"); err != nil {
			return nil, err
		}
		for _, t := range r.ReferrerRewardTiers {
			ref.ReferrerRewardTiers = append(ref.ReferrerRewardTiers, config.ReferrerRewardTier{MinReferrals: t.MinReferrals, Reward: int64(t.Reward)})
		}
		snap.Referral = ref
	}
	if snap.Events, err = eventsPolicy(s.Events); err != nil {
		return nil, err
	}
	return snap, nil
}

// memberships renders spec.memberships; their tier floors are checked
// against the tiers in effect by Resolve.
func memberships(in []loyaltyv1alpha1.Membership) ([]config.Membership, error) {
	var out []config.Membership
	for i, m := range in {
		path := fmt.Sprintf("spec.memberships[%d]", i)
		cm := config.Membership{
			Name:          m.Name,
			Currency:      m.Price.Currency,
			BillingPeriod: m.BillingPeriod,
			Benefits:      config.MembershipBenefits{TierFloor: m.Benefits.TierFloor},
		}
		var err error
		if cm.Price, err = decimal(path+".price.amount", string(m.Price.Amount)); err != nil {
			return nil, err
		}
		if cm.Benefits.EarnMultiplier, err = decimal(path+".benefits.earnMultiplier", orDefault(string(m.Benefits.EarnMultiplier), "1")); err != nil {
			return nil, err
		}
		if st := m.Streak; st != nil {
			cm.Streak = &config.RenewalStreak{Renewals: st.Renewals, BonusPoints: int64(st.BonusPoints)}
		}
		out = append(out, cm)
	}
	return out, nil
}

func tierConfig(t loyaltyv1alpha1.Tier) (config.Tier, error) {
	s := t.Spec
	ct := config.Tier{
		Name:        t.Name,
		DisplayName: s.DisplayName,
		Rank:        s.Rank,
		Perks:       s.Benefits.Perks,
		Qualification: config.TierQualification{
			Period: orDefault(string(s.Qualification.Period), string(loyaltyv1alpha1.QualificationRollingWindow)),
		},
	}
	var err error
	if ct.EarnMultiplier, err = decimal("spec.benefits.earnMultiplier", orDefault(string(s.Benefits.EarnMultiplier), "1")); err != nil {
		return ct, err
	}
	if ct.DowngradeGracePeriod, err = duration("spec.downgradeGracePeriod", s.DowngradeGracePeriod, "0s"); err != nil {
		return ct, err
	}
	q := s.Qualification
	if q.MinQualifyingPoints != nil {
		points := int64(*q.MinQualifyingPoints)
		ct.Qualification.MinQualifyingPoints = &points
	}
	if q.MinSpend != nil {
		spend, err := decimal("spec.qualification.minSpend", string(*q.MinSpend))
		if err != nil {
			return ct, err
		}
		ct.Qualification.MinSpend = &spend
	}
	if ct.Qualification.Window, err = optionalDuration("spec.qualification.window", q.Window); err != nil {
		return ct, err
	}
	return ct, nil
}

func rewardConfig(r loyaltyv1alpha1.Reward) (config.Reward, error) {
	cr := config.Reward{
		ID:          r.ID,
		DisplayName: r.DisplayName,
		Type:        string(r.Type),
		Cost:        int64(r.Cost),
		MinimumTier: r.MinimumTier,
		Stock:       r.Stock,
	}
	if r.Value != nil {
		value, err := decimal("value", string(*r.Value))
		if err != nil {
			return cr, err
		}
		cr.Value = &value
	}
	if l := r.Limit; l != nil {
		cr.Limit = &config.RedemptionLimit{Count: l.Count, Period: string(l.Period)}
	}
	if e := r.Eligibility; e != nil {
		cr.Eligibility = &config.RewardEligibility{Memberships: e.Memberships, MemberTags: e.MemberTags}
	}
	if a := r.Availability; a != nil {
		cr.Availability = &config.Availability{}
		if a.Start != nil {
			start := config.TimeOf(a.Start.Time)
			cr.Availability.Start = &start
		}
		if a.End != nil {
			end := config.TimeOf(a.End.Time)
			cr.Availability.End = &end
		}
	}
	return cr, nil
}

func campaignConfig(c loyaltyv1alpha1.Campaign) (config.Campaign, error) {
	s := c.Spec
	cc := config.Campaign{
		Name:        c.Name,
		DisplayName: s.DisplayName,
		Stacking:    orDefault(string(s.Stacking), string(loyaltyv1alpha1.StackingStack)),
		Priority:    s.Priority,
		Paused:      s.Paused,
		Schedule: config.CampaignSchedule{
			Start:    config.TimeOf(s.Schedule.Start.Time),
			TimeZone: orDefault(s.Schedule.TimeZone, "UTC"),
		},
	}
	if s.Schedule.End != nil {
		end := config.TimeOf(s.Schedule.End.Time)
		cc.Schedule.End = &end
	}
	if _, err := schedule.LoadLocation(cc.Schedule.TimeZone); err != nil {
		return cc, fmt.Errorf("spec.schedule.timeZone: %w", err)
	}
	if r := s.Schedule.Recurrence; r != nil {
		if _, err := schedule.ParseCron(r.Cron); err != nil {
			return cc, fmt.Errorf("spec.schedule.recurrence.cron: %w", err)
		}
		d, err := time.ParseDuration(r.Duration)
		if err != nil {
			return cc, fmt.Errorf("spec.schedule.recurrence.duration: %w", err)
		}
		cc.Schedule.Recurrence = &config.Recurrence{Cron: r.Cron, Duration: config.DurationOf(d)}
	}
	if a := s.Audience; a != nil {
		cc.Audience = &config.CampaignAudience{Tiers: a.Tiers, MemberTags: a.MemberTags, Memberships: a.Memberships}
		var err error
		if cc.Audience.NewMembersWithin, err = optionalDuration("spec.audience.newMembersWithin", a.NewMembersWithin); err != nil {
			return cc, err
		}
	}
	if m := s.Rules.PointsMultiplier; m != nil {
		multiplier, err := decimal("spec.rules.pointsMultiplier", string(*m))
		if err != nil {
			return cc, err
		}
		cc.Rules.PointsMultiplier = &multiplier
	}
	if b := s.Rules.PurchaseBonus; b != nil {
		minimum, err := decimal("spec.rules.purchaseBonus.minimumSpend", orDefault(string(b.MinimumSpend), "0"))
		if err != nil {
			return cc, err
		}
		cc.Rules.PurchaseBonus = &config.PurchaseBonus{Points: int64(b.Points), MinimumSpend: minimum}
	}
	for _, b := range s.Rules.ActionBonuses {
		cc.Rules.ActionBonuses = append(cc.Rules.ActionBonuses, config.ActionBonus{Action: b.Action, Points: int64(b.Points)})
	}
	if l := s.Limits; l != nil {
		cc.Limits = &config.CampaignLimits{TotalBonusBudget: (*int64)(l.TotalBonusBudget), PerMemberCap: (*int64)(l.PerMemberCap)}
	}
	return cc, nil
}

func decimal(field, s string) (config.Decimal, error) {
	d, err := config.ParseDecimal(s)
	if err != nil {
		return d, fmt.Errorf("%s: %w", field, err)
	}
	return d, nil
}

func duration(field string, d loyaltyv1alpha1.Duration, def string) (config.Duration, error) {
	parsed, err := config.ParseDuration(orDefault(string(d), def))
	if err != nil {
		return parsed, fmt.Errorf("%s: %w", field, err)
	}
	return parsed, nil
}

func optionalDuration(field string, d *loyaltyv1alpha1.Duration) (*config.Duration, error) {
	if d == nil {
		return nil, nil
	}
	parsed, err := duration(field, *d, "")
	if err != nil {
		return nil, err
	}
	return &parsed, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
