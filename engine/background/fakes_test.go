package background

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// fakeLedger keeps members' lots, tiers and campaign spend in memory and
// processes them as the ledger's ProcessDue and CampaignSpend do.
type fakeLedger struct {
	mu      sync.Mutex
	now     time.Time // the store's clock
	members map[string]*fakeMember
	spend   map[string]int64
	// fail holds the errors the next calls return, one a call.
	fail []error
	// hang makes calls wait for their context to end, as a store does
	// whose database is gone.
	hang bool

	dueCalls   []ledger.DueOptions
	spendCalls int
}

type fakeMember struct {
	lots            []*fakeLot
	lastActivity    time.Time
	tier            string
	tierSince       time.Time
	activity        map[string]rules.Activity
	lastQualifiedAt map[string]time.Time
}

type fakeLot struct {
	points      int64
	pending     bool
	availableAt time.Time
	expiresAt   time.Time // zero: never
	expired     bool
}

func newFakeLedger(now time.Time) *fakeLedger {
	return &fakeLedger{now: now, members: map[string]*fakeMember{}, spend: map[string]int64{}}
}

func (f *fakeLedger) member(id string) *fakeMember {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.members[id]
	if m == nil {
		m = &fakeMember{activity: map[string]rules.Activity{}, lastQualifiedAt: map[string]time.Time{}}
		f.members[id] = m
	}
	return m
}

// grant adds bonus points granted by a campaign, as an earn does.
func (f *fakeLedger) grant(campaign string, points int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spend[campaign] += points
}

// failNext makes the next call return err.
func (f *fakeLedger) failNext(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, err)
}

// enter starts a call: it waits for ctx when the ledger hangs, and returns
// the error planned for this call. The caller holds f.mu afterwards.
func (f *fakeLedger) enter(ctx context.Context) error {
	f.mu.Lock()
	if f.hang {
		f.mu.Unlock()
		<-ctx.Done()
		f.mu.Lock()
		return ctx.Err()
	}
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		return err
	}
	return nil
}

func (f *fakeLedger) CampaignSpend(ctx context.Context) (map[string]int64, error) {
	err := f.enter(ctx)
	defer f.mu.Unlock()
	f.spendCalls++
	if err != nil {
		return nil, err
	}
	spend := map[string]int64{}
	for name, p := range f.spend {
		if p > 0 {
			spend[name] = p
		}
	}
	return spend, nil
}

func (f *fakeLedger) ProcessDue(ctx context.Context, opts ledger.DueOptions) (ledger.ProcessDueResult, error) {
	err := f.enter(ctx)
	defer f.mu.Unlock()
	f.dueCalls = append(f.dueCalls, opts)
	if err != nil {
		return ledger.ProcessDueResult{}, err
	}
	now := opts.Now
	if now.IsZero() {
		now = f.now
	}
	var r ledger.ProcessDueResult
	for _, id := range slices.Sorted(maps.Keys(f.members)) {
		f.members[id].processLots(now, opts.ExpireAfterInactivity, &r)
	}
	if len(opts.Tiers) > 0 {
		f.passTiers(opts.Tiers, now, &r)
	}
	return r, nil
}

// processLots releases the member's due lots, expires the lapsed ones and,
// when the member has been inactive for inactivity, every live lot.
func (m *fakeMember) processLots(now time.Time, inactivity time.Duration, r *ledger.ProcessDueResult) {
	for _, l := range m.lots {
		if l.pending && !l.expired && !l.availableAt.After(now) {
			l.pending = false
			r.ReleasedLots++
			r.ReleasedPoints += l.points
		}
	}
	for _, l := range m.lots {
		if !l.pending && !l.expired && !l.expiresAt.IsZero() && !l.expiresAt.After(now) {
			l.expired = true
			r.ExpiredLots++
			r.ExpiredPoints += l.points
		}
	}
	if inactivity <= 0 || m.lastActivity.After(now.Add(-inactivity)) {
		return
	}
	var lost int64
	for _, l := range m.lots {
		if !l.expired {
			l.expired = true
			r.ExpiredLots++
			lost += l.points
		}
	}
	if lost > 0 {
		r.ExpiredPoints += lost
		r.InactiveExpiredPoints += lost
		r.InactiveMembers++
	}
}

// passTiers re-evaluates the tier of every member above the entry tier.
func (f *fakeLedger) passTiers(tiers []config.Tier, now time.Time, r *ledger.ProcessDueResult) {
	snap := &config.Snapshot{Tiers: tiers}
	entry := slices.MinFunc(tiers, func(a, b config.Tier) int { return int(a.Rank - b.Rank) }).Name
	for _, id := range slices.Sorted(maps.Keys(f.members)) {
		m := f.members[id]
		if m.tier == "" || m.tier == entry {
			continue
		}
		d := rules.EvaluateTier(snap, rules.TierInput{Current: m.tier, TierSince: m.tierSince, Activity: m.activity, LastQualifiedAt: m.lastQualifiedAt}, now)
		for _, name := range d.Qualified {
			m.lastQualifiedAt[name] = now
		}
		switch d.Change {
		case rules.TierUpgrade:
			r.TierUpgrades++
		case rules.TierDowngrade:
			r.TierDowngrades++
		}
		if d.Tier != m.tier {
			m.tier, m.tierSince = d.Tier, now
		}
	}
}

// calls returns the options of every ProcessDue call so far.
func (f *fakeLedger) calls() []ledger.DueOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.dueCalls)
}

// observer records what the jobs report to the metrics.
type observer struct {
	mu   sync.Mutex
	runs []ledger.ProcessDueResult
}

func (o *observer) ObserveProcessDue(r ledger.ProcessDueResult) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.runs = append(o.runs, r)
}

func (o *observer) observed() []ledger.ProcessDueResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.runs)
}

// sink records the lists of spent campaigns handed to it.
type sink struct {
	mu    sync.Mutex
	lists [][]string
	fail  []error
}

func (s *sink) Exhausted(_ context.Context, campaigns []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fail) > 0 {
		err := s.fail[0]
		s.fail = s.fail[1:]
		return err
	}
	s.lists = append(s.lists, slices.Clone(campaigns))
	return nil
}

func (s *sink) reported() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lists)
}

// snapshots is a settable snapshot in effect.
type snapshots struct {
	p atomic.Pointer[config.Snapshot]
}

func (s *snapshots) Current() *config.Snapshot { return s.p.Load() }

func holding(snap *config.Snapshot) *snapshots {
	s := &snapshots{}
	s.p.Store(snap)
	return s
}

// logBuffer keeps a job's JSON log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func newLog() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// records are the log's records, each a decoded JSON object.
func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var recs []map[string]any
	dec := json.NewDecoder(bytes.NewReader(b.buf.Bytes()))
	for dec.More() {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("log record: %v", err)
		}
		recs = append(recs, r)
	}
	return recs
}

// messages are the log's records as "LEVEL message".
func (b *logBuffer) messages(t *testing.T) []string {
	t.Helper()
	var msgs []string
	for _, r := range b.records(t) {
		msgs = append(msgs, r["level"].(string)+" "+r["msg"].(string))
	}
	return msgs
}

// running starts run in its own goroutine; the returned stop ends its
// context and fails the test unless Run returns soon.
func running(t *testing.T, run func(context.Context)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx)
	}()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Fatal("the job did not stop when its context ended")
		}
	}
	t.Cleanup(stop)
	return stop
}

// eventually fails the test unless cond holds within waitLimit; it is for
// what a job does after taking a tick, which no timer marks the end of.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
