package background

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// endings is a MembershipEnder holding period ends by member.
type endings struct {
	mu    sync.Mutex
	ends  map[string]time.Time
	calls []time.Time
	fail  error
}

func (e *endings) EndDueMemberships(_ context.Context, now time.Time) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, now)
	if e.fail != nil {
		return 0, e.fail
	}
	n := 0
	for id, end := range e.ends {
		if !now.Before(end) {
			delete(e.ends, id)
			n++
		}
	}
	return n, nil
}

func (e *endings) waitCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		got := len(e.calls)
		e.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the job made fewer than %d passes", n)
}

func TestMembershipsEndAtTheInjectedClocksTime(t *testing.T) {
	e := &endings{ends: map[string]time.Time{"a": t0.Add(day), "b": t0.Add(2 * day)}}
	log, logs := newLog()
	clock := newManualClock()
	var mu sync.Mutex
	now := t0
	stop := running(t, Memberships{Ledger: e, Interval: time.Minute, Log: log, Clock: clock, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}}.Run)
	ticker := clock.next(t)
	if !ticker.ticker || ticker.d != time.Minute {
		t.Fatalf("timer %+v, want a ticker of the interval", ticker)
	}
	for i, at := range []time.Time{t0, t0.Add(day), t0.Add(3 * day)} {
		mu.Lock()
		now = at
		mu.Unlock()
		ticker.fire(t)
		e.waitCalls(t, i+1) // the pass read the clock before it moves again
	}
	e.mu.Lock()
	e.fail = errors.New("store down")
	e.mu.Unlock()
	ticker.fire(t)
	ticker.fire(t) // taken once the failed pass is over
	stop()
	if want := []time.Time{t0, t0.Add(day), t0.Add(3 * day), t0.Add(3 * day)}; !slices.Equal(e.calls[:4], want) {
		t.Fatalf("passes at %v, want one a tick at the clock's time", e.calls)
	}
	if len(e.ends) != 0 {
		t.Fatalf("left %v", e.ends)
	}
	want := []string{"INFO ended due memberships", "INFO ended due memberships", "ERROR ending due memberships"}
	if got := logs.messages(t); len(got) < 3 || !slices.Equal(got[:3], want) {
		t.Fatalf("log %v, want %v", got, want)
	}
}
