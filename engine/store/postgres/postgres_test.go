package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/postgres"
	"github.com/loyaltyops/loyalty-operator/engine/store/storetest"
)

// databaseURL returns TEST_DATABASE_URL; without it the tests skip, except
// in CI where a missing database must fail the build.
func databaseURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set; PostgreSQL tests cannot be skipped in CI")
		}
		t.Skip("TEST_DATABASE_URL is not set")
	}
	return url
}

// freshSchema creates a schema of its own for the test and drops it after.
func freshSchema(t testing.TB) (url, schema string) {
	t.Helper()
	url = databaseURL(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema = "ledger_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return url, schema
}

func open(t testing.TB, url, schema string) ledger.Ledger {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Options{URL: url, Schema: schema})
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
	databaseURL(t)
	storetest.Run(t, func(t testing.TB) ledger.Ledger {
		url, schema := freshSchema(t)
		return open(t, url, schema)
	})
}

func TestConformanceClocked(t *testing.T) {
	databaseURL(t)
	storetest.RunClocked(t, func(t testing.TB, now func() time.Time) ledger.Ledger {
		url, schema := freshSchema(t)
		s, err := postgres.Open(context.Background(), postgres.Options{URL: url, Schema: schema, Now: now})
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
	databaseURL(t)
	storetest.RunReadAge(t, func(t testing.TB, maxAge time.Duration) ledger.Ledger {
		url, schema := freshSchema(t)
		s, err := postgres.Open(context.Background(), postgres.Options{URL: url, Schema: schema, MaxReadAge: maxAge})
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

// Several engine processes on one database: two stores on the same schema
// must agree through row locks, with no balance held in memory.
func TestReplicasShareDatabase(t *testing.T) {
	url, schema := freshSchema(t)
	t.Run("redeem", func(t *testing.T) {
		url, schema := freshSchema(t)
		storetest.ConcurrentRedeem(t, []ledger.Ledger{open(t, url, schema), open(t, url, schema)})
	})
	t.Run("budget", func(t *testing.T) {
		url, schema := freshSchema(t)
		storetest.ConcurrentBudget(t, []ledger.Ledger{open(t, url, schema), open(t, url, schema)})
	})
	t.Run("member cap", func(t *testing.T) {
		url, schema := freshSchema(t)
		storetest.ConcurrentMemberCap(t, []ledger.Ledger{open(t, url, schema), open(t, url, schema)})
	})
	t.Run("bonus return", func(t *testing.T) {
		url, schema := freshSchema(t)
		storetest.ConcurrentBonusReturn(t, []ledger.Ledger{open(t, url, schema), open(t, url, schema)})
	})
	t.Run("max per day", func(t *testing.T) {
		url, schema := freshSchema(t)
		storetest.ConcurrentMaxPerDay(t, []ledger.Ledger{open(t, url, schema), open(t, url, schema)})
	})
	t.Run("one-time and weekly actions", func(t *testing.T) {
		url, schema := freshSchema(t)
		storetest.ConcurrentActionLimits(t, []ledger.Ledger{open(t, url, schema), open(t, url, schema)})
	})
	t.Run("birthdays", func(t *testing.T) {
		url, schema := freshSchema(t)
		storetest.ConcurrentBirthdays(t, []ledger.Ledger{open(t, url, schema), open(t, url, schema)})
	})
	t.Run("replays", func(t *testing.T) {
		storetest.ConcurrentReplays(t, []ledger.Ledger{open(t, url, schema), open(t, url, schema), open(t, url, schema)})
	})
	t.Run("reward stock", func(t *testing.T) {
		url, schema := freshSchema(t)
		storetest.ConcurrentStock(t, []ledger.Ledger{open(t, url, schema), open(t, url, schema)})
	})
	t.Run("tier change", func(t *testing.T) {
		url, schema := freshSchema(t)
		storetest.ReplicaTierChange(t, open(t, url, schema), open(t, url, schema))
	})
}

func BenchmarkLedger(b *testing.B) {
	storetest.Bench(b, func(tb testing.TB) ledger.Ledger {
		url, schema := freshSchema(tb)
		return open(tb, url, schema)
	})
}

// BenchmarkScenarios prints the figures of the engine's throughput targets:
// go test -run xxx -bench Scenarios -benchtime 3s
func BenchmarkScenarios(b *testing.B) {
	storetest.BenchScenarios(b, func(tb testing.TB) ledger.Ledger {
		url, schema := freshSchema(tb)
		return open(tb, url, schema)
	})
}

// Replicas race to use one idempotency key for different members: exactly
// one write applies, whichever process and batch it lands in.
func TestReplicasKeyRace(t *testing.T) {
	url, schema := freshSchema(t)
	stores := []ledger.Ledger{open(t, url, schema), open(t, url, schema)}
	const members = 32
	for m := range members {
		id := fmt.Sprint("m", m)
		if _, err := stores[0].Enroll(context.Background(), ledger.EnrollRequest{IdempotencyKey: "enroll-" + id, MemberID: id}); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 5 {
		var applied, reused atomic.Int64
		var wg sync.WaitGroup
		for m := range members {
			wg.Go(func() {
				_, err := stores[m%2].Earn(context.Background(), ledger.EarnRequest{
					IdempotencyKey: fmt.Sprint("k", round), MemberID: fmt.Sprint("m", m), EventID: fmt.Sprint("o", round), Points: 1,
				})
				switch {
				case err == nil:
					applied.Add(1)
				case errors.Is(err, ledger.ErrIdempotencyReuse):
					reused.Add(1)
				default:
					t.Errorf("earn: %v", err)
				}
			})
		}
		wg.Wait()
		if applied.Load() != 1 || reused.Load() != members-1 {
			t.Fatalf("round %d: %d applied and %d refused, want 1 and %d", round, applied.Load(), reused.Load(), members-1)
		}
	}
	storetest.CheckInvariants(t, stores[0])
}

// Ledger rows of a member that does not exist (which no foreign key
// refuses here) are reported by CheckInvariants.
func TestInvariantsReportRowsWithoutMember(t *testing.T) {
	url, schema := freshSchema(t)
	s := open(t, url, schema)
	storetest.CheckInvariants(t, s)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, "entries"}.Sanitize()+
		" (member_id, kind, available, pending, lifetime, event_id, reference, reason, shortfall, at) VALUES ('ghost', 'adjust', 0, 0, 0, '', '', 'test', 0, 0)"); err != nil {
		t.Fatal(err)
	}
	err = s.CheckInvariants(ctx)
	if err == nil || !strings.Contains(err.Error(), "every ledger row belongs to an enrolled member: entries of ghost") {
		t.Fatalf("CheckInvariants = %v, want the entry of ghost reported", err)
	}
}

// BenchmarkStorageFloor is what the fewest rows of an earn cost on this
// server, written by four connections with synchronous_commit=on as the
// engine's writer shards commit; make bench-floor.
func BenchmarkStorageFloor(b *testing.B) {
	storetest.BenchFloor(b, func(tb testing.TB) storetest.FloorDB {
		url, schema := freshSchema(tb)
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.RuntimeParams["synchronous_commit"] = "on"
		ctx := context.Background()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			tb.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
			tb.Fatal(err)
		}
		cfg.RuntimeParams["search_path"] = schema
		db := stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(4)
		tb.Cleanup(func() {
			if err := db.Close(); err != nil {
				tb.Errorf("close: %v", err)
			}
		})
		// Four writers, as postgres.Open's default shards.
		return storetest.FloorDB{DB: db, Param: storetest.NumberedParam, Writers: 4}
	})
}
