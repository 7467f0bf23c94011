package rules

import (
	"fmt"
	"time"

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

// ActionDay is the period maxPerDay counts an action's events over: the UTC
// day [start, end) of at.
func ActionDay(at time.Time) (start, end time.Time) {
	u := at.UTC()
	start = time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 0, 1)
}

// ActionLimitReached reports whether an action with maxPerDay (nil: no
// limit) that the member already earned count times in the event's
// ActionDay earns nothing more that day.
func ActionLimitReached(maxPerDay *int32, count int64) bool {
	return maxPerDay != nil && count >= int64(*maxPerDay)
}

// CheckStock refuses a redemption of r with CodeOutOfStock when its stock
// (nil: unlimited) is taken by the redeemed active redemptions.
func CheckStock(r *config.Reward, redeemed int64) error {
	if r.Stock != nil && redeemed >= *r.Stock {
		return errorf(CodeOutOfStock, "rewardId", "reward %q is out of stock", r.ID)
	}
	return nil
}

// dailyLimitMessage explains an action event over its maxPerDay.
func dailyLimitMessage(action string, count int64) string {
	return fmt.Sprintf("%q already earned %d times today, its maxPerDay; it earns nothing", action, count)
}
