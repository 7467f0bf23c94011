package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlstore"
)

// benchMembers spreads benchmark writes so they are not all serialised on
// one member's row.
const benchMembers = 1000

// Bench runs the write benchmarks, each on a fresh store. Throughput is
// reported as ops/s (events/s for batches).
func Bench(b *testing.B, newStore Factory) {
	b.Run("Earn", func(b *testing.B) {
		s := newStore(b)
		enrollMany(b, s, benchMembers)
		var n atomic.Int64
		b.SetParallelism(16) // many concurrent callers make group commit batch
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				id := fmt.Sprint("m", i%benchMembers)
				ev := fmt.Sprint("e", i)
				if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: ev, MemberID: id, EventID: ev, Points: 10, ExpiresAt: day(int(i % 400))}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		reportBatching(b, s)
	})
	b.Run("EarnBatch", func(b *testing.B) {
		s := newStore(b)
		enrollMany(b, s, benchMembers)
		b.ResetTimer()
		for i := range b.N {
			events := make([]ledger.EarnRequest, ledger.MaxBatchEvents)
			for j := range events {
				ev := fmt.Sprint("b", i, "-", j)
				events[j] = ledger.EarnRequest{IdempotencyKey: ev, MemberID: fmt.Sprint("m", j%benchMembers), EventID: ev, Points: 5}
			}
			res, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: events})
			if err != nil || res.Failed != 0 {
				b.Fatalf("batch: %d failed, %v", res.Failed, err)
			}
		}
		b.ReportMetric(float64(b.N*ledger.MaxBatchEvents)/b.Elapsed().Seconds(), "events/s")
		reportBatching(b, s)
	})
	b.Run("Redeem", func(b *testing.B) {
		s := newStore(b)
		enrollMany(b, s, benchMembers)
		fund := make([]ledger.EarnRequest, benchMembers)
		for j := range fund {
			fund[j] = ledger.EarnRequest{IdempotencyKey: fmt.Sprint("fund", j), MemberID: fmt.Sprint("m", j), EventID: "fund", Points: 1 << 30}
		}
		if _, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: fund}); err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				if _, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: fmt.Sprint("r", i), MemberID: fmt.Sprint("m", i%benchMembers), Points: 1}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		reportBatching(b, s)
	})
}

func enrollMany(tb testing.TB, s ledger.Ledger, n int) {
	tb.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprint("m", i)
			if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll-" + id, MemberID: id}); err != nil {
				tb.Error(err)
			}
		})
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
}

// reportBatching reports the mean group-commit size of stores that count it
// (including setup writes, which are few next to the measured ones).
func reportBatching(b *testing.B, s ledger.Ledger) {
	if c, ok := s.(interface{ Stats() sqlstore.Stats }); ok {
		if st := c.Stats(); st.Commits > 0 {
			b.ReportMetric(float64(st.Ops)/float64(st.Commits), "ops/commit")
		}
	}
}
