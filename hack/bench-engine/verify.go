package main

import (
	"context"
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/postgres"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
)

// checker is the part of a ledger store the verification needs.
type checker interface {
	CheckInvariants(ctx context.Context) error
	Member(ctx context.Context, memberID string, now time.Time) (ledger.MemberView, error)
	Close() error
}

func openSQLite(ctx context.Context, path string) (checker, error) {
	return sqlite.Open(ctx, sqlite.Options{Path: path})
}

func openPostgres(ctx context.Context, url, schema string) (checker, error) {
	return postgres.Open(ctx, postgres.Options{URL: url, Schema: schema})
}

// verdict is the state of the store after the load.
type verdict struct {
	OK               bool     `json:"ok"`
	Summary          string   `json:"summary"`
	Problems         []string `json:"problems,omitempty"`
	AckedEarnEvents  int64    `json:"ackedEarnEvents"`
	AckedEarnPoints  int64    `json:"ackedEarnPoints"`
	StoredLifetime   int64    `json:"storedLifetime"`
	ExpectedLifetime int64    `json:"expectedLifetime"`
	Uncertain        int      `json:"uncertainMembers"`
}

// verify opens the stopped engine's store, runs its invariant checks and
// compares every member with what the engine acknowledged: lifetime earned
// is the seeded plus the acknowledged earned points, and available plus
// pending is that minus the acknowledged redemptions. A member with a write
// of still unknown outcome is only checked to hold at least what was acknowledged.
func verify(ctx context.Context, open func(context.Context) (checker, error), b *bench) (*verdict, error) {
	s, err := open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open the store after the load: %w", err)
	}
	defer func() { _ = s.Close() }() // only read, to check what the load wrote
	v := &verdict{OK: true}
	problem := func(format string, args ...any) {
		v.OK = false
		if len(v.Problems) < 20 {
			v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
		}
	}
	invariants := "invariants hold"
	if err := s.CheckInvariants(ctx); err != nil {
		problem("CheckInvariants: %v", err)
		invariants = "INVARIANTS VIOLATED"
	}
	for i, id := range b.members {
		a := &b.acct[i]
		mv, err := s.Member(ctx, id, time.Time{})
		if err != nil {
			problem("member %s: %v", id, err)
			continue
		}
		wantLifetime := a.seeded.Load() + a.earned.Load()
		wantBalance := wantLifetime - a.redeemed.Load()
		v.AckedEarnEvents += a.earns.Load()
		v.AckedEarnPoints += a.earned.Load()
		v.StoredLifetime += mv.LifetimeEarned
		v.ExpectedLifetime += wantLifetime
		if a.uncertain.Load() {
			v.Uncertain++
			if mv.LifetimeEarned < wantLifetime {
				problem("member %s: lifetime %d below the %d acknowledged", id, mv.LifetimeEarned, wantLifetime)
			}
			continue
		}
		if mv.LifetimeEarned != wantLifetime || mv.Available+mv.Pending != wantBalance {
			problem("member %s: lifetime %d, balance %d; acknowledged %d and %d", id, mv.LifetimeEarned, mv.Available+mv.Pending, wantLifetime, wantBalance)
		}
	}
	result := "every acknowledged write is stored"
	if !v.OK {
		result = "VIOLATION"
	}
	v.Summary = fmt.Sprintf("%s; %s: %d acknowledged earn events, %d points; stored lifetime %d of %d expected (incl. seeds); %d members with writes of unknown outcome",
		invariants, result, v.AckedEarnEvents, v.AckedEarnPoints, v.StoredLifetime, v.ExpectedLifetime, v.Uncertain)
	return v, nil
}
