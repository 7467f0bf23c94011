package background

import (
	"sync/atomic"
	"testing"
	"time"
)

// waitLimit bounds every wait of a test on a job, so that a job that hangs
// fails the test instead of the run.
const waitLimit = 5 * time.Second

// manualClock hands each timer a job asks for to the test, which fires it
// by hand: a job waits on nothing real.
type manualClock struct {
	timers chan *manualTimer
}

func newManualClock() *manualClock {
	return &manualClock{timers: make(chan *manualTimer, 16)}
}

// manualTimer is a timer or ticker of a manualClock. Its channel is
// unbuffered, so a fire returns only once the job has taken the tick: the
// next fire then finds the job done with the previous one.
type manualTimer struct {
	d       time.Duration
	ticker  bool
	c       chan time.Time
	stopped atomic.Bool
}

func (c *manualClock) NewTicker(d time.Duration) Ticker {
	t := &manualTimer{d: d, ticker: true, c: make(chan time.Time)}
	c.timers <- t
	return t
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	t := &manualTimer{d: d, c: make(chan time.Time)}
	c.timers <- t
	return t.c
}

func (tm *manualTimer) C() <-chan time.Time { return tm.c }
func (tm *manualTimer) Stop()               { tm.stopped.Store(true) }

// next is the next timer the job asks for.
func (c *manualClock) next(t *testing.T) *manualTimer {
	t.Helper()
	select {
	case tm := <-c.timers:
		return tm
	case <-time.After(waitLimit):
		t.Fatal("the job asked for no timer")
		return nil
	}
}

// fire delivers a tick once the job waits on the timer.
func (tm *manualTimer) fire(t *testing.T) {
	t.Helper()
	select {
	case tm.c <- time.Now():
	case <-time.After(waitLimit):
		t.Fatalf("the job does not wait on its %v timer", tm.d)
	}
}
