package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// box is a 30-day subscription whose third renewal in a row earns 500.
var box = config.Membership{Name: "box", Price: config.MustDecimal("19.99"), Currency: "EUR", BillingPeriod: "30d",
	Benefits: config.MembershipBenefits{EarnMultiplier: config.MustDecimal("1")}, Streak: &config.RenewalStreak{Renewals: 3, BonusPoints: 500}}

func changeMembership(t testing.TB, s ledger.Ledger, id, key, action string) ledger.MembershipResult {
	t.Helper()
	res, err := s.ChangeMembership(ctx, ledger.MembershipRequest{IdempotencyKey: key, MemberID: id, Action: action, Plan: box, PaymentReference: "pay-" + key})
	if err != nil {
		t.Fatalf("%s membership of %s: %v", action, id, err)
	}
	return res
}

func endDue(t testing.TB, s ledger.Ledger, at time.Time) int {
	t.Helper()
	n, err := s.EndDueMemberships(ctx, at)
	if err != nil {
		t.Fatalf("end due memberships at %v: %v", at, err)
	}
	return n
}

// pricedMembership is the membership pricing reads (from the store's cache
// when it has the member: a change must drop it).
func pricedMembership(t testing.TB, s ledger.Ledger, id string) rules.MemberContext {
	t.Helper()
	st, err := s.PricingContexts(ctx, []ledger.PricingQuery{{MemberID: id, OccurredAt: t0}})
	if err != nil || st[0].Err != nil {
		t.Fatalf("pricing context of %s: %v %v", id, err, st[0].Err)
	}
	return st[0].Member
}

// testMembershipLifecycle runs a subscription through its states with the
// store's clock moved: renewals toward a streak, the bonus once, a pause
// breaking the streak, a cancellation ending at period end and a missed
// renewal ended by the due work.
func testMembershipLifecycle(t *testing.T, s ledger.Ledger, setClock func(time.Time)) {
	for _, id := range []string{"sub", "quits", "lapses"} {
		enroll(t, s, id)
		if res := changeMembership(t, s, id, id+"-start", ledger.ActionStart); res.Membership.State != ledger.MembershipActive ||
			!res.Membership.PeriodEnd.Equal(day(30)) || res.Fee != "19.99" {
			t.Fatalf("start %s: %+v", id, res)
		}
	}
	if _, err := s.ChangeMembership(ctx, ledger.MembershipRequest{IdempotencyKey: "again", MemberID: "sub", Action: ledger.ActionStart, Plan: box, PaymentReference: "p"}); !errors.Is(err, ledger.ErrMembershipState) {
		t.Fatalf("a second start while active: %v, want ErrMembershipState", err)
	}
	var bonus int64
	for i := 1; i <= 4; i++ {
		res := changeMembership(t, s, "sub", fmt.Sprint("sub-renew-", i), ledger.ActionRenew)
		bonus += res.BonusPoints
		if res.Membership.Streak != int32(i) || !res.Membership.PeriodEnd.Equal(day(30*(i+1))) {
			t.Fatalf("renewal %d: %+v", i, res.Membership)
		}
	}
	if replay := changeMembership(t, s, "sub", "sub-renew-3", ledger.ActionRenew); !replay.Replayed || replay.BonusPoints != 500 {
		t.Fatalf("replayed third renewal: %+v", replay)
	}
	wantBalance(t, s, "sub", 500, 0, 500)
	if bonus != 500 {
		t.Fatalf("bonus over four renewals %d, want 500 once", bonus)
	}
	changeMembership(t, s, "quits", "quits-cancel", ledger.ActionCancel)

	if mc := pricedMembership(t, s, "sub"); mc.Membership != "box" || !mc.MembershipEnd.Equal(day(150)) {
		t.Fatalf("pricing reads %q until %v, want box until day 150", mc.Membership, mc.MembershipEnd)
	}
	setClock(day(10))
	changeMembership(t, s, "sub", "sub-pause", ledger.ActionPause)
	if mc := pricedMembership(t, s, "sub"); mc.Membership != "" {
		t.Fatalf("pricing reads paused membership %q: its benefits stop", mc.Membership)
	}
	setClock(day(15))
	if res := changeMembership(t, s, "sub", "sub-resume", ledger.ActionResume); res.Membership.Streak != 0 || !res.Membership.PeriodEnd.Equal(day(155)) {
		t.Fatalf("resume after a pause of 5 days: %+v, want the streak broken and the end moved 5 days", res.Membership)
	}
	if n := endDue(t, s, day(29)); n != 0 {
		t.Fatalf("day 29: %d ended, want none", n)
	}
	if v := member(t, s, "quits", day(29)); v.Membership == nil || !v.Membership.Active(day(29)) || v.Membership.State != ledger.MembershipCancelling {
		t.Fatalf("a cancelled membership before its period end: %+v", v.Membership)
	}
	if n := endDue(t, s, day(30)); n != 2 {
		t.Fatalf("day 30: %d ended, want the cancelled and the lapsed one", n)
	}
	if n := endDue(t, s, day(31)); n != 0 {
		t.Fatalf("day 31: %d ended again", n)
	}
	for _, id := range []string{"quits", "lapses"} {
		if v := member(t, s, id, day(31)); v.Membership.State != ledger.MembershipEnded || v.Membership.Streak != 0 {
			t.Errorf("%s after its period: %+v", id, v.Membership)
		}
	}
	if _, err := s.ChangeMembership(ctx, ledger.MembershipRequest{IdempotencyKey: "late", MemberID: "lapses", Action: ledger.ActionRenew, Plan: box, PaymentReference: "p"}); !errors.Is(err, ledger.ErrMembershipState) {
		t.Fatalf("renewing an ended membership: %v, want ErrMembershipState", err)
	}
	setClock(day(31))
	if res := changeMembership(t, s, "lapses", "lapses-restart", ledger.ActionStart); res.Membership.Streak != 0 || !res.Membership.PeriodEnd.Equal(day(61)) {
		t.Fatalf("a new start after the end: %+v", res.Membership)
	}
	// Three starts and a restart, four renewals, two ends, at 19.99 each charge.
	a, err := s.Aggregates(ctx, day(-1), day(40))
	want := rules.MembershipAggregates{Paying: 2, Started: 4, Renewed: 4, Ended: 2, FeeUnits: 8 * 199900}
	if err != nil || a.Memberships["box"] != want {
		t.Fatalf("membership aggregates: %+v, %v; want %+v", a.Memberships, err, want)
	}
	if k := rules.ComputeKPIs(a).Memberships["box"]; k.PayingMembers != 2 || k.Churn != 2 || k.FeeRevenue.String() != "159.92" || k.ChurnRate != 0.5 {
		t.Fatalf("membership KPIs: %+v", k)
	}
	wantMembershipEvents(t, s, map[string][]string{
		"sub":    {"start", "renew", "renew", "renew", "renew", "pause", "resume"},
		"quits":  {"start", "cancel", "end"},
		"lapses": {"start", "end", "start"},
	})
	// Erasure takes the membership to the pseudonym: the id enrolled again has none.
	if _, err := s.EraseMember(ctx, ledger.EraseMemberRequest{IdempotencyKey: "erase-lapses", MemberID: "lapses", Actor: "key-test"}); err != nil {
		t.Fatal(err)
	}
	enroll(t, s, "lapses")
	if v := member(t, s, "lapses", day(31)); v.Membership != nil {
		t.Fatalf("the membership stayed with the erased id: %+v", v.Membership)
	}
}

// testConcurrentRenewals renews one subscription from 32 writers while 32
// others earn for the same member: every renewal counts once, the bonus is
// credited exactly once, and the balance holds every earn.
func testConcurrentRenewals(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "busy")
	started := changeMembership(t, s, "busy", "busy-start", ledger.ActionStart).Membership.PeriodStart
	var wg sync.WaitGroup
	var bonus atomic.Int64
	for i := range 64 {
		wg.Go(func() {
			if i%2 == 0 {
				res, err := s.ChangeMembership(ctx, ledger.MembershipRequest{IdempotencyKey: fmt.Sprint("renew-", i), MemberID: "busy",
					Action: ledger.ActionRenew, Plan: box, PaymentReference: fmt.Sprint("pay-", i)})
				if err != nil {
					t.Error(err)
					return
				}
				bonus.Add(res.BonusPoints)
				return
			}
			if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: fmt.Sprint("earn-", i), MemberID: "busy", EventID: fmt.Sprint("e", i), Points: 10}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if bonus.Load() != 500 {
		t.Fatalf("bonus credited %d times 500", bonus.Load()/500)
	}
	v := member(t, s, "busy", t0)
	if v.Membership.Streak != 32 || !v.Membership.PeriodEnd.Equal(started.AddDate(0, 0, 33*30)) {
		t.Fatalf("after 32 renewals: %+v", v.Membership)
	}
	wantBalance(t, s, "busy", 500+32*10, 0, 500+32*10)
}

// gatedCatalog has rewards for box members, for members tagged vip, and
// for silver members; box holds its members at silver at least.
func gatedCatalog() *config.Snapshot {
	floor := box
	floor.Benefits.TierFloor = "silver"
	return &config.Snapshot{
		Tiers:       []config.Tier{{Name: "bronze", Rank: 0}, {Name: "silver", Rank: 1}},
		Memberships: []config.Membership{floor},
		Rewards: []config.Reward{
			{ID: "box-only", Cost: 0, Eligibility: &config.RewardEligibility{Memberships: []string{"box"}}},
			{ID: "vip-only", Cost: 0, Eligibility: &config.RewardEligibility{MemberTags: []string{"vip"}}},
			{ID: "lounge", Cost: 0, MinimumTier: "silver"},
		},
	}
}

// testRewardEligibility redeems rewards that require a membership, a tag
// or a tier the membership's floor gives: refused with notEligible naming
// rewardId without it, writing nothing, and granted with it.
func testRewardEligibility(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "plain")
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll-vip", MemberID: "vip", Tags: []string{"vip"}}); err != nil {
		t.Fatal(err)
	}
	redeem := func(key, id, reward string) error {
		_, err := s.RedeemReward(ctx, ledger.RedeemRewardRequest{IdempotencyKey: key, MemberID: id, RewardID: reward, Program: gatedCatalog()})
		return err
	}
	for _, tc := range []struct{ id, reward, code string }{
		{"plain", "box-only", rules.CodeNotEligible}, {"plain", "vip-only", rules.CodeNotEligible},
		{"plain", "lounge", rules.CodeBelowMinimumTier}, {"vip", "box-only", rules.CodeNotEligible},
	} {
		var re *rules.Error
		if err := redeem("r-"+tc.id+"-"+tc.reward, tc.id, tc.reward); !errors.As(err, &re) || re.Code != tc.code || re.Field != "rewardId" {
			t.Errorf("%s redeeming %s: %v, want %s naming rewardId", tc.id, tc.reward, err, tc.code)
		}
	}
	if err := redeem("vip-1", "vip", "vip-only"); err != nil {
		t.Fatalf("a tagged member redeeming a tag's reward: %v", err)
	}
	changeMembership(t, s, "plain", "plain-start", ledger.ActionStart)
	for _, reward := range []string{"box-only", "lounge"} {
		if err := redeem("plain-"+reward, "plain", reward); err != nil {
			t.Errorf("a box member redeeming %s: %v", reward, err)
		}
	}
	changeMembership(t, s, "plain", "plain-pause", ledger.ActionPause)
	if err := redeem("plain-paused", "plain", "box-only"); err == nil {
		t.Error("a paused membership still admits to its reward")
	}
	if rs, err := s.Redemptions(ctx, "plain"); err != nil || len(rs) != 2 {
		t.Fatalf("redemptions of plain: %d, %v; want the two admitted", len(rs), err)
	}
}

// wantMembershipEvents checks the outbox's membership.changed events of
// each member, in order: one per change, none for a replay.
func wantMembershipEvents(t *testing.T, s ledger.Ledger, want map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for _, ev := range allEvents(t, outboxOf(t, s), 1) {
		if ev.Type != ledger.EventMembershipChanged {
			continue
		}
		var d struct{ Action string }
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatalf("membership.changed %d: %v", ev.Seq, err)
		}
		got[ev.MemberID] = append(got[ev.MemberID], d.Action)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("membership.changed actions per member %v, want %v", got, want)
	}
}
