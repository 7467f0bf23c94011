package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// memOutbox is an in-memory ledger.Outbox.
type memOutbox struct {
	mu      sync.Mutex
	events  []ledger.OutboxEvent
	cursors map[string]int64
	dead    []ledger.DeadLetter
	redo    []ledger.Redelivery
}

func newMemOutbox(n int) *memOutbox {
	o := &memOutbox{cursors: map[string]int64{}}
	for i := 1; i <= n; i++ {
		o.events = append(o.events, ledger.OutboxEvent{Seq: int64(i), ID: fmt.Sprint("ev-", i), Type: ledger.EventPointsEarned,
			MemberID: fmt.Sprint("m", i%3), Occurred: time.Unix(1_700_000_000, 0).UTC(), Data: []byte(`{"points":1}`)})
	}
	return o
}

func (o *memOutbox) OutboxAfter(_ context.Context, seq int64, limit int) ([]ledger.OutboxEvent, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []ledger.OutboxEvent
	for _, ev := range o.events {
		if ev.Seq > seq && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (o *memOutbox) OutboxHead(context.Context) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.events) == 0 {
		return 0, nil
	}
	return o.events[len(o.events)-1].Seq, nil
}

func (o *memOutbox) SinkCursor(_ context.Context, sink string) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cursors[sink], nil
}

func (o *memOutbox) AdvanceSink(_ context.Context, sink string, seq int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cursors[sink] = max(o.cursors[sink], seq)
	return nil
}

func (o *memOutbox) DeadLetter(_ context.Context, d ledger.DeadLetter) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead = append(o.dead, d)
	return nil
}

func (o *memOutbox) DeadLetters(_ context.Context, sink string) ([]ledger.DeadLetter, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []ledger.DeadLetter
	for _, d := range o.dead {
		if d.Sink == sink {
			out = append(out, d)
		}
	}
	return out, nil
}

func (o *memOutbox) RequestRedelivery(_ context.Context, r ledger.Redelivery) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.redo = append(o.redo, r)
	return nil
}

func (o *memOutbox) PendingRedeliveries(_ context.Context, sink string) ([]ledger.Redelivery, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []ledger.Redelivery
	for _, r := range o.redo {
		if r.Sink == sink {
			out = append(out, r)
		}
	}
	return out, nil
}

func (o *memOutbox) FinishRedelivery(_ context.Context, key string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, r := range o.redo {
		if r.IdempotencyKey == key {
			o.redo = append(o.redo[:i], o.redo[i+1:]...)
			return nil
		}
	}
	return errors.New("no such redelivery")
}

func (o *memOutbox) PruneOutbox(context.Context, []string, time.Time) (int64, error) { return 0, nil }

// fakeSink records what it was sent and fails as told.
type fakeSink struct {
	name string
	// fail decides whether attempt n (from 1) of an event fails.
	fail  func(ev ledger.OutboxEvent, n int) bool
	mu    sync.Mutex
	sent  []int64 // sequences delivered, in order
	tries map[int64]int
}

func (s *fakeSink) Name() string { return s.name }

func (s *fakeSink) Send(_ context.Context, ev ledger.OutboxEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tries == nil {
		s.tries = map[int64]int{}
	}
	s.tries[ev.Seq]++
	if s.fail != nil && s.fail(ev, s.tries[ev.Seq]) {
		return fmt.Errorf("refused %d", ev.Seq)
	}
	s.sent = append(s.sent, ev.Seq)
	return nil
}

// fakeClock records the waits instead of sleeping.
type fakeClock struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	return ctx.Err()
}
