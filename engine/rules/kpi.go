package rules

import "github.com/loyaltyops/loyalty-operator/engine/config"

// Aggregates are the plain counts and sums a store queries for KPIs. Points
// are whole points; Spend is in the program's currency.
type Aggregates struct {
	// Members enrolled at the end of the reporting window.
	Members int64
	// ActiveMembers had at least one earn or redemption in the window.
	ActiveMembers int64
	// PointsIssued, PointsRedeemed and PointsExpired over the window.
	PointsIssued   int64
	PointsRedeemed int64
	PointsExpired  int64
	// SpendSinceEnrollment is the spend of all members since they enrolled.
	SpendSinceEnrollment config.Decimal
	// ReferralsMade counts referrals recorded; ReferralsConverted those converted.
	ReferralsMade      int64
	ReferralsConverted int64
	// Referrers counts members with at least one converted referral;
	// RepeatReferrers those with at least two.
	Referrers       int64
	RepeatReferrers int64
	// ReferralRewardsCost is the points granted to referrers and referees.
	ReferralRewardsCost int64
	// OutstandingAvailable and OutstandingPending are the points held by all members now.
	OutstandingAvailable int64
	OutstandingPending   int64
	// Memberships are the counts of each membership, by name; nil for none.
	Memberships map[string]MembershipAggregates
}

// MembershipAggregates are one membership's counts: Paying holds it now
// (active or cancelling); Started, Renewed and Ended count changes in the
// window; FeeUnits sums the prices of those starts and renewals, in
// config.Decimal units of the program's currency.
type MembershipAggregates struct {
	Paying   int64 `json:"paying"`
	Started  int64 `json:"started"`
	Renewed  int64 `json:"renewed"`
	Ended    int64 `json:"ended"`
	FeeUnits int64 `json:"feeUnits"`
}

// MembershipKPIs are one membership's KPIs.
type MembershipKPIs struct {
	// PayingMembers hold the membership now, active or cancelling.
	PayingMembers int64 `json:"payingMembers"`
	// Churn counts the memberships that ended in the window.
	Churn int64 `json:"churn"`
	// ChurnRate = Churn / (PayingMembers + Churn).
	ChurnRate float64 `json:"churnRate"`
	// FeeRevenue sums the prices of the window's starts and renewals.
	FeeRevenue config.Decimal `json:"feeRevenue"`
}

// KPIs of a program. Every ratio whose denominator is zero is 0, not NaN or
// an error, so that a new program reports zeros. Rates are fractions (0.25
// for 25 %); points stay integers; money and per-member points are exact
// decimals rounded half up to four places.
type KPIs struct {
	// ParticipationRate = ActiveMembers / Members.
	ParticipationRate float64 `json:"participationRate"`
	// RedemptionRate = PointsRedeemed / PointsIssued.
	RedemptionRate float64 `json:"redemptionRate"`
	// AverageCLV = SpendSinceEnrollment / Members, in the program's currency.
	AverageCLV config.Decimal `json:"averageClv"`
	// ReferralRate = ReferralsMade / Members: referrals per member.
	ReferralRate float64 `json:"referralRate"`
	// ReferralConversionRate = ReferralsConverted / ReferralsMade.
	ReferralConversionRate float64 `json:"referralConversionRate"`
	// RepeatReferrers = Aggregates.RepeatReferrers (members with ≥ 2 conversions).
	RepeatReferrers int64 `json:"repeatReferrers"`
	// RepeatReferrerRate = RepeatReferrers / Referrers.
	RepeatReferrerRate float64 `json:"repeatReferrerRate"`
	// ReferralCostPerAcquiredMember = ReferralRewardsCost / ReferralsConverted, in points.
	ReferralCostPerAcquiredMember config.Decimal `json:"referralCostPerAcquiredMember"`
	// OutstandingLiability = OutstandingAvailable + OutstandingPending, in points.
	OutstandingLiability int64 `json:"outstandingLiability"`
	// Breakage = PointsExpired / PointsIssued.
	Breakage float64 `json:"breakage"`
	// Memberships are each membership's KPIs, by name; absent for none.
	Memberships map[string]MembershipKPIs `json:"memberships,omitempty"`
}

// ComputeKPIs derives the KPIs from aggregates; see KPIs for each formula.
func ComputeKPIs(a Aggregates) KPIs {
	return KPIs{
		ParticipationRate:             rate(a.ActiveMembers, a.Members),
		RedemptionRate:                rate(a.PointsRedeemed, a.PointsIssued),
		AverageCLV:                    quoDecimal(a.SpendSinceEnrollment.Units(), true, a.Members),
		ReferralRate:                  rate(a.ReferralsMade, a.Members),
		ReferralConversionRate:        rate(a.ReferralsConverted, a.ReferralsMade),
		RepeatReferrers:               a.RepeatReferrers,
		RepeatReferrerRate:            rate(a.RepeatReferrers, a.Referrers),
		ReferralCostPerAcquiredMember: quoDecimal(a.ReferralRewardsCost, false, a.ReferralsConverted),
		OutstandingLiability:          a.OutstandingAvailable + a.OutstandingPending,
		Breakage:                      rate(a.PointsExpired, a.PointsIssued),
		Memberships:                   membershipKPIs(a.Memberships),
	}
}

func membershipKPIs(in map[string]MembershipAggregates) map[string]MembershipKPIs {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]MembershipKPIs, len(in))
	for name, m := range in {
		out[name] = MembershipKPIs{PayingMembers: m.Paying, Churn: m.Ended, ChurnRate: rate(m.Ended, m.Paying+m.Ended),
			FeeRevenue: config.DecimalFromUnits(m.FeeUnits)}
	}
	return out
}

// rate is num/den, or 0 when den is 0.
func rate(num, den int64) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}
