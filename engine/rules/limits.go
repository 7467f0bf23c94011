package rules

import (
	"fmt"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// The write-time rules: each is decided here once, as a pure function. Price
// applies them to state read before the write, to explain the event; the
// store applies them again to the state it holds under its locks, which is
// what the member gets, since concurrent writes may have used the room.

// CapRoom is the room one of a campaign's caps leaves for its bonus to one
// more event. The zero CapRoom is no cap, or a cap whose use is unknown.
type CapRoom struct {
	// Cap is CapBudget or CapPerMember; "" when no cap limits.
	Cap string
	// Remaining is what the cap still allows. It is negative when the cap
	// was lowered below what was granted already; grants treat that as 0.
	Remaining int64
}

// BudgetLeft is what a campaign's totalBonusBudget still allows once
// granted points were granted from it, over all members.
func BudgetLeft(budget, granted int64) int64 { return max(budget-granted, 0) }

// BudgetRoom is the room a totalBonusBudget of which granted points were
// granted leaves.
func BudgetRoom(budget, granted int64) CapRoom {
	return CapRoom{Cap: CapBudget, Remaining: budget - granted}
}

// MemberCapRoom is the room a perMemberCap leaves a member who already
// received granted bonus points from the campaign.
func MemberCapRoom(perMemberCap, granted int64) CapRoom {
	return CapRoom{Cap: CapPerMember, Remaining: perMemberCap - granted}
}

// Tighter is the cap of the two leaving less room: r on a tie, and never a
// room without a cap.
func (r CapRoom) Tighter(o CapRoom) CapRoom {
	if r.Cap == "" || (o.Cap != "" && o.Remaining < r.Remaining) {
		return o
	}
	return r
}

// Exhausted reports that the cap allows no more bonus: the campaign then
// does not take part in the event at all.
func (r CapRoom) Exhausted() bool { return r.Cap != "" && r.Remaining <= 0 }

// Grant cuts a campaign's attributed bonus to the room; the points a cap
// cuts are not handed to another campaign.
func (r CapRoom) Grant(attributed int64) Grant {
	left := max(r.Remaining, 0)
	if r.Cap == "" || attributed <= left {
		return Grant{Granted: attributed}
	}
	return Grant{Granted: left, Cap: r.Cap, Remaining: left}
}

// CheckStock refuses a redemption of r with CodeOutOfStock when its stock
// (nil: unlimited) is taken by the redeemed active redemptions.
func CheckStock(r *config.Reward, redeemed int64) error {
	if r.Stock != nil && redeemed >= *r.Stock {
		return errorf(CodeOutOfStock, "rewardId", "reward %q is out of stock", r.ID)
	}
	return nil
}

// setLimit records the action's limit l (nil: none) in the explanation;
// a limit per Day is also its maxPerDay, which clients read before limits
// had other periods.
func (b *BaseExplanation) setLimit(l *config.ActionLimit) {
	b.Limit, b.MaxPerDay = l, nil
	if l != nil && l.Per == config.LimitDay {
		n := l.Count
		b.MaxPerDay = &n
	}
}

// limitReached explains a base over its limit, already earned count times
// in the period: it earns nothing.
func (b *BaseExplanation) limitReached(count int64) {
	b.LimitReached = true
	b.DailyLimitReached = b.Limit.Per == config.LimitDay
	b.Exact, b.Points = "0", 0
	b.Message = limitMessage(b.Action, b.Limit, count)
}

// overLimitReason is why a campaign gives nothing to an action event over
// its limit l: dailyLimitReached for a limit per Day (the reason clients
// knew first), actionLimitReached for the other periods.
func overLimitReason(action string, l *config.ActionLimit) (reason, message string) {
	switch l.Per {
	case config.LimitDay:
		return ReasonDailyLimitReached, fmt.Sprintf("action %q is over its limit per day", action)
	case config.LimitLifetime:
		return ReasonActionLimitReached, fmt.Sprintf("action %q is over its lifetime limit", action)
	}
	return ReasonActionLimitReached, fmt.Sprintf("action %q is over its limit per %s", action, periodNoun(l.Per))
}
