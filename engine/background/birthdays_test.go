package background

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// birthdayLedger records the passes it is asked for and answers each with
// the next of its results.
type birthdayLedger struct {
	mu      sync.Mutex
	reqs    []ledger.BirthdaysRequest
	results []ledger.BirthdaysResult
	err     error
}

func (b *birthdayLedger) GrantBirthdays(_ context.Context, req ledger.BirthdaysRequest) (ledger.BirthdaysResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reqs = append(b.reqs, req)
	if b.err != nil {
		return ledger.BirthdaysResult{}, b.err
	}
	r := b.results[0]
	b.results = b.results[1:]
	return r, nil
}

func TestBirthdaysGrantsTheSnapshotsRuleOnEveryTick(t *testing.T) {
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	snap := &config.Snapshot{Program: config.Program{TimeZone: "Asia/Seoul"},
		Points: config.PointsPolicy{Birthday: &config.BirthdayReward{Points: 250, Window: config.LimitWeek},
			Expiry: &config.PointsExpiry{AfterEarn: ptr(config.MustDuration("365d"))}}}
	l := &birthdayLedger{results: []ledger.BirthdaysResult{{Granted: 2, Points: 500}, {}}}
	clock := newManualClock()
	log, logs := newLog()
	stop := running(t, Birthdays{Ledger: l, Config: holding(snap), Interval: time.Minute, Log: log, Clock: clock}.Run)
	ticker := clock.next(t)
	if !ticker.ticker || ticker.d != time.Minute {
		t.Fatalf("timer %+v, want a ticker of the interval", ticker)
	}
	ticker.fire(t)
	ticker.fire(t)
	stop()
	if len(l.reqs) != 2 {
		t.Fatalf("%d passes, want one a tick", len(l.reqs))
	}
	for _, r := range l.reqs {
		if r.Rule.Points != 250 || r.Rule.Window != config.LimitWeek || r.Rule.ExpireAfter != 365*day || !r.Now.IsZero() {
			t.Errorf("request %+v: want the snapshot's points, window and expiry, and the store's clock", r)
		}
		if r.Rule.Location.String() != seoul.String() {
			t.Errorf("zone %s, want the program's Asia/Seoul", r.Rule.Location)
		}
	}
	if got := logs.messages(t); !slices.Equal(got, []string{"INFO granted birthdays"}) {
		t.Errorf("log %v: want one record, for the pass that granted", got)
	}
}

func TestBirthdaysWithoutARewardAsksNothing(t *testing.T) {
	l := &birthdayLedger{err: errors.New("must not be called")}
	clock := newManualClock()
	log, logs := newLog()
	stop := running(t, Birthdays{Ledger: l, Config: holding(&config.Snapshot{}), Interval: time.Minute, Log: log, Clock: clock}.Run)
	clock.next(t).fire(t)
	stop()
	if len(l.reqs) != 0 || len(logs.messages(t)) != 0 {
		t.Errorf("%d passes, log %v: want none without a birthday reward", len(l.reqs), logs.messages(t))
	}
}
