package rules

import (
	"fmt"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// Grant is what the store granted a campaign at write time, where budgets
// and per-member caps are enforced under lock. Price's caps come from a read
// before the write, so concurrent earns may have used the room since.
type Grant struct {
	Granted int64
	// Cap is CapBudget or CapPerMember when a cap cut the bonus; Remaining
	// is what that cap still allowed before this event.
	Cap       string
	Remaining int64
}

// Regrant rewrites the explanation with what the store granted each applied
// campaign (by name; a missing campaign got nothing), so that granted,
// capsHit and points say what the member actually received.
func (e *Explanation) Regrant(grants map[string]Grant) {
	e.CapsHit, e.CampaignPointsGranted = nil, 0
	for i := range e.Campaigns {
		c := &e.Campaigns[i]
		if !c.Applied {
			continue
		}
		g := grants[c.Name]
		if c.Cap != nil {
			c.Message = "" // the pre-read cap's message no longer holds
		}
		c.Granted, c.Cap = g.Granted, nil
		if g.Granted < c.Attributed {
			c.Cap = &CapHit{Campaign: c.Name, Cap: g.Cap, Remaining: g.Remaining, Attributed: c.Attributed, Granted: g.Granted}
			c.Message = capMessage(g, c.Attributed)
			e.CapsHit = append(e.CapsHit, *c.Cap)
		}
		e.CampaignPointsGranted += c.Granted
	}
	e.Points = e.PointsWithoutCampaigns + e.CampaignPointsGranted
}

// LimitReached rewrites the explanation of an action event the store
// found over its limit l (count earned already in the limit's period) when
// it wrote it: the event earns nothing, not even campaign bonuses, as Price
// would have said.
func (e *Explanation) LimitReached(l *config.ActionLimit, count int64) {
	e.Base.setLimit(l)
	e.Base.limitReached(count)
	e.PointsWithoutCampaigns, e.CampaignBonus, e.CampaignPointsGranted, e.Points = 0, 0, 0, 0
	e.CapsHit = nil
	for i := range e.Campaigns {
		c := &e.Campaigns[i]
		if !c.Applied {
			continue
		}
		c.Applied = false
		c.Reason, c.Message = overLimitReason(e.Base.Action, l)
		c.Multiplier, c.Bonus, c.Attributed, c.Granted, c.Cap = nil, 0, 0, 0, nil
	}
}

// capMessage explains a grant a cap cut from attributed points.
func capMessage(g Grant, attributed int64) string {
	return fmt.Sprintf("%s leaves %d of the %d bonus points", g.Cap, g.Remaining, attributed)
}
