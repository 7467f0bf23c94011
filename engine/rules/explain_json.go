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
	if m := e.Membership; m != nil {
		dst = append(jsonenc.Field(dst, "membership"), '{')
		dst = jsonenc.String(jsonenc.Field(dst, "name"), m.Name)
		dst = decimal(jsonenc.Field(dst, "earnMultiplier"), m.EarnMultiplier)
		if m.TierFloor != "" {
			dst = jsonenc.String(jsonenc.Field(dst, "tierFloor"), m.TierFloor)
		}
		dst = append(jsonenc.String(jsonenc.Field(dst, "message"), m.Message), '}')
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
	if b.Limit != nil {
		dst = append(jsonenc.Field(dst, "limit"), '{')
		dst = jsonenc.Int(jsonenc.Field(dst, "count"), int64(b.Limit.Count))
		dst = jsonenc.String(jsonenc.Field(dst, "per"), b.Limit.Per)
		dst = append(dst, '}')
	}
	if b.MaxPerDay != nil {
		dst = jsonenc.Int(jsonenc.Field(dst, "maxPerDay"), int64(*b.MaxPerDay))
	}
	if b.LimitReached {
		dst = jsonenc.Bool(jsonenc.Field(dst, "limitReached"), true)
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

// ExplanationSummary is the compact form of an Explanation: what an earn
// keeps with its idempotency key for replays, and what it answers unless
// the full explanation is asked for. It has the totals, the base and tier
// numbers, and the campaigns in attribution order: one that applied with
// its numbers, one that did not with only its name and reason. The full
// explanation's messages, windows, display names and priorities are
// derived from the configuration, and a 50-campaign program's full
// explanation is ten times the rest of an earn's record.
type ExplanationSummary struct {
	Kind string       `json:"kind"`
	Base BaseSummary  `json:"base"`
	Tier *TierSummary `json:"tier,omitempty"`
	// Membership is the active membership whose multiplier applied.
	Membership             *TierSummary      `json:"membership,omitempty"`
	PointsWithoutCampaigns int64             `json:"pointsWithoutCampaigns"`
	CampaignBonus          int64             `json:"campaignBonus"`
	CampaignPointsGranted  int64             `json:"campaignPointsGranted"`
	Points                 int64             `json:"points"`
	Campaigns              []CampaignSummary `json:"campaigns"`
}

// BaseSummary is the base's rate (a purchase's earnRate or an action's
// points) and what it came to.
type BaseSummary struct {
	EarnRate          *config.Decimal `json:"earnRate,omitempty"`
	ActionPoints      *int64          `json:"actionPoints,omitempty"`
	LimitReached      bool            `json:"limitReached,omitempty"`
	DailyLimitReached bool            `json:"dailyLimitReached,omitempty"`
	Points            int64           `json:"points"`
}

// TierSummary is the tier whose multiplier applied.
type TierSummary struct {
	Name           string         `json:"name"`
	EarnMultiplier config.Decimal `json:"earnMultiplier"`
}

// CampaignSummary is one campaign's part: Name and Reason for a campaign
// that did not apply; Applied and the numbers (Multiplier or Bonus,
// Attributed, Granted, and the cap that cut it) for one that did.
type CampaignSummary struct {
	Name       string          `json:"name"`
	Applied    bool            `json:"applied,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	Multiplier *config.Decimal `json:"multiplier,omitempty"`
	Bonus      int64           `json:"bonus,omitempty"`
	Attributed int64           `json:"attributed,omitempty"`
	Granted    int64           `json:"granted,omitempty"`
	// CappedBy is the cap that cut the bonus (CapBudget or CapPerMember).
	// It is not named cap: a full explanation's cap is an object, and a
	// record stored in full before summaries must still decode.
	CappedBy string `json:"cappedBy,omitempty"`
}

// Summary is e's compact form.
func (e *Explanation) Summary() *ExplanationSummary {
	s := e.summaryHead()
	s.Campaigns = make([]CampaignSummary, len(e.Campaigns))
	for i := range e.Campaigns {
		s.Campaigns[i] = e.Campaigns[i].summary()
	}
	return &s
}

// summaryHead is e's summary without its campaigns.
func (e *Explanation) summaryHead() ExplanationSummary {
	s := ExplanationSummary{
		Kind: e.Kind,
		Base: BaseSummary{EarnRate: e.Base.EarnRate, ActionPoints: e.Base.ActionPoints,
			LimitReached: e.Base.LimitReached, DailyLimitReached: e.Base.DailyLimitReached, Points: e.Base.Points},
		PointsWithoutCampaigns: e.PointsWithoutCampaigns,
		CampaignBonus:          e.CampaignBonus,
		CampaignPointsGranted:  e.CampaignPointsGranted,
		Points:                 e.Points,
	}
	if e.Tier != nil {
		s.Tier = &TierSummary{Name: e.Tier.Name, EarnMultiplier: e.Tier.EarnMultiplier}
	}
	if m := e.Membership; m != nil {
		s.Membership = &TierSummary{Name: m.Name, EarnMultiplier: m.EarnMultiplier}
	}
	return s
}

// summary is c's part of the compact form.
func (c *CampaignExplanation) summary() CampaignSummary {
	if !c.Applied {
		return CampaignSummary{Name: c.Name, Reason: c.Reason}
	}
	s := CampaignSummary{Name: c.Name, Applied: true, Multiplier: c.Multiplier, Bonus: c.Bonus,
		Attributed: c.Attributed, Granted: c.Granted}
	if c.Cap != nil {
		s.CappedBy = c.Cap.Cap
	}
	return s
}

// AppendSummaryJSON appends e's compact form exactly as Summary's
// AppendJSON does, without building it: an earn stores the summary of an
// explanation that lists every campaign.
func (e *Explanation) AppendSummaryJSON(dst []byte) []byte {
	head := e.summaryHead()
	dst = head.appendHead(dst)
	for i := range e.Campaigns {
		if i > 0 {
			dst = append(dst, ',')
		}
		cs := e.Campaigns[i].summary()
		dst = cs.appendJSON(dst)
	}
	return append(dst, ']', '}')
}

// MarshalJSON encodes s with AppendJSON.
func (s *ExplanationSummary) MarshalJSON() ([]byte, error) { return s.AppendJSON(nil) }

// AppendJSON appends s. A campaign that applied always has its attributed
// and granted points, zero included; one that did not has its name and
// reason only. Decoding the output and encoding it again gives the same
// bytes.
func (s *ExplanationSummary) AppendJSON(dst []byte) ([]byte, error) {
	dst = s.appendHead(dst)
	for i := range s.Campaigns {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = s.Campaigns[i].appendJSON(dst)
	}
	return append(dst, ']', '}'), nil
}

// appendHead appends s up to the opening of its campaigns array.
func (s *ExplanationSummary) appendHead(dst []byte) []byte {
	dst = append(dst, '{')
	dst = jsonenc.String(jsonenc.Field(dst, "kind"), s.Kind)
	dst = append(jsonenc.Field(dst, "base"), '{')
	if b := s.Base; b.EarnRate != nil {
		dst = decimal(jsonenc.Field(dst, "earnRate"), *b.EarnRate)
	}
	if s.Base.ActionPoints != nil {
		dst = jsonenc.Int(jsonenc.Field(dst, "actionPoints"), *s.Base.ActionPoints)
	}
	if s.Base.LimitReached {
		dst = jsonenc.Bool(jsonenc.Field(dst, "limitReached"), true)
	}
	if s.Base.DailyLimitReached {
		dst = jsonenc.Bool(jsonenc.Field(dst, "dailyLimitReached"), true)
	}
	dst = jsonenc.Int(jsonenc.Field(dst, "points"), s.Base.Points)
	dst = append(dst, '}')
	for _, named := range []struct {
		field string
		t     *TierSummary
	}{{"tier", s.Tier}, {"membership", s.Membership}} {
		if t := named.t; t != nil {
			dst = append(jsonenc.Field(dst, named.field), '{')
			dst = jsonenc.String(jsonenc.Field(dst, "name"), t.Name)
			dst = decimal(jsonenc.Field(dst, "earnMultiplier"), t.EarnMultiplier)
			dst = append(dst, '}')
		}
	}
	dst = jsonenc.Int(jsonenc.Field(dst, "pointsWithoutCampaigns"), s.PointsWithoutCampaigns)
	dst = jsonenc.Int(jsonenc.Field(dst, "campaignBonus"), s.CampaignBonus)
	dst = jsonenc.Int(jsonenc.Field(dst, "campaignPointsGranted"), s.CampaignPointsGranted)
	dst = jsonenc.Int(jsonenc.Field(dst, "points"), s.Points)
	return append(jsonenc.Field(dst, "campaigns"), '[')
}

func (c *CampaignSummary) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = jsonenc.String(jsonenc.Field(dst, "name"), c.Name)
	if !c.Applied {
		dst = jsonenc.String(jsonenc.Field(dst, "reason"), c.Reason)
		return append(dst, '}')
	}
	dst = jsonenc.Bool(jsonenc.Field(dst, "applied"), true)
	if c.Multiplier != nil {
		dst = decimal(jsonenc.Field(dst, "multiplier"), *c.Multiplier)
	}
	if c.Bonus != 0 {
		dst = jsonenc.Int(jsonenc.Field(dst, "bonus"), c.Bonus)
	}
	dst = jsonenc.Int(jsonenc.Field(dst, "attributed"), c.Attributed)
	dst = jsonenc.Int(jsonenc.Field(dst, "granted"), c.Granted)
	if c.CappedBy != "" {
		dst = jsonenc.String(jsonenc.Field(dst, "cappedBy"), c.CappedBy)
	}
	return append(dst, '}')
}
