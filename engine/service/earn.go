package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// EarnEvent is a purchase or an action to credit, as the client sent it.
// Points are computed from the configuration in effect: clients send what
// happened, not points.
type EarnEvent struct {
	IdempotencyKey string
	MemberID       string
	EventID        string
	// Amount spent, as a decimal string in the program's currency, such as
	// "12.50", for a purchase; Action instead names an action of the
	// program. Exactly one of them is given.
	Amount string
	Action string
	// Currency, when given, must be the program's.
	Currency string
	// OccurredAt is when the event happened, in RFC 3339. Pending and
	// expiry times and campaign windows derive from it, so a retry prices
	// exactly like the original.
	OccurredAt string
}

// parsedEvent is an event checked and ready to price, with the query of
// the member state it is priced with.
type parsedEvent struct {
	event rules.Event
	minor int64 // purchase amount in minor units
	query ledger.PricingQuery
}

// parse checks an event's fields against the configuration in effect.
// Field errors are named relative to the event.
func parse(snap *config.Snapshot, ev EarnEvent) (parsedEvent, error) {
	p := parsedEvent{event: rules.Event{ID: ev.EventID, Kind: rules.EventPurchase, Action: ev.Action}}
	currency := snap.Program.Currency
	switch {
	case ev.Amount != "" && ev.Action != "":
		return p, &ledger.FieldError{Field: "action", Reason: "give amount (a purchase) or action, not both"}
	case ev.Action != "":
		p.event.Kind = rules.EventAction
		if ev.Currency != "" {
			return p, &ledger.FieldError{Field: "currency", Reason: "only for a purchase (amount)"}
		}
	case ev.Amount == "":
		return p, &ledger.FieldError{Field: "amount", Reason: "required (or action, for an action event)"}
	default:
		amount, err := config.ParseDecimal(ev.Amount)
		if err != nil {
			return p, &ledger.FieldError{Field: "amount", Reason: strings.TrimPrefix(err.Error(), fmt.Sprintf("invalid decimal %q: ", ev.Amount))}
		}
		if ev.Currency != "" && ev.Currency != currency {
			return p, &ledger.FieldError{Field: "currency", Reason: fmt.Sprintf("must be %s, the program's currency", currency)}
		}
		if p.minor, err = rules.ToMinor(amount, currency); err != nil {
			return p, &ledger.FieldError{Field: "amount", Reason: err.Error()}
		}
		p.event.Amount = amount
	}
	if ev.OccurredAt == "" {
		return p, &ledger.FieldError{Field: "occurredAt", Reason: "required"}
	}
	occurred, err := time.Parse(time.RFC3339, ev.OccurredAt)
	if err != nil {
		return p, &ledger.FieldError{Field: "occurredAt", Reason: fmt.Sprintf("invalid time %q: want RFC 3339 such as \"2026-12-05T10:00:00Z\"", ev.OccurredAt)}
	}
	p.event.OccurredAt = occurred
	p.query = ledger.PricingQuery{MemberID: ev.MemberID, Action: ev.Action, OccurredAt: occurred, Grants: snap.HasCampaignLimits()}
	if a := findAction(snap, ev.Action); a != nil {
		p.query.Limit, p.query.TimeZone = a.EffectiveLimit(), snap.Location()
	}
	return p, nil
}

// pricing prices a parsed event for the member as the store had them (st),
// each campaign's budget known from what it granted in total.
func pricing(snap *config.Snapshot, p parsedEvent, st ledger.PricingState, now time.Time) (rules.Pricing, error) {
	if st.Err != nil {
		return rules.Pricing{}, st.Err
	}
	mc := st.Member
	mc.BudgetRemaining = map[string]int64{}
	for i := range snap.Campaigns {
		if c := &snap.Campaigns[i]; c.Limits != nil && c.Limits.TotalBonusBudget != nil {
			mc.BudgetRemaining[c.Name] = rules.BudgetLeft(*c.Limits.TotalBonusBudget, st.CampaignGranted[c.Name])
		}
	}
	pr, err := rules.Price(snap, p.event, mc, now)
	var re *rules.Error
	if errors.As(err, &re) {
		return rules.Pricing{}, &ledger.FieldError{Field: re.Field, Reason: re.Message}
	}
	return pr, err
}

// price turns a parsed event into a ledger request. The store enforces
// the campaigns' caps and the action's limit again when it writes, and
// rewrites the explanation with what it granted.
func price(snap *config.Snapshot, ev EarnEvent, p parsedEvent, st ledger.PricingState, now time.Time) (ledger.EarnRequest, error) {
	pr, err := pricing(snap, p, st, now)
	if err != nil {
		return ledger.EarnRequest{}, err
	}
	req := ledger.EarnRequest{
		IdempotencyKey: ev.IdempotencyKey,
		MemberID:       ev.MemberID,
		EventID:        ev.EventID,
		Points:         pr.Explanation.PointsWithoutCampaigns,
		OccurredAt:     p.event.OccurredAt,
		AvailableAt:    pr.AvailableAt,
		ExpiresAt:      pr.ExpiresAt,
		Explanation:    &pr.Explanation,
		PricedTier:     &st.Member.Tier,
		PricedTagsRev:  &st.TagsRev,
	}
	if p.event.Kind == rules.EventPurchase {
		req.PurchaseAmount, req.Currency = p.minor, snap.Program.Currency
		req.Referral = snap.Referral
	} else {
		req.Action, req.Limit, req.TimeZone = ev.Action, pr.Explanation.Base.Limit, snap.Location()
	}
	if len(snap.Tiers) > 0 {
		req.Tiers = snap.Tiers // the earn upgrades the member it qualifies
	}
	req.Birthday = ledger.BirthdayRuleOf(snap) // the first event in the window grants it
	req.Campaigns = campaignBonuses(snap, pr.Explanation.Campaigns)
	return req, nil
}

// campaignBonuses are the bonuses of the campaigns that applied, each with
// its caps; the campaigns are only looked up when some campaign has caps.
func campaignBonuses(snap *config.Snapshot, campaigns []rules.CampaignExplanation) []ledger.CampaignBonus {
	limits := snap.HasCampaignLimits()
	var out []ledger.CampaignBonus
	for i := range campaigns {
		c := &campaigns[i]
		if !c.Applied || c.Attributed <= 0 {
			continue
		}
		if out == nil {
			out = make([]ledger.CampaignBonus, 0, len(campaigns)-i)
		}
		b := ledger.CampaignBonus{Campaign: c.Name, Attributed: c.Attributed}
		if limits {
			if camp := findCampaign(snap, c.Name); camp != nil && camp.Limits != nil {
				b.Budget, b.PerMemberCap = camp.Limits.TotalBonusBudget, camp.Limits.PerMemberCap
			}
		}
		out = append(out, b)
	}
	return out
}

// findAction is the program's action named name; nil for none (a
// purchase, or an action pricing refuses).
func findAction(snap *config.Snapshot, name string) *config.ActionReward {
	if name == "" {
		return nil
	}
	for i := range snap.Points.Actions {
		if snap.Points.Actions[i].Name == name {
			return &snap.Points.Actions[i]
		}
	}
	return nil
}

func findCampaign(snap *config.Snapshot, name string) *config.Campaign {
	for i := range snap.Campaigns {
		if snap.Campaigns[i].Name == name {
			return &snap.Campaigns[i]
		}
	}
	return nil
}

// priceOne parses and prices a single event; fresh reads the member from
// the database (see ledger.PricingQuery).
func (s *Service) priceOne(ctx context.Context, snap *config.Snapshot, ev EarnEvent, now time.Time, fresh bool) (ledger.EarnRequest, error) {
	p, err := parse(snap, ev)
	if err != nil {
		return ledger.EarnRequest{}, err
	}
	p.query.Fresh = fresh
	st, err := s.store.PricingContexts(ctx, []ledger.PricingQuery{p.query})
	if err != nil {
		return ledger.EarnRequest{}, err
	}
	return price(snap, ev, p, st[0], now)
}

// earnsNothing: the event earns no points even before caps, and is not a
// purchase (whose spend is recorded whatever its points).
func earnsNothing(req ledger.EarnRequest) bool {
	return req.Points == 0 && len(req.Campaigns) == 0 && req.PurchaseAmount == 0
}

// Earn prices and applies one event decoded from body.
func (s *Service) Earn(ctx context.Context, ev EarnEvent, body []byte) (ledger.EarnResult, error) {
	return s.earnEvent(ctx, ev, fingerprint(ledger.OpEarn, body))
}

// MaxPricings bounds how often one event is priced: again only when the
// member's tier changed between pricing and writing, which another change
// would have to repeat within the same few milliseconds.
const MaxPricings = 3

// earnEvent prices and applies one event whose body has fingerprint fp,
// pricing it again from the database when the member's tier changed.
func (s *Service) earnEvent(ctx context.Context, ev EarnEvent, fp string) (ledger.EarnResult, error) {
	for pricings := 1; ; pricings++ {
		res, err := s.earnEventOnce(ctx, ev, fp, pricings > 1)
		if !errors.Is(err, ledger.ErrTierChanged) || pricings == MaxPricings {
			return res, err
		}
	}
}

func (s *Service) earnEventOnce(ctx context.Context, ev EarnEvent, fp string, fresh bool) (ledger.EarnResult, error) {
	// The store replays a known key itself, comparing the fingerprint, so
	// the key is only looked up when the event cannot be priced or earns
	// nothing now (late, or the configuration changed since the original).
	snap, err := s.snapshot()
	var req ledger.EarnRequest
	if err == nil {
		req, err = s.priceOne(ctx, snap, ev, s.now(), fresh)
	}
	if err != nil || earnsNothing(req) {
		if res, ok, rerr := replayed[ledger.EarnResult](ctx, s, ev.IdempotencyKey, fp); rerr != nil || ok {
			res.Replayed = ok
			return res, rerr
		}
		if err != nil {
			return ledger.EarnResult{}, err
		}
	}
	req.Fingerprint = fp
	return s.apply(ctx, req)
}

// apply writes a priced event. An event that earns nothing (an action at
// no points) records nothing: the ledger holds no empty lots. It is
// validated all the same and answered with the member's current balance,
// so that the answer has the same shape. A purchase that earns no points
// (a small amount rounded down) is recorded like any other, for its spend.
func (s *Service) apply(ctx context.Context, req ledger.EarnRequest) (ledger.EarnResult, error) {
	if !earnsNothing(req) {
		return s.store.Earn(ctx, req)
	}
	if err := req.CheckUnpriced(); err != nil {
		return ledger.EarnResult{}, err
	}
	v, err := s.store.Member(ctx, req.MemberID, s.now())
	if err != nil {
		return ledger.EarnResult{}, err
	}
	// At the member's current tier the event may earn something.
	if err := req.CheckPricedTier(v.Tier); err != nil {
		return ledger.EarnResult{}, err
	}
	return ledger.EarnResult{MemberID: req.MemberID, EventID: req.EventID, Balance: v.Balance, Explanation: req.Explanation}, nil
}

// Quote is what an event would earn now, written nowhere.
type Quote struct {
	MemberID string
	EventID  string
	Points   int64
	// Pending: the points would wait for AvailableAt.
	Pending     bool
	AvailableAt time.Time
	ExpiresAt   time.Time
	Explanation rules.Explanation
}

// Price prices an event for the member's current state under the
// configuration in effect, as an earn would now, and writes nothing. It
// needs no idempotency key. The caps are as the store had them when read:
// an earn cuts a bonus again under its lock.
func (s *Service) Price(ctx context.Context, ev EarnEvent) (Quote, error) {
	snap, err := s.snapshot()
	if err != nil {
		return Quote{}, err
	}
	if err := ledger.CheckMemberID(ev.MemberID); err != nil {
		return Quote{}, err
	}
	if err := ledger.CheckEventID(ev.EventID); err != nil {
		return Quote{}, err
	}
	p, err := parse(snap, ev)
	if err != nil {
		return Quote{}, err
	}
	st, err := s.store.PricingContexts(ctx, []ledger.PricingQuery{p.query})
	if err != nil {
		return Quote{}, err
	}
	now := s.now()
	pr, err := pricing(snap, p, st[0], now)
	if err != nil {
		return Quote{}, err
	}
	return Quote{MemberID: ev.MemberID, EventID: ev.EventID, Points: pr.Points, Pending: pr.Points > 0 && pr.AvailableAt.After(now),
		AvailableAt: pr.AvailableAt, ExpiresAt: pr.ExpiresAt, Explanation: pr.Explanation}, nil
}
