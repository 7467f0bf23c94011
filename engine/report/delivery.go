package report

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loyaltyops/loyalty-operator/contract"
)

// DeliveryHealth tracks, per event sink, whether its deliveries fail and
// how many events it dead-lettered since the last report. The deliverers
// tell it each outcome; FollowDelivery reports it. It is safe for
// concurrent use, and its zero value is ready.
type DeliveryHealth struct {
	mu      sync.Mutex
	sinks   map[string]*sinkState
	changed chan struct{}
}

type sinkState struct {
	failing     bool
	lastError   string
	deadLetters int64
}

// Delivered records a successful delivery to sink.
func (h *DeliveryHealth) Delivered(sink string) {
	h.update(sink, func(s *sinkState) bool {
		was := s.failing
		s.failing = false
		return was
	})
}

// Failed records a failed delivery attempt; the sink fails until its next
// successful delivery.
func (h *DeliveryHealth) Failed(sink string, err error) {
	h.update(sink, func(s *sinkState) bool {
		was := s.failing
		s.failing, s.lastError = true, err.Error()
		return !was
	})
}

// DeadLettered records an event given up on after its attempts; the sink
// counts as failing in the next report even if it delivers again since.
func (h *DeliveryHealth) DeadLettered(sink string, err error) {
	h.update(sink, func(s *sinkState) bool {
		s.deadLetters++
		s.lastError = err.Error()
		return true
	})
}

// update applies f to sink's state and wakes the reporter when f says the
// sink's standing changed. A steady sink wakes nobody.
func (h *DeliveryHealth) update(sink string, f func(*sinkState) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sinks == nil {
		h.sinks = map[string]*sinkState{}
	}
	s := h.sinks[sink]
	if s == nil {
		s = &sinkState{}
		h.sinks[sink] = s
	}
	if f(s) {
		h.signalLocked()
	}
}

func (h *DeliveryHealth) signalLocked() {
	if h.changed != nil {
		close(h.changed)
		h.changed = nil
	}
}

// Changed is closed at the next change of a sink's standing.
func (h *DeliveryHealth) Changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.changed == nil {
		h.changed = make(chan struct{})
	}
	return h.changed
}

// Failing lists the sinks that fail or dead-lettered events since the last report.
func (h *DeliveryHealth) Failing() []contract.SinkHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	var failing []contract.SinkHealth
	for name, s := range h.sinks {
		if s.failing || s.deadLetters > 0 {
			failing = append(failing, contract.SinkHealth{Sink: name, Error: s.lastError, DeadLetters: s.deadLetters})
		}
	}
	slices.SortFunc(failing, func(a, b contract.SinkHealth) int { return strings.Compare(a.Sink, b.Sink) })
	return failing
}

// Reported forgets the dead letters a written report counted.
func (h *DeliveryHealth) Reported(report []contract.SinkHealth) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range report {
		if s := h.sinks[r.Sink]; s != nil {
			s.deadLetters = max(s.deadLetters-r.DeadLetters, 0)
		}
	}
}

// DefaultDeliveryHold is the least time between two delivery reports: a
// dead letter stays visible at least this long, and a flapping sink costs
// at most one write per hold.
const DefaultDeliveryHold = time.Minute

// FollowDelivery reports h through r until ctx ends: when a sink's standing
// changes, at most once per hold. A failed write is retried with backoff.
func FollowDelivery(ctx context.Context, h *DeliveryHealth, r *Reporter, hold time.Duration, log *slog.Logger) {
	reported := ""
	backoff := 100 * time.Millisecond
	for {
		changed := h.Changed()
		failing := h.Failing()
		wait := time.Duration(0)
		if value := contract.FormatEventsHealth(failing); value != reported {
			if err := r.Delivery(ctx, failing); err != nil {
				if !errors.Is(err, ErrNotReported) {
					log.Warn("reporting event delivery health failed; retrying", "error", err.Error(), "backoff", backoff.String())
				}
				wait, backoff = backoff, min(2*backoff, 10*time.Second)
			} else {
				reported, backoff, wait = value, 100*time.Millisecond, hold
				h.Reported(failing)
				log.Info("reported event delivery health", "failing", value)
			}
		}
		if wait > 0 {
			// Look again after the wait whether or not anything changed:
			// the dead letters just reported are forgotten.
			changed = nil
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}
