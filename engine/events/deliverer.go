// Package events delivers the outbox to sinks: signed CloudEvents webhooks
// and NATS JetStream. Each sink reads the outbox in sequence order from its
// own cursor, kept in the store, and advances it after each page: delivery
// is at least once, and strictly in sequence order per sink (so in order
// per member). A failing event is retried with exponential backoff and
// jitter and blocks its sink meanwhile; after MaxAttempts it is
// dead-lettered for that sink, which moves on.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Sink delivers one event; an error means it was not delivered.
type Sink interface {
	Name() string
	Send(ctx context.Context, ev ledger.OutboxEvent) error
}

// Clock is the time the deliverer waits on; tests inject their own.
type Clock interface {
	// Sleep waits d or until ctx ends, and reports ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock sleeps for real.
type RealClock struct{}

// Sleep implements Clock.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Backoff is the wait before each retry: Initial doubled at each attempt,
// at most Max, with full jitter down to half (so a crowd of engines does
// not retry in step).
type Backoff struct {
	Initial, Max time.Duration
	// Rand returns a number in [0, 1); math/rand when nil.
	Rand func() float64
}

// Wait is the wait after the failed attempt n (from 1).
func (b Backoff) Wait(n int) time.Duration {
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return d/2 + time.Duration(r()*float64(d/2))
}

// DefaultBackoff waits 1s, 2s, 4s ... up to 5 minutes (halved by jitter
// at worst): the default 12 attempts span about 20 minutes.
var DefaultBackoff = Backoff{Initial: time.Second, Max: 5 * time.Minute}

// Deliverer delivers the outbox to one sink.
type Deliverer struct {
	Outbox ledger.Outbox
	Sink   Sink
	// MaxAttempts per event before it is dead-lettered (at least 1).
	MaxAttempts int
	Backoff     Backoff
	Clock       Clock
	// Page is how many events are read at once; 100 when zero.
	Page int
	// Idle is the wait when the outbox has nothing new; 200ms when zero.
	Idle    time.Duration
	Metrics *Metrics // may be nil
	// Health hears each outcome, for the engine's report to the operator;
	// may be nil.
	Health Health
	Log    *slog.Logger
}

// Health follows the outcome of deliveries per sink (report.DeliveryHealth
// in the engine): what the operator shows as EventsDelivering.
type Health interface {
	Delivered(sink string)
	Failed(sink string, err error)
	DeadLettered(sink string, err error)
}

// noHealth is the Health of a Deliverer that reports to no one.
type noHealth struct{}

func (noHealth) Delivered(string)           {}
func (noHealth) Failed(string, error)       {}
func (noHealth) DeadLettered(string, error) {}

func (d *Deliverer) defaults() {
	if d.Page <= 0 {
		d.Page = 100
	}
	if d.Idle <= 0 {
		d.Idle = 200 * time.Millisecond
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 1
	}
	if d.Clock == nil {
		d.Clock = RealClock{}
	}
	if d.Backoff.Initial <= 0 {
		d.Backoff = DefaultBackoff
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Health == nil {
		d.Health = noHealth{}
	}
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	d.defaults()
	for ctx.Err() == nil {
		n, err := d.Step(ctx)
		if err != nil && ctx.Err() == nil {
			d.Log.Warn("delivering events", "sink", d.Sink.Name(), "error", err.Error())
		}
		if n == 0 || err != nil {
			if d.Clock.Sleep(ctx, d.Idle) != nil {
				return
			}
		}
	}
}

// Step serves the sink's redelivery requests, then delivers one page of
// the outbox after its cursor. It returns how many events it handled.
func (d *Deliverer) Step(ctx context.Context) (int, error) {
	d.defaults()
	if err := d.redeliver(ctx); err != nil {
		return 0, err
	}
	cursor, err := d.Outbox.SinkCursor(ctx, d.Sink.Name())
	if err != nil {
		return 0, err
	}
	d.observeBacklog(ctx, cursor)
	evs, err := d.Outbox.OutboxAfter(ctx, cursor, d.Page)
	if err != nil {
		return 0, err
	}
	for i, ev := range evs {
		attempts, sendErr := d.deliver(ctx, ev)
		if sendErr != nil && ctx.Err() != nil {
			// Stopped while retrying: the event is sent again after a restart.
			return i, d.advance(ctx, evs[:i])
		}
		if sendErr != nil {
			if err := d.deadLetter(ctx, ev, attempts, sendErr); err != nil {
				return i, errors.Join(d.advance(ctx, evs[:i]), err)
			}
		}
	}
	// One cursor write per page, not per event: a busy sink adds a write
	// per hundred events beside the ledger's. A crash before it sends the
	// page again (at least once).
	if err := d.advance(ctx, evs); err != nil {
		return 0, err
	}
	if len(evs) > 0 {
		d.observeBacklog(ctx, evs[len(evs)-1].Seq)
	}
	return len(evs), nil
}

// advance moves the cursor past delivered events.
func (d *Deliverer) advance(ctx context.Context, done []ledger.OutboxEvent) error {
	if len(done) == 0 {
		return nil
	}
	// A stopping context must not keep the cursor where it was.
	return d.Outbox.AdvanceSink(context.WithoutCancel(ctx), d.Sink.Name(), done[len(done)-1].Seq)
}

// deliver sends one event until it succeeds, MaxAttempts fail or ctx ends;
// it returns the attempts made and the last error.
func (d *Deliverer) deliver(ctx context.Context, ev ledger.OutboxEvent) (int, error) {
	var err error
	for n := 1; ; n++ {
		if err = d.Sink.Send(ctx, ev); err == nil {
			d.Metrics.delivered(d.Sink.Name())
			d.Health.Delivered(d.Sink.Name())
			return n, nil
		}
		d.Metrics.failed(d.Sink.Name())
		d.Health.Failed(d.Sink.Name(), err)
		if n >= d.MaxAttempts {
			return n, err
		}
		wait := d.Backoff.Wait(n)
		d.Log.Info("event delivery failed; retrying", "sink", d.Sink.Name(), "seq", ev.Seq, "id", ev.ID,
			"attempt", n, "retryIn", wait.String(), "error", err.Error())
		if serr := d.Clock.Sleep(ctx, wait); serr != nil {
			return n, err
		}
	}
}

func (d *Deliverer) deadLetter(ctx context.Context, ev ledger.OutboxEvent, attempts int, cause error) error {
	d.Log.Warn("event dead-lettered", "sink", d.Sink.Name(), "seq", ev.Seq, "id", ev.ID, "attempts", attempts, "error", cause.Error())
	if err := d.Outbox.DeadLetter(ctx, ledger.DeadLetter{Sink: d.Sink.Name(), Seq: ev.Seq, Attempts: attempts, Reason: cause.Error()}); err != nil {
		return err
	}
	d.Metrics.dead(d.Sink.Name())
	d.Health.DeadLettered(d.Sink.Name(), cause)
	return nil
}

// redeliver sends the ranges asked by POST /v1/admin/events/redeliver
// again, one request at a time; the cursor does not move. An event that
// still fails after its attempts is dead-lettered again.
func (d *Deliverer) redeliver(ctx context.Context) error {
	reqs, err := d.Outbox.PendingRedeliveries(ctx, d.Sink.Name())
	if err != nil {
		return err
	}
	for _, r := range reqs {
		for after := r.FromSeq - 1; after < r.ToSeq; {
			evs, err := d.Outbox.OutboxAfter(ctx, after, min(d.Page, int(r.ToSeq-after)))
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				if ev.Seq > r.ToSeq {
					break
				}
				if attempts, err := d.deliver(ctx, ev); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					if err := d.deadLetter(ctx, ev, attempts, err); err != nil {
						return err
					}
				}
				after = ev.Seq
			}
		}
		if err := d.Outbox.FinishRedelivery(ctx, r.IdempotencyKey); err != nil {
			return fmt.Errorf("finish redelivery %s: %w", r.IdempotencyKey, err)
		}
	}
	return nil
}

func (d *Deliverer) observeBacklog(ctx context.Context, cursor int64) {
	if d.Metrics == nil {
		return
	}
	head, err := d.Outbox.OutboxHead(ctx)
	if err != nil {
		return
	}
	d.Metrics.backlog(d.Sink.Name(), max(head-cursor, 0))
}
