package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Scenario benchmark shapes, matching the engine's throughput targets.
const (
	scenarioMembers   = 10000
	scenarioBatchSize = 100
	// scenarioClients is the number of concurrent single-event callers.
	scenarioClients = 64
	// scenarioBatchClients is the number of concurrent batch callers.
	scenarioBatchClients = 8
	// scenarioShortEvery makes one redeem in ten ask for more than any balance.
	scenarioShortEvery = 10
)

// BenchScenarios runs the target scenarios, each on a fresh store, and reports
// throughput and latency percentiles:
//
//   - EarnBatch100: concurrent batches of 100 earns over many members;
//   - Earn64: single-event earns from 64 concurrent callers;
//   - RedeemHot: redeems from 64 callers on zipf-distributed (hot) members,
//     one in ten failing with insufficient points.
func BenchScenarios(b *testing.B, newStore Factory) {
	b.Run("EarnBatch100", func(b *testing.B) {
		s := newStore(b)
		enrollMany(b, s, scenarioMembers)
		var n atomic.Int64
		lat := newLatencies()
		runClients(b, scenarioBatchClients, func(rec *[]time.Duration) bool {
			i := n.Add(1)
			events := make([]ledger.EarnRequest, scenarioBatchSize)
			for j := range events {
				ev := fmt.Sprint("b", i, "-", j)
				m := (int(i)*scenarioBatchSize + j*37) % scenarioMembers
				events[j] = ledger.EarnRequest{IdempotencyKey: ev, MemberID: fmt.Sprint("m", m), EventID: ev, Points: 5, ExpiresAt: day(int(i%400) + 1)}
			}
			start := time.Now()
			res, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: events})
			*rec = append(*rec, time.Since(start))
			if err != nil || res.Failed != 0 {
				b.Errorf("batch: %d failed, %v", res.Failed, err)
				return false
			}
			return true
		}, lat)
		b.ReportMetric(float64(b.N*scenarioBatchSize)/b.Elapsed().Seconds(), "events/s")
		lat.report(b, "batch")
		reportBatching(b, s)
	})
	b.Run("Earn64", func(b *testing.B) {
		s := newStore(b)
		enrollMany(b, s, scenarioMembers)
		var n atomic.Int64
		lat := newLatencies()
		runClients(b, scenarioClients, func(rec *[]time.Duration) bool {
			i := n.Add(1)
			ev := fmt.Sprint("e", i)
			start := time.Now()
			_, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: ev, MemberID: fmt.Sprint("m", i*7919%scenarioMembers), EventID: ev, Points: 10, ExpiresAt: day(int(i%400) + 1)})
			*rec = append(*rec, time.Since(start))
			if err != nil {
				b.Error(err)
				return false
			}
			return true
		}, lat)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		lat.report(b, "op")
		reportBatching(b, s)
	})
	b.Run("RedeemHot", func(b *testing.B) {
		s := newStore(b)
		enrollMany(b, s, scenarioMembers)
		for from := 0; from < scenarioMembers; from += ledger.MaxBatchEvents {
			fund := make([]ledger.EarnRequest, ledger.MaxBatchEvents)
			for j := range fund {
				fund[j] = ledger.EarnRequest{IdempotencyKey: fmt.Sprint("fund", from+j), MemberID: fmt.Sprint("m", from+j), EventID: "fund", Points: 1 << 30}
			}
			if res, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: fund}); err != nil || res.Failed != 0 {
				b.Fatalf("fund: %d failed, %v", res.Failed, err)
			}
		}
		var n, short atomic.Int64
		var seed atomic.Uint64
		lat := newLatencies()
		var mu sync.Mutex
		zipfs := map[int]*rand.Zipf{}
		runClients(b, scenarioClients, func(rec *[]time.Duration) bool {
			i := n.Add(1)
			mu.Lock()
			z := zipfs[int(i%scenarioClients)]
			if z == nil {
				z = rand.NewZipf(rand.New(rand.NewPCG(seed.Add(1), 42)), 1.1, 1, scenarioMembers-1)
				zipfs[int(i%scenarioClients)] = z
			}
			m := z.Uint64()
			mu.Unlock()
			points := int64(1)
			if i%scenarioShortEvery == 0 {
				points = ledger.MaxPoints
			}
			start := time.Now()
			_, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: fmt.Sprint("r", i), MemberID: fmt.Sprint("m", m), Points: points})
			*rec = append(*rec, time.Since(start))
			switch {
			case errors.Is(err, ledger.ErrInsufficientPoints):
				short.Add(1)
			case err != nil:
				b.Error(err)
				return false
			}
			return true
		}, lat)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		b.ReportMetric(100*float64(short.Load())/float64(max(b.N, 1)), "%short")
		lat.report(b, "op")
		reportBatching(b, s)
		if err := s.CheckInvariants(ctx); err != nil {
			b.Fatal(err)
		}
	})
}

// runClients runs b.N calls of do spread over the given number of
// goroutines, and reports the CPU time the process used per call (with
// SQLite, the engine's; with PostgreSQL, the client side's).
func runClients(b *testing.B, clients int, do func(rec *[]time.Duration) bool, lat *latencies) {
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu := processCPU()
	b.ResetTimer()
	for range clients {
		wg.Go(func() {
			var rec []time.Duration
			for next.Add(1) <= int64(b.N) {
				if !do(&rec) {
					break
				}
			}
			lat.add(rec)
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(max(b.N, 1)), "cpu-µs/op")
}

type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func newLatencies() *latencies { return &latencies{} }

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, unit string) {
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	at := func(q float64) float64 {
		return float64(l.all[min(len(l.all)-1, int(q*float64(len(l.all))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "ms-p50/"+unit)
	b.ReportMetric(at(0.99), "ms-p99/"+unit)
}
