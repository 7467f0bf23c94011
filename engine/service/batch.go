package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// BatchItem is the outcome of one event of a batch: Result or Err.
type BatchItem struct {
	EventID string
	Result  *ledger.EarnResult
	// Stored, when set, is Result's record as the store keeps it for
	// replays, for a response that sends the record not to encode it again.
	Stored []byte
	// Err names fields relative to the event ("amount"), like a single
	// earn's.
	Err error
}

// EarnBatch prices and applies independent events; bodies[i] is event i
// as sent, which identifies it like the body of a single earn. One failing
// event does not fail the others: the error is for an unusable store or
// configuration. Events are parsed, then the state of their members is
// read at once, then each is priced; the store replays known keys itself,
// so only the keys of events that cannot be priced or earn nothing now are
// looked up, at once, after pricing.
func (s *Service) EarnBatch(ctx context.Context, events []EarnEvent, bodies [][]byte) ([]BatchItem, error) {
	snap, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	b := &batch{s: s, events: events, items: make([]BatchItem, len(events)), reqs: make([]ledger.EarnRequest, len(events)),
		fps: make([]string, len(events)), replay: make([]bool, len(events))}
	for i := range events {
		b.items[i].EventID = events[i].EventID
		b.fps[i] = fingerprint(ledger.OpEarn, bodies[i])
	}
	if err := b.price(ctx, snap); err != nil {
		return nil, err
	}
	if err := b.lookUp(ctx); err != nil {
		return nil, err
	}
	if err := b.write(ctx); err != nil {
		return nil, err
	}
	for i := range b.items {
		if it := &b.items[i]; errors.Is(it.Err, ledger.ErrTierChanged) {
			// Rare (another replica changed the tier): this event alone is
			// priced again.
			res, err := s.earnEvent(ctx, events[i], b.fps[i])
			it.Result, it.Stored, it.Err = &res, nil, err
		}
		if b.items[i].Err != nil {
			b.items[i].Result, b.items[i].Stored = nil, nil
		}
	}
	return b.items, nil
}

// batch is one EarnBatch call's state: per event, its outcome so far, its
// priced request, its fingerprint and whether its key was replayed.
type batch struct {
	s      *Service
	events []EarnEvent
	items  []BatchItem
	reqs   []ledger.EarnRequest
	fps    []string
	replay []bool
}

// price parses each event, reads its member's state and prices it.
func (b *batch) price(ctx context.Context, snap *config.Snapshot) error {
	now := b.s.now()
	parsed := make([]parsedEvent, len(b.events))
	var toPrice []int
	var queries []ledger.PricingQuery
	for i, ev := range b.events {
		var err error
		if parsed[i], err = parse(snap, ev); err != nil {
			b.items[i].Err = err
			continue
		}
		toPrice = append(toPrice, i)
		queries = append(queries, parsed[i].query)
	}
	states, err := b.s.store.PricingContexts(ctx, queries)
	if err != nil {
		return err
	}
	for j, i := range toPrice {
		b.reqs[i], b.items[i].Err = price(snap, b.events[i], parsed[i], states[j], now)
	}
	return nil
}

// lookUp answers the known keys of the events that failed pricing or earn
// nothing with their stored results.
func (b *batch) lookUp(ctx context.Context) error {
	var lookup []int
	var queries []ledger.ReplayQuery
	for i := range b.events {
		if b.items[i].Err != nil || earnsNothing(b.reqs[i]) {
			lookup = append(lookup, i)
			queries = append(queries, ledger.ReplayQuery{Key: b.events[i].IdempotencyKey, Fingerprint: b.fps[i]})
		}
	}
	if len(queries) == 0 {
		return nil
	}
	known, err := b.s.store.Replay(ctx, queries)
	if err != nil {
		return err
	}
	for j, i := range lookup {
		k := known[j]
		if !k.Found {
			continue
		}
		b.replay[i] = true
		if k.Err != nil {
			b.items[i].Err = k.Err
			continue
		}
		var res ledger.EarnResult
		if err := json.Unmarshal(k.Result, &res); err != nil {
			return fmt.Errorf("events[%d].idempotencyKey %q: decode stored result: %w", i, b.events[i].IdempotencyKey, err)
		}
		res.Replayed = true
		b.items[i] = BatchItem{EventID: b.items[i].EventID, Result: &res, Stored: k.Result}
	}
	return nil
}

// write applies the priced events that earn something in one store batch,
// and the others one by one.
func (b *batch) write(ctx context.Context) error {
	var req ledger.EarnBatchRequest
	var index []int // position in b.events of each event of req
	for i := range b.events {
		b.reqs[i].Fingerprint = b.fps[i]
		switch {
		case b.replay[i] || b.items[i].Err != nil:
		case earnsNothing(b.reqs[i]):
			res, err := b.s.apply(ctx, b.reqs[i])
			b.items[i].Result, b.items[i].Err = &res, err
		default:
			req.Events = append(req.Events, b.reqs[i])
			index = append(index, i)
		}
	}
	if len(req.Events) == 0 {
		return nil
	}
	res, err := b.s.store.EarnBatch(ctx, req)
	if err != nil {
		return err
	}
	for j, it := range res.Items {
		i := index[j]
		b.items[i].Result, b.items[i].Stored, b.items[i].Err = it.Result, it.ResultJSON, it.Err
	}
	return nil
}
