package background

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func budget(n int64) *config.CampaignLimits { return &config.CampaignLimits{TotalBonusBudget: &n} }

func TestExhaustedCampaigns(t *testing.T) {
	s := &config.Snapshot{Campaigns: []config.Campaign{
		{Name: "spent", Limits: budget(100)},
		{Name: "overspent-by-a-race-elsewhere", Limits: budget(100)},
		{Name: "left", Limits: budget(100)},
		{Name: "unbudgeted"},
	}}
	spend := map[string]int64{"spent": 100, "overspent-by-a-race-elsewhere": 101, "left": 99, "unbudgeted": 1_000_000}
	if got := exhaustedCampaigns(s, spend); !slices.Equal(got, []string{"spent", "overspent-by-a-race-elsewhere"}) {
		t.Errorf("exhaustedCampaigns = %v", got)
	}
	if exhaustedCampaigns(nil, spend) != nil {
		t.Error("no snapshot, nothing to report")
	}
}

func budgetedSnapshot() *config.Snapshot {
	return &config.Snapshot{Campaigns: []config.Campaign{
		{Name: "spring", Limits: budget(100)},
		{Name: "summer", Limits: budget(500)},
	}}
}

func TestExhaustedReportsSpentBudgets(t *testing.T) {
	l := newFakeLedger(t0)
	out := &sink{}
	log, logs := newLog()
	clock := newManualClock()
	stop := running(t, Exhausted{Ledger: l, Config: holding(budgetedSnapshot()), Sink: out, Interval: 3 * time.Second, Log: log, Clock: clock}.Run)
	ticker := clock.next(t)
	if !ticker.ticker || ticker.d != 3*time.Second {
		t.Fatalf("timer %+v, want a ticker of the interval", ticker)
	}
	ticker.fire(t)
	eventually(t, "the first report", func() bool { return len(out.reported()) == 1 })
	l.grant("spring", 60)
	l.grant("summer", 500)
	ticker.fire(t)
	eventually(t, "the second report", func() bool { return len(out.reported()) == 2 })
	l.grant("spring", 40)
	ticker.fire(t)
	eventually(t, "the third report", func() bool { return len(out.reported()) == 3 })
	stop()
	want := [][]string{nil, {"summer"}, {"spring", "summer"}}
	if got := out.reported(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("reported %v, want %v", got, want)
	}
	if got := logs.messages(t); len(got) != 0 {
		t.Errorf("log %v", got)
	}
}

func TestExhaustedLogsFailuresAndGoesOn(t *testing.T) {
	l := newFakeLedger(t0)
	l.grant("spring", 100)
	l.failNext(errors.New("database is gone"))
	out := &sink{fail: []error{errors.New("leases are forbidden")}}
	log, logs := newLog()
	clock := newManualClock()
	stop := running(t, Exhausted{Ledger: l, Config: holding(budgetedSnapshot()), Sink: out, Interval: time.Second, Log: log, Clock: clock}.Run)
	ticker := clock.next(t)
	for range 3 {
		ticker.fire(t)
	}
	stop()
	recs := logs.records(t)
	if len(recs) != 2 ||
		recs[0]["msg"] != "reading campaign spend" || recs[0]["error"] != "database is gone" ||
		recs[1]["msg"] != "reporting spent campaign budgets" || recs[1]["error"] != "leases are forbidden" {
		t.Fatalf("log %v", recs)
	}
	if got := out.reported(); len(got) != 1 || !slices.Equal(got[0], []string{"spring"}) {
		t.Errorf("reported %v: want the third check's list", got)
	}
}

func TestExhaustedStopsWithItsContext(t *testing.T) {
	l := newFakeLedger(t0)
	l.hang = true
	log, logs := newLog()
	clock := newManualClock()
	stop := running(t, Exhausted{Ledger: l, Config: holding(budgetedSnapshot()), Sink: &sink{}, Interval: time.Second, Log: log, Clock: clock}.Run)
	clock.next(t).fire(t)
	stop()
	if got := logs.messages(t); len(got) != 0 {
		t.Errorf("log %v: want nothing for a check ended by shutdown", got)
	}
}
