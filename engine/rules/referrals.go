package rules

import (
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// ReferrerReward is the referrer's points for a converted referral, given
// how many of their referrals have converted counting this one: the reward
// of the tier with the highest minReferrals ≤ count, else referrerReward.
func ReferrerReward(p *config.ReferralPolicy, convertedIncludingThis int64) int64 {
	if p == nil {
		return 0
	}
	reward, best := p.ReferrerReward, int32(0)
	for _, t := range p.ReferrerRewardTiers {
		if int64(t.MinReferrals) <= convertedIncludingThis && t.MinReferrals > best {
			reward, best = t.Reward, t.MinReferrals
		}
	}
	return reward
}

// Referral is a new member signing up with a referral code, as the store
// resolved it.
type Referral struct {
	// ReferrerID is the member owning the code; "" when no member does.
	ReferrerID string
	RefereeID  string
	// RefereeAlreadyReferred: the referee already has a referral.
	RefereeAlreadyReferred bool
	// ReferrerConverted counts the referrer's converted referrals so far.
	ReferrerConverted int64
}

// CheckReferral refuses a referral with a coded Error: referrals disabled,
// unknown code, self-referral, a referee already referred, or a referrer
// whose converted referrals reached maxReferralsPerReferrer. The store must
// record the referral atomically with the duplicate check (a unique
// referee), since two sign-ups can race.
func CheckReferral(s *config.Snapshot, r Referral) error {
	p := s.Referral
	switch {
	case p == nil:
		return errorf(CodeReferralsDisabled, "referralCode", "the program has no referrals")
	case r.ReferrerID == "":
		return errorf(CodeUnknownReferralCode, "referralCode", "no member has this referral code")
	case r.ReferrerID == r.RefereeID:
		return errorf(CodeSelfReferral, "referralCode", "a member cannot refer themselves")
	case r.RefereeAlreadyReferred:
		return errorf(CodeAlreadyReferred, "memberId", "member %q was already referred", r.RefereeID)
	}
	return checkReferrerCap(p, r.ReferrerConverted)
}

func checkReferrerCap(p *config.ReferralPolicy, converted int64) error {
	if m := p.MaxReferralsPerReferrer; m != nil && converted >= int64(*m) {
		return errorf(CodeReferrerCapReached, "referralCode", "the referrer already has %d rewarded referrals, the maxReferralsPerReferrer", *m)
	}
	return nil
}

// Conversion is a referee's first purchase, with the referrer's state.
type Conversion struct {
	Amount     config.Decimal
	OccurredAt time.Time
	// ReferrerConverted counts the referrer's converted referrals before this one.
	ReferrerConverted int64
}

// ReferralRewards are the points a conversion grants, both held pending until AvailableAt.
type ReferralRewards struct {
	Referrer int64 `json:"referrer"`
	Referee  int64 `json:"referee"`
	// AvailableAt is OccurredAt + holdPeriod, so a reversed qualifying
	// purchase can claw the rewards back.
	AvailableAt time.Time `json:"availableAt"`
}

// ConvertReferral prices the conversion of a referral by the referee's first
// purchase, or refuses it: the purchase is below qualifyingPurchaseMinimum,
// or the referrer's cap is reached. The store must count the conversion and
// grant both rewards in one transaction, so that ReferrerConverted is exact.
func ConvertReferral(s *config.Snapshot, c Conversion) (ReferralRewards, error) {
	p := s.Referral
	if p == nil {
		return ReferralRewards{}, errorf(CodeReferralsDisabled, "referralCode", "the program has no referrals")
	}
	if decimalCmp(c.Amount, p.QualifyingPurchaseMinimum) < 0 {
		return ReferralRewards{}, errorf(CodeBelowQualifyingMinimum, "amount",
			"%s is below the qualifyingPurchaseMinimum %s", c.Amount, p.QualifyingPurchaseMinimum)
	}
	if err := checkReferrerCap(p, c.ReferrerConverted); err != nil {
		return ReferralRewards{}, err
	}
	return ReferralRewards{
		Referrer:    ReferrerReward(p, c.ReferrerConverted+1),
		Referee:     p.RefereeReward,
		AvailableAt: c.OccurredAt.Add(p.HoldPeriod.D()),
	}, nil
}
