package rules

import (
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// Regrant replaces the pre-read grants with the store's, keeping the sums.
func TestRegrant(t *testing.T) {
	s := program("1", config.RoundingFloor)
	s.Campaigns = []config.Campaign{
		campaign("a", func(c *config.Campaign) {
			c.Rules.PurchaseBonus = &config.PurchaseBonus{Points: 30}
			c.Limits = &config.CampaignLimits{PerMemberCap: ptr(int64(100))}
		}),
		campaign("b", func(c *config.Campaign) { c.Rules.PurchaseBonus = &config.PurchaseBonus{Points: 20}; c.Priority = 1 }),
	}
	// The pre-read knows 90 of a's cap is used: a is cut to 10.
	p := mustPrice(t, s, purchase("10", midJune), MemberContext{BonusGranted: map[string]int64{"a": 90}}, midJune)
	if p.Points != 40 || len(p.Explanation.CapsHit) != 1 {
		t.Fatalf("pre-read pricing: %+v", p.Explanation)
	}
	// The store granted a nothing (another earn took the room) and b only 15.
	ex := p.Explanation
	ex.Regrant(map[string]Grant{"a": {Granted: 0, Cap: CapPerMember, Remaining: 0}, "b": {Granted: 15, Cap: CapBudget, Remaining: 15}})
	checkSums(t, Pricing{Points: ex.Points, Explanation: ex})
	if ex.Points != 25 || ex.CampaignPointsGranted != 15 || len(ex.CapsHit) != 2 ||
		ex.CapsHit[0] != (CapHit{Campaign: "b", Cap: CapBudget, Remaining: 15, Attributed: 20, Granted: 15}) ||
		ex.CapsHit[1] != (CapHit{Campaign: "a", Cap: CapPerMember, Remaining: 0, Attributed: 30, Granted: 0}) {
		t.Errorf("regranted: %+v", ex)
	}
	// Full grants clear the pre-read's cap.
	ex.Regrant(map[string]Grant{"a": {Granted: 30}, "b": {Granted: 20}})
	checkSums(t, Pricing{Points: ex.Points, Explanation: ex})
	if ex.Points != 60 || ex.CapsHit != nil || campaignByName(t, Pricing{Explanation: ex}, "a").Message != "" {
		t.Errorf("fully granted: %+v", ex)
	}
}

// LimitReached makes an action earn nothing, its campaigns included.
func TestLimitReachedRewrite(t *testing.T) {
	s := program("1", config.RoundingFloor)
	s.Points.Actions = []config.ActionReward{{Name: "review", Points: 10, MaxPerDay: ptr(int32(1))}}
	s.Campaigns = []config.Campaign{campaign("r", func(c *config.Campaign) {
		c.Rules.ActionBonuses = []config.ActionBonus{{Action: "review", Points: 5}}
	})}
	p := mustPrice(t, s, Event{Kind: EventAction, Action: "review", OccurredAt: midJune}, MemberContext{}, midJune)
	ex := p.Explanation
	ex.LimitReached(&config.ActionLimit{Count: 1, Per: config.LimitDay}, 1)
	checkSums(t, Pricing{Points: ex.Points, Explanation: ex})
	want := mustPrice(t, s, Event{Kind: EventAction, Action: "review", OccurredAt: midJune}, MemberContext{ActionsInPeriod: 1}, midJune).Explanation
	if ex.Points != 0 || !ex.Base.DailyLimitReached || !ex.Base.LimitReached || ex.Base.Message != want.Base.Message ||
		ex.Campaigns[0].Reason != ReasonDailyLimitReached || ex.Campaigns[0].Reason != want.Campaigns[0].Reason {
		t.Errorf("limited: %+v\nwant like %+v", ex, want)
	}
}
