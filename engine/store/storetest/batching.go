package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// testBatchMixedOutcomes puts successes and every kind of business failure
// into the same group commits: failures must write nothing and leave the
// others applied.
func testBatchMixedOutcomes(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	enroll(t, s, "m2")
	earn(t, s, ledger.EarnRequest{MemberID: "m1", EventID: "old", Points: 10})
	events := []ledger.EarnRequest{
		{IdempotencyKey: "b0", MemberID: "m1", EventID: "o1", Points: 5},
		{IdempotencyKey: "b1", MemberID: "m1", EventID: "o1", Points: 5}, // same event, other key
		{IdempotencyKey: "b0", MemberID: "m1", EventID: "o1", Points: 5}, // same key: replay
		{IdempotencyKey: "b0", MemberID: "m1", EventID: "o1", Points: 6}, // same key, other request
		{IdempotencyKey: "b4", MemberID: "nobody", EventID: "o1", Points: 5},
		{IdempotencyKey: "b5", MemberID: "m1", EventID: "old", Points: 5}, // recorded before
		{IdempotencyKey: "b6", MemberID: "m2", EventID: "o1", Points: 7},
		{IdempotencyKey: "b7", MemberID: "m2", EventID: "o2", Points: 0}, // invalid
	}
	res, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	var applied, replayed int
	for i, it := range res.Items {
		switch {
		case it.Err == nil && it.Result.Replayed:
			replayed++
		case it.Err == nil:
			applied++
		case errors.Is(it.Err, ledger.ErrDuplicateEvent), errors.Is(it.Err, ledger.ErrIdempotencyReuse),
			errors.Is(it.Err, ledger.ErrMemberNotFound), errors.Is(it.Err, ledger.ErrInvalidRequest):
		default:
			t.Fatalf("item %d: unexpected error %v", i, it.Err)
		}
	}
	// A member's writes apply in request order: b0 and b6 apply, the second
	// b0 replays, the rest fail.
	if applied != 2 || replayed != 1 || res.Failed != 5 {
		t.Fatalf("%d applied, %d replayed, %d failed; want 2, 1, 5: %+v", applied, replayed, res.Failed, res.Items)
	}
	wantBalance(t, s, "m1", 15, 0, 15)
	wantBalance(t, s, "m2", 7, 0, 7)

	// Redeems that succeed and fail on the same members at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, short int
	for i := range 20 {
		wg.Go(func() {
			id := []string{"m1", "m2"}[i%2]
			_, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: key("r", i), MemberID: id, Points: 2})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ledger.ErrInsufficientPoints):
				short++
			default:
				t.Errorf("redeem %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok != 7+3 || short != 10 {
		t.Fatalf("%d redeems succeeded and %d were short, want 10 and 10", ok, short)
	}
	wantBalance(t, s, "m1", 1, 0, 15)
	wantBalance(t, s, "m2", 1, 0, 7)
}
