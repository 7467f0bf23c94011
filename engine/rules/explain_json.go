package rules

import (
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/internal/jsonenc"
)

// The explanation is encoded by hand: with many campaigns it is most of an
// earn's response and of its stored result (see jsonenc).

// AppendJSON appends e as json.Marshal encodes it.
func (e *Explanation) AppendJSON(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, '{')
	if e.EventID != "" {
		dst = jsonenc.String(jsonenc.Field(dst, "eventId"), e.EventID)
	}
	dst = jsonenc.String(jsonenc.Field(dst, "kind"), e.Kind)
	dst = jsonenc.String(jsonenc.Field(dst, "rounding"), e.Rounding)
	dst = e.Base.appendJSON(jsonenc.Field(dst, "base"))
	if e.Tier != nil {
		dst = e.Tier.appendJSON(jsonenc.Field(dst, "tier"))
	}
	dst = jsonenc.Int(jsonenc.Field(dst, "pointsWithoutCampaigns"), e.PointsWithoutCampaigns)
	dst = jsonenc.Int(jsonenc.Field(dst, "campaignBonus"), e.CampaignBonus)
	dst = jsonenc.Int(jsonenc.Field(dst, "campaignPointsGranted"), e.CampaignPointsGranted)
	dst = jsonenc.Int(jsonenc.Field(dst, "points"), e.Points)
	if dst, err = jsonenc.Array(jsonenc.Field(dst, "campaigns"), e.Campaigns, (*CampaignExplanation).appendJSON); err != nil {
		return dst, err
	}
	if len(e.CapsHit) > 0 {
		dst, _ = jsonenc.Array(jsonenc.Field(dst, "capsHit"), e.CapsHit, func(h *CapHit, dst []byte) ([]byte, error) { return h.appendJSON(dst), nil })
	}
	return append(dst, '}'), nil
}

func (b *BaseExplanation) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	if b.Amount != nil {
		dst = decimal(jsonenc.Field(dst, "amount"), *b.Amount)
	}
	if b.Currency != "" {
		dst = jsonenc.String(jsonenc.Field(dst, "currency"), b.Currency)
	}
	if b.EarnRate != nil {
		dst = decimal(jsonenc.Field(dst, "earnRate"), *b.EarnRate)
	}
	if b.Action != "" {
		dst = jsonenc.String(jsonenc.Field(dst, "action"), b.Action)
	}
	if b.ActionPoints != nil {
		dst = jsonenc.Int(jsonenc.Field(dst, "actionPoints"), *b.ActionPoints)
	}
	if b.MaxPerDay != nil {
		dst = jsonenc.Int(jsonenc.Field(dst, "maxPerDay"), int64(*b.MaxPerDay))
	}
	if b.DailyLimitReached {
		dst = jsonenc.Bool(jsonenc.Field(dst, "dailyLimitReached"), true)
	}
	dst = jsonenc.String(jsonenc.Field(dst, "exact"), b.Exact)
	dst = jsonenc.Int(jsonenc.Field(dst, "points"), b.Points)
	dst = jsonenc.String(jsonenc.Field(dst, "message"), b.Message)
	return append(dst, '}')
}

func (t *TierExplanation) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = jsonenc.String(jsonenc.Field(dst, "name"), t.Name)
	dst = jsonenc.Int(jsonenc.Field(dst, "rank"), int64(t.Rank))
	dst = decimal(jsonenc.Field(dst, "earnMultiplier"), t.EarnMultiplier)
	if t.Message != "" {
		dst = jsonenc.String(jsonenc.Field(dst, "message"), t.Message)
	}
	return append(dst, '}')
}

func (c *CampaignExplanation) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, '{')
	dst = jsonenc.String(jsonenc.Field(dst, "name"), c.Name)
	if c.DisplayName != "" {
		dst = jsonenc.String(jsonenc.Field(dst, "displayName"), c.DisplayName)
	}
	dst = jsonenc.String(jsonenc.Field(dst, "stacking"), c.Stacking)
	dst = jsonenc.Int(jsonenc.Field(dst, "priority"), int64(c.Priority))
	dst = jsonenc.Bool(jsonenc.Field(dst, "applied"), c.Applied)
	if c.Reason != "" {
		dst = jsonenc.String(jsonenc.Field(dst, "reason"), c.Reason)
	}
	if c.Message != "" {
		dst = jsonenc.String(jsonenc.Field(dst, "message"), c.Message)
	}
	if w := c.Window; w != nil {
		var err error
		dst = append(jsonenc.Field(dst, "window"), '{')
		if dst, err = jsonenc.Time(jsonenc.Field(dst, "start"), w.Start); err != nil {
			return dst, err
		}
		if dst, err = jsonenc.Time(jsonenc.Field(dst, "end"), w.End); err != nil {
			return dst, err
		}
		dst = jsonenc.String(jsonenc.Field(dst, "relation"), w.Relation)
		dst = append(dst, '}')
	}
	if c.OverriddenBy != "" {
		dst = jsonenc.String(jsonenc.Field(dst, "overriddenBy"), c.OverriddenBy)
	}
	if c.Multiplier != nil {
		dst = decimal(jsonenc.Field(dst, "multiplier"), *c.Multiplier)
	}
	if c.Bonus != 0 {
		dst = jsonenc.Int(jsonenc.Field(dst, "bonus"), c.Bonus)
	}
	dst = jsonenc.Int(jsonenc.Field(dst, "attributed"), c.Attributed)
	dst = jsonenc.Int(jsonenc.Field(dst, "granted"), c.Granted)
	if c.Cap != nil {
		dst = c.Cap.appendJSON(jsonenc.Field(dst, "cap"))
	}
	return append(dst, '}'), nil
}

func (h *CapHit) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = jsonenc.String(jsonenc.Field(dst, "campaign"), h.Campaign)
	dst = jsonenc.String(jsonenc.Field(dst, "cap"), h.Cap)
	dst = jsonenc.Int(jsonenc.Field(dst, "remaining"), h.Remaining)
	dst = jsonenc.Int(jsonenc.Field(dst, "attributed"), h.Attributed)
	dst = jsonenc.Int(jsonenc.Field(dst, "granted"), h.Granted)
	return append(dst, '}')
}

// decimal appends d as its MarshalJSON does: the canonical string form.
func decimal(dst []byte, d config.Decimal) []byte { return jsonenc.String(dst, d.String()) }
