package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
	"github.com/loyaltyops/loyalty-operator/engine/store/storetest"
)

func open(t testing.TB, path string) ledger.Ledger {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) ledger.Ledger {
		return open(t, filepath.Join(t.TempDir(), "ledger.db"))
	})
}

func TestConformanceClocked(t *testing.T) {
	storetest.RunClocked(t, func(t testing.TB, now func() time.Time) ledger.Ledger {
		s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "ledger.db"), Now: now})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return s
	})
}

func TestConformanceReadAge(t *testing.T) {
	storetest.RunReadAge(t, func(t testing.TB, maxAge time.Duration) ledger.Ledger {
		s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "ledger.db"), MaxReadAge: maxAge})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return s
	})
}

func BenchmarkLedger(b *testing.B) {
	storetest.Bench(b, func(tb testing.TB) ledger.Ledger {
		return open(tb, filepath.Join(tb.TempDir(), "ledger.db"))
	})
}

// Concurrent writers share commits: the group commit batches them.
func TestGroupCommitBatches(t *testing.T) {
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			id := fmt.Sprint("m", i)
			if _, err := s.Enroll(context.Background(), ledger.EnrollRequest{IdempotencyKey: id, MemberID: id}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.Ops != 64 || st.Commits >= st.Ops {
		t.Fatalf("%d ops in %d commits, want 64 ops in fewer commits", st.Ops, st.Commits)
	}
	t.Logf("%d ops in %d commits", st.Ops, st.Commits)
}

// A batch's events are queued together, so the writer commits them
// together (in chunks of MaxBatch), never starting on the first events
// before the rest are queued.
func TestEarnBatchCommittedTogether(t *testing.T) {
	for _, tc := range []struct{ maxBatch, events, commits int }{
		{maxBatch: 1024, events: ledger.MaxBatchEvents, commits: 1},
		{maxBatch: 100, events: 250, commits: 3},
	} {
		t.Run(fmt.Sprintf("maxBatch=%d,events=%d", tc.maxBatch, tc.events), func(t *testing.T) {
			ctx := context.Background()
			s, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "ledger.db"), MaxBatch: tc.maxBatch})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			}()
			var req ledger.EarnBatchRequest
			for i := range 10 {
				id := fmt.Sprint("m", i)
				if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: id, MemberID: id}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tc.events {
				req.Events = append(req.Events, ledger.EarnRequest{IdempotencyKey: fmt.Sprint("k", i), MemberID: fmt.Sprint("m", i%10), EventID: fmt.Sprint("e", i), Points: 1})
			}
			before := s.Stats()
			res, err := s.EarnBatch(ctx, req)
			if err != nil || res.Succeeded != tc.events {
				t.Fatalf("%d of %d events earned, %v", res.Succeeded, tc.events, err)
			}
			after := s.Stats()
			if got := after.Commits - before.Commits; got != int64(tc.commits) {
				t.Fatalf("%d events in %d commits, want %d", tc.events, got, tc.commits)
			}
		})
	}
}

// An earn that qualifies its member for a higher tier upgrades them in the
// same commit.
func TestEarnUpgradeInItsCommit(t *testing.T) {
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
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "m1", MemberID: "m1"}); err != nil {
		t.Fatal(err)
	}
	points := func(n int64) *int64 { return &n }
	window := config.MustDuration("365d")
	tiers := []config.Tier{
		{Name: "bronze", Rank: 0, Qualification: config.TierQualification{MinQualifyingPoints: points(0), Window: &window}},
		{Name: "silver", Rank: 1, Qualification: config.TierQualification{MinQualifyingPoints: points(100), Window: &window}},
	}
	before := s.Stats()
	if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "e1", MemberID: "m1", EventID: "e1", Points: 150, Tiers: tiers}); err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	v, err := s.Member(ctx, "m1", time.Now())
	if err != nil || v.Tier != "silver" {
		t.Fatalf("tier %q, %v; want silver", v.Tier, err)
	}
	if got := after.Commits - before.Commits; got != 1 {
		t.Fatalf("earn and upgrade in %d commits, want 1", got)
	}
}

// BenchmarkScenarios prints the figures of the engine's throughput targets:
// go test -run xxx -bench Scenarios -benchtime 3s
func BenchmarkScenarios(b *testing.B) {
	storetest.BenchScenarios(b, func(tb testing.TB) ledger.Ledger {
		return open(tb, filepath.Join(tb.TempDir(), "ledger.db"))
	})
}

// A second engine on the same file is refused while the first has it open,
// and gets it once the first has closed.
func TestOneEnginePerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	first, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	second, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
	if err == nil {
		t.Fatalf("a second store opened a file the first holds (close: %v)", second.Close())
	}
	if want := "is in use by another engine"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want one saying it %s", err, want)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}
