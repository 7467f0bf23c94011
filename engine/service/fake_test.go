package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// memStore is an in-memory Store: members with balances and tiers,
// recorded events, campaign grants and idempotency keys with their stored
// records, applied with the ledger's own validation and rules. It keeps
// no lots: points are available or pending as a whole.
type memStore struct {
	mu      sync.Mutex
	now     time.Time
	members map[string]*memMember
	keys    map[string]memKey
	// granted is each campaign's total bonus.
	granted map[string]int64
	// staleReads is how many pricing reads still answer the entry tier
	// (""), like a replica whose cached tier another replica changed.
	staleReads int
	// pricings and earns count the members priced and the earns written.
	pricings, earns int
	lastEarn        ledger.EarnRequest // the last earn asked for, as the service built it
	// lookups counts the keys looked up before writing.
	lookups int
	seq     int64
	// erasures are the erased ids (the fake keeps them plainly).
	erasures map[string]time.Time
}

type memMember struct {
	ledger.MemberView
	events map[string]memEvent
	// actions are when each earned action event occurred, by action.
	actions map[string][]time.Time
	bonus   map[string]int64
	changes []ledger.ProfileChange
}

type memEvent struct {
	points, purchase, reversed int64
}

type memKey struct {
	op     ledger.Op
	fp     string
	result []byte
}

var errNotInFake = errors.New("not implemented by the in-memory store")

func newMemStore(now time.Time) *memStore {
	return &memStore{now: now, members: map[string]*memMember{}, keys: map[string]memKey{}, granted: map[string]int64{}, erasures: map[string]time.Time{}}
}

// write applies op under key: a known key answers its stored record (or
// ErrIdempotencyReuse); else apply runs and its result is stored,
// encoded as a store encodes it (its AppendJSON for an earn).
func write[T any](m *memStore, op ledger.Op, key, fp string, apply func() (T, error)) (T, bool, []byte, error) {
	var out T
	if k, ok := m.keys[key]; ok {
		if k.fp != fp || k.op != op {
			return out, false, nil, ledger.ErrIdempotencyReuse
		}
		err := json.Unmarshal(k.result, &out)
		return out, true, k.result, err
	}
	out, err := apply()
	if err != nil {
		return out, false, nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return out, false, nil, err
	}
	m.keys[key] = memKey{op: op, fp: fp, result: b}
	return out, false, b, nil
}

func (m *memStore) member(id string) (*memMember, error) {
	if err := ledger.CheckMemberID(id); err != nil {
		return nil, err
	}
	mm, ok := m.members[id]
	if !ok {
		return nil, ledger.ErrMemberNotFound
	}
	return mm, nil
}

func (m *memStore) Enroll(_ context.Context, req ledger.EnrollRequest) (ledger.EnrollResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	norm, err := req.Normalize()
	if err != nil {
		return ledger.EnrollResult{}, err
	}
	res, replayed, _, err := write(m, ledger.OpEnroll, req.IdempotencyKey, req.Fingerprint, func() (ledger.EnrollResult, error) {
		if _, ok := m.members[norm.MemberID]; ok {
			return ledger.EnrollResult{}, ledger.ErrMemberExists
		}
		mm := &memMember{events: map[string]memEvent{}, actions: map[string][]time.Time{}, bonus: map[string]int64{}}
		mm.Member = ledger.Member{ID: norm.MemberID, Tags: norm.Tags, EnrolledAt: m.now}
		m.members[norm.MemberID] = mm
		return ledger.EnrollResult{Member: mm.Member}, nil
	})
	res.Replayed = replayed
	return res, err
}

func (m *memStore) Earn(_ context.Context, req ledger.EarnRequest) (ledger.EarnResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res, _, err := m.earn(req)
	return res, err
}

func (m *memStore) earn(req ledger.EarnRequest) (ledger.EarnResult, []byte, error) {
	m.earns++
	m.lastEarn = req
	norm, err := req.Normalize()
	if err != nil {
		return ledger.EarnResult{}, nil, err
	}
	res, replayed, stored, err := write(m, ledger.OpEarn, req.IdempotencyKey, req.Fingerprint, func() (ledger.EarnResult, error) {
		return m.applyEarn(norm)
	})
	res.Replayed = replayed
	return res, stored, err
}

func (m *memStore) applyEarn(r ledger.EarnRequest) (ledger.EarnResult, error) {
	mm, err := m.member(r.MemberID)
	if err != nil {
		return ledger.EarnResult{}, err
	}
	if err := r.CheckPricedTier(mm.Tier); err != nil {
		return ledger.EarnResult{}, err
	}
	if _, dup := mm.events[r.EventID]; dup {
		return ledger.EarnResult{}, ledger.ErrDuplicateEvent
	}
	var ex *rules.Explanation
	if r.Explanation != nil {
		cp := *r.Explanation
		cp.Campaigns = append([]rules.CampaignExplanation(nil), cp.Campaigns...)
		ex = &cp
	}
	out := ledger.EarnResult{MemberID: r.MemberID, EventID: r.EventID, Explanation: ex}
	if n := mm.actionsIn(r.Action, r.Limit, r.OccurredAt, r.TimeZone); rules.LimitReached(r.Limit, n) {
		if ex != nil {
			ex.LimitReached(r.Limit, n)
		}
		out.Balance = mm.Balance
		return out, nil
	}
	grants := map[string]rules.Grant{}
	var bonus int64
	for _, c := range r.Campaigns {
		g := rules.Grant{Granted: c.Attributed}
		if c.Budget != nil && *c.Budget-m.granted[c.Campaign] < g.Granted {
			g = rules.Grant{Granted: max(*c.Budget-m.granted[c.Campaign], 0), Cap: rules.CapBudget, Remaining: *c.Budget - m.granted[c.Campaign]}
		}
		if c.PerMemberCap != nil && *c.PerMemberCap-mm.bonus[c.Campaign] < g.Granted {
			g = rules.Grant{Granted: max(*c.PerMemberCap-mm.bonus[c.Campaign], 0), Cap: rules.CapPerMember, Remaining: *c.PerMemberCap - mm.bonus[c.Campaign]}
		}
		grants[c.Campaign] = g
		m.granted[c.Campaign] += g.Granted
		mm.bonus[c.Campaign] += g.Granted
		bonus += g.Granted
	}
	if ex != nil {
		ex.Regrant(grants)
	}
	out.Points = r.Points + bonus
	mm.events[r.EventID] = memEvent{points: out.Points, purchase: r.PurchaseAmount}
	if r.Action != "" {
		mm.actions[r.Action] = append(mm.actions[r.Action], r.OccurredAt)
	}
	out.Pending = out.Points > 0 && r.AvailableAt.After(m.now)
	if out.Pending {
		mm.Pending += out.Points
	} else {
		mm.Available += out.Points
	}
	mm.LifetimeEarned += out.Points
	m.seq++
	out.EntrySeq, out.Balance = m.seq, mm.Balance
	return out, nil
}

func (m *memStore) EarnBatch(_ context.Context, req ledger.EarnBatchRequest) (ledger.EarnBatchResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := req.Normalize(); err != nil {
		return ledger.EarnBatchResult{}, err
	}
	out := ledger.EarnBatchResult{Items: make([]ledger.EarnBatchItem, len(req.Events))}
	for j, ev := range req.Events {
		res, stored, err := m.earn(ev)
		it := ledger.EarnBatchItem{Index: j, EventID: ev.EventID}
		if err != nil {
			it.Err = err // relative to the event, as the stores answer
			it.Error = ledger.NewItemError(ledger.BatchItemError(j, err))
			out.Failed++
		} else {
			it.Result = &res
			if !res.Replayed {
				it.ResultJSON = stored
			}
			out.Succeeded++
		}
		out.Items[j] = it
	}
	return out, nil
}

func (m *memStore) Redeem(_ context.Context, req ledger.RedeemRequest) (ledger.RedeemResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	norm, err := req.Normalize()
	if err != nil {
		return ledger.RedeemResult{}, err
	}
	res, replayed, _, err := write(m, ledger.OpRedeem, req.IdempotencyKey, req.Fingerprint, func() (ledger.RedeemResult, error) {
		mm, err := m.member(norm.MemberID)
		if err != nil {
			return ledger.RedeemResult{}, err
		}
		if mm.Available < norm.Points {
			return ledger.RedeemResult{}, &ledger.InsufficientPointsError{Needed: norm.Points, Available: mm.Available}
		}
		mm.Available -= norm.Points
		m.seq++
		return ledger.RedeemResult{EntrySeq: m.seq, MemberID: norm.MemberID, Points: norm.Points, Balance: mm.Balance}, nil
	})
	res.Replayed = replayed
	return res, err
}

func (m *memStore) Reverse(_ context.Context, req ledger.ReverseRequest) (ledger.ReverseResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	norm, err := req.Normalize()
	if err != nil {
		return ledger.ReverseResult{}, err
	}
	res, replayed, _, err := write(m, ledger.OpReverse, req.IdempotencyKey, req.Fingerprint, func() (ledger.ReverseResult, error) {
		mm, err := m.member(norm.MemberID)
		if err != nil {
			return ledger.ReverseResult{}, err
		}
		ev, ok := mm.events[norm.EventID]
		if !ok {
			return ledger.ReverseResult{}, ledger.ErrEventNotFound
		}
		left := ev.points - ev.reversed
		if left == 0 {
			return ledger.ReverseResult{}, ledger.ErrNothingToReverse
		}
		points := cmpOr(norm.Points, left)
		if norm.RefundAmount > 0 {
			points = min(ledger.RefundPoints(ev.points, norm.RefundAmount, ev.purchase), left)
		}
		taken := min(points, mm.Available)
		mm.Available -= taken
		mm.LifetimeEarned -= points
		ev.reversed += points
		mm.events[norm.EventID] = ev
		m.seq++
		return ledger.ReverseResult{EntrySeq: m.seq, MemberID: norm.MemberID, EventID: norm.EventID, Requested: points,
			FromAvailable: taken, Shortfall: points - taken, Balance: mm.Balance}, nil
	})
	res.Replayed = replayed
	return res, err
}

func cmpOr(v, def int64) int64 {
	if v != 0 {
		return v
	}
	return def
}

func (m *memStore) Adjust(_ context.Context, req ledger.AdjustRequest) (ledger.AdjustResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	norm, err := req.Normalize()
	if err != nil {
		return ledger.AdjustResult{}, err
	}
	res, replayed, _, err := write(m, ledger.OpAdjust, req.IdempotencyKey, req.Fingerprint, func() (ledger.AdjustResult, error) {
		if err := norm.CheckExpiresAt(m.now); err != nil {
			return ledger.AdjustResult{}, err
		}
		mm, err := m.member(norm.MemberID)
		if err != nil {
			return ledger.AdjustResult{}, err
		}
		if mm.Available+norm.Points < 0 {
			return ledger.AdjustResult{}, &ledger.InsufficientPointsError{Needed: -norm.Points, Available: mm.Available}
		}
		mm.Available += norm.Points
		if norm.Points > 0 {
			mm.LifetimeEarned += norm.Points
		}
		m.seq++
		return ledger.AdjustResult{EntrySeq: m.seq, MemberID: norm.MemberID, Points: norm.Points, Balance: mm.Balance}, nil
	})
	res.Replayed = replayed
	return res, err
}

func (m *memStore) RedeemReward(context.Context, ledger.RedeemRewardRequest) (ledger.RedeemRewardResult, error) {
	return ledger.RedeemRewardResult{}, fmt.Errorf("redeem reward: %w", errNotInFake)
}

func (m *memStore) CancelRedemption(context.Context, ledger.CancelRedemptionRequest) (ledger.CancelRedemptionResult, error) {
	return ledger.CancelRedemptionResult{}, fmt.Errorf("cancel redemption: %w", errNotInFake)
}

func (m *memStore) Export(context.Context, io.Writer, ledger.ExportOptions) (ledger.ExportSummary, error) {
	return ledger.ExportSummary{}, fmt.Errorf("export: %w", errNotInFake)
}

func (m *memStore) Import(context.Context, io.Reader) (ledger.ImportResult, error) {
	return ledger.ImportResult{}, fmt.Errorf("import: %w", errNotInFake)
}

func (m *memStore) Member(_ context.Context, id string, _ time.Time) (ledger.MemberView, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mm, err := m.member(id)
	if err != nil {
		return ledger.MemberView{}, err
	}
	return mm.MemberView, nil
}

func (m *memStore) Replay(_ context.Context, qs []ledger.ReplayQuery) ([]ledger.ReplayAnswer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ledger.ReplayAnswer, len(qs))
	m.lookups += len(qs)
	for i, q := range qs {
		k, ok := m.keys[q.Key]
		switch {
		case !ok:
		case k.fp != q.Fingerprint:
			out[i] = ledger.ReplayAnswer{Found: true, Op: k.op, Err: ledger.ErrIdempotencyReuse}
		default:
			out[i] = ledger.ReplayAnswer{Found: true, Op: k.op, Result: k.result}
		}
	}
	return out, nil
}

func (m *memStore) PricingContexts(_ context.Context, qs []ledger.PricingQuery) ([]ledger.PricingState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ledger.PricingState, len(qs))
	for i, q := range qs {
		m.pricings++
		mm, err := m.member(q.MemberID)
		if err != nil {
			out[i].Err = err
			continue
		}
		mc := rules.MemberContext{ID: mm.ID, Tags: mm.Tags, EnrolledAt: mm.EnrolledAt, Tier: mm.Tier,
			ActionsInPeriod: mm.actionsIn(q.Action, q.Limit, q.OccurredAt, q.TimeZone)}
		if ms := mm.Membership; ms != nil && (ms.State == ledger.MembershipActive || ms.State == ledger.MembershipCancelling) {
			mc.Membership, mc.MembershipEnd = ms.Name, ms.PeriodEnd
		}
		if m.staleReads > 0 {
			m.staleReads--
			mc.Tier = ""
		}
		if q.Grants {
			mc.BonusGranted = maps.Clone(mm.bonus)
			out[i].CampaignGranted = maps.Clone(m.granted)
		}
		out[i].Member = mc
	}
	return out, nil
}

// actionsIn counts the member's events of action in the window of limit
// containing at; 0 without a limit.
func (mm *memMember) actionsIn(action string, limit *config.ActionLimit, at time.Time, loc *time.Location) int64 {
	if limit == nil {
		return 0
	}
	start, end := rules.ActionLimitWindow(limit, at, loc)
	var n int64
	for _, t := range mm.actions[action] {
		if !t.Before(start) && t.Before(end) {
			n++
		}
	}
	return n
}
