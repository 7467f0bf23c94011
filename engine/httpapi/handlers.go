package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/internal/strictjson"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// fingerprint identifies a request for its idempotency key by what the
// client sent: the body in canonical form (keys sorted, no insignificant
// whitespace, numbers as written) with the operation. A retry is then the
// same request whatever the configuration or the clock now say. Single and
// batch earns share the operation, so an event may be retried either way.
func fingerprint(op ledger.Op, raw []byte) string {
	canon := raw
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) == nil { // the body was decoded strictly already
		if b, err := json.Marshal(v); err == nil {
			canon = b
		}
	}
	h := sha256.New()
	h.Write([]byte(op))
	h.Write([]byte{0})
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil))
}

// replayed answers a known idempotency key with the original result, before
// anything that depends on the configuration or the clock.
func replayed[T any](s *Server, r *http.Request, key, fp string) (T, bool, error) {
	var out T
	if key == "" {
		return out, false, nil // refused by validation further on
	}
	a, err := s.ledger.Replay(r.Context(), []ledger.ReplayQuery{{Key: key, Fingerprint: fp}})
	if err != nil || !a[0].Found {
		return out, false, err
	}
	if a[0].Err != nil {
		return out, false, a[0].Err
	}
	if err := json.Unmarshal(a[0].Result, &out); err != nil {
		return out, false, fmt.Errorf("idempotencyKey %q: decode stored result: %w", key, err)
	}
	return out, true, nil
}

func (s *Server) enroll(r *http.Request) (int, any, error) {
	var req ledger.EnrollRequest
	raw, err := decode(r, &req)
	if err != nil {
		return 0, nil, err
	}
	req.Fingerprint = fingerprint(ledger.OpEnroll, raw)
	if res, ok, err := replayed[ledger.EnrollResult](s, r, req.IdempotencyKey, req.Fingerprint); err != nil || ok {
		res.Replayed = true
		return http.StatusOK, res, err
	}
	if req.ReferralCode != "" {
		snap, err := s.snapshot()
		if err != nil {
			return 0, nil, err
		}
		req.Referral = snap.Referral
	}
	res, err := s.ledger.Enroll(r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	if res.Replayed {
		return http.StatusOK, res, nil
	}
	return http.StatusCreated, res, nil
}

func (s *Server) history(r *http.Request) (int, any, error) {
	q := ledger.HistoryQuery{MemberID: r.PathValue("id"), Cursor: r.URL.Query().Get("cursor")}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return 0, nil, invalid("limit", fmt.Sprintf("must be 1 to %d", ledger.MaxHistoryLimit))
		}
		q.Limit = n
		if n == 0 {
			q.Limit = -1 // an explicit 0 is out of range, not "default"
		}
	}
	page, err := s.ledger.History(r.Context(), q)
	if err != nil {
		return 0, nil, err
	}
	if page.Entries == nil {
		page.Entries = []ledger.Entry{}
	}
	return http.StatusOK, page, nil
}

// EarnEvent is a purchase or an action to credit. Points are computed by
// the engine from the configuration in effect; clients send what happened,
// not points.
type EarnEvent struct {
	IdempotencyKey string `json:"idempotencyKey"`
	MemberID       string `json:"memberId"`
	EventID        string `json:"eventId"`
	// Amount spent, as a decimal string in the program's currency, such as
	// "12.50", for a purchase; Action instead names an action of the
	// program (such as "review"). Exactly one of them is given.
	Amount string `json:"amount,omitempty"`
	Action string `json:"action,omitempty"`
	// Currency, when given, must be the program's.
	Currency string `json:"currency,omitempty"`
	// OccurredAt is when the purchase happened, in RFC 3339. It is required
	// because pending and expiry times and campaign windows derive from it:
	// a retry must price exactly like the original to be recognised as the
	// same request.
	OccurredAt string `json:"occurredAt"`
}

// EarnBatch is up to ledger.MaxBatchEvents independent events.
type EarnBatch struct {
	Events []EarnEvent `json:"events"`
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
	return p, nil
}

// price turns a parsed event into a ledger request under the configuration
// in effect, for the member as the store had them (st). The store enforces
// the campaigns' caps and the action's maxPerDay again when it writes, and
// rewrites the explanation with what it granted.
func price(snap *config.Snapshot, ev EarnEvent, p parsedEvent, st ledger.PricingState, now time.Time) (ledger.EarnRequest, error) {
	if st.Err != nil {
		return ledger.EarnRequest{}, st.Err
	}
	mc := st.Member
	mc.BudgetRemaining = map[string]int64{}
	for _, c := range snap.Campaigns {
		if c.Limits != nil && c.Limits.TotalBonusBudget != nil {
			mc.BudgetRemaining[c.Name] = max(*c.Limits.TotalBonusBudget-st.CampaignGranted[c.Name], 0)
		}
	}
	pr, err := rules.Price(snap, p.event, mc, now)
	var re *rules.Error
	if errors.As(err, &re) {
		return ledger.EarnRequest{}, &ledger.FieldError{Field: re.Field, Reason: re.Message}
	}
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
	}
	if p.event.Kind == rules.EventPurchase {
		req.PurchaseAmount, req.Currency = p.minor, snap.Program.Currency
		req.Referral = snap.Referral
	} else {
		req.Action, req.MaxPerDay = ev.Action, pr.Explanation.Base.MaxPerDay
	}
	if len(snap.Tiers) > 0 {
		req.Tiers = snap.Tiers // the earn upgrades the member it qualifies
	}
	for _, c := range pr.Explanation.Campaigns {
		if !c.Applied || c.Attributed <= 0 {
			continue
		}
		b := ledger.CampaignBonus{Campaign: c.Name, Attributed: c.Attributed}
		if camp := findCampaign(snap, c.Name); camp != nil && camp.Limits != nil {
			b.Budget, b.PerMemberCap = camp.Limits.TotalBonusBudget, camp.Limits.PerMemberCap
		}
		req.Campaigns = append(req.Campaigns, b)
	}
	return req, nil
}

// priceOne parses and prices a single event; fresh reads the member from
// the database (see ledger.PricingQuery).
func (s *Server) priceOne(ctx context.Context, snap *config.Snapshot, ev EarnEvent, now time.Time, fresh bool) (ledger.EarnRequest, error) {
	p, err := parse(snap, ev)
	if err != nil {
		return ledger.EarnRequest{}, err
	}
	p.query.Fresh = fresh
	st, err := s.ledger.PricingContexts(ctx, []ledger.PricingQuery{p.query})
	if err != nil {
		return ledger.EarnRequest{}, err
	}
	return price(snap, ev, p, st[0], now)
}

func findCampaign(snap *config.Snapshot, name string) *config.Campaign {
	for i := range snap.Campaigns {
		if snap.Campaigns[i].Name == name {
			return &snap.Campaigns[i]
		}
	}
	return nil
}

// earnsNothing: the event earns no points even before caps, and is not a
// purchase (whose spend is recorded whatever its points).
func earnsNothing(req ledger.EarnRequest) bool {
	return req.Points == 0 && len(req.Campaigns) == 0 && req.PurchaseAmount == 0
}

func (s *Server) snapshot() (*config.Snapshot, error) {
	snap := s.config.Current()
	if snap == nil {
		return nil, unavailable("no configuration loaded yet", nil)
	}
	return snap, nil
}

// earnOne applies a priced event. An event that earns nothing (an action
// at no points, a purchase of amount 0) records nothing: the ledger holds no
// empty lots. The member's current balance is returned so that the answer
// has the same shape. A purchase that earns no points (a small amount
// rounded down) is recorded like any other, for its spend.
func (s *Server) earnOne(r *http.Request, req ledger.EarnRequest) (ledger.EarnResult, error) {
	if !earnsNothing(req) {
		res, err := s.ledger.Earn(r.Context(), req)
		if err == nil && !res.Replayed {
			s.metrics.issued.Add(float64(res.Points))
		}
		return res, err
	}
	// Validate like the ledger would, so that a zero-point event is not a way around validation.
	req.Points = 1
	if _, err := req.Normalize(); err != nil {
		return ledger.EarnResult{}, err
	}
	v, err := s.ledger.Member(r.Context(), req.MemberID, s.now())
	if err != nil {
		return ledger.EarnResult{}, err
	}
	// At the member's current tier the event may earn something.
	if err := req.CheckPricedTier(v.Tier); err != nil {
		return ledger.EarnResult{}, err
	}
	return ledger.EarnResult{MemberID: req.MemberID, EventID: req.EventID, Balance: v.Balance, Explanation: req.Explanation}, nil
}

func (s *Server) earn(r *http.Request) (int, any, error) {
	var ev EarnEvent
	raw, err := decode(r, &ev)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.earnEvent(r, ev, fingerprint(ledger.OpEarn, raw))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res, nil
}

// maxPricings bounds how often one event is priced: again only when the
// member's tier changed between pricing and writing, which another change
// would have to repeat within the same few milliseconds.
const maxPricings = 3

// earnEvent prices and applies one event whose body has fingerprint fp.
func (s *Server) earnEvent(r *http.Request, ev EarnEvent, fp string) (ledger.EarnResult, error) {
	for pricing := 1; ; pricing++ {
		res, err := s.earnEventOnce(r, ev, fp, pricing > 1)
		if !errors.Is(err, ledger.ErrTierChanged) || pricing == maxPricings {
			return res, err
		}
	}
}

func (s *Server) earnEventOnce(r *http.Request, ev EarnEvent, fp string, fresh bool) (ledger.EarnResult, error) {
	// The ledger replays a known key itself, comparing the fingerprint, so
	// the key is only looked up when the event cannot be priced or earns
	// nothing now (late, or the configuration changed since the original).
	snap, err := s.snapshot()
	var req ledger.EarnRequest
	if err == nil {
		req, err = s.priceOne(r.Context(), snap, ev, s.now(), fresh)
	}
	if err != nil || earnsNothing(req) {
		if res, ok, rerr := replayed[ledger.EarnResult](s, r, ev.IdempotencyKey, fp); rerr != nil || ok {
			res.Replayed = true
			return res, rerr
		}
		if err != nil {
			return ledger.EarnResult{}, err
		}
	}
	req.Fingerprint = fp
	return s.earnOne(r, req)
}

// rawBatch is a batch with each event as sent, to decode and fingerprint
// one by one.
type rawBatch struct {
	Events []jsontext.Value `json:"events"`
}

// decodeBatch decodes a batch strictly, each event like the body of a
// single earn, and returns the events as sent.
func decodeBatch(r *http.Request) (EarnBatch, []jsontext.Value, error) {
	var rb rawBatch
	if _, err := decode(r, &rb); err != nil {
		return EarnBatch{}, nil, err
	}
	switch {
	case len(rb.Events) == 0:
		return EarnBatch{}, nil, invalid("events", "required")
	case len(rb.Events) > ledger.MaxBatchEvents:
		return EarnBatch{}, nil, invalid("events", fmt.Sprintf("more than %d events", ledger.MaxBatchEvents))
	}
	b := EarnBatch{Events: make([]EarnEvent, len(rb.Events))}
	for i, ev := range rb.Events {
		if err := strictjson.Unmarshal(ev, &b.Events[i]); err != nil {
			var se *strictjson.Error
			if errors.As(err, &se) {
				return EarnBatch{}, nil, invalid(strings.TrimSuffix(fmt.Sprintf("events[%d].%s", i, se.Field), "."), se.Reason)
			}
			return EarnBatch{}, nil, err
		}
	}
	return b, rb.Events, nil
}

func (s *Server) earnBatch(r *http.Request) (int, any, error) {
	// Each event is fingerprinted like a single earn's body. The ledger
	// replays known keys itself, so only the keys of events that cannot be
	// priced or earn nothing now are looked up, at once, after pricing.
	b, rawEvents, err := decodeBatch(r)
	if err != nil {
		return 0, nil, err
	}
	snap, err := s.snapshot()
	if err != nil {
		return 0, nil, err
	}
	now := s.now()
	out := ledger.EarnBatchResult{Items: make([]ledger.EarnBatchItem, len(b.Events))}
	// Events are parsed, then the state of their members is read at once,
	// then each is priced.
	parsed := make([]parsedEvent, len(b.Events))
	reqs := make([]ledger.EarnRequest, len(b.Events))
	var toPrice []int
	var pq []ledger.PricingQuery
	for i, ev := range b.Events {
		out.Items[i] = ledger.EarnBatchItem{Index: i, EventID: ev.EventID}
		reqs[i].Fingerprint = fingerprint(ledger.OpEarn, rawEvents[i])
		if parsed[i], err = parse(snap, ev); err != nil {
			out.Items[i].Err = err
			continue
		}
		toPrice = append(toPrice, i)
		pq = append(pq, parsed[i].query)
	}
	states, err := s.ledger.PricingContexts(r.Context(), pq)
	if err != nil {
		return 0, nil, err
	}
	for j, i := range toPrice {
		fp := reqs[i].Fingerprint
		reqs[i], out.Items[i].Err = price(snap, b.Events[i], parsed[i], states[j], now)
		reqs[i].Fingerprint = fp
	}
	var lookup []int
	var queries []ledger.ReplayQuery
	for i := range b.Events {
		if out.Items[i].Err != nil || earnsNothing(reqs[i]) {
			lookup = append(lookup, i)
			queries = append(queries, ledger.ReplayQuery{Key: b.Events[i].IdempotencyKey, Fingerprint: reqs[i].Fingerprint})
		}
	}
	replay := make([]bool, len(b.Events))
	if len(queries) > 0 {
		known, err := s.ledger.Replay(r.Context(), queries)
		if err != nil {
			return 0, nil, err
		}
		for j, i := range lookup {
			k := known[j]
			if !k.Found {
				continue
			}
			replay[i] = true
			if k.Err != nil {
				out.Items[i].Err = k.Err
				continue
			}
			var res ledger.EarnResult
			if err := json.Unmarshal(k.Result, &res); err != nil {
				return 0, nil, fmt.Errorf("events[%d].idempotencyKey %q: decode stored result: %w", i, b.Events[i].IdempotencyKey, err)
			}
			res.Replayed = true
			out.Items[i].Result, out.Items[i].Err = &res, nil
		}
	}
	var batch ledger.EarnBatchRequest
	var batchIndex []int // position in the request of each ledger batch event
	for i := range b.Events {
		switch {
		case replay[i] || out.Items[i].Err != nil:
		case earnsNothing(reqs[i]):
			res, err := s.earnOne(r, reqs[i])
			out.Items[i].Result, out.Items[i].Err = &res, err
		default:
			batch.Events = append(batch.Events, reqs[i])
			batchIndex = append(batchIndex, i)
		}
	}
	if len(batch.Events) > 0 {
		res, err := s.ledger.EarnBatch(r.Context(), batch)
		if err != nil {
			return 0, nil, err
		}
		for j, it := range res.Items {
			i := batchIndex[j]
			out.Items[i].Result, out.Items[i].ResultJSON, out.Items[i].Err = it.Result, it.ResultJSON, it.Err
			var fe *ledger.FieldError
			if errors.As(it.Err, &fe) {
				// The ledger numbered fields by position in its own batch; renumber them.
				out.Items[i].Err = &ledger.FieldError{Field: strings.TrimPrefix(fe.Field, fmt.Sprintf("events[%d].", j)), Reason: fe.Reason}
			}
			if it.Result != nil && !it.Result.Replayed {
				s.metrics.issued.Add(float64(it.Result.Points))
			}
		}
	}
	for i := range out.Items {
		it := &out.Items[i]
		if errors.Is(it.Err, ledger.ErrTierChanged) {
			// Rare (another replica changed the tier): this event alone is
			// priced again.
			res, err := s.earnEvent(r, b.Events[i], reqs[i].Fingerprint)
			it.Result, it.ResultJSON, it.Err = &res, nil, err
		}
		if it.Err == nil {
			out.Succeeded++
			continue
		}
		it.Result, it.ResultJSON = nil, nil
		it.Error = itemError(i, it.Err)
		out.Failed++
	}
	return http.StatusOK, out, nil
}

// itemError describes a failed batch event, naming fields from the batch
// root ("events[3].amount") like a single request's problem names them.
func itemError(i int, err error) *ledger.ItemError {
	var te *rules.TimeError
	if errors.As(err, &te) {
		return &ledger.ItemError{Code: "late_event", Field: fmt.Sprintf("events[%d].occurredAt", i), Message: te.Detail}
	}
	if errors.Is(err, ledger.ErrIdempotencyReuse) {
		return &ledger.ItemError{Code: ledger.ErrorCode(err), Field: fmt.Sprintf("events[%d].idempotencyKey", i), Message: err.Error()}
	}
	return ledger.NewItemError(ledger.BatchItemError(i, err))
}

func (s *Server) redeem(r *http.Request) (int, any, error) {
	var req ledger.RedeemRequest
	raw, err := decode(r, &req)
	if err != nil {
		return 0, nil, err
	}
	// Nothing here depends on the configuration or the clock, so a known key
	// is left to the ledger, which replays it in the write itself: a lookup
	// first would cost every redemption a read.
	req.Fingerprint = fingerprint(ledger.OpRedeem, raw)
	res, err := s.ledger.Redeem(r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	if !res.Replayed {
		s.metrics.redeemed.Add(float64(res.Points))
	}
	return http.StatusOK, res, nil
}

// ReverseBody claws back points of an earlier earn: Points, or the points of
// a refunded part of the purchase (RefundAmount), or with neither everything
// not yet reversed.
type ReverseBody struct {
	IdempotencyKey string `json:"idempotencyKey"`
	MemberID       string `json:"memberId"`
	EventID        string `json:"eventId"`
	Points         int64  `json:"points,omitempty"`
	// RefundAmount is a decimal string in the program's currency, like EarnEvent.Amount.
	RefundAmount string `json:"refundAmount,omitempty"`
	Reference    string `json:"reference,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

func (s *Server) reverse(r *http.Request) (int, any, error) {
	var body ReverseBody
	raw, err := decode(r, &body)
	if err != nil {
		return 0, nil, err
	}
	req := ledger.ReverseRequest{IdempotencyKey: body.IdempotencyKey, MemberID: body.MemberID, EventID: body.EventID,
		Points: body.Points, Reference: body.Reference, Reason: body.Reason, Fingerprint: fingerprint(ledger.OpReverse, raw)}
	// Looked up before the refund amount is converted with the configuration's currency.
	if res, ok, err := replayed[ledger.ReverseResult](s, r, req.IdempotencyKey, req.Fingerprint); err != nil || ok {
		res.Replayed = true
		return http.StatusOK, res, err
	}
	if body.RefundAmount != "" {
		snap, err := s.snapshot()
		if err != nil {
			return 0, nil, err
		}
		amount, err := config.ParseDecimal(body.RefundAmount)
		if err != nil {
			return 0, nil, invalid("refundAmount", strings.TrimPrefix(err.Error(), fmt.Sprintf("invalid decimal %q: ", body.RefundAmount)))
		}
		if req.RefundAmount, err = rules.ToMinor(amount, snap.Program.Currency); err != nil {
			return 0, nil, invalid("refundAmount", err.Error())
		}
		if req.RefundAmount == 0 {
			return 0, nil, invalid("refundAmount", "must be positive")
		}
	}
	res, err := s.ledger.Reverse(r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	if !res.Replayed {
		s.metrics.reversed.Add(float64(res.FromAvailable + res.FromPending))
	}
	return http.StatusOK, res, nil
}

func (s *Server) adjust(r *http.Request) (int, any, error) {
	var req ledger.AdjustRequest
	raw, err := decode(r, &req)
	if err != nil {
		return 0, nil, err
	}
	req.Fingerprint = fingerprint(ledger.OpAdjust, raw)
	if res, ok, err := replayed[ledger.AdjustResult](s, r, req.IdempotencyKey, req.Fingerprint); err != nil || ok {
		res.Replayed = true
		return http.StatusOK, res, err
	}
	res, err := s.ledger.Adjust(r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	if !res.Replayed {
		if res.Points > 0 {
			s.metrics.adjusted.WithLabelValues("credit").Add(float64(res.Points))
		} else {
			s.metrics.adjusted.WithLabelValues("debit").Add(float64(-res.Points))
		}
	}
	return http.StatusOK, res, nil
}
