package storetest

import (
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// spendLadder is a tier ladder qualified by spend over a year.
var spendLadder = []config.Tier{
	{Name: "member", Rank: 0, Qualification: config.TierQualification{MinQualifyingPoints: ptr(int64(0)), Window: ptr(config.MustDuration("365d"))}},
	{Name: "gold", Rank: 1, Qualification: config.TierQualification{MinSpend: ptr(config.MustDecimal("100")), Window: ptr(config.MustDuration("365d"))}},
}

// testPurchaseWithoutPoints: a purchase that earns no points (0.99 rounded
// down) is recorded for its spend, single and in a batch, idempotent like
// any earn; its spend lifts the member over a 100 spend tier together with
// a 99.50 purchase, counts in the analytics, and a refund takes it back.
func testPurchaseWithoutPoints(t *testing.T, s ledger.Ledger) {
	for _, id := range []string{"m1", "m2"} {
		enroll(t, s, id)
		earn(t, s, ledger.EarnRequest{MemberID: id, EventID: "big", Points: 99, PurchaseAmount: 9950, Currency: "USD", OccurredAt: t0, Tiers: spendLadder})
	}
	small := ledger.EarnRequest{IdempotencyKey: "small-m1", MemberID: "m1", EventID: "small", PurchaseAmount: 99, Currency: "USD", OccurredAt: t0, Tiers: spendLadder}
	res := earn(t, s, small)
	if res.Points != 0 || res.EntrySeq == 0 || res.Pending || res.Balance != (ledger.Balance{Available: 99, LifetimeEarned: 99}) {
		t.Fatalf("purchase without points = %+v, want an entry of 0 points", res)
	}
	again := earn(t, s, small)
	if !again.Replayed || again.EntrySeq != res.EntrySeq {
		t.Fatalf("retry = %+v, want the original replayed", again)
	}
	small.IdempotencyKey = "small-m1-other-key"
	_, err := s.Earn(ctx, small)
	wantErr(t, "the same purchase under another key", err, ledger.ErrDuplicateEvent, "")

	batch, err := s.EarnBatch(ctx, ledger.EarnBatchRequest{Events: []ledger.EarnRequest{
		{IdempotencyKey: "small-m2", MemberID: "m2", EventID: "small", PurchaseAmount: 99, Currency: "USD", OccurredAt: t0, Tiers: spendLadder},
		{IdempotencyKey: "nothing-m2", MemberID: "m2", EventID: "nothing", Action: "review", OccurredAt: t0},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if it := batch.Items[0]; it.Err != nil || it.Result.Points != 0 || it.Result.EntrySeq == 0 {
		t.Fatalf("batch purchase without points = %+v (%v)", it.Result, it.Err)
	}
	wantErr(t, "an action without points", batch.Items[1].Err, ledger.ErrInvalidRequest, "points")

	for _, id := range []string{"m1", "m2"} {
		if v := member(t, s, id, t0); v.Tier != "gold" {
			t.Errorf("%s after 99.50 and 0.99: tier %q, want gold", id, v.Tier)
		}
		wantSpend(t, s, id, "100.49")
	}
	a, err := s.Aggregates(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if a.SpendSinceEnrollment != config.MustDecimal("200.98") || a.ActiveMembers != 2 {
		t.Errorf("aggregates: spend %s over %d active members, want 200.98 over 2", a.SpendSinceEnrollment, a.ActiveMembers)
	}

	// A refund of the purchase takes its spend back: a part, then the
	// rest; there are no points to claw back.
	steps := []struct {
		req   ledger.ReverseRequest
		spend string
		err   error
		field string
	}{
		{ledger.ReverseRequest{RefundAmount: 40}, "100.09", nil, ""},
		{ledger.ReverseRequest{Points: 1}, "100.09", ledger.ErrInvalidRequest, "points"},
		{ledger.ReverseRequest{RefundAmount: 100}, "100.09", ledger.ErrInvalidRequest, "refundAmount"},
		{ledger.ReverseRequest{}, "99.50", nil, ""},
		{ledger.ReverseRequest{RefundAmount: 1}, "99.50", ledger.ErrNothingToReverse, ""},
	}
	for i, st := range steps {
		st.req.IdempotencyKey, st.req.MemberID, st.req.EventID = key("refund-small-", i), "m1", "small"
		rev, err := s.Reverse(ctx, st.req)
		wantErr(t, key("refund step ", i), err, st.err, st.field)
		if err == nil && (rev.Requested != 0 || rev.FromAvailable+rev.FromPending+rev.Shortfall != 0 || rev.EntrySeq == 0) {
			t.Fatalf("refund step %d: %+v, want an entry that takes no points", i, rev)
		}
		wantSpend(t, s, "m1", st.spend)
	}
	wantBalance(t, s, "m1", 99, 0, 99)
}

// wantSpend checks the member's qualifying spend over the spend ladder's
// window at t0.
func wantSpend(t *testing.T, s ledger.Ledger, id, spend string) {
	t.Helper()
	st, err := s.TierStatus(ctx, id, spendLadder, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Input.Activity["gold"].Spend; got != config.MustDecimal(spend) {
		t.Fatalf("spend of %s: %s, want %s", id, got, spend)
	}
}
