package storetest

import (
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// ClockedFactory returns a fresh, empty store whose clock is now.
type ClockedFactory func(tb testing.TB, now func() time.Time) ledger.Ledger

// RunClocked runs the tests that need to move the store's clock.
func RunClocked(t *testing.T, newStore ClockedFactory) {
	t.Run("ExpiryAfterInactivity", func(t *testing.T) {
		var clock atomic.Int64
		clock.Store(t0.UnixMicro())
		s := newStore(t, func() time.Time { return time.UnixMicro(clock.Load()) })
		testExpiryAfterInactivity(t, s, func(at time.Time) { clock.Store(at.UnixMicro()) })
		CheckInvariants(t, s)
	})
	t.Run("AdjustReplayAfterExpiry", func(t *testing.T) {
		var clock atomic.Int64
		clock.Store(t0.UnixMicro())
		s := newStore(t, func() time.Time { return time.UnixMicro(clock.Load()) })
		testAdjustReplayAfterExpiry(t, s, func(at time.Time) { clock.Store(at.UnixMicro()) })
		CheckInvariants(t, s)
	})
	t.Run("MembershipLifecycle", func(t *testing.T) {
		var clock atomic.Int64
		clock.Store(t0.UnixMicro())
		s := newStore(t, func() time.Time { return time.UnixMicro(clock.Load()) })
		testMembershipLifecycle(t, s, func(at time.Time) { clock.Store(at.UnixMicro()) })
		CheckInvariants(t, s)
	})
	t.Run("Aggregates", func(t *testing.T) {
		s := newStore(t, func() time.Time { return t0 })
		testAggregates(t, s)
		CheckInvariants(t, s)
	})
}

func processDueInactive(t testing.TB, s ledger.Ledger, now time.Time, after time.Duration) ledger.ProcessDueResult {
	t.Helper()
	res, err := s.ProcessDue(ctx, ledger.DueOptions{Now: now, ExpireAfterInactivity: after})
	if err != nil {
		t.Fatalf("process due at %v: %v", now, err)
	}
	return res
}

func testExpiryAfterInactivity(t *testing.T, s ledger.Ledger, setClock func(time.Time)) {
	const year = 365 * 24 * time.Hour
	for _, id := range []string{"idle", "busy", "rev"} {
		enroll(t, s, id)
	}
	// idle: available, pending and expiring lots, and a redeem, all on day 0.
	earn(t, s, ledger.EarnRequest{MemberID: "idle", EventID: "e1", Points: 100})
	earn(t, s, ledger.EarnRequest{MemberID: "idle", EventID: "e2", Points: 50, AvailableAt: day(500)})
	earn(t, s, ledger.EarnRequest{MemberID: "idle", EventID: "e3", Points: 30, ExpiresAt: day(1000)})
	redeem(t, s, "idle", "idle-r1", 20) // from e3, the soonest-expiring
	earn(t, s, ledger.EarnRequest{MemberID: "busy", EventID: "b1", Points: 10})
	earn(t, s, ledger.EarnRequest{MemberID: "rev", EventID: "o1", Points: 40})
	earn(t, s, ledger.EarnRequest{MemberID: "rev", EventID: "p1", Points: 5, AvailableAt: day(100)})

	// Neither a release (the engine's) nor a reversal (the merchant's) is
	// the member's activity; busy's earn on day 200 is.
	if r := processDue(t, s, day(100)); r != (ledger.ProcessDueResult{ReleasedLots: 1, ReleasedPoints: 5}) {
		t.Fatalf("day 100: %+v", r)
	}
	setClock(day(200))
	earn(t, s, ledger.EarnRequest{MemberID: "busy", EventID: "b2", Points: 5})
	if _, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "rev-1", MemberID: "rev", EventID: "o1", Points: 10}); err != nil {
		t.Fatalf("reverse: %v", err)
	}

	if r := processDueInactive(t, s, day(364), year); r != (ledger.ProcessDueResult{}) {
		t.Fatalf("nobody is inactive for a year on day 364: %+v", r)
	}
	want := ledger.ProcessDueResult{ExpiredLots: 5, ExpiredPoints: 195, InactiveMembers: 2, InactiveExpiredPoints: 195}
	if r := processDueInactive(t, s, day(365), year); r != want {
		t.Fatalf("day 365: %+v, want %+v", r, want)
	}
	wantBalance(t, s, "idle", 0, 0, 180)
	wantBalance(t, s, "rev", 0, 0, 35)
	wantBalance(t, s, "busy", 15, 0, 15)
	var pendingExpired bool
	for _, e := range allHistory(t, s, "idle")[:3] {
		if e.Kind != ledger.EntryExpire || !e.At.Equal(day(365)) {
			t.Fatalf("idle's last entries must be expiries on day 365, got %+v", e)
		}
		pendingExpired = pendingExpired || (e.EventID == "e2" && e.Pending == -50 && e.Available == 0)
	}
	if !pendingExpired {
		t.Fatal("idle's pending lot was not expired from pending points")
	}
	if r := processDueInactive(t, s, day(365), year); r != (ledger.ProcessDueResult{}) {
		t.Fatalf("a second run must do nothing, got %+v", r)
	}
	// The expired pending lot is never released.
	if r := processDue(t, s, day(501)); r != (ledger.ProcessDueResult{}) {
		t.Fatalf("day 501: %+v", r)
	}

	// Activity restarts the clock: idle earns again on day 600.
	setClock(day(600))
	earn(t, s, ledger.EarnRequest{MemberID: "idle", EventID: "e4", Points: 8})
	want = ledger.ProcessDueResult{ExpiredLots: 2, ExpiredPoints: 15, InactiveMembers: 1, InactiveExpiredPoints: 15}
	if r := processDueInactive(t, s, day(700), year); r != want {
		t.Fatalf("day 700: %+v, want only busy's points (inactive since day 200)", r)
	}
	wantBalance(t, s, "idle", 8, 0, 188)
	wantBalance(t, s, "busy", 0, 0, 15)
}

// testFingerprint: a caller's fingerprint identifies the request for its
// key, whatever the request now says, and Replay answers before any write.
func testFingerprint(t *testing.T, s ledger.Ledger) {
	enroll(t, s, "m1")
	first := earn(t, s, ledger.EarnRequest{IdempotencyKey: "k1", Fingerprint: "body-1", MemberID: "m1", EventID: "o1", Points: 10})
	// The same body priced differently (a new earn rate) is the same request.
	again := earn(t, s, ledger.EarnRequest{IdempotencyKey: "k1", Fingerprint: "body-1", MemberID: "m1", EventID: "o1", Points: 20})
	if !again.Replayed || again.Points != 10 || again.EntrySeq != first.EntrySeq {
		t.Fatalf("retry with the same fingerprint = %+v, want the original replayed", again)
	}
	_, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "k1", Fingerprint: "body-2", MemberID: "m1", EventID: "o1", Points: 10})
	wantErr(t, "same key, other fingerprint", err, ledger.ErrIdempotencyReuse, "")
	if _, err := s.Redeem(ctx, ledger.RedeemRequest{IdempotencyKey: "k2", Fingerprint: "body-3", MemberID: "m1", Points: 4}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "k3", Fingerprint: "body-4", MemberID: "m2"})
	wantErr(t, "enroll", err, nil, "")
	if r, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "k3", Fingerprint: "body-4", MemberID: "m2"}); err != nil || !r.Replayed {
		t.Fatalf("enroll retry: %+v %v", r, err)
	}

	answers, err := s.Replay(ctx, []ledger.ReplayQuery{
		{Key: "k1", Fingerprint: "body-1"}, {Key: "k1", Fingerprint: "body-9"}, {Key: "k2", Fingerprint: "body-3"},
		{Key: "unknown", Fingerprint: "x"}, {},
	})
	if err != nil || len(answers) != 5 {
		t.Fatalf("replay: %d answers, %v", len(answers), err)
	}
	var res ledger.EarnResult
	if a := answers[0]; !a.Found || a.Op != ledger.OpEarn || a.Err != nil || json.Unmarshal(a.Result, &res) != nil || res.EntrySeq != first.EntrySeq || res.Points != 10 {
		t.Fatalf("replay of k1: %+v", a)
	}
	if a := answers[1]; !a.Found || !errors.Is(a.Err, ledger.ErrIdempotencyReuse) {
		t.Fatalf("replay of k1 with another fingerprint: %+v", a)
	}
	if a := answers[2]; !a.Found || a.Op != ledger.OpRedeem || a.Err != nil {
		t.Fatalf("replay of k2: %+v", a)
	}
	if answers[3].Found || answers[4].Found {
		t.Fatalf("unknown and empty keys must not be found: %+v", answers[3:])
	}
	wantBalance(t, s, "m1", 6, 0, 10)
}
