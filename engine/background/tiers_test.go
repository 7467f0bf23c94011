package background

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// Without a ladder there is nothing to pass over: the job looks again
// after the interval, and passes once tiers appear.
func TestTierPassSkipsWithoutTiers(t *testing.T) {
	l := newFakeLedger(t0)
	seedDue(l)
	snaps := holding(nil)
	log, _ := newLog()
	clock := newManualClock()
	stop := running(t, TierPass{Ledger: l, Config: snaps, Metrics: &observer{}, Interval: 5 * time.Second, Rate: 250, Log: log, Clock: clock}.Run)

	timer := clock.next(t)
	for _, snap := range []*config.Snapshot{nil, {}} {
		// Set while the job waits, so that the tick's pass reads it.
		snaps.p.Store(snap)
		if timer.ticker || timer.d != 5*time.Second {
			t.Fatalf("timer %+v, want one wait of the interval", timer)
		}
		timer.fire(t)
		timer = clock.next(t)
	}
	if c := l.calls(); len(c) != 0 {
		t.Fatalf("passes without tiers: %+v", c)
	}
	if timer.d != 5*time.Second {
		t.Fatalf("wait %v after a snapshot without tiers, want the interval", timer.d)
	}
	snaps.p.Store(tieredSnapshot())
	timer.fire(t)
	if d := clock.next(t).d; d != TierPassInterval {
		t.Fatalf("wait %v after the first pass, want %v", d, TierPassInterval)
	}
	stop()
	if c := l.calls(); len(c) != 1 || c[0].TierPassRate != 250 {
		t.Errorf("passes %+v: want one, once tiers appeared", c)
	}
}

func TestTierPassDowngradesLapsedMembersAtItsRate(t *testing.T) {
	l := newFakeLedger(t0)
	seedDue(l)
	m := &observer{}
	log, logs := newLog()
	clock := newManualClock()
	stop := running(t, TierPass{Ledger: l, Config: holding(tieredSnapshot()), Metrics: m, Interval: 5 * time.Second, Rate: 250, Log: log, Clock: clock}.Run)

	first := clock.next(t)
	if first.d != 5*time.Second {
		t.Fatalf("first wait %v, want the interval", first.d)
	}
	first.fire(t)
	second := clock.next(t)
	if second.d != TierPassInterval {
		t.Fatalf("wait after a pass %v, want %v", second.d, TierPassInterval)
	}
	stop()

	calls := l.calls()
	if len(calls) != 1 || calls[0].TierPassRate != 250 || len(calls[0].Tiers) != 2 || calls[0].ExpireAfterInactivity != 90*day {
		t.Fatalf("calls %+v: want one pass with the snapshot's tiers and inactivity expiry at the rate", calls)
	}
	if tier := l.member("lapsed").tier; tier != "bronze" {
		t.Errorf("lapsed member's tier %q, want bronze after the grace period", tier)
	}
	if got := m.observed(); len(got) != 1 || got[0].TierDowngrades != 1 {
		t.Errorf("metrics observed %+v", got)
	}
	recs := logs.records(t)
	if len(recs) != 1 || recs[0]["tierDowngrades"] != 1.0 {
		t.Errorf("log %v", recs)
	}
}

// A failed pass is logged and the next comes a pass interval later, as
// after one that succeeded.
func TestTierPassLogsAFailureAndGoesOn(t *testing.T) {
	l := newFakeLedger(t0)
	seedDue(l)
	l.failNext(errors.New("database is gone"))
	log, logs := newLog()
	clock := newManualClock()
	stop := running(t, TierPass{Ledger: l, Config: holding(tieredSnapshot()), Metrics: &observer{}, Interval: time.Second, Rate: 500, Log: log, Clock: clock}.Run)
	clock.next(t).fire(t)
	again := clock.next(t)
	if again.d != TierPassInterval {
		t.Fatalf("wait after a failed pass %v", again.d)
	}
	again.fire(t)
	clock.next(t)
	stop()
	if got := logs.messages(t); !slices.Equal(got, []string{"ERROR processing due lots", "INFO processed due lots"}) {
		t.Errorf("log %v", got)
	}
	if l.member("lapsed").tier != "bronze" {
		t.Error("the pass after a failure did not run")
	}
}

func TestTierPassStopsWithItsContext(t *testing.T) {
	l := newFakeLedger(t0)
	clock := newManualClock()
	log, _ := newLog()
	stop := running(t, TierPass{Ledger: l, Config: holding(tieredSnapshot()), Metrics: &observer{}, Interval: time.Second, Rate: 1, Log: log, Clock: clock}.Run)
	clock.next(t)
	stop() // while waiting
	l.hang = true
	log, logs := newLog()
	stop = running(t, TierPass{Ledger: l, Config: holding(tieredSnapshot()), Metrics: &observer{}, Interval: time.Second, Rate: 1, Log: log, Clock: clock}.Run)
	clock.next(t).fire(t)
	stop() // in the middle of a pass
	if got := logs.messages(t); len(got) != 0 {
		t.Errorf("log %v: want nothing for a pass ended by shutdown", got)
	}
}
