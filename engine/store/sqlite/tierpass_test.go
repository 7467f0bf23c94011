package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlstore"
)

// A due pass reads a member's tier first and writes only a change or a
// qualification older than sqlstore.QualificationRefresh: a quiet ledger
// is not rewritten every few seconds.
func TestTierPassWritesOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	clock := now
	s, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "ledger.db"), Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	tiers := silverLadder(100)
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "e", MemberID: "m"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "k", MemberID: "m", EventID: "ev", Points: 150, OccurredAt: now}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.EvaluateTier(ctx, ledger.TierRequest{MemberID: "m", Tiers: tiers, Now: now}); err != nil || r.Decision.Tier != "silver" {
		t.Fatalf("upgrade: %+v, %v", r, err)
	}
	pass := func(at time.Time) int64 {
		t.Helper()
		clock = at
		before := s.Stats().Ops
		if _, err := s.ProcessDue(ctx, ledger.DueOptions{Now: at, Tiers: tiers}); err != nil {
			t.Fatal(err)
		}
		return s.Stats().Ops - before
	}
	if n := pass(now.Add(time.Minute)); n != 0 {
		t.Errorf("a pass a minute after the upgrade wrote %d times, want 0", n)
	}
	if n := pass(now.Add(sqlstore.QualificationRefresh + time.Minute)); n != 1 {
		t.Errorf("a pass after the refresh period wrote %d times, want 1 (the qualification)", n)
	}
	if n := pass(now.Add(sqlstore.QualificationRefresh + 2*time.Minute)); n != 0 {
		t.Errorf("the pass after that wrote %d times, want 0", n)
	}
	// A year on the points have left the window; after the grace period
	// the member is downgraded.
	if n := pass(now.AddDate(1, 1, 0)); n != 1 {
		t.Errorf("the pass after the grace period wrote %d times, want 1 (the downgrade)", n)
	}
	if v, err := s.Member(ctx, "m", clock); err != nil || v.Tier != "bronze" {
		t.Errorf("after the grace period: tier %q, %v; want bronze", v.Tier, err)
	}
}

// silverLadder is bronze and silver from minPoints qualifying points over 365
// days, with 30 days of grace before a downgrade.
func silverLadder(minPoints int64) []config.Tier {
	window := config.MustDuration("365d")
	return []config.Tier{
		{Name: "bronze", Rank: 0, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(0)), Period: config.PeriodRollingWindow, Window: &window}},
		{Name: "silver", Rank: 1, DowngradeGracePeriod: config.MustDuration("30d"),
			Qualification: config.TierQualification{MinQualifyingPoints: ptr(minPoints), Period: config.PeriodRollingWindow, Window: &window}},
	}
}

func ptr[T any](v T) *T { return &v }

// A paced pass starts at most TierPassRate evaluations a second, and a
// cancelled one stops with the context's error.
func TestTierPassIsPaced(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	tiers := silverLadder(10)
	const members = 10
	for i := range members {
		id := fmt.Sprintf("m%d", i)
		if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "e" + id, MemberID: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "k" + id, MemberID: id, EventID: "ev", Points: 20, Tiers: tiers}); err != nil {
			t.Fatal(err)
		}
	}
	const rate = 50 // 20 ms apart: ten members take at least 180 ms
	start := time.Now()
	if _, err := s.ProcessDue(ctx, ledger.DueOptions{Tiers: tiers, TierPassRate: rate}); err != nil {
		t.Fatal(err)
	}
	if took, least := time.Since(start), (members-1)*time.Second/rate; took < least {
		t.Errorf("a pass over %d members at %d a second took %v, want at least %v", members, rate, took, least)
	}

	cancelled, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.ProcessDue(cancelled, ledger.DueOptions{Tiers: tiers, TierPassRate: 1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a pass cancelled midway returned %v, want the context's error", err)
	}
}
