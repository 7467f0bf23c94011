package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// ReasonAudienceMembership: the campaign is for members of memberships the
// member does not hold (active) at the event.
const ReasonAudienceMembership = "audienceMembership"

// MembershipExplanation is the active membership whose multiplier applied.
type MembershipExplanation struct {
	Name           string         `json:"name"`
	EarnMultiplier config.Decimal `json:"earnMultiplier"`
	// TierFloor is the tier the membership holds the member at, if any.
	TierFloor string `json:"tierFloor,omitempty"`
	Message   string `json:"message"`
}

// ActiveMembership is the membership of the program the member holds
// active at t, or nil: a membership no longer declared gives nothing.
func ActiveMembership(s *config.Snapshot, m MemberContext, t time.Time) *config.Membership {
	if m.Membership == "" || !t.Before(m.MembershipEnd) {
		return nil
	}
	ms, ok := s.Membership(m.Membership)
	if !ok {
		return nil
	}
	return &ms
}

// membershipFloor raises the member's tier to the active membership's tier
// floor when that ranks higher.
func membershipFloor(s *config.Snapshot, tier string, ms *config.Membership) string {
	if ms == nil || ms.Benefits.TierFloor == "" {
		return tier
	}
	cur, _ := memberTierOf(s, tier)
	floor, _ := memberTierOf(s, ms.Benefits.TierFloor)
	if floor != nil && floor.Name == ms.Benefits.TierFloor && (cur == nil || floor.Rank > cur.Rank) {
		return floor.Name
	}
	return tier
}

// EffectiveTier is the tier pricing and rewards use: the stored tier,
// raised to the tier floor of the membership active at t.
func EffectiveTier(s *config.Snapshot, m MemberContext, t time.Time) string {
	return membershipFloor(s, m.Tier, ActiveMembership(s, m, t))
}

func membershipExplanation(ms *config.Membership) *MembershipExplanation {
	mult := multiplier(ms.Benefits.EarnMultiplier)
	return &MembershipExplanation{Name: ms.Name, EarnMultiplier: mult, TierFloor: ms.Benefits.TierFloor,
		Message: fmt.Sprintf("membership %q multiplies earning by %s", ms.Name, mult)}
}

// audienceMembership checks a campaign's audience.memberships.
func audienceMembership(want []string, held *config.Membership) (string, string) {
	if len(want) == 0 || (held != nil && slices.Contains(want, held.Name)) {
		return "", ""
	}
	return ReasonAudienceMembership, "the member holds none of the memberships " + strings.Join(want, ", ")
}

// CodeNotEligible: the member meets none of the reward's eligibility.
const CodeNotEligible = "notEligible"

// CheckEligibility refuses a reward whose eligibility the member meets in
// no way at now: no listed membership active, no listed tag. A reward
// without eligibility (or unknown, left to CheckRedemption) admits everyone.
func CheckEligibility(s *config.Snapshot, rewardID string, m MemberContext, now time.Time) error {
	var e *config.RewardEligibility
	for i := range s.Rewards {
		if s.Rewards[i].ID == rewardID {
			e = s.Rewards[i].Eligibility
		}
	}
	if e == nil {
		return nil
	}
	if held := ActiveMembership(s, m, now); held != nil && slices.Contains(e.Memberships, held.Name) {
		return nil
	}
	if slices.ContainsFunc(m.Tags, func(t string) bool { return slices.Contains(e.MemberTags, t) }) {
		return nil
	}
	var wants []string
	if len(e.Memberships) > 0 {
		wants = append(wants, "membership "+strings.Join(e.Memberships, " or "))
	}
	if len(e.MemberTags) > 0 {
		wants = append(wants, "tag "+strings.Join(e.MemberTags, " or "))
	}
	return errorf(CodeNotEligible, "eligibility", "reward %q is for members with %s", rewardID, strings.Join(wants, ", or "))
}
