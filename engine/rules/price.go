package rules

import (
	"cmp"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/schedule"
)

// Event kinds.
const (
	EventPurchase = "purchase"
	EventAction   = "action"
)

// Event is something a member did that may earn points.
type Event struct {
	// ID is the event's id, echoed in the explanation.
	ID string
	// Kind is EventPurchase or EventAction.
	Kind string
	// Amount spent, in the program's currency (purchases).
	Amount config.Decimal
	// Action is the action's name, such as "review" (actions).
	Action string
	// OccurredAt is when it happened; windows and grace are judged by it,
	// never by when the event arrives.
	OccurredAt time.Time
}

// MemberContext is the member state pricing depends on, read by the store
// before pricing. Counters are as they were before this event.
type MemberContext struct {
	ID         string
	Tags       []string
	EnrolledAt time.Time
	// Tier is the member's current tier; "" (or a tier no longer in the
	// snapshot) means the entry tier, rank 0.
	Tier string
	// Membership names the member's active (or cancelling) membership and
	// MembershipEnd the end of its period; "" for none or a paused one.
	Membership    string
	MembershipEnd time.Time
	// ActionsInPeriod is how many times the member already earned for this
	// event's action in the action limit's window of OccurredAt
	// (ActionLimitWindow, in the program's time zone); compared with the
	// limit. Zero for an action without a limit.
	ActionsInPeriod int64
	// BonusGranted is the bonus each campaign already gave this member, by
	// campaign name. nil means unknown: per-member caps are then left to the
	// store. A campaign missing from a non-nil map has given nothing yet.
	BonusGranted map[string]int64
	// BudgetRemaining is each campaign's remaining totalBonusBudget, by
	// campaign name. nil means unknown: budgets are then left to the store.
	// A campaign missing from a non-nil map has its whole budget left.
	BudgetRemaining map[string]int64
}

// Pricing is what an event earns and why.
type Pricing struct {
	// Points granted: points without campaigns plus each campaign's granted bonus.
	Points int64
	// AvailableAt ends the pending period (OccurredAt + pendingPeriod).
	AvailableAt time.Time
	// ExpiresAt is OccurredAt + expiry.afterEarn, or zero.
	ExpiresAt time.Time
	// Explanation is returned to clients as is.
	Explanation Explanation
}

// Explanation is the public JSON account of how an event was priced.
type Explanation struct {
	EventID string `json:"eventId,omitempty"`
	// Kind is "purchase" or "action".
	Kind string `json:"kind"`
	// Rounding is the program's mode, applied once to each total.
	Rounding string           `json:"rounding"`
	Base     BaseExplanation  `json:"base"`
	Tier     *TierExplanation `json:"tier,omitempty"`
	// Membership is the active membership whose multiplier applied.
	Membership *MembershipExplanation `json:"membership,omitempty"`
	// PointsWithoutCampaigns is round(base × tier multiplier × membership
	// multiplier).
	PointsWithoutCampaigns int64 `json:"pointsWithoutCampaigns"`
	// CampaignBonus is what the applied campaigns add before caps: the
	// rounded total with campaigns minus PointsWithoutCampaigns.
	CampaignBonus int64 `json:"campaignBonus"`
	// CampaignPointsGranted is CampaignBonus after caps.
	CampaignPointsGranted int64 `json:"campaignPointsGranted"`
	// Points is PointsWithoutCampaigns + CampaignPointsGranted.
	Points int64 `json:"points"`
	// Campaigns lists every campaign of the program, in attribution order:
	// priority descending, then name.
	Campaigns []CampaignExplanation `json:"campaigns"`
	// CapsHit lists the campaigns whose bonus a cap cut.
	CapsHit []CapHit `json:"capsHit,omitempty"`
}

// BaseExplanation is the event's points before tier and campaigns.
type BaseExplanation struct {
	// Amount and EarnRate price a purchase: Points = round(Amount × EarnRate).
	Amount   *config.Decimal `json:"amount,omitempty"`
	Currency string          `json:"currency,omitempty"`
	EarnRate *config.Decimal `json:"earnRate,omitempty"`
	// Action and ActionPoints price an action.
	Action       string `json:"action,omitempty"`
	ActionPoints *int64 `json:"actionPoints,omitempty"`
	// Limit is the action's limit; MaxPerDay repeats its count for a
	// limit per Day, as before limits had other periods.
	Limit     *config.ActionLimit `json:"limit,omitempty"`
	MaxPerDay *int32              `json:"maxPerDay,omitempty"`
	// LimitReached: the action was already earned Limit.Count times in the
	// limit's period, so it earns nothing, not even campaign bonuses.
	// DailyLimitReached says the same of a limit per Day.
	LimitReached      bool `json:"limitReached,omitempty"`
	DailyLimitReached bool `json:"dailyLimitReached,omitempty"`
	// Exact is the unrounded base, such as "24.7".
	Exact   string `json:"exact"`
	Points  int64  `json:"points"`
	Message string `json:"message"`
}

// TierExplanation is the tier whose multiplier applied.
type TierExplanation struct {
	Name           string         `json:"name"`
	Rank           int32          `json:"rank"`
	EarnMultiplier config.Decimal `json:"earnMultiplier"`
	Message        string         `json:"message,omitempty"`
}

// Reasons a campaign did not apply.
const (
	ReasonPaused              = "paused"
	ReasonOutsideWindow       = "outsideWindow"
	ReasonAudienceTier        = "audienceTier"
	ReasonAudienceTags        = "audienceTags"
	ReasonNotNewMember        = "notNewMember"
	ReasonBelowMinimumSpend   = "belowMinimumSpend"
	ReasonNoRuleForEvent      = "noRuleForEvent"
	ReasonDailyLimitReached   = "dailyLimitReached"
	ReasonActionLimitReached  = "actionLimitReached"
	ReasonExclusiveOverridden = "exclusiveOverridden"
	ReasonBudgetExhausted     = "budgetExhausted"
	ReasonMemberCapReached    = "memberCapReached"
)

// Caps that can cut a campaign's bonus.
const (
	CapBudget    = "totalBonusBudget"
	CapPerMember = "perMemberCap"
)

// CampaignExplanation is one campaign's part in the pricing.
type CampaignExplanation struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName,omitempty"`
	Stacking    string `json:"stacking"`
	Priority    int32  `json:"priority"`
	Applied     bool   `json:"applied"`
	// Reason is one of the Reason codes when not applied.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Window is the window containing occurredAt when applied; for
	// outsideWindow the next window, or the last one when none opens later.
	Window *WindowExplanation `json:"window,omitempty"`
	// OverriddenBy names the winning exclusive campaign (exclusiveOverridden).
	OverriddenBy string `json:"overriddenBy,omitempty"`
	// Multiplier and Bonus are what the campaign contributed to the event.
	Multiplier *config.Decimal `json:"multiplier,omitempty"`
	Bonus      int64           `json:"bonus,omitempty"`
	// Attributed is the campaign's incremental effect on the rounded total;
	// Granted is Attributed after caps.
	Attributed int64   `json:"attributed"`
	Granted    int64   `json:"granted"`
	Cap        *CapHit `json:"cap,omitempty"`
}

// WindowExplanation is a campaign window [start, end) in the campaign's time zone.
type WindowExplanation struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Relation to occurredAt: "current", "next" or "previous".
	Relation string `json:"relation"`
}

// CapHit says a cap cut a campaign's bonus.
type CapHit struct {
	Campaign string `json:"campaign"`
	// Cap is "totalBonusBudget" or "perMemberCap", the tighter one.
	Cap string `json:"cap"`
	// Remaining is what the cap still allowed before this event.
	Remaining  int64 `json:"remaining"`
	Attributed int64 `json:"attributed"`
	Granted    int64 `json:"granted"`
}

// checkTime refuses events outside the late-event grace or in the future.
func checkTime(s *config.Snapshot, occurredAt, now time.Time) error {
	if grace := s.Points.LateEventGracePeriod; occurredAt.Before(now.Add(-grace.D())) {
		return &TimeError{Kind: ErrTooLate, Detail: fmt.Sprintf(
			"occurred at %s, more than the late-event grace period %s ago", occurredAt.UTC().Format(time.RFC3339), grace)}
	}
	if occurredAt.After(now.Add(MaxClockSkew)) {
		return &TimeError{Kind: ErrInFuture, Detail: fmt.Sprintf(
			"occurred at %s, more than %s in the future", occurredAt.UTC().Format(time.RFC3339), MaxClockSkew)}
	}
	return nil
}

// Price prices an event for a member at now under s.
//
// Points without campaigns are round(amount × earnRate × tierMultiplier) for
// a purchase and round(actionPoints × tierMultiplier) for an action. With
// campaigns the total is round(base × tierMultiplier × Π multipliers) + Σ
// bonuses, rounded once. Each applied campaign, in order of priority
// (descending) then name, is attributed the total with it and the campaigns
// before it minus the total without it, so the attributions add up to the
// campaign bonus exactly; multipliers are at least 1, so none is negative.
// A cap then cuts each campaign's attribution to what the campaign's budget
// and per-member cap still allow, when MemberContext knows them; the points
// a cap cuts are not handed to another campaign.
//
// A campaign applies when it is not paused, OccurredAt is inside one of its
// windows, the member matches every audience criterion set, one of its rules
// applies to the event (a multiplier to purchases, a purchase bonus to
// purchases of at least minimumSpend, an action bonus to that action) and
// neither cap is already used up: a used-up campaign does not take part in
// stacking, so an exhausted exclusive campaign does not block the others.
// When an applicable campaign is Exclusive, only the exclusive one of highest
// priority applies (ties: the name sorting first) and all others are
// exclusiveOverridden; otherwise every applicable campaign applies.
func Price(s *config.Snapshot, ev Event, m MemberContext, now time.Time) (Pricing, error) {
	if err := checkTime(s, ev.OccurredAt, now); err != nil {
		return Pricing{}, err
	}
	ex := Explanation{EventID: ev.ID, Kind: ev.Kind, Rounding: s.Points.Rounding, Campaigns: []CampaignExplanation{}}
	base, overLimit, err := priceBase(s, ev, m, &ex.Base)
	if err != nil {
		return Pricing{}, err
	}

	// The tier and membership multipliers scale every total, with or
	// without campaigns; an active membership's tier floor raises the tier.
	held := ActiveMembership(s, m, ev.OccurredAt)
	withTier := base
	if t, msg := memberTierOf(s, membershipFloor(s, m.Tier, held)); t != nil {
		mult := multiplier(t.EarnMultiplier)
		withTier = base.times(mult)
		if t.Name != m.Tier && held != nil && t.Name == held.Benefits.TierFloor {
			msg = fmt.Sprintf("the tier floor of membership %q", held.Name)
		}
		ex.Tier = &TierExplanation{Name: t.Name, Rank: t.Rank, EarnMultiplier: mult, Message: msg}
	}
	if held != nil {
		ex.Membership = membershipExplanation(held)
		withTier = withTier.times(ex.Membership.EarnMultiplier)
	}
	ex.PointsWithoutCampaigns = withTier.round(s.Points.Rounding)

	cands, err := considerCampaigns(s, ev, m, ex.Tier, held, overLimit)
	if err != nil {
		return Pricing{}, err
	}
	selectStacking(cands)
	ex.Campaigns = cands.campaigns
	attributeCampaigns(s, &ex, withTier, cands)

	p := Pricing{Points: ex.Points, AvailableAt: ev.OccurredAt.Add(s.Points.PendingPeriod.D()), Explanation: ex}
	if x := s.Points.Expiry; x != nil && x.AfterEarn != nil {
		p.ExpiresAt = ev.OccurredAt.Add(x.AfterEarn.D())
	}
	return p, nil
}

// priceBase is the exact points of the event before tier and campaigns,
// explained in b, and the action's limit when the event is over it.
func priceBase(s *config.Snapshot, ev Event, m MemberContext, b *BaseExplanation) (scaled, *config.ActionLimit, error) {
	var base scaled
	var overLimit *config.ActionLimit
	switch ev.Kind {
	case EventPurchase:
		amount, rate := ev.Amount, s.Points.EarnRate
		base = integer(1).times(amount).times(rate)
		*b = BaseExplanation{Amount: &amount, Currency: s.Program.Currency, EarnRate: &rate}
		b.Message = fmt.Sprintf("%s %s × %s points per unit = %s", amount, s.Program.Currency, rate, base)
	case EventAction:
		a, ok := findAction(s, ev.Action)
		if !ok {
			if ev.Action == "" {
				return scaled{}, nil, errorf(CodeInvalidEvent, "action", "required for an action event")
			}
			return scaled{}, nil, errorf(CodeUnknownAction, "action", "the program has no action %q", ev.Action)
		}
		points := a.Points
		*b = BaseExplanation{Action: a.Name, ActionPoints: &points}
		limit := a.EffectiveLimit()
		b.setLimit(limit)
		if LimitReached(limit, m.ActionsInPeriod) {
			overLimit = limit
			b.limitReached(m.ActionsInPeriod)
			base = integer(0)
		} else {
			base = integer(points)
			b.Message = fmt.Sprintf("%q earns %d points", a.Name, points)
		}
	default:
		return scaled{}, nil, errorf(CodeInvalidEvent, "kind", "%q must be %q or %q", ev.Kind, EventPurchase, EventAction)
	}
	b.Exact = base.String()
	b.Points = base.round(s.Points.Rounding)
	return base, overLimit, nil
}

// attributeCampaigns grants the applied campaigns of ex their points, in
// order, from the total with the tier (withTier): total_i is the rounded
// total with the first i applied campaigns, and campaign i gets
// total_i − total_{i−1}, cut by its caps. The running product is kept in
// one big.Int, multiplied in place.
func attributeCampaigns(s *config.Snapshot, ex *Explanation, withTier scaled, cands candidates) {
	value := scaled{num: new(big.Int).Set(withTier.num), places: withTier.places}
	var q, r big.Int
	bonuses, prev := int64(0), ex.PointsWithoutCampaigns
	for i := range ex.Campaigns {
		c := &ex.Campaigns[i]
		if !c.Applied {
			continue
		}
		if c.Multiplier != nil {
			value.mulInPlace(*c.Multiplier)
		}
		bonuses += c.Bonus
		total := value.roundWith(s.Points.Rounding, &q, &r) + bonuses
		c.Attributed, c.Granted = total-prev, total-prev
		prev = total
		if g := cands.state[i].room.Grant(c.Attributed); g.Cap != "" {
			c.Granted = g.Granted
			c.Cap = &CapHit{Campaign: c.Name, Cap: g.Cap, Remaining: g.Remaining, Attributed: c.Attributed, Granted: c.Granted}
			c.Message = capMessage(g, c.Attributed)
			ex.CapsHit = append(ex.CapsHit, *c.Cap)
		}
		ex.CampaignPointsGranted += c.Granted
	}
	ex.CampaignBonus = prev - ex.PointsWithoutCampaigns
	ex.Points = ex.PointsWithoutCampaigns + ex.CampaignPointsGranted
}

func findAction(s *config.Snapshot, name string) (config.ActionReward, bool) {
	for _, a := range s.Points.Actions {
		if a.Name == name {
			return a, true
		}
	}
	return config.ActionReward{}, false
}

// multiplier reads a tier or campaign multiplier. Validation keeps them from
// 1 to 10, so zero only means a snapshot built in code that left the field
// unset, which Parse would have defaulted to 1.
func multiplier(d config.Decimal) config.Decimal {
	if d.Units() == 0 {
		return config.DecimalFromUnits(config.DecimalScale)
	}
	return d
}

// memberTierOf is the member's tier, the entry tier when name is empty or no
// longer in the snapshot, or nil for a program without tiers.
func memberTierOf(s *config.Snapshot, name string) (*config.Tier, string) {
	var entry *config.Tier
	for i := range s.Tiers {
		t := &s.Tiers[i]
		if name != "" && t.Name == name {
			return t, ""
		}
		if t.Rank == 0 {
			entry = t
		}
	}
	if entry != nil && name != "" {
		return entry, fmt.Sprintf("tier %q is not in the program; the entry tier applies", name)
	}
	return entry, ""
}

// candidates are the campaigns being considered, in attribution order:
// their explanations, and beside them what pricing needs of each.
type candidates struct {
	campaigns []CampaignExplanation
	state     []candidateState
}

// candidateState is what pricing knows of a campaign beyond its explanation.
type candidateState struct {
	// applicable before stacking is decided.
	applicable bool
	exclusive  bool
	// room is what the campaign's known caps leave.
	room CapRoom
}

// considerCampaigns explains each campaign of s for the event, in
// attribution order (priority descending, then name), and notes which are
// applicable. The explanations' windows and multipliers share one
// allocation each, since every campaign of a large program usually has them.
func considerCampaigns(s *config.Snapshot, ev Event, m MemberContext, tier *TierExplanation, held *config.Membership, overLimit *config.ActionLimit) (candidates, error) {
	n := len(s.Campaigns)
	cands := candidates{campaigns: make([]CampaignExplanation, n), state: make([]candidateState, n)}
	windows := make([]WindowExplanation, n)
	mults := make([]config.Decimal, 0, n)
	for k, i := range attributionOrder(s.Campaigns) {
		c := &s.Campaigns[i]
		ce, st := &cands.campaigns[k], &cands.state[k]
		*ce = CampaignExplanation{Name: c.Name, DisplayName: c.DisplayName, Stacking: orDefault(c.Stacking, config.StackingStack), Priority: c.Priority}
		st.exclusive = ce.Stacking == config.StackingExclusive
		sch, err := s.Schedule(c.Schedule)
		if err != nil {
			return candidates{}, errorf(CodeInvalidSnapshot, "campaigns["+c.Name+"].schedule", "%v", err)
		}
		reason, msg := "", ""
		if c.Paused {
			reason, msg = ReasonPaused, "the campaign is paused"
		} else if w, ok := sch.WindowAt(ev.OccurredAt); !ok {
			reason = ReasonOutsideWindow
			msg = "occurredAt " + ev.OccurredAt.UTC().Format(time.RFC3339) + " is outside the campaign's windows"
			ce.Window = nearestWindow(sch, c.Schedule, ev.OccurredAt)
		} else {
			windows[k] = WindowExplanation{Start: w.Start, End: w.End, Relation: "current"}
			ce.Window = &windows[k]
			if reason, msg = audience(c.Audience, m, tier, ev.OccurredAt); reason == "" && c.Audience != nil {
				reason, msg = audienceMembership(c.Audience.Memberships, held)
			}
			if reason == "" {
				reason, msg = campaignRules(ce, &mults, c.Rules, ev, overLimit)
			}
			if reason == "" {
				reason, msg = st.caps(c, m)
			}
		}
		st.applicable = reason == ""
		if !st.applicable {
			// A campaign that does not apply contributes nothing, whatever its rules say.
			ce.Multiplier, ce.Bonus = nil, 0
			ce.Reason, ce.Message = reason, msg
		}
	}
	return cands, nil
}

// attributionOrder is the indexes of campaigns by priority descending, then
// name: the order campaigns are explained and attributed in.
func attributionOrder(campaigns []config.Campaign) []int {
	order := make([]int, len(campaigns))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ca, cb := &campaigns[a], &campaigns[b]
		return cmp.Or(cmp.Compare(cb.Priority, ca.Priority), strings.Compare(ca.Name, cb.Name))
	})
	return order
}

// audience returns why the member is not in the campaign's audience, or "".
func audience(a *config.CampaignAudience, m MemberContext, tier *TierExplanation, occurredAt time.Time) (string, string) {
	if a == nil {
		return "", ""
	}
	if len(a.Tiers) > 0 && (tier == nil || !slices.Contains(a.Tiers, tier.Name)) {
		name := ""
		if tier != nil {
			name = tier.Name
		}
		return ReasonAudienceTier, fmt.Sprintf("tier %q is not one of %s", name, strings.Join(a.Tiers, ", "))
	}
	if len(a.MemberTags) > 0 && !slices.ContainsFunc(m.Tags, func(t string) bool { return slices.Contains(a.MemberTags, t) }) {
		return ReasonAudienceTags, "the member has none of the tags " + strings.Join(a.MemberTags, ", ")
	}
	if d := a.NewMembersWithin; d != nil && occurredAt.Sub(m.EnrolledAt) > d.D() {
		return ReasonNotNewMember, fmt.Sprintf("enrolled at %s, more than %s before the event",
			m.EnrolledAt.UTC().Format(time.RFC3339), d)
	}
	return "", ""
}

// campaignRules sets what the campaign gives the event, or returns why it
// gives nothing. A multiplier is appended to mults, whose capacity is one
// per campaign, and c points into it.
func campaignRules(c *CampaignExplanation, mults *[]config.Decimal, r config.CampaignRules, ev Event, overLimit *config.ActionLimit) (string, string) {
	switch ev.Kind {
	case EventPurchase:
		if r.PointsMultiplier != nil {
			*mults = append(*mults, multiplier(*r.PointsMultiplier))
			c.Multiplier = &(*mults)[len(*mults)-1]
		}
		if b := r.PurchaseBonus; b != nil {
			if decimalCmp(ev.Amount, b.MinimumSpend) >= 0 {
				c.Bonus = b.Points
			} else if below := ev.Amount.String() + " is below the minimum spend " + b.MinimumSpend.String(); c.Multiplier == nil {
				return ReasonBelowMinimumSpend, "purchase of " + below
			} else {
				c.Message = "no purchase bonus: " + below
			}
		}
		if c.Multiplier == nil && c.Bonus == 0 {
			return ReasonNoRuleForEvent, "the campaign has no rule for purchases"
		}
	case EventAction:
		i := slices.IndexFunc(r.ActionBonuses, func(b config.ActionBonus) bool { return b.Action == ev.Action })
		if i < 0 {
			return ReasonNoRuleForEvent, fmt.Sprintf("the campaign has no bonus for action %q", ev.Action)
		}
		if overLimit != nil {
			return overLimitReason(ev.Action, overLimit)
		}
		c.Bonus = r.ActionBonuses[i].Points
	}
	return "", ""
}

// caps records the room the campaign's known caps leave, and refuses a
// campaign whose room is used up.
func (c *candidateState) caps(camp *config.Campaign, m MemberContext) (string, string) {
	l := camp.Limits
	if l == nil {
		return "", ""
	}
	if l.TotalBonusBudget != nil && m.BudgetRemaining != nil {
		left, ok := m.BudgetRemaining[camp.Name]
		if !ok {
			left = *l.TotalBonusBudget
		}
		c.room = CapRoom{Cap: CapBudget, Remaining: left}
	}
	if l.PerMemberCap != nil && m.BonusGranted != nil {
		c.room = c.room.Tighter(MemberCapRoom(*l.PerMemberCap, m.BonusGranted[camp.Name]))
	}
	switch {
	case !c.room.Exhausted():
		return "", ""
	case c.room.Cap == CapBudget:
		return ReasonBudgetExhausted, "the campaign's totalBonusBudget is used up"
	default:
		return ReasonMemberCapReached, fmt.Sprintf("the member already received the perMemberCap of %d bonus points", *l.PerMemberCap)
	}
}

// selectStacking marks which applicable campaigns apply; cands are sorted by
// priority descending then name, so the first exclusive one wins.
func selectStacking(cands candidates) {
	winner := slices.IndexFunc(cands.state, func(c candidateState) bool { return c.applicable && c.exclusive })
	for i := range cands.campaigns {
		c := &cands.campaigns[i]
		switch {
		case !cands.state[i].applicable:
		case winner < 0 || i == winner:
			c.Applied = true
		default:
			w := &cands.campaigns[winner]
			c.Reason, c.OverriddenBy = ReasonExclusiveOverridden, w.Name
			c.Message = fmt.Sprintf("exclusive campaign %q (priority %d) applies instead", w.Name, w.Priority)
			c.Multiplier, c.Bonus = nil, 0
		}
	}
}

// nearestWindow is the next window after t, or else the last window when
// the schedule's last instant is inside one; nil when neither is known.
func nearestWindow(sch *schedule.Schedule, c config.CampaignSchedule, t time.Time) *WindowExplanation {
	if next, ok := sch.NextTransition(t); ok {
		if w, ok := sch.WindowAt(next); ok {
			return &WindowExplanation{Start: w.Start, End: w.End, Relation: "next"}
		}
	}
	if c.End != nil {
		if w, ok := sch.WindowAt(c.End.T().Add(-time.Nanosecond)); ok && !t.Before(w.End) {
			return &WindowExplanation{Start: w.Start, End: w.End, Relation: "previous"}
		}
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
