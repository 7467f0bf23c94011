package rules

import (
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// CheckRedemption returns the points cost of redeeming rewardID at now for a
// member holding memberTier ("" or a tier no longer in the snapshot meaning
// the entry tier), who already redeemed it redemptionsInCurrentPeriod times
// since LimitPeriodStart of its limit's period. It refuses with a coded
// Error: unknownReward, belowMinimumTier (by tier rank), notAvailable
// (outside the availability window [start, end)) or limitReached.
//
// Stock and the member's balance are not checked here: the store must
// decrement stock and debit points in the same transaction as it records the
// redemption, and count redemptions for the limit inside it too, since
// concurrent redemptions race.
func CheckRedemption(s *config.Snapshot, rewardID, memberTier string, now time.Time, redemptionsInCurrentPeriod int64) (int64, error) {
	var r *config.Reward
	for i := range s.Rewards {
		if s.Rewards[i].ID == rewardID {
			r = &s.Rewards[i]
		}
	}
	if r == nil {
		return 0, errorf(CodeUnknownReward, "rewardId", "the program has no reward %q", rewardID)
	}
	if r.MinimumTier != "" {
		need, have := tierRank(s, r.MinimumTier), int32(0)
		if t, _ := memberTierOf(s, memberTier); t != nil {
			have = t.Rank
		}
		if have < need {
			return 0, errorf(CodeBelowMinimumTier, "minimumTier", "reward %q needs tier %q or higher", r.ID, r.MinimumTier)
		}
	}
	if a := r.Availability; a != nil {
		if a.Start != nil && now.Before(a.Start.T()) {
			return 0, errorf(CodeNotAvailable, "availability.start", "reward %q is available from %s", r.ID, a.Start.T().Format(time.RFC3339))
		}
		if a.End != nil && !now.Before(a.End.T()) {
			return 0, errorf(CodeNotAvailable, "availability.end", "reward %q was available until %s", r.ID, a.End.T().Format(time.RFC3339))
		}
	}
	if l := r.Limit; l != nil && redemptionsInCurrentPeriod >= int64(l.Count) {
		return 0, errorf(CodeLimitReached, "limit", "reward %q can be redeemed %d times per %s", r.ID, l.Count, l.Period)
	}
	return r.Cost, nil
}

// tierRank is the rank of the named tier; validation guarantees it exists.
func tierRank(s *config.Snapshot, name string) int32 {
	for _, t := range s.Tiers {
		if t.Name == name {
			return t.Rank
		}
	}
	return 0
}

// LimitPeriodStart is the first instant of the limit period containing now,
// as calendar spans in loc, the program's time zone (see PeriodWindow): the
// day, the ISO week (from Monday), the month or the year; the zero time for
// Lifetime (and an unknown period), so that the store counts every
// redemption.
func LimitPeriodStart(period string, now time.Time, loc *time.Location) time.Time {
	start, _ := PeriodWindow(now, period, loc)
	if start.Equal(LifetimeStart) {
		return time.Time{}
	}
	return start.UTC()
}
