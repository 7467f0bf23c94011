package events

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/report"
)

func newTestDeliverer(o ledger.Outbox, s Sink, attempts int) (*Deliverer, *fakeClock, *Metrics) {
	clock := &fakeClock{}
	m := NewMetrics(prometheus.NewRegistry())
	half := func() float64 { return 0.5 }
	return &Deliverer{Outbox: o, Sink: s, MaxAttempts: attempts, Clock: clock, Page: 3, Metrics: m,
		Backoff: Backoff{Initial: time.Second, Max: 8 * time.Second, Rand: half}}, clock, m
}

func drain(t *testing.T, d *Deliverer) {
	t.Helper()
	for range 100 {
		n, err := d.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the outbox never drained")
}

func TestDeliversInOrderAndAdvancesTheCursor(t *testing.T) {
	o := newMemOutbox(7)
	s := &fakeSink{name: "hook"}
	d, _, m := newTestDeliverer(o, s, 3)
	drain(t, d)
	if want := []int64{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(s.sent, want) {
		t.Fatalf("sent %v, want %v", s.sent, want)
	}
	if c, _ := o.SinkCursor(context.Background(), "hook"); c != 7 {
		t.Fatalf("cursor %d, want 7", c)
	}
	if got := testutil.ToFloat64(m.Delivered.WithLabelValues("hook")); got != 7 {
		t.Fatalf("delivered metric %v", got)
	}
	if got := testutil.ToFloat64(m.Backlog.WithLabelValues("hook")); got != 0 {
		t.Fatalf("backlog %v after draining", got)
	}
}

// A sink that fails for a while is retried with growing waits and gets
// everything in order once it recovers; the events after the failing one
// wait for it.
func TestFailingSinkRecoversInOrder(t *testing.T) {
	o := newMemOutbox(5)
	s := &fakeSink{name: "hook", fail: func(ev ledger.OutboxEvent, n int) bool { return ev.Seq == 2 && n <= 4 }}
	d, clock, m := newTestDeliverer(o, s, 10)
	drain(t, d)
	if want := []int64{1, 2, 3, 4, 5}; !slices.Equal(s.sent, want) {
		t.Fatalf("sent %v, want %v", s.sent, want)
	}
	// Initial 1s doubled per attempt, capped at 8s; the jitter keeps 3/4.
	if want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 6 * time.Second}; !slices.Equal(clock.waits, want) {
		t.Fatalf("waits %v, want %v", clock.waits, want)
	}
	if got := testutil.ToFloat64(m.Failed.WithLabelValues("hook")); got != 4 {
		t.Fatalf("failed metric %v, want 4", got)
	}
	if dl, _ := o.DeadLetters(context.Background(), "hook"); len(dl) != 0 {
		t.Fatalf("dead letters %+v", dl)
	}
}

func TestDeadLettersAfterMaxAttemptsAndMovesOn(t *testing.T) {
	o := newMemOutbox(4)
	s := &fakeSink{name: "hook", fail: func(ev ledger.OutboxEvent, _ int) bool { return ev.Seq == 3 }}
	d, clock, m := newTestDeliverer(o, s, 3)
	drain(t, d)
	if want := []int64{1, 2, 4}; !slices.Equal(s.sent, want) {
		t.Fatalf("sent %v, want %v", s.sent, want)
	}
	if len(clock.waits) != 2 {
		t.Fatalf("waited %v, want two waits between three attempts", clock.waits)
	}
	dl, _ := o.DeadLetters(context.Background(), "hook")
	if len(dl) != 1 || dl[0].Seq != 3 || dl[0].Attempts != 3 || dl[0].Reason != "refused 3" {
		t.Fatalf("dead letters %+v", dl)
	}
	if got := testutil.ToFloat64(m.DeadLetter.WithLabelValues("hook")); got != 1 {
		t.Fatalf("dead letter metric %v", got)
	}
	if c, _ := o.SinkCursor(context.Background(), "hook"); c != 4 {
		t.Fatalf("cursor %d, want 4", c)
	}
}

// A deliverer stopped while it waits to retry keeps its cursor before the
// failing event, which is sent again after a restart.
func TestStopWhileRetryingKeepsTheEvent(t *testing.T) {
	o := newMemOutbox(3)
	s := &fakeSink{name: "hook", fail: func(ev ledger.OutboxEvent, _ int) bool { return ev.Seq == 2 }}
	d, _, _ := newTestDeliverer(o, s, 10)
	ctx, cancel := context.WithCancel(context.Background())
	d.Clock = cancelClock{cancel}
	if _, err := d.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := o.SinkCursor(context.Background(), "hook"); c != 1 {
		t.Fatalf("cursor %d, want 1", c)
	}
	if dl, _ := o.DeadLetters(context.Background(), "hook"); len(dl) != 0 {
		t.Fatalf("dead-lettered on stopping: %+v", dl)
	}
}

// cancelClock stops the deliverer at its first wait.
type cancelClock struct{ cancel context.CancelFunc }

func (c cancelClock) Sleep(ctx context.Context, _ time.Duration) error {
	c.cancel()
	return ctx.Err()
}

func TestRedeliversARangeWithoutMovingTheCursor(t *testing.T) {
	o := newMemOutbox(5)
	s := &fakeSink{name: "hook"}
	d, _, _ := newTestDeliverer(o, s, 3)
	drain(t, d)
	if err := o.RequestRedelivery(context.Background(), ledger.Redelivery{IdempotencyKey: "k", Sink: "hook", FromSeq: 2, ToSeq: 4}); err != nil {
		t.Fatal(err)
	}
	// Another sink's request is not this one's.
	_ = o.RequestRedelivery(context.Background(), ledger.Redelivery{IdempotencyKey: "other", Sink: "nats", FromSeq: 1, ToSeq: 5})
	drain(t, d)
	if want := []int64{1, 2, 3, 4, 5, 2, 3, 4}; !slices.Equal(s.sent, want) {
		t.Fatalf("sent %v, want %v", s.sent, want)
	}
	if p, _ := o.PendingRedeliveries(context.Background(), "hook"); len(p) != 0 {
		t.Fatalf("still pending: %+v", p)
	}
	if c, _ := o.SinkCursor(context.Background(), "hook"); c != 5 {
		t.Fatalf("cursor %d, want 5", c)
	}
}

func TestBackoffBounds(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: time.Minute}
	for n := 1; n <= 20; n++ {
		base := min(time.Second<<min(n-1, 10), time.Minute)
		for range 20 {
			if w := b.Wait(n); w < base/2 || w > base {
				t.Fatalf("attempt %d waits %v, want %v to %v", n, w, base/2, base)
			}
		}
	}
}

// The deliverer tells the health tracker, which the engine reports to the
// operator, of each outcome: a sink failing shows until it delivers again,
// a dead letter until it was reported.
func TestDeliveryOutcomesReachTheHealthReport(t *testing.T) {
	o := newMemOutbox(4)
	refuse := true
	s := &fakeSink{name: "hook", fail: func(ev ledger.OutboxEvent, _ int) bool { return refuse && ev.Seq >= 2 }}
	health := &report.DeliveryHealth{}
	d, _, _ := newTestDeliverer(o, s, 2)
	d.Health = health
	d.Page = 1
	if _, err := d.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f := health.Failing(); len(f) != 0 {
		t.Fatalf("after a delivery: failing %+v", f)
	}
	if _, err := d.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := health.Failing()
	if len(f) != 1 || f[0].Sink != "hook" || f[0].DeadLetters != 1 || f[0].Error != "refused 2" {
		t.Fatalf("after a dead letter: failing %+v", f)
	}
	refuse = false
	drain(t, d)
	if f := health.Failing(); len(f) != 1 || f[0].DeadLetters != 1 {
		t.Fatalf("delivering again before a report: failing %+v; want the dead letter kept", f)
	}
	health.Reported(f)
	if f := health.Failing(); len(f) != 0 {
		t.Fatalf("after the report: failing %+v", f)
	}
}
