package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// testConcurrentRedeem: 64 redeemers race for one member's points; exactly
// as many succeed as the balance allows.
func testConcurrentRedeem(t *testing.T, s ledger.Ledger) {
	ConcurrentRedeem(t, []ledger.Ledger{s})
}

// ConcurrentRedeem runs the redeem race spread over several stores sharing
// one database (e.g. engine replicas); stores[0] enrolls and checks.
func ConcurrentRedeem(t *testing.T, stores []ledger.Ledger) {
	s := stores[0]
	enroll(t, s, "m1")
	for i := range 10 {
		earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: key("o", i), Points: 100, ExpiresAt: day(10 + i)})
	}
	const workers, points = 64, 30 // 64*30 = 1920 asked of 1000
	var ok, short atomic.Int64
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			_, err := stores[i%len(stores)].Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: key("r", i), MemberID: "m1", Points: points})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ledger.ErrInsufficientPoints):
				short.Add(1)
			default:
				t.Errorf("redeem %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1000/points || short.Load() != workers-1000/points {
		t.Fatalf("%d succeeded and %d were short, want %d and %d", ok.Load(), short.Load(), 1000/points, workers-1000/points)
	}
	wantBalance(t, s, "m1", 1000%points, 0, 1000)
	CheckInvariants(t, s)
}

// testConcurrentReplays: the same keys sent many times at once apply once.
func testConcurrentReplays(t *testing.T, s ledger.Ledger) {
	ConcurrentReplays(t, []ledger.Ledger{s})
}

// ConcurrentReplays sends each key from several goroutines, over the given
// stores; stores[0] enrolls and checks.
func ConcurrentReplays(t *testing.T, stores []ledger.Ledger) {
	s := stores[0]
	enroll(t, s, "m1")
	enroll(t, s, "m2")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "seed", Points: 1000})
	const keys, copies = 8, 8
	earnSeq := make([][]int64, keys)
	redeemSeq := make([][]int64, keys)
	for k := range keys {
		earnSeq[k] = make([]int64, copies)
		redeemSeq[k] = make([]int64, copies)
	}
	var wg sync.WaitGroup
	for k := range keys {
		for c := range copies {
			st := stores[(k+c)%len(stores)]
			wg.Go(func() {
				res, err := st.Earn(ctx, ledger.EarnRequest{IdempotencyKey: key("e", k), MemberID: "m2", EventID: key("o", k), Points: 5})
				if err != nil {
					t.Errorf("earn key %d copy %d: %v", k, c, err)
					return
				}
				earnSeq[k][c] = res.EntrySeq
			})
			wg.Go(func() {
				res, err := st.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: key("r", k), MemberID: "m1", Points: 10})
				if err != nil {
					t.Errorf("redeem key %d copy %d: %v", k, c, err)
					return
				}
				redeemSeq[k][c] = res.EntrySeq
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for k := range keys {
		for c := range copies {
			if earnSeq[k][c] != earnSeq[k][0] || redeemSeq[k][c] != redeemSeq[k][0] {
				t.Fatalf("key %d: copies saw different entries: earn %v redeem %v", k, earnSeq[k], redeemSeq[k])
			}
		}
	}
	wantBalance(t, s, "m1", 1000-keys*10, 0, 1000)
	wantBalance(t, s, "m2", keys*5, 0, keys*5)
	if n := len(allHistory(t, s, "m1")); n != 1+keys {
		t.Fatalf("m1 has %d entries, want %d", n, 1+keys)
	}
	CheckInvariants(t, s)
}

// testConcurrentMixed runs every kind of write at once over several members
// and checks that the books still balance.
func testConcurrentMixed(t *testing.T, s ledger.Ledger) {
	const members, rounds = 8, 12
	for m := range members {
		enroll(t, s, key("m", m))
	}
	var wg sync.WaitGroup
	for m := range members {
		id := key("m", m)
		for r := range rounds {
			wg.Go(func() {
				ev := key("o", r)
				_, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: key(id, "e", r), MemberID: id, EventID: ev, Points: 50, ExpiresAt: day(r + 1), AvailableAt: day(r % 3)})
				if err != nil {
					t.Errorf("earn: %v", err)
					return
				}
				for i, err := range []error{
					func() error {
						_, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: key(id, "r", r), MemberID: id, Points: 40})
						return err
					}(),
					func() error {
						_, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: key(id, "v", r), MemberID: id, EventID: ev, Points: 20})
						return err
					}(),
					func() error {
						_, err := s.Adjust(ctx, ledger.AdjustRequest{IdempotencyKey: key(id, "a", r), MemberID: id, Points: -5, Reason: "fee"})
						return err
					}(),
				} {
					if err != nil && !errors.Is(err, ledger.ErrInsufficientPoints) {
						t.Errorf("op %d of %s round %d: %v", i, id, r, err)
					}
				}
			})
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for d := range 6 {
			if _, err := s.ProcessDue(ctx, ledger.DueOptions{Now: day(d * 3)}); err != nil {
				t.Errorf("process due: %v", err)
			}
		}
	}()
	wg.Wait()
	CheckInvariants(t, s)
}
