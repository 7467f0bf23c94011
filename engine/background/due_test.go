package background

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func ptr[T any](v T) *T { return &v }

// tieredSnapshot expires balances after 90 days without activity and has
// a ladder of bronze and gold; gold needs 1,000 points a year and is kept
// 30 days after the member last qualified.
func tieredSnapshot() *config.Snapshot {
	return &config.Snapshot{
		Points: config.PointsPolicy{Expiry: &config.PointsExpiry{AfterInactivity: ptr(config.MustDuration("90d"))}},
		Tiers: []config.Tier{
			{Name: "bronze", Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(0)), Window: ptr(config.MustDuration("365d"))}},
			{Name: "gold", Rank: 1, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(1000)), Window: ptr(config.MustDuration("365d"))},
				DowngradeGracePeriod: config.MustDuration("30d")},
		},
	}
}

// seedDue gives the ledger one member of each kind the due pass changes,
// and a gold member whose qualification lapsed 40 days ago.
func seedDue(l *fakeLedger) {
	pending := l.member("pending")
	pending.lastActivity = t0
	pending.lots = []*fakeLot{{points: 50, pending: true, availableAt: t0.Add(-time.Minute)}, {points: 7, pending: true, availableAt: t0.Add(day)}}
	expiring := l.member("expiring")
	expiring.lastActivity = t0
	expiring.lots = []*fakeLot{{points: 30, expiresAt: t0.Add(-time.Second)}, {points: 5, expiresAt: t0.Add(day)}}
	inactive := l.member("inactive")
	inactive.lastActivity = t0.Add(-100 * day)
	inactive.lots = []*fakeLot{{points: 20}, {points: 3, pending: true, availableAt: t0.Add(day)}}
	lapsed := l.member("lapsed")
	lapsed.lastActivity = t0
	lapsed.tier, lapsed.tierSince = "gold", t0.Add(-200*day)
	lapsed.lastQualifiedAt["gold"] = t0.Add(-40 * day)
	lapsed.activity["gold"] = rules.Activity{Points: 10}
}

func TestDueRunsWithTheSnapshotsOptions(t *testing.T) {
	l := newFakeLedger(t0)
	seedDue(l)
	m := &observer{}
	log, logs := newLog()
	clock := newManualClock()
	stop := running(t, Due{Ledger: l, Config: holding(tieredSnapshot()), Metrics: m, Interval: 5 * time.Second, Log: log, Clock: clock}.Run)

	ticker := clock.next(t)
	if !ticker.ticker || ticker.d != 5*time.Second {
		t.Fatalf("timer %+v, want a ticker of the interval", ticker)
	}
	ticker.fire(t)
	ticker.fire(t) // nothing is due any more
	stop()

	calls := l.calls()
	if len(calls) != 2 {
		t.Fatalf("%d passes, want one a tick", len(calls))
	}
	for _, c := range calls {
		if c.ExpireAfterInactivity != 90*day || c.Tiers != nil || c.TierPassRate != 0 || !c.Now.IsZero() {
			t.Errorf("options %+v: want the snapshot's inactivity expiry, no tiers (the tier pass's work) and the store's clock", c)
		}
	}
	want := []ledger.ProcessDueResult{
		{ReleasedLots: 1, ReleasedPoints: 50, ExpiredLots: 3, ExpiredPoints: 53, InactiveMembers: 1, InactiveExpiredPoints: 23},
		{},
	}
	if got := m.observed(); !slices.Equal(got, want) {
		t.Errorf("metrics observed %+v, want %+v", got, want)
	}
	if l.member("lapsed").tier != "gold" {
		t.Error("the due pass changed a tier")
	}
	if got := logs.messages(t); !slices.Equal(got, []string{"INFO processed due lots"}) {
		t.Errorf("log %v: want one record, for the pass that changed something", got)
	}
	rec := logs.records(t)[0]
	if rec["releasedPoints"] != 50.0 || rec["expiredPoints"] != 53.0 || rec["inactiveMembers"] != 1.0 {
		t.Errorf("log record %v", rec)
	}
	if !ticker.stopped.Load() {
		t.Error("the ticker was not stopped")
	}
}

// Without a snapshot the policy is unknown: lots are released and expire,
// but no one loses a balance for inactivity.
func TestDueWithoutSnapshot(t *testing.T) {
	l := newFakeLedger(t0)
	seedDue(l)
	clock := newManualClock()
	log, _ := newLog()
	stop := running(t, Due{Ledger: l, Config: holding(nil), Metrics: &observer{}, Interval: time.Second, Log: log, Clock: clock}.Run)
	clock.next(t).fire(t)
	stop()
	if c := l.calls(); len(c) != 1 || c[0].ExpireAfterInactivity != 0 || c[0].Tiers != nil {
		t.Fatalf("calls %+v", c)
	}
	for _, lot := range l.member("inactive").lots {
		if lot.expired {
			t.Error("an inactive member lost points without a snapshot saying so")
		}
	}
}

func TestDueLogsAFailureAndGoesOn(t *testing.T) {
	l := newFakeLedger(t0)
	seedDue(l)
	l.failNext(errors.New("database is gone"))
	m := &observer{}
	log, logs := newLog()
	clock := newManualClock()
	stop := running(t, Due{Ledger: l, Config: holding(tieredSnapshot()), Metrics: m, Interval: time.Second, Log: log, Clock: clock}.Run)
	ticker := clock.next(t)
	ticker.fire(t)
	ticker.fire(t)
	stop()

	recs := logs.records(t)
	if len(recs) != 2 || recs[0]["msg"] != "processing due lots" || recs[0]["level"] != "ERROR" || recs[0]["error"] != "database is gone" {
		t.Fatalf("log %v: want the failure, then the next pass", recs)
	}
	if recs[1]["msg"] != "processed due lots" {
		t.Errorf("the pass after a failure did not run: %v", recs[1])
	}
	if got := m.observed(); len(got) != 1 || got[0].ReleasedPoints != 50 {
		t.Errorf("metrics observed %+v: want only the pass that succeeded", got)
	}
}

// A pass cut short by shutdown is no failure worth logging.
func TestDueStopsWithItsContext(t *testing.T) {
	l := newFakeLedger(t0)
	l.hang = true
	log, logs := newLog()
	clock := newManualClock()
	stop := running(t, Due{Ledger: l, Config: holding(tieredSnapshot()), Metrics: &observer{}, Interval: time.Second, Log: log, Clock: clock}.Run)
	clock.next(t).fire(t)
	stop() // fails the test unless Run returns
	if got := logs.messages(t); len(got) != 0 {
		t.Errorf("log %v: want nothing for a pass ended by shutdown", got)
	}
}

// The due job takes the inactivity expiry and the tiers from the snapshot
// in effect, and nothing without one.
func TestDueOptions(t *testing.T) {
	if o := dueOptions(nil); o.ExpireAfterInactivity != 0 || o.Tiers != nil {
		t.Errorf("without a snapshot: %+v", o)
	}
	o := dueOptions(tieredSnapshot())
	if o.ExpireAfterInactivity != 90*day || len(o.Tiers) != 2 || o.Tiers[1].Name != "gold" {
		t.Errorf("with a snapshot: %+v", o)
	}
	if o := dueOptions(&config.Snapshot{}); o.ExpireAfterInactivity != 0 || o.Tiers != nil {
		t.Errorf("without an inactivity expiry or tiers: %+v", o)
	}
}
