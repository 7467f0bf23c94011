package background

import "time"

// Clock makes the timers the jobs wait on. Nil in a job means real time;
// tests pass a clock whose timers they fire by hand.
type Clock interface {
	NewTicker(d time.Duration) Ticker
	After(d time.Duration) <-chan time.Time
}

// Ticker is the part of time.Ticker the jobs use.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

func clockOrReal(c Clock) Clock {
	if c == nil {
		return realClock{}
	}
	return c
}

type realClock struct{}

func (realClock) NewTicker(d time.Duration) Ticker       { return realTicker{time.NewTicker(d)} }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }
