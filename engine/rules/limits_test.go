package rules

import (
	"errors"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func TestCapRoomGrant(t *testing.T) {
	for _, tc := range []struct {
		name       string
		room       CapRoom
		attributed int64
		want       Grant
		exhausted  bool
	}{
		{"no cap", CapRoom{}, 40, Grant{Granted: 40}, false},
		{"room enough", BudgetRoom(100, 30), 70, Grant{Granted: 70}, false},
		{"cut to the budget", BudgetRoom(100, 70), 40, Grant{Granted: 30, Cap: CapBudget, Remaining: 30}, false},
		{"cut to the member cap", MemberCapRoom(50, 45), 10, Grant{Granted: 5, Cap: CapPerMember, Remaining: 5}, false},
		{"used up", BudgetRoom(100, 100), 10, Grant{Granted: 0, Cap: CapBudget, Remaining: 0}, true},
		{"lowered below the grants", MemberCapRoom(20, 35), 10, Grant{Granted: 0, Cap: CapPerMember, Remaining: 0}, true},
		{"nothing attributed", BudgetRoom(10, 10), 0, Grant{Granted: 0}, true},
	} {
		if got := tc.room.Grant(tc.attributed); got != tc.want {
			t.Errorf("%s: Grant(%d) = %+v, want %+v", tc.name, tc.attributed, got, tc.want)
		}
		if got := tc.room.Exhausted(); got != tc.exhausted {
			t.Errorf("%s: Exhausted() = %v, want %v", tc.name, got, tc.exhausted)
		}
	}
}

func TestCapRoomTighter(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b CapRoom
		want CapRoom
	}{
		{"no caps", CapRoom{}, CapRoom{}, CapRoom{}},
		{"only the member cap", CapRoom{}, MemberCapRoom(10, 4), MemberCapRoom(10, 4)},
		{"only the budget", BudgetRoom(10, 4), CapRoom{}, BudgetRoom(10, 4)},
		{"member cap tighter", BudgetRoom(100, 10), MemberCapRoom(10, 4), MemberCapRoom(10, 4)},
		{"budget tighter", BudgetRoom(100, 97), MemberCapRoom(10, 4), BudgetRoom(100, 97)},
		{"a tie keeps the first", BudgetRoom(10, 4), MemberCapRoom(10, 4), BudgetRoom(10, 4)},
		{"the further over wins", BudgetRoom(10, 10), MemberCapRoom(10, 15), MemberCapRoom(10, 15)},
	} {
		if got := tc.a.Tighter(tc.b); got != tc.want {
			t.Errorf("%s: %+v.Tighter(%+v) = %+v, want %+v", tc.name, tc.a, tc.b, got, tc.want)
		}
	}
}

func TestBudgetLeft(t *testing.T) {
	for _, tc := range []struct{ budget, granted, want int64 }{
		{100, 0, 100}, {100, 40, 60}, {100, 100, 0}, {100, 130, 0},
	} {
		if got := BudgetLeft(tc.budget, tc.granted); got != tc.want {
			t.Errorf("BudgetLeft(%d, %d) = %d, want %d", tc.budget, tc.granted, got, tc.want)
		}
	}
}

func TestLimitReached(t *testing.T) {
	two := &config.ActionLimit{Count: 2, Per: config.LimitWeek}
	for _, tc := range []struct {
		limit *config.ActionLimit
		count int64
		want  bool
	}{
		{nil, 1000, false}, {two, 0, false}, {two, 1, false}, {two, 2, true}, {two, 3, true},
	} {
		if got := LimitReached(tc.limit, tc.count); got != tc.want {
			t.Errorf("LimitReached(%v, %d) = %v, want %v", tc.limit, tc.count, got, tc.want)
		}
	}
}

func TestCheckStock(t *testing.T) {
	three := int64(3)
	for _, tc := range []struct {
		stock    *int64
		redeemed int64
		refused  bool
	}{
		{nil, 1_000_000, false}, {&three, 0, false}, {&three, 2, false}, {&three, 3, true}, {&three, 4, true},
	} {
		err := CheckStock(&config.Reward{ID: "mug", Stock: tc.stock}, tc.redeemed)
		var re *Error
		switch {
		case !tc.refused && err != nil:
			t.Errorf("stock %v, %d redeemed: refused with %v", tc.stock, tc.redeemed, err)
		case tc.refused && (!errors.As(err, &re) || re.Code != CodeOutOfStock || re.Field != "rewardId"):
			t.Errorf("stock %v, %d redeemed: %v, want an outOfStock refusal of rewardId", tc.stock, tc.redeemed, err)
		}
	}
}
