package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

type balance struct {
	Available      int64 `json:"available"`
	Pending        int64 `json:"pending"`
	LifetimeEarned int64 `json:"lifetimeEarned"`
}

type earnResult struct {
	Points   int64 `json:"points"`
	Referral *struct {
		ReferrerID     string    `json:"referrerId"`
		ReferrerReward int64     `json:"referrerReward"`
		RefereeReward  int64     `json:"refereeReward"`
		AvailableAt    time.Time `json:"availableAt"`
	} `json:"referral"`
	Pending     bool        `json:"pending"`
	Balance     balance     `json:"balance"`
	Replayed    bool        `json:"replayed"`
	Explanation explanation `json:"explanation"`
}

// explanation is the part of an earn's explanation the demo narrates. The
// demo earns with explain=full: the summary an earn answers by default does
// not say which exclusive campaign overrode another.
type explanation struct {
	Base struct {
		Points int64 `json:"points"`
	} `json:"base"`
	Tier *struct {
		Name           string `json:"name"`
		EarnMultiplier string `json:"earnMultiplier"`
	} `json:"tier"`
	PointsWithoutCampaigns int64 `json:"pointsWithoutCampaigns"`
	Points                 int64 `json:"points"`
	Campaigns              []struct {
		Name         string `json:"name"`
		Applied      bool   `json:"applied"`
		Reason       string `json:"reason"`
		OverriddenBy string `json:"overriddenBy"`
		Multiplier   string `json:"multiplier"`
		Granted      int64  `json:"granted"`
	} `json:"campaigns"`
}

func (e explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "base %d", e.Base.Points)
	if e.Tier != nil {
		fmt.Fprintf(&b, ", tier %s ×%s → %d", e.Tier.Name, e.Tier.EarnMultiplier, e.PointsWithoutCampaigns)
	}
	for _, c := range e.Campaigns {
		if c.Applied {
			fmt.Fprintf(&b, "; %s", c.Name)
			if c.Multiplier != "" {
				fmt.Fprintf(&b, " ×%s", c.Multiplier)
			}
			fmt.Fprintf(&b, " +%d", c.Granted)
		} else {
			fmt.Fprintf(&b, "; %s: %s", c.Name, c.Reason)
		}
	}
	return b.String()
}

type memberView struct {
	balance
	ExpiringSoon int64 `json:"expiringSoon"`
}

// memberTags are the tags the demo enrolls each member with.
var memberTags = map[string][]string{"alice": {"app"}, "bob": nil, "carol": {"student"}}

// traffic plays a day at the coffee chain and checks that the books add up.
// Each check runs as soon as its answer arrives, so a wrong outcome stops
// the demo at once.
func (d *demo) traffic(ctx context.Context, opens, closes time.Time) error {
	for _, id := range []string{"alice", "bob"} {
		d.enrolled[id] = time.Now()
		if _, err := d.call("POST", "/v1/members", "ingest", map[string]any{"idempotencyKey": "enroll-" + id, "memberId": id, "tags": memberTags[id]}, nil); err != nil {
			return err
		}
	}
	var alice struct {
		ReferralCode string `json:"referralCode"`
	}
	if _, err := d.call("GET", "/v1/members/alice", "read", nil, &alice); err != nil {
		return err
	}
	var carol struct {
		ReferredBy string `json:"referredBy"`
	}
	d.enrolled["carol"] = time.Now()
	if _, err := d.call("POST", "/v1/members", "ingest", map[string]any{"idempotencyKey": "enroll-carol", "memberId": "carol", "tags": memberTags["carol"], "referralCode": alice.ReferralCode}, &carol); err != nil {
		return err
	}
	if carol.ReferredBy != "alice" {
		return fmt.Errorf("carol enrolled with alice's code %s but is referred by %q", alice.ReferralCode, carol.ReferredBy)
	}
	d.say("enrolled alice and bob; carol enrolled with alice's referral code %s", alice.ReferralCode)

	if _, err := d.call("POST", "/v1/adjustments", "admin", map[string]any{
		"idempotencyKey": "welcome-alice", "memberId": "alice", "points": 100, "reason": "welcome bonus",
	}, nil); err != nil {
		return err
	}
	d.say("admin adjustment: alice gets a 100-bean welcome bonus, available at once")

	at := time.Now().UTC()
	before, err := d.firstPurchase("alice", "order-1001", "12.40", at, "before its window")
	if err != nil {
		return err
	}
	replay, err := d.purchase("alice", "order-1001", "12.40", at)
	if err != nil {
		return err
	}
	if !replay.Replayed || replay.Points != before.Points {
		return fmt.Errorf("a replayed purchase must return the original result, got %+v", replay)
	}
	d.say("the same purchase sent again (a POS retry) is answered from the idempotency record: %d beans, replayed=%v", replay.Points, replay.Replayed)

	if err := d.awaitPhase(ctx, demoCampaignName, loyaltyv1alpha1.CampaignActive, opens); err != nil {
		return err
	}
	during, err := d.firstPurchase("bob", "order-1002", "8.00", time.Now().UTC(), "inside its window")
	if err != nil {
		return err
	}
	if err := d.awaitPhase(ctx, demoCampaignName, loyaltyv1alpha1.CampaignCompleted, closes); err != nil {
		return err
	}
	after, err := d.firstPurchase("carol", "order-1003", "12.00", time.Now().UTC(), "after its window")
	if err != nil {
		return err
	}
	d.say("%s before, during and after its window: %s, %s and %s (%d, %d and %d beans), as the campaigns' schedules, audiences and stacking say",
		demoCampaignName, before.demo, during.demo, after.demo, before.Points, during.Points, after.Points)
	if after.Referral == nil || after.Referral.ReferrerID != "alice" {
		return fmt.Errorf("carol's first purchase over the minimum must convert alice's referral, got %+v", after.Referral)
	}
	d.say("carol's first qualifying purchase converts the referral: carol gets %d, alice %d beans, both held until %s",
		after.Referral.RefereeReward, after.Referral.ReferrerReward, after.Referral.AvailableAt.Format("2006-01-02"))

	big, err := d.purchase("alice", "order-1004", "520.00", time.Now().UTC())
	if err != nil {
		return err
	}
	var tiered struct {
		Tier string `json:"tier"`
	}
	if _, err := d.call("GET", "/v1/members/alice", "read", nil, &tiered); err != nil {
		return err
	}
	if tiered.Tier != "silver" {
		return fmt.Errorf("alice earned %d qualifying beans this year but is in tier %q; want silver", before.Points+big.Points, tiered.Tier)
	}
	d.say("alice has %d qualifying beans this year and moves up to Silver", before.Points+big.Points)
	next, err := d.purchase("alice", "order-1005", "10.00", time.Now().UTC())
	if err != nil {
		return err
	}
	if next.Explanation.Tier == nil || next.Explanation.Tier.Name != "silver" {
		return fmt.Errorf("alice's next purchase was priced at tier %+v; want silver", next.Explanation.Tier)
	}

	var order earnResult
	if _, err := d.call("POST", "/v1/earn?explain=full", "ingest", map[string]any{
		"idempotencyKey": "earn-app-2001", "memberId": "alice", "eventId": "app-2001",
		"action": "app-order", "occurredAt": time.Now().UTC().Format(time.RFC3339Nano),
	}, &order); err != nil {
		return err
	}
	d.say("alice orders in the app: %d beans (%s)", order.Points, order.Explanation)

	var redeemed struct {
		Redemption struct {
			Code   string `json:"code"`
			Points int64  `json:"points"`
		} `json:"redemption"`
		Balance balance `json:"balance"`
	}
	if _, err := d.call("POST", "/v1/redemptions", "ingest", map[string]any{"idempotencyKey": "redeem-1", "memberId": "alice", "rewardId": "free-espresso"}, &redeemed); err != nil {
		return err
	}
	d.say("alice redeems a free espresso from the catalog for %d beans: code %s, available %d", redeemed.Redemption.Points, redeemed.Redemption.Code, redeemed.Balance.Available)
	if _, err := d.call("POST", "/v1/redemptions", "ingest", map[string]any{"idempotencyKey": "redeem-2", "memberId": "alice", "rewardId": "free-espresso"}, nil); err == nil {
		return fmt.Errorf("a second free espresso the same day must be refused: the catalog limits it to one a day")
	} else {
		d.say("a second espresso the same day is refused: %v", err)
	}

	var reversed struct {
		Requested, FromPending, FromAvailable, Shortfall int64
	}
	if _, err := d.call("POST", "/v1/reverse", "ingest", map[string]any{"idempotencyKey": "refund-1001", "memberId": "alice", "eventId": "order-1001", "refundAmount": "6.20"}, &reversed); err != nil {
		return err
	}
	d.say("alice returns half of order-1001 (6.20 EUR): %d beans clawed back, %d from pending, %d from available", reversed.Requested, reversed.FromPending, reversed.FromAvailable)

	d.section("Balances")
	want := map[string]balance{
		"alice": {
			Available:      100 - 60,
			Pending:        before.Points + big.Points + next.Points + order.Points + after.Referral.ReferrerReward - reversed.Requested,
			LifetimeEarned: 100 + before.Points + big.Points + next.Points + order.Points + after.Referral.ReferrerReward - reversed.Requested,
		},
		"bob":   {Pending: during.Points, LifetimeEarned: during.Points},
		"carol": {Pending: after.Points + after.Referral.RefereeReward, LifetimeEarned: after.Points + after.Referral.RefereeReward},
	}
	for _, id := range []string{"alice", "bob", "carol"} {
		var view memberView
		if _, err := d.call("GET", "/v1/members/"+id, "read", nil, &view); err != nil {
			return err
		}
		d.say("%-5s available %4d  pending %4d  lifetime %4d", id, view.Available, view.Pending, view.LifetimeEarned)
		if view.balance != want[id] {
			return fmt.Errorf("%s's balance is %+v, the traffic adds up to %+v", id, view.balance, want[id])
		}
	}
	d.say("every balance equals the sum of what the engine acknowledged")

	d.section("Loyalty KPIs (GET /v1/analytics, last 30 days)")
	var report struct {
		KPIs struct {
			ParticipationRate      float64 `json:"participationRate"`
			RedemptionRate         float64 `json:"redemptionRate"`
			AverageCLV             string  `json:"averageClv"`
			ReferralRate           float64 `json:"referralRate"`
			ReferralConversionRate float64 `json:"referralConversionRate"`
			RepeatReferrers        int64   `json:"repeatReferrers"`
			ReferralCost           string  `json:"referralCostPerAcquiredMember"`
			OutstandingLiability   int64   `json:"outstandingLiability"`
			Breakage               float64 `json:"breakage"`
		} `json:"kpis"`
	}
	if _, err := d.call("GET", "/v1/analytics", "read", nil, &report); err != nil {
		return err
	}
	k := report.KPIs
	d.say("participation %.0f%%, redemption rate %.1f%%, average CLV %s EUR, breakage %.0f%%", 100*k.ParticipationRate, 100*k.RedemptionRate, k.AverageCLV, 100*k.Breakage)
	d.say("referral rate %.0f%%, conversion %.0f%%, repeat referrers %d, cost per acquired member %s beans", 100*k.ReferralRate, 100*k.ReferralConversionRate, k.RepeatReferrers, k.ReferralCost)
	var outstanding int64
	for _, b := range want {
		outstanding += b.Available + b.Pending
	}
	d.say("outstanding liability %d beans", k.OutstandingLiability)
	if k.OutstandingLiability != outstanding {
		return fmt.Errorf("the KPIs report %d beans outstanding; the members' balances add up to %d", k.OutstandingLiability, outstanding)
	}
	if k.ReferralConversionRate != 1 || k.ParticipationRate != 1 {
		return fmt.Errorf("one referral made and converted, every member active: want conversion and participation 100%%, got %+v", k)
	}
	return nil
}

// purchase sends a purchase; a retry must send the very same body, occurredAt included.
func (d *demo) purchase(member, order, amount string, at time.Time) (earnResult, error) {
	var res earnResult
	_, err := d.call("POST", "/v1/earn?explain=full", "ingest", map[string]any{
		"idempotencyKey": "earn-" + order, "memberId": member, "eventId": order,
		"amount": amount, "occurredAt": at.Format(time.RFC3339Nano),
	}, &res)
	if err != nil {
		return res, err
	}
	state := "available"
	if res.Pending {
		state = "pending for the program's 7-day return window"
	}
	if !res.Replayed {
		d.say("%s buys for %s EUR (%s): %d beans, %s\n        %s", member, amount, order, res.Points, state, res.Explanation)
	}
	return res, nil
}

// checkedPurchase is a member's first purchase and what the demo campaign did to it.
type checkedPurchase struct {
	earnResult
	demo outcome
}

// firstPurchase sends a member's first purchase and checks at once that
// every campaign applied, or did not, as worked out from the campaigns and
// the purchase: a member's first purchase, so no cap has refused one yet.
func (d *demo) firstPurchase(member, order, amount string, at time.Time, when string) (checkedPurchase, error) {
	res, err := d.purchase(member, order, amount, at)
	if err != nil {
		return checkedPurchase{}, err
	}
	want, err := expectedOutcomes(d.campaigns, purchase{
		at: at, amount: amount, tier: d.entryTier, tags: memberTags[member], enrolledAt: d.enrolled[member]})
	if err != nil {
		return checkedPurchase{}, fmt.Errorf("working out the campaigns for %s: %w", order, err)
	}
	if err := checkOutcomes(want, res.Explanation); err != nil {
		return checkedPurchase{}, fmt.Errorf("%s, %s of %s at %s: %w", order, when, demoCampaignName, at.Format(time.RFC3339), err)
	}
	if onlyDemoApplied(want) && res.Points != 2*res.Explanation.PointsWithoutCampaigns {
		return checkedPurchase{}, fmt.Errorf("%s gave %d beans for %d without it (%s); want double", demoCampaignName, res.Points, res.Explanation.PointsWithoutCampaigns, order)
	}
	d.say("every campaign's part in %s is as its schedule, audience and stacking say", order)
	return checkedPurchase{earnResult: res, demo: want[demoCampaignName]}, nil
}

// onlyDemoApplied reports whether the demo campaign is the one campaign applied.
func onlyDemoApplied(outcomes map[string]outcome) bool {
	for name, o := range outcomes {
		if o.applied != (name == demoCampaignName) {
			return false
		}
	}
	return true
}

// maxPhaseLag is how late a campaign's phase may change after its boundary.
const maxPhaseLag = 2 * time.Second

// awaitPhase waits for a campaign's phase change and checks it happened at
// its boundary: not before it, and at most maxPhaseLag after it. It gives up
// as soon as the phase is late.
func (d *demo) awaitPhase(ctx context.Context, name string, phase loyaltyv1alpha1.CampaignPhase, boundary time.Time) error {
	d.say("waiting for campaign %s to become %s at %s", name, phase, boundary.Format("15:04:05"))
	// Should the demo get here after the boundary, on a slow machine, the
	// phase must have changed by the time it looks.
	deadline := boundary
	if now := time.Now(); now.After(deadline) {
		deadline = now
	}
	deadline = deadline.Add(maxPhaseLag)
	var c loyaltyv1alpha1.Campaign
	var early time.Duration
	err := d.waitFor(ctx, time.Until(deadline), "campaign "+name+" "+string(phase), func() (bool, error) {
		if err := d.k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &c); err != nil {
			return false, err
		}
		early = time.Until(boundary)
		return c.Status.Phase == phase, nil
	})
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil && c.Status.Phase != phase:
		return fmt.Errorf("campaign %s is %q, not %s, %s after its boundary at %s", name, c.Status.Phase, phase,
			time.Since(boundary).Round(time.Millisecond), boundary.Format("15:04:05"))
	case err != nil:
		return err
	case early > 0:
		return fmt.Errorf("campaign %s became %s %s before its boundary at %s", name, phase, early.Round(time.Millisecond), boundary.Format("15:04:05"))
	}
	d.say("campaign %s is %s, %s after its boundary", name, phase, time.Since(boundary).Round(time.Millisecond))
	d.kubectl("get", "campaigns", "-n", namespace)
	return nil
}
